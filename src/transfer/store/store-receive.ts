/**
 * Receiving files from the store system: `push` requests (server → store) and the transfer half of
 * `download` (`ftagent fetch`). Both end in the same place: an NftpReceiver writing `<target>.part`
 * through an NftpFileSink, on a `$file/<suffix>` topic we subscribed to before saying "ok".
 *
 * What a remote party may decide is limited on purpose: the target must pass confinement (confine.ts);
 * an existing file is replaced only when the request says `overwrite` (atomically, by the sink's rename);
 * the HELLO name never places anything. A repeated push of the same file resumes from the block map
 * the sink keeps beside the partial file, also after the agent restarted.
 */
import path from 'node:path';
import { errnoCode, FtError } from '../../errors';
import { silentLogger, type Logger } from '../../log';
import { systemClock, type Clock } from '../../time/clock';
import type { PushRequest, SniffId, SniffResponseFields } from '../../protocol/file-sniffer';
import type { NftpWidth } from '../../protocol/nftp-packets';
import { confineWriteTarget, prepareRoots, type ConfineRoot, type WriteTarget } from './confine';
import { ConfinedDir } from '../../storage/confined-dir';
import { sweepStalePartials } from './stale-partials';
import { ReceiveLimits, type FreeSpace, type ReceiveLimitSettings, type ReceiveSlot } from './receive-limits';
import { NftpFileSink } from '../nftp/nftp-file-sink';
import type { NftpSink } from '../nftp/nftp-ports';
import { NftpReceiver, type NftpReceiveResult } from '../nftp/nftp-receiver';
import type { IncomingStoreRequest, NftpTopic, StoreChannel } from '../../mqtt/store-channel';
import { answerDirRequests } from './store-dir';

/** nftp settings both sides must agree on, plus the receiver's patience. */
export interface NftpReceiveSettings {
  blockSize?: number;
  width?: NftpWidth;
  stallMs?: number;
  maxGivemes?: number;
  helloWaitMs?: number;
  /** Save the block map after this many new blocks (the resume point after a crash). Default 64. */
  checkpointEvery?: number;
}

export interface ReceiveFileOptions {
  topic: NftpTopic;
  /** The confined target (confineWriteTarget). */
  target: WriteTarget;
  /** As the request named it, for messages. */
  requested: string;
  /** Checked again right before the rename: a target that appeared meanwhile is replaced only if true. */
  overwrite: boolean;
  /** The roots the target was confined to, for the check before the rename. */
  roots: readonly ConfineRoot[];
  clock?: Clock;
  logger?: Logger;
  nftp?: NftpReceiveSettings;
  /** Tests replace the sink (e.g. to simulate a full disk); default NftpFileSink on `target.path` under `root`. */
  sinkFor?: SinkFactory;
  /** Called once the receiver listens, before any answer goes out (push: send "ok" here). */
  onListening?: () => Promise<void>;
  /** Aborts the receive (agent stopping, a newer push for the same target). */
  signal?: AbortSignal;
  /** The receive's slot under the caps: HELLO's claimed size is reserved before the nftp ACK. */
  slot?: ReceiveSlot;
}

/**
 * Runs one nftp receive on an already-subscribed topic into a confined target. Resolves with the
 * receiver's result once the verified file is in place; rejects with an FtError otherwise.
 * On DISK_FULL the partial file is removed to give the space back; on other failures it is kept
 * with its block map so the next attempt resumes.
 */
