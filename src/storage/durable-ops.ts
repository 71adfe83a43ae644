import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { FtError, errnoCode } from '../errors';
import { DIR_MODE, FILE_MODE, TEMP_MARK, type DurableFs, type FileStat, type RawFile, type RawFs } from './durable-fs';

/**
 * The one implementation of the durable-write recipe, over any RawFs. The order matters:
 * data must be on disk before the name points at it (fsync before rename), and the rename must be
 * on disk before we report success (fsync of the directory after it).
 */
export function createDurableFs(raw: RawFs): DurableFs {
  const syncDir = async (dir: string, forPath: string): Promise<void> => {
    try {
      await raw.syncDir(dir);
    } catch (err) {
      throw mapFsError(err, forPath);
    }
  };

  return {
    async writeFileAtomic(path, data) {
      const dir = posix.dirname(path);
      const tmp = `${path}${TEMP_MARK}${process.pid}-${randomBytes(4).toString('hex')}`;
      let file: RawFile | undefined;
      try {
        file = await raw.openForWrite(tmp, FILE_MODE);
        await file.write(data);
        await file.sync();
        const open = file;
        file = undefined;
        await open.close();
        await raw.rename(tmp, path);
      } catch (err) {
        // Leave no temp file behind: on a full disk it would hold the space we need.
        if (file) await file.close().catch(() => undefined);
        await raw.unlink(tmp).catch(() => undefined);
        throw mapFsError(err, path);
      }
      await syncDir(dir, path);
    },

    async readFile(path) {
      try {
        return await raw.readFile(path);
      } catch (err) {
        if (errnoCode(err) === 'ENOENT') return undefined;
        throw err;
      }
    },

    async list(dir) {
      try {
        return (await raw.readdir(dir)).sort();
      } catch (err) {
        if (errnoCode(err) === 'ENOENT') return [];
        throw err;
      }
    },

    async remove(path) {
      try {
        await raw.unlink(path);
      } catch (err) {
        if (errnoCode(err) === 'ENOENT') return;
        throw mapFsError(err, path);
      }
      await syncDir(posix.dirname(path), path);
    },

    async rename(from, to) {
      try {
        await raw.rename(from, to);
      } catch (err) {
        throw mapFsError(err, to);
      }
      // Destination first: until the source directory is synced the file may show up in both
      // places after a power cut, which callers tolerate; showing up in neither would lose it.
      await syncDir(posix.dirname(to), to);
      if (posix.dirname(from) !== posix.dirname(to)) await syncDir(posix.dirname(from), from);
    },

    async mkdirp(dir) {
      const missing: string[] = [];
      for (let d = dir; ; d = posix.dirname(d)) {
        // ENOTDIR: some ancestor is a file; walking up finds it and reports it by name.
        const st = await statOrUndefined(raw, d).catch((err: unknown) => {
          if (errnoCode(err) === 'ENOTDIR') return undefined;
          throw err;
        });
        if (st) {
          if (st.kind !== 'dir') throw new FtError('STATE_CORRUPT', `${d} exists but is not a directory: move it away or choose another stateDir`, { details: { path: d } });
          break;
        }
        missing.unshift(d);
        if (posix.dirname(d) === d) break;
      }
      for (const d of missing) {
        try {
          await raw.mkdir(d, DIR_MODE);
        } catch (err) {
          // Another process (ftagent send while the daemon runs) may have created it meanwhile.
          if (errnoCode(err) !== 'EEXIST') throw mapFsError(err, d);
        }
        await syncDir(posix.dirname(d), d);
      }
    },

    stat: (path) => statOrUndefined(raw, path),
  };
}

async function statOrUndefined(raw: RawFs, path: string): Promise<FileStat | undefined> {
  try {
    return await raw.stat(path);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/** A full disk becomes DISK_FULL with the path and what to do; other errors pass through unchanged. */
export function mapFsError(err: unknown, path: string): unknown {
  const code = errnoCode(err);
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new FtError('DISK_FULL', `no space left to write ${path}: free space on that file system (old logs, files already sent) or set stateDir to a larger one`, {
      transient: true,
      cause: err,
      details: { path, errno: code },
    });
  }
  return err;
}
