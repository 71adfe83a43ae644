import { describe, expect, it } from 'vitest';
import { FtError } from '../../src/errors';
import { decode, encode } from '../../src/protocol/nftp-codec';
import type { NftpPacket, NftpWidth } from '../../src/protocol/nftp-packets';
import { hex } from './hex';
import { prng, randomBytes } from './prng';

function decodeError(bytes: Uint8Array, options: { width?: NftpWidth; blocks?: number } = {}): FtError {
  try {
    decode(bytes, options);
  } catch (err) {
    if (err instanceof FtError) return err;
    throw new Error(`decode threw something other than FtError: ${String(err)}`);
  }
  throw new Error('decode accepted a malformed packet');
}

describe('nftp decode rejects malformed packets with NFTP_DECODE', () => {
  const cases: [string, string, RegExp, NftpWidth?][] = [
    ['an empty buffer', '', /shorter than the 5-byte header/],
    ['a buffer shorter than the header', '01 0000', /shorter than the 5-byte header/],
    ['a Length larger than the payload', '02 0000000b 00 7c6d8bab', /Length field says 11 bytes but the payload has 10/],
    ['a Length smaller than the payload', '02 00000009 00 7c6d8bab', /Length field says 9 bytes but the payload has 10/],
    ['an unknown type', '09 00000005', /unknown packet type 0x09/],
    ['type 0', '00 00000005', /unknown packet type 0x00/],
    ['a HELLO shorter than its fixed part', '01 0000000d 00 0001 0000 000000', /shorter than the minimum 14/],
    ['a HELLO whose name runs past the buffer', '01 00000012 00 0003 0009 61622e63 7c6d8bab', /name length 9 does not fit/],
    ['a HELLO with bytes after the hash', '01 00000013 00 0003 0004 61622e63 7c6d8bab 00', /name length 4 does not fit/],
    ['an ACK of the wrong size', '02 0000000b 00 7c6d8bab 00', /ACK must be 10 bytes/],
    ['a FILE whose content runs past the buffer (u32)', '03 00000015 7c6d8bab 0002 00000007 616263646566', /content length 7 does not fit/, 'u32'],
    ['a FILE whose content runs past the buffer (u16)', '03 00000013 7c6d8bab 0002 0007 616263646566', /content length 7 does not fit/, 'u16'],
    ['a FILE with a huge u32 content length', '03 00000015 7c6d8bab 0002 ffffffff 616263646566', /content length 4294967295/, 'u32'],
    ['an END shorter than its fixed part (u32)', '04 0000000e 7c6d8bab 0002 000000', /shorter than the minimum 15/, 'u32'],
    ['a u32 FILE read as u16', '03 00000015 7c6d8bab 0002 00000006 616263646566', /other content-length width/, 'u16'],
    ['a GIVEME of the wrong size', '05 0000000c 7c6d8bab 0002 00', /GIVEME must be 11 bytes/],
  ];
  for (const [title, bytes, message, width] of cases) {
    it(`rejects ${title}`, () => {
      const err = decodeError(hex(bytes), width ? { width } : {});
      expect(err.code).toBe('NFTP_DECODE');
      expect(err.message).toMatch(message);
    });
  }

  it('rejects a FILE blockseq past the block count when the count is known', () => {
    const bytes = encode({ kind: 'file', fileid: 1, seq: 3, content: new Uint8Array(2) });
    expect(decode(bytes, { blocks: 4 }).kind).toBe('file');
    expect(decodeError(bytes, { blocks: 3 }).message).toMatch(/blockseq 3 is past the block count 3/);
  });

  it('rejects a GIVEME blockseq past the block count when the count is known', () => {
    const bytes = encode({ kind: 'giveme', fileid: 1, seq: 5 });
    expect(decodeError(bytes, { blocks: 5 }).message).toMatch(/GIVEME blockseq 5 is past the block count 5/);
  });

  it('refuses to encode a content too long for the u16 width', () => {
    expect(() => encode({ kind: 'file', fileid: 1, seq: 0, content: new Uint8Array(65536) }, { width: 'u16' })).toThrow(/outside 0..65535/);
    expect(encode({ kind: 'file', fileid: 1, seq: 0, content: new Uint8Array(65536) }, { width: 'u32' }).length).toBe(65536 + 15);
  });

  it('refuses to encode a HELLO id that is not a byte', () => {
    expect(() => encode({ kind: 'hello', id: 256, blocks: 1, name: 'a', filehash: 0 })).toThrow(/HELLO id 256/);
  });
});

describe('nftp decode fuzz', () => {
  const seeds: NftpPacket[] = [
    { kind: 'hello', id: 3, blocks: 9, name: 'report.csv', filehash: 0xdeadbeef },
    { kind: 'ack', id: 3, fileid: 0x12345678 },
    { kind: 'file', fileid: 0x12345678, seq: 4, content: Uint8Array.from({ length: 40 }, (_, i) => i) },
    { kind: 'end', fileid: 0x12345678, seq: 8, content: new Uint8Array(0) },
    { kind: 'giveme', fileid: 0x12345678, seq: 2 },
  ];

  function mutate(rand: () => number, input: Uint8Array): Uint8Array {
    let b = input.slice();
    const ops = 1 + Math.floor(rand() * 3);
    for (let k = 0; k < ops; k++) {
      const op = Math.floor(rand() * 5);
      const at = Math.floor(rand() * (b.length + 1));
      if (op === 0 && b.length > 0)
        b[at % b.length] = Math.floor(rand() * 256); // flip a byte
      else if (op === 1)
        b = b.slice(0, at); // truncate
      else if (op === 2)
        b = Uint8Array.from([...b, ...randomBytes(rand, 1 + Math.floor(rand() * 8))]); // extend
      else if (op === 3 && b.length >= 5)
        new DataView(b.buffer).setUint32(1, b.length + Math.floor(rand() * 5) - 2); // near-miss Length
      else if (op === 4 && b.length >= 13) b[11 + Math.floor(rand() * 2)] = 0xff; // big length fields
    }
    return b;
  }

  it('never lets anything but FtError NFTP_DECODE escape, over random and mutated inputs', () => {
    const rand = prng(0x5eed);
    let accepted = 0;
    let rejected = 0;
    for (let i = 0; i < 4000; i++) {
      const width: NftpWidth = rand() < 0.5 ? 'u16' : 'u32';
      const seed = seeds[i % seeds.length] as NftpPacket;
      const bytes = rand() < 0.3 ? randomBytes(rand, Math.floor(rand() * 40)) : mutate(rand, encode(seed, { width }));
      const blocks = rand() < 0.5 ? Math.floor(rand() * 12) : undefined;
      try {
        const packet = decode(bytes, blocks === undefined ? { width } : { width, blocks });
        // Whatever decodes must re-encode to exactly the same bytes (no silent reinterpretation).
        expect(Buffer.from(encode(packet, { width })).equals(Buffer.from(bytes))).toBe(true);
        accepted++;
      } catch (err) {
        expect(err).toBeInstanceOf(FtError);
        expect((err as FtError).code).toBe('NFTP_DECODE');
        rejected++;
      }
    }
    // Both paths must be exercised for the loop to mean anything.
    expect(accepted).toBeGreaterThan(100);
    expect(rejected).toBeGreaterThan(1000);
  });
});
