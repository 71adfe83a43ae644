/**
 * One error type for the whole agent. Callers switch on `code` (stable, documented in the README),
 * never on the message; `transient` says whether trying again later may help.
 * Exit statuses are chosen from the code only at the CLI edge (src/cli/exit-codes.ts).
 */
export const errorCodes = [
  'USAGE', // a command line that cannot be run as given
  'CONFIG_INVALID', // the config file or an option has a bad key or value
  'SOURCE_UNREADABLE', // the local file is missing or unreadable
  'SOURCE_CHANGED', // the local file changed while it was being sent
  'FT_REJECTED', // the broker refused the transfer for good (reason from the broker)
  'FT_CANCELLED', // the broker asked us to cancel (0x83)
  'FT_UNAVAILABLE', // the broker does not do file transfer (0x10 to every command)
  'CONNECT_FAILED', // no broker could be reached
  'AUTH_FAILED', // the broker refused our credentials
  'TIMEOUT', // an answer did not come in time
  'DISCONNECTED', // the connection dropped while a command was outstanding
  'PROTOCOL_ERROR', // a peer sent something malformed
  'GAVE_UP', // bounded retries are exhausted
  'INTERRUPTED', // a signal stopped us
  'STATE_CORRUPT', // a checkpoint, job or state file failed its checks
  'DISK_FULL', // the state or receive directory has no room
  'JOB_NOT_FOUND', // no job with that id
  'NFTP_DECODE', // an nftp packet does not parse
  'NFTP_NO_ANSWER', // the nftp peer never answered
  'NOT_ALLOWED', // a path is outside the configured roots
  'NOT_FOUND', // a requested remote or local path does not exist
  'REMOTE_ERROR', // the store server answered ERROR / BadReq
  'LIMIT_EXCEEDED', // a peer asked for more than a configured cap (concurrent receives, reserved bytes, packet size)
  'SPOOL_FULL', // the job queue is at spool.maxJobs / spool.maxBytes
  'REQUEST_INVALID', // a remote request is malformed, too large or names an unknown verb
  'RATE_LIMITED', // remote requests came faster than remote.maxRequestsPerMinute
  'INTERNAL', // something the code did not expect: a bug, never retried and never blamed on a peer
] as const;

export type FtErrorCode = (typeof errorCodes)[number];

export interface FtErrorOptions extends ErrorOptions {
  /** Trying again later may help (network, quota, timeouts). Defaults to false. */
  transient?: boolean;
  /** Extra machine-readable facts (broker reason, rc, path…) for logs and --json output. */
  details?: Record<string, unknown>;
}

export class FtError extends Error {
  override readonly name = 'FtError';
  readonly transient: boolean;
  readonly details: Record<string, unknown>;

  constructor(
    readonly code: FtErrorCode,
    message: string,
    options: FtErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.transient = options.transient ?? false;
    this.details = options.details ?? {};
  }

  /**
   * Any thrown value as an FtError; an FtError passes through unchanged. Anything else reached a
   * catch that did not expect it, which is a bug: INTERNAL, not transient, so it is neither retried
   * nor reported as the peer's fault. Only a port boundary that knows what a foreign error means
   * there (a failed publish is a disconnect, a failed read an unreadable source) passes `as`.
   */
  static from(err: unknown, as?: { code: FtErrorCode; what: string; transient?: boolean }): FtError {
    if (err instanceof FtError) return err;
    const reason = err instanceof Error ? err.message : String(err);
    if (as) return new FtError(as.code, `${as.what}: ${reason}`, { transient: as.transient ?? false, cause: err });
    return new FtError('INTERNAL', `unexpected failure: ${reason}`, { cause: err });
  }
}

export function isErrorCode(s: unknown): s is FtErrorCode {
  return typeof s === 'string' && (errorCodes as readonly string[]).includes(s);
}

export function isFtError(err: unknown, code?: FtErrorCode): err is FtError {
  return err instanceof FtError && (code === undefined || err.code === code);
}

/** Node's fs errors carry a `code` such as ENOENT; this reads it without `any`. */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = err.code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}
