import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { StoreJobStore, type RunRecord } from '../../src/jobs/store-job-state';
import { startStoreJobs } from '../../src/jobs/store-runner';
import { parseStoreJob } from '../../src/jobs/store-job';
import { systemClock } from '../../src/time/clock';
import { createNodeDurableFs } from '../../src/storage/node-fs';
import { runStoreUpload, waitDelayMs } from '../../src/transfer/store/store-upload';
import { connectAgent, fastNftp, quietLog, sampleFile, startStoreBroker, tempRoot } from './harness';

let t: ReturnType<typeof tempRoot>;
beforeAll(() => (t = tempRoot('ftagent-store-par-')));
afterAll(() => t.cleanup());

/** A UTC crontab (6 fields) firing once, at the next whole second at least `leadMs` away. */
function firingSoon(leadMs: number): { at: number; crontab: string } {
  const at = Math.ceil((Date.now() + leadMs) / 1000) * 1000;
  const d = new Date(at);
  return { at, crontab: `${d.getUTCSeconds()} ${d.getUTCMinutes()} ${d.getUTCHours()} * * *` };
}

describe("a firing runs its files in parallel under the server's MaxCurrentSession", () => {
  it('sends 40 files of 100 KiB matched by one wildcard with a server limit of 4: WAITs seen, never more than 4 at once', async () => {
    const b = await startStoreBroker(t.root, { maxCurrentSession: { 'job-40': 4 } });
    const a = await connectAgent(b.url, 'gw-parallel');
    const stateDir = join(t.root, 'state');
    const dir = join(t.root, 'campaign');
    mkdirSync(dir);
    const files = Array.from({ length: 40 }, (_, i) => sampleFile(dir, `pic-${String(i).padStart(2, '0')}.jpg`, 100 * 1024 + i));
    const duration = 120;
    const { crontab } = firingSoon(1500);
    await new StoreJobStore(createNodeDurableFs(), stateDir).add(
      parseStoreJob(
        {
          job_id: 'job-40',
          execution_time: crontab,
          timezone: 'UTC',
          duration,
          tasks: [{ task_id: 1, script_id: 2, type: 'BROADCAST', path: `${dir}/pic-*.jpg`, target_path: '/media/', groups: ['north'], retry_times: 0 }],
        },
        'test job',
      ),
      Date.now(),
    );
    let waits = 0;
    let finished!: (r: RunRecord) => void;
    const done = new Promise<RunRecord>((res) => (finished = res));
    const h = startStoreJobs({
      channel: a.channel,
      stateDir,
      fs: createNodeDurableFs(),
      clock: systemClock,
      logger: quietLog,
      nftp: fastNftp,
      requestTimeoutMs: 5000,
      transfer: async (o) => {
        const r = await runStoreUpload(o);
        waits += r.waits;
        return r;
      },
      onRunFinished: (_id, run) => finished(run),
    });
    try {
      const run = await done;
      expect(run.state, run.error).toBe('done');
      expect(run.tasks[0]?.files).toHaveLength(40);
      // Well inside its duration (a safety net, not a speed test: serially this took minutes).
      expect((run.finishedAt ?? Infinity) - run.fireAt).toBeLessThan((duration * 1000) / 2);
      expect(b.store.tokens.peak('job-40')).toBe(4);
      expect(waits).toBeGreaterThan(0);
      for (const f of files) {
        const got = await b.store.results.wait((x) => x.path === f.path && x.ok);
        expect(readFileSync(got.file as string).equals(f.bytes)).toBe(true);
      }
    } finally {
      await h.stop();
      await a.close();
      await b.stop();
    }
  }, 120_000);
});

describe('the wait after WAIT', () => {
  it('never goes below one second, whatever the server asks, and spreads a fleet over one more wait', () => {
    expect(waitDelayMs(5, undefined, () => 0)).toBe(1000);
    expect(waitDelayMs(5, undefined, () => 0.999)).toBe(1999);
    expect(waitDelayMs(3000, undefined, () => 0)).toBe(3000);
    expect(waitDelayMs(3000, undefined, () => 0.5)).toBe(4500);
  });

  it('is capped at a minute, and a WAIT without a timeout waits 5 to 10 seconds', () => {
    expect(waitDelayMs(86_400_000, undefined, () => 0.9)).toBe(60_000);
    expect(waitDelayMs(undefined, undefined, () => 0)).toBe(5000);
    expect(waitDelayMs(0, undefined, () => 1)).toBe(10_000);
  });

  it('gives 1000 stores told "timeout 5" at once their next requests spread over a second, not in one burst', () => {
    let seed = 7;
    const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const perTenth = new Array<number>(10).fill(0);
    for (let i = 0; i < 1000; i++) {
      const ms = waitDelayMs(5, undefined, random);
      const slot = Math.floor((ms - 1000) / 100);
      perTenth[slot] = (perTenth[slot] ?? 0) + 1;
    }
    // Uniform over [1 s, 2 s): no tenth of a second gets more than twice its share.
    for (const n of perTenth) expect(n).toBeLessThan(200);
  });
});
