/**
 * The local file as a port: positional reads plus identity (size, mtime, inode) so that a file that
 * changes while it is being sent is caught. Tests may pass another implementation.
 */
import * as fs from 'node:fs';
import { open } from 'node:fs/promises';
import { FtError, errnoCode } from '../errors';

export interface SourceIdentity {
  path: string;
  size: number;
  mtimeMs: number;
  ino: number;
}

export interface SourceFile {
  readonly path: string;
  read(buffer: Buffer, length: number, position: number): Promise<number>;
  identity(): Promise<SourceIdentity>;
  close(): Promise<void>;
}

export interface SourceOpener {
  open(path: string): Promise<SourceFile>;
}

export function sameSource(a: SourceIdentity, b: SourceIdentity): boolean {
  return a.size === b.size && a.mtimeMs === b.mtimeMs && a.ino === b.ino;
}

export function describeChange(before: SourceIdentity, after: SourceIdentity): string {
  const parts: string[] = [];
  if (before.size !== after.size) parts.push(`size ${before.size} → ${after.size}`);
  if (before.mtimeMs !== after.mtimeMs) parts.push('modification time changed');
  if (before.ino !== after.ino) parts.push('replaced by another file');
  return parts.join(', ');
}

export function sourceUnreadable(path: string, err: unknown): FtError {
  const code = errnoCode(err);
  const what = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable (permission denied)' : code === 'EISDIR' ? 'is a directory' : `cannot be read (${code ?? String(err)})`;
  return new FtError('SOURCE_UNREADABLE', `${path} ${what}`, { cause: err, details: { path, errno: code } });
}

/**
 * Kernel pseudo-file systems: their files say "regular, size 0" (or a made-up size) and produce
 * bytes when read, so what is announced in `fin/{size}` would not be what is sent.
 */
const pseudoFileSystems = new Map<number, string>([
  [0x9fa0, 'procfs'],
  [0x62656572, 'sysfs'],
  [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
  [0x73636673, 'securityfs'],
]);

/**
 * What may be sent: a regular file on a real file system whose reported size is what reading it
 * gives. Refuses directories, FIFOs, devices, sockets, /proc and /sys files, and a size-0 file that
 * has content, each with SOURCE_UNREADABLE saying why. Returns the size.
 */
function inspectOpen(path: string, fd: number): number {
  const st = fs.fstatSync(fd);
  if (!st.isFile()) throw notSendable(path, `is ${kindOf(st)}, not a regular file; only regular files can be sent`);
  const type = typeof fs.statfsSync === 'function' ? fs.statfsSync(path).type : undefined;
  const pseudo = type === undefined ? undefined : pseudoFileSystems.get(type);
  if (pseudo) throw notSendable(path, `is a kernel pseudo-file (${pseudo}): its size is not known before it is read; copy it to a regular file and send that`);
  if (st.size === 0 && fs.readSync(fd, Buffer.alloc(1), 0, 1, 0) > 0) {
    throw notSendable(path, 'reports a size of 0 but has content (a generated file?); copy it to a regular file and send that');
  }
  return st.size;
}

/** `send` and `send --queue` check the file before anything else happens. Returns its size. */
export function checkSendable(path: string): number {
  let fd: number | undefined;
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer before we can say it is a FIFO.
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    return inspectOpen(path, fd);
  } catch (err) {
    throw err instanceof FtError ? err : sourceUnreadable(path, err);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function notSendable(path: string, why: string): FtError {
  return new FtError('SOURCE_UNREADABLE', `${path} ${why}`, { details: { path } });
}

function kindOf(st: fs.Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device file';
  if (st.isSocket()) return 'a socket';
  return 'a special file';
}

export const nodeSourceOpener: SourceOpener = {
  async open(path: string): Promise<SourceFile> {
    let handle;
    try {
      handle = await open(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
      inspectOpen(path, handle.fd);
    } catch (err) {
      await handle?.close().catch(() => undefined);
      throw err instanceof FtError ? err : sourceUnreadable(path, err);
    }
    const h = handle;
    return {
      path,
      // fs.read on the handle's fd: FileHandle.read wraps every read in more promises and objects,
      // a measurable share of the CPU an upload of small segments costs.
      read: (buffer, length, position) =>
        new Promise((resolve, reject) => {
          fs.read(h.fd, buffer, 0, length, position, (err, bytesRead) => (err ? reject(sourceUnreadable(path, err)) : resolve(bytesRead)));
        }),
      async identity() {
        const st = await h.stat();
        return { path, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino };
      },
      close: () => h.close(),
    };
  },
};
