/**
 * `ftagent job add FILE | list [--json] | remove ID`: the store jobs kept in the state dir and run on
 * schedule by the daemon (src/jobs/store-runner.ts). The command only edits job files; a running
 * daemon watches their folder and picks changes up at once.
 */
import { fileLimits, readBounded } from '../config/bounded-read';
import { resolve } from 'node:path';
import { FtError, errnoCode } from '../errors';
import { defaultConfigPath, loadConfig } from '../config/load-config';
import { StoreJobStore, type JobState, type StoredJob } from '../jobs/store-job-state';
import { parseSchedule } from '../jobs/schedule';
import { parseStoreJob } from '../jobs/store-job';
import { parseJsonKeepingIds } from '../protocol/json-ids';
import { createNodeDurableFs } from '../storage/node-fs';
import type { CliCommand, CliIo } from './command';
import { exitStatus } from './exit-codes';
import { jobUsage as usage } from './usage';
import { parseCommandArgs } from './argv';

interface Args {
  sub: string | undefined;
  positional: string[];
  json: boolean;
  replace: boolean;
  stateDir: string | undefined;
  config: string | undefined;
}

const command: CliCommand = {
  name: 'job',
  summary: 'add, list or remove scheduled store jobs',
  usage,
  async run(argv, io) {
    const args = parseArgs(argv);
    const store = new StoreJobStore(createNodeDurableFs(), await stateDirOf(args, io));
    switch (args.sub) {
      case 'add':
        return add(store, args, io);
      case 'list':
        return list(store, args, io);
      case 'remove': {
        const id = args.positional[0];
        if (id === undefined || args.positional.length > 1) throw new FtError('USAGE', `job remove needs exactly one job id.\n${usage}`);
        await store.remove(id);
        io.stdout.write(`removed store job ${id}\n`);
        return exitStatus.ok;
      }
      default:
        throw new FtError('USAGE', args.sub === undefined ? `missing subcommand.\n${usage}` : `unknown subcommand "${args.sub}".\n${usage}`);
    }
  },
};
export default command;

async function add(store: StoreJobStore, args: Args, io: CliIo): Promise<number> {
  const file = args.positional[0];
  if (file === undefined || args.positional.length > 1) throw new FtError('USAGE', `job add needs exactly one JSON file.\n${usage}`);
  const path = resolve(io.cwd, file);
  let text: string;
  try {
    text = readBounded(path, { limit: fileLimits.storeJobs, what: `store job file ${path}`, code: 'USAGE' }).toString('utf8');
  } catch (err) {
    if (err instanceof FtError) throw err;
    throw new FtError('SOURCE_UNREADABLE', `cannot read ${path}: ${errnoCode(err) === 'ENOENT' ? 'it does not exist' : String(err)}`);
  }
  let value: unknown;
  try {
    // Ids keep their type and every digit (a numeric job_id beyond 2^53 too).
    value = parseJsonKeepingIds(text);
  } catch (err) {
    throw new FtError('CONFIG_INVALID', `${path} is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  // One job or a list of jobs; all are checked before any is written.
  const jobs = (Array.isArray(value) ? value : [value]).map((v, i) => parseStoreJob(v, Array.isArray(value) ? `${path} [${i}]` : path));
  for (const job of jobs) {
    await store.add(job, Date.now(), { replace: args.replace });
    io.stdout.write(`added store job ${job.job_id} (${job.execution_time}, ${job.tasks.length} task(s))\n`);
  }
  return exitStatus.ok;
}

async function list(store: StoreJobStore, args: Args, io: CliIo): Promise<number> {
  const { jobs, damaged } = await store.list();
  const rows = await Promise.all(jobs.map(async (j) => describe(j, await store.readStateOrFresh(j.job.job_id, () => undefined))));
  if (args.json) {
    io.stdout.write(`${JSON.stringify({ jobs: rows, damaged })}\n`);
    return exitStatus.ok;
  }
  if (rows.length === 0) io.stdout.write('no store jobs\n');
  for (const r of rows) {
    io.stdout.write(
      `${r.job_id}  ${r.enable ? 'enabled ' : 'disabled'}  "${r.execution_time}"  duration ${r.duration}s  next ${r.nextRun ?? '-'}  ` +
        `last ${r.lastRun ? `${r.lastRun.state} (fired ${new Date(r.lastRun.fireAt).toISOString()})` : '-'}\n`,
    );
    for (const t of r.lastRun?.tasks ?? []) {
      io.stdout.write(`    task ${t.task_id}: ${t.state}${t.error ? ` (${t.error})` : ''}\n`);
    }
  }
  for (const d of damaged) io.stderr.write(`damaged job file ${d.file}: ${d.error}\n`);
  return exitStatus.ok;
}

function describe(j: StoredJob, state: JobState) {
  let nextRun: string | null = null;
  try {
    const n = parseSchedule(j.job.execution_time, j.job.timezone).nextAfter(Date.now());
    nextRun = n === null ? null : new Date(n).toISOString();
  } catch {
    nextRun = null;
  }
  return {
    job_id: j.job.job_id,
    enable: j.job.enable,
    execution_time: j.job.execution_time,
    duration: j.job.duration,
    tasks: j.job.tasks.length,
    addedAt: new Date(j.addedAt).toISOString(),
    nextRun,
    lastRun: state.current ?? state.history[state.history.length - 1],
  };
}

async function stateDirOf(args: Args, io: CliIo): Promise<string> {
  if (args.stateDir !== undefined) return resolve(io.cwd, args.stateDir);
  const config = await loadConfig(resolve(io.cwd, args.config ?? defaultConfigPath), { env: io.env });
  return config.stateDir;
}

function parseArgs(argv: string[]): Args {
  const { values: v, positionals } = parseCommandArgs('job', argv, {
    json: { type: 'boolean' },
    replace: { type: 'boolean' },
    'state-dir': { type: 'string' },
    config: { type: 'string', short: 'c' },
  });
  const [sub, ...positional] = positionals;
  return { sub, positional, json: v.json === true, replace: v.replace === true, stateDir: v['state-dir'], config: v.config };
}
