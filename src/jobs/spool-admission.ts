/**
 * The bounded backlog: every path that adds a job (send --queue, watch folders, remote requests)
 * comes through here. Within spool.maxJobs and spool.maxBytes the job is queued; beyond them the
 * policy decides: `refuse` throws SPOOL_FULL (its own exit status for scripts), `drop-oldest-low`
 * fails the oldest *queued* low-priority jobs with SPOOL_FULL until the new job fits, each drop a
 * log line and a `job.dropped` event, and refuses when dropping every such job would not be enough
 * (then nothing is dropped).
 *
 * Several processes may queue at once; the check and the write are not one atomic step, so two
 * racing writers can pass the bound by one job each. The bound is what keeps a dead uplink from
 * filling the flash, and one job more does not.
 */
import { FtError } from '../errors';
import type { Logger } from '../log';
import type { NewJob, Spool } from '../storage/spool';
import type { JobRecord } from '../storage/job-record';
import { SpoolIndex, factsOfOptions } from './spool-index';

export interface SpoolBounds {
  maxJobs: number;
  /** 0: no byte bound. */
  maxBytes: number;
  whenFull: 'refuse' | 'drop-oldest-low';
}

export interface AdmissionDeps {
  spool: Spool;
  bounds: SpoolBounds;
  /** Told of each job dropped to make room (the wiring turns it into a fleet `job.dropped` event). */
  onDropped: (record: JobRecord, reason: string, at: Date) => Promise<void>;
  logger: Logger;
  index?: SpoolIndex;
  now?: () => number;
}

export class SpoolAdmission {
  readonly index: SpoolIndex;

  constructor(private readonly deps: AdmissionDeps) {
    this.index = deps.index ?? new SpoolIndex(deps.spool);
  }

  /** Queues the job if the bounds allow (after drops, per policy); returns its id or throws SPOOL_FULL. */
  async enqueue(job: NewJob): Promise<string> {
    const { spool, bounds } = this.deps;
    const incoming = factsOfOptions(job.file, job.options ?? {}, 'new');
    if (bounds.maxBytes > 0 && incoming.size > bounds.maxBytes) {
      throw spoolFull(
        `${job.file} is ${incoming.size} bytes, more than spool.maxBytes (${bounds.maxBytes}) allows for the whole queue: raise spool.maxBytes or send it with \`ftagent send\` in the foreground`,
      );
    }
    const pending = await this.index.pending();
    let count = pending.size;
    let bytes = 0;
    for (const f of pending.values()) bytes += f.size;
    const over = (): boolean => count + 1 > bounds.maxJobs || (bounds.maxBytes > 0 && bytes + incoming.size > bounds.maxBytes);
    if (!over()) return spool.enqueue(job);
    const state = `${count} jobs and ${bytes} bytes queued (spool.maxJobs ${bounds.maxJobs}, spool.maxBytes ${bounds.maxBytes || 'unbounded'})`;
    if (bounds.whenFull === 'refuse') {
      throw spoolFull(`the job queue is full: ${state}; wait for jobs to finish, cancel some, or raise the bounds / set spool.whenFull to "drop-oldest-low"`);
    }
    const victims: string[] = [];
    for (const [id, f] of pending) {
      if (!over()) break;
      if (f.priority !== 'low') continue;
      const record = await spool.get(id);
      if (record?.state !== 'queued') continue;
      victims.push(id);
      count -= 1;
      bytes -= f.size;
    }
    if (over()) {
      throw spoolFull(`the job queue is full: ${state}, and dropping every queued low-priority job would not make room; wait for jobs to finish or cancel some`);
    }
    for (const id of victims) await this.drop(id);
    return spool.enqueue(job);
  }

  private async drop(id: string): Promise<void> {
    const { spool, logger } = this.deps;
    const reason = 'SPOOL_FULL: dropped to make room for a newer job (spool.whenFull "drop-oldest-low")';
    const record = await spool.markFailed(id, reason);
    logger.warn({ job: id, file: record.spec.file }, 'spool full: oldest low-priority job dropped');
    await this.deps.onDropped(record, reason, new Date((this.deps.now ?? Date.now)()));
  }
}

function spoolFull(message: string): FtError {
  return new FtError('SPOOL_FULL', message);
}
