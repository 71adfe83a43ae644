import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { isFtError } from '../../src/errors';
import { systemClock } from '../../src/time/clock';
import { runStoreUpload, type StoreUploadOptions } from '../../src/transfer/store/store-upload';
import { connectAgent, fastNftp, sampleFile, startStoreBroker, tempRoot, type Agent, type StoreBroker } from './harness';

let t: ReturnType<typeof tempRoot>;
beforeAll(() => {
  t = tempRoot('ftagent-store-up-');
});
afterAll(() => t.cleanup());

async function withBroker(options: Parameters<typeof startStoreBroker>[1], body: (b: StoreBroker, a: Agent) => Promise<void>, mqtt: 4 | 5 = 5): Promise<void> {
  const b = await startStoreBroker(t.root, options);
  const a = await connectAgent(b.url, `gw-${Math.random().toString(36).slice(2, 8)}`, mqtt);
  try {
    await body(b, a);
  } finally {
    await a.close();
    await b.stop();
  }
}

function upload(a: Agent, file: string, extra: Partial<StoreUploadOptions> = {}): ReturnType<typeof runStoreUpload> {
  return runStoreUpload({
    channel: a.channel,
    clock: systemClock,
    verb: 'broadcast',
    file,
    target_path: '/campaign/target.bin',
    job_id: 'job-1',
    task_id: 't-1',
    script_id: 's-1',
    groups: ['g1'],
    requestTimeoutMs: 2000,
    nftp: fastNftp,
    ...extra,
  });
}

describe('store transfer (broadcast/upload) against the development broker', () => {
  it('repairs lost blocks with GIVEME and the server gets the file byte for byte', async () => {
    await withBroker({ faults: { seed: 3, lostBlockRate: 0.2, lostBlocks: [0, 39] } }, async (b, a) => {
      const f = sampleFile(t.root, 'lossy.bin', 40 * 1024 + 77);
      const r = await upload(a, f.path);
      const result = await b.store.results.wait((x) => x.topic === r.topic);
      expect(result.ok, result.error).toBe(true);
      expect(result.givemes).toBeGreaterThan(0);
      // The repairs happen after END, in the linger the caller no longer waits for.
      expect((await r.linger.done).blocksResent).toBeGreaterThan(0);
      expect(readFileSync(result.file as string).equals(f.bytes)).toBe(true);
      expect(r.topic).toMatch(/^\$file\/[0-9a-f]{32}$/);
    });
  });

  it('sends with the upload verb over MQTT 3.1.1', async () => {
    await withBroker(
      {},
      async (b, a) => {
        const f = sampleFile(t.root, 'up.bin', 3000);
        const r = await upload(a, f.path, { verb: 'upload', servers: ['srv-1'] });
        const result = await b.store.results.wait((x) => x.topic === r.topic);
        expect(result).toMatchObject({ ok: true, verb: 'upload', job_id: 'job-1' });
        expect(readFileSync(result.file as string).equals(f.bytes)).toBe(true);
      },
      4,
    );
  });

  it('waits after WAIT and sends once the server answers ok', async () => {
    await withBroker({ faults: { waitStormCount: 3, waitTimeoutMs: 20 } }, async (b, a) => {
      const f = sampleFile(t.root, 'wait.bin', 5000);
      const r = await upload(a, f.path);
      expect(r.waits).toBe(3);
      expect(r.requests).toBe(4);
      const result = await b.store.results.wait((x) => x.topic === r.topic);
      expect(readFileSync(result.file as string).equals(f.bytes)).toBe(true);
    });
  });

  it('fails with the server reason on ERROR and on BadReq, without retrying', async () => {
    for (const forceAck of ['ERROR', 'BadReq'] as const) {
      await withBroker({ faults: { forceAck } }, async (_b, a) => {
        const f = sampleFile(t.root, 'err.bin', 100);
        const err = await upload(a, f.path).catch((e: unknown) => e);
        expect(isFtError(err, 'REMOTE_ERROR'), String(err)).toBe(true);
        expect((err as Error).message).toContain(forceAck);
      });
    }
  });

  it('gives up when the end time comes while the server keeps answering WAIT', async () => {
    await withBroker({ faults: { waitStormCount: 1000, waitTimeoutMs: 30 } }, async (b, a) => {
      const f = sampleFile(t.root, 'late.bin', 100);
      const err = await upload(a, f.path, { endTime: Date.now() + 300 }).catch((e: unknown) => e);
      expect(isFtError(err, 'GAVE_UP'), String(err)).toBe(true);
      expect((err as Error).message).toMatch(/end time/);
      expect(b.store.results.list()).toHaveLength(0);
    });
  });

  it('asks again when a request goes unanswered', async () => {
    await withBroker({ faults: { ignoreRequests: 2 } }, async (b, a) => {
      const f = sampleFile(t.root, 'silent.bin', 2048);
      const r = await upload(a, f.path, { requestTimeoutMs: 150, backoff: { baseMs: 10, capMs: 20 } });
      expect(r.requests).toBe(3);
      const result = await b.store.results.wait((x) => x.topic === r.topic);
      expect(result.ok).toBe(true);
    });
  });

  it('keeps at most MaxCurrentSession transfers of a job at once (3 transfers, limit 2)', async () => {
    await withBroker({ maxCurrentSession: { 'job-m': 2 }, waitTimeoutMs: 50 }, async (b, a) => {
      const files = [0, 1, 2].map((i) => sampleFile(t.root, `m${i}.bin`, 8 * 1024 + i));
      const runs = await Promise.all(files.map((f) => upload(a, f.path, { job_id: 'job-m', task_id: f.path })));
      expect(b.store.tokens.peak('job-m')).toBe(2);
      expect(runs.reduce((n, r) => n + r.waits, 0)).toBeGreaterThan(0);
      for (const [i, r] of runs.entries()) {
        const result = await b.store.results.wait((x) => x.topic === r.topic);
        expect(readFileSync(result.file as string).equals(files[i]!.bytes)).toBe(true);
      }
      expect(b.store.tokens.inUse('job-m')).toBe(0);
    });
  });

  it('sends a 0-byte file and an exact multiple of the block size (empty END)', async () => {
    await withBroker({}, async (b, a) => {
      for (const size of [0, 4 * 1024]) {
        const f = sampleFile(t.root, `edge-${size}.bin`, size);
        const r = await upload(a, f.path, { task_id: `edge-${size}` });
        expect(r.nftp.blocks).toBe(size / 1024 + 1);
        const result = await b.store.results.wait((x) => x.topic === r.topic);
        expect(result).toMatchObject({ ok: true, size });
        expect(readFileSync(result.file as string).equals(f.bytes)).toBe(true);
      }
    });
  });

  it('refuses a file of more than 65535 blocks before asking the server, naming a block size that works', async () => {
    await withBroker({}, async (b, a) => {
      const f = sampleFile(t.root, 'huge.bin', 65535 * 16);
      const err = await upload(a, f.path, { nftp: { ...fastNftp, blockSize: 16 } }).catch((e: unknown) => e);
      expect(isFtError(err, 'CONFIG_INVALID'), String(err)).toBe(true);
      expect((err as Error).message).toMatch(/65536 blocks.*at most 65535.*at least 17 bytes/);
      expect(b.store.tokens.peak('job-1')).toBe(0);
      expect(b.store.results.list()).toHaveLength(0);
    });
  });
});
