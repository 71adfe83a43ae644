import { describe, expect, it } from 'vitest';
import { FtError } from '../../src/errors';
import { nftpBaseName, nftpBlockCount, nftpBlockRange, nftpFileId, planNftpBlocks } from '../../src/protocol/nftp-blocks';

describe('nftp block math (docs/nftp.md §3)', () => {
  it('counts floor(size / blocksize) + 1 blocks', () => {
    expect(nftpBlockCount(40, 16)).toBe(3);
    expect(nftpBlockCount(26, 32768)).toBe(1);
  });

  it('gives an exact multiple a trailing empty block', () => {
    expect(nftpBlockCount(32, 16)).toBe(3);
    expect(nftpBlockRange(2, 32, 16)).toEqual({ offset: 32, length: 0 });
  });

  it('gives a 0-byte file one empty block', () => {
    expect(nftpBlockCount(0, 32768)).toBe(1);
    expect(nftpBlockRange(0, 0, 32768)).toEqual({ offset: 0, length: 0 });
  });

  it('covers [i*bs, min(size, (i+1)*bs)) for block i', () => {
    expect(nftpBlockRange(0, 40, 16)).toEqual({ offset: 0, length: 16 });
    expect(nftpBlockRange(1, 40, 16)).toEqual({ offset: 16, length: 16 });
    expect(nftpBlockRange(2, 40, 16)).toEqual({ offset: 32, length: 8 });
  });

  it('defaults nothing silently: a u16 width caps the block size at 65535', () => {
    expect(planNftpBlocks(100, 65535, 'u16').blocks).toBe(1);
    expect(() => planNftpBlocks(100, 65536, 'u16')).toThrow(/must be 1..65535 bytes/);
    expect(planNftpBlocks(100, 65536, 'u32').blocks).toBe(1);
  });

  it('refuses more than 65535 blocks and names a block size that works', () => {
    const size = 65535 * 16; // floor(size/16)+1 = 65536 blocks
    let err: unknown;
    try {
      planNftpBlocks(size, 16, 'u16');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FtError);
    expect((err as FtError).code).toBe('CONFIG_INVALID');
    expect((err as FtError).message).toMatch(/65536 blocks .* at most 65535; use an nftp block size of at least 17 bytes/);
    expect(planNftpBlocks(size, 17, 'u16').blocks).toBeLessThanOrEqual(65535);
    expect(planNftpBlocks(65534 * 16 + 15, 16, 'u16').blocks).toBe(65535);
  });

  it('says when even the largest u16 block cannot carry the file', () => {
    expect(() => planNftpBlocks(65535 * 65535, 65535, 'u16')).toThrow(/too large for nftp with the 'u16' content-length width/);
  });

  it('derives the fileid from the base name only', () => {
    expect(nftpBaseName('/var/spool/demo.txt')).toBe('demo.txt');
    expect(nftpBaseName('C:\\data\\demo.txt')).toBe('demo.txt');
    expect(nftpFileId(nftpBaseName('/a/b/demo.txt'))).toBe(0x7ed733c6);
  });
});
