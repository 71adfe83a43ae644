/**
 * One store-system transfer of a local file to the server (docs/store-flows.md §1–3): ask for a slot with a
 * `broadcast` or `upload` request, then run the nftp sender on the topic the server allocated.
 *
 *   ok + topic      → nftp send there; the result comes once END is out, the linger (answering
 *                     late GIVEMEs) goes on in the background and never holds the caller's slot
 *   WAIT + timeout  → wait that long (floor, cap, jitter: waitDelayMs) and ask again, until the end time
 *   ERROR / BadReq  → fail with the server's reason (permanent)
 *   no answer       → ask again after a jittered backoff, a bounded number of times
 *   link down       → wait for the link (not counted as "no answer"), within the end time
 *
 * The file is checked against the nftp limits (block size, ≤ 65535 blocks) before anything is asked,
 * so an impossible file never takes one of the job's MaxCurrentSession tokens.
 */
import { FtError } from '../../errors';
import { silentLogger, type Logger } from '../../log';
import { backoffDelay, type BackoffPolicy } from '../../time/backoff';
import type { Clock } from '../../time/clock';
import { defaultNftpBlockSize, nftpBaseName, planNftpBlocks } from '../../protocol/nftp-blocks';
import { defaultNftpWidth, type NftpWidth } from '../../protocol/nftp-packets';
import type { SniffId, SniffRequestBody, SniffResponse } from '../../protocol/file-sniffer';
import { openNftpFileSource, type NftpFileSource } from '../nftp/nftp-file-source';
import { Machine, type Transition } from '../state-machine';
import { NftpSender, type NftpSendResult, type NftpSenderOptions } from '../nftp/nftp-sender';
import type { NftpTopic, StoreRequestOptions } from '../../mqtt/store-channel';

/** What this flow needs of the StoreChannel (a fake in unit tests). */
export interface StoreRequester {
  isReady(): boolean;
  whenReady(signal?: AbortSignal): Promise<boolean>;
  request<V extends 'broadcast' | 'upload'>(verb: V, body: SniffRequestBody<V>, options?: StoreRequestOptions): Promise<SniffResponse>;
  openNftpTopic(topic: string): Promise<NftpTopic>;
}

export type StoreUploadVerb = 'broadcast' | 'upload';

export interface StoreUploadNftpOptions {
  blockSize?: number;
  width?: NftpWidth;
  window?: number;
  intervalMs?: number;
  lingerMs?: number;
  maxLingerMs?: number;
  helloTimeoutMs?: number;
  helloRetries?: number;
}

export interface StoreUploadOptions {
  channel: StoreRequester;
  clock: Clock;
  logger?: Logger;
  verb: StoreUploadVerb;
  /** The local file to send. */
  file: string;
  /** The `path` field of the request; default `file`. */
  path?: string;
  target_path: string;
  job_id: SniffId;
  task_id: SniffId;
  script_id: SniffId;
  /** broadcast: store group ids. */
  groups?: SniffId[];
  /** upload: server ids. */
  servers?: SniffId[];
  /** Wall-clock ms after which no more asking or waiting is done (the job's end time). */
  endTime?: number;
  /** How long one request waits for its answer. Default 10 s. */
  requestTimeoutMs?: number;
  /** Unanswered requests (after the first) before giving up. Default 4. */
  noAnswerRetries?: number;
  backoff?: BackoffPolicy;
  random?: () => number;
  /** WAIT answers accepted before giving up when there is no end time. Default 1000. */
  maxWaits?: number;
  /** Bounds on the wait after WAIT (waitDelayMs); tests shorten them. */
  waitPolicy?: WaitPolicy;
  nftp?: StoreUploadNftpOptions;
  signal?: AbortSignal;
  /** Called when the server grants a slot (tests, progress). */
  onGranted?: (topic: string) => void;
  /**
   * A slot for the sending itself (the part that holds nftp blocks in memory), taken once the server
   * granted the transfer and given back once END is out; null means stop. Lets a caller ask for more
   * transfers than it sends at once, so a freed server slot is asked for again soon.
   */
  sendSlot?: (signal?: AbortSignal) => Promise<(() => void) | null>;
}

