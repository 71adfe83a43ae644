/**
 * Caps on what a store server can make this device hold, each at its edge: receives at once
 * (store.receive.maxConcurrent), bytes claimed by HELLOs together (store.receive.maxReservedBytes),
 * and free disk space for the claimed size; plus the sweep of stale partial files.
 */
import { mkdir, readdir, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { prepareRoots } from '../../src/transfer/store/confine';
import { sweepStalePartials } from '../../src/transfer/store/stale-partials';
import { blockSize, content, startAgent, startHarness, type Agent, type Harness } from './harness';

let h: Harness;
let agent: Agent | undefined;
let recv: string;
let n = 0;

// One broker for the file; each test has its own receive root and its own agent with its caps.
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => h.cleanup());
beforeEach(() => {
  recv = path.join(h.dir, `recv-${++n}`);
});
afterEach(async () => {
  await agent?.stop();
  agent = undefined;
});

/** A server file of `blocks` nftp blocks (blocks = floor(size / blockSize) + 1). */
async function serverFile(name: string, blocks: number): Promise<Buffer> {
  const data = content((blocks - 1) * blockSize + 7, blocks);
  await writeFile(path.join(h.filesDir, name), data);
  return data;
}

describe('store.receive.maxConcurrent', () => {
  it('takes exactly that many receives at once and answers ERROR (busy) past it', async () => {
    agent = await startAgent(h, { receive: [recv], limits: { maxConcurrent: 2, maxReservedBytes: 1 << 30 }, nftp: { maxGivemes: 10_000, stallMs: 50 } });
    await serverFile('a.bin', 8);
    // Two senders that go silent after two blocks: their receives stay in progress.
    const first = await h.push({ file: 'a.bin', target: 'one.bin', faults: { stallAfterBlocks: 2 } });
    const second = await h.push({ file: 'a.bin', target: 'two.bin', faults: { stallAfterBlocks: 2 } });
    expect([first.response.ack, second.response.ack]).toEqual(['ok', 'ok']);
    const third = await h.push({ file: 'a.bin', target: 'three.bin' });
    expect(third.response.ack).toBe('ERROR');
    expect(String(third.response.fields.reason)).toMatch(/2 receives already in progress \(store\.receive\.maxConcurrent is 2\)/);
    expect((await agent.nextResult()).code).toBe('LIMIT_EXCEEDED');
    // A new push for one.bin replaces the stalled receive of one.bin: its slot is taken over, not added.
    first.cancel();
    const replacing = await h.push({ file: 'a.bin', target: 'one.bin' });
    expect(replacing.response.ack).toBe('ok');
    const results = [await agent.nextResult(), await agent.nextResult()];
    expect(results.map((r) => r.ok).sort()).toEqual([false, true]);
    expect(await readdir(recv)).toContain('one.bin');
    second.cancel();
  });
});

describe('store.receive.maxReservedBytes', () => {
  it('accepts a HELLO claiming exactly the cap and refuses one block more, writing nothing', async () => {
    agent = await startAgent(h, { receive: [recv], limits: { maxConcurrent: 4, maxReservedBytes: 10 * blockSize } });
    const fits = await serverFile('ten.bin', 10);
    await serverFile('eleven.bin', 11);
    expect((await h.push({ file: 'ten.bin', target: 'ten.bin' })).response.ack).toBe('ok');
    const ok = await agent.nextResult();
    expect(ok.ok, ok.message).toBe(true);
    const over = await h.push({ file: 'eleven.bin', target: 'eleven.bin' });
    const r = await agent.nextResult();
    over.cancel();
    expect(r.code).toBe('LIMIT_EXCEEDED');
    expect(r.message).toMatch(/claims 11264 bytes.*store\.receive\.maxReservedBytes \(10240\)/);
    expect((await readdir(recv)).sort()).toEqual(['ten.bin']);
    expect(fits.length).toBe(9 * blockSize + 7);
  });

  it('counts what receives in progress already claimed', async () => {
    agent = await startAgent(h, { receive: [recv], limits: { maxConcurrent: 4, maxReservedBytes: 10 * blockSize }, nftp: { maxGivemes: 2, stallMs: 50 } });
    await serverFile('six.bin', 6);
    await serverFile('five.bin', 5);
    const stalled = await h.push({ file: 'six.bin', target: 'six.bin', faults: { stallAfterBlocks: 1 } });
    // 6 blocks held + 5 claimed = 11 > 10: refused; 4 would fit.
    const second = await h.push({ file: 'five.bin', target: 'five.bin' });
    const results = [await agent.nextResult(), await agent.nextResult()];
    stalled.cancel();
    second.cancel();
    // Whichever HELLO came second found the other's claim already counted.
    expect(results.filter((r) => r.code === 'LIMIT_EXCEEDED')).toHaveLength(1);
  });
});

