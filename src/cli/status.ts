/**
 * `ftagent status [JOB] [--json]`: the queue as the daemon sees it, read from the state directory
 * (no daemon needed): queued, active with progress from its checkpoint, and the finished jobs kept
 * by "retention", with their reasons.
 */
import { parseArgs } from 'node:util';
import { FtError, isFtError } from '../errors';
import { confirmedBytes } from '../jobs/upload-job-runner';
import { readCheckpoint, type Checkpoint } from '../storage/checkpoint';
import type { JobRecord } from '../storage/job-record';
import type { CliCommand, CliIo } from './command';
import { exitStatus } from './exit-codes';
import { formatBytes } from './progress';
import { openState, type StateAccess } from './state-access';

const usage = `Usage: ftagent status [JOB] [--json] [--config FILE]

Lists queued, active (with progress), done, failed and cancelled jobs, newest finished first, or
one JOB in detail. Reads the daemon's state directory; works whether or not the daemon runs.

  --json          one JSON object on stdout
  --config FILE   the daemon's config (default $FTAGENT_CONFIG, else /etc/ftagent/config.json)

Exit status: 0; 2 no such job.
`;

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
    return { stage: cp.stage, confirmed: confirmedBytes(cp), size: cp.source.size, fileId: cp.fileId, attempts: cp.attempts };
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
  const detail = [progress, s.cancelRequested ? 'cancel requested' : '', s.reason ?? ''].filter((x) => x !== '').join('; ');
  return `${s.id}  ${s.state.padEnd(9)}  ${s.file}${detail ? `  (${detail})` : ''}`;
}

async function run(argv: string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { json: { type: 'boolean' }, config: { type: 'string', short: 'c' } }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new FtError('USAGE', `${err instanceof Error ? err.message : String(err)}. Run \`ftagent status --help\``);
  }
  const { values: v, positionals } = parsed;
  if (positionals.length > 1) throw new FtError('USAGE', 'give at most one JOB id');
  const state = await openState(v.config, io);
  const cancels = new Set(await state.spool.cancelRequests());
  const daemonPid = (await state.daemonPid()) ?? null;

  const only = positionals[0];
  if (only !== undefined) {
    const job = await state.spool.get(only);
    if (!job) throw new FtError('JOB_NOT_FOUND', `no job ${only} in ${state.config.stateDir} (finished jobs beyond the last ${state.config.retention.finishedJobs} are forgotten)`);
    const s = await statusOf(state, job, cancels);
    if (v.json) io.stdout.write(`${JSON.stringify(s)}\n`);
    else io.stdout.write(`${line(s)}\n`);
    return exitStatus.ok;
  }

  const pending = await state.spool.list();
  const finished = await state.spool.listFinished();
  const jobs = await Promise.all([...pending, ...finished].map((j) => statusOf(state, j, cancels)));
  if (v.json) {
    io.stdout.write(`${JSON.stringify({ stateDir: state.config.stateDir, daemonPid, jobs })}\n`);
    return exitStatus.ok;
  }
  const count = (st: string): number => jobs.filter((j) => j.state === st).length;
  io.stdout.write(
    `daemon: ${daemonPid === null ? 'not running' : `running (pid ${daemonPid})`}; ${count('active')} active, ${count('queued')} queued, ${count('done')} done, ${count('failed')} failed, ${count('cancelled')} cancelled\n`,
  );
  for (const s of jobs) io.stdout.write(`${line(s)}\n`);
  return exitStatus.ok;
}

const command: CliCommand = { name: 'status', summary: 'show queued, active, done and failed jobs', usage, run };
export default command;
