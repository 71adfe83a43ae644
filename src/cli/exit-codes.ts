import { FtError, type FtErrorCode } from '../errors';

/** The only place where error codes become process exit statuses (documented in the README). */
export const exitStatus = {
  ok: 0,
  failure: 1,
  usage: 2,
  source: 3,
  rejected: 4,
  gaveUp: 5,
  spoolFull: 6,
  interrupted: 130,
} as const;

const exitCodeFor: Record<FtErrorCode, number> = {
  USAGE: exitStatus.usage,
  CONFIG_INVALID: exitStatus.usage,
  SOURCE_UNREADABLE: exitStatus.source,
  SOURCE_CHANGED: exitStatus.source,
  FT_REJECTED: exitStatus.rejected,
  FT_CANCELLED: exitStatus.rejected,
  FT_UNAVAILABLE: exitStatus.gaveUp,
  CONNECT_FAILED: exitStatus.gaveUp,
  AUTH_FAILED: exitStatus.usage,
  TIMEOUT: exitStatus.gaveUp,
  DISCONNECTED: exitStatus.gaveUp,
  PROTOCOL_ERROR: exitStatus.gaveUp,
  GAVE_UP: exitStatus.gaveUp,
  INTERRUPTED: exitStatus.interrupted,
  STATE_CORRUPT: exitStatus.failure,
  DISK_FULL: exitStatus.failure,
  JOB_NOT_FOUND: exitStatus.usage,
  NFTP_DECODE: exitStatus.gaveUp,
  NFTP_NO_ANSWER: exitStatus.gaveUp,
  NOT_ALLOWED: exitStatus.rejected,
  NOT_FOUND: exitStatus.rejected,
  REMOTE_ERROR: exitStatus.rejected,
  LIMIT_EXCEEDED: exitStatus.gaveUp,
  SPOOL_FULL: exitStatus.spoolFull,
  REQUEST_INVALID: exitStatus.usage,
  RATE_LIMITED: exitStatus.gaveUp,
  INTERNAL: exitStatus.failure,
};

export function exitCodeOf(err: unknown): number {
  return err instanceof FtError ? exitCodeFor[err.code] : exitStatus.failure;
}
