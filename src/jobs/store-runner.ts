/**
 * Runs store jobs on their schedules, offline too (docs/store-flows.md §3 "data autonomy"), and records what each
 * run did. The daemon starts it with `startStoreJobs`; `stop()` interrupts runs without finishing them,
 * so the next start on the same state dir resumes them (files already sent are not sent again).
 *
 * When a job fires:  6-field crontab, times from the injected clock (schedule.ts).
 * Catch-up:          a firing missed while the agent was off runs once, late, if its window
 *                    (firing + duration) is still open; older misses are skipped and logged.
 * A run:             tasks in order; each matching file is its own transfer (store-upload.ts) with the
 *                    task's retry_times / retry_interval; nothing is started or retried after the end
 *                    time. The state file is rewritten after every file, so a restart loses at most the
 *                    transfer that was in flight.
 */
import { FtError } from '../errors';
import { silentLogger, type Logger } from '../log';
import { sleep, type Clock } from '../mqtt/clock';
import type { DurableFs } from '../storage/durable-fs';
import { runStoreUpload, type StoreRequester, type StoreUploadNftpOptions, type StoreUploadOptions, type StoreUploadResult } from '../transfer/store-upload';
import { historyLimit, StoreJobStore, type FileResult, type JobState, type RunRecord, type StoredJob, type TaskResult } from './job-store';
import { parseSchedule } from './schedule';
import type { StoreJob, StoreTask } from './store-job';
import { expandTaskPath } from './wildcard';

export interface StoreJobsOptions {
  channel: StoreRequester;
  stateDir: string;
  fs: DurableFs;
  clock: Clock;
  logger?: Logger;
  nftp?: StoreUploadNftpOptions;
  /** One request's answer timeout. Default 10 s. */
  requestTimeoutMs?: number;
  /** How often job files are re-read (jobs added or removed by the CLI). Default 30 s. */
  rescanMs?: number;
  /** The transfer of one file; tests replace it. Default runStoreUpload. */
  transfer?: (options: StoreUploadOptions) => Promise<StoreUploadResult>;
  /** Called after a run's final state is written. */
  onRunFinished?: (jobId: string, run: RunRecord) => void;
}

export interface StoreJobsHandle {
  /** Re-reads the job files now and starts whatever is due. */
  rescan(): Promise<void>;
  /** Interrupts running transfers (their runs stay 'running' on disk, to be resumed) and stops scheduling. */
  stop(): Promise<void>;
}

export function startStoreJobs(options: StoreJobsOptions): StoreJobsHandle {
  const runner = new StoreJobRunner(options);
  void runner.rescan();
  return { rescan: () => runner.rescan(), stop: () => runner.stop() };
}

interface ActiveRun {
  abort: AbortController;
  done: Promise<void>;
}

class StoreJobRunner {
  private readonly store: StoreJobStore;
  private readonly log: Logger;
  private readonly active = new Map<string, ActiveRun>();
  private cancelWake: (() => void) | undefined;
  private scanning: Promise<void> | undefined;
  private rescanAgain = false;
  private stopped = false;

  constructor(private readonly o: StoreJobsOptions) {
    this.store = new StoreJobStore(o.fs, o.stateDir);
    this.log = (o.logger ?? silentLogger).child({ component: 'store-jobs' });
  }

