/**
 * `ftagent status [JOB] [--json]`: the queue as the daemon sees it, read from the state directory
 * (no daemon needed): queued, active with progress from its checkpoint, and the finished jobs kept
 * by "retention", with their reasons; then the scheduled store jobs with their next firing and
 * what their last run did.
 */
import { FtError, isFtError } from '../errors';
import { StoreJobStore, type JobState, type RunRecord, type StoredJob } from '../jobs/store-job-state';
import { parseSchedule } from '../jobs/schedule';
import { priorityOf } from '../jobs/spool-index';
import type { JobPriority } from '../jobs/upload-job-options';
import { totalBytes } from '../storage/byte-ranges';
import { readCheckpoint, type Checkpoint } from '../storage/checkpoint';
import type { JobRecord } from '../storage/job-record';
import type { CliCommand, CliIo } from './command';
import { exitStatus } from './exit-codes';
import { formatBytes } from './progress';
import { openState, type StateAccess } from './state-access';
import { statusUsage as usage } from './usage';
import { parseCommandArgs, usageErrorFor } from './argv';

export interface JobProgress {
  stage: Checkpoint['stage'];
  confirmed: number;
  size: number;
  fileId: string;
  attempts: number;
}

export interface JobStatus {
  id: string;
  state: JobRecord['state'];
  file: string;
  priority: JobPriority;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  reason: string | null;
  cancelRequested: boolean;
  progress: JobProgress | null;
}

async function progressOf(state: StateAccess, job: JobRecord): Promise<JobProgress | null> {
  if (job.state !== 'active') return null;
  try {
    // Read-only: a damaged checkpoint is the daemon's to move aside.
    const cp = await readCheckpoint(state.fs, state.spool.checkpointPath(job.id));
    if (!cp) return null;
    return { stage: cp.stage, confirmed: totalBytes(cp.confirmed), size: cp.source.size, fileId: cp.fileId, attempts: cp.attempts };
  } catch (err) {
    if (isFtError(err, 'STATE_CORRUPT')) return null;
    throw err;
  }
}

async function statusOf(state: StateAccess, job: JobRecord, cancels: Set<string>): Promise<JobStatus> {
  return {
    id: job.id,
    state: job.state,
    file: job.spec.file,
    priority: priorityOf(job),
    createdAt: job.spec.createdAt,
    startedAt: job.startedAt ?? null,
    finishedAt: job.finishedAt ?? null,
    reason: job.reason ?? null,
    cancelRequested: cancels.has(job.id) && (job.state === 'queued' || job.state === 'active'),
    progress: await progressOf(state, job),
  };
}

function line(s: JobStatus): string {
  const p = s.progress;
  const progress = p ? `${formatBytes(p.confirmed)}/${formatBytes(p.size)} ${p.size === 0 ? 100 : Math.floor((p.confirmed * 100) / p.size)}% ${p.stage}` : '';
  const detail = [progress, s.priority !== 'normal' ? `${s.priority} priority` : '', s.cancelRequested ? 'cancel requested' : '', s.reason ?? ''].filter((x) => x !== '').join('; ');
  return `${s.id}  ${s.state.padEnd(9)}  ${s.file}${detail ? `  (${detail})` : ''}`;
}

export interface StoreRunStatus {
  fireAt: string;
  state: RunRecord['state'];
  catchUp: boolean;
  finishedAt: string | null;
  error: string | null;
  tasks: { taskId: string; state: string; files: number; error: string | null }[];
}

export interface StoreJobStatus {
  id: string;
  enabled: boolean;
  executionTime: string;
  durationSeconds: number;
  tasks: number;
  /** The next firing after now, by the schedule alone (null: disabled, or the schedule never fires again). */
  nextFiring: string | null;
  /** Fired and not finished (running now, or to be resumed by the next daemon start). */
  running: StoreRunStatus | null;
  lastRun: StoreRunStatus | null;
}

function iso(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString();
}

function runStatus(run: RunRecord | undefined): StoreRunStatus | null {
  if (!run) return null;
  return {
    fireAt: new Date(run.fireAt).toISOString(),
    state: run.state,
    catchUp: run.catchUp,
    finishedAt: iso(run.finishedAt),
    error: run.error ?? null,
    tasks: run.tasks.map((t) => ({ taskId: t.task_id, state: t.state, files: t.files?.length ?? 0, error: t.error ?? null })),
  };
}

function storeJobStatus(stored: StoredJob, state: JobState, now: number): StoreJobStatus {
  const { job } = stored;
  let next: number | null = null;
  try {
    next = job.enable ? parseSchedule(job.execution_time, job.timezone).nextAfter(now) : null;
  } catch {
    // A job file that parsed once has a valid schedule; a newer zone database could still disagree.
    next = null;
  }
  return {
    id: job.job_id,
    enabled: job.enable,
    executionTime: job.execution_time,
    durationSeconds: job.duration,
    tasks: job.tasks.length,
    nextFiring: iso(next ?? undefined),
    running: runStatus(state.current),
    lastRun: runStatus(state.history[state.history.length - 1]),
  };
}

