/** Reads nftp blocks of a file on demand with positional reads: memory stays at one block per read. */
import { promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { errnoCode, FtError } from '../../errors';
import { nftpBlockRange } from '../../protocol/nftp-blocks';
import type { NftpSource } from './nftp-ports';

export interface NftpFileSource extends NftpSource {
  close(): Promise<void>;
}

export async function openNftpFileSource(file: string, blockSize: number): Promise<NftpFileSource> {
  let fh: FileHandle;
  let size: number;
  try {
    fh = await fs.open(file, 'r');
    size = (await fh.stat()).size;
  } catch (err) {
    const reason = errnoCode(err) === 'ENOENT' ? 'it does not exist' : err instanceof Error ? err.message : String(err);
    throw new FtError('SOURCE_UNREADABLE', `cannot read ${file} for nftp: ${reason}`, { cause: err });
  }
  return {
    size,
    async readBlock(index: number): Promise<Uint8Array> {
      const { offset, length } = nftpBlockRange(index, size, blockSize);
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await fh.read(out, done, length - done, offset + done);
        if (bytesRead === 0) throw new FtError('SOURCE_CHANGED', `${file} became shorter while it was being sent`);
        done += bytesRead;
      }
      return out;
    },
    close: () => fh.close(),
  };
}