export async function receiveFile(options: ReceiveFileOptions): Promise<NftpReceiveResult> {
  const log = (options.logger ?? silentLogger).child({ receive: options.requested, topic: options.topic.topic });
  const inner = (options.sinkFor ?? defaultSink)(options.target.path, log, options.target.root);
  const sink = guardedSink(inner, options);
  const receiver = new NftpReceiver({
    link: options.topic.link,
    clock: options.clock ?? systemClock,
    sink,
    log,
    topic: options.topic.topic,
    ...options.nftp,
  });
  const off = options.topic.onPacket((payload) => receiver.receive(payload));
  const onAbort = (): void => receiver.abort('a newer request for the same target, or the agent is stopping');
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) onAbort();
  const result = receiver.run();
  try {
    try {
      await options.onListening?.();
    } catch (err) {
      receiver.abort('the answer to the request could not be sent');
      await result.catch(() => undefined);
      throw err;
    }
    return await result;
  } catch (err) {
    // The space is needed more than the resume point; removed through the sink's confined directory.
    if (err instanceof FtError && err.code === 'DISK_FULL') await inner.abort({ discard: true });
    throw err;
  } finally {
    off();
    options.signal?.removeEventListener('abort', onAbort);
  }
}

/** A sink factory: the target's real path, the logger, and the root it must stay under. */
export type SinkFactory = (target: string, logger: Logger, root: string) => NftpSink;

const defaultSink: SinkFactory = (target, log, root) => new NftpFileSink({ target, root, log });

/**
 * The sink with the last-moment policy check: right before the rename the target must still be
 * confined to the same place and, unless overwriting was asked for, still absent. (The sink itself
 * reaches every file through a directory walked without following links.) Full-disk errors from any
 * sink become DISK_FULL.
 */
function guardedSink(inner: NftpSink, o: ReceiveFileOptions): NftpSink {
  const target = o.target.path;
  return {
    async open(info) {
      // The claim is an upper bound (the last block may be short); checked before anything is written.
      await o.slot?.reserve(info.blocks * info.blockSize, path.dirname(target));
      return wrapIo(() => inner.open(info), target);
    },
    writeBlock: (seq, offset, bytes) => wrapIo(() => inner.writeBlock(seq, offset, bytes), target),
    saveBitmap: (bitmap) => wrapIo(() => inner.saveBitmap(bitmap), target),
    async finish(expected) {
      const again = await confineWriteTarget(o.roots, o.requested);
      if (again.path !== target) throw new FtError('NOT_ALLOWED', `${o.requested} now resolves to ${again.path} instead of ${target}; not moving the file into place`);
      if (again.exists && !o.overwrite) throw existsError(o.requested);
      return wrapIo(() => inner.finish(expected), target);
    },
    abort: (opts) => inner.abort(opts),
  };
}

async function wrapIo<T>(fn: () => Promise<T>, target: string): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const code = errnoCode(err);
    if (!(err instanceof FtError) && (code === 'ENOSPC' || code === 'EDQUOT')) {
      throw new FtError('DISK_FULL', `no space left to receive ${target}: free space in its directory and ask for the file again`, { transient: true, cause: err });
    }
    throw err;
  }
}

export function existsError(requested: string): FtError {
  return new FtError('NOT_ALLOWED', `${requested} already exists and the request does not ask to overwrite it`, { details: { path: requested, exists: true } });
}

/**
 * Confines a requested target and applies the overwrite policy, creating missing directories under
 * the root and checking again once they exist (a symlink could have been planted meanwhile).
 */
export async function prepareTarget(roots: readonly ConfineRoot[], requested: string, overwrite: boolean): Promise<WriteTarget> {
  const first = await confineWriteTarget(roots, requested);
  if (first.exists && !overwrite) throw existsError(requested);
  if (first.exists) return first;
  // Created one level at a time from the root, never through a symlink planted meanwhile.
  await (await ConfinedDir.open(first.root, path.dirname(first.path), { create: true, requested })).close();
  const second = await confineWriteTarget(roots, requested);
  if (second.path !== first.path) throw new FtError('NOT_ALLOWED', `${requested} changed while its directories were being created`);
  if (second.exists && !overwrite) throw existsError(requested);
  return second;
}

// ---- the push handler and the daemon entry point ------------------------------------------------

export interface StoreReceiveRecord {
  verb: 'push';
  requestId: string;
  jobId: SniffId;
  taskId: SniffId;
  requested: string;
  target?: string;
  ok: boolean;
  code?: string;
  message?: string;
  result?: NftpReceiveResult;
}

