import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FtError } from '../../src/errors';
import { StoreJobStore, type RunRecord } from '../../src/jobs/store-job-state';
import { startStoreJobs, type StoreJobsHandle } from '../../src/jobs/store-runner';
import { parseStoreJob } from '../../src/jobs/store-job';
import { systemClock } from '../../src/time/clock';
import { stringifyJson } from '../../src/protocol/json-ids';
import { createNodeDurableFs } from '../../src/storage/node-fs';
import type { StoreRequester, StoreUploadOptions, StoreUploadResult } from '../../src/transfer/store/store-upload';
import { FakeClock } from '../helpers/fake-clock';
import { connectAgent, fastNftp, quietLog, sampleFile, startStoreBroker, tempRoot } from './harness';

const T0 = Date.UTC(2025, 0, 1, 0, 0, 0);
const fs = createNodeDurableFs();
let t: ReturnType<typeof tempRoot>;
let handles: StoreJobsHandle[] = [];
beforeEach(() => {
  t = tempRoot('ftagent-store-jobs-');
  handles = [];
});
afterEach(async () => {
  for (const h of handles) await h.stop();
  t.cleanup();
});

const noChannel: StoreRequester = {
  isReady: () => true,
  whenReady: async () => true,
  request: () => Promise.reject(new FtError('TIMEOUT', 'unused')),
  openNftpTopic: () => Promise.reject(new FtError('DISCONNECTED', 'unused')),
};

function job(dir: string, extra: Record<string, unknown> = {}, task: Record<string, unknown> = {}) {
  return parseStoreJob(
    {
      job_id: 'job-7',
      execution_time: '30 * * * * *',
      timezone: 'UTC',
      duration: 60,
      tasks: [{ task_id: 1, script_id: 9, type: 'BROADCAST', path: `${dir}/c*.txt`, target_path: '/dest/', groups: ['g1'], retry_times: 2, retry_interval: 10, ...task }],
      ...extra,
    },
    'test job',
  );
}

function files(): string {
  const dir = join(t.root, 'src');
  mkdirSync(dir);
  sampleFile(dir, 'c1.txt', 10);
  sampleFile(dir, 'c2.txt', 20);
  sampleFile(dir, 'other.log', 5);
  return dir;
}

function okResult(o: StoreUploadOptions): StoreUploadResult {
  const nftp = { fileid: 0, filehash: 0, blocks: 1, blocksSent: 1, blocksResent: 0, helloAttempts: 1, durationMs: 0 };
  return { topic: `$file/${'0'.repeat(32)}`, size: readFileSync(o.file).length, requests: 1, waits: 0, nftp, linger: { done: Promise.resolve(nftp), stop: () => undefined } };
}

function runner(
  clock: FakeClock | typeof systemClock,
  transfer: (o: StoreUploadOptions) => Promise<StoreUploadResult>,
  channel: StoreRequester = noChannel,
  bounds: { maxParallelTransfers?: number; maxLingering?: number } = {},
) {
  const finished: RunRecord[] = [];
  let wake: (() => void) | undefined;
  const h = startStoreJobs({
    channel,
    stateDir: join(t.root, 'state'),
    fs,
    clock,
    logger: quietLog,
    // Only firings wake the runner here: a periodic rescan would do real file I/O while fake time jumps.
    rescanMs: 3_600_000,
    ...bounds,
    transfer,
    onRunFinished: (_id, run) => {
      finished.push(run);
      wake?.();
    },
  });
  handles.push(h);
  const nextFinished = (n: number): Promise<RunRecord> =>
    new Promise((resolve) => {
      const check = (): void => {
        if (finished.length >= n) resolve(finished[n - 1] as RunRecord);
        else wake = check;
      };
      check();
    });
  return { h, finished, nextFinished };
}

