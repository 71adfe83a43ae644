/**
 * The JSON events published on `<prefix>/events` (README "Fleet plane"). Every event has `type`,
 * `at` (ISO time it happened), `clientId` and a per-type body. They are built from what the job
 * runner and the store receiver already report; nothing here does I/O.
 */
import type { JobOutcome } from '../jobs/upload-job-runner';
import type { JobRecord } from '../storage/job-record';
import type { StoreReceiveRecord } from '../transfer/store/store-receive';
import type { UploadResult } from '../transfer/emqx-ft/upload-options';
import type { SniffId } from '../protocol/file-sniffer';

export type FleetEvent =
  | (EventBase & { type: 'job.done'; job: string; file: string; fileId: string; name: string; size: number; sha256: string; seconds: number; bytesSent: number })
  | (EventBase & { type: 'job.failed'; job: string; file: string; code: string; reason: string })
  | (EventBase & { type: 'job.cancelled'; job: string; file: string; reason: string })
  | (EventBase & { type: 'job.dropped'; job: string; file: string; priority: string; reason: string })
  | (EventBase & { type: 'file.received'; path: string; size: number; requestId: string; storeJobId: SniffId });

interface EventBase {
  at: string;
  clientId: string;
}

/** The event for a job attempt that ended the job; undefined for attempts that did not (retry, stop). */
export function eventForOutcome(outcome: JobOutcome, clientId: string, at: string): FleetEvent | undefined {
  switch (outcome.kind) {
    case 'done': {
      return { type: 'job.done', at, clientId, job: outcome.record.id, file: outcome.record.spec.file, ...uploadFacts(outcome.result) };
    }
    case 'failed':
      return { type: 'job.failed', at, clientId, job: outcome.record.id, file: outcome.record.spec.file, code: outcome.error.code, reason: outcome.error.message };
    case 'cancelled':
      return { type: 'job.cancelled', at, clientId, job: outcome.record.id, file: outcome.record.spec.file, reason: outcome.record.reason ?? 'cancelled' };
    default:
      return undefined;
  }
}

/** What a finished upload reports, in `send --json` and in job.done events alike. */
export function uploadFacts(r: UploadResult): { fileId: string; name: string; size: number; sha256: string; seconds: number; bytesSent: number } {
  return { fileId: r.fileId, name: r.name, size: r.size, sha256: r.sha256, seconds: Number(r.seconds.toFixed(3)), bytesSent: r.bytesSent };
}

export function droppedEvent(job: JobRecord, priority: string, reason: string, clientId: string, at: string): FleetEvent {
  return { type: 'job.dropped', at, clientId, job: job.id, file: job.spec.file, priority, reason };
}

/** A store push that landed; failed pushes are the store server's to report. */
export function receivedEvent(record: StoreReceiveRecord, clientId: string, at: string): FleetEvent | undefined {
  if (!record.ok || record.result === undefined || record.target === undefined) return undefined;
  return { type: 'file.received', at, clientId, path: record.target, size: record.result.size, requestId: record.requestId, storeJobId: record.jobId };
}