export interface StoreUploadResult {
  topic: string;
  /** Bytes sent. */
  size: number;
  requests: number;
  waits: number;
  /** The sender's counts when END went out. */
  nftp: NftpSendResult;
  /** The linger after END, answering late GIVEMEs; settles (never rejects) when it ends. */
  linger: Linger;
}

export interface Linger {
  /** The sender's final counts (GIVEMEs answered included). */
  readonly done: Promise<NftpSendResult>;
  /** Ends the linger now (shutdown, or too many lingering at once). */
  stop(): void;
}

/**
 * How long to wait after WAIT. The store system's docs give `timeout` in milliseconds; a server that
 * sends 5 (meaning seconds, or a tiny delay) would otherwise be asked again at once by every store, so
 * the wait never goes below `floorMs`. It never exceeds `capMs` either, so one odd answer cannot
 * park a transfer past reason. Jitter spreads the retries over one more such wait, never below what
 * the server asked: a fleet told the same `timeout` at the same moment does not come back in step.
 */
export interface WaitPolicy {
  floorMs: number;
  capMs: number;
  /** A WAIT without a usable timeout. */
  defaultMs: number;
}

export const defaultWaitPolicy: WaitPolicy = { floorMs: 1000, capMs: 60_000, defaultMs: 5000 };

export function waitDelayMs(timeoutMs: number | undefined, policy: WaitPolicy = defaultWaitPolicy, random: () => number = Math.random): number {
  const asked = timeoutMs !== undefined && timeoutMs > 0 ? timeoutMs : policy.defaultMs;
  const base = Math.min(policy.capMs, Math.max(policy.floorMs, asked));
  return Math.min(policy.capMs, Math.round(base * (1 + random())));
}

type State = 'idle' | 'asking' | 'waiting' | 'sending' | 'lingering' | 'done' | 'failed';
type Event =
  | { kind: 'start' }
  | { kind: 'answer'; response: SniffResponse }
  | { kind: 'noAnswer'; error: FtError }
  | { kind: 'retry' }
  | { kind: 'allSent'; result: NftpSendResult }
  | { kind: 'sent'; result: NftpSendResult }
  | { kind: 'abort'; error: FtError };

interface Ctx {
  readonly o: StoreUploadOptions;
  readonly log: Logger;
  source: NftpFileSource | undefined;
  blockSize: number;
  width: NftpWidth;
  requests: number;
  unanswered: number;
  waits: number;
  topic: string | undefined;
  nftpTopic: NftpTopic | undefined;
  sender: NftpSender | undefined;
  result: NftpSendResult | undefined;
  error: FtError | undefined;
  cancelTimer: (() => void) | undefined;
  readyWait: AbortController | undefined;
  releaseSendSlot: (() => void) | undefined;
  dispatch(e: Event): void;
}

const transitions: readonly Transition<State, Event, Ctx>[] = [
  { from: 'idle', on: 'start', run: checkFileAndAsk, to: 'asking' },
  { from: 'asking', on: 'answer', run: handleAnswer, to: (c) => (c.sender ? 'sending' : 'waiting') },
  { from: 'asking', on: 'noAnswer', run: retryLater, to: 'waiting' },
  { from: 'waiting', on: 'retry', run: ask, to: 'asking' },
  { from: 'sending', on: 'allSent', run: recordSent, to: 'lingering' },
  { from: ['sending', 'lingering'], on: 'sent', run: recordSent, to: 'done' },
  { from: '*', on: 'abort', run: recordAbort, to: 'failed' },
];

