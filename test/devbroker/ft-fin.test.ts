import { readdir, readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { InterceptResult } from '../../src/devbroker/types';
import { FtHarness } from './ft-harness';

/** Fin timing, responders, retransmissions and restarts (docs/emqx-ft.md §3-§5). */
let h: FtHarness;
afterEach(async () => {
  await h.dispose();
});

/** Tracks whether an ack promise has settled yet, without timing assumptions. */
function track(result: InterceptResult | null): { settled: () => boolean; value: Promise<number> } {
  if (result === null || result.kind !== 'ack') throw new Error('expected an ack');
  let done = false;
  const value = Promise.resolve(result.reasonCode).then((rc) => {
    done = true;
    return rc;
  });
  return { settled: () => done, value };
}

async function prepare(id = 'f1', data = 'abcdef'): Promise<void> {
  expect(await h.send(`$file/${id}/init`, JSON.stringify({ name: `${id}.bin` }))).toBe(0);
  expect(await h.send(`$file/${id}/0`, data)).toBe(0);
}

async function exported(id: string): Promise<string[]> {
  return readdir(path.join(h.dataDir, 'exports', 'c1', id)).catch(() => []);
}

describe('fin', () => {
  it('holds a sync fin PUBACK until the assembly has exported the file', async () => {
    h = await FtHarness.create({ assemblyDelayMs: 150 });
    await prepare();
    const fin = track(h.ft.onPublish(h.message('$file/f1/fin/6')));
    await new Promise((r) => setTimeout(r, 20));
    expect(fin.settled()).toBe(false);
    expect(h.responses().some((r) => r.topic === '$file/f1/fin/6')).toBe(false);
    expect(await fin.value).toBe(0);
    expect(await exported('f1')).toContain('f1.bin');
    expect(h.responses().find((r) => r.topic === '$file/f1/fin/6')).toMatchObject({ reason_code: 0 });
  });

  it('acks an async fin with 0 at once and publishes the result later', async () => {
    h = await FtHarness.create({ assemblyDelayMs: 150 });
    await prepare();
    const fin = track(h.ft.onPublish(h.message('$file-async/f1/fin/6')));
    expect(await fin.value).toBe(0);
    expect(h.responses().some((r) => r.topic === '$file-async/f1/fin/6')).toBe(false);
    expect(await h.waitResponse((r) => r.topic === '$file-async/f1/fin/6')).toMatchObject({ reason_code: 0, reason_description: 'success' });
  });

  it('answers 0x80 timeout after assembleTimeoutMs (sync); the assembly still exports later', async () => {
    h = await FtHarness.create({ assemblyDelayMs: 300, assembleTimeoutMs: 50 });
    await prepare();
    const { rc, response } = await h.command('$file/f1/fin/6');
    expect(rc).toBe(0x80);
    expect(response).toMatchObject({ reason_code: 128, reason_description: 'timeout' });
    await h.waitResponse(() => false, 400).catch(() => undefined);
    expect(await exported('f1')).toContain('f1.bin');
    expect(h.responses().filter((r) => r.topic === '$file/f1/fin/6')).toHaveLength(1);
    expect((await h.command('$file/f1/fin/6')).rc).toBe(0);
  });

  it('async fin past the timeout: PUBACK 0, one timeout response, nothing more', async () => {
    h = await FtHarness.create({ assemblyDelayMs: 300, assembleTimeoutMs: 50 });
    await prepare();
    const { rc, response } = await h.command('$file-async/f1/fin/6');
    expect(rc).toBe(0);
    expect(response.reason_description).toBe('timeout');
    await h.waitResponse(() => false, 400).catch(() => undefined);
    expect(h.responses().filter((r) => r.topic === '$file-async/f1/fin/6')).toHaveLength(1);
  });

  it('a second fin during assembly attaches to it: one export, a response for each fin', async () => {
    h = await FtHarness.create({ assemblyDelayMs: 150 });
    await prepare();
    const first = h.ft.onPublish(h.message('$file/f1/fin/6'));
    const second = h.ft.onPublish(h.message('$file-async/f1/fin/6'));
    expect(await track(first).value).toBe(0);
    expect(await track(second).value).toBe(0);
    await h.waitResponse((r) => r.topic === '$file-async/f1/fin/6');
    expect(h.responses().filter((r) => r.topic.endsWith('/fin/6'))).toHaveLength(2);
    expect(await exported('f1')).toEqual(['f1.bin', 'f1.bin.MANIFEST.json']);
  });

  it('a DUP retransmission of an in-progress fin gets no ack and no response of its own', async () => {
    h = await FtHarness.create({ assemblyDelayMs: 150 });
    await prepare();
    const original = h.message('$file/f1/fin/6');
    const first = track(h.ft.onPublish(original));
    const dup = track(h.ft.onPublish({ ...original, dup: true }));
    expect(await first.value).toBe(0);
    await h.waitResponse(() => false, 100).catch(() => undefined);
    expect(dup.settled()).toBe(false);
    expect(h.responses().filter((r) => r.topic === '$file/f1/fin/6')).toHaveLength(1);
  });

  it('the same packet id on a new connection is a new fin with its own response', async () => {
    h = await FtHarness.create({ assemblyDelayMs: 150 });
    await prepare();
    const original = h.message('$file/f1/fin/6');
    const first = track(h.ft.onPublish(original));
    h.ft.onDisconnect?.('c1');
    const again = track(h.ft.onPublish({ ...original, dup: true }));
    expect(await first.value).toBe(0);
    expect(await again.value).toBe(0);
    expect(h.responses().filter((r) => r.topic === '$file/f1/fin/6')).toHaveLength(2);
  });

  it('publishes the fin result even after the client disconnected (5.8+)', async () => {
    h = await FtHarness.create({ assemblyDelayMs: 100 });
    await prepare();
    void track(h.ft.onPublish(h.message('$file-async/f1/fin/6'))).value;
    h.ft.onDisconnect?.('c1');
    expect(await h.waitResponse((r) => r.topic === '$file-async/f1/fin/6')).toMatchObject({ reason_code: 0 });
  });

  it("acknowledges one client's commands in arrival order", async () => {
    h = await FtHarness.create();
    const order: string[] = [];
    const topics = ['$file/o/init', '$file/o/0', '$file/o/x', '$file/o/3', '$file/o/abort', '$file/o/fin/6'];
    const acks = topics.map((t, i) => {
      const r = h.ft.onPublish(h.message(t, i === 0 ? '{"name":"o"}' : 'abc'));
      return track(r).value.then(() => order.push(t));
    });
    await Promise.all(acks);
    expect(order).toEqual(topics);
    expect(await readFile(path.join(h.dataDir, 'exports', 'c1', 'o', 'o'), 'utf8')).toBe('abcabc');
  });

  it('keeps clients apart: same fileId, different clients, different files', async () => {
    h = await FtHarness.create();
    for (const [clientId, data] of [
      ['a', 'AAA'],
      ['b', 'BBBB'],
    ] as const) {
      expect(await h.send('$file/same/init', '{"name":"n"}', { clientId })).toBe(0);
      expect(await h.send('$file/same/0', data, { clientId })).toBe(0);
    }
    expect(await h.send('$file/same/fin/3', '', { clientId: 'a' })).toBe(0);
    expect(await h.send('$file/same/fin/4', '', { clientId: 'b' })).toBe(0);
    expect(await readFile(path.join(h.dataDir, 'exports', 'a', 'same', 'n'), 'utf8')).toBe('AAA');
    expect(await readFile(path.join(h.dataDir, 'exports', 'b', 'same', 'n'), 'utf8')).toBe('BBBB');
  });
});

describe('storage', () => {
  it('finishes after a restart a transfer the previous instance started', async () => {
    h = await FtHarness.create();
    expect(await h.send('$file/r/init', '{"name":"r.bin","size":6}')).toBe(0);
    expect(await h.send('$file/r/0', 'abc')).toBe(0);
    await h.restart();
    // The exact same init is still idempotent; a different one conflicts.
    expect(await h.send('$file/r/init', '{"name":"r.bin","size":6}')).toBe(0);
    expect(await h.send('$file/r/init', '{"name":"r.bin","size":7}')).toBe(0x80);
    expect(await h.send('$file/r/3', 'def')).toBe(0);
    expect(await h.send('$file/r/fin/6')).toBe(0);
    expect(await readFile(path.join(h.dataDir, 'exports', 'c1', 'r', 'r.bin'), 'utf8')).toBe('abcdef');
  });

  it('escapes clientId and fileId into directory names', async () => {
    h = await FtHarness.create();
    expect(await h.send('$file/../init', '{"name":"x"}', { clientId: 'dev:1/%' })).toBe(0);
    const dirs = await readdir(path.join(h.dataDir, 'segments', 'dev%3A1%2F%25'));
    expect(dirs).toEqual(['%2E%2E']);
    const manifest = await readFile(path.join(h.dataDir, 'segments', 'dev%3A1%2F%25', '%2E%2E', 'frags', 'MANIFEST.json'), 'utf8');
    expect(JSON.parse(manifest)).toEqual(['filemeta', 1, { name: 'x' }]);
  });

  it('reports a file-system error as its POSIX atom without crashing', async () => {
    h = await FtHarness.create();
    const longId = 'é'.repeat(200); // 400 bytes: longer than a file name may be
    expect(await h.command(`$file/${longId}/init`, '{"name":"x"}')).toMatchObject({ rc: 0x80, response: { reason_description: 'enametoolong' } });
    expect(await h.command(`$file/${longId}/0`, 'x')).toMatchObject({ rc: 0x80, response: { reason_description: 'enametoolong' } });
    // EMQX's assembler crashes on the listing error (`{ok, _} = list(…)`), reported as internal_error.
    expect((await h.command(`$file/${longId}/fin/1`)).response.reason_description).toBe('internal_error');
    expect(await h.send('$file/ok/abort')).toBe(0);
  });
});
