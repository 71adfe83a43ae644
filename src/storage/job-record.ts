import { FtError, isErrorCode, type FtErrorCode } from '../errors';
import { decodeRecord, encodeRecord } from './record-codec';

/**
 * A job as the spool stores it. The spec is deliberately loose here: the daemon gives `options`
 * its meaning; the spool only guarantees the job is kept, whole, until it finishes.
 */
export interface JobSpec {
  kind: 'upload';
  /** Absolute path of the file to send. */
  file: string;
  options: Record<string, unknown>;
  createdAt: string;
}

export type PendingJobState = 'queued' | 'active';
export type FinishedJobState = 'done' | 'failed' | 'cancelled';
export type JobState = PendingJobState | FinishedJobState;
const jobStates: readonly JobState[] = ['queued', 'active', 'done', 'failed', 'cancelled'];

export interface JobRecord {
  id: string;
  state: JobState;
  spec: JobSpec;
  updatedAt: string;
  startedAt?: string;
  finishedAt?: string;
  /** Why it failed or was cancelled, or what the broker said on success. */
  reason?: string;
  /**
   * The error code of a failed job, which `send --wait` turns into its exit status. Records
   * written before this field existed carry the code only as the `CODE: ` prefix of `reason`.
   */
  code?: FtErrorCode;
}

const KIND = 'job';
const VERSION = 1;

export function encodeJob(job: JobRecord): Uint8Array {
  return encodeRecord(KIND, VERSION, job);
}

export function decodeJob(bytes: Uint8Array, file: string): JobRecord {
  const { body } = decodeRecord(bytes, { kind: KIND, versions: [VERSION], file });
  const bad = (field: string, want: string): FtError => new FtError('STATE_CORRUPT', `state file ${file}: job field "${field}" ${want}`, { details: { file, field } });
  const o = objectOr(body, () => bad('(body)', 'is not an object'));
  const spec = objectOr(o.spec, () => bad('spec', 'is not an object'));
  const str = (obj: Record<string, unknown>, k: string, prefix = ''): string => {
    const v = obj[k];
    if (typeof v !== 'string') throw bad(prefix + k, 'is not a string');
    return v;
  };
  const optStr = (k: string): string | undefined => (o[k] === undefined ? undefined : str(o, k));
  if (spec.kind !== 'upload') throw bad('spec.kind', 'is not "upload"');
  const state = o.state;
  if (!jobStates.includes(state as JobState)) throw bad('state', `is not one of ${jobStates.join(', ')}`);
  const job: JobRecord = {
    id: str(o, 'id'),
    state: state as JobState,
    spec: {
      kind: 'upload',
      file: str(spec, 'file', 'spec.'),
      options: objectOr(spec.options, () => bad('spec.options', 'is not an object')),
      createdAt: str(spec, 'createdAt', 'spec.'),
    },
    updatedAt: str(o, 'updatedAt'),
  };
  const startedAt = optStr('startedAt');
  const finishedAt = optStr('finishedAt');
  const reason = optStr('reason');
  if (startedAt !== undefined) job.startedAt = startedAt;
  if (finishedAt !== undefined) job.finishedAt = finishedAt;
  if (reason !== undefined) job.reason = reason;
  // A code this version does not know (written by a newer one) is left out, not fatal: the record
  // still says what happened, and the reader falls back to the reason.
  if (o.code !== undefined && typeof o.code !== 'string') throw bad('code', 'is not a string');
  if (isErrorCode(o.code)) job.code = o.code;
  return job;
}

function objectOr(v: unknown, fail: () => Error): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw fail();
  return v as Record<string, unknown>;
}
