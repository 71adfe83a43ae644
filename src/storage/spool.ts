import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { FtError, isFtError, errnoCode, type FtErrorCode } from '../errors';
import { silentLogger, type Logger } from '../log';
import { CheckpointWriter, readCheckpoint, type Checkpoint } from './checkpoint';
import { isTempName, type DurableFs } from './durable-fs';
import { decodeJob, encodeJob, type FinishedJobState, type JobRecord, type JobSpec } from './job-record';

/**
 * The durable job queue in the state directory:
 *
 *   <stateDir>/jobs/<id>.job         queued and active jobs (one record each)
 *   <stateDir>/finished/<id>.job     done, failed, cancelled (the last `retention` of them)
 *   <stateDir>/checkpoints/<id>      the transfer checkpoint of an active job
 *   <stateDir>/quarantine/           damaged files moved aside, never deleted silently
 *   <stateDir>/cancel/<id>           a cancel request from another process (the daemon acts on it)
 *
 * Every write is a whole-file atomic replace, so a reader (another process, or this one after a
 * power cut) sees an old or a new record, never half of one. Finishing writes the finished record
 * first and only then removes the pending one; if power fails in between, the finished record wins
 * (list/get ignore the stale copy and recover() deletes it).
 *
 * Several processes may open the same spool: `ftagent send --queue` only enqueues (a new file per
 * job, atomic by rename, ids never collide) and `ftagent cancel` only writes a cancel request; the
 * daemon owns every state transition and recover().
 */
export interface SpoolOptions {
  log?: Logger;
  /** Wall clock in ms (ids, timestamps). Default Date.now. */
  now?: () => number;
  /** Finished records kept; older ones (by enqueue order) are deleted. Default 200. */
  retention?: number;
  /** Quarantined files kept. Default 100. */
  quarantineLimit?: number;
  /** recover() deletes temp files older than this (younger ones may belong to a running writer). Default 5 min. */
  tempMaxAgeMs?: number;
}

export interface RecoveryReport {
  removedTemp: number;
  removedStaleJobs: number;
  removedOrphanCheckpoints: number;
  quarantined: number;
}

export type NewJob = Omit<JobSpec, 'createdAt' | 'options'> & { options?: Record<string, unknown> };

const JOB_EXT = '.job';
/** <time ms, base36, 9><sequence within the ms, base36, 2>-<random, hex 8>: sorts in enqueue order. */
const ID_RE = /^[0-9a-z]{11}-[0-9a-f]{8}$/;

export class Spool {
  readonly jobsDir: string;
  readonly finishedDir: string;
  readonly checkpointsDir: string;
  readonly quarantineDir: string;
  readonly cancelDir: string;
  private readonly log: Logger;
  private readonly now: () => number;
  private lastIdMs = 0;
  private lastIdSeq = 0;
  private quarantinedCount = 0;

  private constructor(
    private readonly fs: DurableFs,
    readonly stateDir: string,
    private readonly options: SpoolOptions,
  ) {
    this.jobsDir = posix.join(stateDir, 'jobs');
    this.finishedDir = posix.join(stateDir, 'finished');
    this.checkpointsDir = posix.join(stateDir, 'checkpoints');
    this.quarantineDir = posix.join(stateDir, 'quarantine');
    this.cancelDir = posix.join(stateDir, 'cancel');
    this.log = options.log ?? silentLogger;
    this.now = options.now ?? Date.now;
  }

  /** Creates the directories (0700) if needed. Does not repair anything: that is recover(). */
  static async open(fs: DurableFs, stateDir: string, options: SpoolOptions = {}): Promise<Spool> {
    const spool = new Spool(fs, stateDir, options);
    for (const dir of [spool.jobsDir, spool.finishedDir, spool.checkpointsDir, spool.quarantineDir]) await fs.mkdirp(dir);
    return spool;
  }

