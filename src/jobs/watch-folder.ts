/**
 * A watched folder, by polling (inotify is not reliable on every device file system, and polling
 * keeps the state bounded): files whose name matches the pattern are queued once their size and
 * mtime have stopped changing for `settleMs`; after the broker has them they are kept, deleted or
 * moved. The ledger (watch-ledger.ts) remembers what was queued so a restart queues nothing twice.
 *
 * Crash safety: a file is queued first, then written into the ledger. A power cut in between is
 * repaired at start: the spool's jobs carry the folder and the file's identity, so a job for the
 * file is found and adopted instead of queued again. The after-success action runs only once the
 * job is recorded done, and again at start if a cut came in between (both actions are idempotent).
 *
 * The watched folder is the device's data, not the agent's state: it is read with node:fs directly
 * (names as bytes, see `decodable`), not through the state directory's DurableFs port. Time comes
 * from the Clock port; file mtimes are wall-clock times, which is what the system clock gives.
 */
import { mkdir, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode } from '../errors';
import type { Logger } from '../log';
import type { Clock } from '../time/clock';
import type { JobRecord } from '../storage/job-record';
import type { NewJob, Spool } from '../storage/spool';
import type { DurableFs } from '../storage/durable-fs';
import { decodeQueuedOptions, encodeQueuedOptions, type QueuedUploadOptions } from './upload-job-options';
import type { JobOutcome } from './upload-job-runner';
import { WatchLedger, type LedgerEntry } from './watch-ledger';

export interface WatchFolderSettings {
  dir: string;
  pattern: string;
  settleMs: number;
  afterSuccess: 'keep' | 'delete' | 'move';
  moveTo?: string;
  /** Upload options for the jobs it queues (the folder's overrides of the config). */
  upload: QueuedUploadOptions;
}

export interface WatchFolderDeps {
  fs: DurableFs;
  spool: Spool;
  stateDir: string;
  clock: Clock;
  logger: Logger;
  /** Files being watched for settling at once; more wait for a later scan. */
  maxTracked?: number;
  /** How a file becomes a job (the daemon's bounded spool); default spool.enqueue. */
  enqueue?: (job: NewJob) => Promise<string>;
}

interface Candidate {
  size: number;
  mtimeMs: number;
  ino: number;
  since: number;
}

const maxUndecodableWarnings = 1000;

/** A name with its non-ASCII and control bytes as \xNN, for a log line a person can read. */
function escapeBytes(bytes: Buffer): string {
  let out = '';
  for (const b of bytes) out += b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  return out;
}

