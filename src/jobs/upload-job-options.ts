/**
 * What a queued upload job carries besides its file: only the options the caller chose. Anything
 * left out takes the daemon's config at run time, so a job queued before a config change uses the
 * new defaults. Stored as plain JSON in the job record (JobSpec.options).
 */
import { FtError } from '../errors';
import type { JsonValue } from '../protocol/emqx-ft-filemeta';
import type { FtMode } from '../protocol/emqx-ft-topics';
import { withUploadDefaults, type UploadOptions } from '../transfer/emqx-ft/upload-options';

/** What to do when the source changed between two attempts of the same job. */
export type SourceChangePolicy = 'fail' | 'restart';

/** high starts at once (a reserved slot) and takes the shared window first; low is dropped first when the spool is full. */
export const jobPriorities = ['high', 'normal', 'low'] as const;
export type JobPriority = (typeof jobPriorities)[number];

export interface QueuedUploadOptions {
  /** Default: the job id (stable across restarts, so a re-sent init names the same transfer). */
  fileId?: string;
  name?: string;
  chunkSize?: number;
  window?: number;
  segmentChecksums?: boolean;
  userData?: JsonValue;
  segmentsTtl?: number;
  expireAt?: number;
  finTimeoutMs?: number;
  commandTimeoutMs?: number;
  /** fail (default): SOURCE_CHANGED ends the job; restart: send the new content under a new file id. */
  onSourceChange?: SourceChangePolicy;
  /** Default normal. */
  priority?: JobPriority;
  /** The file's size when it was queued: the spool's byte bound counts it. */
  queuedSize?: number;
  /** Set by a watch folder: the folder that queued the file… */
  watchDir?: string;
  /** …and the file's identity when it did (a restart recognises the job by it). */
  watchSource?: { size: number; mtimeMs: number; ino: number };
}

/**
 * The daemon's defaults for what a job leaves out (from the config file). The mode is the daemon's
 * alone: it decides whether the shared connection subscribes to $file-response.
 */
export interface JobUploadDefaults {
  mode: FtMode;
  /** Unset: chosen from the broker's limits (transfer/emqx-ft/upload-geometry.ts). */
  chunkSize?: number;
  window?: number;
  memoryBudget?: number;
  segmentChecksums: boolean;
  finTimeoutMs: number;
  commandTimeoutMs?: number;
}

type Check = (v: unknown) => boolean;
const isInt: Check = (v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isPositive: Check = (v) => isInt(v) && (v as number) > 0;
const isString: Check = (v) => typeof v === 'string';
const isBool: Check = (v) => typeof v === 'boolean';

const checks: Record<keyof QueuedUploadOptions, Check> = {
  fileId: isString,
  name: isString,
  chunkSize: isPositive,
  window: isPositive,
  segmentChecksums: isBool,
  userData: () => true,
  segmentsTtl: isPositive,
  expireAt: isInt,
  finTimeoutMs: isPositive,
  commandTimeoutMs: isPositive,
  onSourceChange: (v) => v === 'fail' || v === 'restart',
  priority: (v) => (jobPriorities as readonly unknown[]).includes(v),
  queuedSize: isInt,
  watchDir: isString,
  watchSource: (v) => {
    if (typeof v !== 'object' || v === null) return false;
    const o = v as Record<string, unknown>;
    return isInt(o.size) && typeof o.mtimeMs === 'number' && isInt(o.ino);
  },
};

/**
 * Reads the options of a job record. Unknown keys are refused rather than ignored: a job written
 * by a newer ftagent must not be sent with half its options (CONFIG_INVALID, the job fails).
 */
export function decodeQueuedOptions(raw: Record<string, unknown>, jobId: string): QueuedUploadOptions {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    const check = (checks as Record<string, Check | undefined>)[key];
    if (!check) throw new FtError('CONFIG_INVALID', `job ${jobId} has an option "${key}" this ftagent does not know (queued by a newer version?)`);
    if (!check(value)) throw new FtError('CONFIG_INVALID', `job ${jobId} has an invalid value for option "${key}": ${JSON.stringify(value)}`);
    out[key] = value;
  }
  // Every key was checked against its type above.
  return out;
}

/** The same options as a JSON object for JobSpec.options (undefined keys dropped). */
export function encodeQueuedOptions(o: QueuedUploadOptions): Record<string, unknown> {
  return JSON.parse(JSON.stringify(o)) as Record<string, unknown>;
}

/** UploadOptions for one job: its own choices over the daemon's defaults. */
export function jobUploadOptions(path: string, o: QueuedUploadOptions, d: JobUploadDefaults): UploadOptions {
  return withUploadDefaults({
    path,
    mode: d.mode,
    ...optional('chunkSize', o.chunkSize ?? d.chunkSize),
    ...optional('window', o.window ?? d.window),
    ...optional('memoryBudget', d.memoryBudget),
    segmentChecksums: o.segmentChecksums ?? d.segmentChecksums,
    finTimeoutMs: o.finTimeoutMs ?? d.finTimeoutMs,
    ...(o.commandTimeoutMs !== undefined ? { commandTimeoutMs: o.commandTimeoutMs } : d.commandTimeoutMs !== undefined ? { commandTimeoutMs: d.commandTimeoutMs } : {}),
    ...(o.name !== undefined ? { name: o.name } : {}),
    ...(o.userData !== undefined ? { userData: o.userData } : {}),
    ...(o.segmentsTtl !== undefined ? { segmentsTtl: o.segmentsTtl } : {}),
    ...(o.expireAt !== undefined ? { expireAt: o.expireAt } : {}),
  });
}

function optional<K extends string>(key: K, value: number | undefined): { [P in K]?: number } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: number };
}
