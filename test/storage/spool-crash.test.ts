import { describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { CrashFs, PowerCut, type CrashFsOptions } from '../helpers/crash-fs';
import { Spool } from '../../src/storage/spool';
import type { Checkpoint } from '../../src/storage/checkpoint';
import { createLogger } from '../../src/log';

/**
 * Power fails at every boundary of one job's life (enqueue → active → checkpoints → done); after
 * each cut the device reboots and the invariants must hold. A second sweep cuts power again during
 * the recovery that follows the first cut.
 */
const STATE = '/var/lib/ftagent';
const SIZE = 4 * 65536;

interface Progress {
  id?: string;
  active: boolean;
  /** Checkpoints offered to the writer, in order; `returned` counts those whose write completed. */
  offered: Checkpoint[];
  returned: number;
  doneStarted: boolean;
  done: boolean;
}

function checkpoint(id: string, stage: Checkpoint['stage'], confirmedTo: number): Checkpoint {
  return {
    jobId: id,
    fileId: `file-${id}`,
    initPayload: '{"name":"cam-0001.jpg","size":262144}',
    source: { path: '/data/cam-0001.jpg', size: SIZE, mtimeMs: 1_700_000_000_000, ino: 77 },
    chunkSize: 65536,
    confirmed: confirmedTo > 0 ? [[0, confirmedTo]] : [],
    stage,
    attempts: 1,
    createdAt: '2024-01-01T00:00:00.000Z',
    updatedAt: '2024-01-01T00:00:00.000Z',
  };
}

async function lifeOfAJob(fs: CrashFs, p: Progress): Promise<void> {
  const spool = await Spool.open(fs.durableFs, STATE);
  p.id = await spool.enqueue({ kind: 'upload', file: '/data/cam-0001.jpg', options: { window: 4 } });
  await spool.markActive(p.id);
  p.active = true;
  const writer = spool.checkpointWriter(p.id, { everyBytes: 65536 });
  const states = [checkpoint(p.id, 'init', 0), checkpoint(p.id, 'segments', 0)];
  for (let at = 65536; at <= SIZE; at += 65536) states.push(checkpoint(p.id, 'segments', at));
  states.push(checkpoint(p.id, 'fin', SIZE));
  for (const cp of states) {
    p.offered.push(cp);
    await writer.update(cp);
    p.returned = p.offered.length;
  }
  p.doneStarted = true;
  await spool.markDone(p.id, 'stored');
  p.done = true;
}

const fresh = (): Progress => ({ active: false, offered: [], returned: 0, doneStarted: false, done: false });

async function runCut(k: number | undefined, options: CrashFsOptions): Promise<{ fs: CrashFs; p: Progress; total: number }> {
  const fs = new CrashFs(undefined, options);
  const p = fresh();
  if (k !== undefined) fs.cutPowerAt(k);
  try {
    await lifeOfAJob(fs, p);
  } catch (err) {
    if (!(err instanceof PowerCut)) throw err;
  }
  return { fs: fs.reboot(), p, total: fs.boundaries };
}

async function checkInvariants(fs: CrashFs, p: Progress, label: string): Promise<Spool> {
  const warnings: unknown[] = [];
  const log = createLogger({
    level: 'warn',
    stream: new Writable({ write: (c, _e, done) => (warnings.push(String(c)), done()) }),
  });
  // Far in the future, so recover() treats every temp file as abandoned.
  const spool = await Spool.open(fs.durableFs, STATE, { log, now: () => Date.now() + 3_600_000 });
  const report = await spool.recover();
  expect(report.quarantined, `${label}: torn state was found`).toBe(0);
  expect(warnings, label).toEqual([]);

  const all = [...(await spool.list()), ...(await spool.listFinished())];
  expect(all.length, `${label}: job count`).toBeLessThanOrEqual(1);
  if (p.id === undefined) return spool;
  const job = await spool.get(p.id);
  expect(job, `${label}: an enqueued job was lost`).toBeDefined();
  if (job?.state === 'done') expect(p.doneStarted, `${label}: done recorded before the last step`).toBe(true);
  if (p.done) expect(job?.state, label).toBe('done');
  if (p.active) expect(['active', 'done'], label).toContain(job?.state);

  const cp = await spool.readCheckpoint(p.id);
  if (job?.state === 'done') {
    expect(cp, `${label}: checkpoint left behind a finished job`).toBeUndefined();
  } else if (cp) {
    // The checkpoint on disk is one we offered, and no older than the last write that returned.
    const index = p.offered.findIndex((o) => JSON.stringify(o) === JSON.stringify(cp));
    expect(index, `${label}: checkpoint is not one we wrote`).toBeGreaterThanOrEqual(0);
    expect(index + 1, `${label}: checkpoint went backwards`).toBeGreaterThanOrEqual(p.returned);
  } else {
    expect(p.returned, `${label}: a completed checkpoint write was lost`).toBe(0);
  }
  return spool;
}

describe.each<[string, CrashFsOptions]>([
  ['unsynced data lost', {}],
  ['unsynced data torn', { unsyncedData: 'partial' }],
])('spool + checkpoint under power cuts (%s)', (_name, options) => {
  it('keeps every invariant after a cut at any boundary', async () => {
    const { total, p } = await runCut(undefined, options);
    expect(p.done).toBe(true);
    expect(total).toBeGreaterThan(40);
    for (let k = 0; k < total; k++) {
      const { fs, p: progress } = await runCut(k, options);
      const spool = await checkInvariants(fs, progress, `cut at ${k}`);
      // And the agent can carry on: finish whatever survived.
      for (const job of await spool.list()) await spool.markDone(job.id);
      expect(await spool.list()).toEqual([]);
    }
  });

  it('keeps every invariant when power fails again during the recovery after a cut', async () => {
    const { total } = await runCut(undefined, options);
    for (let k = 0; k < total; k += 3) {
      const first = await runCut(k, options);
      const probe = first.fs.reboot();
      await Spool.open(probe.durableFs, STATE, { now: () => Date.now() + 3_600_000 }).then((s) => s.recover());
      for (let j = 0; j < probe.boundaries; j++) {
        const again = first.fs.reboot();
        again.cutPowerAt(j);
        await Spool.open(again.durableFs, STATE, { now: () => Date.now() + 3_600_000 })
          .then((s) => s.recover())
          .catch((err: unknown) => {
            if (!(err instanceof PowerCut)) throw err;
          });
        await checkInvariants(again.reboot(), first.p, `cut at ${k}, then at ${j} of recovery`);
      }
    }
  });
});
