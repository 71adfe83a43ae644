import { randomBytes } from 'node:crypto';
import { mkdirSync, promises as fs, renameSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { escapeFilename } from './escape';
import { decodeManifest, encodeManifest, type Filemeta, filemetaEquals } from './filemeta';
import { fail, fileErrorReason, type FtResult, OK } from './ft-result';

/**
 * The segments area of docs/emqx-ft.md §6, laid out as EMQX's local storage does:
 * `segments/<esc(clientId)>/<esc(fileId)>/frags/{MANIFEST.json,SEG.<offset>.<len>}` plus `tmp/`.
 * Everything lives on disk, so a restarted broker continues where the last one stopped.
 */
export interface Transfer {
  clientId: string;
  fileId: string;
}

export interface SegmentFragment {
  /** Offsets beyond 2^53 cannot be part of any reachable file; they are kept as numbers anyway. */
  offset: number;
  length: number;
  /** null in sink mode: the segment was acknowledged and its payload thrown away. */
  path: string | null;
}

export interface Fragments {
  metas: Filemeta[];
  segments: SegmentFragment[];
}

const MANIFEST = 'MANIFEST.json';
const SEGMENT_NAME = /^SEG[.]([0-9]+)[.]([0-9]+)$/;

/** `<basename up to 200 chars>.<16 hex>`, like `emqx_ft_fs_util:mk_temp_filename/1`. */
export function tempFilename(basename: string): string {
  return `${[...basename].slice(0, 200).join('')}.${randomBytes(8).toString('hex').toUpperCase()}`;
}

/**
 * Directories known to exist. A transfer writes every segment into the same two directories, and
 * commands of one client are handled one after the other, so two `mkdir -p` per segment were a
 * third of the file-system round trips on the path of every PUBACK. An entry is dropped when the
 * store removes the directory, and a write that still finds it gone (removed behind our back)
 * creates it again, so the files on disk are exactly what they were without the cache.
 */
export type KnownDirs = Set<string>;

async function ensureDir(dir: string, known: KnownDirs | undefined): Promise<void> {
  if (known?.has(dir)) return;
  await fs.mkdir(dir, { recursive: true });
  known?.add(dir);
}

/** Runs `op`; if a cached directory turned out to be gone (ENOENT), creates it and runs `op` again. */
async function inDir<T>(dir: string, known: KnownDirs | undefined, op: () => Promise<T>): Promise<T> {
  await ensureDir(dir, known);
  try {
    return await op();
  } catch (err) {
    if (!known || fileErrorReason(err) !== 'enoent') throw err;
    known.delete(dir);
    await ensureDir(dir, known);
    return op();
  }
}

/** Write to a temp file, then rename over the target, creating directories as needed. */
export async function writeFileAtomic(tempDir: string, target: string, content: Uint8Array | string, known?: KnownDirs): Promise<void> {
  const temp = path.join(tempDir, tempFilename(path.basename(target)));
  try {
    await inDir(tempDir, known, () => fs.writeFile(temp, content));
    await inDir(path.dirname(target), known, () => fs.rename(temp, target));
  } catch (err) {
    await fs.rm(temp, { force: true }).catch(() => undefined);
    throw err;
  }
}

/**
 * `writeFileAtomic` for segments, done in place with synchronous calls. A segment is at most one
 * MQTT packet, already in memory, and the commands of a client are handled one at a time: with the
 * asynchronous calls every segment waited for four thread-pool round trips (open, write, close,
 * rename) on the path of its PUBACK, and that wait, not the disk, capped every client at ~40 MiB/s.
 * Same files, same temp-then-rename order, no fsync either way.
 */
function writeSegmentAtomic(tempDir: string, target: string, content: Uint8Array, known: KnownDirs): void {
  const temp = path.join(tempDir, tempFilename(path.basename(target)));
  const inDirNow = (dir: string, op: () => void): void => {
    if (!known.has(dir)) {
      mkdirSync(dir, { recursive: true });
      known.add(dir);
    }
    try {
      op();
    } catch (err) {
      if (fileErrorReason(err) !== 'enoent') throw err;
      known.delete(dir);
      mkdirSync(dir, { recursive: true });
      known.add(dir);
      op();
    }
  };
  try {
    inDirNow(tempDir, () => writeFileSync(temp, content));
    inDirNow(path.dirname(target), () => renameSync(temp, target));
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
}

export class SegmentStore {
  readonly root: string;
  private readonly knownDirs: KnownDirs = new Set();
  /**
   * Sink mode (benchmarks): segment payloads are not written anywhere, only their ranges are kept
   * in memory, so a client is measured without the broker's disk work. Answers stay the same.
   */
  private readonly sunk: Map<string, SegmentFragment[]> | null;

  constructor(dataDir: string, options: { sink?: boolean } = {}) {
    this.root = path.join(dataDir, 'segments');
    this.sunk = options.sink ? new Map() : null;
  }

  transferDir(t: Transfer): string {
    return path.join(this.root, escapeFilename(t.clientId), escapeFilename(t.fileId));
  }

  private fragDir(t: Transfer): string {
    return path.join(this.transferDir(t), 'frags');
  }

  private tempDir(t: Transfer): string {
    return path.join(this.transferDir(t), 'tmp');
  }

  /**
   * `store_filemeta`: an identical manifest is touched, a different one is a conflict, a missing
   * or unreadable one is (re)written (docs/emqx-ft.md §2, "Re-init and conflicts").
   */
  async storeFilemeta(t: Transfer, meta: Filemeta): Promise<FtResult> {
    const manifest = path.join(this.fragDir(t), MANIFEST);
    try {
      let stored: Filemeta | null = null;
      try {
        stored = decodeManifest(await fs.readFile(manifest, 'utf8'));
      } catch (err) {
        if (fileErrorReason(err) !== 'enoent') return fail(fileErrorReason(err));
      }
      if (stored !== null) {
        if (!filemetaEquals(stored, meta)) return fail('filemeta_conflict');
        const now = new Date();
        await fs.utimes(manifest, now, now);
        return OK;
      }
      await writeFileAtomic(this.tempDir(t), manifest, encodeManifest(meta), this.knownDirs);
      return OK;
    } catch (err) {
      return fail(fileErrorReason(err));
    }
  }

  /** `SEG.<offset>.<len>`; a negative offset is stored too and later ignored by assembly (docs/emqx-ft.md §1). */
  async storeSegment(t: Transfer, offset: bigint, content: Buffer): Promise<FtResult> {
    if (this.sunk) {
      const key = this.transferDir(t);
      const list = this.sunk.get(key) ?? [];
      list.push({ offset: Number(offset), length: content.length, path: null });
      this.sunk.set(key, list);
      return OK;
    }
    const target = path.join(this.fragDir(t), `SEG.${offset.toString()}.${content.length}`);
    try {
      writeSegmentAtomic(this.tempDir(t), target, content, this.knownDirs);
      return OK;
    } catch (err) {
      return fail(fileErrorReason(err));
    }
  }

  /** What assembly sees: readable manifests and well-named segments; anything else is skipped. */
  async listFragments(t: Transfer): Promise<Fragments> {
    const dir = this.fragDir(t);
    const result: Fragments = { metas: [], segments: [...(this.sunk?.get(this.transferDir(t)) ?? [])] };
    let names: string[];
    try {
      names = await fs.readdir(dir);
    } catch (err) {
      if (fileErrorReason(err) === 'enoent') return result;
      throw err;
    }
    for (const name of names) {
      if (name === MANIFEST) {
        const meta = await fs.readFile(path.join(dir, name), 'utf8').then(decodeManifest, () => null);
        if (meta !== null) result.metas.push(meta);
        continue;
      }
      const match = SEGMENT_NAME.exec(name);
      if (match?.[1] !== undefined && match[2] !== undefined) {
        result.segments.push({ offset: Number(match[1]), length: Number(match[2]), path: path.join(dir, name) });
      }
    }
    return result;
  }

  /** EMQX garbage-collects a transfer's fragments once it is exported. */
  async collect(t: Transfer): Promise<void> {
    this.sunk?.delete(this.transferDir(t));
    this.knownDirs.delete(this.fragDir(t));
    this.knownDirs.delete(this.tempDir(t));
    await fs.rm(this.fragDir(t), { recursive: true, force: true });
    await fs.rm(this.tempDir(t), { recursive: true, force: true });
  }
}
