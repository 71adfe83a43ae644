import { FtError } from '../errors';
import { isMerged, totalBytes, type ByteRange } from './byte-ranges';
import type { DurableFs } from './durable-fs';
import { decodeRecord, encodeRecord } from './record-codec';

/**
 * A transfer's state written down (one per active job, <stateDir>/checkpoints/<jobId>).
 * Enough to resume byte-identically: EMQX rejects a re-init whose metadata differs in any field,
 * so the exact init payload is kept as sent, and `confirmed` only ever holds bytes the broker acked.
 */
export type CheckpointStage = 'init' | 'segments' | 'fin';
const checkpointStages: readonly CheckpointStage[] = ['init', 'segments', 'fin'];

export interface SourceIdentity {
  path: string;
  size: number;
  mtimeMs: number;
  ino: number;
}

export interface Checkpoint {
  jobId: string;
  fileId: string;
  /** The init command's payload exactly as published (a JSON string). */
  initPayload: string;
  source: SourceIdentity;
  /**
   * The segment size the job was queued with, when it set one. Only a record: resume works on the
   * confirmed byte ranges, so a later attempt may cut segments differently (another broker, a
   * smaller size after packet-size disconnects).
   */
  chunkSize?: number;
  /** Byte intervals the broker confirmed, merged [start, end). */
  confirmed: ByteRange[];
  /** Which broker URL confirmed which of them (absent in older checkpoints). */
  nodes?: Record<string, ByteRange[]>;
  stage: CheckpointStage;
  /** Times this job was started (resumes included); the caller gives up after its limit. */
  attempts: number;
  createdAt: string;
  updatedAt: string;
}

const KIND = 'checkpoint';
const VERSION = 1;

export function encodeCheckpoint(cp: Checkpoint): Uint8Array {
  return encodeRecord(KIND, VERSION, cp);
}

