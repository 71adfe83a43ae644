import { createWriteStream, type WriteStream } from 'node:fs';

/** One inbound PUBLISH as the audit log records it. `rc` is null when the publish was never acknowledged (a dropped connection). */
export interface AuditEntry {
  client: string;
  topic: string;
  bytes: number;
  qos: 0 | 1 | 2;
  rc: number | null;
}

export interface AuditLog {
  record(entry: AuditEntry): void;
  /** Flush everything written so far and close the file. */
  close(): Promise<void>;
}

/**
 * A JSON line per inbound PUBLISH, appended through one stream (tests and benchmarks count re-sent
 * bytes from it). Resolves once the file is open, so a bad path fails the broker's start.
 */
export async function openAuditLog(path: string): Promise<AuditLog> {
  const stream: WriteStream = createWriteStream(path, { flags: 'a' });
  await new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', reject);
  });
  let failure: Error | null = null;
  stream.on('error', (err) => {
    failure = err;
  });
  let closed = false;
  return {
    record(entry) {
      if (closed || failure) return;
      stream.write(`${JSON.stringify({ t: new Date().toISOString(), client: entry.client, topic: entry.topic, bytes: entry.bytes, qos: entry.qos, rc: entry.rc })}\n`);
    },
    close() {
      if (closed) return Promise.resolve();
      closed = true;
      return new Promise<void>((resolve, reject) => {
        if (failure) {
          stream.destroy();
          reject(failure);
          return;
        }
        stream.end(() => resolve());
      });
    },
  };
}

/** For a broker started without `auditLog`. */
export const noAuditLog: AuditLog = { record() {}, close: () => Promise.resolve() };
