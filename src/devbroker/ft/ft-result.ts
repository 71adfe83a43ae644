/**
 * What a file-transfer operation ends with. EMQX turns `{error, Reason}` into a reason_description
 * (docs/emqx-ft.md §4): an atom as is, the first element of a 2-tuple, "internal_error" otherwise.
 */
export type FtResult = { ok: true } | { ok: false; reason: string };

export const OK: FtResult = { ok: true };

export function fail(reason: string): FtResult {
  return { ok: false, reason };
}

/** A file error as EMQX reports it: the POSIX atom in lower case (`enospc`), else internal_error. */
export function fileErrorReason(err: unknown): string {
  const code = typeof err === 'object' && err !== null && 'code' in err ? err.code : undefined;
  if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) return code.toLowerCase();
  return 'internal_error';
}

export const RC_SUCCESS = 0x00;
export const RC_NO_MATCHING_SUBSCRIBERS = 0x10;
const RC_UNSPECIFIED_ERROR = 0x80;
export const RC_QUOTA_EXCEEDED = 0x97;

export function resultToReasonCode(result: FtResult): number {
  return result.ok ? RC_SUCCESS : RC_UNSPECIFIED_ERROR;
}
