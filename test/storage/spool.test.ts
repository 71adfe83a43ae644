import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { CrashFs } from '../helpers/crash-fs';
import { Spool, type SpoolOptions } from '../../src/storage/spool';
import { createNodeDurableFs } from '../../src/storage/node-fs';
import { createLogger } from '../../src/log';
import { encodeCheckpoint } from '../../src/storage/checkpoint';

function capture(): { lines: Record<string, unknown>[]; log: ReturnType<typeof createLogger> } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
      done();
    },
  });
  return { lines, log: createLogger({ level: 'debug', stream }) };
}

async function openCrash(options: SpoolOptions = {}): Promise<{ fs: CrashFs; spool: Spool }> {
  const fs = new CrashFs();
  const spool = await Spool.open(fs.durableFs, '/var/lib/ftagent', options);
  return { fs, spool };
}

const job = (file: string): { kind: 'upload'; file: string } => ({ kind: 'upload', file });

describe('spool', () => {
  it('creates its directories with mode 0700', async () => {
    const { fs } = await openCrash();
    for (const d of ['jobs', 'finished', 'checkpoints', 'quarantine']) {
      expect(await fs.durableFs.stat(`/var/lib/ftagent/${d}`)).toMatchObject({ kind: 'dir', mode: 0o700 });
    }
  });

  it('lists queued jobs first in, first out, even within one millisecond', async () => {
    const { spool } = await openCrash({ now: () => 1_700_000_000_000 });
    const ids = [];
    for (let i = 0; i < 50; i++) ids.push(await spool.enqueue(job(`/f${i}`)));
    expect(new Set(ids).size).toBe(50);
    expect((await spool.list()).map((j) => j.spec.file)).toEqual(ids.map((_, i) => `/f${i}`));
    expect([...ids].sort()).toEqual(ids);
  });

  it('moves a job through queued, active and done, keeping the reason', async () => {
    const { spool } = await openCrash();
    const id = await spool.enqueue({ kind: 'upload', file: '/a', options: { segmentChecksums: true } });
    expect((await spool.get(id))?.state).toBe('queued');
    expect((await spool.markActive(id)).state).toBe('active');
    const done = await spool.markDone(id, 'broker stored it');
    expect(done).toMatchObject({ state: 'done', reason: 'broker stored it', spec: { options: { segmentChecksums: true } } });
    expect(await spool.list()).toEqual([]);
    expect(await spool.get(id)).toEqual(done);
    expect((await spool.listFinished()).map((j) => j.id)).toEqual([id]);
  });

  it('cancels a queued job, and cancelling a finished one changes nothing', async () => {
    const { spool } = await openCrash();
    const a = await spool.enqueue(job('/a'));
    expect((await spool.cancel(a)).state).toBe('cancelled');
    const b = await spool.enqueue(job('/b'));
    await spool.markFailed(b, 'source vanished');
    expect((await spool.cancel(b)).state).toBe('failed');
  });

  it('answers JOB_NOT_FOUND for unknown or malformed ids', async () => {
    const { spool } = await openCrash();
    await expect(spool.markActive('lx2k9a1b00-3f9a1c0d')).rejects.toMatchObject({ code: 'JOB_NOT_FOUND' });
    await expect(spool.cancel('../../etc/passwd')).rejects.toMatchObject({ code: 'JOB_NOT_FOUND' });
    expect(await spool.get('../x')).toBeUndefined();
  });

  it('keeps only the last N finished records', async () => {
    const { spool } = await openCrash({ retention: 3 });
    const ids = [];
    for (let i = 0; i < 6; i++) {
      const id = await spool.enqueue(job(`/f${i}`));
      await spool.markDone(id);
      ids.push(id);
    }
    expect((await spool.listFinished()).map((j) => j.id)).toEqual(ids.slice(3).reverse());
  });

  it('moves a damaged job file to quarantine with the reason logged, and keeps listing', async () => {
    const { lines, log } = capture();
    const { fs, spool } = await openCrash({ log });
    const good = await spool.enqueue(job('/good'));
    const bad = await spool.enqueue(job('/bad'));
    const path = `/var/lib/ftagent/jobs/${bad}.job`;
    const bytes = (await fs.durableFs.readFile(path)) as Uint8Array;
    await fs.durableFs.writeFileAtomic(path, bytes.subarray(0, bytes.length - 3));
    expect((await spool.list()).map((j) => j.id)).toEqual([good]);
    const quarantined = await fs.durableFs.list('/var/lib/ftagent/quarantine');
    expect(quarantined).toHaveLength(1);
    expect(quarantined[0]).toMatch(new RegExp(`-jobs-${bad}\\.job$`));
    const warn = lines.find((l) => l.msg === 'moved a damaged state file aside');
    expect(warn).toMatchObject({ file: path, reason: expect.stringContaining('truncated') });
  });

  it('restarts from zero when a checkpoint is damaged: quarantined, read as none', async () => {
    const { fs, spool } = await openCrash();
    const id = await spool.enqueue(job('/a'));
    await fs.durableFs.writeFileAtomic(spool.checkpointPath(id), new TextEncoder().encode('ftagent-record v1 checkpoint/1 3 zz\n{}'));
    expect(await spool.readCheckpoint(id)).toBeUndefined();
    expect(await fs.durableFs.readFile(spool.checkpointPath(id))).toBeUndefined();
    expect(await fs.durableFs.list(spool.quarantineDir)).toHaveLength(1);
  });

  it("treats another job's checkpoint as damaged", async () => {
    const { fs, spool } = await openCrash();
    const id = await spool.enqueue(job('/a'));
    const cp = {
      jobId: 'lx2k9a1b00-00000000',
      fileId: 'f',
      initPayload: '{}',
      source: { path: '/a', size: 1, mtimeMs: 1, ino: 1 },
      chunkSize: 1,
      confirmed: [],
      stage: 'init' as const,
      attempts: 0,
      createdAt: '',
      updatedAt: '',
    };
    await fs.durableFs.writeFileAtomic(spool.checkpointPath(id), encodeCheckpoint(cp));
    expect(await spool.readCheckpoint(id)).toBeUndefined();
  });

  it('recover() removes stale pending copies, orphan checkpoints and old temp files', async () => {
    let now = 1_700_000_000_000;
    const { fs, spool } = await openCrash({ now: () => now });
    const id = await spool.enqueue(job('/a'));
    const pendingBytes = (await fs.durableFs.readFile(`/var/lib/ftagent/jobs/${id}.job`)) as Uint8Array;
    await spool.markDone(id);
    // As if power failed between writing the finished record and removing the pending one.
    await fs.durableFs.writeFileAtomic(`/var/lib/ftagent/jobs/${id}.job`, pendingBytes);
    await fs.durableFs.writeFileAtomic(`/var/lib/ftagent/checkpoints/${id}`, new Uint8Array([1]));
    const raw = await fs.openForWrite(`/var/lib/ftagent/jobs/x.job.tmp-1-ab`, 0o600);
    await raw.close();
    expect(await spool.list()).toEqual([]);
    expect((await spool.get(id))?.state).toBe('done');
    now = Date.now() + 10 * 60_000;
    expect(await spool.recover()).toEqual({ removedTemp: 1, removedStaleJobs: 1, removedOrphanCheckpoints: 1, quarantined: 0 });
    expect(await fs.durableFs.list(spool.jobsDir)).toEqual([]);
    expect(await fs.durableFs.list(spool.checkpointsDir)).toEqual([]);
  });
});

describe('spool on the real file system', () => {
  let root = '';
  afterEach(async () => rm(root, { recursive: true, force: true }));

  it('takes jobs from two processes at once without collisions or half-written files', async () => {
    root = await mkdtemp(join(tmpdir(), 'ftagent-spool-'));
    const a = await Spool.open(createNodeDurableFs(), root);
    const b = await Spool.open(createNodeDurableFs(), root);
    const ids = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).enqueue(job(`/f${i}`))));
    expect(new Set(ids).size).toBe(40);
    const listed = await a.list();
    expect(listed).toHaveLength(40);
    expect(await a.recover()).toMatchObject({ quarantined: 0 });
  });
});
