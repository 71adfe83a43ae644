/**
 * Task paths may use `*` (any run of characters) and `?` (one character) in their last component only
 * (the store system's wildcard rule). Expansion lists that one directory through the fs port, so
 * nothing recursive or unbounded happens.
 */
import { posix } from 'node:path';
import type { DurableFs } from '../storage/durable-fs';
import { isTempName } from '../storage/durable-fs';

/** What is wrong with a task path, or undefined. */
export function checkWildcardPath(path: string): string | undefined {
  if (!posix.isAbsolute(path)) return `"${path}" must be an absolute path`;
  const dir = posix.dirname(path);
  const base = posix.basename(path);
  if (/[*?]/.test(dir)) return `"${path}" has a wildcard in a directory; * and ? are allowed only in the file name`;
  if (base === '' || path.endsWith('/')) return `"${path}" must end with a file name or pattern`;
  if (/[[\]{}]/.test(base)) return `"${path}" may use only the wildcards * and ? (no [], {})`;
  return undefined;
}

export function hasWildcard(path: string): boolean {
  return /[*?]/.test(posix.basename(path));
}

export function wildcardMatcher(pattern: string): (name: string) => boolean {
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    's',
  );
  return (name) => re.test(name);
}

/** The regular files the path names, sorted. A path without wildcards names itself (if it exists). */
export async function expandTaskPath(fs: DurableFs, path: string): Promise<string[]> {
  if (!hasWildcard(path)) {
    const st = await fs.stat(path);
    return st?.kind === 'file' ? [path] : [];
  }
  const dir = posix.dirname(path);
  const match = wildcardMatcher(posix.basename(path));
  const out: string[] = [];
  for (const name of await fs.list(dir)) {
    // Hidden files and half-written atomic-write temps are never campaign files.
    if (name.startsWith('.') || isTempName(name) || !match(name)) continue;
    const full = posix.join(dir, name);
    if ((await fs.stat(full))?.kind === 'file') out.push(full);
  }
  return out.sort();
}
