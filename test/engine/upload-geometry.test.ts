import { describe, expect, it } from 'vitest';
import { chooseGeometry, largestSegmentFit, maxAutoChunkSize, type GeometryRequest } from '../../src/transfer/emqx-ft/upload-geometry';
import { MemorySource } from './helpers/memory-source';
import { drive, sha256, startUpload } from './helpers/session-harness';
import { ScriptedLink } from './helpers/scripted-link';

const MiB = 1024 * 1024;
const request: GeometryRequest = { mode: 'sync', fileId: 'f1', size: 256 * MiB, segmentChecksums: false, memoryBudget: 8 * MiB };

describe('segment size and window chosen from the broker and the memory budget', () => {
  it('takes the largest segment the cap allows under EMQX 1 MiB packets, and a window that keeps window x chunk in the budget', () => {
    const g = chooseGeometry(request, { receiveMaximum: 32, maximumPacketSize: MiB }, 5);
    expect(g.chunkSize).toBe(maxAutoChunkSize);
    expect(g.window).toBe(16);
    expect(g.window * g.chunkSize).toBeLessThanOrEqual(request.memoryBudget);
  });

  it('fits a small Maximum Packet Size with topic and header, and then lets Receive Maximum bound the window', () => {
    const g = chooseGeometry(request, { receiveMaximum: 32, maximumPacketSize: 32 * 1024 }, 5);
    expect(g.chunkSize).toBeLessThanOrEqual(largestSegmentFit(request, 32 * 1024));
    expect(g.chunkSize).toBeGreaterThan(28 * 1024);
    expect(g.window).toBe(32);
  });

  it('assumes EMQX 1 MiB on MQTT 3.1.1, whose CONNACK does not say', () => {
    const huge = { receiveMaximum: 65535, maximumPacketSize: 268_435_455 };
    const g = chooseGeometry(request, huge, 4, 4 * MiB);
    expect(g.chunkSize).toBeLessThanOrEqual(largestSegmentFit(request, MiB));
    expect(g.chunkSize).toBeGreaterThan(MiB - 1024 - 100);
  });

  it('keeps an explicit chunk size and window, and fits the other one to the budget', () => {
    const limits = { receiveMaximum: 100, maximumPacketSize: MiB };
    expect(chooseGeometry({ ...request, chunkSize: 65536, window: 64 }, limits, 5)).toMatchObject({ chunkSize: 65536, window: 64 });
    expect(chooseGeometry({ ...request, chunkSize: 65536 }, limits, 5)).toMatchObject({ chunkSize: 65536, window: 100 });
    expect(chooseGeometry({ ...request, chunkSize: 2 * MiB }, limits, 5)).toMatchObject({ chunkSize: 2 * MiB, window: 4 });
    expect(chooseGeometry({ ...request, window: 64 }, limits, 5)).toMatchObject({ chunkSize: 128 * 1024, window: 64 });
  });

  it('never goes below one segment in flight, even with a budget smaller than one chunk', () => {
    expect(chooseGeometry({ ...request, chunkSize: 65536, memoryBudget: 1000 }, { receiveMaximum: 10, maximumPacketSize: MiB }, 5).window).toBe(1);
  });
});

describe('upload session with the default segment size', () => {
  it('on MQTT 5, fits every segment into a small Maximum Packet Size instead of refusing to start', async () => {
    const link = new ScriptedLink(5, () => ({ puback: 0 }), { receiveMaximum: 8, maximumPacketSize: 2048 });
    const source = new MemorySource({ content: 20_000 });
    const s = await drive(startUpload(link, source, { chunkSize: undefined, window: undefined }));
    expect(s.ok).toBe(true);
    const segments = link.sent.filter((c) => c.parsed.command.kind === 'segment');
    const largest = Math.max(...segments.map((c) => c.payload.length));
    expect(largest + Buffer.byteLength(segments[0]!.topic)).toBeLessThan(2048);
    expect(largest).toBeGreaterThan(1500);
    expect(link.assemble(20_000).equals(source.bytes())).toBe(true);
    expect(link.topics().at(-1)).toBe(`$file/f1/fin/20000/${sha256(source.bytes())}`);
    expect(link.maxObservedInFlight).toBeLessThanOrEqual(8);
  });

  it('cuts segments anew after a reconnect to a broker with a smaller limit, sending only what was not confirmed', async () => {
    let acked = 0;
    const link = new ScriptedLink(
      5,
      (cmd, l) => {
        if (cmd.parsed.command.kind === 'segment' && ++acked === 3 && l.connection === 1) {
          setImmediate(() => {
            l.drop();
            l.limitsValue = { receiveMaximum: 8, maximumPacketSize: 3000 };
            l.reconnect();
          });
          return { puback: null };
        }
        return { puback: 0 };
      },
      { receiveMaximum: 1, maximumPacketSize: 8192 },
    );
    const source = new MemorySource({ content: 40_000 });
    const s = await drive(startUpload(link, source, { chunkSize: undefined, window: undefined }));
    expect(s.ok).toBe(true);
    const second = link.sent.filter((c) => c.connection === 2 && c.parsed.command.kind === 'segment');
    expect(Math.max(...second.map((c) => c.payload.length))).toBeLessThan(3000);
    // The two segments confirmed on the first connection are not sent again.
    const firstConfirmed = link.sent.filter((c) => c.connection === 1 && c.parsed.command.kind === 'segment' && c.answered);
    expect(firstConfirmed.length).toBe(2);
    for (const c of firstConfirmed) {
      const offset = c.parsed.command.kind === 'segment' ? c.parsed.command.offset : -1;
      expect(second.some((d) => d.parsed.command.kind === 'segment' && d.parsed.command.offset === offset)).toBe(false);
    }
    expect(link.assemble(40_000).equals(source.bytes())).toBe(true);
  });
});