async function storeJobs(state: StateAccess): Promise<{ jobs: StoreJobStatus[]; damaged: { file: string; error: string }[] }> {
  const store = new StoreJobStore(state.fs, state.config.stateDir);
  const { jobs, damaged } = await store.list();
  const now = Date.now();
  const out: StoreJobStatus[] = [];
  for (const j of jobs) {
    // Read-only: a damaged state file is the daemon's to start over.
    const st = await store.readStateOrFresh(j.job.job_id, (err) => damaged.push({ file: store.statePath(j.job.job_id), error: err.message }));
    out.push(storeJobStatus(j, st, now));
  }
  return { jobs: out, damaged };
}

function storeLine(s: StoreJobStatus): string {
  const last = s.running ? `running (fired ${s.running.fireAt})` : s.lastRun ? `${s.lastRun.state} (fired ${s.lastRun.fireAt})${s.lastRun.error ? `: ${s.lastRun.error}` : ''}` : 'never run';
  return `${s.id}  ${s.enabled ? 'enabled ' : 'disabled'}  "${s.executionTime}"  next ${s.nextFiring ?? '-'}  last ${last}`;
}

function storeDetail(s: StoreJobStatus): string {
  const run = s.running ?? s.lastRun;
  const tasks = (run?.tasks ?? []).map((t) => `    task ${t.taskId}: ${t.state}, ${t.files} file(s)${t.error ? ` (${t.error})` : ''}\n`);
  return `${storeLine(s)}\n${tasks.join('')}`;
}

async function run(argv: string[], io: CliIo): Promise<number> {
  const { values: v, positionals } = parseCommandArgs('status', argv, { json: { type: 'boolean' }, config: { type: 'string', short: 'c' } });
  if (positionals.length > 1) throw usageErrorFor('status')('give at most one JOB id');
  const state = await openState(v.config, io);
  const cancels = new Set(await state.spool.cancelRequests());
  const daemonPid = (await state.daemonPid()) ?? null;

  const only = positionals[0];
  if (only !== undefined) {
    const job = await state.spool.get(only);
    const storeJob = job ? undefined : (await storeJobs(state)).jobs.find((j) => j.id === only);
    if (storeJob) {
      io.stdout.write(v.json ? `${JSON.stringify(storeJob)}\n` : storeDetail(storeJob));
      return exitStatus.ok;
    }
    if (!job) throw new FtError('JOB_NOT_FOUND', `no job ${only} in ${state.config.stateDir} (finished jobs beyond the last ${state.config.retention.finishedJobs} are forgotten)`);
    const s = await statusOf(state, job, cancels);
    if (v.json) io.stdout.write(`${JSON.stringify(s)}\n`);
    else io.stdout.write(`${line(s)}\n`);
    return exitStatus.ok;
  }

  const pending = await state.spool.list();
  const finished = await state.spool.listFinished();
  const jobs = await Promise.all([...pending, ...finished].map((j) => statusOf(state, j, cancels)));
  const store = await storeJobs(state);
  const storeEnabled = state.config.store.enabled;
  if (v.json) {
    io.stdout.write(`${JSON.stringify({ stateDir: state.config.stateDir, daemonPid, jobs, storeEnabled, storeJobs: store.jobs, storeDamaged: store.damaged })}\n`);
    return exitStatus.ok;
  }
  const count = (st: string): number => jobs.filter((j) => j.state === st).length;
  io.stdout.write(
    `daemon: ${daemonPid === null ? 'not running' : `running (pid ${daemonPid})`}; ${count('active')} active, ${count('queued')} queued, ${count('done')} done, ${count('failed')} failed, ${count('cancelled')} cancelled\n`,
  );
  for (const s of jobs) io.stdout.write(`${line(s)}\n`);
  if (store.jobs.length > 0 || store.damaged.length > 0 || storeEnabled) {
    // A job that cannot fire because the flows are off is the first thing to tell.
    io.stdout.write(`store jobs: ${store.jobs.length}${storeEnabled ? '' : ' (not run: "store.enabled" is false in the config)'}\n`);
    for (const s of store.jobs) io.stdout.write(`${storeLine(s)}\n`);
    for (const d of store.damaged) io.stdout.write(`damaged store job file ${d.file}: ${d.error}\n`);
  }
  return exitStatus.ok;
}

const command: CliCommand = { name: 'status', summary: 'show queued, active, done and failed jobs', usage, run };
export default command;