  /** Durably adds a job; once this resolves the job survives power loss. Returns its id. */
  async enqueue(job: NewJob): Promise<string> {
    const id = this.newId();
    const at = this.iso();
    const record: JobRecord = {
      id,
      state: 'queued',
      spec: { kind: job.kind, file: job.file, options: job.options ?? {}, createdAt: at },
      updatedAt: at,
    };
    await this.fs.writeFileAtomic(this.jobPath(id), encodeJob(record));
    return id;
  }

  /** Queued and active jobs, oldest first. Damaged files are quarantined and skipped, never thrown. */
  async list(): Promise<JobRecord[]> {
    const finished = new Set(this.idsIn(await this.fs.list(this.finishedDir)));
    const out: JobRecord[] = [];
    for (const id of this.idsIn(await this.fs.list(this.jobsDir))) {
      if (finished.has(id)) continue;
      const job = await this.readRecord(this.jobPath(id), id);
      if (job) out.push(job);
    }
    return out;
  }

  /** Finished jobs, most recently enqueued first. */
  async listFinished(): Promise<JobRecord[]> {
    const out: JobRecord[] = [];
    for (const id of this.idsIn(await this.fs.list(this.finishedDir)).reverse()) {
      const job = await this.readRecord(this.finishedPath(id), id);
      if (job) out.push(job);
    }
    return out;
  }

  /** The job in whatever state it is, or undefined. A finished record wins over a stale pending one. */
  async get(id: string): Promise<JobRecord | undefined> {
    if (!ID_RE.test(id)) return undefined;
    return (await this.readRecord(this.finishedPath(id), id)) ?? (await this.readRecord(this.jobPath(id), id));
  }

  async markActive(id: string): Promise<JobRecord> {
    const job = await this.pending(id);
    if (job.state === 'active') return job;
    const at = this.iso();
    const active: JobRecord = { ...job, state: 'active', startedAt: at, updatedAt: at };
    await this.fs.writeFileAtomic(this.jobPath(id), encodeJob(active));
    return active;
  }

  /**
   * Ids of queued and active jobs, oldest first, without reading their records: two directory
   * listings, cheap enough for the daemon to poll every second.
   */
  async pendingIds(): Promise<string[]> {
    const finished = new Set(this.idsIn(await this.fs.list(this.finishedDir)));
    return this.idsIn(await this.fs.list(this.jobsDir)).filter((id) => !finished.has(id));
  }

  /**
   * Keeps a pending job pending but notes why its last attempt failed (shown by `ftagent status`).
   * The record is rewritten only when the note changes, to spare the flash.
   */
  async noteRetry(id: string, reason: string): Promise<JobRecord> {
    const job = await this.pending(id);
    if (job.reason === reason) return job;
    const noted: JobRecord = { ...job, reason, updatedAt: this.iso() };
    await this.fs.writeFileAtomic(this.jobPath(id), encodeJob(noted));
    return noted;
  }

  /**
   * Asks the daemon to cancel a job (any process may call this; the daemon performs the cancel).
   * The request is a small file named after the job; writing it twice is harmless.
   */
  async requestCancel(id: string): Promise<void> {
    const path = posix.join(this.cancelDir, checkedId(id));
    await this.fs.mkdirp(this.cancelDir);
    await this.fs.writeFileAtomic(path, new TextEncoder().encode(`${this.iso()}\n`));
  }

  /** Job ids with an outstanding cancel request. */
  async cancelRequests(): Promise<string[]> {
    return (await this.fs.list(this.cancelDir)).filter((n) => !isTempName(n) && ID_RE.test(n));
  }

  /** Whether a cancel request for `id` is outstanding. */
  async hasCancelRequest(id: string): Promise<boolean> {
    return (await this.fs.stat(posix.join(this.cancelDir, checkedId(id)))) !== undefined;
  }

  /** Called by the daemon once the request was acted on (or the job no longer exists). */
  async clearCancelRequest(id: string): Promise<void> {
    await this.fs.remove(posix.join(this.cancelDir, checkedId(id)));
  }

