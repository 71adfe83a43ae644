/**
 * What a watch folder already queued, written down so a restart does not queue the same file
 * twice: one small record per folder, <stateDir>/watch/<hash of the folder path>. An entry lives as
 * long as its file is in the folder with the same identity (size, mtime, inode); a file that
 * changes is a new file. Bounded by the folder's own content.
 */
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { FtError, isFtError } from '../errors';
import type { DurableFs } from '../storage/durable-fs';
import { decodeRecord, encodeRecord } from '../storage/record-codec';

export type LedgerState = 'queued' | 'done' | 'failed';

export interface LedgerEntry {
  name: string;
  size: number;
  mtimeMs: number;
  ino: number;
  jobId: string;
  state: LedgerState;
}

const KIND = 'watch-ledger';
const VERSION = 1;

export class WatchLedger {
  readonly path: string;
  private entries = new Map<string, LedgerEntry>();

  private constructor(
    private readonly fs: DurableFs,
    stateDir: string,
    readonly dir: string,
  ) {
    const key = createHash('sha256').update(dir).digest('hex').slice(0, 16);
    this.path = posix.join(stateDir, 'watch', key);
  }

  /** Loads the ledger; a damaged one is reported through `onCorrupt` and starts empty. */
  static async open(fs: DurableFs, stateDir: string, dir: string, onCorrupt: (path: string, reason: string) => Promise<void>): Promise<WatchLedger> {
    const ledger = new WatchLedger(fs, stateDir, dir);
    await fs.mkdirp(posix.dirname(ledger.path));
    const bytes = await fs.readFile(ledger.path);
    if (bytes === undefined) return ledger;
    try {
      const { body } = decodeRecord(bytes, { kind: KIND, versions: [VERSION], file: ledger.path });
      for (const e of parseEntries(body, ledger.path)) ledger.entries.set(e.name, e);
    } catch (err) {
      if (!isFtError(err, 'STATE_CORRUPT')) throw err;
      await onCorrupt(ledger.path, err.message);
    }
    return ledger;
  }

  get(name: string): LedgerEntry | undefined {
    return this.entries.get(name);
  }

  all(): LedgerEntry[] {
    return [...this.entries.values()];
  }

  get size(): number {
    return this.entries.size;
  }

  set(entry: LedgerEntry): void {
    this.entries.set(entry.name, entry);
  }

  delete(name: string): boolean {
    return this.entries.delete(name);
  }

  async save(): Promise<void> {
    const body = { dir: this.dir, entries: this.all() };
    await this.fs.writeFileAtomic(this.path, encodeRecord(KIND, VERSION, body));
  }
}

function parseEntries(body: unknown, file: string): LedgerEntry[] {
  const bad = (): FtError => new FtError('STATE_CORRUPT', `state file ${file}: watch ledger entries are malformed`);
  if (typeof body !== 'object' || body === null) throw bad();
  const list = (body as { entries?: unknown }).entries;
  if (!Array.isArray(list)) throw bad();
  return list.map((raw: unknown) => {
    if (typeof raw !== 'object' || raw === null) throw bad();
    const o = raw as Record<string, unknown>;
    const { name, size, mtimeMs, ino, jobId, state } = o;
    if (typeof name !== 'string' || typeof jobId !== 'string' || typeof size !== 'number' || typeof mtimeMs !== 'number' || typeof ino !== 'number') throw bad();
    if (state !== 'queued' && state !== 'done' && state !== 'failed') throw bad();
    return { name, size, mtimeMs, ino, jobId, state };
  });
}
