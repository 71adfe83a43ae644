import { describe, expect, it } from 'vitest';
import { FtError } from '../../src/errors';
import { sha256, startUpload, drive } from './helpers/session-harness';
import { MemorySource } from './helpers/memory-source';
import { ScriptedLink, type Answer, type SentCommand } from './helpers/scripted-link';
import type { UploadSnapshot } from '../../src/transfer/emqx-ft/upload-snapshot';

const emptySha = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

function kinds(link: ScriptedLink): string[] {
  return link.sent.map((c) => (c.parsed.command.kind === 'segment' ? `seg:${c.parsed.command.offset}` : c.parsed.command.kind));
}

function finOf(link: ScriptedLink): SentCommand[] {
  return link.sent.filter((c) => c.parsed.command.kind === 'fin');
}

/** Async broker: PUBACK 0 at once, the result on $file-response. */
const asyncOk = (): Answer => ({ puback: 0, response: { reasonCode: 0, description: 'success' } });

function errorOf(s: { ok: boolean; error?: unknown }): FtError {
  expect(s.ok).toBe(false);
  expect(s.error).toBeInstanceOf(FtError);
  return s.error as FtError;
}

describe('upload session: MQTT 5 sync', () => {
  it('sends init, every segment in order and fin with size and SHA-256, and the broker can rebuild the file', async () => {
    const link = new ScriptedLink(5);
    const source = new MemorySource({ content: 2500 });
    const s = await drive(startUpload(link, source));
    expect(s.ok).toBe(true);
    expect(kinds(link)).toEqual(['init', 'seg:0', 'seg:1000', 'seg:2000', 'fin']);
    expect(link.sent[0]?.topic).toBe('$file/f1/init');
    expect(JSON.parse(link.sent[0]!.payload.toString())).toEqual({ name: 'sample.bin', size: 2500 });
    const fin = finOf(link)[0]!;
    expect(fin.topic).toBe(`$file/f1/fin/2500/${sha256(source.bytes())}`);
    expect(link.assemble(2500).equals(source.bytes())).toBe(true);
    if (s.ok) {
      expect(s.result.sha256).toBe(sha256(source.bytes()));
      expect(s.result.bytesSent).toBe(2500);
      expect(s.result.retries).toBe(0);
    }
  });

  it('uploads an empty file as init then fin/0 with the SHA-256 of nothing', async () => {
    const link = new ScriptedLink(5);
    const s = await drive(startUpload(link, new MemorySource({ content: 0 })));
    expect(s.ok).toBe(true);
    expect(link.topics()).toEqual(['$file/f1/init', `$file/f1/fin/0/${emptySha}`]);
  });

  it('uploads a 1-byte file as one 1-byte segment', async () => {
    const link = new ScriptedLink(5);
    const s = await drive(startUpload(link, new MemorySource({ content: Buffer.from('x') })));
    expect(s.ok).toBe(true);
    expect(kinds(link)).toEqual(['init', 'seg:0', 'fin']);
    expect(link.sent[1]?.payload.toString()).toBe('x');
  });

  it('sends no empty trailing segment when the size is an exact multiple of the chunk size', async () => {
    const link = new ScriptedLink(5);
    const s = await drive(startUpload(link, new MemorySource({ content: 3000 })));
    expect(s.ok).toBe(true);
    expect(kinds(link)).toEqual(['init', 'seg:0', 'seg:1000', 'seg:2000', 'fin']);
    expect(link.sent.every((c) => c.parsed.command.kind !== 'segment' || c.payload.length === 1000)).toBe(true);
  });

  it('adds the SHA-256 of each segment to its topic when asked', async () => {
    const link = new ScriptedLink(5);
    const source = new MemorySource({ content: 1500 });
    const s = await drive(startUpload(link, source, { segmentChecksums: true }));
    expect(s.ok).toBe(true);
    const segs = link.sent.filter((c) => c.parsed.command.kind === 'segment');
    expect(segs.map((c) => c.topic)).toEqual([`$file/f1/0/${sha256(source.bytes().subarray(0, 1000))}`, `$file/f1/1000/${sha256(source.bytes().subarray(1000))}`]);
  });

  it('keeps at most `window` commands in flight and reads a chunk only when a slot frees', async () => {
    const held: SentCommand[] = [];
    const link = new ScriptedLink(5, (cmd) => {
      if (cmd.parsed.command.kind === 'segment') {
        held.push(cmd);
        return { puback: null };
      }
      return { puback: 0 };
    });
    const source = new MemorySource({ content: 20_000 });
    const run = startUpload(link, source, { window: 3 });
    await run.clock.advance(10);
    expect(link.inFlightCount()).toBe(3);
    // init + 3 chunks read; nothing more until an answer comes
    expect(source.reads).toBe(3);
    link.deliver(held.shift()!, { puback: 0 });
    await run.clock.advance(10);
    expect(source.reads).toBe(4);
    expect(link.inFlightCount()).toBe(3);
    link.script = () => ({ puback: 0 });
    for (const c of held.splice(0)) link.deliver(c, { puback: 0 });
    const s = await drive(run);
    expect(s.ok).toBe(true);
    expect(link.maxObservedInFlight).toBe(3);
  });

  it('never has more commands in flight than the broker Receive Maximum, whatever the window', async () => {
    const link = new ScriptedLink(5, () => ({ puback: 0 }), { receiveMaximum: 2, maximumPacketSize: 1 << 20 });
    const s = await drive(startUpload(link, new MemorySource({ content: 10_000 }), { window: 16 }));
    expect(s.ok).toBe(true);
    expect(link.maxObservedInFlight).toBeLessThanOrEqual(2);
  });

  it('refuses a chunk size that does not fit the broker Maximum Packet Size, before sending anything', async () => {
    const link = new ScriptedLink(5, () => ({ puback: 0 }), { receiveMaximum: 10, maximumPacketSize: 1024 });
    const s = await drive(startUpload(link, new MemorySource({ content: 5000 }), { chunkSize: 1000 }));
    const err = errorOf(s);
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toMatch(/--chunk-size \d+/);
    expect(link.sent.filter((c) => c.parsed.command.kind !== 'abort')).toEqual([]);
  });
});

