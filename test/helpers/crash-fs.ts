import { Volume } from 'memfs';
import { posix } from 'node:path';
import { createDurableFs } from '../../src/storage/durable-ops';
import type { DurableFs, FileStat, RawFile, RawFs } from '../../src/storage/durable-fs';

/**
 * A RawFs on memfs that can lose power. Test-only (memfs is a dev dependency): nothing the agent
 * bundles may import this file.
 *
 * Two views. The *volatile* view is the memfs volume every call reads and writes: what a running
 * process sees. The *durable* view is what a power cut leaves, modelled conservatively after
 * POSIX/ext4 without relying on any filesystem's generosity:
 *   - a file's data and size become durable only at fsync of that file (RawFile.sync);
 *   - a name (create, rename, unlink, mkdir) becomes durable only at fsync of the directory that
 *     holds it (syncDir), which records that directory's whole current entry list;
 *   - a durable name whose latest data was not fsynced comes back with the data of its last fsync
 *     (empty if none); with `unsyncedData: 'partial'` it comes back torn instead, holding the first
 *     half of the unsynced bytes, as when writeback reached the disk only partly.
 * Every mutating call or sync is a numbered *boundary*. `cutPowerAt(k)` makes boundary k and every
 * later call throw PowerCut without taking effect; `reboot()` then gives a fresh CrashFs holding
 * only the durable view.
 */
export class PowerCut extends Error {
  override readonly name = 'PowerCut';
  constructor(
    readonly boundary: number,
    readonly op: string,
  ) {
    super(`power cut at boundary ${boundary} (${op})`);
  }
}

export interface CrashFsOptions {
  /** What a durable name whose data was never fsynced holds after reboot. Default 'lost' (empty). */
  unsyncedData?: 'lost' | 'partial';
}

type Kind = 'file' | 'dir';

/** The durable view, keyed by inode so a rename keeps the data it points at. */
interface DurableImage {
  dirs: Map<number, Map<string, number>>;
  files: Map<number, Uint8Array>;
  kinds: Map<number, Kind>;
  modes: Map<number, number>;
}

const ROOT = '/';

export class CrashFs implements RawFs {
  /** The agent's DurableFs running on this simulator. */
  readonly durableFs: DurableFs;
  /** One line per boundary, for reading a failing test: "3 rename /a.tmp-1-ab -> /a". */
  readonly ops: string[] = [];
  private count = 0;
  private cutAt: number | undefined;
  private dead = false;
  private spaceLeft = Number.POSITIVE_INFINITY;
  private readonly image: DurableImage;

  constructor(
    private readonly vol: InstanceType<typeof Volume> = new Volume(),
    private readonly options: CrashFsOptions = {},
  ) {
    // Whatever the volume holds at the start (a fresh disk, or what survived a reboot) is durable.
    this.image = { dirs: new Map(), files: new Map(), kinds: new Map(), modes: new Map() };
    this.snapshotTree(ROOT);
    this.durableFs = createDurableFs(this);
  }

  /** Boundaries crossed so far (run a scenario once uncut to learn how many cut points it has). */
  get boundaries(): number {
    return this.count;
  }

  get isDead(): boolean {
    return this.dead;
  }

  /** Boundary k (0-based, counted since this instance was made) and everything after fails. */
  cutPowerAt(k: number): void {
    this.cutAt = k;
  }

  /** Writes fail with ENOSPC once `bytes` more bytes have been written. Space is never given back. */
  limitSpace(bytes: number): void {
    this.spaceLeft = bytes;
  }

  /** A fresh fs holding only the durable view, as after a power cut (works whether or not one happened). */
  reboot(): CrashFs {
    const volatileData = this.volatileDataByIno();
    const vol = new Volume();
    const build = (dirIno: number, dirPath: string): void => {
      for (const [name, ino] of this.image.dirs.get(dirIno) ?? []) {
        const path = posix.join(dirPath, name);
        const mode = this.image.modes.get(ino) ?? 0o600;
        if (this.image.kinds.get(ino) === 'dir') {
          vol.mkdirSync(path, { mode });
          build(ino, path);
        } else {
          vol.writeFileSync(path, this.dataAfterCut(ino, volatileData), { mode });
        }
      }
    };
    build(this.vol.statSync(ROOT).ino, ROOT);
    return new CrashFs(vol, this.options);
  }

  /** The durable view as path → content (utf8), for assertions and debugging. */
  static dump(fs: CrashFs): Record<string, string> {
    const out: Record<string, string> = {};
    const walk = (dir: string): void => {
      for (const name of fs.vol.readdirSync(dir) as string[]) {
        const path = posix.join(dir, name);
        if (fs.vol.statSync(path).isDirectory()) walk(path);
        else out[path] = String(fs.vol.readFileSync(path));
      }
    };
    walk(ROOT);
    return out;
  }

  // ---- RawFs ----

