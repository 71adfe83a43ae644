/**
 * The file-backed nftp sink: blocks are written at their offsets into `<target>.part`, and the set of
 * blocks stored so far is kept beside it in `<target>.part.map`, so a later attempt of the same file
 * resumes instead of starting over (the C receiver truncates, docs/nftp.md §5).
 *
 * Order that keeps the map honest after a power cut: the .part is fsynced before the map that names its
 * blocks is (atomically, through the durable port) replaced. The CRC-32C of the whole .part is
 * recomputed by streaming it, and only a match is renamed onto the target; a mismatch never reaches
 * the target (unlike the C code, docs/nftp.md §7).
 *
 * Every file it touches is reached through a ConfinedDir walked down from the root without following
 * symlinks, so a link swapped in at any moment cannot redirect a create, open, rename or unlink out of
 * the root (docs/receive-confinement.md).
 */
import { constants as fsc } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { errnoCode, FtError } from '../../errors';
import { silentLogger, type Logger } from '../../log';
import { crc32c, crc32cFinish, crc32cInit, crc32cUpdate } from '../../protocol/crc32c';
import type { DurableFs } from '../../storage/durable-fs';
import { createNodeDurableFs } from '../../storage/node-fs';
import { ConfinedDir } from '../../storage/confined-dir';
import { NftpBitmap } from './nftp-bitmap';
import type { NftpSink, NftpSinkFinish, NftpSinkOpenInfo } from './nftp-ports';

/** The moments a file-system operation happens, for tests that race the file system at each. */
export type NftpSinkStep = 'open-part' | 'save-map' | 'rename' | 'cleanup';

export interface NftpFileSinkOptions {
  /** Final path, chosen by the caller (never from the HELLO name). */
  target: string;
  /** The directory nothing may leave (a real path). Default: the target's own folder, created if missing. */
  root?: string;
  log?: Logger;
  /** The durable-write port for the block map (temp file, fsync, rename, fsync directory). */
  durable?: DurableFs;
  /** Called right before each step touches the disk (tests race symlinks in here). */
  beforeStep?: (step: NftpSinkStep) => Promise<void>;
}

