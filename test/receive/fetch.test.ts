import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StoreVerbHandler } from '../../src/devbroker/store-server';
import { runCli } from '../helpers/cli-run';
import { blockSize, content, startHarness, type Harness } from './harness';

let h: Harness;
let local: string;

async function setup(handlers?: StoreVerbHandler[]): Promise<void> {
  h = await startHarness(handlers ? { handlers } : {});
  local = path.join(h.dir, 'local');
  await mkdir(local, { recursive: true });
}
afterEach(async () => {
  await h.cleanup();
});

function fetch(remote: string, to: string, ...extra: string[]): Promise<{ code: number; out: string; err: string }> {
  return runCli(['fetch', remote, '--to', to, '--broker', h.url, '--client-id', 'store-fetch', '--block-size', String(blockSize), ...extra], local);
}

describe('ftagent fetch', () => {
  beforeEach(async () => setup());

  it('downloads byte-exact through lost, duplicated and reordered blocks', async () => {
    const data = content(30 * blockSize + 77, 9);
    await mkdir(path.join(h.filesDir, 'promo'), { recursive: true });
    await writeFile(path.join(h.filesDir, 'promo', 'video.mp4'), data);
    h.download.setFaults({ seed: 5, dropBlocks: [1, 2, 30], duplicateRate: 0.3, reorderSpan: 3 });
    const r = await fetch('promo/video.mp4', 'video.mp4', '--json');
    expect(r.code, r.err).toBe(0);
    const result = JSON.parse(r.out) as { ok: boolean; size: number; givemes: number };
    expect(result.ok).toBe(true);
    expect(result.size).toBe(data.length);
    expect(result.givemes).toBeGreaterThanOrEqual(3);
    expect(await readFile(path.join(local, 'video.mp4'))).toEqual(data);
    expect(await readdir(local)).toEqual(['video.mp4']);
  });

  it('keeps the remote name inside an existing folder', async () => {
    await writeFile(path.join(h.filesDir, 'a.txt'), 'hello');
    await mkdir(path.join(local, 'in'));
    const r = await fetch('a.txt', 'in');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/fetched a\.txt .* CRC-32C verified/);
    expect(await readFile(path.join(local, 'in', 'a.txt'), 'utf8')).toBe('hello');
  });

  it('maps NOT_EXIST to NOT_FOUND and NOT_ALLOW to NOT_ALLOWED, exit 4, nothing written', async () => {
    const missing = await fetch('nope.bin', 'x.bin');
    expect(missing.code).toBe(4);
    expect(missing.err).toMatch(/has no nope\.bin \(NOT_EXIST\).*\[NOT_FOUND\]/);
    const outside = await fetch('../../etc/passwd', 'x.bin');
    expect(outside.code).toBe(4);
    expect(outside.err).toMatch(/does not allow .*NOT_ALLOW.*\[NOT_ALLOWED\]/);
    expect(await readdir(local)).toEqual([]);
  });

  it('refuses to replace an existing local file without --overwrite, and replaces it with it', async () => {
    await writeFile(path.join(h.filesDir, 'b.txt'), 'new');
    await writeFile(path.join(local, 'b.txt'), 'old');
    const refused = await fetch('b.txt', 'b.txt');
    expect(refused.code).toBe(4);
    expect(refused.err).toMatch(/already exists .*\[NOT_ALLOWED\]/);
    expect(await readFile(path.join(local, 'b.txt'), 'utf8')).toBe('old');
    const replaced = await fetch('b.txt', 'b.txt', '--overwrite');
    expect(replaced.code, replaced.err).toBe(0);
    expect(await readFile(path.join(local, 'b.txt'), 'utf8')).toBe('new');
  });

  it('fails a download whose CRC-32C does not match, leaving nothing at the target', async () => {
    await writeFile(path.join(h.filesDir, 'c.bin'), content(6 * blockSize));
    h.download.setFaults({ corruptBlock: 2 });
    const r = await fetch('c.bin', 'c.bin');
    expect(r.code).toBe(5);
    expect(r.err).toMatch(/CRC-32C .* not moved into place/);
    expect(await readdir(local)).toEqual([]);
  });
});

describe('ftagent fetch against a server that answers ERROR', () => {
  beforeEach(async () => setup([{ verb: 'download', onRequest: (incoming, ctx) => ctx.respond(incoming, { ack: 'ERROR', reason: 'disk broken' }) }]));

  it('maps ERROR to REMOTE_ERROR with the server reason', async () => {
    const r = await fetch('a.txt', 'a.txt');
    expect(r.code).toBe(4);
    expect(r.err).toMatch(/could not serve a\.txt \(ERROR\): disk broken \[REMOTE_ERROR\]/);
  });
});
