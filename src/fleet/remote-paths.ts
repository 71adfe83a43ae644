/**
 * Which files a remote `upload` request may queue: only regular files under remote.uploadRoots,
 * confined exactly as pushed files are (src/transfer/store/confine.ts: no `..`, no symlink leading out,
 * nothing that is not a regular file). `*` and `?` are allowed in the last component only (the
 * store system's wildcard rule); a pattern's folder is listed once, and more matches than
 * `maxFiles` refuse the whole request. Nothing here opens a file for reading.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { FtError } from '../errors';
import { confineExisting, type ConfineRoot } from '../transfer/store/confine';
import { checkWildcardPath, hasWildcard, wildcardMatcher } from '../jobs/wildcard';
import { isTempName } from '../storage/durable-fs';

export interface RemoteFile {
  /** The real path, inside a root. */
  path: string;
  size: number;
}

export async function resolveRemoteUpload(roots: readonly ConfineRoot[], requested: string, maxFiles: number): Promise<RemoteFile[]> {
  if (roots.length === 0) {
    throw new FtError('NOT_ALLOWED', 'remote upload is refused: no remote.uploadRoots are configured on this gateway', { details: { path: requested } });
  }
  if (/[*?]/.test(path.dirname(requested))) throw new FtError('REQUEST_INVALID', `"path" ${JSON.stringify(requested)} has a wildcard in a folder; * and ? are allowed only in the file name`);
  if (!hasWildcard(requested)) return [await confinedFile(roots, requested)];
  const problem = path.isAbsolute(requested) ? checkWildcardPath(requested) : undefined;
  if (problem) throw new FtError('REQUEST_INVALID', `"path" ${problem}`);
  const folder = await confineExisting(roots, path.dirname(requested));
  if (folder.type !== 'folder') throw new FtError('NOT_FOUND', `${path.dirname(requested)} is not a folder`);
  const match = wildcardMatcher(path.basename(requested));
  const names: string[] = [];
  const dir = await fs.opendir(folder.path);
  try {
    for await (const entry of dir) {
      if (entry.name.startsWith('.') || isTempName(entry.name) || !match(entry.name)) continue;
      names.push(entry.name);
      if (names.length > maxFiles) {
        throw new FtError('REQUEST_INVALID', `"path" ${JSON.stringify(requested)} matches more than ${maxFiles} files (remote.maxFilesPerRequest): narrow the pattern`);
      }
    }
  } finally {
    await dir.close().catch(() => undefined);
  }
  const out: RemoteFile[] = [];
  for (const name of names.sort()) {
    try {
      out.push(await confinedFile(roots, path.join(folder.path, name)));
    } catch (err) {
      // A pattern takes the regular files inside the roots it matches and passes over the rest.
      if (!(err instanceof FtError) || (err.code !== 'NOT_ALLOWED' && err.code !== 'NOT_FOUND')) throw err;
    }
  }
  if (out.length === 0) throw new FtError('NOT_FOUND', `"path" ${JSON.stringify(requested)} matches no regular file under the upload roots`);
  return out;
}

async function confinedFile(roots: readonly ConfineRoot[], requested: string): Promise<RemoteFile> {
  const found = await confineExisting(roots, requested);
  if (found.type !== 'file') throw new FtError('NOT_ALLOWED', `path ${JSON.stringify(requested)} is not allowed: it is a folder, not a regular file`, { details: { path: requested } });
  const st = await fs.stat(found.path);
  return { path: found.path, size: st.size };
}
