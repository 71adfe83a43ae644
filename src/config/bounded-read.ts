/**
 * Reading the small local files an operator names (config, password, CA/certificate/key, store job
 * lists) with a size cap: `/dev/zero` or a huge file given by mistake must fail at once with a clear
 * message instead of growing the process until the kernel kills it. At most limit + 1 bytes are
 * ever read. Pipes work (`--password-file <(pass show mqtt)`): they are read to their end or the cap.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { FtError, type FtErrorCode } from '../errors';

/** Documented in the README ("Limits"). */
export const fileLimits = {
  config: 1024 * 1024,
  password: 4 * 1024,
  pem: 1024 * 1024,
  storeJobs: 1024 * 1024,
} as const;

export interface BoundedRead {
  limit: number;
  /** How the file is named in the message: `config file /etc/x.json`, `--password-file p`. */
  what: string;
  code: FtErrorCode;
}

/** The file's bytes; FtError(`code`) when it is larger than `limit`; Node's errno errors otherwise. */
export function readBounded(path: string, o: BoundedRead): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(o.limit + 1);
    let n = 0;
    while (n < buf.length) {
      const got = readSync(fd, buf, n, buf.length - n, null);
      if (got === 0) break;
      n += got;
    }
    if (n > o.limit) {
      throw new FtError(o.code, `${o.what} is larger than ${describeLimit(o.limit)}, the most ftagent reads from such a file: check that it names the right file`, {
        details: { file: path, limit: o.limit },
      });
    }
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

function describeLimit(bytes: number): string {
  return bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MiB` : `${bytes / 1024} KiB`;
}
