import { nftpBlockRange } from '../../src/protocol/nftp-blocks';
import type { NftpSource } from '../../src/transfer/nftp/nftp-ports';

/** A source over bytes in memory that counts reads. */
export function bytesSource(content: Uint8Array, blockSize: number): NftpSource & { reads: number[] } {
  const reads: number[] = [];
  return {
    size: content.length,
    reads,
    async readBlock(index: number): Promise<Uint8Array> {
      reads.push(index);
      const { offset, length } = nftpBlockRange(index, content.length, blockSize);
      return content.slice(offset, offset + length);
    },
  };
}
