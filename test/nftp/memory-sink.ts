import { crc32c } from '../../src/protocol/crc32c';
import { NftpBitmap } from '../../src/transfer/nftp/nftp-bitmap';
import type { NftpSink, NftpSinkFinish, NftpSinkOpenInfo } from '../../src/transfer/nftp/nftp-ports';

/** An in-memory sink: records every call so tests can check what the receiver did. */
export class MemorySink implements NftpSink {
  part = new Uint8Array(0);
  extent = 0;
  opened: NftpSinkOpenInfo | undefined;
  writes: number[] = [];
  savedBitmaps = 0;
  lastSaved: Uint8Array | undefined;
  /** The file "moved into place"; set only after a matching hash. */
  target: Uint8Array | undefined;
  aborted: { discard: boolean } | undefined;

  constructor(private readonly resume?: { part: Uint8Array; bitmap: NftpBitmap }) {
    if (resume) {
      this.part = resume.part.slice();
      this.extent = resume.part.length;
    }
  }

  async open(info: NftpSinkOpenInfo): Promise<{ alreadyHave: NftpBitmap | null }> {
    this.opened = info;
    return { alreadyHave: this.resume?.bitmap ?? null };
  }

  async writeBlock(seq: number, offset: number, bytes: Uint8Array): Promise<void> {
    this.writes.push(seq);
    const end = offset + bytes.length;
    if (end > this.part.length) {
      const grown = new Uint8Array(Math.max(end, this.part.length * 2));
      grown.set(this.part);
      this.part = grown;
    }
    this.part.set(bytes, offset);
    this.extent = Math.max(this.extent, end);
  }

  async saveBitmap(bitmap: NftpBitmap): Promise<void> {
    this.savedBitmaps++;
    this.lastSaved = bitmap.toBytes();
  }

  async finish(expected: { filehash: number }): Promise<NftpSinkFinish> {
    const content = this.part.slice(0, this.extent);
    const actualHash = crc32c(content);
    if (actualHash !== expected.filehash) return { verified: false, size: content.length, actualHash };
    this.target = content;
    return { verified: true, size: content.length };
  }

  async abort(options: { discard: boolean }): Promise<void> {
    this.aborted = options;
    if (options.discard) {
      this.part = new Uint8Array(0);
      this.extent = 0;
    }
  }
}
