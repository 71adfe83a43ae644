/**
 * A directory under a receive root, opened by walking down from the root one component at a time
 * without following symlinks, and then used through its descriptor. Node has no openat(), but on
 * Linux `/proc/self/fd/<N>/<name>` resolves `<name>` inside the directory descriptor N refers to,
 * wherever that directory is now: so once the walk is done, swapping a parent for a symlink changes
 * nothing about where our creates, opens, renames and unlinks land (see docs/receive-confinement.md).
 *
 * Without /proc (not Linux) the same operations go through the directory's path, and `verify()`
 * runs before each one: a narrower guarantee, stated in the README.
 */
import { constants as fsc, existsSync, promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { errnoCode, FtError } from '../errors';

const procFd = existsSync('/proc/self/fd');
const dirFlags = fsc.O_RDONLY | fsc.O_DIRECTORY | fsc.O_NOFOLLOW;

export class ConfinedDir {
  private constructor(
    private fh: FileHandle | undefined,
    /** The directory's real path as it was when walked to (inside `root`). */
    readonly path: string,
    private readonly requested: string,
  ) {}

  /**
   * Walks from `root` (a real path, trusted) down to `dir`, refusing symlinks and non-directories on
   * the way. `create` makes missing directories (each one inside the one just opened).
   */
  static async open(root: string, dir: string, options: { create: boolean; requested?: string }): Promise<ConfinedDir> {
    const requested = options.requested ?? dir;
    const rel = path.relative(root, dir);
    if (rel.startsWith('..') || path.isAbsolute(rel)) throw notAllowed(requested, `${dir} is not inside the root ${root}`);
    let current = new ConfinedDir(await openDir(root, root, requested), root, requested);
    for (const part of rel === '' ? [] : rel.split(path.sep)) {
      try {
        if (options.create)
          await fs.mkdir(current.at(part)).catch((err: unknown) => {
            if (errnoCode(err) !== 'EEXIST') throw err;
          });
        const child = new ConfinedDir(await openDir(current.at(part), path.join(current.path, part), requested), path.join(current.path, part), requested);
        await current.close();
        current = child;
      } catch (err) {
        await current.close();
        throw err instanceof FtError ? err : ioNotAllowed(requested, err);
      }
    }
    return current;
  }

  /** A path that reaches `name` inside this directory (never through a path component we did not walk). */
  at(name: string): string {
    if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
      throw notAllowed(this.requested, `${JSON.stringify(name)} is not a plain file name`);
    }
    if (!this.fh) throw new FtError('PROTOCOL_ERROR', `the directory ${this.path} is already closed`);
    return procFd ? `/proc/self/fd/${this.fh.fd}/${name}` : path.join(this.path, name);
  }

  /**
   * The directory is still the one we walked to, at the same place: its descriptor and its path name
   * the same inode, and (on Linux) the kernel's name for the descriptor is the expected path.
   * Fails NOT_ALLOWED when a parent was renamed or swapped for a symlink since.
   */
  async verify(): Promise<void> {
    const fh = this.handle();
    const [mine, there] = await Promise.all([fh.stat(), fs.lstat(this.path).catch(() => undefined)]);
    const where = procFd ? await fs.readlink(`/proc/self/fd/${fh.fd}`).catch(() => '') : this.path;
    if (!there || !there.isDirectory() || there.dev !== mine.dev || there.ino !== mine.ino || where !== this.path) {
      throw notAllowed(this.requested, `the directory ${this.path} was moved or replaced while the file was being received`);
    }
  }

  /**
   * Opens `name` in this directory with O_NOFOLLOW and checks it is a regular file with one link (a
   * hard link to a file elsewhere would let writes reach it). Never truncates on open: a caller that
   * wants an empty file truncates after the checks.
   */
  async openFile(name: string, flags: number, mode = 0o666): Promise<FileHandle> {
    if (!procFd) await this.verify();
    let fh: FileHandle;
    try {
      // O_NONBLOCK: a FIFO planted under the name must not hang the open.
      fh = await fs.open(this.at(name), (flags & ~fsc.O_TRUNC) | fsc.O_NOFOLLOW | fsc.O_NONBLOCK, mode);
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ELOOP' || code === 'EMLINK') throw notAllowed(this.requested, `${path.join(this.path, name)} is a symlink; it is not written through`);
      throw err;
    }
    const st = await fh.stat();
    if (!st.isFile() || st.nlink !== 1) {
      await fh.close().catch(() => undefined);
      const why = st.isFile() ? `has ${st.nlink} hard links (one may lead out of the root)` : 'is not a regular file';
      throw notAllowed(this.requested, `${path.join(this.path, name)} ${why}`);
    }
    return fh;
  }

  /** The entry's type without following it, or undefined when nothing is there. */
  async lstat(name: string): Promise<import('node:fs').Stats | undefined> {
    if (!procFd) await this.verify();
    return fs.lstat(this.at(name)).catch((err: unknown) => {
      if (errnoCode(err) === 'ENOENT') return undefined;
      throw err;
    });
  }

  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close().catch(() => undefined);
  }

  private handle(): FileHandle {
    if (!this.fh) throw new FtError('PROTOCOL_ERROR', `the directory ${this.path} is already closed`);
    return this.fh;
  }
}

async function openDir(at: string, shown: string, requested: string): Promise<FileHandle> {
  try {
    return await fs.open(at, dirFlags);
  } catch (err) {
    const code = errnoCode(err);
    // With O_DIRECTORY, Linux reports a symlink as ENOTDIR; lstat tells the two apart for the message.
    const link =
      code === 'ENOTDIR' &&
      (await fs.lstat(at).then(
        (st) => st.isSymbolicLink(),
        () => false,
      ));
    if (code === 'ELOOP' || code === 'EMLINK' || link) throw notAllowed(requested, `${shown} is a symlink; receive paths never pass through one`);
    if (code === 'ENOTDIR') throw notAllowed(requested, `${shown} is not a directory`);
    throw err;
  }
}

function ioNotAllowed(requested: string, err: unknown): unknown {
  const code = errnoCode(err);
  if (code === 'ENOENT') return notAllowed(requested, 'a directory on its way disappeared while it was being opened');
  return err;
}

function notAllowed(requested: string, why: string): FtError {
  return new FtError('NOT_ALLOWED', `path ${JSON.stringify(requested)} is not allowed: ${why}`, { details: { path: requested } });
}