describe('store jobs: schedule, catch-up, retries, restart', () => {
  it('fires at the crontab second on a fake clock and sends each matching file as its own transfer', async () => {
    const dir = files();
    const clock = new FakeClock(T0);
    await new StoreJobStore(fs, join(t.root, 'state')).add(job(dir), T0);
    const calls: StoreUploadOptions[] = [];
    const r = runner(clock, async (o) => (calls.push(o), okResult(o)));
    await r.h.rescan();
    await clock.advance(29_000);
    expect(calls).toHaveLength(0);
    await clock.advance(1000);
    const run = await r.nextFinished(1);
    expect(run).toMatchObject({ state: 'done', fireAt: T0 + 30_000, endTime: T0 + 90_000, catchUp: false });
    expect(calls.map((c) => c.file)).toEqual([join(dir, 'c1.txt'), join(dir, 'c2.txt')]);
    expect(calls[0]).toMatchObject({ verb: 'broadcast', job_id: 'job-7', groups: ['g1'], target_path: '/dest/c1.txt', endTime: T0 + 90_000 });
    expect(stringifyJson({ task_id: calls[0]?.task_id, script_id: calls[0]?.script_id })).toBe('{"task_id":1,"script_id":9}');
    await r.h.rescan();
    await clock.advance(60_000);
    expect((await r.nextFinished(2)).fireAt).toBe(T0 + 90_000);
    const state = await new StoreJobStore(fs, join(t.root, 'state')).readState('job-7');
    expect(state.history.map((h) => h.state)).toEqual(['done', 'done']);
    expect(state.history[0]?.tasks[0]?.files?.map((f) => f.size)).toEqual([10, 20]);
  });

  it('runs a firing missed while offline once, late, if its duration has not passed', async () => {
    const dir = files();
    await new StoreJobStore(fs, join(t.root, 'state')).add(job(dir), T0);
    const clock = new FakeClock(T0 + 75_000);
    const calls: StoreUploadOptions[] = [];
    const r = runner(clock, async (o) => (calls.push(o), okResult(o)));
    const run = await r.nextFinished(1);
    expect(run).toMatchObject({ fireAt: T0 + 30_000, catchUp: true, state: 'done' });
    expect(calls).toHaveLength(2);
  });

  it('skips a missed firing whose duration has passed and runs the latest one still open', async () => {
    const dir = files();
    await new StoreJobStore(fs, join(t.root, 'state')).add(job(dir), T0);
    const clock = new FakeClock(T0 + 95_000);
    const r = runner(clock, async (o) => okResult(o));
    expect((await r.nextFinished(1)).fireAt).toBe(T0 + 90_000);
    await r.h.rescan();
    expect(r.finished).toHaveLength(1);
  });

  it('retries a failed file retry_times times, retry_interval apart, and records the result', async () => {
    const dir = files();
    await new StoreJobStore(fs, join(t.root, 'state')).add(job(dir, {}, { path: `${dir}/c1.txt` }), T0);
    const clock = new FakeClock(T0 + 30_000);
    let attempts = 0;
    let called: (() => void) | undefined;
    const r = runner(clock, async (o) => {
      attempts++;
      called?.();
      if (attempts < 3) throw new FtError('TIMEOUT', `attempt ${attempts} unanswered`, { transient: true });
      return okResult(o);
    });
    const waitCall = (n: number): Promise<void> =>
      new Promise((res) => {
        const c = (): void => (attempts >= n ? res() : void (called = c));
        c();
      });
    await waitCall(1);
    await clock.advance(10_000);
    await waitCall(2);
    await clock.advance(10_000);
    const run = await r.nextFinished(1);
    expect(run.state).toBe('done');
    expect(run.tasks[0]?.files?.[0]).toMatchObject({ state: 'done', attempts: 3 });
  });

  it('resumes an interrupted run after a restart without sending finished files again', async () => {
    const dir = files();
    const stateDir = join(t.root, 'state');
    await new StoreJobStore(fs, stateDir).add(job(dir), T0);
    const clock = new FakeClock(T0 + 31_000);
    let inFlight: (() => void) | undefined;
    const first = runner(clock, (o) => {
      if (o.file.endsWith('c1.txt')) return Promise.resolve(okResult(o));
      return new Promise((_res, rej) => {
        o.signal?.addEventListener('abort', () => rej(new FtError('INTERRUPTED', 'stopped')));
        inFlight?.();
      });
    });
    await new Promise<void>((res) => (inFlight = res));
    await first.h.stop();
    const onDisk = await new StoreJobStore(fs, stateDir).readState('job-7');
    expect(onDisk.current?.state).toBe('running');
    expect(onDisk.current?.tasks[0]?.files?.map((f) => f.state)).toEqual(['done', 'pending']);

    const sent: string[] = [];
    const second = runner(clock, async (o) => (sent.push(o.file), okResult(o)));
    const run = await second.nextFinished(1);
    expect(run).toMatchObject({ state: 'done', fireAt: T0 + 30_000 });
    expect(sent).toEqual([join(dir, 'c2.txt')]);
  });

  it('sends at most maxParallelTransfers files at once (twice that asking) and keeps at most maxLingering lingers, cutting the oldest short', async () => {
    const dir = join(t.root, 'many');
    mkdirSync(dir);
    for (let i = 0; i < 10; i++) sampleFile(dir, `c${i}.txt`, 10 + i);
    await new StoreJobStore(fs, join(t.root, 'state')).add(job(dir), T0);
    let running = 0;
    let peak = 0;
    let asking = 0;
    let peakAsking = 0;
    const lingersStopped: string[] = [];
    const gate: (() => void)[] = [];
    const r = runner(
      new FakeClock(T0 + 30_000),
      async (o) => {
        peakAsking = Math.max(peakAsking, ++asking);
        // As runStoreUpload does once the server says ok.
        const release = await o.sendSlot?.(o.signal);
        asking--;
        running++;
        peak = Math.max(peak, running);
        await new Promise<void>((res) => gate.push(res));
        running--;
        release?.();
        const result = okResult(o);
        // A linger that lasts until it is stopped.
        let end!: (n: typeof result.nftp) => void;
        const done = new Promise<typeof result.nftp>((res) => (end = res));
        return { ...result, linger: { done, stop: () => (lingersStopped.push(o.file), end(result.nftp)) } };
      },
      noChannel,
      { maxParallelTransfers: 3, maxLingering: 2 },
    );
    // Let transfers start, then let them finish one at a time.
    for (let released = 0; released < 10; released++) {
      while (gate.length === 0) await new Promise((res) => setTimeout(res, 5));
      gate.shift()?.();
    }
    const run = await r.nextFinished(1);
    expect(run.state).toBe('done');
    expect(peak).toBe(3);
    expect(peakAsking).toBe(6);
    // 10 lingers adopted, 2 kept: the 8 oldest were cut short, oldest first.
    expect(lingersStopped).toHaveLength(8);
    expect(lingersStopped[0]).toBe(join(dir, 'c0.txt'));
  });

  it('records a failed task when no file matches', async () => {
    const dir = files();
    await new StoreJobStore(fs, join(t.root, 'state')).add(job(dir, {}, { path: `${dir}/none*.bin` }), T0);
    const r = runner(new FakeClock(T0 + 30_000), async (o) => okResult(o));
    const run = await r.nextFinished(1);
    expect(run.state).toBe('failed');
    expect(run.tasks[0]?.error).toMatch(/no file matches/);
  });
});

