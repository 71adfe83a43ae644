import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daemon } from '../../src/daemon/daemon';
import { encodeQueuedOptions } from '../../src/jobs/upload-job-options';
import type { JobOutcome } from '../../src/jobs/upload-job-runner';
import { createNodeDurableFs } from '../../src/storage/node-fs';
import { Spool } from '../../src/storage/spool';
import { broker, daemonConfig, exportsOf, quietLog, sampleFile, until } from './helpers';

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'ftagent-daemon-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
function dirs(): { stateDir: string; dataDir: string; src: string } {
  const base = join(root, `case-${++n}`);
  const src = join(base, 'src');
  mkdirSync(src, { recursive: true });
  return { stateDir: join(base, 'state'), dataDir: join(base, 'broker'), src };
}

describe('the daemon', () => {
  it('sends every queued job, at most maxConcurrent at once, over one connection', async () => {
    const d = dirs();
    const b = await broker(d.dataDir);
    const fs = createNodeDurableFs();
    const config = await daemonConfig(d.stateDir, b.port, { maxConcurrent: 2 });
    const spool = await Spool.open(fs, d.stateDir);
    const files = [0, 1, 2].map((i) => sampleFile(join(d.src, `f${i}.bin`), 30_000 + i * 5000, i));
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push(await spool.enqueue({ kind: 'upload', file: join(d.src, `f${i}.bin`) }));
    let peak = 0;
    const outcomes: JobOutcome[] = [];
    const daemon = await Daemon.start({ config, fs, logger: quietLog, pollMs: 50, onOutcome: (_id, o) => outcomes.push(o) });
    const sampler = setInterval(() => (peak = Math.max(peak, daemon.runningJobs().length)), 1);
    try {
      await until('all jobs done', async () => (await spool.listFinished()).length === 3);
    } finally {
      clearInterval(sampler);
      await daemon.stop();
      await b.stop();
    }
    expect(peak).toBeLessThanOrEqual(2);
    expect(outcomes.map((o) => o.kind)).toEqual(['done', 'done', 'done']);
    const exported = exportsOf(d.dataDir, 'gw-daemon');
    for (let i = 0; i < 3; i++) expect(exported.get(ids[i] as string)?.equals(files[i] as Buffer)).toBe(true);
  });

  it('keeps all transfers together under maxBytesPerSecond', async () => {
    const d = dirs();
    const b = await broker(d.dataDir);
    const fs = createNodeDurableFs();
    const rate = 256 * 1024;
    const config = await daemonConfig(d.stateDir, b.port, { maxConcurrent: 2, maxBytesPerSecond: rate });
    const spool = await Spool.open(fs, d.stateDir);
    const files = [0, 1].map((i) => sampleFile(join(d.src, `r${i}.bin`), 384 * 1024, i));
    const ids = [];
    for (let i = 0; i < 2; i++) ids.push(await spool.enqueue({ kind: 'upload', file: join(d.src, `r${i}.bin`) }));
    const started = Date.now();
    const daemon = await Daemon.start({ config, fs, logger: quietLog, pollMs: 50 });
    try {
      await until('both jobs done', async () => (await spool.listFinished()).length === 2);
    } finally {
      await daemon.stop();
      await b.stop();
    }
    // 768 KiB in all at 256 KiB/s, one second of it as a burst: at least ~2 s however fast the machine.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1800);
    const exported = exportsOf(d.dataDir, 'gw-daemon');
    for (let i = 0; i < 2; i++) expect(exported.get(ids[i] as string)?.equals(files[i] as Buffer)).toBe(true);
  });

  it('notices a job queued by another process while it runs', async () => {
    const d = dirs();
    const b = await broker(d.dataDir);
    const fs = createNodeDurableFs();
    const config = await daemonConfig(d.stateDir, b.port);
    const daemon = await Daemon.start({ config, fs, logger: quietLog, pollMs: 50 });
    try {
      const other = await Spool.open(createNodeDurableFs(), d.stateDir);
      const bytes = sampleFile(join(d.src, 'late.bin'), 10_000);
      const id = await other.enqueue({ kind: 'upload', file: join(d.src, 'late.bin') });
      await until('job done', async () => (await other.get(id))?.state === 'done');
      expect(exportsOf(d.dataDir, 'gw-daemon').get(id)?.equals(bytes)).toBe(true);
    } finally {
      await daemon.stop();
      await b.stop();
    }
  });

  it('fails a job whose source changed since its checkpoint, with the reason', async () => {
    const d = dirs();
    const b = await broker(d.dataDir);
    const fs = createNodeDurableFs();
    const config = await daemonConfig(d.stateDir, b.port);
    const spool = await Spool.open(fs, d.stateDir);
    const path = join(d.src, 'grows.bin');
    sampleFile(path, 20_000);
    const id = await spool.enqueue({ kind: 'upload', file: path });
    // An earlier boot started it: its checkpoint names the file as it was then.
    await spool.markActive(id);
    const { statSync } = await import('node:fs');
    const st = statSync(path);
    await spool.checkpointWriter(id).update({
      jobId: id,
      fileId: id,
      initPayload: JSON.stringify({ name: 'grows.bin', size: 20_000 }),
      source: { path, size: 20_000, mtimeMs: st.mtimeMs, ino: st.ino },
      chunkSize: 4096,
      confirmed: [[0, 8192]],
      stage: 'segments',
      attempts: 1,
      createdAt: new Date().toISOString(),
      updatedAt: new Date().toISOString(),
    });
    appendFileSync(path, 'more');
    const daemon = await Daemon.start({ config, fs, logger: quietLog, pollMs: 50 });
    try {
      await until('job failed', async () => (await spool.get(id))?.state === 'failed');
    } finally {
      await daemon.stop();
      await b.stop();
    }
    expect((await spool.get(id))?.reason).toMatch(/^SOURCE_CHANGED: .*grows\.bin changed/);
    expect(exportsOf(d.dataDir, 'gw-daemon').size).toBe(0);
  });

  it('restarts a changed source under a new file id when the job asks for it', async () => {
    const d = dirs();
    const b = await broker(d.dataDir);
    const fs = createNodeDurableFs();
    const config = await daemonConfig(d.stateDir, b.port);
    const spool = await Spool.open(fs, d.stateDir);
    const path = join(d.src, 'again.bin');
    sampleFile(path, 20_000);
    const id = await spool.enqueue({ kind: 'upload', file: path, options: encodeQueuedOptions({ onSourceChange: 'restart' }) });
    await spool.markActive(id);
    await spool.checkpointWriter(id).update({
      jobId: id,
      fileId: id,
      initPayload: JSON.stringify({ name: 'again.bin', size: 20_000 }),
      source: { path, size: 20_000, mtimeMs: 1, ino: 1 },
      chunkSize: 4096,
      confirmed: [],
      stage: 'init',
      attempts: 1,
      createdAt: new Date().toISOString(),
      updatedAt: new Date().toISOString(),
    });
    const daemon = await Daemon.start({ config, fs, logger: quietLog, pollMs: 50 });
    try {
      await until('job done', async () => (await spool.get(id))?.state === 'done');
    } finally {
      await daemon.stop();
      await b.stop();
    }
    expect([...exportsOf(d.dataDir, 'gw-daemon').keys()]).toEqual([`${id}.2`]);
  });

  it('cancels a queued job on request from another process', async () => {
    const d = dirs();
    const b = await broker(d.dataDir);
    const fs = createNodeDurableFs();
    const spool = await Spool.open(fs, d.stateDir);
    sampleFile(join(d.src, 'c.bin'), 1000);
    const id = await spool.enqueue({ kind: 'upload', file: join(d.src, 'c.bin') });
    await spool.requestCancel(id);
    const daemon = await Daemon.start({ config: await daemonConfig(d.stateDir, b.port), fs, logger: quietLog, pollMs: 50 });
    try {
      await until('job cancelled', async () => (await spool.get(id))?.state === 'cancelled');
      await until('request cleared', async () => (await spool.cancelRequests()).length === 0);
    } finally {
      await daemon.stop();
      await b.stop();
    }
    expect(exportsOf(d.dataDir, 'gw-daemon').size).toBe(0);
  });

  it('cancels a running upload through its abort signal', async () => {
    const d = dirs();
    // A slow fin keeps the job running long enough to cancel it.
    const b = await broker(d.dataDir, { faults: { assemblyDelayMs: 1500 } });
    const fs = createNodeDurableFs();
    const spool = await Spool.open(fs, d.stateDir);
    sampleFile(join(d.src, 'r.bin'), 20_000);
    const id = await spool.enqueue({ kind: 'upload', file: join(d.src, 'r.bin') });
    const daemon = await Daemon.start({ config: await daemonConfig(d.stateDir, b.port), fs, logger: quietLog, pollMs: 50 });
    try {
      await until('job running', () => daemon.runningJobs().includes(id));
      await spool.requestCancel(id);
      await until('job cancelled', async () => (await spool.get(id))?.state === 'cancelled');
      expect((await spool.get(id))?.reason).toBe('cancelled on request');
    } finally {
      await daemon.stop();
      await b.stop();
    }
  });

  it('stops cleanly: the running job stays active with its checkpoint and resumes at the next start', async () => {
    const d = dirs();
    const b = await broker(d.dataDir, { faults: { assemblyDelayMs: 1500 } });
    const fs = createNodeDurableFs();
    const spool = await Spool.open(fs, d.stateDir);
    const bytes = sampleFile(join(d.src, 's.bin'), 40_000);
    const id = await spool.enqueue({ kind: 'upload', file: join(d.src, 's.bin') });
    const config = await daemonConfig(d.stateDir, b.port);
    const first = await Daemon.start({ config, fs, logger: quietLog, pollMs: 50 });
    await until('fin sent', async () => (await spool.readCheckpoint(id))?.stage === 'fin');
    await first.stop();
    expect((await spool.get(id))?.state).toBe('active');
    const cp = await spool.readCheckpoint(id);
    expect(cp?.confirmed).toEqual([[0, 40_000]]);
    const second = await Daemon.start({ config, fs, logger: quietLog, pollMs: 50 });
    try {
      await until('job done', async () => (await spool.get(id))?.state === 'done');
    } finally {
      await second.stop();
      await b.stop();
    }
    expect(exportsOf(d.dataDir, 'gw-daemon').get(id)?.equals(bytes)).toBe(true);
  });
});
