/**
 * Garbage collection of partial receives nobody finishes: a HELLO claiming 65,535 blocks followed by
 * only the last block leaves a sparse `.part` the size of the claim. `.part`, `.part.map` and the
 * map's temp files under the receive roots that have not changed for `staleHours` are removed at
 * daemon start and then every hour, except those of receives in progress. The walk never follows a
 * symlink, and removals go through a folder walked from the root (storage/confined-dir.ts).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { silentLogger, type Logger } from '../../log';
import type { DurableFs } from '../../storage/durable-fs';
import { createNodeDurableFs } from '../../storage/node-fs';
import type { ConfineRoot } from './confine';
import { ConfinedDir } from '../../storage/confined-dir';

const partialName = /^(.+)\.part(\.map(\.tmp-.*)?)?$/;
/** Bounds on one sweep, so a huge or hostile tree cannot keep it busy. */
const maxEntries = 100_000;
const maxDepth = 32;

export interface SweepOptions {
  olderThanMs: number;
  now?: number;
  /** True for a target whose receive is running now: its partial files are kept. */
  inUse?: (target: string) => boolean;
  durable?: DurableFs;
  log?: Logger;
}

export interface SweepResult {
  removed: string[];
  entries: number;
}

export async function sweepStalePartials(roots: readonly ConfineRoot[], o: SweepOptions): Promise<SweepResult> {
  const now = o.now ?? Date.now();
  const durable = o.durable ?? createNodeDurableFs();
  const log = o.log ?? silentLogger;
  const result: SweepResult = { removed: [], entries: 0 };
  for (const root of roots) {
    const stack: { dir: string; depth: number }[] = [{ dir: root.real, depth: 0 }];
    while (stack.length > 0 && result.entries < maxEntries) {
      const { dir, depth } = stack.pop() as { dir: string; depth: number };
      const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
      const stale: string[] = [];
      for (const e of entries) {
        if (++result.entries > maxEntries) break;
        // Dirents come from lstat-like data: a symlink is neither a directory nor a file here.
        if (e.isDirectory() && depth < maxDepth) stack.push({ dir: path.join(dir, e.name), depth: depth + 1 });
        const m = partialName.exec(e.name);
        if (!e.isFile() || !m || o.inUse?.(path.join(dir, m[1] as string))) continue;
        const st = await fs.lstat(path.join(dir, e.name)).catch(() => undefined);
        if (st?.isFile() && now - st.mtimeMs > o.olderThanMs) stale.push(e.name);
      }
      if (stale.length > 0) await removeIn(root.real, dir, stale, durable, result, log);
    }
  }
  if (result.removed.length > 0) log.info({ removed: result.removed.length }, 'store: removed stale partial receives');
  return result;
}

async function removeIn(root: string, dir: string, names: string[], durable: DurableFs, result: SweepResult, log: Logger): Promise<void> {
  let confined: ConfinedDir | undefined;
  try {
    confined = await ConfinedDir.open(root, dir, { create: false });
    for (const name of names) {
      const st = await confined.lstat(name);
      if (!st?.isFile()) continue;
      await durable.remove(confined.at(name));
      result.removed.push(path.join(dir, name));
    }
  } catch (err) {
    log.warn({ err, dir }, 'store: could not remove stale partial receives');
  } finally {
    await confined?.close();
  }
}
