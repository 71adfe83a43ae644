import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { escapeFilename } from './escape';
import { encodeManifest, type Filemeta } from './filemeta';
import type { Transfer } from './segment-store';
import { tempFilename, writeFileAtomic } from './segment-store';

/**
 * The local exporter: `exports/<esc(clientId)>/<esc(fileId)>/<name>` and `<name>.MANIFEST.json`
 * beside it. The file is written under `exports/tmp/` and renamed into place when complete, so a
 * file at its final path is always whole.
 */
const MANIFEST_SUFFIX = '.MANIFEST.json';

export interface ExportWriter {
  write(chunk: Buffer): Promise<void>;
  /** Writes the manifest (with the checksum) and moves the file into place. */
  complete(checksum: string): Promise<void>;
  discard(): Promise<void>;
}

export class ExportStore {
  readonly root: string;

  constructor(dataDir: string) {
    this.root = path.join(dataDir, 'exports');
  }

  transferDir(t: Transfer): string {
    return path.join(this.root, escapeFilename(t.clientId), escapeFilename(t.fileId));
  }

  /**
   * `check_if_already_exported`: any regular file in the transfer's export directory that is not a
   * manifest. Listing errors count as "not exported", as in EMQX.
   */
  async isExported(t: Transfer): Promise<boolean> {
    const dir = this.transferDir(t);
    try {
      const entries = await fs.readdir(dir, { withFileTypes: true });
      return entries.some((e) => e.isFile() && e.name !== MANIFEST_SUFFIX && !e.name.endsWith(MANIFEST_SUFFIX));
    } catch {
      return false;
    }
  }

  /** Throws a file error (mapped to its POSIX atom by the caller). */
  async start(t: Transfer, meta: Filemeta): Promise<ExportWriter> {
    const tempDir = path.join(this.root, 'tmp');
    await fs.mkdir(tempDir, { recursive: true });
    const tempPath = path.join(tempDir, tempFilename(meta.name));
    const handle = await fs.open(tempPath, 'w');
    const target = path.join(this.transferDir(t), meta.name);
    let closed = false;
    const close = async (): Promise<void> => {
      if (closed) return;
      closed = true;
      await handle.close();
    };
    return {
      async write(chunk) {
        let offset = 0;
        while (offset < chunk.length) {
          const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset);
          offset += bytesWritten;
        }
      },
      async complete(checksum) {
        await close();
        await fs.mkdir(path.dirname(target), { recursive: true }).catch(() => undefined);
        // EMQX only logs a failed manifest write; the rename decides the outcome.
        await writeFileAtomic(tempDir, target + MANIFEST_SUFFIX, encodeManifest({ ...meta, checksum })).catch(() => undefined);
        await fs.rename(tempPath, target);
      },
      async discard() {
        await close().catch(() => undefined);
        await fs.rm(tempPath, { force: true });
      },
    };
  }
}
