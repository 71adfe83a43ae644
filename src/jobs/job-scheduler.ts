/**
 * Picks queued and active jobs from the spool and runs at most `maxConcurrent` of them at once.
 * It polls the spool (two directory listings) so jobs queued by other processes are noticed
 * without any signalling, acts on cancel requests, and spaces out the retries of jobs whose
 * attempt failed for a transient reason (exponential backoff with full jitter; the number of
 * attempts is bounded by the runner and recorded in the job's checkpoint).
 *
 * Memory: one entry per running job, plus a retry time per pending job that failed; both are
 * dropped as soon as the job leaves the spool's pending set.
 */
import { FtError } from '../errors';
import type { Logger } from '../log';
import { backoffDelay, type BackoffPolicy } from '../time/backoff';
import type { Clock } from '../time/clock';
import type { CommandLink } from '../mqtt/command-link';
import type { JobRecord } from '../storage/job-record';
import type { Spool } from '../storage/spool';
import type { JobControl, JobOutcome } from './upload-job-runner';
import { PriorityGate } from './priority-link';
import { byPriority, type SpoolIndex } from './spool-index';

export interface JobSchedulerDeps {
  spool: Spool;
  maxConcurrent: number;
  /** How often the spool is looked at for new jobs and cancel requests. */
  pollMs: number;
  /** Delay before another attempt of a job that failed transiently. */
  retryBackoff: BackoffPolicy;
  /** The link to start jobs on, or null while it is down (jobs then wait). */
  link: () => CommandLink | null;
  run: (job: JobRecord, control: JobControl, link: CommandLink) => Promise<JobOutcome>;
  clock: Clock;
  logger: Logger;
  random?: () => number;
  /** Priorities of pending jobs: high ones start first, may use one slot beyond maxConcurrent, and take the window first. */
  index?: SpoolIndex;
  /** Told about every finished attempt (watch folders, tests). */
  onOutcome?: (jobId: string, outcome: JobOutcome) => void;
}

interface Running {
  cancel: AbortController;
  done: Promise<void>;
}

export class JobScheduler {
  private readonly running = new Map<string, Running>();
  private readonly notBefore = new Map<string, number>();
  /** Consecutive errors thrown (not returned) by a job's attempts: state-directory trouble. */
  private readonly errors = new Map<string, number>();
  private readonly stopping = new AbortController();
  private readonly gate = new PriorityGate();
  private cancelTimer: (() => void) | null = null;
  private ticking = false;
  private again = false;
  private started = false;
  private lastTickError = '';

  constructor(private readonly deps: JobSchedulerDeps) {}

  start(): void {
    if (this.started) return;
    this.started = true;
    this.poke();
  }

  /** Look at the spool now (a slot freed, the link came up). */
  poke(): void {
    if (this.stopping.signal.aborted) return;
    this.cancelTimer?.();
    this.cancelTimer = this.deps.clock.after(0, () => void this.tick());
  }

  runningIds(): string[] {
    return [...this.running.keys()];
  }

  /**
   * Clean stop: no new jobs; running ones are told to stop (they write their checkpoint and stay
   * active); resolves once they have.
   */
  async stop(): Promise<void> {
    this.halt();
    await Promise.all([...this.running.values()].map((r) => r.done));
  }

  /** Stops scheduling and signals running jobs without waiting (power-loss path in tests). */
  halt(): void {
    this.stopping.abort();
    this.cancelTimer?.();
    this.cancelTimer = null;
  }

  private async tick(): Promise<void> {
    if (this.stopping.signal.aborted) return;
    if (this.ticking) {
      this.again = true;
      return;
    }
    this.ticking = true;
    try {
      await this.handleCancels();
      await this.startJobs();
      this.lastTickError = '';
    } catch (err) {
      // The state directory may be briefly unusable (full, remounting): log once, keep polling.
      const message = err instanceof Error ? err.message : String(err);
      if (message !== this.lastTickError) this.deps.logger.error({ err: message }, 'cannot read the job queue; will try again');
      this.lastTickError = message;
    } finally {
      this.ticking = false;
    }
    if (this.stopping.signal.aborted) return;
    if (this.again) {
      this.again = false;
      this.poke();
      return;
    }
    this.cancelTimer = this.deps.clock.after(this.deps.pollMs, () => void this.tick());
  }