describe('upload session: reason-code policy', () => {
  it('re-sends a segment answered 0x80 and then succeeds', async () => {
    let failed = false;
    const link = new ScriptedLink(5, (cmd) => {
      if (cmd.parsed.command.kind === 'segment' && cmd.parsed.command.offset === 1000 && !failed) {
        failed = true;
        return { puback: 0x80, reasonString: 'enospc' };
      }
      return { puback: 0 };
    });
    const s = await drive(startUpload(link, new MemorySource({ content: 2500 })));
    expect(s.ok).toBe(true);
    expect(kinds(link).filter((k) => k === 'seg:1000')).toHaveLength(2);
    if (s.ok) expect(s.result.retries).toBe(1);
  });

  it('on fin "incomplete" from the one node that confirmed everything: init and fin again, then the whole file', async () => {
    let fins = 0;
    const link = new ScriptedLink(4, (cmd) => {
      if (cmd.parsed.command.kind === 'fin' && fins++ < 2) return { puback: 0, response: { reasonCode: 128, description: 'incomplete' } };
      return asyncOk();
    });
    const s = await drive(startUpload(link, new MemorySource({ content: 2500 }), { mode: 'async' }));
    expect(s.ok).toBe(true);
    expect(kinds(link)).toEqual(['init', 'seg:0', 'seg:1000', 'seg:2000', 'fin', 'init', 'fin', 'init', 'seg:0', 'seg:1000', 'seg:2000', 'fin']);
    expect(link.sent[5]!.payload.equals(link.sent[0]!.payload)).toBe(true);
  });

  it('fails for good on filemeta_conflict with the broker reason in the error', async () => {
    const link = new ScriptedLink(5, (cmd) => (cmd.parsed.command.kind === 'init' ? { puback: 0x80, response: { reasonCode: 128, description: 'filemeta_conflict' } } : asyncOk()));
    const err = errorOf(await drive(startUpload(link, new MemorySource({ content: 10 }), { mode: 'async' })));
    expect(err.code).toBe('FT_REJECTED');
    expect(err.transient).toBe(false);
    expect(err.message).toContain('filemeta_conflict');
    expect(kinds(link)).toEqual(['init', 'abort']);
  });

  it('fails for good on an invalid_* reason (sync PUBACK reason string)', async () => {
    const link = new ScriptedLink(5, (cmd) => (cmd.parsed.command.kind === 'init' ? { puback: 0x80, reasonString: 'invalid_filemeta' } : { puback: 0 }));
    const err = errorOf(await drive(startUpload(link, new MemorySource({ content: 10 }))));
    expect(err.code).toBe('FT_REJECTED');
    expect(err.message).toContain('invalid_filemeta');
  });

  it('cancels on 0x83', async () => {
    const link = new ScriptedLink(5, (cmd) => (cmd.parsed.command.kind === 'segment' ? { puback: 0x83 } : { puback: 0 }));
    const err = errorOf(await drive(startUpload(link, new MemorySource({ content: 3000 }))));
    expect(err.code).toBe('FT_CANCELLED');
    expect(err.transient).toBe(false);
    expect(kinds(link)).toContain('abort');
  });

  it('pauses on a 0x97 burst, sends nothing while paused, then re-sends and completes', async () => {
    let quota = 3;
    const link = new ScriptedLink(5, (cmd) => {
      if (cmd.parsed.command.kind === 'segment' && quota > 0) {
        quota -= 1;
        return { puback: 0x97 };
      }
      return { puback: 0 };
    });
    const run = startUpload(link, new MemorySource({ content: 6000 }), { window: 3 });
    await run.clock.advance(1);
    const during = link.sent.length;
    expect(kinds(link)).toEqual(['init', 'seg:0', 'seg:1000', 'seg:2000']);
    await run.clock.advance(50); // inside the pause (≥ base 100 ms)
    expect(link.sent.length).toBe(during);
    const s = await drive(run);
    expect(s.ok).toBe(true);
    expect(link.assemble(6000).equals(run.source.bytes())).toBe(true);
  });

  it('gives up after a bounded number of 0x97 pauses', async () => {
    const link = new ScriptedLink(5, (cmd) => (cmd.parsed.command.kind === 'segment' ? { puback: 0x97 } : { puback: 0 }));
    const err = errorOf(await drive(startUpload(link, new MemorySource({ content: 3000 }))));
    expect(err.code).toBe('GAVE_UP');
    expect(err.transient).toBe(true);
    expect(err.message).toContain('0x97');
  });

  it('restarts from offset 0 after one 0x10 and completes', async () => {
    let once = true;
    const link = new ScriptedLink(5, (cmd) => {
      if (cmd.parsed.command.kind === 'segment' && cmd.parsed.command.offset === 1000 && once) {
        once = false;
        return { puback: 0x10 };
      }
      return { puback: 0 };
    });
    const s = await drive(startUpload(link, new MemorySource({ content: 2500 }), { window: 1 }));
    expect(s.ok).toBe(true);
    expect(kinds(link)).toEqual(['init', 'seg:0', 'seg:1000', 'init', 'seg:0', 'seg:1000', 'seg:2000', 'fin']);
  });

  it('says file transfer is probably not enabled when every command gets 0x10', async () => {
    const link = new ScriptedLink(5, () => ({ puback: 0x10 }));
    const err = errorOf(await drive(startUpload(link, new MemorySource({ content: 2500 }))));
    expect(err.code).toBe('FT_UNAVAILABLE');
    expect(err.message).toContain('file_transfer.enable = true');
    expect(kinds(link).filter((k) => k === 'init')).toHaveLength(3); // first try + 2 restarts
  });

  it('re-sends a command whose response was lost, after the timeout', async () => {
    let lose = true;
    const link = new ScriptedLink(5, (cmd) => {
      if (cmd.parsed.command.kind === 'segment' && cmd.parsed.command.offset === 0 && lose) {
        lose = false;
        return { puback: 0 };
      }
      return asyncOk();
    });
    const s = await drive(startUpload(link, new MemorySource({ content: 1500 }), { mode: 'async', commandTimeoutMs: 5000 }));
    expect(s.ok).toBe(true);
    expect(kinds(link).filter((k) => k === 'seg:0')).toHaveLength(2);
  });

  it('ignores responses that match no outstanding command (wrong packet id, unknown topic, already done)', async () => {
    const link = new ScriptedLink(4, (cmd, l) => {
      if (cmd.parsed.command.kind === 'segment') {
        l.respond(cmd.topic, cmd.packetId + 1000, 128, 'invalid_offset');
        l.respond('$file-async/other/0', cmd.packetId, 128, 'filemeta_conflict');
      }
      return asyncOk();
    });
    const s = await drive(startUpload(link, new MemorySource({ content: 2500 }), { mode: 'async' }));
    expect(s.ok).toBe(true);
  });

  it('treats a late error response for an already confirmed command as nothing', async () => {
    const link = new ScriptedLink(4, (cmd, l) => {
      if (cmd.parsed.command.kind === 'segment') setImmediate(() => setImmediate(() => l.respond(cmd.topic, cmd.packetId, 128, 'filemeta_conflict')));
      return asyncOk();
    });
    const s = await drive(startUpload(link, new MemorySource({ content: 2500 }), { mode: 'async' }));
    expect(s.ok).toBe(true);
  });

  it('does not take an MQTT 3.1.1 PUBACK as a result: it waits for the response', async () => {
    const link = new ScriptedLink(4, () => ({ puback: 0 }));
    const err = errorOf(await drive(startUpload(link, new MemorySource({ content: 100 }), { mode: 'async', commandTimeoutMs: 1000 })));
    expect(err.code).toBe('FT_UNAVAILABLE');
    expect(err.message).toContain('never answered init');
    // Acknowledged but never answered, three times: no need to wait out all five attempts.
    expect(kinds(link).filter((k) => k === 'init')).toHaveLength(3);
  });

  it('keeps going when only some init responses are lost', async () => {
    let inits = 0;
    const link = new ScriptedLink(4, (cmd) => {
      if (cmd.parsed.command.kind === 'init' && ++inits < 3) return { puback: 0 };
      return asyncOk();
    });
    const s = await drive(startUpload(link, new MemorySource({ content: 2500 }), { mode: 'async', commandTimeoutMs: 1000 }));
    expect(s.ok).toBe(true);
    expect(inits).toBe(3);
  });

  it('gives up after bounded re-sends of a segment that keeps failing', async () => {
    const link = new ScriptedLink(5, (cmd) => (cmd.parsed.command.kind === 'segment' ? { puback: 0x80 } : { puback: 0 }));
    const err = errorOf(await drive(startUpload(link, new MemorySource({ content: 500 }))));
    expect(err.code).toBe('GAVE_UP');
    expect(kinds(link).filter((k) => k === 'seg:0')).toHaveLength(5);
  });
});

