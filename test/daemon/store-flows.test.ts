import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { main } from '../../src/cli/main';
import { loadConfig } from '../../src/config/load-config';
import { Daemon } from '../../src/daemon/daemon';
import { queryDir } from '../../src/devbroker/store-server/dir-query';
import { pushFile } from '../../src/devbroker/store-server/push-file';
import type { StoreServer } from '../../src/devbroker/store-server/index';
import { StoreJobStore } from '../../src/jobs/store-job-state';
import { parseStoreJob } from '../../src/jobs/store-job';
import { createNodeDurableFs } from '../../src/storage/node-fs';
import { Spool } from '../../src/storage/spool';
import { broker, daemonConfig, exportsOf, quietLog, sampleFile, until } from './helpers';

const clientId = 'gw-daemon';
const fs = createNodeDurableFs();

const root = mkdtempSync(join(tmpdir(), 'ftagent-store-flows-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
function dirs() {
  const base = join(root, `case-${++n}`);
  const d = { stateDir: join(base, 'state'), dataDir: join(base, 'broker'), src: join(base, 'src'), recv: join(base, 'recv'), browse: join(base, 'browse') };
  mkdirSync(d.src, { recursive: true });
  return d;
}

function storeOf(b: { store?: StoreServer }): StoreServer {
  if (!b.store) throw new Error('the development broker started without its store server');
  return b.store;
}

/** The next whole second at least `leadMs` away, and the UTC crontab that fires exactly then. */
function firingSoon(leadMs: number): { at: number; crontab: string } {
  const at = Math.ceil((Date.now() + leadMs) / 1000) * 1000;
  const d = new Date(at);
  return { at, crontab: `${d.getUTCSeconds()} ${d.getUTCMinutes()} ${d.getUTCHours()} * * *` };
}

/** Added the way `ftagent job add` adds it: a job file in the state directory. */
async function addJob(stateDir: string, jobId: string, crontab: string, file: string): Promise<void> {
  const job = parseStoreJob(
    {
      job_id: jobId,
      execution_time: crontab,
      timezone: 'UTC',
      duration: 60,
      tasks: [{ task_id: 't1', script_id: 's1', type: 'UPLOAD_TO_SERVER', path: file, target_path: '/in/report.csv', retry_times: 0 }],
    },
    'test job',
  );
  await new StoreJobStore(fs, stateDir).add(job, Date.now());
}

/** A file the store server can push: under `<dataDir>/store/files/`. */
function serverFile(dataDir: string, name: string, size: number, seed = 1): Buffer {
  const dir = join(dataDir, 'store', 'files');
  mkdirSync(dir, { recursive: true });
  return sampleFile(join(dir, name), size, seed);
}

function receivedAtBroker(dataDir: string, jobId: string, name: string): string {
  return join(dataDir, 'store', 'received', clientId, jobId, name);
}

const storeOn = (d: ReturnType<typeof dirs>, extra: Record<string, unknown> = {}) => ({
  store: {
    enabled: true,
    // Each running daemon picks up a job added by the CLI within a second.
    rescanSeconds: 1,
    nftp: { lingerSeconds: 1 },
    receive: { roots: [d.recv], browseRoots: [d.browse] },
    ...extra,
  },
});

/** `ftagent status --json` (or text) against the daemon's config file. */
async function status(configFile: string, json: boolean): Promise<string> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  stdout.on('data', (chunk) => (out += String(chunk)));
  const code = await main(['status', ...(json ? ['--json'] : []), '--config', configFile], { stdout, stderr, env: {}, cwd: root });
  expect(code).toBe(0);
  return out;
}

describe('the daemon with store.enabled', () => {
  const d = dirs();
  const configFile = join(d.stateDir, '..', 'config.json');
  let b: Awaited<ReturnType<typeof broker>>;
  let daemon: Daemon;

  beforeAll(async () => {
    mkdirSync(join(d.browse, 'sub'), { recursive: true });
    writeFileSync(join(d.browse, 'a.txt'), 'hello');
    b = await broker(d.dataDir);
    // A file on disk, so `ftagent status --config` reads the same state directory.
    writeFileSync(configFile, JSON.stringify({ brokers: [`mqtt://127.0.0.1:${b.port}`], clientId, stateDir: d.stateDir, log: { level: 'silent' }, ...storeOn(d) }));
    const config = await loadConfig(configFile, { env: {} });
    daemon = await Daemon.start({ config, fs, logger: quietLog, pollMs: 50 });
    // The store channel is subscribed once the daemon answers a dir request.
    await until('the daemon answers store requests', async () => {
      try {
        await queryDir(storeOf(b).context, clientId, d.browse, 300);
        return true;
      } catch {
        return false;
      }
    });
  });
  afterAll(async () => {
    await daemon.stop();
    await b.stop();
  });

  it('fires a store job added to the state dir at its time and its file reaches the store server byte-exact', async () => {
    const bytes = sampleFile(join(d.src, 'report.csv'), 70_000, 3);
    const { at, crontab } = firingSoon(2000);
    await addJob(d.stateDir, 'nightly-report', crontab, join(d.src, 'report.csv'));
    const target = receivedAtBroker(d.dataDir, 'nightly-report', 'report.csv');
    await until('the file at the store server', () => existsSync(target), 15_000);
    expect(Date.now()).toBeGreaterThanOrEqual(at);
    expect(readFileSync(target).equals(bytes)).toBe(true);
    const jobs = new StoreJobStore(fs, d.stateDir);
    await until('the run recorded', async () => (await jobs.readState('nightly-report')).history.length === 1, 10_000);
    const run = (await jobs.readState('nightly-report')).history[0];
    expect(run).toMatchObject({ fireAt: at, state: 'done', catchUp: false });
  });

  it('shows a store job in ftagent status with its next firing and the result of its last run', async () => {
    sampleFile(join(d.src, 'stock.csv'), 5000, 4);
    const { at, crontab } = firingSoon(2000);
    await addJob(d.stateDir, 'stock-count', crontab, join(d.src, 'stock.csv'));
    const before = JSON.parse(await status(configFile, true)) as { storeEnabled: boolean; storeJobs: { id: string; nextFiring: string | null; lastRun: unknown }[] };
    expect(before.storeEnabled).toBe(true);
    expect(before.storeJobs.find((j) => j.id === 'stock-count')).toMatchObject({ nextFiring: new Date(at).toISOString(), lastRun: null });
    const jobs = new StoreJobStore(fs, d.stateDir);
    await until('the run recorded', async () => (await jobs.readState('stock-count')).history.length === 1, 15_000);
    const after = JSON.parse(await status(configFile, true)) as { storeJobs: { id: string; nextFiring: string | null; lastRun: unknown }[] };
    expect(after.storeJobs.find((j) => j.id === 'stock-count')).toMatchObject({
      // The same second tomorrow: a daily crontab.
      nextFiring: new Date(at + 86_400_000).toISOString(),
      lastRun: { fireAt: new Date(at).toISOString(), state: 'done', error: null, tasks: [{ taskId: 't1', state: 'done', files: 1, error: null }] },
    });
    expect(await status(configFile, false)).toContain(`stock-count  enabled   "${crontab}"  next ${new Date(at + 86_400_000).toISOString()}  last done (fired ${new Date(at).toISOString()})`);
  });

  it('writes a pushed file under the receive root byte-exact, and refuses a push outside the roots', async () => {
    const store = storeOf(b);
    const bytes = serverFile(d.dataDir, 'price.csv', 50_000, 5);
    const push = await pushFile(store.context, { clientId, file: 'price.csv', target: 'prices/price.csv', lingerMs: 1000, intervalMs: 1 });
    expect(push.response.ack).toBe('ok');
    const landed = join(d.recv, 'prices', 'price.csv');
    await until('the pushed file in place', () => existsSync(landed), 10_000);
    expect(readFileSync(landed).equals(bytes)).toBe(true);

    const outside = await pushFile(store.context, { clientId, file: 'price.csv', target: join(root, 'elsewhere', 'price.csv') });
    expect(outside.response.ack).toBe('NOT_ALLOW');
    const climbing = await pushFile(store.context, { clientId, file: 'price.csv', target: '../price.csv' });
    expect(climbing.response.ack).toBe('NOT_ALLOW');
    expect(existsSync(join(root, 'elsewhere'))).toBe(false);
  });

  it('answers a dir query for a browse root, and NOT_ALLOW outside it', async () => {
    const store = storeOf(b);
    const listing = await queryDir(store.context, clientId, d.browse, 3000);
    expect(listing).toMatchObject({ result: 'OK', type: 'folder' });
    expect([...listing.entries].sort((x, y) => x.name.localeCompare(y.name))).toEqual([
      { name: 'a.txt', type: 'file' },
      { name: 'sub', type: 'folder' },
    ]);
    expect((await queryDir(store.context, clientId, d.stateDir, 3000)).result).toBe('NOT_ALLOW');
  });
});

describe('the daemon and the store flows across an outage', () => {
  it('runs a store job that fires while the broker refuses connections once the link is up, without counting a failed attempt', async () => {
    const d = dirs();
    const bytes = sampleFile(join(d.src, 'report.csv'), 40_000, 9);
    const { at, crontab } = firingSoon(1000);
    await addJob(d.stateDir, 'offline-job', crontab, join(d.src, 'report.csv'));
    // The broker turns connections away until just after the job fired.
    const b = await broker(d.dataDir, { faults: { refuseConnectionsForMs: at - Date.now() + 300 } });
    const config = await daemonConfig(d.stateDir, b.port, storeOn(d));
    const daemon = await Daemon.start({ config, fs, logger: quietLog, pollMs: 50, reconnectBackoff: { baseMs: 100, capMs: 500 } });
    try {
      const target = receivedAtBroker(d.dataDir, 'offline-job', 'report.csv');
      await until('the file at the store server', () => existsSync(target), 20_000);
      expect(readFileSync(target).equals(bytes)).toBe(true);
      const jobs = new StoreJobStore(fs, d.stateDir);
      await until('the run recorded', async () => (await jobs.readState('offline-job')).history.length === 1, 10_000);
      const run = (await jobs.readState('offline-job')).history[0];
      expect(run).toMatchObject({ fireAt: at, state: 'done' });
      expect(run?.tasks[0]?.files?.[0]).toMatchObject({ state: 'done', attempts: 1 });
    } finally {
      await daemon.stop();
      await b.stop();
    }
  });
});

describe('the daemon with store.enabled false', () => {
  it('runs no store job and answers no push or dir request', async () => {
    const d = dirs();
    const b = await broker(d.dataDir);
    const store = storeOf(b);
    sampleFile(join(d.src, 'report.csv'), 10_000);
    serverFile(d.dataDir, 'price.csv', 10_000);
    const { at, crontab } = firingSoon(1000);
    await addJob(d.stateDir, 'never', crontab, join(d.src, 'report.csv'));
    const config = await daemonConfig(d.stateDir, b.port, storeOn(d, { enabled: false }));
    const spool = await Spool.open(fs, d.stateDir);
    const uploadId = await spool.enqueue({ kind: 'upload', file: join(d.src, 'report.csv') });
    const daemon = await Daemon.start({ config, fs, logger: quietLog, pollMs: 50 });
    try {
      // The upload path works, so the daemon is connected: silence below is the store flows being off.
      await until('the upload job done', async () => (await spool.get(uploadId))?.state === 'done');
      expect(exportsOf(d.dataDir, clientId).has(uploadId)).toBe(true);
      await expect(pushFile(store.context, { clientId, file: 'price.csv', target: 'price.csv', answerTimeoutMs: 500 })).rejects.toMatchObject({ code: 'TIMEOUT' });
      await expect(queryDir(store.context, clientId, d.browse, 500)).rejects.toMatchObject({ code: 'TIMEOUT' });
      await until('the firing time passed', () => Date.now() > at + 500, 5000);
      expect(existsSync(join(d.recv, 'price.csv'))).toBe(false);
      expect(existsSync(new StoreJobStore(fs, d.stateDir).statePath('never'))).toBe(false);
      expect(existsSync(join(d.dataDir, 'store', 'received'))).toBe(false);
    } finally {
      await daemon.stop();
      await b.stop();
    }
  });
});
