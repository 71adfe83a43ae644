import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load-config';
import { Daemon } from '../../src/daemon/daemon';
import { StoreJobStore } from '../../src/jobs/store-job-state';
import { createNodeDurableFs } from '../../src/storage/node-fs';
import { encodeRecord } from '../../src/storage/record-codec';
import { runCli } from '../helpers/cli-run';
import { broker, quietLog, sampleFile, until } from './helpers';

const clientId = 'gw-live';
const fs = createNodeDurableFs();
const root = mkdtempSync(join(tmpdir(), 'ftagent-store-live-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** The next whole second at least `leadMs` away, and the UTC crontab that fires exactly then. */
function firingSoon(leadMs: number): { at: number; crontab: string } {
  const at = Math.ceil((Date.now() + leadMs) / 1000) * 1000;
  const d = new Date(at);
  return { at, crontab: `${d.getUTCSeconds()} ${d.getUTCMinutes()} ${d.getUTCHours()} * * *` };
}

const cli = (...argv: string[]): ReturnType<typeof runCli> => runCli(argv, root);

function jobJson(jobId: string, crontab: string, file: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    job_id: jobId,
    execution_time: crontab,
    timezone: 'UTC',
    duration: 60,
    tasks: [{ task_id: 1, script_id: 1, type: 'UPLOAD_TO_SERVER', path: file, target_path: '/in/x', retry_times: 0 }],
    ...extra,
  };
}

describe('store jobs on a running daemon with the default config', () => {
  const stateDir = join(root, 'state');
  const dataDir = join(root, 'broker');
  const src = join(root, 'src');
  const configFile = join(root, 'config.json');
  let b: Awaited<ReturnType<typeof broker>>;
  let daemon: Daemon;
  const jobs = new StoreJobStore(fs, stateDir);
  const received = (jobId: string, name: string): string => join(dataDir, 'store', 'received', clientId, jobId, name);

  beforeAll(async () => {
    mkdirSync(src, { recursive: true });
    b = await broker(dataDir);
    // Only what turning the store flows on needs: rescanSeconds and every other key keep their defaults.
    writeFileSync(configFile, JSON.stringify({ brokers: [`mqtt://127.0.0.1:${b.port}`], clientId, stateDir, log: { level: 'silent' }, store: { enabled: true } }));
    daemon = await Daemon.start({ config: await loadConfig(configFile, { env: {} }), fs, logger: quietLog, pollMs: 50 });
  });
  afterAll(async () => {
    await daemon.stop();
    await b.stop();
  });

  it('fires a job added with `ftagent job add` 3 s before its time, in its scheduled second or the next', async () => {
    const bytes = sampleFile(join(src, 'added-late.csv'), 40_000, 5);
    const { at, crontab } = firingSoon(3000);
    writeFileSync(join(root, 'late.json'), JSON.stringify(jobJson('added-late', crontab, join(src, 'added-late.csv'))));
    expect((await cli('job', 'add', 'late.json', '--config', configFile)).code).toBe(0);
    await until('the run recorded', async () => (await jobs.readState('added-late')).history.length === 1, 20_000);
    const run = (await jobs.readState('added-late')).history[0];
    expect(run).toMatchObject({ fireAt: at, state: 'done', catchUp: false });
    expect(run?.startedAt).toBeLessThan(at + 2000);
    expect(readFileSync(received('added-late', 'added-late.csv')).equals(bytes)).toBe(true);
  });

  it('never fires a job removed with `ftagent job remove` before its time', async () => {
    sampleFile(join(src, 'removed.csv'), 1000, 6);
    const { at, crontab } = firingSoon(3000);
    writeFileSync(join(root, 'removed.json'), JSON.stringify(jobJson('removed', crontab, join(src, 'removed.csv'))));
    expect((await cli('job', 'add', 'removed.json', '--config', configFile)).code).toBe(0);
    expect((await cli('job', 'remove', 'removed', '--config', configFile)).code).toBe(0);
    // A second job firing a second later proves the daemon was scanning meanwhile.
    sampleFile(join(src, 'witness.csv'), 1000, 7);
    const witness = firingSoon(at - Date.now() + 1000);
    writeFileSync(join(root, 'witness.json'), JSON.stringify(jobJson('witness', witness.crontab, join(src, 'witness.csv'))));
    expect((await cli('job', 'add', 'witness.json', '--config', configFile)).code).toBe(0);
    await until('the witness job ran', async () => (await jobs.readState('witness')).history.length === 1, 20_000);
    expect(existsSync(received('removed', 'removed.csv'))).toBe(false);
    expect(b.store?.results.list().some((r) => r.job_id === 'removed')).toBe(false);
  });

  it('refuses a job with an unknown time zone at job add, naming the field', async () => {
    writeFileSync(join(root, 'mars.json'), JSON.stringify(jobJson('mars', '0 30 2 * * *', join(src, 'x.csv'), { timezone: 'Mars/Olympus' })));
    const r = await cli('job', 'add', 'mars.json', '--config', configFile);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/"timezone" is "Mars\/Olympus", which is not a time zone this system knows: use an IANA name/);
    expect(existsSync(jobs.jobPath('mars'))).toBe(false);
  });

  it('moves a job file that cannot run aside and runs the others', async () => {
    // Written past `job add` (an older agent, or a hand edit): the scan must cope.
    mkdirSync(jobs.dir, { recursive: true });
    writeFileSync(jobs.jobPath('bad-zone'), encodeRecord('store-job', 1, { job: jobJson('bad-zone', '* * * * * *', join(src, 'x.csv'), { timezone: 'Mars/Olympus' }), addedAt: Date.now() }));
    const bytes = sampleFile(join(src, 'good.csv'), 3000, 8);
    const { at, crontab } = firingSoon(2000);
    writeFileSync(join(root, 'good.json'), JSON.stringify(jobJson('good', crontab, join(src, 'good.csv'))));
    expect((await cli('job', 'add', 'good.json', '--config', configFile)).code).toBe(0);
    await until('the bad job file moved aside', () => !existsSync(jobs.jobPath('bad-zone')), 5000);
    expect(readdirSync(join(stateDir, 'quarantine')).some((n) => n.endsWith('store-jobs-bad-zone.job'))).toBe(true);
    await until('the good job ran', async () => (await jobs.readState('good')).history.length === 1, 20_000);
    expect((await jobs.readState('good')).history[0]).toMatchObject({ fireAt: at, state: 'done' });
    expect(readFileSync(received('good', 'good.csv')).equals(bytes)).toBe(true);
  });
});
