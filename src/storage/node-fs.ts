import { constants } from 'node:fs';
import * as fsp from 'node:fs/promises';
import type { DurableFs, FileStat, RawFile, RawFs } from './durable-fs';
import { createDurableFs } from './durable-ops';

/** RawFs over node:fs/promises. Node 18 has no `flush` option on writeFile, hence explicit sync(). */
const nodeRawFs: RawFs = {
  async openForWrite(path, mode) {
    // Only ever a fresh temp name with a random part: O_EXCL | O_NOFOLLOW so a file or symlink planted
    // under that name is never written through.
    const handle = await fsp.open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
    const file: RawFile = {
      async write(data) {
        // FileHandle.write may write less than asked (signals, pipes); loop until all is written.
        let offset = 0;
        while (offset < data.length) {
          const { bytesWritten } = await handle.write(data, offset, data.length - offset);
          offset += bytesWritten;
        }
      },
      sync: () => handle.sync(),
      close: () => handle.close(),
    };
    return file;
  },

  readFile: async (path) => new Uint8Array(await fsp.readFile(path)),
  readdir: (path) => fsp.readdir(path),

  async stat(path) {
    const st = await fsp.stat(path);
    const result: FileStat = {
      kind: st.isFile() ? 'file' : st.isDirectory() ? 'dir' : 'other',
      size: st.size,
      mtimeMs: st.mtimeMs,
      ino: st.ino,
      mode: st.mode & 0o777,
    };
    return result;
  },

  async mkdir(path, mode) {
    await fsp.mkdir(path, { mode });
  },
  rename: (from, to) => fsp.rename(from, to),
  unlink: (path) => fsp.unlink(path),

  async syncDir(path) {
    // Read-only: opening a directory for writing fails with EISDIR on Linux.
    const handle = await fsp.open(path, constants.O_RDONLY);
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
};

/** The DurableFs the agent uses on the device. */
export function createNodeDurableFs(): DurableFs {
  return createDurableFs(nodeRawFs);
}