/** STATE_CORRUPT (naming the file and the field) for anything torn, damaged or inconsistent. */
export function decodeCheckpoint(bytes: Uint8Array, file: string): Checkpoint {
  const { body } = decodeRecord(bytes, { kind: KIND, versions: [VERSION], file });
  const bad = (field: string, want: string): FtError => new FtError('STATE_CORRUPT', `state file ${file}: checkpoint field "${field}" ${want}`, { details: { file, field } });
  const o = asObject(body, () => bad('(body)', 'is not an object'));
  const str = (k: string): string => {
    const v = o[k];
    if (typeof v !== 'string') throw bad(k, 'is not a string');
    return v;
  };
  const int = (obj: Record<string, unknown>, k: string, prefix = ''): number => {
    const v = obj[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad(prefix + k, 'is not a non-negative integer');
    return v;
  };
  const src = asObject(o.source, () => bad('source', 'is not an object'));
  const srcPath = src.path;
  if (typeof srcPath !== 'string') throw bad('source.path', 'is not a string');
  const mtimeMs = src.mtimeMs;
  if (typeof mtimeMs !== 'number' || !Number.isFinite(mtimeMs)) throw bad('source.mtimeMs', 'is not a number');
  const source: SourceIdentity = { path: srcPath, size: int(src, 'size', 'source.'), mtimeMs, ino: int(src, 'ino', 'source.') };

  const stage = o.stage;
  if (!checkpointStages.includes(stage as CheckpointStage)) throw bad('stage', `is not one of ${checkpointStages.join(', ')}`);
  const confirmed = parseRanges(o.confirmed);
  if (!confirmed || !isMerged(confirmed)) throw bad('confirmed', 'is not a list of merged [start, end) byte intervals');
  const last = confirmed[confirmed.length - 1];
  if (last && last[1] > source.size) throw bad('confirmed', `reaches past the source size ${source.size}`);
  const nodes = o.nodes === undefined ? undefined : parseNodes(o.nodes, source.size, bad);
  const chunkSize = o.chunkSize === undefined ? undefined : int(o, 'chunkSize');
  if (chunkSize === 0) throw bad('chunkSize', 'is zero');

  return {
    jobId: str('jobId'),
    fileId: str('fileId'),
    initPayload: str('initPayload'),
    source,
    ...(chunkSize === undefined ? {} : { chunkSize }),
    confirmed,
    ...(nodes ? { nodes } : {}),
    stage: stage as CheckpointStage,
    attempts: int(o, 'attempts'),
    createdAt: str('createdAt'),
    updatedAt: str('updatedAt'),
  };
}

/** The checkpoint at `path`, or undefined if there is none. Throws STATE_CORRUPT if it is damaged. */
export async function readCheckpoint(fs: DurableFs, path: string): Promise<Checkpoint | undefined> {
  const bytes = await fs.readFile(path);
  return bytes === undefined ? undefined : decodeCheckpoint(bytes, path);
}

export interface CheckpointWriterOptions {
  fs: DurableFs;
  path: string;
  /** Write after this many newly confirmed bytes (default 1 MiB). */
  everyBytes?: number;
  /** …or when this long has passed since the last write and something changed (default 2000 ms). */
  everyMs?: number;
  /** Milliseconds, monotonic enough for intervals. Default Date.now. */
  now?: () => number;
}

/**
 * Throttles checkpoint writes to spare the SD card: a write at most every `everyBytes` of progress
 * or `everyMs`, and always on a stage change. Losing the updates in between only costs re-sending a
 * few segments (the broker stores segments by offset; re-sending is harmless).
 * There are no timers: a due time-based write happens at the next update() or flush().
 */
export class CheckpointWriter {
  private readonly everyBytes: number;
  private readonly everyMs: number;
  private readonly now: () => number;
  private written: Checkpoint | undefined;
  private writtenAt = 0;
  private pending: Checkpoint | undefined;
  private queue: Promise<void> = Promise.resolve();
  private writes = 0;

  constructor(private readonly options: CheckpointWriterOptions) {
    this.everyBytes = options.everyBytes ?? 1024 * 1024;
    this.everyMs = options.everyMs ?? 2000;
    this.now = options.now ?? Date.now;
  }

  /** How many times the file was written (for tests and metrics). */
  get writeCount(): number {
    return this.writes;
  }

  /** The last checkpoint known to be on disk. */
  get lastWritten(): Checkpoint | undefined {
    return this.written;
  }

  /** Offer the current state; resolves true if it was written now. Calls are serialized. */
  update(cp: Checkpoint): Promise<boolean> {
    return this.serialize(async () => {
      this.pending = cp;
      if (!this.due(cp)) return false;
      await this.writePending();
      return true;
    });
  }

  /** Write the latest offered state if it is not on disk yet (pause, shutdown, before fin). */
  flush(): Promise<void> {
    return this.serialize(async () => {
      if (this.pending) await this.writePending();
    });
  }

  private due(cp: Checkpoint): boolean {
    const last = this.written;
    if (!last || last.stage !== cp.stage) return true;
    if (totalBytes(cp.confirmed) - totalBytes(last.confirmed) >= this.everyBytes) return true;
    if (this.now() - this.writtenAt < this.everyMs) return false;
    return sameProgress(cp, last) === false;
  }

  private async writePending(): Promise<void> {
    const cp = this.pending;
    if (!cp) return;
    // On failure (a full disk) `pending` stays set, so the next update or flush tries again.
    await this.options.fs.writeFileAtomic(this.options.path, encodeCheckpoint(cp));
    this.writes++;
    this.written = cp;
    this.writtenAt = this.now();
    if (this.pending === cp) this.pending = undefined;
  }

  private serialize<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task);
    this.queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }
}

/** Equal but for updatedAt: nothing worth a flash write. */
function sameProgress(a: Checkpoint, b: Checkpoint): boolean {
  return JSON.stringify({ ...a, updatedAt: '' }) === JSON.stringify({ ...b, updatedAt: '' });
}

function asObject(v: unknown, fail: () => Error): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw fail();
  return v as Record<string, unknown>;
}

function parseNodes(v: unknown, size: number, bad: (field: string, want: string) => FtError): Record<string, ByteRange[]> {
  const o = asObject(v, () => bad('nodes', 'is not an object'));
  // No prototype: a node named "__proto__" stays a plain key.
  const out = Object.create(null) as Record<string, ByteRange[]>;
  for (const [node, value] of Object.entries(o)) {
    const ranges = parseRanges(value);
    const last = ranges?.[ranges.length - 1];
    if (!ranges || !isMerged(ranges) || (last && last[1] > size)) throw bad(`nodes.${node}`, `is not a list of merged byte intervals within the source size ${size}`);
    out[node] = ranges;
  }
  return out;
}

function parseRanges(v: unknown): ByteRange[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const out: ByteRange[] = [];
  for (const r of v) {
    if (!Array.isArray(r) || r.length !== 2) return undefined;
    const [s, e] = r as unknown[];
    if (typeof s !== 'number' || typeof e !== 'number') return undefined;
    out.push([s, e]);
  }
  return out;
}
