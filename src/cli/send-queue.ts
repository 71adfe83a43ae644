/**
 * `ftagent send FILE --queue [--wait]`: hands FILE to the daemon through the spool. The job is on
 * disk (atomically, fsynced) before its id is printed, so once a script has the id it can forget
 * the file: the job survives power loss and waits if the daemon is not running. `--wait` blocks
 * until the job ends and exits with the status the foreground `send` would have.
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { FtError, isErrorCode } from '../errors';
import { encodeQueuedOptions, type QueuedUploadOptions } from '../jobs/upload-job-options';
import { fileNameProblem } from '../protocol/emqx-ft-filemeta';
import { fileIdProblem } from '../protocol/emqx-ft-topics';
import type { JobRecord } from '../storage/job-record';
import { sourceUnreadable } from '../transfer/source-file';
import type { CliIo } from './command';
import { exitCodeOf, exitStatus } from './exit-codes';
import { openState } from './state-access';
import { sendUsageError, uploadFlagOptions, uploadFlagSpec } from './upload-flags';

const queueSpec = {
  ...uploadFlagSpec,
  queue: { type: 'boolean' },
  wait: { type: 'boolean' },
  config: { type: 'string', short: 'c' },
  'on-change': { type: 'string' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean' },
} as const;

const daemonOwned = ['--broker', '--client-id', '--username', '--password', '--password-file', '--ca', '--cert', '--key', '--insecure', '--mqtt', '--mode', '--max-rate'];

/** How often --wait looks at the job. */
const waitPollMs = 500;

export function isQueuedSend(argv: readonly string[]): boolean {
  return argv.includes('--queue');
}

export async function runQueuedSend(argv: string[], io: CliIo): Promise<number> {
  const refused = argv.find((a) => daemonOwned.includes(a.split('=')[0] ?? a));
  if (refused) throw sendUsageError(`${refused} does not apply with --queue: the daemon's config decides the connection, the mode and the rate`);
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: queueSpec, allowPositionals: true, strict: true });
  } catch (err) {
    throw sendUsageError(err instanceof Error ? err.message : String(err));
  }
  const { values: v, positionals } = parsed;
  if (positionals.length !== 1 || positionals[0] === undefined) throw sendUsageError('give exactly one FILE to send');
  const file = resolve(io.cwd, positionals[0]);
  const onChange = v['on-change'] ?? 'fail';
  if (onChange !== 'fail' && onChange !== 'restart') throw sendUsageError(`--on-change must be fail or restart, got "${onChange}"`);
  const flags = uploadFlagOptions(v);
  if (flags.name !== undefined) {
    const problem = fileNameProblem(flags.name);
    if (problem) throw new FtError('USAGE', `--name ${JSON.stringify(flags.name)} would be refused by the broker: ${problem}`);
  }
  if (flags.fileId !== undefined) {
    const problem = fileIdProblem(flags.fileId);
    if (problem) throw new FtError('USAGE', `--file-id ${JSON.stringify(flags.fileId)} cannot be used: ${problem}`);
  }
  checkReadable(file);

  const state = await openState(v.config, io);
  const options: QueuedUploadOptions = { ...flags, ...(onChange === 'restart' ? { onSourceChange: 'restart' } : {}) };
  const id = await state.spool.enqueue({ kind: 'upload', file, options: encodeQueuedOptions(options) });
  if (v.json) io.stdout.write(`${JSON.stringify({ ok: true, job: id, state: 'queued', file })}\n`);
  else io.stdout.write(`${id}\n`);
  if (!v.wait) return exitStatus.ok;

  if ((await state.daemonPid()) === undefined && !v.quiet) {
    io.stderr.write(`ftagent send: no daemon is running on ${state.config.stateDir}; job ${id} waits until \`ftagent run\` starts\n`);
  }
  const interrupt = new AbortController();
  const onSignal = (): void => interrupt.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    for (;;) {
      const job = await state.spool.get(id);
      if (job && job.state !== 'queued' && job.state !== 'active') return reportEnd(job, io, v.json === true, v.quiet === true);
      if (!(await pause(waitPollMs, interrupt.signal))) {
        if (!v.quiet) io.stderr.write(`ftagent send: stopped waiting; job ${id} stays queued (see \`ftagent status ${id}\`)\n`);
        return exitStatus.interrupted;
      }
    }
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

/** The exit status and output for a finished job, as the foreground send would give them. */
function reportEnd(job: JobRecord, io: CliIo, json: boolean, quiet: boolean): number {
  const code = job.state === 'done' ? exitStatus.ok : job.state === 'cancelled' ? exitStatus.interrupted : exitCodeOf(failedJobError(job));
  if (json) {
    io.stdout.write(`${JSON.stringify({ ok: job.state === 'done', job: job.id, state: job.state, reason: job.reason ?? null, exitStatus: code })}\n`);
  } else if (!quiet) {
    io.stderr.write(`job ${job.id} ${job.state}${job.reason ? `: ${job.reason}` : ''}\n`);
  }
  return code;
}

/**
 * The error a failed job ended with, from the code its record keeps. Records written before the
 * code had its own field carry it as the `CODE: ` prefix of the reason; a reason without one
 * (or without any) counts as GAVE_UP, as it always did.
 */
export function failedJobError(job: Pick<JobRecord, 'code' | 'reason'>): FtError {
  const reason = job.reason ?? 'failed';
  if (job.code) return new FtError(job.code, reason);
  const m = /^([A-Z_]+): ([\s\S]*)$/.exec(reason);
  if (m && isErrorCode(m[1])) return new FtError(m[1], m[2] ?? '');
  return new FtError('GAVE_UP', reason);
}

function checkReadable(path: string): void {
  try {
    const st = statSync(path);
    if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: st.isDirectory() ? 'EISDIR' : 'EINVAL' });
  } catch (err) {
    throw sourceUnreadable(path, err);
  }
}

function pause(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((done) => {
    if (signal?.aborted) return done(false);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      done(true);
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      done(false);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
