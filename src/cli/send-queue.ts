/**
 * `ftagent send FILE --queue [--wait]`: hands FILE to the daemon through the spool. The job is on
 * disk (atomically, fsynced) before its id is printed, so once a script has the id it can forget
 * the file: the job survives power loss and waits if the daemon is not running. `--wait` blocks
 * until the job ends and exits with the status the foreground `send` would have.
 */
import { resolve } from 'node:path';
import { FtError, isErrorCode } from '../errors';
import { encodeQueuedOptions, jobPriorities, type JobPriority, type QueuedUploadOptions } from '../jobs/upload-job-options';
import { SpoolAdmission } from '../jobs/spool-admission';
import { outboxFor } from '../daemon/fleet-setup';
import { droppedEvent } from '../fleet/events';
import { silentLogger } from '../log';
import type { JobRecord } from '../storage/job-record';
import { validateUploadValues } from '../transfer/emqx-ft/upload';
import type { CliIo } from './command';
import { exitCodeOf, exitStatus } from './exit-codes';
import { checkSourceFile } from './source-path';
import { openState } from './state-access';
import { integerFlag, sendUsageError, uploadFlagOptions, uploadFlagSpec } from './upload-flags';
import { parseCommandArgs } from './argv';

const queueSpec = {
  ...uploadFlagSpec,
  queue: { type: 'boolean' },
  wait: { type: 'boolean' },
  config: { type: 'string', short: 'c' },
  'on-change': { type: 'string' },
  priority: { type: 'string' },
  'wait-timeout': { type: 'string' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean' },
} as const;

const daemonOwned = ['--broker', '--client-id', '--username', '--password', '--password-file', '--ca', '--cert', '--key', '--insecure', '--mqtt', '--mode', '--max-rate'];

/** --wait-timeout: up to 30 days (a job may wait that long for its daemon). */
const waitTimeoutRange = { min: 1, max: 30 * 86400, unit: 'seconds' };

/** How often --wait looks at the job. */
const waitPollMs = 500;

export function isQueuedSend(argv: readonly string[]): boolean {
  return argv.includes('--queue');
}

export async function runQueuedSend(argv: string[], io: CliIo): Promise<number> {
  const refused = argv.find((a) => daemonOwned.includes(a.split('=')[0] ?? a));
  if (refused) throw sendUsageError(`${refused} does not apply with --queue: the daemon's config decides the connection, the mode and the rate`);
  const { values: v, positionals } = parseCommandArgs('send', argv, queueSpec);
  if (positionals.length !== 1 || positionals[0] === undefined) throw sendUsageError('give exactly one FILE to send');
  const file = resolve(io.cwd, positionals[0]);
  const onChange = v['on-change'] ?? 'fail';
  if (onChange !== 'fail' && onChange !== 'restart') throw sendUsageError(`--on-change must be fail or restart, got "${onChange}"`);
  const priority = v.priority ?? 'normal';
  if (!(jobPriorities as readonly string[]).includes(priority)) throw sendUsageError(`--priority must be high, normal or low, got "${priority}"`);
  const waitTimeout = integerFlag('wait-timeout', v['wait-timeout'], waitTimeoutRange);
  if (waitTimeout !== undefined && !v.wait) throw sendUsageError('--wait-timeout needs --wait');
  const waitTimeoutMs = waitTimeout === undefined ? undefined : waitTimeout * 1000;
  const flags = uploadFlagOptions(v);
  // The daemon's rules, now: a value it would refuse later must not get a job id.
  validateUploadValues(flags);
  const size = checkSourceFile(file);

  const state = await openState(v.config, io);
  const options: QueuedUploadOptions = {
    ...flags,
    ...(onChange === 'restart' ? { onSourceChange: 'restart' } : {}),
    ...(priority !== 'normal' ? { priority: priority as JobPriority } : {}),
    queuedSize: size,
  };
  const { config } = state;
  const outbox = outboxFor(config, state.fs, silentLogger);
  const admission = new SpoolAdmission({
    spool: state.spool,
    bounds: config.spool,
    // A dropped job's event waits in the outbox for the daemon to publish.
    onDropped: (record, reason, at) => (config.fleet.enabled ? outbox.add(droppedEvent(record, 'low', reason, config.clientId, at.toISOString())) : Promise.resolve()),
    logger: silentLogger,
  });
  const id = await admission.enqueue({ kind: 'upload', file, options: encodeQueuedOptions(options) });
  // With --wait, --json prints one object: the job's end (it names the job too).
  if (!v.wait) {
    io.stdout.write(v.json ? `${JSON.stringify({ ok: true, job: id, state: 'queued', file })}\n` : `${id}\n`);
    return exitStatus.ok;
  }
  if (!v.json) io.stdout.write(`${id}\n`);

  const interrupt = new AbortController();
  const onSignal = (): void => interrupt.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const deadline = waitTimeoutMs === undefined ? undefined : Date.now() + waitTimeoutMs;
  let daemonWasRunning: boolean | undefined;
  const stillWaiting = (error: FtError): number => {
    if (v.json) io.stdout.write(`${JSON.stringify({ ok: false, job: id, state: 'queued', error: { code: error.code, message: error.message, transient: error.transient } })}\n`);
    else if (!v.quiet) io.stderr.write(`ftagent send: ${error.message}\n`);
    return exitCodeOf(error);
  };
  try {
    for (;;) {
      const job = await state.spool.get(id);
      if (job && job.state !== 'queued' && job.state !== 'active') return reportEnd(job, io, v.json === true, v.quiet === true);
      // Say so when no daemon runs (at the start, and whenever it goes away): the job waits for one.
      const running = (await state.daemonPid()) !== undefined;
      if (!running && daemonWasRunning !== false && !v.quiet) {
        io.stderr.write(`ftagent send: no daemon is running on ${state.config.stateDir}; job ${id} waits until \`ftagent run\` starts (still waiting)\n`);
      }
      daemonWasRunning = running;
      if (deadline !== undefined && Date.now() >= deadline) {
        return stillWaiting(new FtError('TIMEOUT', `job ${id} did not end within --wait-timeout ${waitTimeoutMs! / 1000} s; it stays queued (see \`ftagent status ${id}\`)`, { transient: true }));
      }
      if (!(await pause(waitPollMs, interrupt.signal))) {
        return stillWaiting(new FtError('INTERRUPTED', `stopped waiting; job ${id} stays queued (see \`ftagent status ${id}\`)`));
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
