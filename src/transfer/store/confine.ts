/**
 * Confinement of paths a remote party names (push targets, dir queries) to configured roots.
 * A file written on a store device is often executed or shown to customers, so a request may only
 * reach files under a root, never through `..`, an absolute path elsewhere, a symlink that leads out,
 * or onto something that is not a regular file (device, FIFO, socket, directory).
 *
 * Why `..` is refused outright instead of normalised: `root/link/../x` is `root/x` for `path.resolve`
 * but the parent of the link's target for the kernel. Refusing it is simpler than getting that right.
 *
 * These checks give a clear answer to the request before anything is written. They are not what keeps
 * writes inside the roots against a symlink swapped in later: the sink reaches every file through a
 * directory descriptor walked down from the root without following links (storage/confined-dir.ts).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { errnoCode, FtError } from '../../errors';

/** A configured root: as written in the config, and its real path (roots may themselves be symlinks). */
export interface ConfineRoot {
  configured: string;
  real: string;
}

export interface PreparedRoots {
  roots: ConfineRoot[];
  /** Roots that could not be resolved, with why; the caller logs them. */
  problems: string[];
}

/**
 * Resolves configured roots once at start. `create` makes missing receive roots; a browse root that
 * does not exist is dropped (and reported) rather than failing the whole agent.
 */