export interface StoreReceiverOptions {
  storeChannel: Pick<StoreChannel, 'onRequest' | 'respond' | 'openNftpTopic'>;
  roots: { receive: readonly string[]; browse: readonly string[] };
  clock?: Clock;
  logger?: Logger;
  /** Used when a push request carries no `overwrite` field. Default false. */
  overwriteDefault?: boolean;
  nftp?: NftpReceiveSettings;
  sinkFor?: SinkFactory;
  /** Caps on concurrent receives and the bytes they may claim (receive-limits.ts). */
  limits?: ReceiveLimitSettings;
  /** Partial files untouched this long are removed at start and every hour. Default 72. */
  staleHours?: number;
  /** Free bytes in a folder; default statfs (tests pass a small disk). */
  freeSpace?: FreeSpace;
  /** Every finished push, success or not (the daemon may keep a history). */
  onResult?: (record: StoreReceiveRecord) => void;
}

export interface StoreReceiver {
  /** Resolves once the roots are resolved and the handlers listen. */
  readonly ready: Promise<void>;
  /** Stops listening and aborts running receives (their partial files stay for a resume). */
  stop(): Promise<void>;
}

interface Running {
  abort: AbortController;
  done: Promise<unknown>;
}

const sweepEveryMs = 3_600_000;

