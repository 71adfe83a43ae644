/**
 * A DurableFs that counts what the agent writes to its state directory: the figure that wears an
 * SD card. Logged when the daemon stops, and measured by the durability benchmark.
 */
import type { DurableFs } from '../storage/durable-fs';

export interface WriteCounter {
  files: number;
  bytes: number;
}

export function countingFs(inner: DurableFs, counter: WriteCounter): DurableFs {
  return {
    writeFileAtomic: async (path, data) => {
      await inner.writeFileAtomic(path, data);
      counter.files += 1;
      counter.bytes += data.length;
    },
    readFile: (path) => inner.readFile(path),
    list: (dir) => inner.list(dir),
    remove: (path) => inner.remove(path),
    rename: (from, to) => inner.rename(from, to),
    mkdirp: (dir) => inner.mkdirp(dir),
    stat: (path) => inner.stat(path),
  };
}
