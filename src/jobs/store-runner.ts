/**
 * Runs store jobs on their schedules, offline too (docs/store-flows.md §3 "data autonomy"), and records what each
 * run did. The daemon starts it with `startStoreJobs`; `stop()` interrupts runs without finishing them,
 * so the next start on the same state dir resumes them (files already sent are not sent again).
 *
 * When a job fires:  6-field crontab, times from the injected clock (schedule.ts).
 * Catch-up:          a firing missed while the agent was off runs once, late, if its window
 *                    (firing + duration) is still open; older misses are skipped and logged.
 * A run:             every task's matching files are listed first, then sent concurrently, each its
 *                    own transfer (store-upload.ts) asking the server for its own slot, so the server's
 *                    WAIT (MaxCurrentSession) governs. At most `maxParallelTransfers` send at once
 *                    across all jobs, twice that many ask or wait (TransferSlots); a transfer gives
 *                    its send slot back once END is out,
 *                    and its linger (answering late GIVEMEs) goes on in the background, at most
 *                    `maxLingering` of them (the oldest is cut short beyond that). Each file keeps its
 *                    task's retry_times / retry_interval; nothing is started or retried after the end
 *                    time. The state file is rewritten after every file, so a restart loses at most the
 *                    transfers that were in flight.
 */
import { isFtError } from '../errors';
import { silentLogger, type Logger } from '../log';
import type { Clock } from '../time/clock';
import type { DurableFs } from '../storage/durable-fs';
import type { Linger, StoreRequester, StoreUploadNftpOptions, StoreUploadOptions, StoreUploadResult } from '../transfer/store/store-upload';
import { historyLimit, StoreJobStore, type FileResult, type JobState, type RunRecord, type StoredJob, type TaskResult } from './store-job-state';
import { parseSchedule } from './schedule';
import type { StoreJob, StoreTask } from './store-job';
import { sendStoreFile, type FileSendContext } from './store-file-send';
import { TransferSlots } from './transfer-slots';
import { expandTaskPath } from './wildcard';

/** Transfers at once across every store job when the config does not say. */
export const defaultMaxParallelTransfers = 8;

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
  /**
   * Watches the job folder and calls back on any change (the daemon passes fs.watch), so `job add`
   * and `job remove` take effect at once; the periodic rescan stays as the fallback.
   */
  watchJobs?: (dir: string, onChange: () => void) => () => void;
  /** Transfers at once, all jobs together. Default 8. */
  maxParallelTransfers?: number;
  /** Lingering senders kept at once; beyond it the oldest stops answering GIVEME. Default 4 × maxParallelTransfers. */
  maxLingering?: number;
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
  void runner.begin();
  return { rescan: () => runner.rescan(), stop: () => runner.stop() };
}

/** A burst of changes (temp file, rename, fsync) becomes one rescan this long after the first. */
const watchSettleMs = 50;

interface ActiveRun {
  abort: AbortController;
  done: Promise<void>;
}

class StoreJobRunner {
  private readonly store: StoreJobStore;
  private readonly log: Logger;
  private readonly active = new Map<string, ActiveRun>();
  private readonly slots: TransferSlots;
  private readonly fileSend: FileSendContext;
  /** Oldest first. */
  private readonly lingers: Linger[] = [];
  private cancelWake: (() => void) | undefined;
  private scanning: Promise<void> | undefined;
  private rescanAgain = false;
  private stopped = false;
  private unwatch: (() => void) | undefined;
  private cancelSettle: (() => void) | undefined;

  constructor(private readonly o: StoreJobsOptions) {
    this.store = new StoreJobStore(o.fs, o.stateDir);
    this.log = (o.logger ?? silentLogger).child({ component: 'store-jobs' });
    const max = o.maxParallelTransfers ?? defaultMaxParallelTransfers;
    // Twice as many may be asking or waiting after WAIT as are sending, so a slot the server frees
    // is asked for again soon; only the senders hold nftp blocks in memory.
    this.slots = new TransferSlots(2 * max);
    this.fileSend = { options: o, slots: this.slots, sendSlots: new TransferSlots(max), log: this.log, adoptLinger: (l) => this.adoptLinger(l) };
  }

  async begin(): Promise<void> {
    const watch = this.o.watchJobs;
    if (watch) {
      try {
        await this.o.fs.mkdirp(this.store.dir);
        if (!this.stopped) this.unwatch = watch(this.store.dir, () => this.onJobsChanged());
      } catch (err) {
        this.log.warn({ err }, `store jobs: cannot watch ${this.store.dir}; changes are seen at the periodic rescan`);
      }
    }
    await this.rescan();
  }

  private onJobsChanged(): void {
    if (this.stopped || this.cancelSettle) return;
    this.cancelSettle = this.o.clock.after(watchSettleMs, () => {
      this.cancelSettle = undefined;
      void this.rescan();
    });
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
    this.cancelSettle?.();
    this.unwatch?.();
    for (const run of this.active.values()) run.abort.abort();
    await this.scanning;
    await Promise.all([...this.active.values()].map((r) => r.done));
    const lingers = this.lingers.splice(0);
    for (const l of lingers) l.stop();
    await Promise.all(lingers.map((l) => l.done));
  }

