/**
 * What an EMQX file-transfer upload can be told, independent of where the values come from
 * (command line, config file, daemon job). Defaults live here, once.
 */
import type { BackoffPolicy } from '../../time/backoff';
import type { FtMode } from '../../protocol/emqx-ft-topics';
import type { JsonValue } from '../../protocol/emqx-ft-filemeta';
import { defaultMemoryBudget } from './upload-geometry';
import type { UploadSnapshot } from './upload-snapshot';

export interface RetryPolicy {
  /** Sends of one command (first send included) before giving up on it. */
  maxCommandAttempts: number;
  /**
   * Async mode: inits the broker acknowledged but never answered on `$file-response` before
   * concluding it does not do file transfer. EMQX publishes an init's response before its PUBACK, so
   * a PUBACK without one, again and again, is a broker that routes `$file-async/…` like any topic.
   */
  maxUnansweredInits: number;
  /** Full restarts from offset 0 after 0x10 (file transfer not handled). */
  maxRestarts: number;
  /** Full re-sends after fin found data missing (`incomplete`, checksum mismatch). */
  maxResendAll: number;
  /** Consecutive 0x97 (quota exceeded) pauses without progress in between. */
  maxPauses: number;
  backoff: BackoffPolicy;
}

export interface UploadOptions {
  /** The local file. */
  path: string;
  /** Default: a new UUID. */
  fileId?: string;
  /** Name on the broker. Default: the file's base name made safe for EMQX by percent-encoding. */
  name?: string;
  /** sync: results in PUBACKs (MQTT 5 only); async: results on $file-response/{clientid}. */
  mode: FtMode;
  /** Bytes per segment. Default: from the broker's Maximum Packet Size (upload-geometry.ts). */
  chunkSize?: number;
  /** Commands in flight for this upload (never above the broker's Receive Maximum). Default: from the memory budget. */
  window?: number;
  /** Bytes of chunk buffers this upload may hold (window x chunk), when either is left to ftagent. */
  memoryBudget: number;
  /** Add each segment's SHA-256 to its topic. */
  segmentChecksums: boolean;
  userData?: JsonValue;
  segmentsTtl?: number;
  expireAt?: number;
  /** How long to wait for a fin result (EMQX may hold a sync fin for its 5-minute assembly timeout). */
  finTimeoutMs: number;
  /** How long to wait for the result of init, a segment or abort before sending it again. */
  commandTimeoutMs: number;
  retry: RetryPolicy;
  /** Continue a transfer: the state an earlier session reported through onProgress. */
  resume?: UploadSnapshot;
  /** Called after every confirmation, with the state to resume from. */
  onProgress?: (snapshot: UploadSnapshot) => void;
  signal?: AbortSignal;
  /**
   * Send `abort` when the upload fails (default true). A broker that honours it drops the confirmed
   * segments, so a caller that resumes transient failures from a checkpoint (the daemon) says false
   * and sends it itself only when it gives up for good.
   */
  abortOnFailure?: boolean;
}

export const uploadDefaults = {
  memoryBudget: defaultMemoryBudget,
  finTimeoutMs: 330_000,
  commandTimeoutMs: 30_000,
  segmentChecksums: false,
  retry: {
    maxCommandAttempts: 8,
    maxUnansweredInits: 3,
    maxRestarts: 3,
    maxResendAll: 3,
    maxPauses: 12,
    backoff: { baseMs: 250, capMs: 15_000 },
  },
} as const satisfies Partial<UploadOptions>;

export function withUploadDefaults(o: Partial<UploadOptions> & { path: string; mode: FtMode }): UploadOptions {
  return {
    memoryBudget: uploadDefaults.memoryBudget,
    finTimeoutMs: uploadDefaults.finTimeoutMs,
    commandTimeoutMs: uploadDefaults.commandTimeoutMs,
    segmentChecksums: uploadDefaults.segmentChecksums,
    ...o,
    retry: { ...uploadDefaults.retry, ...o.retry, backoff: { ...uploadDefaults.retry.backoff, ...o.retry?.backoff } },
  };
}

export interface UploadResult {
  fileId: string;
  name: string;
  size: number;
  sha256: string;
  seconds: number;
  /** Segment payload bytes put on the wire, re-sends included. */
  bytesSent: number;
  /** Commands sent more than once. */
  retries: number;
  clientId: string;
  broker: string | null;
}