  async openForWrite(path: string, mode: number): Promise<RawFile> {
    this.boundary(`open ${path}`);
    const fd = this.vol.openSync(path, 'w', mode);
    const ino = this.vol.fstatSync(fd).ino;
    return {
      write: async (data) => {
        this.boundary(`write ${path} ${data.length}B`);
        if (data.length > this.spaceLeft) {
          throw Object.assign(new Error(`ENOSPC: no space left on device, write '${path}'`), { code: 'ENOSPC' });
        }
        this.spaceLeft -= data.length;
        this.vol.writeSync(fd, data);
      },
      sync: async () => {
        this.boundary(`fsync ${path}`);
        const size = this.vol.fstatSync(fd).size;
        const data = new Uint8Array(size);
        this.vol.readSync(fd, data, 0, size, 0);
        this.image.files.set(ino, data);
        this.image.kinds.set(ino, 'file');
      },
      close: async () => {
        this.alive(`close ${path}`);
        this.vol.closeSync(fd);
      },
    };
  }

  async readFile(path: string): Promise<Uint8Array> {
    this.alive(`read ${path}`);
    return new Uint8Array(this.vol.readFileSync(path) as Buffer);
  }

  async readdir(path: string): Promise<string[]> {
    this.alive(`readdir ${path}`);
    return (this.vol.readdirSync(path) as string[]).map(String);
  }

  async stat(path: string): Promise<FileStat> {
    this.alive(`stat ${path}`);
    const st = this.vol.statSync(path);
    return {
      kind: st.isFile() ? 'file' : st.isDirectory() ? 'dir' : 'other',
      size: Number(st.size),
      mtimeMs: Number(st.mtimeMs),
      ino: Number(st.ino),
      mode: Number(st.mode) & 0o777,
    };
  }

  async mkdir(path: string, mode: number): Promise<void> {
    this.boundary(`mkdir ${path}`);
    this.vol.mkdirSync(path, { mode });
  }

  async rename(from: string, to: string): Promise<void> {
    this.boundary(`rename ${from} -> ${to}`);
    this.vol.renameSync(from, to);
  }

  async unlink(path: string): Promise<void> {
    this.boundary(`unlink ${path}`);
    this.vol.unlinkSync(path);
  }

  async syncDir(path: string): Promise<void> {
    this.boundary(`fsync-dir ${path}`);
    this.recordDir(path);
  }

  // ---- model ----

  private boundary(op: string): void {
    this.alive(op);
    const k = this.count++;
    this.ops.push(`${k} ${op}`);
    if (this.cutAt !== undefined && k >= this.cutAt) {
      this.dead = true;
      throw new PowerCut(k, op);
    }
  }

  private alive(op: string): void {
    if (this.dead) throw new PowerCut(this.count, op);
  }

  /** Make the directory's current entries durable (not the children's data, not subdirectories' entries). */
  private recordDir(path: string): void {
    const st = this.vol.statSync(path);
    const entries = new Map<string, number>();
    for (const name of this.vol.readdirSync(path) as string[]) {
      const child = this.vol.statSync(posix.join(path, String(name)));
      const ino = Number(child.ino);
      entries.set(String(name), ino);
      this.image.kinds.set(ino, child.isDirectory() ? 'dir' : 'file');
      this.image.modes.set(ino, Number(child.mode) & 0o777);
    }
    const ino = Number(st.ino);
    this.image.dirs.set(ino, entries);
    this.image.kinds.set(ino, 'dir');
  }

  private snapshotTree(dir: string): void {
    this.recordDir(dir);
    for (const name of this.vol.readdirSync(dir) as string[]) {
      const path = posix.join(dir, String(name));
      const st = this.vol.statSync(path);
      if (st.isDirectory()) this.snapshotTree(path);
      else this.image.files.set(Number(st.ino), new Uint8Array(this.vol.readFileSync(path) as Buffer));
    }
  }

  private volatileDataByIno(): Map<number, Uint8Array> {
    const out = new Map<number, Uint8Array>();
    const walk = (dir: string): void => {
      for (const name of this.vol.readdirSync(dir) as string[]) {
        const path = posix.join(dir, String(name));
        const st = this.vol.statSync(path);
        if (st.isDirectory()) walk(path);
        else out.set(Number(st.ino), new Uint8Array(this.vol.readFileSync(path) as Buffer));
      }
    };
    walk(ROOT);
    return out;
  }

  private dataAfterCut(ino: number, volatileData: Map<number, Uint8Array>): Uint8Array {
    const synced = this.image.files.get(ino);
    const written = volatileData.get(ino);
    if (this.options.unsyncedData === 'partial' && written && !(synced && Buffer.from(synced).equals(written))) {
      // Writeback got the truncate and half the new bytes to disk before the cut.
      return written.subarray(0, Math.floor(written.length / 2));
    }
    return synced ?? new Uint8Array(0);
  }
}