export async function prepareRoots(dirs: readonly string[], options: { create: boolean }): Promise<PreparedRoots> {
  const roots: ConfineRoot[] = [];
  const problems: string[] = [];
  for (const dir of dirs) {
    const configured = path.resolve(dir);
    try {
      if (options.create) await fs.mkdir(configured, { recursive: true });
      const real = await fs.realpath(configured);
      if (!(await fs.stat(real)).isDirectory()) {
        problems.push(`${dir} is not a directory`);
        continue;
      }
      roots.push({ configured, real });
    } catch (err) {
      problems.push(`${dir}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return { roots, problems };
}

export interface WriteTarget {
  /** The real path the file will be written to (directories resolved, the last component as given). */
  path: string;
  /** The real path of the root it falls under. */
  root: string;
  /** A regular file is already there (the caller applies its overwrite policy). */
  exists: boolean;
}

export interface ExistingPath {
  path: string;
  root: string;
  type: 'file' | 'folder';
}

/** Suffixes the receiver uses for its own bookkeeping beside a target; a target must not collide with them. */
const reservedSuffixes = ['.part', '.part.map'];
/** The block map's temp files: `<target>.part.map.tmp-<pid>-<random>` (the durable port's temp names). */
const reservedTemp = /\.part\.map\.tmp-[^/]*$/;

/**
 * Where a pushed file named `requested` may be written, or NOT_ALLOWED. Directories that do not exist
 * yet are allowed (the sink creates them) as long as the deepest existing one is inside a root.
 */
export async function confineWriteTarget(roots: readonly ConfineRoot[], requested: string): Promise<WriteTarget> {
  const { candidate, root } = lexicalCandidate(roots, requested);
  if (candidate === root.real) throw notAllowed(requested, 'it names the root directory itself, not a file');
  if (/[/\\]$/.test(requested)) throw notAllowed(requested, 'it ends with a separator, so it names a directory where a file is expected');
  const base = path.basename(candidate);
  if (reservedSuffixes.some((s) => base.endsWith(s)) || reservedTemp.test(base)) {
    throw notAllowed(requested, `names ending in ${reservedSuffixes.join(', ')} are reserved for partial files`);
  }
  const parent = await realDeepestAncestor(path.dirname(candidate), requested);
  if (!isInside(parent.real, root.real)) throw notAllowed(requested, `a symlink in it leads out of the root ${root.configured}`);
  const target = path.join(parent.real, path.relative(parent.lexical, path.dirname(candidate)), base);
  if (parent.real !== path.dirname(target)) {
    // Directories still to be created: nothing more to check on disk.
    return { path: target, root: root.real, exists: false };
  }
  const exists = await checkExistingTarget(target, requested);
  for (const suffix of reservedSuffixes) await checkExistingTarget(`${target}${suffix}`, requested);
  return { path: target, root: root.real, exists };
}

/**
 * An existing file or folder for a dir query (or a local read), or NOT_ALLOWED / NOT_FOUND.
 * Symlinks are followed only when where they lead is still inside a root.
 */
export async function confineExisting(roots: readonly ConfineRoot[], requested: string): Promise<ExistingPath> {
  const { candidate } = lexicalCandidate(roots, requested);
  let real: string;
  try {
    real = await fs.realpath(candidate);
  } catch (err) {
    const code = errnoCode(err);
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw notAllowed(requested, describeErrno(err));
    // Missing: say NOT_FOUND only if asking did not already lead out of the roots.
    const parent = await realDeepestAncestor(path.dirname(candidate), requested);
    if (!roots.some((r) => isInside(parent.real, r.real))) throw notAllowed(requested, 'a symlink in it leads out of the configured roots');
    throw new FtError('NOT_FOUND', `${requested} does not exist`, { details: { path: requested } });
  }
  const root = roots.find((r) => isInside(real, r.real));
  if (!root) throw notAllowed(requested, 'a symlink in it leads out of the configured roots');
  const st = await fs.stat(real);
  if (st.isDirectory()) return { path: real, root: root.real, type: 'folder' };
  if (st.isFile()) return { path: real, root: root.real, type: 'file' };
  throw notAllowed(requested, `it is a ${kindOf(st)}, not a regular file or folder`);
}

// ---- pieces ----------------------------------------------------------------------------------

/** The absolute path a request names, before touching the disk, and the root it falls under. */
function lexicalCandidate(roots: readonly ConfineRoot[], requested: string): { candidate: string; root: ConfineRoot } {
  if (roots.length === 0) throw notAllowed(requested, 'no roots are configured for this kind of request');
  if (requested.includes('\0')) throw notAllowed(requested, 'it contains a NUL byte');
  const parts = requested.split(/[/\\]/);
  if (parts.includes('..')) throw notAllowed(requested, '".." is not accepted in paths');
  const first = roots[0] as ConfineRoot;
  if (!path.isAbsolute(requested)) {
    // A relative path is relative to the first root (documented in the README).
    return { candidate: path.join(first.real, requested), root: first };
  }
  const normal = path.normalize(requested);
  for (const root of roots) {
    for (const form of [root.configured, root.real]) {
      if (isInside(normal, form)) return { candidate: path.join(root.real, path.relative(form, normal)), root };
    }
  }
  throw notAllowed(requested, `it is outside the configured roots (${roots.map((r) => r.configured).join(', ')})`);
}

/** The real path of the deepest ancestor of `dir` that exists, and that ancestor's lexical form. */
async function realDeepestAncestor(dir: string, requested: string): Promise<{ lexical: string; real: string }> {
  let current = dir;
  for (;;) {
    try {
      const real = await fs.realpath(current);
      const st = await fs.stat(real);
      if (!st.isDirectory()) throw notAllowed(requested, `${current} is a ${kindOf(st)}, not a directory`);
      return { lexical: current, real };
    } catch (err) {
      if (err instanceof FtError) throw err;
      const code = errnoCode(err);
      if (code !== 'ENOENT') throw notAllowed(requested, describeErrno(err));
      // Something is there but cannot be resolved: a dangling symlink, which mkdir would follow.
      if (
        await fs.lstat(current).then(
          () => true,
          () => false,
        )
      )
        throw notAllowed(requested, `${current} is a symlink to nowhere`);
      const up = path.dirname(current);
      if (up === current) throw notAllowed(requested, 'no part of it exists');
      current = up;
    }
  }
}

/** A target that exists must be a regular file reached without a symlink. Returns whether it exists. */
async function checkExistingTarget(file: string, requested: string): Promise<boolean> {
  let st;
  try {
    st = await fs.lstat(file);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw notAllowed(requested, describeErrno(err));
  }
  if (st.isSymbolicLink()) throw notAllowed(requested, `${file} is a symlink; it is not replaced or written through`);
  if (!st.isFile()) throw notAllowed(requested, `${file} is a ${kindOf(st)}, not a regular file`);
  return true;
}

export function isInside(child: string, parent: string): boolean {
  if (child === parent) return true;
  const rel = path.relative(parent, child);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

function kindOf(st: { isDirectory(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isFIFO(): boolean; isSocket(): boolean; isSymbolicLink(): boolean }): string {
  if (st.isDirectory()) return 'directory';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'device file';
  if (st.isFIFO()) return 'FIFO';
  if (st.isSocket()) return 'socket';
  if (st.isSymbolicLink()) return 'symlink';
  return 'special file';
}

function describeErrno(err: unknown): string {
  const code = errnoCode(err);
  if (code === 'ENAMETOOLONG') return 'the name is too long';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'ELOOP') return 'too many symlinks';
  if (code === 'ENOTDIR') return 'a part of it is not a directory';
  return err instanceof Error ? err.message : String(err);
}

function notAllowed(requested: string, why: string): FtError {
  return new FtError('NOT_ALLOWED', `path ${JSON.stringify(requested)} is not allowed: ${why}`, { details: { path: requested } });
}
