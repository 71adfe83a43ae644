/**
 * Store jobs in the state directory, through the durable fs port and the record codec:
 *
 *   <stateDir>/store-jobs/<job_id>.job     the job as added (written by `ftagent job add`, removed by `job remove`)
 *   <stateDir>/store-jobs/<job_id>.state   when it last fired and what its runs did (written by the runner only)
 *
 * Two files so the CLI and the daemon never overwrite each other's writes: each file has one writer.
 * Every write is an atomic replace; a damaged file fails its checksum and is reported, not half believed.
 */
import { posix } from 'node:path';
import { FtError, isFtError } from '../errors';
import type { DurableFs } from '../storage/durable-fs';
import { isTempName } from '../storage/durable-fs';
import { parseJsonKeepingIds, stringifyJson } from '../protocol/json-ids';
import { decodeRecord, encodeRecord } from '../storage/record-codec';
import { parseStoreJob, type StoreJob } from './store-job';

export interface StoredJob {
  job: StoreJob;
  /** Epoch ms; a job never fires for a time before it was added. */
  addedAt: number;
}

export type RunState = 'running' | 'done' | 'failed';
export type ItemState = 'pending' | 'done' | 'failed';

export interface FileResult {
  path: string;
  state: ItemState;
  attempts: number;
  topic?: string;
  size?: number;
  error?: string;
  errorCode?: string;
  finishedAt?: number;
}

export interface TaskResult {
  task_id: string;
  state: ItemState;
  /** Set once the task's path has been expanded (kept, so a resumed run sends the same files). */
  files?: FileResult[];
  error?: string;
}

export interface RunRecord {
  fireAt: number;
  endTime: number;
  startedAt: number;
  finishedAt?: number;
  state: RunState;
  /** Started late, after the agent was offline at the firing time. */
  catchUp: boolean;
  tasks: TaskResult[];
  error?: string;
}

export interface JobState {
  job_id: string;
  /** The firing time (not the start time) of the latest run. */
  lastFireAt?: number;
  current?: RunRecord;
  /** Finished runs, newest last. */
  history: RunRecord[];
}

const JOB_KIND = 'store-job';
const STATE_KIND = 'store-job-state';
const VERSION = 1;
export const historyLimit = 20;

export class StoreJobStore {
  readonly dir: string;
  readonly quarantineDir: string;

  constructor(
    private readonly fs: DurableFs,
    stateDir: string,
  ) {
    this.dir = posix.join(stateDir, 'store-jobs');
    this.quarantineDir = posix.join(stateDir, 'quarantine');
  }

  /**
   * Moves a job file (and its state) that cannot run into `<stateDir>/quarantine/`, so one bad file
   * never stops the others; returns where it went. The spool keeps that folder to its last 100 files.
   */
  async quarantine(file: string, now: number): Promise<string> {
    await this.fs.mkdirp(this.quarantineDir);
    const stamp = String(now).padStart(15, '0');
    const target = posix.join(this.quarantineDir, `${stamp}-store-jobs-${posix.basename(file)}`);
    await this.fs.rename(file, target);
    if (file.endsWith('.job')) {
      const state = `${file.slice(0, -'.job'.length)}.state`;
      if (await this.fs.stat(state)) await this.fs.rename(state, posix.join(this.quarantineDir, `${stamp}-store-jobs-${posix.basename(state)}`));
    }
    return target;
  }

  jobPath(id: string): string {
    return posix.join(this.dir, `${id}.job`);
  }

  statePath(id: string): string {
    return posix.join(this.dir, `${id}.state`);
  }

  async add(job: StoreJob, addedAt: number, options: { replace?: boolean } = {}): Promise<void> {
    await this.fs.mkdirp(this.dir);
    if (!options.replace && (await this.fs.stat(this.jobPath(job.job_id)))) {
      throw new FtError('USAGE', `a store job "${job.job_id}" already exists: remove it first (ftagent job remove ${job.job_id}) or add with --replace`);
    }
    // The job as given, in JSON text, so ids beyond 2^53 survive (json-ids.ts).
    await this.fs.writeFileAtomic(this.jobPath(job.job_id), encodeRecord(JOB_KIND, VERSION, { jobJson: stringifyJson(job.source), addedAt }));
  }

  async remove(id: string): Promise<void> {
    if (!(await this.fs.stat(this.jobPath(id)))) throw new FtError('JOB_NOT_FOUND', `no store job "${id}" (ftagent job list shows them)`);
    await this.fs.remove(this.jobPath(id));
    await this.fs.remove(this.statePath(id));
  }

  /** Every job that reads back whole; damaged ones are returned in `damaged` with the reason. */
  async list(): Promise<{ jobs: StoredJob[]; damaged: { file: string; error: string; code?: string }[] }> {
    const jobs: StoredJob[] = [];
    const damaged: { file: string; error: string; code?: string }[] = [];
    for (const name of await this.fs.list(this.dir)) {
      if (!name.endsWith('.job') || isTempName(name)) continue;
      const file = posix.join(this.dir, name);
      try {
        const j = await this.readJobFile(file);
        if (j) jobs.push(j);
      } catch (err) {
        damaged.push({ file, error: err instanceof Error ? err.message : String(err), ...(err instanceof FtError ? { code: err.code } : {}) });
      }
    }
    return { jobs, damaged };
  }

  async get(id: string): Promise<StoredJob | undefined> {
    return this.readJobFile(this.jobPath(id));
  }

  async readState(id: string): Promise<JobState> {
    const file = this.statePath(id);
    const bytes = await this.fs.readFile(file);
    if (!bytes) return { job_id: id, history: [] };
    const { body } = decodeRecord(bytes, { kind: STATE_KIND, versions: [VERSION], file });
    if (typeof body !== 'object' || body === null || (body as { job_id?: unknown }).job_id !== id || !Array.isArray((body as { history?: unknown }).history)) {
      throw new FtError('STATE_CORRUPT', `state file ${file} does not hold the state of job ${id}`);
    }
    return body as JobState;
  }

  async writeState(state: JobState): Promise<void> {
    await this.fs.mkdirp(this.dir);
    await this.fs.writeFileAtomic(this.statePath(state.job_id), encodeRecord(STATE_KIND, VERSION, state));
  }

  /** The state, or a fresh one when the file is damaged (reported through `onDamaged`). */
  async readStateOrFresh(id: string, onDamaged: (err: FtError) => void): Promise<JobState> {
    try {
      return await this.readState(id);
    } catch (err) {
      if (!isFtError(err, 'STATE_CORRUPT')) throw err;
      onDamaged(err);
      return { job_id: id, history: [] };
    }
  }

  private async readJobFile(file: string): Promise<StoredJob | undefined> {
    const bytes = await this.fs.readFile(file);
    if (!bytes) return undefined;
    const { body } = decodeRecord(bytes, { kind: JOB_KIND, versions: [VERSION], file });
    const o = body as { job?: unknown; jobJson?: unknown; addedAt?: unknown };
    if (typeof o !== 'object' || o === null || typeof o.addedAt !== 'number') throw new FtError('STATE_CORRUPT', `state file ${file} has no addedAt`);
    let given = o.job;
    if (typeof o.jobJson === 'string') {
      try {
        given = parseJsonKeepingIds(o.jobJson);
      } catch (err) {
        throw new FtError('STATE_CORRUPT', `state file ${file} holds a job that is not JSON: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    return { job: parseStoreJob(given, file), addedAt: o.addedAt };
  }
}
