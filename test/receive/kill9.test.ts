import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { build } from 'esbuild';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { StoreReceiveRecord } from '../../src/transfer/store/store-receive';
import { blockSize, content, mapBlocks, startHarness, type Harness } from './harness';

let h: Harness;
const children: ChildProcessWithoutNullStreams[] = [];

beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await h.cleanup();
});

interface Child {
  proc: ChildProcessWithoutNullStreams;
  ready: Promise<void>;
  nextResult(): Promise<StoreReceiveRecord>;
}

function startChild(script: string, recv: string): Child {
  const proc = spawn(process.execPath, [script, h.url, recv, 'store-k9', String(blockSize), '16'], { stdio: 'pipe' });
  children.push(proc);
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines = createInterface({ input: proc.stdout });
  const results: StoreReceiveRecord[] = [];
  const waiters: ((r: StoreReceiveRecord) => void)[] = [];
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve, reject) => {
    onReady = resolve;
    proc.once('exit', (code) => reject(new Error(`child exited (${code}) before READY: ${stderr}`)));
  });
  lines.on('line', (line) => {
    if (line === 'READY') return onReady();
    const r = JSON.parse(line) as StoreReceiveRecord;
    const w = waiters.shift();
    if (w) w(r);
    else results.push(r);
  });
  return {
    proc,
    ready,
    nextResult: () => {
      const r = results.shift();
      return r ? Promise.resolve(r) : new Promise((resolve) => waiters.push(resolve));
    },
  };
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

it('resumes from the persisted block map after the receiving process is killed with SIGKILL', async () => {
  const script = path.join(h.dir, 'receiver-child.js');
  await build({ entryPoints: [path.join(__dirname, 'fixtures', 'receiver-child.ts')], bundle: true, platform: 'node', format: 'cjs', target: 'node18', outfile: script, logLevel: 'silent' });
  const recv = path.join(h.dir, 'agent', 'recv');
  const target = path.join(recv, 'firmware.bin');
  const blocks = 200;
  const data = content((blocks - 1) * blockSize + 500, 13);
  await writeFile(path.join(h.filesDir, 'firmware.bin'), data);

  const first = startChild(script, recv);
  await first.ready;
  // Paced so the kill lands mid-transfer: one block every 10 ms.
  const push1 = await h.push({ clientId: 'store-k9', file: 'firmware.bin', target: 'firmware.bin', window: 1, intervalMs: 10 });
  expect(push1.response.ack).toBe('ok');
  while (!(await exists(`${target}.part.map`))) await new Promise((r) => setTimeout(r, 10));
  first.proc.kill('SIGKILL');
  await new Promise((r) => first.proc.once('exit', r));
  push1.cancel();
  expect(first.proc.signalCode).toBe('SIGKILL');
  expect(await exists(target)).toBe(false);

  const kept = await mapBlocks(`${target}.part.map`, blocks);
  expect(kept.length).toBeGreaterThanOrEqual(16);
  expect(kept.length).toBeLessThan(blocks);

  // A fresh process; the second push never delivers the blocks the map names on first send, so the
  // transfer completes without asking for them again only if the new receiver trusted the map.
  const second = startChild(script, recv);
  await second.ready;
  const push2 = await h.push({ clientId: 'store-k9', file: 'firmware.bin', target: 'firmware.bin', faults: { dropBlocks: kept } });
  expect(push2.response.ack).toBe('ok');
  const r = await second.nextResult();
  expect(r.ok, r.message).toBe(true);
  expect(r.result?.resumedBlocks).toBe(kept.length);
  // A stall under load may ask for a block not sent yet, never for one the map already had.
  expect(h.givemes(push2.topic).filter((seq) => kept.includes(seq))).toEqual([]);
  expect(await readFile(target)).toEqual(data);
  expect(await exists(`${target}.part`)).toBe(false);
  expect(await exists(`${target}.part.map`)).toBe(false);
});
