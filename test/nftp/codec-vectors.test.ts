import { describe, expect, it } from 'vitest';
import { decode, encode } from '../../src/protocol/nftp-codec';
import type { NftpPacket, NftpWidth } from '../../src/protocol/nftp-packets';
import { ascii, hex, toHex } from './hex';

interface Vector {
  title: string;
  bytes: string;
  packet: NftpPacket;
  widths: NftpWidth[];
}

const abc = ascii('abcdef');
const demo = ascii("It's a demo.\nIt's a demo.\n");
const x40 = Uint8Array.from({ length: 40 }, (_, i) => i);

// docs/nftp.md §8: the repository vectors (fileid 0x7C6D8BAB is a leftover DJB hash; the codec does not care),
// the derived demo.txt vectors and the x.bin block-size-16 cases. Blocks are given in both widths.
const vectors: Vector[] = [
  {
    title: 'repo HELLO',
    bytes: '01 00000012 00 0003 0004 61622e63 7c6d8bab',
    packet: { kind: 'hello', id: 0, blocks: 3, name: 'ab.c', filehash: 0x7c6d8bab },
    widths: ['u16', 'u32'],
  },
  { title: 'repo ACK', bytes: '02 0000000a 00 7c6d8bab', packet: { kind: 'ack', id: 0, fileid: 0x7c6d8bab }, widths: ['u16', 'u32'] },
  {
    title: 'repo FILE (u32)',
    bytes: '03 00000015 7c6d8bab 0002 00000006 616263646566',
    packet: { kind: 'file', fileid: 0x7c6d8bab, seq: 2, content: abc },
    widths: ['u32'],
  },
  {
    title: 'repo FILE (u16)',
    bytes: '03 00000013 7c6d8bab 0002 0006 616263646566',
    packet: { kind: 'file', fileid: 0x7c6d8bab, seq: 2, content: abc },
    widths: ['u16'],
  },
  {
    title: 'repo END (u32)',
    bytes: '04 00000015 7c6d8bab 0002 00000006 616263646566',
    packet: { kind: 'end', fileid: 0x7c6d8bab, seq: 2, content: abc },
    widths: ['u32'],
  },
  {
    title: 'repo END (u16)',
    bytes: '04 00000013 7c6d8bab 0002 0006 616263646566',
    packet: { kind: 'end', fileid: 0x7c6d8bab, seq: 2, content: abc },
    widths: ['u16'],
  },
  { title: 'repo GIVEME', bytes: '05 0000000b 7c6d8bab 0002', packet: { kind: 'giveme', fileid: 0x7c6d8bab, seq: 2 }, widths: ['u16', 'u32'] },
  {
    title: 'demo.txt HELLO id 0x10',
    bytes: '01 00000016 10 0001 0008 64656d6f2e747874 211c7f2b',
    packet: { kind: 'hello', id: 0x10, blocks: 1, name: 'demo.txt', filehash: 0x211c7f2b },
    widths: ['u16', 'u32'],
  },
  { title: 'demo.txt ACK', bytes: '02 0000000a 10 7ed733c6', packet: { kind: 'ack', id: 0x10, fileid: 0x7ed733c6 }, widths: ['u16', 'u32'] },
  {
    title: 'demo.txt END u32',
    bytes: `04 00000029 7ed733c6 0000 0000001a ${toHex(demo)}`,
    packet: { kind: 'end', fileid: 0x7ed733c6, seq: 0, content: demo },
    widths: ['u32'],
  },
  {
    title: 'demo.txt END u16',
    bytes: `04 00000027 7ed733c6 0000 001a ${toHex(demo)}`,
    packet: { kind: 'end', fileid: 0x7ed733c6, seq: 0, content: demo },
    widths: ['u16'],
  },
  { title: 'demo.txt GIVEME 0', bytes: '05 0000000b 7ed733c6 0000', packet: { kind: 'giveme', fileid: 0x7ed733c6, seq: 0 }, widths: ['u16', 'u32'] },
  {
    title: 'x.bin 40 B: 8-byte END u32',
    bytes: `04 00000017 6c30dddd 0002 00000008 ${toHex(x40.subarray(32))}`,
    packet: { kind: 'end', fileid: 0x6c30dddd, seq: 2, content: x40.slice(32) },
    widths: ['u32'],
  },
  {
    title: 'x.bin 40 B: 8-byte END u16',
    bytes: `04 00000015 6c30dddd 0002 0008 ${toHex(x40.subarray(32))}`,
    packet: { kind: 'end', fileid: 0x6c30dddd, seq: 2, content: x40.slice(32) },
    widths: ['u16'],
  },
  {
    title: 'x.bin 32 B: empty END u32',
    bytes: '04 0000000f 6c30dddd 0002 00000000',
    packet: { kind: 'end', fileid: 0x6c30dddd, seq: 2, content: new Uint8Array(0) },
    widths: ['u32'],
  },
  {
    title: 'x.bin 32 B: empty END u16',
    bytes: '04 0000000d 6c30dddd 0002 0000',
    packet: { kind: 'end', fileid: 0x6c30dddd, seq: 2, content: new Uint8Array(0) },
    widths: ['u16'],
  },
];

describe('nftp codec golden vectors (docs/nftp.md §8)', () => {
  for (const v of vectors) {
    for (const width of v.widths) {
      it(`encodes ${v.title} byte for byte (${width})`, () => {
        expect(toHex(encode(v.packet, { width }))).toBe(toHex(hex(v.bytes)));
      });

      it(`decodes ${v.title} (${width}) and re-encodes the same bytes`, () => {
        const decoded = decode(hex(v.bytes), { width });
        const { nameBytes: _ignored, ...plain } = decoded as NftpPacket & { nameBytes?: Uint8Array };
        expect(plain).toEqual(v.packet);
        expect(toHex(encode(decoded, { width }))).toBe(toHex(hex(v.bytes)));
      });
    }
  }

  it('keeps non-UTF-8 name bytes exact through a round trip', () => {
    const bytes = hex('01 00000010 07 0001 0002 ff fe 00000000');
    const packet = decode(bytes);
    expect(packet.kind === 'hello' && toHex(packet.nameBytes ?? new Uint8Array(0))).toBe('fffe');
    expect(toHex(encode(packet))).toBe(toHex(bytes));
  });

  it('encodes a UTF-8 name by its bytes', () => {
    const bytes = encode({ kind: 'hello', id: 1, blocks: 1, name: 'é.txt', filehash: 0 });
    expect(toHex(bytes.subarray(8, 10))).toBe('0006');
    expect(toHex(bytes.subarray(10, 16))).toBe(toHex(Buffer.from('é.txt', 'utf8')));
  });
});
