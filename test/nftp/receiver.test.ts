import { describe, expect, it } from 'vitest';
import { FtError } from '../../src/errors';
import { crc32c } from '../../src/protocol/crc32c';
import { decode, encode } from '../../src/protocol/nftp-codec';
import type { NftpPacket } from '../../src/protocol/nftp-packets';
import { NftpBitmap } from '../../src/transfer/nftp/nftp-bitmap';
import { NftpReceiver, type NftpReceiverOptions } from '../../src/transfer/nftp/nftp-receiver';
import { FakeClock } from '../helpers/fake-clock';
import { MemorySink } from './memory-sink';

const FILEID = crc32c('x.bin');
const content = Uint8Array.from({ length: 40 }, (_, i) => i + 1);

/** A receiver whose published packets are captured; the test plays the sender. */
function setup(options: Partial<NftpReceiverOptions> = {}, sink = new MemorySink()) {
  const clock = new FakeClock();
  const sent: Uint8Array[] = [];
  const receiver = new NftpReceiver({
    link: { publish: async (p) => void sent.push(p.slice()) },
    clock,
    sink,
    blockSize: 16,
    stallMs: 500,
    maxGivemes: 3,
    ...options,
  });
  const result = receiver.run();
  const packets = (): NftpPacket[] => sent.map((b) => decode(b));
  const hello = (over: Partial<{ id: number; blocks: number; name: string; filehash: number }> = {}) =>
    receiver.receive(encode({ kind: 'hello', id: 7, blocks: 3, name: 'x.bin', filehash: crc32c(content), ...over }));
  const block = (seq: number, bytes = content.subarray(seq * 16, Math.min(40, seq * 16 + 16)), fileid = FILEID) =>
    receiver.receive(encode({ kind: seq === 2 ? 'end' : 'file', fileid, seq, content: bytes }));
  return { clock, sent, sink, receiver, result, packets, hello, block };
}

async function rejection(p: Promise<unknown>): Promise<FtError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof FtError) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