describe('upload session: connection loss', () => {
  it('after a reconnect re-sends init byte-identical first, then every unacknowledged command', async () => {
    const held: SentCommand[] = [];
    const link = new ScriptedLink(5, (cmd) => {
      if (cmd.parsed.command.kind === 'segment' && cmd.connection === 1 && cmd.parsed.command.offset >= 1000) {
        held.push(cmd);
        return { puback: null };
      }
      return { puback: 0 };
    });
    const run = startUpload(link, new MemorySource({ content: 4000 }), { window: 2 });
    await run.clock.advance(1);
    expect(kinds(link)).toEqual(['init', 'seg:0', 'seg:1000', 'seg:2000']);
    link.drop();
    await run.clock.advance(1);
    link.reconnect();
    const s = await drive(run);
    expect(s.ok).toBe(true);
    const second = link.sent.filter((c) => c.connection === 2);
    expect(second.map((c) => (c.parsed.command.kind === 'segment' ? `seg:${c.parsed.command.offset}` : c.parsed.command.kind))).toEqual(['init', 'seg:1000', 'seg:2000', 'seg:3000', 'fin']);
    expect(second[0]!.payload.equals(link.sent[0]!.payload)).toBe(true);
  });

  it('re-sends a pending sync fin after a reconnect', async () => {
    const link = new ScriptedLink(5, (cmd) => (cmd.parsed.command.kind === 'fin' && cmd.connection === 1 ? { puback: null } : { puback: 0 }));
    const run = startUpload(link, new MemorySource({ content: 1500 }));
    await run.clock.advance(1);
    expect(finOf(link)).toHaveLength(1);
    link.drop();
    link.reconnect();
    const s = await drive(run);
    expect(s.ok).toBe(true);
    expect(finOf(link)).toHaveLength(2);
    expect(finOf(link)[1]!.topic).toBe(finOf(link)[0]!.topic);
  });

  it('fails with the connection error when reconnecting gives up, and never reports unconfirmed bytes', async () => {
    const snapshots: UploadSnapshot[] = [];
    const link = new ScriptedLink(5, (cmd) => (cmd.parsed.command.kind === 'segment' && cmd.parsed.command.offset > 0 ? { puback: null } : { puback: 0 }));
    const run = startUpload(link, new MemorySource({ content: 3000 }), { onProgress: (s) => snapshots.push(s) });
    await run.clock.advance(1);
    link.drop();
    link.giveUp();
    const err = errorOf(await drive(run));
    expect(err.code).toBe('CONNECT_FAILED');
    expect(snapshots.at(-1)?.confirmed).toEqual([[0, 1000]]);
  });
});