  private async scan(): Promise<void> {
    const now = this.o.clock.now();
    const { jobs, damaged } = await this.store.list();
    for (const d of damaged) {
      if (d.code === 'STATE_CORRUPT' || d.code === 'CONFIG_INVALID') await this.setAside(d.file, d.error);
      else this.log.error({ file: d.file }, `store job file cannot be read now; trying again at the next scan: ${d.error}`);
    }
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
      try {
        const next = await this.consider(stored, now);
        if (next !== null) wakeAt = Math.min(wakeAt, next);
      } catch (err) {
        // One job that cannot be scheduled must not stop the others; one that never can is moved aside.
        if (isFtError(err, 'CONFIG_INVALID')) await this.setAside(this.store.jobPath(stored.job.job_id), err.message);
        else this.log.error({ err, job: stored.job.job_id }, 'store job: scan failed for this job; the others run, it is tried again at the next scan');
      }
    }
    if (this.stopped) return;
    this.cancelWake?.();
    this.cancelWake = this.o.clock.after(Math.max(0, wakeAt - this.o.clock.now()), () => void this.rescan());
  }

  private async setAside(file: string, reason: string): Promise<void> {
    try {
      const movedTo = await this.store.quarantine(file, this.o.clock.now());
      this.log.error({ file, movedTo }, `store job file cannot run and was moved aside (the other jobs run): ${reason}`);
    } catch (err) {
      this.log.error({ file, err }, `store job file cannot run and could not be moved aside; ignored: ${reason}`);
    }
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
    const save = serialWriter(() => this.store.writeState(state));
    const work: { task: StoreTask; file: FileResult }[] = [];
    const sending: { task: StoreTask; result: TaskResult }[] = [];
    for (const task of job.tasks) {
      const result = run.tasks.find((t) => t.task_id === String(task.task_id));
      if (!result || result.state !== 'pending') continue;
      const files = await this.listFiles(task, result, save);
      if (!files) continue;
      sending.push({ task, result });
      for (const file of files) if (file.state !== 'done') work.push({ task, file });
    }
    // Every file asks for its own slot; the server's WAIT and our slot count pace them.
    let next = 0;
    const worker = async (): Promise<void> => {
      while (!signal.aborted && next < work.length) {
        const w = work[next++] as { task: StoreTask; file: FileResult };
        await sendStoreFile(this.fileSend, job, w.task, run, w.file, signal);
        // Also when stopping: a file that finished just before is not sent again after the restart.
        await save();
      }
    };
    await Promise.all(Array.from({ length: Math.min(work.length, this.slots.size) }, worker));
    if (signal.aborted) return; // left 'running' on disk, resumed by the next start
    for (const { result } of sending) {
      const failed = (result.files ?? []).filter((f) => f.state !== 'done');
      result.state = failed.length === 0 ? 'done' : 'failed';
      if (failed.length > 0) result.error = `${failed.length} of ${result.files?.length ?? 0} file(s) failed`;
    }
    const failed = run.tasks.filter((t) => t.state !== 'done');
    run.state = failed.length === 0 ? 'done' : 'failed';
    if (failed.length > 0) run.error = `${failed.length} of ${run.tasks.length} task(s) failed`;
    await save();
    await this.finish(job.job_id, state, run);
  }

  /** The task's files, listed once per run and kept (a resumed run sends the same ones); null if none match. */
  private async listFiles(task: StoreTask, result: TaskResult, save: () => Promise<void>): Promise<FileResult[] | null> {
    if (result.files) return result.files;
    const files = await expandTaskPath(this.o.fs, task.path);
    if (files.length === 0) {
      result.state = 'failed';
      result.error = `no file matches ${task.path}`;
      await save();
      return null;
    }
    result.files = files.map((path) => ({ path, state: 'pending', attempts: 0 }));
    await save();
    return result.files;
  }

  /** Keeps a finished transfer's linger going in the background, within the bound. */
  private adoptLinger(linger: Linger): void {
    this.lingers.push(linger);
    void linger.done.then(() => {
      const i = this.lingers.indexOf(linger);
      if (i >= 0) this.lingers.splice(i, 1);
    });
    const max = this.o.maxLingering ?? 4 * this.fileSend.sendSlots.size;
    while (this.lingers.length > max) this.lingers.shift()?.stop();
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

/** Runs `write` one at a time; calls made while one runs share the single write after it. */
function serialWriter(write: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  let queued: Promise<void> | undefined;
  const start = (): Promise<void> => {
    const p = write().finally(() => {
      if (running === p) running = undefined;
    });
    running = p;
    return p;
  };
  return () => {
    if (!running) return start();
    queued ??= running
      .catch(() => undefined)
      .then(() => {
        queued = undefined;
        return start();
      });
    return queued;
  };
}