export async function runStoreUpload(options: StoreUploadOptions): Promise<StoreUploadResult> {
  const log = (options.logger ?? silentLogger).child({ store: options.verb, job: options.job_id, task: options.task_id, file: options.file });
  let settle!: { resolve: (r: StoreUploadResult) => void; reject: (e: FtError) => void };
  const done = new Promise<StoreUploadResult>((resolve, reject) => (settle = { resolve, reject }));
  let lingerOver!: (r: NftpSendResult) => void;
  const linger: Linger = {
    done: new Promise<NftpSendResult>((resolve) => (lingerOver = resolve)),
    stop: () => machine.dispatch({ kind: 'abort', error: new FtError('INTERRUPTED', `linger after sending ${options.file} cut short`, { transient: true }) }),
  };
  let settled = false;
  const resolveOnce = (c: Ctx): void => {
    if (settled || !c.result) return;
    settled = true;
    settle.resolve({ topic: c.topic ?? '', size: c.source?.size ?? 0, requests: c.requests, waits: c.waits, nftp: c.result, linger });
  };
  const ctx: Ctx = {
    o: options,
    log,
    source: undefined,
    blockSize: options.nftp?.blockSize ?? defaultNftpBlockSize,
    width: options.nftp?.width ?? defaultNftpWidth,
    requests: 0,
    unanswered: 0,
    waits: 0,
    topic: undefined,
    nftpTopic: undefined,
    sender: undefined,
    result: undefined,
    error: undefined,
    cancelTimer: undefined,
    readyWait: undefined,
    releaseSendSlot: undefined,
    dispatch: (e) => machine.dispatch(e),
  };
  const machine: Machine<State, Event, Ctx> = new Machine(
    transitions,
    'idle',
    ctx,
    log,
    {
      label: 'store transfer',
      onError: (c, err) => {
        c.error = FtError.from(err);
        return 'failed';
      },
      onEnter: (c, state, from) => {
        if (state === 'lingering' || state === 'done' || state === 'failed') c.releaseSendSlot?.();
        if (state === 'lingering') {
          resolveOnce(c);
        } else if (state === 'done') {
          resolveOnce(c);
          void cleanup(c).then(() => lingerOver(c.result as NftpSendResult));
        } else if (state === 'failed' && from === 'lingering') {
          // The file is out; a linger cut short only means late GIVEMEs go unanswered.
          log.info({ reason: c.error?.message }, 'store transfer: linger ended early');
          void cleanup(c).then(() => lingerOver(c.result as NftpSendResult));
        } else if (state === 'failed') {
          const error = c.error ?? new FtError('GAVE_UP', 'store transfer failed');
          log.warn({ code: error.code }, error.message);
          void cleanup(c).then(() => {
            settle.reject(error);
          });
        }
      },
    },
    ['done', 'failed'],
  );
  const onAbort = (): void => machine.dispatch({ kind: 'abort', error: new FtError('INTERRUPTED', `store transfer of ${options.file} stopped`, { transient: true }) });
  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  machine.dispatch({ kind: 'start' });
  try {
    return await done;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
}

// ---- handlers ---------------------------------------------------------------------------------

async function checkFileAndAsk(c: Ctx): Promise<void> {
  c.source = await openNftpFileSource(c.o.file, c.blockSize);
  // Throws CONFIG_INVALID with the block size that would work, before any token is taken.
  planNftpBlocks(c.source.size, c.blockSize, c.width);
  await ask(c);
}

async function ask(c: Ctx): Promise<void> {
  c.cancelTimer = undefined;
  checkEndTime(c, 0, 'before asking for a transfer slot');
  c.requests++;
  const o = c.o;
  const common = { path: o.path ?? o.file, target_path: o.target_path, job_id: o.job_id, task_id: o.task_id, script_id: o.script_id };
  const timeoutMs = o.requestTimeoutMs ?? 10_000;
  const pending =
    o.verb === 'broadcast' ? o.channel.request('broadcast', { ...common, groups: o.groups ?? [] }, { timeoutMs }) : o.channel.request('upload', { ...common, servers: o.servers ?? [] }, { timeoutMs });
  // The answer arrives as an event, so an abort or the end time is never stuck behind it.
  pending.then(
    (response) => c.dispatch({ kind: 'answer', response }),
    (err: unknown) => c.dispatch({ kind: 'noAnswer', error: FtError.from(err, { code: 'TIMEOUT', what: 'store request failed', transient: true }) }),
  );
}

async function handleAnswer(c: Ctx, e: { response: SniffResponse }): Promise<void> {
  const r = e.response;
  c.unanswered = 0;
  switch (r.ack) {
    case 'ok':
      return startSending(c, r);
    case 'WAIT': {
      c.waits++;
      const max = c.o.maxWaits ?? (c.o.endTime === undefined ? 1000 : Number.POSITIVE_INFINITY);
      if (c.waits > max) {
        throw new FtError('GAVE_UP', `the store server answered WAIT ${c.waits - 1} times for ${c.o.file}; giving up`, { transient: true, details: { waits: c.waits - 1 } });
      }
      const wait = waitDelayMs(r.timeoutMs, c.o.waitPolicy, c.o.random);
      checkEndTime(c, wait, `while waiting for a transfer slot (the server answered WAIT ${c.waits} time(s))`);
      c.log.info({ waitMs: wait, asked: r.timeoutMs, waits: c.waits }, 'store server answered WAIT');
      c.cancelTimer = c.o.clock.after(wait, () => c.dispatch({ kind: 'retry' }));
      return;
    }
    case undefined:
      throw new FtError('PROTOCOL_ERROR', `the store server's answer to the ${r.verb} request ${r.request_id} has no ack`, { details: { fields: r.fields } });
    default: {
      const reason = typeof r.fields.reason === 'string' ? `: ${r.fields.reason}` : typeof r.fields.msg === 'string' ? `: ${r.fields.msg}` : '';
      throw new FtError('REMOTE_ERROR', `the store server refused the ${r.verb} of ${c.o.file} with ${r.ackText ?? r.ack}${reason}`, {
        details: { ack: r.ackText ?? r.ack, requestId: r.request_id, jobId: c.o.job_id, taskId: c.o.task_id },
      });
    }
  }
}

async function startSending(c: Ctx, r: SniffResponse): Promise<void> {
  const topic = r.topic;
  if (topic === undefined || !topic.startsWith('$file/') || /[+#]/.test(topic)) {
    throw new FtError('PROTOCOL_ERROR', `the store server answered ok without a usable nftp topic (${JSON.stringify(topic)})`, { details: { fields: r.fields } });
  }
  c.topic = topic;
  c.o.onGranted?.(topic);
  if (c.o.sendSlot) {
    const release = await c.o.sendSlot(c.o.signal);
    if (!release) throw new FtError('INTERRUPTED', `store transfer of ${c.o.file} stopped before sending`, { transient: true });
    c.releaseSendSlot = release;
  }
  const source = c.source;
  if (!source) throw new FtError('SOURCE_UNREADABLE', `store transfer: ${c.o.file} is not open`);
  c.nftpTopic = await c.o.channel.openNftpTopic(topic);
  const n = c.o.nftp ?? {};
  const senderOptions: NftpSenderOptions = {
    link: c.nftpTopic.link,
    source,
    clock: c.o.clock,
    log: c.log,
    name: nftpBaseName(c.o.file),
    blockSize: c.blockSize,
    width: c.width,
    topic,
    onAllSent: (result) => c.dispatch({ kind: 'allSent', result }),
    ...definedOnly({
      window: n.window,
      intervalMs: n.intervalMs,
      lingerMs: n.lingerMs,
      maxLingerMs: n.maxLingerMs,
      helloTimeoutMs: n.helloTimeoutMs,
      helloRetries: n.helloRetries,
    }),
  };
  const sender = new NftpSender(senderOptions);
  c.sender = sender;
  c.nftpTopic.onPacket((bytes) => sender.receive(bytes));
  c.log.info({ topic }, 'store server granted a transfer slot; sending');
  sender.run().then(
    (result) => c.dispatch({ kind: 'sent', result }),
    (err: unknown) => c.dispatch({ kind: 'abort', error: FtError.from(err, { code: 'PROTOCOL_ERROR', what: 'nftp send failed' }) }),
  );
}

async function retryLater(c: Ctx, e: { error: FtError }): Promise<void> {
  const err = e.error;
  if (!err.transient) throw err;
  if (err.code === 'DISCONNECTED' || !c.o.channel.isReady()) {
    // Offline is not the server's silence: wait for the link, within the end time.
    c.log.info('store: link down; asking again once it is back');
    checkEndTime(c, 0, 'while the connection was down');
    const ctl = new AbortController();
    c.readyWait = ctl;
    if (c.o.endTime !== undefined) {
      const left = c.o.endTime - c.o.clock.now();
      c.cancelTimer = c.o.clock.after(left, () => ctl.abort());
    }
    void c.o.channel.whenReady(ctl.signal).then((ready) => {
      c.cancelTimer?.();
      c.cancelTimer = undefined;
      if (ready) c.dispatch({ kind: 'retry' });
      else if (c.o.endTime !== undefined && c.o.clock.now() >= c.o.endTime) c.dispatch({ kind: 'abort', error: endTimeError(c, 'while the connection was down') });
      else c.dispatch({ kind: 'abort', error: err });
    });
    return;
  }
  c.unanswered++;
  const max = c.o.noAnswerRetries ?? 4;
  if (c.unanswered > max) {
    throw new FtError('GAVE_UP', `the store server did not answer ${c.unanswered} ${c.o.verb} requests for ${c.o.file} (last: ${err.message})`, {
      transient: true,
      cause: err,
      details: { requests: c.requests },
    });
  }
  const delay = Math.max(100, backoffDelay(c.unanswered, c.o.backoff ?? { baseMs: 1000, capMs: 30_000 }, c.o.random));
  checkEndTime(c, delay, 'while retrying an unanswered request');
  c.log.info({ delayMs: delay, attempt: c.unanswered }, 'store request unanswered; asking again');
  c.cancelTimer = c.o.clock.after(delay, () => c.dispatch({ kind: 'retry' }));
}

function recordSent(c: Ctx, e: { result: NftpSendResult }): void {
  c.result = e.result;
}

function recordAbort(c: Ctx, e: { error: FtError }): void {
  c.error = e.error;
  c.sender?.abort(e.error.message);
}

// ---- helpers ------------------------------------------------------------------------------------

function checkEndTime(c: Ctx, waitMs: number, when: string): void {
  const end = c.o.endTime;
  if (end !== undefined && c.o.clock.now() + waitMs > end) throw endTimeError(c, when);
}

function endTimeError(c: Ctx, when: string): FtError {
  return new FtError('GAVE_UP', `job ${String(c.o.job_id)} reached its end time ${when}; ${c.o.file} was not sent`, {
    details: { jobId: c.o.job_id, taskId: c.o.task_id, endTime: c.o.endTime, waits: c.waits, requests: c.requests },
  });
}

async function cleanup(c: Ctx): Promise<void> {
  c.cancelTimer?.();
  c.cancelTimer = undefined;
  c.readyWait?.abort();
  await c.nftpTopic?.close().catch(() => undefined);
  await c.source?.close().catch(() => undefined);
}

function definedOnly<T extends Record<string, number | undefined>>(o: T): { [K in keyof T]?: number } {
  const out: { [K in keyof T]?: number } = {};
  for (const k of Object.keys(o) as (keyof T)[]) {
    const v = o[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}
