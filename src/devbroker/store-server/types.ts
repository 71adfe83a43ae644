/**
 * The development broker's store server (docs/store-flows.md): the server side of `$file_sniffer/v1/<verb>/…` and
 * of the nftp topics it allocates. `index.ts` routes messages; each verb is a `StoreVerbHandler`
 * (slot-handler.ts for broadcast/upload; push-*, download-*, dir-* files add theirs).
 */
import type { Logger } from '../../log';
import type { Clock } from '../../time/clock';
import type { SniffRequest, SniffResponse, SniffResponseFields, SniffVerb } from '../../protocol/file-sniffer';
import type { Width } from './nftp/wire';
import type { Prng } from '../prng';
import type { BrokerCore, InboundPublish } from '../types';

export interface StoreFaults {
  /** Seeds every random choice below, so a failing run can be replayed. */
  seed?: number;
  /** Fraction (0..1) of FILE/END blocks the server loses on first arrival (forcing GIVEME). */
  lostBlockRate?: number;
  /** These block numbers are lost on first arrival. */
  lostBlocks?: readonly number[];
  /** Answer WAIT this many times to every broadcast/upload request before ok. */
  waitStormCount?: number;
  /** The `timeout` (ms) sent with fault-injected WAITs. Default 50. */
  waitTimeoutMs?: number;
  /** Fraction (0..1) of broadcast/upload requests answered ERROR. */
  errorRate?: number;
  /** Answer every broadcast/upload request with this ack (e.g. 'ERROR', 'BadReq'). */
  forceAck?: 'ERROR' | 'BadReq';
  /** Leave this many broadcast/upload requests unanswered first (exercises the agent's retry). */
  ignoreRequests?: number;
}

export interface StoreNftpSettings {
  /** Must equal the agent's (not on the wire). Default 32 KiB. */
  blockSize: number;
  width: Width;
  /** Receiver: no new block for this long → GIVEME. Default 500 ms. */
  stallMs: number;
  /** Receiver: how long to wait for HELLO after ok. Default 60 s. */
  helloWaitMs: number;
  /** Receiver: GIVEMEs per stall round, one missing block each. Default 8. */
  givemeBurst: number;
}

export interface StoreServerOptions {
  /** The broker's data dir; the store server works under `<dataDir>/store/`. */
  dataDir: string;
  faults?: StoreFaults;
  /** MaxCurrentSession of a job the server has no limit for. Default 15 (the docs' figure). */
  maxCurrentSessionDefault?: number;
  /** Per job_id limits. */
  maxCurrentSession?: Record<string, number>;
  /** A token not returned within this time is reclaimed. Default 10 min. */
  tokenTtlMs?: number;
  /** The `timeout` (ms) sent with WAIT when a job's tokens are all taken. Default 1000. */
  waitTimeoutMs?: number;
  nftp?: Partial<StoreNftpSettings>;
  /** How long a finished transfer's topic stays claimed (late packets dropped). Default 2 min. */
  topicGraceMs?: number;
  clock?: Clock;
  log?: Logger;
  /** Extra verb handlers (push, download, dir); they run instead of a built-in one for the same verb. */
  handlers?: StoreVerbHandler[];
}

/** One finished (or failed) transfer, one JSON line in `<dataDir>/store/results.jsonl`. */
export interface StoreResult {
  at: string;
  verb: SniffVerb;
  clientId: string;
  ok: boolean;
  request_id?: string;
  job_id?: string;
  task_id?: string;
  script_id?: string;
  path?: string;
  topic?: string;
  /** Where the file was written (receive) or read from (send). */
  file?: string;
  size?: number;
  filehash?: number;
  givemes?: number;
  error?: string;
  [extra: string]: unknown;
}

/** A client's request (no ack) as the server received it. */
export interface StoreIncoming<V extends SniffVerb = SniffVerb> {
  verb: V;
  clientId: string;
  request: Extract<SniffRequest, { verb: V }>;
  /** Every field as received, for the echo. */
  fields: Record<string, unknown>;
}

/** Publishes on one nftp topic. */
export interface TopicLink {
  publish(payload: Uint8Array): Promise<void>;
}

/** Inbound publishes on an allocated nftp topic from the client it was allocated to. */
export type NftpTopicHandler = (payload: Buffer, msg: InboundPublish) => void;

/** What verb handlers may use of the store server. */
export interface StoreServerContext {
  readonly core: BrokerCore;
  readonly log: Logger;
  readonly clock: Clock;
  /** `<dataDir>/store`. */
  readonly storeDir: string;
  readonly faults: StoreFaults;
  readonly prng: Prng;
  readonly nftp: StoreNftpSettings;
  /** Answers a client's request on its topic: the request fields echoed, then `fields`. */
  respond(incoming: StoreIncoming, fields: SniffResponseFields): void;
  /** Server-initiated request (push): publishes it and resolves with the client's response (or rejects TIMEOUT). */
  request(verb: SniffVerb, clientId: string, body: Record<string, unknown>, timeoutMs?: number): Promise<SniffResponse>;
  /** A fresh `$file/<32 hex>` topic; publishes on it by `clientId` go to `handler` (claimed, never routed). */
  allocateTopic(clientId: string, handler: NftpTopicHandler): string;
  releaseTopic(topic: string): void;
  /** Publishes (QoS 1) on an allocated topic, to the client subscribed there. */
  topicLink(topic: string): TopicLink;
  record(result: StoreResult): void;
}

export interface StoreVerbHandler {
  readonly verb: SniffVerb;
  /** A request from a client. */
  onRequest?(incoming: StoreIncoming, ctx: StoreServerContext): void;
  /** A response no server request was waiting for (late, or one the handler tracks itself). */
  onResponse?(response: SniffResponse, clientId: string, ctx: StoreServerContext): void;
  onDisconnect?(clientId: string, ctx: StoreServerContext): void;
  close?(): Promise<void>;
}
