/** Turns whatever a port threw into an FtError with a code callers can switch on. */
import { FtError } from '../errors';

export function asFtError(err: unknown, code: FtError['code'], what: string, transient: boolean): FtError {
  if (err instanceof FtError) return err;
  const reason = err instanceof Error ? err.message : String(err);
  return new FtError(code, `${what}: ${reason}`, { transient, cause: err });
}
