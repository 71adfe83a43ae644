/**
 * The file-backed nftp sink: blocks are written at their offsets into `<target>.part`, and the set of
 * blocks stored so far is kept beside it in `<target>.part.map`, so a later attempt of the same file
 * resumes instead of starting over (the C receiver truncates, docs/nftp.md §5).
 *
 * Order that keeps the map honest after a power cut: the .part is fsynced before the map that names its
 * blocks is (atomically) replaced. The CRC-32C of the whole .part is recomputed by streaming it, and only
 * a match is renamed onto the target; a mismatch never reaches the target (unlike the C code, docs/nftp.md §7).
 */
import { promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { errnoCode, FtError } from '../errors';
import { silentLogger, type Logger } from '../log';
import { crc32c, crc32cFinish, crc32cInit, crc32cUpdate } from '../protocol/crc32c';
import { NftpBitmap } from './nftp-bitmap';
import type { NftpSink, NftpSinkFinish, NftpSinkOpenInfo } from './nftp-ports';

export interface NftpFileSinkOptions {
  /** Final path, chosen by the caller (never from the HELLO name). */
  target: string;
  log?: Logger;
}

const mapVersion = 1;
const hashChunk = 64 * 1024;

interface MapRecord {
  v: number;
  name: string;
  blocks: number;
  filehash: number;
  blockSize: number;
  bitmap: string; // base64
}

export class NftpFileSink implements NftpSink {
  readonly partPath: string;
  readonly mapPath: string;
  private fh: FileHandle | undefined;
  private info: NftpSinkOpenInfo | undefined;
  private readonly log: Logger;

  constructor(private readonly options: NftpFileSinkOptions) {
    this.partPath = `${options.target}.part`;
    this.mapPath = `${options.target}.part.map`;
    this.log = (options.log ?? silentLogger).child({ nftpSink: options.target });
  }

  async open(info: NftpSinkOpenInfo): Promise<{ alreadyHave: NftpBitmap | null }> {
    this.info = info;
    await fs.mkdir(path.dirname(this.options.target), { recursive: true });
    const previous = await this.readMap();
    if (previous && sameFile(previous, info)) {
      try {
        this.fh = await fs.open(this.partPath, 'r+');
        const have = new NftpBitmap(info.blocks, Buffer.from(previous.bitmap, 'base64'));
        this.log.info({ have: have.count, blocks: info.blocks }, 'nftp: resuming a partial file');
        return { alreadyHave: have };
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') throw this.ioError(err, 'open the partial file');
      }
    }
    await this.removeQuietly(this.mapPath);
    try {
      this.fh = await fs.open(this.partPath, 'w+');
    } catch (err) {
      throw this.ioError(err, 'create the partial file');
    }
    return { alreadyHave: null };
  }

  async writeBlock(seq: number, offset: number, bytes: Uint8Array): Promise<void> {
    const fh = this.handle();
    let done = 0;
    try {
      while (done < bytes.length) {
        const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, offset + done);
        done += bytesWritten;
      }
    } catch (err) {
      throw this.ioError(err, `write block ${seq}`);
    }
  }

  async saveBitmap(bitmap: NftpBitmap): Promise<void> {
    const info = this.info;
    if (!info) return;
    try {
      await this.handle().datasync();
      const record: MapRecord = { v: mapVersion, ...pick(info), bitmap: Buffer.from(bitmap.toBytes()).toString('base64') };
      const body = JSON.stringify(record);
      // The checksum line lets a torn or hand-edited map be detected and ignored (start over, never trust it).
      await writeFileAtomic(this.mapPath, `${body}\n${crc32c(body)}\n`);
    } catch (err) {
      throw this.ioError(err, 'save the block map');
    }
  }

  async finish(expected: { filehash: number }): Promise<NftpSinkFinish> {
    const fh = this.handle();
    let size: number;
    let actualHash: number;
    try {
      await fh.sync();
      size = (await fh.stat()).size;
      actualHash = await hashHandle(fh, size);
    } catch (err) {
      throw this.ioError(err, 'verify the received file');
    }
    if (actualHash !== expected.filehash) return { verified: false, size, actualHash };
    try {
      await fh.close();
      this.fh = undefined;
      await fs.rename(this.partPath, this.options.target);
      await syncDir(path.dirname(this.options.target));
      await this.removeQuietly(this.mapPath);
    } catch (err) {
      throw this.ioError(err, 'move the received file into place');
    }
    return { verified: true, size };
  }

  async abort(options: { discard: boolean }): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close().catch(() => undefined);
    if (options.discard) {
      await this.removeQuietly(this.partPath);
      await this.removeQuietly(this.mapPath);
    }
  }

  private handle(): FileHandle {
    if (!this.fh) throw new FtError('PROTOCOL_ERROR', 'nftp file sink used before open() or after finish()');
    return this.fh;
  }

  private async readMap(): Promise<MapRecord | undefined> {
    let text: string;
    try {
      text = await fs.readFile(this.mapPath, 'utf8');
    } catch {
      return undefined;
    }
    const [body, sum] = text.split('\n');
    if (body === undefined || sum === undefined || String(crc32c(body)) !== sum) {
      this.log.warn('nftp: ignoring a damaged block map; starting the file over');
      return undefined;
    }
    try {
      const parsed = JSON.parse(body) as Partial<MapRecord>;
      if (parsed.v !== mapVersion || typeof parsed.bitmap !== 'string') return undefined;
      return parsed as MapRecord;
    } catch {
      return undefined;
    }
  }

  private async removeQuietly(p: string): Promise<void> {
    await fs.rm(p, { force: true }).catch(() => undefined);
  }

  private ioError(err: unknown, what: string): FtError {
    if (err instanceof FtError) return err;
    const code = errnoCode(err);
    const reason = err instanceof Error ? err.message : String(err);
    if (code === 'ENOSPC') {
      return new FtError('DISK_FULL', `nftp: cannot ${what} for ${this.options.target}: the disk is full`, { transient: true, cause: err });
    }
    return new FtError('PROTOCOL_ERROR', `nftp: cannot ${what} for ${this.options.target}: ${reason}`, { cause: err });
  }
}

