/**
 * The transfer flags `ftagent send` shares between its foreground form and `--queue`: their
 * parseArgs spec and their conversion to upload options. One place, so both forms accept the
 * same spellings and give the same messages.
 */
import { FtError } from '../errors';
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

export function sendUsageError(message: string): FtError {
  return new FtError('USAGE', `${message}. Run \`ftagent send --help\` for the options`);
}

export function integerFlag(flag: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw sendUsageError(`--${flag} must be a whole number, got "${value}"`);
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) throw sendUsageError(`--${flag} must be at least ${min}, got ${value}`);
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
  const chunkSize = integerFlag('chunk-size', v['chunk-size'], 1);
  const window = integerFlag('window', v.window, 1);
  const segmentsTtl = integerFlag('segments-ttl', v['segments-ttl'], 1);
  const expireAt = integerFlag('expire-at', v['expire-at'], 0);
  const finTimeout = integerFlag('fin-timeout', v['fin-timeout'], 1);
  const commandTimeout = integerFlag('command-timeout', v['command-timeout'], 1);
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