const mapVersion = 1;
const hashChunk = 64 * 1024;
/** A map for 65,535 blocks is about 11 KiB of base64; anything far larger is not ours. */
const maxMapBytes = 64 * 1024;

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
  private readonly base: string;
  private readonly durable: DurableFs;
  private dir: ConfinedDir | undefined;
  private fh: FileHandle | undefined;
  private info: NftpSinkOpenInfo | undefined;
  private readonly log: Logger;

  constructor(private readonly options: NftpFileSinkOptions) {
    this.partPath = `${options.target}.part`;
    this.mapPath = `${options.target}.part.map`;
    this.base = path.basename(options.target);
    this.durable = options.durable ?? createNodeDurableFs();
    this.log = (options.log ?? silentLogger).child({ nftpSink: options.target });
  }

  async open(info: NftpSinkOpenInfo): Promise<{ alreadyHave: NftpBitmap | null }> {
    this.info = info;
    const dir = await this.openDir(true);
    await this.step('open-part');
    const previous = await this.readMap(dir);
    if (previous && sameFile(previous, info)) {
      try {
        this.fh = await dir.openFile(this.partName, fsc.O_RDWR);
        const have = new NftpBitmap(info.blocks, Buffer.from(previous.bitmap, 'base64'));
        this.log.info({ have: have.count, blocks: info.blocks }, 'nftp: resuming a partial file');
        return { alreadyHave: have };
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') throw this.ioError(err, 'open the partial file');
      }
    }
    try {
      await this.durable.remove(dir.at(this.mapName));
      this.fh = await dir.openFile(this.partName, fsc.O_RDWR | fsc.O_CREAT);
      await this.fh.truncate(0);
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
    if (!info || !this.fh) return;
    try {
      await this.fh.datasync();
      const record: MapRecord = { v: mapVersion, ...pick(info), bitmap: Buffer.from(bitmap.toBytes()).toString('base64') };
      const body = JSON.stringify(record);
      await this.step('save-map');
      // The checksum line lets a torn or hand-edited map be detected and ignored (start over, never trust it).
      await this.durable.writeFileAtomic(this.requireDir().at(this.mapName), Buffer.from(`${body}\n${crc32c(body)}\n`, 'utf8'));
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
    const dir = this.requireDir();
    try {
      // Held open until the check below: while it is open its inode number cannot be reused by
      // something created under the .part name meanwhile.
      const ours = await fh.stat();
      await this.step('rename');
      await dir.verify();
      await this.durable.rename(dir.at(this.partName), dir.at(this.base));
      // The rename landed in the directory we walked to; if that directory moved meanwhile, the file
      // is not where it was asked for, and saying so beats a success that is not true.
      await dir.verify();
      // What now has the target's name must be the file we verified, not something swapped in under
      // the .part name (a symlink would be renamed as a link); such an entry is removed, not followed.
      const placed = await dir.lstat(this.base);
      if (!placed || !placed.isFile() || placed.dev !== ours.dev || placed.ino !== ours.ino) {
        if (placed && !placed.isDirectory()) await this.durable.remove(dir.at(this.base));
        throw new FtError('NOT_ALLOWED', `${this.partPath} was replaced while the file was being verified; nothing was moved into place`);
      }
      await this.durable.remove(dir.at(this.mapName));
    } catch (err) {
      throw this.ioError(err, 'move the received file into place');
    } finally {
      this.fh = undefined;
      await fh.close().catch(() => undefined);
      await this.closeDir();
    }
    return { verified: true, size };
  }

  async abort(options: { discard: boolean }): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close().catch(() => undefined);
    try {
      if (options.discard) {
        await this.step('cleanup');
        // Reopened (never created) when an earlier abort already let go of it: DISK_FULL discards late.
        const dir = this.dir ?? (await this.openDir(false));
        await dir.verify();
        await this.durable.remove(dir.at(this.partName));
        await this.durable.remove(dir.at(this.mapName));
      }
    } catch (err) {
      this.log.warn({ err }, 'nftp: could not remove the partial file');
    } finally {
      await this.closeDir();
    }
  }

  private get partName(): string {
    return `${this.base}.part`;
  }

  private get mapName(): string {
    return `${this.base}.part.map`;
  }

  private async openDir(create: boolean): Promise<ConfinedDir> {
    await this.closeDir();
    const folder = path.dirname(this.options.target);
    if (this.options.root === undefined && create) await this.durable.mkdirp(folder);
    this.dir = await ConfinedDir.open(this.options.root ?? folder, folder, { create, requested: this.options.target });
    return this.dir;
  }

  private async closeDir(): Promise<void> {
    const dir = this.dir;
    this.dir = undefined;
    await dir?.close();
  }

  private requireDir(): ConfinedDir {
    if (!this.dir) throw new FtError('PROTOCOL_ERROR', 'nftp file sink used before open() or after finish()');
    return this.dir;
  }

  private async step(step: NftpSinkStep): Promise<void> {
    await this.options.beforeStep?.(step);
  }

  private handle(): FileHandle {
    if (!this.fh) throw new FtError('PROTOCOL_ERROR', 'nftp file sink used before open() or after finish()');
    return this.fh;
  }

  private async readMap(dir: ConfinedDir): Promise<MapRecord | undefined> {
    let text: string;
    let fh: FileHandle | undefined;
    try {
      fh = await dir.openFile(this.mapName, fsc.O_RDONLY);
      const buf = Buffer.alloc(maxMapBytes + 1);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      if (bytesRead > maxMapBytes) throw new Error(`larger than ${maxMapBytes} bytes`);
      text = buf.subarray(0, bytesRead).toString('utf8');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return undefined;
      if (err instanceof FtError) throw err;
      this.log.warn({ err }, 'nftp: ignoring an unreadable block map; starting the file over');
      return undefined;
    } finally {
      await fh?.close().catch(() => undefined);
    }
    return parseMap(text, this.log);
  }

  private ioError(err: unknown, what: string): FtError {
    const code = errnoCode(err);
    if (code === 'ENOSPC' || code === 'EDQUOT' || (err instanceof FtError && err.code === 'DISK_FULL')) {
      return new FtError('DISK_FULL', `nftp: cannot ${what} for ${this.options.target}: the disk is full`, { transient: true, cause: err });
    }
    if (err instanceof FtError) return err;
    const reason = err instanceof Error ? err.message : String(err);
    return new FtError('PROTOCOL_ERROR', `nftp: cannot ${what} for ${this.options.target}: ${reason}`, { cause: err });
  }
}

export function createNftpFileSink(options: NftpFileSinkOptions): NftpSink {
  return new NftpFileSink(options);
}

/** A map file's record, or undefined when it is torn, damaged or of another version (start over). */
export function parseMap(text: string, log: Logger = silentLogger): MapRecord | undefined {
  const [body, sum] = text.split('\n');
  if (body === undefined || sum === undefined || String(crc32c(body)) !== sum) {
    log.warn('nftp: ignoring a damaged block map; starting the file over');
    return undefined;
  }
  try {
    const parsed = JSON.parse(body) as Partial<MapRecord> | null;
    if (typeof parsed !== 'object' || parsed === null || parsed.v !== mapVersion || typeof parsed.bitmap !== 'string') return undefined;
    return parsed as MapRecord;
  } catch {
    return undefined;
  }
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