export function createNftpFileSink(options: NftpFileSinkOptions): NftpSink {
  return new NftpFileSink(options);
}

function pick(info: NftpSinkOpenInfo): Omit<MapRecord, 'v' | 'bitmap'> {
  return { name: info.name, blocks: info.blocks, filehash: info.filehash, blockSize: info.blockSize };
}

function sameFile(m: MapRecord, info: NftpSinkOpenInfo): boolean {
  return m.name === info.name && m.blocks === info.blocks && m.filehash === info.filehash && m.blockSize === info.blockSize;
}

async function hashHandle(fh: FileHandle, size: number): Promise<number> {
  const buf = new Uint8Array(Math.min(hashChunk, Math.max(1, size)));
  let state = crc32cInit();
  let pos = 0;
  while (pos < size) {
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - pos), pos);
    if (bytesRead === 0) break;
    state = crc32cUpdate(state, buf.subarray(0, bytesRead));
    pos += bytesRead;
  }
  return crc32cFinish(state);
}

/** tmp → fsync → rename → fsync dir, so the map is either the old one or the new one after a crash. */
async function writeFileAtomic(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp`;
  const fh = await fs.open(tmp, 'w');
  try {
    await fh.writeFile(text, 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.rename(tmp, file);
  await syncDir(path.dirname(file));
}

async function syncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await fs.open(dir, 'r');
    await fh.sync();
  } catch {
    // Some platforms (Windows) cannot open or fsync a directory; the rename is still atomic there.
  } finally {
    await fh?.close().catch(() => undefined);
  }
}
