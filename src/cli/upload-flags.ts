/**
 * The transfer flags `ftagent send` shares between its foreground form and `--queue`: their
 * parseArgs spec and their conversion to upload options. One place, so both forms accept the
 * same spellings and give the same messages.
 */
import { rangeProblem, uploadLimits, type IntegerRange } from '../config/limits';
import { usageErrorFor } from './argv';
import type { JsonValue } from '../protocol/emqx-ft-filemeta';

export const uploadFlagSpec = {
  'chunk-size': { type: 'string' },
  window: { type: 'string' },
  'file-id': { type: 'string' },
  name: { type: 'string' },
  'user-data': { type: 'string' },
  meta: { type: 'string', multiple: true },
  'segments-ttl': { type: 'string' },
  'expire-at': { type: 'string' },
  'segment-checksums': { type: 'boolean' },
  'fin-timeout': { type: 'string' },
  'command-timeout': { type: 'string' },
} as const;

/** What parseArgs gives for uploadFlagSpec. */
export interface UploadFlagValues {
  'chunk-size'?: string;
  window?: string;
  'file-id'?: string;
  name?: string;
  'user-data'?: string;
  meta?: string[];
  'segments-ttl'?: string;
  'expire-at'?: string;
  'segment-checksums'?: boolean;
  'fin-timeout'?: string;
  'command-timeout'?: string;
}

/** Upload options the flags set; what they leave out is absent (the caller's defaults apply). */
export interface UploadFlagOptions {
  chunkSize?: number;
  window?: number;
  fileId?: string;
  name?: string;
  userData?: JsonValue;
  segmentsTtl?: number;
  expireAt?: number;
  segmentChecksums?: boolean;
  finTimeoutMs?: number;
  commandTimeoutMs?: number;
}

export const sendUsageError = usageErrorFor('send');

/** A whole-number flag checked against its range from config/limits.ts (the config's own rules). */
export function integerFlag(flag: string, value: string | undefined, range: IntegerRange): number | undefined {
  if (value === undefined) return undefined;
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  const problem = rangeProblem(n, range);
  if (problem) throw sendUsageError(`--${flag} ${problem}, got "${value}"`);
  return n;
}

function parseUserData(raw: string | undefined, metas: readonly string[]): JsonValue | undefined {
  let data: JsonValue | undefined;
  if (raw !== undefined) {
    try {
      data = JSON.parse(raw) as JsonValue;
    } catch {
      throw sendUsageError('--user-data is not valid JSON');
    }
  }
  if (metas.length === 0) return data;
  if (data !== undefined && (typeof data !== 'object' || data === null || Array.isArray(data))) {
    throw sendUsageError('--meta needs --user-data to be a JSON object (or absent)');
  }
  const obj: { [key: string]: JsonValue } = { ...(data ?? {}) };
  for (const m of metas) {
    const eq = m.indexOf('=');
    if (eq <= 0) throw sendUsageError(`--meta "${m}" must be KEY=VALUE`);
    obj[m.slice(0, eq)] = m.slice(eq + 1);
  }
  return obj;
}

export function uploadFlagOptions(v: UploadFlagValues): UploadFlagOptions {
  const userData = parseUserData(v['user-data'], v.meta ?? []);
  const chunkSize = integerFlag('chunk-size', v['chunk-size'], uploadLimits.chunkSize);
  const window = integerFlag('window', v.window, uploadLimits.window);
  const segmentsTtl = integerFlag('segments-ttl', v['segments-ttl'], uploadLimits.segmentsTtlSeconds);
  const expireAt = integerFlag('expire-at', v['expire-at'], uploadLimits.expireAt);
  const finTimeout = integerFlag('fin-timeout', v['fin-timeout'], uploadLimits.finTimeoutSeconds);
  const commandTimeout = integerFlag('command-timeout', v['command-timeout'], uploadLimits.commandTimeoutSeconds);
  return {
    ...(v['segment-checksums'] === true ? { segmentChecksums: true } : {}),
    ...(chunkSize !== undefined ? { chunkSize } : {}),
    ...(window !== undefined ? { window } : {}),
    ...(v['file-id'] !== undefined ? { fileId: v['file-id'] } : {}),
    ...(v.name !== undefined ? { name: v.name } : {}),
    ...(userData !== undefined ? { userData } : {}),
    ...(segmentsTtl !== undefined ? { segmentsTtl } : {}),
    ...(expireAt !== undefined ? { expireAt } : {}),
    ...(finTimeout !== undefined ? { finTimeoutMs: finTimeout * 1000 } : {}),
    ...(commandTimeout !== undefined ? { commandTimeoutMs: commandTimeout * 1000 } : {}),
  };
}