describe('free disk space', () => {
  it('refuses a HELLO whose claimed size does not fit, before writing anything', async () => {
    // The disk of this test has exactly 10 blocks free.
    agent = await startAgent(h, { receive: [recv], freeSpace: async () => 10 * blockSize });
    await serverFile('ten.bin', 10);
    await serverFile('eleven.bin', 11);
    expect((await h.push({ file: 'ten.bin', target: 'ten.bin' })).response.ack).toBe('ok');
    expect((await agent.nextResult()).ok).toBe(true);
    const over = await h.push({ file: 'eleven.bin', target: 'eleven.bin' });
    const r = await agent.nextResult();
    over.cancel();
    expect(r.code).toBe('DISK_FULL');
    expect(r.message).toMatch(/claims 11264 bytes but only 10240 are free/);
    expect((await readdir(recv)).sort()).toEqual(['ten.bin']);
  });
});

describe('stale partial receives', () => {
  it('removes partial files older than the limit, keeps younger and running ones, never follows a link out', async () => {
    const root = path.join(h.dir, 'sweep');
    const outside = path.join(h.dir, 'sweep-outside');
    await mkdir(path.join(root, 'sub'), { recursive: true });
    await mkdir(outside, { recursive: true });
    const old = Date.now() / 1000 - 73 * 3600;
    const files = ['old.bin.part', 'old.bin.part.map', 'old.bin.part.map.tmp-1-ab', 'sub/deep.bin.part', 'fresh.bin.part', 'busy.bin.part', 'keep.txt'];
    for (const f of files) await writeFile(path.join(root, f), 'x');
    await writeFile(path.join(outside, 'far.bin.part'), 'x');
    for (const f of [...files.filter((f) => f !== 'fresh.bin.part'), '../sweep-outside/far.bin.part']) await utimes(path.join(root, f), old, old);
    // Just inside the limit: kept.
    const edge = Date.now() / 1000 - 71.9 * 3600;
    await utimes(path.join(root, 'fresh.bin.part'), edge, edge);
    await symlink(outside, path.join(root, 'link'));
    await symlink(path.join(outside, 'far.bin.part'), path.join(root, 'linked.bin.part'));
    const roots = (await prepareRoots([root], { create: false })).roots;
    const real = roots[0]!.real;
    const result = await sweepStalePartials(roots, { olderThanMs: 72 * 3_600_000, inUse: (t) => t === path.join(real, 'busy.bin') });
    expect(result.removed.map((p) => path.relative(real, p)).sort()).toEqual(['old.bin.part', 'old.bin.part.map', 'old.bin.part.map.tmp-1-ab', 'sub/deep.bin.part']);
    expect((await readdir(root)).sort()).toEqual(['busy.bin.part', 'fresh.bin.part', 'keep.txt', 'link', 'linked.bin.part', 'sub']);
    expect(await readdir(outside)).toEqual(['far.bin.part']);
    await rm(root, { recursive: true });
  });
});
