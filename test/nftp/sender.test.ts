import { describe, expect, it } from 'vitest';
import { FtError } from '../../src/errors';
import { decode, encode } from '../../src/protocol/nftp-codec';
import type { NftpPacket, NftpWidth } from '../../src/protocol/nftp-packets';
import { NftpSender, type NftpSenderOptions } from '../../src/transfer/nftp/nftp-sender';
import { bytesSource } from './bytes-source';
import { FakeClock } from '../helpers/fake-clock';
import { ascii, hex, toHex } from './hex';

/** A sender whose published packets are captured; the test plays the receiver. */
function setup(content: Uint8Array, options: Partial<NftpSenderOptions> & { blockSize?: number } = {}) {
  const clock = new FakeClock();
  const sent: Uint8Array[] = [];
  const blockSize = options.blockSize ?? 16;
  const source = bytesSource(content, blockSize);
  const sender = new NftpSender({
    link: { publish: async (p) => void sent.push(p.slice()) },
    source,
    clock,
    name: 'x.bin',
    helloId: 0x10,
    intervalMs: 10,
    window: 1,
    lingerMs: 1000,
    ...options,
    blockSize,
  });
  const width: NftpWidth = options.width ?? 'u16';
  const packets = (): NftpPacket[] => sent.map((b) => decode(b, { width }));
  const ack = (id = 0x10, fileid = sender.fileid) => sender.receive(encode({ kind: 'ack', id, fileid }));
  const giveme = (seq: number, fileid = sender.fileid) => sender.receive(encode({ kind: 'giveme', fileid, seq }));
  return { clock, sent, source, sender, packets, ack, giveme };
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

describe('nftp sender', () => {
  it('sends the docs/nftp.md §8 demo.txt HELLO and END byte for byte (u32 and u16)', async () => {
    const demo = ascii("It's a demo.\nIt's a demo.\n");
    for (const [width, end] of [
      ['u32', `04 00000029 7ed733c6 0000 0000001a ${toHex(demo)}`],
      ['u16', `04 00000027 7ed733c6 0000 001a ${toHex(demo)}`],
    ] as const) {
      const s = setup(demo, { name: '/home/store/demo.txt', blockSize: 32768, width });
      const done = s.sender.run();
      await s.clock.advance(0);
      expect(s.sent.map(toHex)).toEqual([toHex(hex('01 00000016 10 0001 0008 64656d6f2e747874 211c7f2b'))]);
      s.ack();
      await s.clock.advance(0);
      expect(toHex(s.sent[1] as Uint8Array)).toBe(toHex(hex(end)));
      await s.clock.advance(1000);
      await expect(done).resolves.toMatchObject({ blocks: 1, blocksSent: 1, blocksResent: 0, filehash: 0x211c7f2b, fileid: 0x7ed733c6 });
    }
  });

  it('sends FILE, FILE, END for the 40-byte x.bin with block size 16, paced by the interval', async () => {
    const s = setup(
      Uint8Array.from({ length: 40 }, (_, i) => i),
      { width: 'u32' },
    );
    void s.sender.run();
    await s.clock.advance(0);
    s.ack();
    await s.clock.advance(0);
    expect(s.packets().map((p) => p.kind)).toEqual(['hello', 'file']);
    await s.clock.advance(10);
    await s.clock.advance(10);
    expect(s.packets().map((p) => p.kind)).toEqual(['hello', 'file', 'file', 'end']);
    expect(toHex(s.sent[3] as Uint8Array)).toBe(toHex(hex('04 00000017 6c30dddd 0002 00000008 2021222324252627')));
    expect(s.sender.state).toBe('lingering');
  });

  it('ends an exact-multiple file with an empty END', async () => {
    const s = setup(new Uint8Array(32), { width: 'u32', window: 8 });
    void s.sender.run();
    await s.clock.advance(0);
    s.ack();
    await s.clock.advance(0);
    expect(toHex(s.sent[3] as Uint8Array)).toBe(toHex(hex('04 0000000f 6c30dddd 0002 00000000')));
  });

  it('sends a 0-byte file as HELLO with one block and one empty END', async () => {
    const s = setup(new Uint8Array(0));
    void s.sender.run();
    await s.clock.advance(0);
    s.ack();
    await s.clock.advance(0);
    const [hello, end] = s.packets();
    expect(hello).toMatchObject({ kind: 'hello', blocks: 1, filehash: 0 });
    expect(end).toMatchObject({ kind: 'end', seq: 0, content: new Uint8Array(0) });
  });

  it('refuses more than 65535 blocks in u16 before publishing anything', () => {
    const sent: Uint8Array[] = [];
    const make = () =>
      new NftpSender({
        link: { publish: async (p) => void sent.push(p) },
        source: { size: 65535 * 1024, readBlock: async () => new Uint8Array(0) },
        clock: new FakeClock(),
        name: 'big.bin',
        blockSize: 1024,
      });
    expect(make).toThrow(FtError);
    expect(make).toThrow(/65536 blocks and the protocol allows at most 65535; use an nftp block size of at least 1025 bytes/);
    expect(sent).toEqual([]);
  });

  it('resends HELLO a few times with backoff, then fails with NFTP_NO_ANSWER naming EMQX 5 file transfer', async () => {
    const s = setup(new Uint8Array(10), { helloTimeoutMs: 1000, helloRetries: 2 });
    const err = rejection(s.sender.run());
    await s.clock.advance(0);
    expect(s.sent.length).toBe(1);
    await s.clock.advance(1000);
    expect(s.sent.length).toBe(2);
    await s.clock.advance(1999);
    expect(s.sent.length).toBe(2); // second wait is doubled
    await s.clock.advance(1);
    expect(s.sent.length).toBe(3);
    await s.clock.advance(4000);
    const e = await err;
    expect(e.code).toBe('NFTP_NO_ANSWER');
    expect(e.message).toMatch(/nothing answered/);
    expect(e.message).toMatch(/EMQX 5 with its own file transfer enabled/);
    expect(e.message).toMatch(/\$file\//);
    expect(e.message).toMatch(/never ACKs a repeated HELLO/);
    expect(s.packets().every((p) => p.kind === 'hello')).toBe(true);
  });

  it('matches the ACK by HELLO id and ignores an ACK for another id', async () => {
    const s = setup(new Uint8Array(10));
    void s.sender.run();
    await s.clock.advance(0);
    s.ack(0x11);
    await s.clock.advance(0);
    expect(s.sender.state).toBe('hello');
    s.ack(0x10);
    await s.clock.advance(0);
    expect(s.packets().map((p) => p.kind)).toEqual(['hello', 'end']);
  });

  it('ignores its own HELLO/FILE/END heard back on a shared topic', async () => {
    const s = setup(new Uint8Array(10));
    void s.sender.run();
    await s.clock.advance(0);
    s.sender.receive(s.sent[0] as Uint8Array);
    s.sender.receive(encode({ kind: 'file', fileid: s.sender.fileid, seq: 0, content: new Uint8Array(3) }));
    await s.clock.advance(0);
    expect(s.sender.state).toBe('hello');
  });

  it('answers GIVEME during the linger by re-reading the block, END for the last one', async () => {
    const s = setup(
      Uint8Array.from({ length: 40 }, (_, i) => i),
      { window: 8, lingerMs: 1000 },
    );
    const done = s.sender.run();
    await s.clock.advance(0);
    s.ack();
    await s.clock.advance(0);
    expect(s.sender.state).toBe('lingering');
    const readsBefore = s.source.reads.length;
    s.giveme(1);
    s.giveme(2);
    await s.clock.advance(0);
    expect(s.source.reads.slice(readsBefore)).toEqual([1, 2]);
    const tail = s.packets().slice(-2);
    expect(tail[0]).toMatchObject({ kind: 'file', seq: 1 });
    expect(tail[1]).toMatchObject({ kind: 'end', seq: 2 });
    await s.clock.advance(1000);
    await expect(done).resolves.toMatchObject({ blocksSent: 3, blocksResent: 2 });
  });

  it('restarts the linger after each GIVEME answer', async () => {
    const s = setup(new Uint8Array(20), { window: 8, lingerMs: 1000 });
    void s.sender.run();
    await s.clock.advance(0);
    s.ack();
    await s.clock.advance(900);
    s.giveme(0);
    await s.clock.advance(900);
    expect(s.sender.state).toBe('lingering');
    await s.clock.advance(100);
    expect(s.sender.state).toBe('done');
  });

  it('ignores GIVEME for another fileid and for a block past the count', async () => {
    const s = setup(new Uint8Array(20), { window: 8 });
    const done = s.sender.run();
    await s.clock.advance(0);
    s.ack();
    await s.clock.advance(0);
    const count = s.sent.length;
    s.giveme(0, 0x1234);
    s.giveme(7);
    await s.clock.advance(0);
    expect(s.sent.length).toBe(count);
    await s.clock.advance(1000);
    await expect(done).resolves.toMatchObject({ blocksResent: 0 });
  });

  it('hashes the content from the source when no hash is given', async () => {
    const s = setup(Uint8Array.from({ length: 40 }, (_, i) => i));
    void s.sender.run();
    await s.clock.advance(0);
    expect(s.source.reads).toEqual([0, 1, 2]);
  });

  it('fails with SOURCE_CHANGED when a block read comes back short', async () => {
    const clock = new FakeClock();
    const sender = new NftpSender({
      link: { publish: async () => undefined },
      source: { size: 40, readBlock: async () => new Uint8Array(3) },
      clock,
      name: 'x.bin',
      blockSize: 16,
      filehash: 1,
    });
    const err = rejection(sender.run());
    await clock.advance(0);
    // helloId is random: answer all 256 ids so one matches.
    for (let id = 0; id < 256; id++) sender.receive(encode({ kind: 'ack', id, fileid: sender.fileid }));
    await clock.advance(0);
    expect((await err).code).toBe('SOURCE_CHANGED');
  });

  it('fails with DISCONNECTED when publishing fails', async () => {
    const clock = new FakeClock();
    const sender = new NftpSender({
      link: { publish: async () => Promise.reject(new Error('socket closed')) },
      source: bytesSource(new Uint8Array(4), 16),
      clock,
      name: 'x.bin',
    });
    const err = rejection(sender.run());
    await clock.advance(0);
    const e = await err;
    expect(e.code).toBe('DISCONNECTED');
    expect(e.message).toMatch(/publishing HELLO failed: socket closed/);
  });
});
