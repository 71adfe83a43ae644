/**
 * The local file as a port: positional reads plus identity (size, mtime, inode) so that a file that
 * changes while it is being sent is caught. Tests may pass another implementation.
 */
import { read } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
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

export const nodeSourceOpener: SourceOpener = {
  async open(path: string): Promise<SourceFile> {
    let handle;
    try {
      handle = await open(path, 'r');
      const st = await handle.stat();
      if (!st.isFile()) throw Object.assign(new Error(`${basename(path)} is not a regular file`), { code: st.isDirectory() ? 'EISDIR' : 'EINVAL' });
    } catch (err) {
      await handle?.close().catch(() => undefined);
      throw sourceUnreadable(path, err);
    }
    const h = handle;
    return {
      path,
      // fs.read on the handle's fd: FileHandle.read wraps every read in more promises and objects,
      // a measurable share of the CPU an upload of small segments costs.
      read: (buffer, length, position) =>
        new Promise((resolve, reject) => {
          read(h.fd, buffer, 0, length, position, (err, bytesRead) => (err ? reject(sourceUnreadable(path, err)) : resolve(bytesRead)));
        }),
      async identity() {
        const st = await h.stat();
        return { path, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino };
      },
      close: () => h.close(),
    };
  },
};
