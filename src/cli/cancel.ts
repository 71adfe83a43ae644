/**
 * `ftagent cancel JOB`: asks the daemon to cancel a queued or active job. The request is a file in
 * the state directory; the daemon sees it within a second, stops the upload (telling the broker)
 * and records the job as cancelled. Without a running daemon the request waits for its start.
 */
import { FtError } from '../errors';
import type { CliCommand, CliIo } from './command';
import { exitStatus } from './exit-codes';
import { openState } from './state-access';
import { cancelUsage as usage } from './usage';
import { parseCommandArgs, usageErrorFor } from './argv';

const waitMs = 15_000;
const pollMs = 250;

async function run(argv: string[], io: CliIo): Promise<number> {
  const { values: v, positionals } = parseCommandArgs('cancel', argv, { config: { type: 'string', short: 'c' } });
  const id = positionals[0];
  if (positionals.length !== 1 || id === undefined) throw usageErrorFor('cancel')('give exactly one JOB id (see `ftagent status`)');
  const state = await openState(v.config, io);
  const job = await state.spool.get(id);
  if (!job) throw new FtError('JOB_NOT_FOUND', `no job ${id} in ${state.config.stateDir}: check the id with \`ftagent status\``);
  if (job.state !== 'queued' && job.state !== 'active') {
    io.stdout.write(`job ${id} already ${job.state}${job.reason ? `: ${job.reason}` : ''}\n`);
    return job.state === 'cancelled' ? exitStatus.ok : exitStatus.failure;
  }
  await state.spool.requestCancel(id);
  if ((await state.daemonPid()) === undefined) {
    io.stdout.write(`cancel of job ${id} requested; no daemon is running, it is cancelled when the daemon starts\n`);
    return exitStatus.ok;
  }
  for (let waited = 0; waited < waitMs; waited += pollMs) {
    await new Promise((r) => setTimeout(r, pollMs));
    const now = await state.spool.get(id);
    if (now && now.state !== 'queued' && now.state !== 'active') {
      io.stdout.write(`job ${id} ${now.state}${now.reason ? `: ${now.reason}` : ''}\n`);
      return now.state === 'cancelled' ? exitStatus.ok : exitStatus.failure;
    }
  }
  io.stdout.write(`cancel of job ${id} requested; the daemon has not acted on it yet (see \`ftagent status ${id}\`)\n`);
  return exitStatus.ok;
}

const command: CliCommand = { name: 'cancel', summary: 'cancel a queued or active job', usage, run };
export default command;