/** `*` any run of characters, `?` one character; matched against the whole name. */
function patternToRegExp(pattern: string): RegExp {
  const body = [...pattern].map((ch) => (ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join('');
  return new RegExp(`^${body}$`, 's');
}

export class WatchFolder {
  private readonly match: RegExp;
  private readonly candidates = new Map<string, Candidate>();
  private ledger: WatchLedger | null = null;
  private missingLogged = false;
  /** Names (hex) already reported as not UTF-8, bounded. */
  private readonly undecodableWarned = new Set<string>();

  constructor(
    readonly settings: WatchFolderSettings,
    private readonly deps: WatchFolderDeps,
  ) {
    this.match = patternToRegExp(settings.pattern);
  }

  /** Loads the ledger and repairs what a power cut may have left half done. */
  async open(): Promise<void> {
    const { spool } = this.deps;
    const ledger = await WatchLedger.open(this.deps.fs, this.deps.stateDir, this.settings.dir, (path, reason) => spool.quarantine(path, reason));
    this.ledger = ledger;
    let changed = false;
    // Jobs queued for this folder whose ledger entry never made it to disk.
    const jobs = [...(await spool.list()), ...(await spool.listFinished())].filter((j) => this.owns(j));
    for (const job of jobs) {
      const name = job.spec.file.slice(this.settings.dir.length + 1);
      const src = decodeQueuedOptions(job.spec.options, job.id).watchSource;
      const known = ledger.get(name);
      if (!src || (known && known.jobId === job.id)) continue;
      if (known && !(known.size === src.size && known.mtimeMs === src.mtimeMs && known.ino === src.ino)) continue;
      ledger.set({ name, ...src, jobId: job.id, state: 'queued' });
      changed = true;
    }
    if (changed) await ledger.save();
    for (const entry of ledger.all()) {
      if (entry.state !== 'queued') continue;
      const job = await spool.get(entry.jobId);
      if (!job) await this.finish(entry, 'failed');
      else if (job.state === 'done' || job.state === 'failed' || job.state === 'cancelled') await this.finish(entry, job.state === 'done' ? 'done' : 'failed');
    }
  }

  /** Whether a job was queued by this folder. */
  owns(job: JobRecord): boolean {
    return job.spec.options.watchDir === this.settings.dir;
  }

  /** The scheduler finished an attempt of one of this folder's jobs. */
  async onOutcome(jobId: string, outcome: JobOutcome): Promise<void> {
    const entry = this.ledger?.all().find((e) => e.jobId === jobId);
    if (!entry) return;
    if (outcome.kind === 'done') await this.finish(entry, 'done');
    else if (outcome.kind === 'failed' || outcome.kind === 'cancelled') await this.finish(entry, 'failed');
  }

  /** One poll of the folder. */
  async scan(): Promise<void> {
    const ledger = this.ledger;
    if (!ledger) throw new Error('WatchFolder.open() first');
    const { dir } = this.settings;
    let names: string[];
    try {
      names = this.decodable(dir, await readdir(dir, { encoding: 'buffer' }));
    } catch (err) {
      if (!this.missingLogged) this.deps.logger.warn({ dir, err: errnoCode(err) ?? String(err) }, 'watch folder cannot be read; will keep trying');
      this.missingLogged = true;
      return;
    }
    this.missingLogged = false;
    const present = new Set<string>();
    const now = this.deps.clock.now();
    const max = this.deps.maxTracked ?? 10_000;
    for (const name of names) {
      if (!this.match.test(name)) continue;
      const st = await stat(join(dir, name)).catch(() => undefined);
      if (!st || !st.isFile()) continue;
      present.add(name);
      const id = { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino };
      const known = ledger.get(name);
      if (known && known.size === id.size && known.mtimeMs === id.mtimeMs && known.ino === id.ino) continue;
      const c = this.candidates.get(name);
      if (!c || c.size !== id.size || c.mtimeMs !== id.mtimeMs || c.ino !== id.ino) {
        if (!c && this.candidates.size >= max) continue;
        // A file last written long ago (there before we started) has settled already.
        const settledAlready = now - id.mtimeMs >= this.settings.settleMs;
        this.candidates.set(name, { ...id, since: settledAlready ? now - this.settings.settleMs : now });
        if (!settledAlready) continue;
      }
      const cand = this.candidates.get(name);
      if (!cand || now - cand.since < this.settings.settleMs) continue;
      await this.queue(name, id);
    }
    let changed = false;
    for (const name of [...this.candidates.keys()]) if (!present.has(name)) this.candidates.delete(name);
    for (const entry of ledger.all()) {
      if (present.has(entry.name) || entry.state === 'queued') continue;
      ledger.delete(entry.name);
      changed = true;
    }
    if (changed) await ledger.save();
  }

  /**
   * Names as strings, leaving out those that are not valid UTF-8: a job record holds its path as
   * JSON text, and a name read with replacement characters would open nothing. Each such file that
   * matches the pattern is reported once, so it does not silently never go.
   */
  private decodable(dir: string, raw: Buffer[]): string[] {
    const names: string[] = [];
    for (const bytes of raw) {
      const name = bytes.toString('utf8');
      if (Buffer.from(name, 'utf8').equals(bytes)) {
        names.push(name);
        continue;
      }
      const key = bytes.toString('hex');
      if (!this.match.test(name) || this.undecodableWarned.has(key)) continue;
      if (this.undecodableWarned.size < maxUndecodableWarnings) this.undecodableWarned.add(key);
      this.deps.logger.warn(
        { dir, name: escapeBytes(bytes), nameHex: key },
        'watch folder: a file name is not valid UTF-8 and cannot be queued; rename it to UTF-8 (e.g. convmv -f latin1 -t utf8 --notest)',
      );
    }
    return names;
  }

  private async queue(name: string, id: { size: number; mtimeMs: number; ino: number }): Promise<void> {
    const ledger = this.ledger;
    if (!ledger) return;
    const file = join(this.settings.dir, name);
    const options: QueuedUploadOptions = { ...this.settings.upload, queuedSize: id.size, watchDir: this.settings.dir, watchSource: id };
    const job: NewJob = { kind: 'upload', file, options: encodeQueuedOptions(options) };
    const jobId = await (this.deps.enqueue ? this.deps.enqueue(job) : this.deps.spool.enqueue(job));
    this.candidates.delete(name);
    ledger.set({ name, ...id, jobId, state: 'queued' });
    await ledger.save();
    this.deps.logger.info({ job: jobId, file, size: id.size }, 'watch folder queued a file');
  }

  /** Records the end of a job and applies the after-success action (idempotent). */
  private async finish(entry: LedgerEntry, state: 'done' | 'failed'): Promise<void> {
    const ledger = this.ledger;
    if (!ledger) return;
    const { afterSuccess, dir, moveTo } = this.settings;
    const path = join(dir, entry.name);
    if (state === 'done' && afterSuccess !== 'keep') {
      const st = await stat(path).catch(() => undefined);
      const same = st !== undefined && st.size === entry.size && st.mtimeMs === entry.mtimeMs && st.ino === entry.ino;
      let handled = false;
      try {
        if (same && afterSuccess === 'delete') await unlink(path);
        if (same && afterSuccess === 'move' && moveTo !== undefined) {
          await mkdir(moveTo, { recursive: true });
          await rename(path, join(moveTo, entry.name));
        }
        handled = same;
      } catch (err) {
        // The entry stays (state done), so the file is not queued again while it is there.
        this.deps.logger.warn({ file: path, action: afterSuccess, err: errnoCode(err) ?? String(err) }, 'after-success action failed; the file stays');
      }
      if (handled) {
        ledger.delete(entry.name);
        await ledger.save();
        return;
      }
    }
    ledger.set({ ...entry, state });
    await ledger.save();
  }
}
