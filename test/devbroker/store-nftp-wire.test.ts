import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decode, encode } from '../../src/protocol/nftp-codec';
import type { NftpPacket } from '../../src/protocol/nftp-packets';
import { crc32c } from '../../src/devbroker/store-server/nftp/crc32c';
import { blockCount, read, write, type Packet, type Width } from '../../src/devbroker/store-server/nftp/wire';
import { createPrng } from '../../src/devbroker/prng';

const b = (hex: string): Buffer => Buffer.from(hex.replace(/\s+/g, ''), 'hex');
const abc = Buffer.from('abcdef');
const demo = Buffer.from("It's a demo.\nIt's a demo.\n");

// The same golden vectors the agent's codec is held to (docs/nftp.md): the store server's own
// codec must produce and accept exactly these bytes, written from the wire format alone.
const vectors: { bytes: string; packet: Packet; widths: Width[] }[] = [
  { bytes: '01 00000012 00 0003 0004 61622e63 7c6d8bab', packet: { type: 'HELLO', id: 0, blocks: 3, name: Buffer.from('ab.c'), filehash: 0x7c6d8bab }, widths: ['u16', 'u32'] },
  { bytes: '02 0000000a 00 7c6d8bab', packet: { type: 'ACK', id: 0, fileid: 0x7c6d8bab }, widths: ['u16', 'u32'] },
  { bytes: '03 00000015 7c6d8bab 0002 00000006 616263646566', packet: { type: 'FILE', fileid: 0x7c6d8bab, seq: 2, content: abc }, widths: ['u32'] },
  { bytes: '04 00000015 7c6d8bab 0002 00000006 616263646566', packet: { type: 'END', fileid: 0x7c6d8bab, seq: 2, content: abc }, widths: ['u32'] },
  { bytes: '03 00000013 7c6d8bab 0002 0006 616263646566', packet: { type: 'FILE', fileid: 0x7c6d8bab, seq: 2, content: abc }, widths: ['u16'] },
  { bytes: '05 0000000b 7c6d8bab 0002', packet: { type: 'GIVEME', fileid: 0x7c6d8bab, seq: 2 }, widths: ['u16', 'u32'] },
  { bytes: '01 00000016 10 0001 0008 64656d6f2e747874 211c7f2b', packet: { type: 'HELLO', id: 0x10, blocks: 1, name: Buffer.from('demo.txt'), filehash: 0x211c7f2b }, widths: ['u16'] },
  { bytes: `04 00000029 7ed733c6 0000 0000001a ${demo.toString('hex')}`, packet: { type: 'END', fileid: 0x7ed733c6, seq: 0, content: demo }, widths: ['u32'] },
  { bytes: `04 00000027 7ed733c6 0000 001a ${demo.toString('hex')}`, packet: { type: 'END', fileid: 0x7ed733c6, seq: 0, content: demo }, widths: ['u16'] },
  { bytes: '04 0000000f 6c30dddd 0002 00000000', packet: { type: 'END', fileid: 0x6c30dddd, seq: 2, content: Buffer.alloc(0) }, widths: ['u32'] },
];

describe("the store server's own nftp codec", () => {
  it('writes and reads every golden vector byte for byte', () => {
    for (const v of vectors) {
      for (const width of v.widths) {
        expect(write(v.packet, width).toString('hex'), v.bytes).toBe(b(v.bytes).toString('hex'));
        expect(read(b(v.bytes), width), v.bytes).toEqual(v.packet);
      }
    }
  });

  it('computes the CRC-32C values the vectors and nftp-codec pin', () => {
    expect(crc32c('123456789')).toBe(0xe3069283);
    expect([crc32c('small-a.txt'), crc32c('small-a.'), crc32c('small-'), crc32c('small')]).toEqual([215792439, 1639393426, 4099902165, 2128476489]);
    expect(crc32c('demo.txt')).toBe(0x7ed733c6);
    expect(crc32c(demo)).toBe(0x211c7f2b);
    expect(crc32c('x.bin')).toBe(0x6c30dddd);
    expect(crc32c('ab.c')).toBe(0x792992cd);
  });

  it('counts floor(size / blockSize) + 1 blocks: an exact multiple and a 0-byte file end with an empty END', () => {
    expect([blockCount(40, 16), blockCount(32, 16), blockCount(0, 16)]).toEqual([3, 3, 1]);
  });

  it('says why bytes are not a packet instead of reading past them', () => {
    for (const [hex, width] of [
      ['', 'u16'],
      ['01 00000012 00 0003 0004 61622e63', 'u16'],
      ['03 00000013 7c6d8bab 0002 0007 616263646566', 'u16'],
      ['03 00000015 7c6d8bab 0002 0006 616263646566', 'u16'],
      ['02 0000000b 00 7c6d8bab 00', 'u32'],
      ['09 00000005', 'u32'],
    ] as const) {
      expect(typeof read(b(hex), width), hex).toBe('string');
    }
  });

  it("agrees with the agent's codec on 2000 random packets, both ways", () => {
    const prng = createPrng(11);
    const int = (n: number): number => Math.floor(prng() * n);
    for (let i = 0; i < 2000; i++) {
      const width: Width = i % 2 === 0 ? 'u16' : 'u32';
      const bytes = Buffer.from(Array.from({ length: int(300) }, () => int(256)));
      const fileid = int(2 ** 32);
      const seq = int(65536);
      const pick = int(5);
      const ours: Packet =
        pick === 0
          ? { type: 'HELLO', id: int(256), blocks: int(65536), name: Buffer.from(bytes.toString('hex').slice(0, int(60))), filehash: fileid }
          : pick === 1
            ? { type: 'ACK', id: int(256), fileid }
            : pick === 2
              ? { type: 'GIVEME', fileid, seq }
              : { type: pick === 3 ? 'FILE' : 'END', fileid, seq, content: bytes };
      const theirs: NftpPacket =
        ours.type === 'HELLO'
          ? { kind: 'hello', id: ours.id, blocks: ours.blocks, name: ours.name.toString(), filehash: ours.filehash }
          : ours.type === 'ACK'
            ? { kind: 'ack', id: ours.id, fileid }
            : ours.type === 'GIVEME'
              ? { kind: 'giveme', fileid, seq }
              : { kind: ours.type === 'FILE' ? 'file' : 'end', fileid, seq, content: ours.content };
      const wire = write(ours, width);
      expect(Buffer.from(encode(theirs, { width })).equals(wire)).toBe(true);
      expect(decode(wire, { width })).toMatchObject({ kind: theirs.kind });
      expect(read(Buffer.from(encode(theirs, { width })), width)).toEqual(ours);
    }
  });
});

describe('the development broker as an independent nftp peer', () => {
  it("imports nothing of the agent's transfer sessions, nftp codec or CRC from its store server", () => {
    const dir = join(__dirname, '../../src/devbroker/store-server');
    const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
    expect(files.length).toBeGreaterThan(10);
    for (const f of files) {
      const imports = [...readFileSync(join(dir, f), 'utf8').matchAll(/from '([^']+)'/g)].map((m) => m[1] as string);
      const shared = imports.filter((i) => /\/transfer\/|\/protocol\/(nftp-|crc32c)/.test(i));
      expect(shared, f).toEqual([]);
    }
  });
});