  /** One scan at a time; a request during a scan runs one more after it. */
  rescan(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.scanning) {
      this.rescanAgain = true;
      return this.scanning;
    }
    this.scanning = (async () => {
      do {
        this.rescanAgain = false;
        try {
          await this.scan();
        } catch (err) {
          this.log.error({ err }, 'store jobs: scan failed');
        }
      } while (this.rescanAgain && !this.stopped);
    })().finally(() => (this.scanning = undefined));
    return this.scanning;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelWake?.();
    for (const run of this.active.values()) run.abort.abort();
    await this.scanning;
    await Promise.all([...this.active.values()].map((r) => r.done));
  }

  private async scan(): Promise<void> {
    const now = this.o.clock.now();
    const { jobs, damaged } = await this.store.list();
    for (const d of damaged) this.log.error({ file: d.file }, `store job file is damaged and ignored: ${d.error}`);
    const present = new Set(jobs.map((j) => j.job.job_id));
    for (const [id, run] of this.active) {
      if (!present.has(id)) {
        this.log.info({ job: id }, 'store job removed while running; stopping it');
        run.abort.abort();
      }
    }
    let wakeAt = now + (this.o.rescanMs ?? 30_000);
    for (const stored of jobs) {
      if (this.stopped) return;
      const next = await this.consider(stored, now);
      if (next !== null) wakeAt = Math.min(wakeAt, next);
    }
    if (this.stopped) return;
    this.cancelWake?.();
    this.cancelWake = this.o.clock.after(Math.max(0, wakeAt - this.o.clock.now()), () => void this.rescan());
  }

  /** Starts the job if due; returns its next firing time (or null). */
  private async consider(stored: StoredJob, now: number): Promise<number | null> {
    const { job } = stored;
    if (!job.enable || this.active.has(job.job_id)) return null;
    const schedule = parseSchedule(job.execution_time, job.timezone);
    const state = await this.store.readStateOrFresh(job.job_id, (err) => this.log.error({ job: job.job_id }, `${err.message}; starting its state over`));
    const windowMs = job.duration * 1000;
    if (state.current?.state === 'running') {
      const run = state.current;
      if (now < run.endTime) {
        this.log.info({ job: job.job_id, fireAt: new Date(run.fireAt).toISOString() }, 'store job: resuming an interrupted run');
        this.start(job, state, run);
        return null;
      }
      run.state = 'failed';
      run.error = 'the agent stopped during this run and its end time passed before it came back';
      await this.finish(job.job_id, state, run);
    }
    // The first firing not yet run, no earlier than the job's addition, and still inside its window.
    const after = Math.max(state.lastFireAt ?? stored.addedAt - 1, now - windowMs);
    const missed = state.lastFireAt !== undefined ? schedule.nextAfter(state.lastFireAt) : null;
    const due = schedule.nextAfter(after);
    if (missed !== null && due !== null && missed < due && missed <= now) {
      this.log.warn({ job: job.job_id, missed: new Date(missed).toISOString() }, 'store job: firing(s) missed while offline and now past their duration; skipped');
    }
    if (due === null) return null;
    if (due > now) return due;
    const run: RunRecord = {
      fireAt: due,
      endTime: due + windowMs,
      startedAt: now,
      state: 'running',
      catchUp: now - due >= 1000,
      tasks: job.tasks.map((t) => ({ task_id: String(t.task_id), state: 'pending' })),
    };
    state.lastFireAt = due;
    state.current = run;
    // Written before anything is sent: a restart resumes this run instead of firing it again.
    await this.store.writeState(state);
    this.log.info({ job: job.job_id, fireAt: new Date(due).toISOString(), catchUp: run.catchUp }, 'store job fired');
    this.start(job, state, run);
    return schedule.nextAfter(now);
  }

  private start(job: StoreJob, state: JobState, run: RunRecord): void {
    const abort = new AbortController();
    const done = this.execute(job, state, run, abort.signal)
      .catch((err: unknown) => this.log.error({ err, job: job.job_id }, 'store job run failed unexpectedly'))
      .finally(() => {
        this.active.delete(job.job_id);
        // Told only once the job can fire again, so a caller's rescan() sees it schedulable.
        if (run.state !== 'running') this.o.onRunFinished?.(job.job_id, run);
        // Another firing may already be due (or a resumed run finished): look again.
        if (!this.stopped) void this.rescan();
      });
    this.active.set(job.job_id, { abort, done });
  }

  private async execute(job: StoreJob, state: JobState, run: RunRecord, signal: AbortSignal): Promise<void> {
    for (const task of job.tasks) {
      const result = run.tasks.find((t) => t.task_id === String(task.task_id));
      if (!result || result.state !== 'pending') continue;
      await this.runTask(job, task, state, run, result, signal);
      if (signal.aborted) return; // left 'running' on disk, resumed by the next start
    }
    const failed = run.tasks.filter((t) => t.state !== 'done');
    run.state = failed.length === 0 ? 'done' : 'failed';
    if (failed.length > 0) run.error = `${failed.length} of ${run.tasks.length} task(s) failed`;
    await this.finish(job.job_id, state, run);
  }

  private async runTask(job: StoreJob, task: StoreTask, state: JobState, run: RunRecord, result: TaskResult, signal: AbortSignal): Promise<void> {
    if (!result.files) {
      const files = await expandTaskPath(this.o.fs, task.path);
      if (files.length === 0) {
        result.state = 'failed';
        result.error = `no file matches ${task.path}`;
        await this.store.writeState(state);
        return;
      }
      result.files = files.map((path) => ({ path, state: 'pending', attempts: 0 }));
      await this.store.writeState(state);
    }
    for (const file of result.files) {
      if (file.state === 'done') continue;
      await this.sendFile(job, task, run, file, signal);
      if (signal.aborted) return;
      await this.store.writeState(state);
    }
    const failed = result.files.filter((f) => f.state !== 'done');
    result.state = failed.length === 0 ? 'done' : 'failed';
    if (failed.length > 0) result.error = `${failed.length} of ${result.files.length} file(s) failed`;
    await this.store.writeState(state);
  }

  /** One file: first attempt plus retry_times, retry_interval apart, never past the end time. */
  private async sendFile(job: StoreJob, task: StoreTask, run: RunRecord, file: FileResult, signal: AbortSignal): Promise<void> {
    const clock = this.o.clock;
    const maxAttempts = 1 + task.retry_times;
    while (file.attempts < maxAttempts && !signal.aborted) {
      if (clock.now() >= run.endTime) {
        file.state = 'failed';
        file.error = `${file.error ? `${file.error}; ` : ''}the job's end time came before the file could be sent`;
        return;
      }
      try {
        const r = await (this.o.transfer ?? runStoreUpload)({
          channel: this.o.channel,
          clock,
          logger: this.log,
          verb: task.type,
          file: file.path,
          target_path: targetFor(task, file.path),
          job_id: job.job_id,
          task_id: task.task_id,
          script_id: task.script_id,
          groups: task.groups,
          servers: task.servers,
          endTime: run.endTime,
          signal,
          ...(this.o.requestTimeoutMs !== undefined ? { requestTimeoutMs: this.o.requestTimeoutMs } : {}),
          ...(this.o.nftp ? { nftp: this.o.nftp } : {}),
        });
        file.attempts++;
        file.state = 'done';
        file.topic = r.topic;
        file.size = r.size;
        file.finishedAt = clock.now();
        delete file.error;
        delete file.errorCode;
        return;
      } catch (err) {
        // An interrupted attempt is not counted: the next start tries it again in full.
        if (signal.aborted) return;
        file.attempts++;
        const e = FtError.from(err);
        file.error = e.message;
        file.errorCode = e.code;
        file.state = 'failed';
        this.log.warn({ job: job.job_id, task: task.task_id, file: file.path, attempt: file.attempts, code: e.code }, `store transfer failed: ${e.message}`);
        // A setting that makes the file impossible to send will not change between attempts.
        if (e.code === 'CONFIG_INVALID' || e.code === 'SOURCE_UNREADABLE') return;
        if (file.attempts >= maxAttempts) return;
        const wait = task.retry_interval * 1000;
        if (clock.now() + wait >= run.endTime) return;
        if (!(await sleep(clock, wait, signal))) return;
      }
    }
  }

  private async finish(jobId: string, state: JobState, run: RunRecord): Promise<void> {
    run.finishedAt = this.o.clock.now();
    state.history = [...state.history, run].slice(-historyLimit);
    delete state.current;
    // A job removed while running has no state to keep.
    if (await this.store.get(jobId).catch(() => undefined)) await this.store.writeState(state);
    this.log.info({ job: jobId, state: run.state, error: run.error }, 'store job run finished');
  }
}

/** A wildcard task sends each file under target_path's directory with its own name; otherwise target_path as given. */
function targetFor(task: StoreTask, file: string): string {
  if (!/[*?]/.test(task.path)) return task.target_path;
  const name = file.slice(file.lastIndexOf('/') + 1);
  return task.target_path.endsWith('/') ? `${task.target_path}${name}` : `${task.target_path}/${name}`;
}