export function startStoreReceiver(options: StoreReceiverOptions): StoreReceiver {
  const log = (options.logger ?? silentLogger).child({ component: 'store-receive' });
  const running = new Map<string, Running>();
  const limits = new ReceiveLimits(options.limits, options.freeSpace);
  const offs: (() => void)[] = [];
  let stopped = false;

  const ready = (async () => {
    const receive = await prepareRoots(options.roots.receive, { create: true });
    const browse = await prepareRoots(options.roots.browse, { create: false });
    for (const p of [...receive.problems, ...browse.problems]) log.warn({ problem: p }, 'store: a configured root is unusable and ignored');
    if (stopped) return;
    const sweep = (): Promise<unknown> =>
      sweepStalePartials(receive.roots, { olderThanMs: (options.staleHours ?? 72) * 3_600_000, inUse: (t) => running.has(t), log }).catch((err: unknown) =>
        log.warn({ err }, 'store: sweeping stale partial receives failed'),
      );
    await sweep();
    const timer = setInterval(() => void sweep(), sweepEveryMs);
    timer.unref();
    offs.push(() => clearInterval(timer));
    offs.push(options.storeChannel.onRequest('push', (incoming) => onPush(incoming, receive.roots)));
    offs.push(answerDirRequests(options.storeChannel, browse.roots, log));
  })();

  const onPush = async (incoming: IncomingStoreRequest<'push'>, roots: ConfineRoot[]): Promise<void> => {
    const req = incoming.request;
    const requested = req.target_path !== '' ? req.target_path : req.path;
    const overwrite = overwriteFlag(incoming.fields.overwrite) ?? options.overwriteDefault ?? false;
    const record: StoreReceiveRecord = { verb: 'push', requestId: req.request_id, jobId: req.job_id, taskId: req.task_id, requested, ok: false };
    const answer = (fields: SniffResponseFields): Promise<void> => options.storeChannel.respond('push', incoming.fields, fields);
    let target: WriteTarget;
    try {
      checkPushTopic(req);
      target = await prepareTarget(roots, requested, overwrite);
    } catch (err) {
      const e = FtError.from(err);
      await refuse(answer, e, record);
      return;
    }
    record.target = target.path;
    // A second push for the same target (the server retried, or a newer file): the older receive stops
    // and keeps its partial file, so a retry of the same file resumes where it was.
    const previous = running.get(target.path);
    if (previous) {
      previous.abort.abort();
      await previous.done.catch(() => undefined);
    }
    let slot: ReceiveSlot;
    try {
      slot = limits.enter(requested);
    } catch (err) {
      await refuse(answer, FtError.from(err), record);
      return;
    }
    const abort = new AbortController();
    const done = runPush(incoming, roots, target, requested, overwrite, abort.signal, answer, record, slot);
    running.set(target.path, { abort, done });
    await done.finally(() => {
      slot.release();
      if (running.get(target.path)?.done === done) running.delete(target.path);
    });
  };

  const runPush = async (
    incoming: IncomingStoreRequest<'push'>,
    roots: ConfineRoot[],
    target: WriteTarget,
    requested: string,
    overwrite: boolean,
    signal: AbortSignal,
    answer: (fields: SniffResponseFields) => Promise<void>,
    record: StoreReceiveRecord,
    slot: ReceiveSlot,
  ): Promise<void> => {
    let topic: NftpTopic;
    try {
      // Subscribe first, then say ok: the server starts sending as soon as it reads the ack.
      topic = await options.storeChannel.openNftpTopic(incoming.request.topic);
    } catch (err) {
      await refuse(answer, FtError.from(err, { code: 'REMOTE_ERROR', what: 'cannot subscribe to the push topic' }), record);
      return;
    }
    try {
      record.result = await receiveFile({
        topic,
        target,
        requested,
        overwrite,
        roots,
        ...(options.clock ? { clock: options.clock } : {}),
        logger: log,
        ...(options.nftp ? { nftp: options.nftp } : {}),
        ...(options.sinkFor ? { sinkFor: options.sinkFor } : {}),
        onListening: () => answer({ ack: 'ok' }),
        signal,
        slot,
      });
      record.ok = true;
      log.info({ requestId: record.requestId, jobId: record.jobId, target: target.path, size: record.result.size, resumedBlocks: record.result.resumedBlocks }, 'store push received');
    } catch (err) {
      const e = FtError.from(err);
      record.code = e.code;
      record.message = e.message;
      log.warn({ requestId: record.requestId, jobId: record.jobId, target: target.path, code: e.code }, `store push failed: ${e.message}`);
    } finally {
      await topic.close().catch(() => undefined);
      options.onResult?.(record);
    }
  };

  const refuse = async (answer: (fields: SniffResponseFields) => Promise<void>, e: FtError, record: StoreReceiveRecord): Promise<void> => {
    record.code = e.code;
    record.message = e.message;
    log.warn({ requestId: record.requestId, jobId: record.jobId, code: e.code }, `store push refused: ${e.message}`);
    await answer({ ack: ackFor(e), reason: e.message }).catch((err: unknown) => log.warn({ err }, 'store: could not answer a push'));
    options.onResult?.(record);
  };

  return {
    ready,
    async stop() {
      stopped = true;
      await ready.catch(() => undefined);
      for (const off of offs.splice(0)) off();
      const all = [...running.values()];
      for (const r of all) r.abort.abort();
      await Promise.all(all.map((r) => r.done.catch(() => undefined)));
    },
  };
}

function checkPushTopic(req: PushRequest): void {
  checkNftpTopic(req.topic, 'push');
}

/** We subscribe to the topic a server names and publish ACK/GIVEME there: only an nftp topic, never a sniffer or system one. */
export function checkNftpTopic(topic: string, verb: string): void {
  if (!topic.startsWith('$file/') || /[+#]/.test(topic) || topic.length <= '$file/'.length) {
    throw new FtError('PROTOCOL_ERROR', `${verb} topic ${JSON.stringify(topic)} is not a $file/<suffix> topic`, { details: { topic } });
  }
}

/** `overwrite` may come as a boolean, "true"/"false", or 1/0 from a server we cannot see. */
function overwriteFlag(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (v === 1 || v === '1' || v === 'true') return true;
  if (v === 0 || v === '0' || v === 'false') return false;
  return undefined;
}

export function ackFor(e: FtError): 'NOT_ALLOW' | 'NOT_EXIST' | 'ERROR' {
  if (e.code === 'NOT_ALLOWED') return 'NOT_ALLOW';
  if (e.code === 'NOT_FOUND') return 'NOT_EXIST';
  return 'ERROR';
}
