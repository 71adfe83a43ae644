/**
 * The bounded backlog under 1,000 queued jobs, with both policies, on the real file system: the
 * bound holds, refusals say SPOOL_FULL (exit 6 from `send --queue`), and drop-oldest-low drops
 * exactly the oldest queued low-priority jobs, each with a job.dropped event in order.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFtError } from '../../src/errors';
import { EventOutbox } from '../../src/fleet/event-outbox';
import { droppedEvent } from '../../src/fleet/events';
import { SpoolAdmission, type SpoolBounds } from '../../src/jobs/spool-admission';
import { encodeQueuedOptions, type JobPriority } from '../../src/jobs/upload-job-options';
import { createNodeDurableFs } from '../../src/storage/node-fs';
import { Spool } from '../../src/storage/spool';
import { runCli } from '../helpers/cli-run';
import { quietLog } from '../daemon/helpers';

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'ftagent-backlog-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function setup(name: string, bounds: SpoolBounds) {
  const fs = createNodeDurableFs();
  const stateDir = join(root, name);
  const spool = await Spool.open(fs, stateDir, { retention: 2000 });
  const outbox = new EventOutbox(fs, stateDir, 5000);
  const admission = new SpoolAdmission({ spool, bounds, onDropped: (record, reason, at) => outbox.add(droppedEvent(record, 'low', reason, 'gw-backlog', at.toISOString())), logger: quietLog });
  const add = (i: number, priority: JobPriority, size = 1000) => admission.enqueue({ kind: 'upload', file: `/data/file-${i}`, options: encodeQueuedOptions({ priority, queuedSize: size }) });
  return { spool, outbox, add, stateDir };
}

async function refusedWith(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (isFtError(err)) return err.code;
    throw err;
  }
  return 'queued';
}

describe('the bounded spool', () => {
  it('refuses the 1,001st job with SPOOL_FULL, and send --queue exits 6 saying so', async () => {
    const { spool, add, stateDir } = await setup('refuse', { maxJobs: 1000, maxBytes: 0, whenFull: 'refuse' });
    for (let i = 0; i < 1000; i++) await add(i, i % 2 === 0 ? 'low' : 'normal');
    expect(await refusedWith(add(1000, 'high'))).toBe('SPOOL_FULL');
    expect((await spool.pendingIds()).length).toBe(1000);

    const config = join(root, 'refuse.json');
    writeFileSync(config, JSON.stringify({ stateDir, spool: { maxJobs: 1000 }, log: { level: 'silent' } }));
    writeFileSync(join(root, 'one.bin'), 'x');
    const r = await runCli(['send', join(root, 'one.bin'), '--queue', '--config', config, '--json'], root);
    expect(r.code).toBe(6);
    expect(`${r.out}${r.err}`).toContain('SPOOL_FULL');
    expect((await spool.pendingIds()).length).toBe(1000);
  }, 300_000);

  it('drops the oldest queued low-priority jobs to make room, with one job.dropped event each, in order', async () => {
    const { spool, outbox, add } = await setup('drop', { maxJobs: 1000, maxBytes: 0, whenFull: 'drop-oldest-low' });
    const low: string[] = [];
    for (let i = 0; i < 1000; i++) {
      const id = await add(i, i % 2 === 0 ? 'low' : 'normal');
      if (i % 2 === 0) low.push(id);
    }
    for (let i = 0; i < 500; i++) await add(1000 + i, 'normal');
    const pending = await spool.pendingIds();
    expect(pending.length).toBe(1000);
    for (const id of low) expect((await spool.get(id))?.state).toBe('failed');
    expect((await spool.get(low[0]!))?.reason).toMatch(/^SPOOL_FULL: /);
    const dropped: string[] = [];
    for (let next = await outbox.oldest(); next; next = await outbox.oldest()) {
      expect(next.event.type).toBe('job.dropped');
      dropped.push((next.event as { job: string }).job);
      await outbox.remove(next.name);
    }
    expect(dropped).toEqual(low);
    // No low-priority job is left to drop: the next one is refused and nothing else changes.
    expect(await refusedWith(add(2000, 'high'))).toBe('SPOOL_FULL');
    expect(await spool.pendingIds()).toEqual(pending);
  }, 300_000);

  it('send --queue records --priority (shown by status) and refuses a priority it does not know', async () => {
    const stateDir = join(root, 'cli-priority');
    const config = join(root, 'cli-priority.json');
    writeFileSync(config, JSON.stringify({ stateDir, log: { level: 'silent' } }));
    writeFileSync(join(root, 'alarm.jpg'), 'alarm');
    const bad = await runCli(['send', join(root, 'alarm.jpg'), '--queue', '--config', config, '--priority', 'urgent'], root);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--priority must be high, normal or low');
    const ok = await runCli(['send', join(root, 'alarm.jpg'), '--queue', '--config', config, '--priority', 'high', '--json'], root);
    expect(ok.code).toBe(0);
    const job = String(ok.json?.job);
    const spool = await Spool.open(createNodeDurableFs(), stateDir);
    expect((await spool.get(job))?.spec.options).toMatchObject({ priority: 'high', queuedSize: 5 });
    const status = await runCli(['status', job, '--json', '--config', config], root);
    expect(JSON.stringify(status.json)).toContain('"priority":"high"');
  });

  it('bounds the bytes too: a job that does not fit is refused, one larger than the whole bound at once', async () => {
    const { spool, add } = await setup('bytes', { maxJobs: 1000, maxBytes: 10_000, whenFull: 'refuse' });
    for (let i = 0; i < 10; i++) await add(i, 'normal', 1000);
    expect(await refusedWith(add(10, 'normal', 1))).toBe('SPOOL_FULL');
    expect(await refusedWith(add(11, 'high', 10_001))).toBe('SPOOL_FULL');
    expect((await spool.pendingIds()).length).toBe(10);
  });
});