describe('upload session: resume and progress', () => {
  it('skips confirmed ranges, still sends fin with the SHA-256 of the whole file, and re-sends the init bytes as given', async () => {
    const source = new MemorySource({ content: 5000 });
    const first = new ScriptedLink(5, (cmd) => (cmd.parsed.command.kind === 'segment' && cmd.parsed.command.offset >= 3000 ? { puback: null } : { puback: 0 }));
    const snaps: UploadSnapshot[] = [];
    const run1 = startUpload(first, source, { window: 1, userData: { shop: 7 }, onProgress: (s) => snaps.push(s) });
    await run1.clock.advance(1);
    first.drop();
    first.giveUp();
    await drive(run1);
    const snap = snaps.at(-1)!;
    expect(snap.confirmed).toEqual([[0, 3000]]);
    expect(snap.stage).toBe('segments');

    const second = new ScriptedLink(5);
    const s = await drive(startUpload(second, source, { resume: snap, chunkSize: 700 }));
    expect(s.ok).toBe(true);
    expect(second.sent[0]!.payload.equals(Buffer.from(snap.initPayload))).toBe(true);
    // chunk 2800..3500 is only partly confirmed: its gap [3000,3500) is sent as its own segment
    expect(kinds(second)).toEqual(['init', 'seg:3000', 'seg:3500', 'seg:4200', 'seg:4900', 'fin']);
    expect(finOf(second)[0]!.topic).toBe(`$file/f1/fin/5000/${sha256(source.bytes())}`);
  });

  it('reports merged confirmed ranges, only after the broker confirmed them', async () => {
    const acked = new Set<number>();
    const link = new ScriptedLink(5, (cmd) => {
      if (cmd.parsed.command.kind === 'segment') acked.add(cmd.parsed.command.offset);
      return { puback: 0 };
    });
    const violations: string[] = [];
    const seen: UploadSnapshot[] = [];
    const s = await drive(
      startUpload(link, new MemorySource({ content: 3500 }), {
        onProgress: (snap) => {
          seen.push(snap);
          for (const [a, b] of snap.confirmed) for (let o = a; o < b; o += 1000) if (!acked.has(o)) violations.push(`${o}`);
        },
      }),
    );
    expect(s.ok).toBe(true);
    expect(violations).toEqual([]);
    expect(seen.at(-1)?.confirmed).toEqual([[0, 3500]]);
    expect(seen.at(-1)?.stage).toBe('fin');
    expect(seen.at(-1)?.source).toMatchObject({ size: 3500, ino: 42 });
  });

  it('refuses to resume when the source is no longer the same file', async () => {
    const source = new MemorySource({ content: 100 });
    const snap: UploadSnapshot = {
      fileId: 'f1',
      stage: 'segments',
      initPayload: Buffer.from('{"name":"sample.bin","size":100}'),
      confirmed: [[0, 50]],
      source: { ...source.ident, mtimeMs: 1 },
    };
    const err = errorOf(await drive(startUpload(new ScriptedLink(5), source, { resume: snap })));
    expect(err.code).toBe('SOURCE_CHANGED');
  });
});

