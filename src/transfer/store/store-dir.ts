/**
 * Answers `dir` requests (docs/store-flows.md §1): the type of the path and, for a folder, one level of entries.
 * Only browsable roots are visible; a path outside them is NOT_ALLOW, a missing one NOT_EXIST.
 * Entries are read with lstat, so a symlink is never followed out of the listing; symlinks, devices,
 * FIFOs and sockets are simply not listed (the server can only act on files and folders).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { FtError } from '../../errors';
import type { Logger } from '../../log';
import type { DirEntry, DirRequest, SniffResponseFields } from '../../protocol/file-sniffer';
import { confineExisting, type ConfineRoot } from './confine';
import type { StoreChannel } from '../../mqtt/store-channel';

/** A folder with more entries than this is listed up to it (a reply must fit one MQTT message). */
const maxDirEntries = 5000;

async function answerDir(roots: readonly ConfineRoot[], request: Pick<DirRequest, 'path'>): Promise<SniffResponseFields> {
  try {
    const found = await confineExisting(roots, request.path);
    if (found.type === 'file') return { type: 'file', result: 'OK', folder_include: [] };
    return { type: 'folder', result: 'OK', folder_include: await listOneLevel(found.path) };
  } catch (err) {
    if (err instanceof FtError && err.code === 'NOT_ALLOWED') return { result: 'NOT_ALLOW', reason: err.message };
    if (err instanceof FtError && err.code === 'NOT_FOUND') return { result: 'NOT_EXIST', reason: err.message };
    return { result: 'ERROR', reason: err instanceof Error ? err.message : String(err) };
  }
}

async function listOneLevel(dir: string): Promise<DirEntry[]> {
  const entries: DirEntry[] = [];
  const handle = await fs.opendir(dir);
  for await (const dirent of handle) {
    // Dirent types come from readdir (no stat); an unknown type gets one lstat.
    let isFile = dirent.isFile();
    let isDir = dirent.isDirectory();
    if (!isFile && !isDir && !dirent.isSymbolicLink() && !dirent.isFIFO() && !dirent.isSocket() && !dirent.isCharacterDevice() && !dirent.isBlockDevice()) {
      const st = await fs.lstat(path.join(dir, dirent.name)).catch(() => undefined);
      isFile = st?.isFile() ?? false;
      isDir = st?.isDirectory() ?? false;
    }
    if (isFile) entries.push({ name: dirent.name, type: 'file' });
    else if (isDir) entries.push({ name: dirent.name, type: 'folder' });
    if (entries.length >= maxDirEntries) break;
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return entries;
}

/** Registers the dir handler on the channel; returns the unsubscribe. */
export function answerDirRequests(channel: Pick<StoreChannel, 'onRequest' | 'respond'>, roots: readonly ConfineRoot[], log: Logger): () => void {
  return channel.onRequest('dir', async (incoming) => {
    const fields = await answerDir(roots, incoming.request);
    log.info({ requestId: incoming.request.request_id, path: incoming.request.path, result: fields.result }, 'store dir answered');
    await channel.respond('dir', incoming.fields, fields);
  });
}