  markDone(id: string, reason?: string): Promise<JobRecord> {
    return this.finish(id, 'done', reason);
  }

  markFailed(id: string, reason: string, code?: FtErrorCode): Promise<JobRecord> {
    return this.finish(id, 'failed', reason, code);
  }

  /** Cancelling a finished job changes nothing and returns its record. Call from the daemon. */
  cancel(id: string, reason = 'cancelled on request'): Promise<JobRecord> {
    return this.finish(id, 'cancelled', reason);
  }

  /**
   * Records the end of a job. Order: finished record (atomic) → remove the pending record →
   * remove the checkpoint → prune old finished records. A cut anywhere leaves either the job
   * pending or the finished record (maybe with leftovers recover() cleans), never neither.
   */
  async finish(id: string, state: FinishedJobState, reason?: string, code?: FtErrorCode): Promise<JobRecord> {
    const already = await this.readRecord(this.finishedPath(id), id);
    if (already) return already;
    const job = await this.pending(id);
    const at = this.iso();
    const finished: JobRecord = { ...job, state, finishedAt: at, updatedAt: at };
    if (reason !== undefined) finished.reason = reason;
    else delete finished.reason;
    if (code !== undefined) finished.code = code;
    else delete finished.code;
    await this.fs.writeFileAtomic(this.finishedPath(id), encodeJob(finished));
    await this.fs.remove(this.jobPath(id));
    await this.fs.remove(this.checkpointPath(id));
    await this.pruneDir(this.finishedDir, this.options.retention ?? 200, (n) => n.endsWith(JOB_EXT));
    return finished;
  }

  checkpointPath(id: string): string {
    return posix.join(this.checkpointsDir, checkedId(id));
  }

  /** The job's checkpoint; undefined if there is none or it was damaged (then it is quarantined: restart from zero). */
  async readCheckpoint(id: string): Promise<Checkpoint | undefined> {
    const path = this.checkpointPath(id);
    try {
      const cp = await readCheckpoint(this.fs, path);
      if (cp && cp.jobId !== id) throw new FtError('STATE_CORRUPT', `state file ${path} holds the checkpoint of job ${cp.jobId}`);
      return cp;
    } catch (err) {
      if (!isFtError(err, 'STATE_CORRUPT')) throw err;
      await this.quarantine(path, err.message);
      return undefined;
    }
  }

  checkpointWriter(id: string, throttle: { everyBytes?: number; everyMs?: number } = {}): CheckpointWriter {
    return new CheckpointWriter({ fs: this.fs, path: this.checkpointPath(id), now: this.now, ...throttle });
  }

  /**
   * Daemon start-up repair: delete stale temp files, pending records that already have a finished
   * record, checkpoints of jobs that are no longer pending; quarantine damaged records; prune.
   */
  async recover(): Promise<RecoveryReport> {
    const quarantinedBefore = this.quarantinedCount;
    const report: RecoveryReport = { removedTemp: 0, removedStaleJobs: 0, removedOrphanCheckpoints: 0, quarantined: 0 };
    const maxAge = this.options.tempMaxAgeMs ?? 5 * 60_000;
    for (const dir of [this.jobsDir, this.finishedDir, this.checkpointsDir, this.cancelDir]) {
      for (const name of await this.fs.list(dir)) {
        if (!isTempName(name)) continue;
        const st = await this.fs.stat(posix.join(dir, name));
        if (st && this.now() - st.mtimeMs < maxAge) continue;
        await this.fs.remove(posix.join(dir, name));
        report.removedTemp++;
      }
    }
    const finished = new Set(this.idsIn(await this.fs.list(this.finishedDir)));
    for (const id of this.idsIn(await this.fs.list(this.jobsDir))) {
      if (!finished.has(id)) continue;
      await this.fs.remove(this.jobPath(id));
      report.removedStaleJobs++;
    }
    const pending = new Set((await this.list()).map((j) => j.id));
    for (const name of await this.fs.list(this.checkpointsDir)) {
      if (isTempName(name) || pending.has(name)) continue;
      await this.fs.remove(posix.join(this.checkpointsDir, name));
      report.removedOrphanCheckpoints++;
    }
    await this.listFinished();
    await this.pruneDir(this.finishedDir, this.options.retention ?? 200, (n) => n.endsWith(JOB_EXT));
    report.quarantined = this.quarantinedCount - quarantinedBefore;
    return report;
  }