describe('store jobs against the development broker', () => {
  it('a job restarted in the middle still completes, every file byte for byte on the server', async () => {
    const b = await startStoreBroker(t.root);
    const a = await connectAgent(b.url, 'gw-jobs');
    try {
      const dir = join(t.root, 'campaign');
      mkdirSync(dir);
      const f1 = sampleFile(dir, 'c1.txt', 20_000);
      const f2 = sampleFile(dir, 'c2.txt', 30_000);
      const stateDir = join(t.root, 'state');
      await new StoreJobStore(fs, stateDir).add(
        parseStoreJob(
          { job_id: 'live', execution_time: '* * * * * *', duration: 120, tasks: [{ task_id: 't', script_id: 's', type: 'UPLOAD_TO_SERVER', path: `${dir}/c?.txt`, target_path: '/in/' }] },
          'live job',
        ),
        Date.now() - 5000,
      );
      const start = () => startStoreJobs({ channel: a.channel, stateDir, fs, clock: systemClock, logger: quietLog, nftp: fastNftp, requestTimeoutMs: 2000, onRunFinished: (_i, run) => finished(run) });
      let finished: (run: RunRecord) => void = () => undefined;
      const first = start();
      handles.push(first);
      await b.store.results.wait((x) => x.path === f1.path && x.ok);
      await first.stop();
      const done = new Promise<RunRecord>((res) => (finished = res));
      handles.push(start());
      const run = await done;
      expect(run.state).toBe('done');
      for (const f of [f1, f2]) {
        const got = await b.store.results.wait((x) => x.path === f.path && x.ok);
        expect(readFileSync(got.file as string).equals(f.bytes)).toBe(true);
      }
    } finally {
      for (const h of handles) await h.stop();
      handles = [];
      await a.close();
      await b.stop();
    }
  });
});
