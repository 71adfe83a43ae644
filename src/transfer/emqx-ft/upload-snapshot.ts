/**
 * The state of an upload that a later session can resume from (the daemon writes it down as a
 * checkpoint). It only ever holds what the broker confirmed.
 */
import type { NodeRangesRecord } from './node-ranges';
import type { ByteRange } from './range-set';
import type { SourceIdentity } from '../source-file';

export type UploadStage = 'init' | 'segments' | 'fin';

export interface UploadSnapshot {
  fileId: string;
  stage: UploadStage;
  /** The exact init payload bytes sent: EMQX refuses a re-init that differs in any field. */
  initPayload: Uint8Array;
  /** Byte ranges the broker confirmed, merged, as [start, end). */
  confirmed: ByteRange[];
  /** Which broker node (URL) confirmed which ranges: after a failover, what may be lost. */
  nodes?: NodeRangesRecord;
  source: SourceIdentity;
}
