import { describe, expect, it } from 'vitest';
import { crc32c, crc32cFinish, crc32cInit, crc32cUpdate } from '../../src/protocol/crc32c';
import { prng, randomBytes } from './prng';

/** Byte-at-a-time reference, independent of the sliced tables. */
function slowCrc32c(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

describe('crc32c', () => {
  it('gives the standard check value for "123456789"', () => {
    expect(crc32c('123456789')).toBe(0xe3069283);
  });

  it('matches the nftp-codec test/hash.c values (docs/nftp.md §8)', () => {
    expect(crc32c('small-a.txt')).toBe(215792439);
    expect(crc32c('small-a.')).toBe(1639393426);
    expect(crc32c('small-')).toBe(4099902165);
    expect(crc32c('small')).toBe(2128476489);
  });

  it('gives the derived fileids and filehash of docs/nftp.md §8', () => {
    expect(crc32c('demo.txt')).toBe(0x7ed733c6);
    expect(crc32c("It's a demo.\nIt's a demo.\n")).toBe(0x211c7f2b);
    expect(crc32c('x.bin')).toBe(0x6c30dddd);
    expect(crc32c('ab.c')).toBe(0x792992cd);
  });

  it('is 0 for no bytes', () => {
    expect(crc32c(new Uint8Array(0))).toBe(0);
  });

  it('hashes incrementally to the same value however the input is split', () => {
    const rand = prng(7);
    for (let round = 0; round < 50; round++) {
      const data = randomBytes(rand, Math.floor(rand() * 300));
      let s = crc32cInit();
      let i = 0;
      while (i < data.length) {
        const n = Math.floor(rand() * 20);
        s = crc32cUpdate(s, data.subarray(i, i + n));
        i += n;
      }
      expect(crc32cFinish(s)).toBe(slowCrc32c(data));
      expect(crc32c(data)).toBe(slowCrc32c(data));
    }
  });

  it('works on a subarray with an unaligned offset', () => {
    const data = randomBytes(prng(3), 1000);
    expect(crc32c(data.subarray(3, 997))).toBe(slowCrc32c(data.slice(3, 997)));
  });
});