  private async handleCancels(): Promise<void> {
    const { spool, logger } = this.deps;
    for (const id of await spool.cancelRequests()) {
      const running = this.running.get(id);
      if (running) {
        // The runner records the cancel; the request is cleared when it returns.
        running.cancel.abort();
        continue;
      }
      const job = await spool.get(id);
      if (job && (job.state === 'queued' || job.state === 'active')) {
        const record = await spool.cancel(id, 'cancelled on request');
        logger.info({ job: id }, 'job cancelled');
        this.forget(id);
        this.deps.onOutcome?.(id, { kind: 'cancelled', record });
      }
      await spool.clearCancelRequest(id);
    }
  }

  private async startJobs(): Promise<void> {
    const { spool } = this.deps;
    const ids = await spool.pendingIds();
    const facts = await this.deps.index?.factsOf(ids);
    const pending = facts ? byPriority(facts) : ids;
    const pendingSet = new Set(ids);
    for (const id of this.notBefore.keys()) if (!pendingSet.has(id)) this.forget(id);
    const now = this.deps.clock.now();
    for (const id of pending) {
      const high = facts?.get(id)?.priority === 'high';
      // One slot beyond maxConcurrent is kept for high-priority jobs: an alarm picture never waits.
      const limit = this.deps.maxConcurrent + (high ? 1 : 0);
      if (this.stopping.signal.aborted) return;
      if (this.running.size >= limit) {
        if (high) continue;
        return;
      }
      const link = this.deps.link();
      if (!link) return;
      if (this.running.has(id) || (this.notBefore.get(id) ?? 0) > now) continue;
      const job = await spool.get(id);
      if (!job || (job.state !== 'queued' && job.state !== 'active')) continue;
      this.launch(job, link, high);
    }
  }

  private launch(job: JobRecord, link: CommandLink, high: boolean): void {
    const cancel = new AbortController();
    const control: JobControl = { stop: this.stopping.signal, cancel: cancel.signal };
    const leave = high ? this.gate.enterHigh() : () => undefined;
    const done = this.deps
      .run(job, control, high ? link : this.gate.yieldingLink(link))
      .then(
        (outcome) => this.settle(job.id, outcome),
        (err: unknown) => this.settleError(job.id, err),
      )
      .finally(() => {
        leave();
        this.running.delete(job.id);
        this.poke();
      });
    this.running.set(job.id, { cancel, done });
  }

  private async settle(id: string, outcome: JobOutcome): Promise<void> {
    this.errors.delete(id);
    if (outcome.kind === 'retry') {
      const delay = outcome.immediately ? 0 : backoffDelay(outcome.attempts, this.deps.retryBackoff, this.deps.random);
      this.notBefore.set(id, this.deps.clock.now() + delay);
    } else if (outcome.kind !== 'stopped') {
      this.forget(id);
      if (outcome.kind !== 'gone') await this.deps.spool.clearCancelRequest(id).catch(() => undefined);
    }
    this.deps.onOutcome?.(id, outcome);
  }

  private settleError(id: string, err: unknown): void {
    if (this.stopping.signal.aborted) return;
    const n = (this.errors.get(id) ?? 0) + 1;
    this.errors.set(id, n);
    this.notBefore.set(id, this.deps.clock.now() + backoffDelay(n, this.deps.retryBackoff, this.deps.random));
    const error = err instanceof FtError ? err : undefined;
    this.deps.logger.error({ job: id, code: error?.code, err: err instanceof Error ? err.message : String(err) }, 'job attempt stopped by a state-directory error; will retry');
  }

  private forget(id: string): void {
    this.notBefore.delete(id);
    this.errors.delete(id);
  }
}