describe('upload session: the source file', () => {
  it('fails with SOURCE_CHANGED (never success) when the file changes while it is sent', async () => {
    const source = new MemorySource({
      content: 5000,
      onRead: (n, src) => {
        if (n === 2) src.ident = { ...src.ident, mtimeMs: src.ident.mtimeMs + 5 };
      },
    });
    const link = new ScriptedLink(5);
    const err = errorOf(await drive(startUpload(link, source)));
    expect(err.code).toBe('SOURCE_CHANGED');
    expect(finOf(link)).toEqual([]);
    expect(kinds(link)).toContain('abort');
  });

  it('uses offsets beyond 4 GiB exactly (a 4 GiB + 3 byte file, last chunks)', async () => {
    const size = 2 ** 32 + 3;
    const source = new MemorySource({ content: size });
    const link = new ScriptedLink(5);
    const chunk = 1 << 20;
    // Resume with everything but the last two chunks confirmed: the offsets near the end are exercised,
    // and the whole file is still read once for the SHA-256.
    const lastFull = Math.floor(size / chunk) * chunk;
    const snap: UploadSnapshot = {
      fileId: 'big',
      stage: 'segments',
      initPayload: Buffer.from(JSON.stringify({ name: 'big.bin', size })),
      confirmed: [[0, lastFull - chunk]],
      source: source.ident,
    };
    const s = await drive(startUpload(link, source, { chunkSize: chunk, resume: snap }));
    expect(s.ok).toBe(true);
    expect(link.topics().slice(0, 3)).toEqual(['$file/big/init', `$file/big/${lastFull - chunk}`, `$file/big/${lastFull}`]);
    expect(lastFull).toBe(4294967296);
    expect(link.sent[2]!.payload.length).toBe(3);
    expect(link.sent[2]!.payload[0]).toBe(4294967296 % 251);
    expect(finOf(link)[0]!.topic).toMatch(/^\$file\/big\/fin\/4294967299\/[0-9a-f]{64}$/);
  }, 60_000);
});

describe('upload session: shared connection', () => {
  it('two sessions on one link together stay within the Receive Maximum', async () => {
    const link = new ScriptedLink(5, () => ({ puback: 0 }), { receiveMaximum: 3, maximumPacketSize: 1 << 20 });
    const a = startUpload(link, new MemorySource({ content: 8000, path: '/a.bin' }), { fileId: 'a', window: 3 });
    const b = startUpload(link, new MemorySource({ content: 8000, path: '/b.bin' }), { fileId: 'b', window: 3 }, a.clock);
    const [ra, rb] = await Promise.all([drive(a), drive(b)]);
    expect(ra.ok && rb.ok).toBe(true);
    expect(link.maxObservedInFlight).toBeLessThanOrEqual(3);
    expect(link.sent.filter((c) => c.parsed.fileId === 'a' && c.parsed.command.kind === 'segment')).toHaveLength(8);
    expect(link.sent.filter((c) => c.parsed.fileId === 'b' && c.parsed.command.kind === 'segment')).toHaveLength(8);
  });
});