describe('nftp receiver', () => {
  it('ACKs HELLO with the same id and the CRC-32C of the name as fileid', async () => {
    const s = setup();
    s.hello({ id: 0x42 });
    await s.clock.advance(0);
    expect(s.packets()).toEqual([{ kind: 'ack', id: 0x42, fileid: FILEID }]);
    expect(s.sink.opened).toEqual({ name: 'x.bin', blocks: 3, filehash: crc32c(content), blockSize: 16 });
  });

  it('writes blocks in any order at their offsets and completes only when all are present', async () => {
    const s = setup();
    s.hello();
    s.block(2); // END first: not completion
    s.block(0);
    await s.clock.advance(0);
    expect(s.receiver.state).toBe('receiving');
    s.block(1);
    await s.clock.advance(0);
    await expect(s.result).resolves.toMatchObject({ blocks: 3, size: 40, duplicates: 0, givemesSent: 0 });
    expect(s.sink.writes).toEqual([2, 0, 1]);
    expect(s.sink.target).toEqual(content);
  });

  it('ignores duplicate blocks', async () => {
    const s = setup();
    s.hello();
    s.block(0);
    s.block(0);
    s.block(1);
    s.block(2);
    await s.clock.advance(0);
    await expect(s.result).resolves.toMatchObject({ duplicates: 1 });
    expect(s.sink.writes).toEqual([0, 1, 2]);
  });

  it('logs and ignores a block past the block count instead of writing it', async () => {
    const s = setup();
    s.hello();
    s.block(5, new Uint8Array(16));
    await s.clock.advance(0);
    expect(s.sink.writes).toEqual([]);
    expect(s.receiver.state).toBe('receiving');
  });

  it('ignores blocks of another fileid and its own ACK/GIVEME heard on a shared topic', async () => {
    const s = setup();
    s.hello();
    await s.clock.advance(0);
    s.block(0, content.subarray(0, 16), 0x1234);
    s.receiver.receive(s.sent[0] as Uint8Array);
    s.receiver.receive(encode({ kind: 'giveme', fileid: FILEID, seq: 0 }));
    await s.clock.advance(0);
    expect(s.sink.writes).toEqual([]);
    expect(s.sent.length).toBe(1);
  });

  it('sends GIVEME for the first missing block after a stall, with backoff, then fails', async () => {
    const s = setup();
    s.hello();
    s.block(0);
    s.block(2);
    await s.clock.advance(499);
    expect(s.packets().filter((p) => p.kind === 'giveme')).toEqual([]);
    await s.clock.advance(1);
    expect(s.packets().at(-1)).toEqual({ kind: 'giveme', fileid: FILEID, seq: 1 });
    await s.clock.advance(1000); // 500 * 2
    await s.clock.advance(2000); // 500 * 4
    expect(s.packets().filter((p) => p.kind === 'giveme').length).toBe(3);
    const err = rejection(s.result);
    await s.clock.advance(4000);
    const e = await err;
    expect(e.code).toBe('NFTP_NO_ANSWER');
    expect(e.message).toMatch(/1 of 3 blocks .* still missing \(first: 1\)/);
    expect(s.sink.aborted).toEqual({ discard: false });
    expect(s.sink.lastSaved).toEqual(Uint8Array.from([0b101]));
  });

  it('starts counting GIVEME rounds again after progress', async () => {
    const s = setup({ maxGivemes: 2 });
    s.hello();
    await s.clock.advance(500 + 1000); // two rounds asking for 0
    s.block(0);
    await s.clock.advance(500 + 1000); // two rounds asking for 1
    s.block(1);
    s.block(2);
    await s.clock.advance(0);
    await expect(s.result).resolves.toMatchObject({ givemesSent: 4 });
  });

  it('re-ACKs a repeated HELLO for the same file without losing blocks', async () => {
    const s = setup();
    s.hello();
    s.block(0);
    s.hello({ id: 9 });
    await s.clock.advance(0);
    expect(s.packets().filter((p) => p.kind === 'ack')).toEqual([
      { kind: 'ack', id: 7, fileid: FILEID },
      { kind: 'ack', id: 9, fileid: FILEID },
    ]);
    s.block(1);
    s.block(2);
    await s.clock.advance(0);
    await expect(s.result).resolves.toMatchObject({ size: 40 });
  });

  it('does not ACK a HELLO for a different file in the middle of a transfer', async () => {
    const s = setup();
    s.hello();
    s.hello({ name: 'other.bin' });
    await s.clock.advance(0);
    expect(s.packets().filter((p) => p.kind === 'ack').length).toBe(1);
  });

  it('detects a hash mismatch, keeps the file out of the target and discards the partial data', async () => {
    const s = setup();
    s.hello({ filehash: 0x01020304 });
    s.block(0);
    s.block(1);
    s.block(2);
    await s.clock.advance(0);
    const e = await rejection(s.result);
    expect(e.code).toBe('PROTOCOL_ERROR');
    expect(e.message).toMatch(/CRC-32C is 0x[0-9a-f]{8} instead of the announced 0x01020304; it was not moved into place/);
    expect(s.sink.target).toBeUndefined();
    expect(s.sink.aborted).toEqual({ discard: true });
  });

  it('fails clearly when a block does not have the agreed block size', async () => {
    const s = setup();
    s.hello();
    s.block(0, new Uint8Array(8));
    await s.clock.advance(0);
    const e = await rejection(s.result);
    expect(e.message).toMatch(/block 0 of 3 has 8 bytes but the configured block size is 16.*sender seems to use 8/);
  });

  it('receives a 0-byte file announced as one empty END', async () => {
    const s = setup();
    s.receiver.receive(encode({ kind: 'hello', id: 1, blocks: 1, name: 'x.bin', filehash: 0 }));
    s.receiver.receive(encode({ kind: 'end', fileid: FILEID, seq: 0, content: new Uint8Array(0) }));
    await s.clock.advance(0);
    await expect(s.result).resolves.toMatchObject({ size: 0, blocks: 1 });
    expect(s.sink.target).toEqual(new Uint8Array(0));
  });

  it('resumes from the blocks the sink already has', async () => {
    const part = new Uint8Array(40);
    part.set(content.subarray(0, 16), 0);
    part.set(content.subarray(32), 32);
    const have = new NftpBitmap(3);
    have.set(0);
    have.set(2);
    const s = setup({}, new MemorySink({ part, bitmap: have }));
    s.hello();
    await s.clock.advance(500);
    expect(s.packets().at(-1)).toEqual({ kind: 'giveme', fileid: FILEID, seq: 1 });
    s.block(1);
    await s.clock.advance(0);
    await expect(s.result).resolves.toMatchObject({ resumedBlocks: 2, size: 40 });
    expect(s.sink.writes).toEqual([1]);
  });

  it('saves the bitmap every N new blocks', async () => {
    const s = setup({ checkpointEvery: 2, blockSize: 4 });
    s.receiver.receive(encode({ kind: 'hello', id: 1, blocks: 11, name: 'x.bin', filehash: crc32c(content) }));
    for (let i = 0; i < 5; i++) s.receiver.receive(encode({ kind: 'file', fileid: FILEID, seq: i, content: content.subarray(i * 4, i * 4 + 4) }));
    await s.clock.advance(0);
    expect(s.sink.savedBitmaps).toBe(2);
  });

  it('fails with NFTP_NO_ANSWER when no HELLO ever comes', async () => {
    const s = setup({ helloWaitMs: 10_000 });
    const err = rejection(s.result);
    await s.clock.advance(10_000);
    const e = await err;
    expect(e.code).toBe('NFTP_NO_ANSWER');
    expect(e.message).toMatch(/no nftp HELLO arrived/);
  });

  it('sends GIVEMEs for several missing blocks per round when asked to', async () => {
    const s = setup({ givemeBurst: 2 });
    s.hello();
    s.block(1);
    await s.clock.advance(500);
    expect(
      s
        .packets()
        .filter((p) => p.kind === 'giveme')
        .map((p) => (p.kind === 'giveme' ? p.seq : -1)),
    ).toEqual([0, 2]);
  });
});