  /** Moves a damaged file to quarantine/ and logs why. Losing the race to another process is fine. */
  async quarantine(path: string, reason: string): Promise<void> {
    // Time first, so names sort oldest first for pruning; then where it came from.
    const stamp = String(this.now()).padStart(15, '0');
    const target = posix.join(this.quarantineDir, `${stamp}-${posix.basename(posix.dirname(path))}-${posix.basename(path)}`);
    try {
      await this.fs.rename(path, target);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return;
      throw err;
    }
    this.quarantinedCount++;
    this.log.warn({ file: path, movedTo: target, reason }, 'moved a damaged state file aside');
    await this.pruneDir(this.quarantineDir, this.options.quarantineLimit ?? 100, (n) => !isTempName(n));
  }

  // ---- internals ----

  private jobPath(id: string): string {
    return posix.join(this.jobsDir, `${checkedId(id)}${JOB_EXT}`);
  }

  private finishedPath(id: string): string {
    return posix.join(this.finishedDir, `${checkedId(id)}${JOB_EXT}`);
  }

  private idsIn(names: string[]): string[] {
    return names
      .filter((n) => n.endsWith(JOB_EXT))
      .map((n) => n.slice(0, -JOB_EXT.length))
      .filter((id) => ID_RE.test(id))
      .sort();
  }

  private async pending(id: string): Promise<JobRecord> {
    const job = await this.readRecord(this.jobPath(id), id);
    if (!job) throw new FtError('JOB_NOT_FOUND', `no queued or active job ${id}: check the id with \`ftagent status\``, { details: { id } });
    return job;
  }

  /** Decoded record, or undefined when missing or damaged (damaged ones are quarantined). */
  private async readRecord(path: string, id: string): Promise<JobRecord | undefined> {
    const bytes = await this.fs.readFile(path);
    if (bytes === undefined) return undefined;
    try {
      const job = decodeJob(bytes, path);
      if (job.id !== id) throw new FtError('STATE_CORRUPT', `state file ${path} holds job ${job.id}`);
      return job;
    } catch (err) {
      if (!isFtError(err, 'STATE_CORRUPT')) throw err;
      await this.quarantine(path, err.message);
      return undefined;
    }
  }

  private async pruneDir(dir: string, keep: number, counts: (name: string) => boolean): Promise<void> {
    // Job ids and quarantine names both start with a time, so name order is age order.
    const names = (await this.fs.list(dir)).filter(counts).sort();
    for (const name of names.slice(0, Math.max(0, names.length - keep))) await this.fs.remove(posix.join(dir, name));
  }

  private newId(): string {
    let ms = this.now();
    let seq = 0;
    if (ms <= this.lastIdMs) {
      ms = this.lastIdMs;
      seq = this.lastIdSeq + 1;
      if (seq >= 36 * 36) {
        ms++;
        seq = 0;
      }
    }
    this.lastIdMs = ms;
    this.lastIdSeq = seq;
    return `${ms.toString(36).padStart(9, '0')}${seq.toString(36).padStart(2, '0')}-${randomBytes(4).toString('hex')}`;
  }

  private iso(): string {
    return new Date(this.now()).toISOString();
  }
}

function checkedId(id: string): string {
  // Ids become file names: refuse anything that could reach outside the state directory.
  if (!ID_RE.test(id)) throw new FtError('JOB_NOT_FOUND', `"${id}" is not a job id (ids look like lx2k9a1b00-3f9a1c0d)`, { details: { id } });
  return id;
}
