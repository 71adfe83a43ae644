/**
 * nftp block arithmetic (docs/nftp.md §3). The block size is not on the wire: both peers agree out of band.
 * The count is `floor(size / blocksize) + 1`, not a ceiling: an exact multiple (and a 0-byte file)
 * ends with an empty END block, and the C receiver completes only once it has all `blocks` of them.
 */
import { FtError } from '../errors';
import { crc32c } from './crc32c';
import { maxContentLength, type NftpWidth } from './nftp-packets';

export const defaultNftpBlockSize = 32 * 1024;
/** blocks is a u16 in HELLO and blockseq a u16 in FILE/END/GIVEME. */
const maxNftpBlocks = 0xffff;

export interface NftpBlockRange {
  offset: number;
  length: number;
}

export function nftpBlockCount(size: number, blockSize: number): number {
  return Math.floor(size / blockSize) + 1;
}

/** Block i covers `[i*bs, min(size, (i+1)*bs))`; the last one may be empty. */
export function nftpBlockRange(index: number, size: number, blockSize: number): NftpBlockRange {
  const offset = index * blockSize;
  return { offset, length: Math.max(0, Math.min(size, offset + blockSize) - offset) };
}

export interface NftpPlan {
  size: number;
  blockSize: number;
  blocks: number;
}

/**
 * Checks a block size and file size before anything is sent, with messages a person can act on.
 * Errors are CONFIG_INVALID: the fix is a setting (block size or content-length width).
 */
export function planNftpBlocks(size: number, blockSize: number, width: NftpWidth): NftpPlan {
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new FtError('SOURCE_UNREADABLE', `nftp: file size ${size} is not a byte count`);
  }
  const maxBlock = maxContentLength(width);
  if (!Number.isInteger(blockSize) || blockSize < 1 || blockSize > maxBlock) {
    throw new FtError(
      'CONFIG_INVALID',
      `nftp block size ${blockSize} is invalid: with the '${width}' content-length width it must be 1..${maxBlock} bytes` + (width === 'u16' ? ' (a u16 length cannot describe a bigger block)' : ''),
      { details: { blockSize, width } },
    );
  }
  const blocks = nftpBlockCount(size, blockSize);
  if (blocks > maxNftpBlocks) {
    // Smallest block size that keeps floor(size/bs)+1 ≤ 65535.
    const needed = Math.floor(size / maxNftpBlocks) + 1;
    const hint =
      needed <= maxBlock
        ? `use an nftp block size of at least ${needed} bytes (both sides must agree on it)`
        : `the file is too large for nftp with the '${width}' content-length width even at the largest block size`;
    throw new FtError('CONFIG_INVALID', `nftp cannot send ${size} bytes in blocks of ${blockSize}: that is ${blocks} blocks and the protocol allows at most ${maxNftpBlocks}; ${hint}`, {
      details: { size, blockSize, blocks, width, neededBlockSize: needed },
    });
  }
  return { size, blockSize, blocks };
}

/**
 * The name a sender puts in HELLO: the base name of a path (either separator, since store agents run
 * on Windows too). The receiver never uses it for placement.
 */
export function nftpBaseName(path: string): string {
  const parts = path.split(/[\\/]/);
  return parts[parts.length - 1] ?? path;
}

/** fileid = CRC-32C of the HELLO name bytes (UTF-8 of the base name); each side computes it on its own. */
export function nftpFileId(name: string | Uint8Array): number {
  return crc32c(name);
}
