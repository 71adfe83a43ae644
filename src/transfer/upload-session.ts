/**
 * One EMQX file-transfer upload as an explicit state machine. Every behaviour is a row of the
 * transition table at the bottom: `{ from, on, run, to }`. Handlers are small and named; they talk
 * only to ports (command link, source file, clock, logger), so tests drive a session with a scripted
 * link and a fake clock. Events are handled one at a time, in order.
 */
import { createHash } from 'node:crypto';
import { FtError } from '../errors';
import type { Logger } from '../log';
import { backoffDelay } from '../mqtt/backoff';
import type { Clock } from '../mqtt/clock';
import type { CommandLink, LinkEvent, PubackInfo } from '../mqtt/command-link';
import type { FileResponse } from '../protocol/emqx-ft-response';
import { commandTopic, type FtCommand } from '../protocol/emqx-ft-topics';
import { actionFor, describeReasonCode, rc } from '../protocol/reason-codes';
import { BufferPool } from './buffer-pool';
import { ChunkReader, type Chunk } from './chunk-reader';
import { RangeSet, type ByteRange } from './range-set';
import { describeChange, sameSource, type SourceFile, type SourceIdentity } from './source-file';
import type { UploadOptions } from './upload-options';
import type { UploadSnapshot, UploadStage } from './upload-snapshot';
import { Machine, type Transition } from './state-machine';

export type SessionState = 'idle' | 'init' | 'segments' | 'fin' | 'paused' | 'offline' | 'done' | 'failed';

/** One command the session waits on. Identified by its topic (unique among outstanding commands). */
export interface Cmd {
  readonly topic: string;
  readonly command: FtCommand;
  readonly payload: Buffer;
  readonly chunk: Chunk | null;
  /** Sends so far, the first included. */
  attempts: number;
  /** Packet ids of its sends on the current connection (to match `$file-response`). */
  readonly packetIds: Set<number>;
  /** Sends whose PUBACK (or loss) has not come yet: the chunk buffer may still be in a socket. */
  wireRefs: number;
  /** PUBACKs that came without the result (async mode, where the result is a `$file-response`). */
  unansweredAcks: number;
  cancelTimer: (() => void) | null;
  /** Resolved or abandoned: late answers only settle buffer bookkeeping. */
  retired: boolean;
}

export type SessionEvent =
  | { kind: 'start' }
  | { kind: 'ack'; cmd: Cmd; info: PubackInfo }
  | { kind: 'lost'; cmd: Cmd }
  | { kind: 'response'; response: FileResponse }
  | { kind: 'timeout'; cmd: Cmd }
  | { kind: 'retry'; cmd: Cmd }
  | { kind: 'resume' }
  | { kind: 'slot' }
  | { kind: 'up' }
  | { kind: 'down'; reason: string }
  | { kind: 'failed'; error: FtError }
  | { kind: 'interrupt' };

type EventKind = SessionEvent['kind'];
type EventOf<K extends EventKind> = Extract<SessionEvent, { kind: K }>;

type AnyTransition = Transition<SessionState, SessionEvent, UploadSession>;

export interface SessionPorts {
  link: CommandLink;
  clock: Clock;
  logger: Logger;
  random?: () => number;
}

export interface SessionSetup {
  options: UploadOptions;
  fileId: string;
  initPayload: Buffer;
  source: SourceFile;
  identity: SourceIdentity;
  /** Ranges the broker already confirmed (resume). */
  confirmed?: readonly ByteRange[];
}

export interface SessionOutcome {
  sha256: string;
  bytesSent: number;
  retries: number;
}

type Pause = { until: number; then: 'send' | 'restart'; cancel: () => void };

export class UploadSession {
  stage: UploadStage = 'init';
  linkUp: boolean;
  readonly confirmed: RangeSet;
  readonly outstanding = new Map<string, Cmd>();
  /** Commands waiting for a free slot of the link: init, fin and re-sends. */
  resendQueue: Cmd[] = [];
  readonly reader: ChunkReader;
  readonly pool: BufferPool;
  pause: Pause | null = null;
  error: FtError | null = null;
  finished = false;
  finTopic: string | null = null;
  bytesSent = 0;
  retries = 0;
  restarts = 0;
  resendAlls = 0;
  pauses = 0;
  lastReason = '';
  private readonly machine: Machine<SessionState, SessionEvent, UploadSession>;
  private readonly settled: Promise<SessionOutcome>;
  private resolveOutcome!: (o: SessionOutcome) => void;
  private rejectOutcome!: (e: FtError) => void;
  private readonly offLink: () => void;

  constructor(
    readonly setup: SessionSetup,
    readonly ports: SessionPorts,
  ) {
    const { options } = setup;
    this.confirmed = new RangeSet(setup.confirmed ?? []);
    this.pool = new BufferPool(options.chunkSize, options.window + 1);
    this.reader = new ChunkReader(setup.source, setup.identity.size, options.chunkSize, this.pool);
    this.linkUp = ports.link.isUp();
    this.settled = new Promise((resolve, reject) => {
      this.resolveOutcome = resolve;
      this.rejectOutcome = reject;
    });
    this.machine = new Machine<SessionState, SessionEvent, UploadSession>(transitions, 'idle', this, ports.logger, {
      label: 'upload',
      onError: (session, err) => {
        fail(session, FtError.from(err));
        return 'failed';
      },
      // A handler that failed the session decides, whatever its row says.
      override: (session) => (session.error ? 'failed' : undefined),
      onIgnored: (session, e, state) => {
        bookkeepLate(session, e);
        session.ports.logger.trace({ state, event: e.kind }, 'event ignored');
      },
      onEnter: (_session, to) => {
        if (to === 'done' || to === 'failed') this.finish();
      },
    }, ['done', 'failed']);
    this.offLink = ports.link.listen((e) => this.onLinkEvent(e));
  }

  get state(): SessionState {
    return this.machine.state;
  }

  get options(): UploadOptions {
    return this.setup.options;
  }

  /** Starts the upload; resolves when the broker has the file, rejects with an FtError otherwise. */
  run(): Promise<SessionOutcome> {
    const signal = this.options.signal;
    if (signal) {
      if (signal.aborted) this.post({ kind: 'interrupt' });
      else signal.addEventListener('abort', () => this.post({ kind: 'interrupt' }), { once: true });
    }
    this.post({ kind: 'start' });
    return this.settled;
  }

  post(e: SessionEvent): void {
    this.machine.dispatch(e);
  }

  /** The resume state: only what the broker confirmed. */
  snapshot(): UploadSnapshot {
    return {
      fileId: this.setup.fileId,
      stage: this.stage,
      initPayload: this.setup.initPayload,
      confirmed: this.confirmed.toArray(),
      source: this.setup.identity,
    };
  }

  /** Own window: the setting, never above the broker's Receive Maximum. */
  window(): number {
    return Math.max(1, Math.min(this.options.window, this.ports.link.limits().receiveMaximum));
  }

  private onLinkEvent(e: LinkEvent): void {
    if (e.kind === 'response') this.post({ kind: 'response', response: e.response });
    else if (e.kind === 'slot') {
      if (this.state !== 'offline' && this.state !== 'paused') this.post({ kind: 'slot' });
    } else if (e.kind === 'up') this.post({ kind: 'up' });
    else if (e.kind === 'down') this.post({ kind: 'down', reason: e.reason });
    else this.post({ kind: 'failed', error: e.error });
  }

  private finish(): void {
    this.offLink();
    for (const cmd of this.outstanding.values()) retire(this, cmd);
    this.outstanding.clear();
    this.pause?.cancel();
    if (this.state === 'done') {
      this.resolveOutcome({ sha256: this.reader.sha256(), bytesSent: this.bytesSent, retries: this.retries });
    } else {
      this.rejectOutcome(this.error ?? new FtError('INTERNAL', 'the upload stopped for an unknown reason'));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Small helpers used by the handlers

function describe(s: UploadSession): string {
  return s.ports.link.currentUrl() ?? s.ports.link.clientId;
}

function retryDelay(s: UploadSession, attempt: number): number {
  return backoffDelay(attempt, s.options.retry.backoff, s.ports.random);
}

function report(s: UploadSession): void {
  s.options.onProgress?.(s.snapshot());
}

/** A command is finished with: stop its timer, let its buffer go once no socket holds it. */
function retire(_s: UploadSession, cmd: Cmd): void {
  if (cmd.retired) return;
  cmd.retired = true;
  cmd.cancelTimer?.();
  cmd.cancelTimer = null;
  cmd.chunk?.unref();
}

function releaseWire(cmd: Cmd): void {
  if (cmd.wireRefs > 0) {
    cmd.wireRefs -= 1;
    cmd.chunk?.unref();
  }
}

/** Late PUBACKs and losses still release buffers after the command was retired. */
function bookkeepLate(_s: UploadSession, e: SessionEvent): void {
  if (e.kind === 'ack' || e.kind === 'lost') releaseWire(e.cmd);
}

function isCurrent(s: UploadSession, cmd: Cmd): boolean {
  return !cmd.retired && s.outstanding.get(cmd.topic) === cmd;
}

function makeCmd(s: UploadSession, command: FtCommand, payload: Buffer, chunk: Chunk | null): Cmd {
  const topic = commandTopic(s.options.mode, s.setup.fileId, command);
  chunk?.ref();
  const cmd: Cmd = { topic, command, payload, chunk, attempts: 0, packetIds: new Set(), wireRefs: 0, unansweredAcks: 0, cancelTimer: null, retired: false };
  s.outstanding.set(topic, cmd);
  return cmd;
}

/** Puts a command on the wire (or leaves it for the reconnect when the link is down). */
function transmit(s: UploadSession, cmd: Cmd): void {
  if (!s.linkUp || !s.ports.link.isUp()) return;
  cmd.attempts += 1;
  if (cmd.attempts > 1) s.retries += 1;
  cmd.wireRefs += 1;
  cmd.chunk?.ref();
  if (cmd.command.kind === 'segment') s.bytesSent += cmd.payload.length;
  const ok = s.ports.link.send(cmd.topic, cmd.payload, {
    sent: (packetId) => cmd.packetIds.add(packetId),
    acked: (info) => s.post({ kind: 'ack', cmd, info }),
    lost: () => s.post({ kind: 'lost', cmd }),
  });
  if (!ok) {
    releaseWire(cmd);
    return;
  }
  armTimer(s, cmd);
}

function armTimer(s: UploadSession, cmd: Cmd): void {
  cmd.cancelTimer?.();
  const ms = cmd.command.kind === 'fin' ? s.options.finTimeoutMs : s.options.commandTimeoutMs;
  cmd.cancelTimer = s.ports.clock.after(ms, () => s.post({ kind: 'timeout', cmd }));
}

function fail(s: UploadSession, error: FtError): void {
  if (s.error) return;
  s.error = error;
  s.ports.logger.debug({ code: error.code, err: error.message }, 'upload failing');
  for (const cmd of s.outstanding.values()) retire(s, cmd);
  s.outstanding.clear();
  s.resendQueue = [];
}

/** Forget every outstanding command (their late answers are ignored). */
function abandonAll(s: UploadSession): void {
  for (const cmd of s.outstanding.values()) retire(s, cmd);
  s.outstanding.clear();
  s.resendQueue = [];
}

function segmentCount(s: UploadSession): number {
  let n = 0;
  for (const cmd of s.outstanding.values()) if (cmd.command.kind === 'segment') n += 1;
  return n;
}

function queueResend(s: UploadSession, cmd: Cmd): void {
  if (!s.resendQueue.includes(cmd)) s.resendQueue.push(cmd);
}

function startPause(s: UploadSession, then: Pause['then'], ms: number): void {
  s.pause?.cancel();
  const cancel = s.ports.clock.after(ms, () => s.post({ kind: 'resume' }));
  s.pause = { until: s.ports.clock.now() + ms, then, cancel };
}

function sendInit(s: UploadSession): void {
  const existing = s.outstanding.get(commandTopic(s.options.mode, s.setup.fileId, { kind: 'init' }));
  if (existing) return;
  s.resendQueue.unshift(makeCmd(s, { kind: 'init' }, s.setup.initPayload, null));
}

/** Starts (again) from offset 0: init, then every segment not confirmed, then fin. */
function beginPass(s: UploadSession): void {
  s.reader.restart();
  s.stage = 'init';
  s.finTopic = null;
  sendInit(s);
}

async function checkSourceUnchanged(s: UploadSession): Promise<void> {
  const now = await s.setup.source.identity();
  if (!sameSource(s.setup.identity, now)) {
    throw new FtError('SOURCE_CHANGED', `${s.setup.source.path} changed while it was being sent (${describeChange(s.setup.identity, now)}); nothing was committed on the broker, send it again once it is complete`, {
      details: { path: s.setup.source.path },
    });
  }
}

async function sendFin(s: UploadSession): Promise<void> {
  await checkSourceUnchanged(s);
  const size = s.reader.size;
  const topicCmd: FtCommand = { kind: 'fin', size, checksum: s.reader.sha256() };
  s.stage = 'fin';
  report(s);
  const cmd = makeCmd(s, topicCmd, Buffer.alloc(0), null);
  s.finTopic = cmd.topic;
  queueResend(s, cmd);
}

function segmentChecksum(s: UploadSession, bytes: Buffer): string | undefined {
  return s.options.segmentChecksums ? createHash('sha256').update(bytes).digest('hex') : undefined;
}

/**
 * Sends what may be sent: queued re-sends first, then new chunks while this session's window and
 * the link's shared budget both have room (a chunk is read only when a slot is free), then fin.
 */
async function pump(s: UploadSession): Promise<void> {
  if (s.error || s.finished || s.pause || !s.linkUp) return;
  const link = s.ports.link;
  drainQueue(s);
  if (s.stage !== 'segments' || s.resendQueue.length > 0) return;
  while (!s.reader.done() && s.outstanding.size < s.window() && link.freeSlots() > 0 && s.linkUp && s.resendQueue.length === 0) {
    const chunk = await s.reader.next();
    if (!chunk) break;
    // Queued, not sent: another session sharing the link may have taken the slot during the read.
    for (const [start, end] of s.confirmed.gaps(chunk.offset, chunk.end)) {
      const bytes = chunk.slice(start, end);
      const checksum = segmentChecksum(s, bytes);
      const command: FtCommand = checksum === undefined ? { kind: 'segment', offset: start } : { kind: 'segment', offset: start, checksum };
      queueResend(s, makeCmd(s, command, bytes, chunk));
    }
    chunk.unref();
    drainQueue(s);
  }
  if (s.resendQueue.length > 0) return;
  if (s.reader.done() && segmentCount(s) === 0 && s.finTopic === null) {
    if (!s.confirmed.covers(0, s.reader.size)) {
      throw new FtError('GAVE_UP', 'internal error: all segments sent but not all confirmed');
    }
    await sendFin(s);
    drainQueue(s);
  }
}

/** Sends queued commands (init, fin, re-sends) while the link's shared budget has room. */
function drainQueue(s: UploadSession): void {
  while (s.resendQueue.length > 0 && s.ports.link.freeSlots() > 0 && s.linkUp) {
    const cmd = s.resendQueue.shift();
    if (cmd && isCurrent(s, cmd)) transmit(s, cmd);
  }
}

// ---------------------------------------------------------------------------------------------
// Results

function resolveDone(s: UploadSession, cmd: Cmd): void {
  retire(s, cmd);
  s.outstanding.delete(cmd.topic);
  const c = cmd.command;
  if (c.kind === 'segment') {
    s.confirmed.add(c.offset, c.offset + cmd.payload.length);
    s.pauses = 0;
    report(s);
  } else if (c.kind === 'init' && s.stage === 'init') {
    s.stage = 'segments';
    report(s);
  } else if (c.kind === 'fin' && cmd.topic === s.finTopic) {
    s.finished = true;
  }
}

function brokerSaid(rcode: number, reason: string): string {
  return reason ? `${describeReasonCode(rcode)} "${reason}"` : describeReasonCode(rcode);
}

/** Applies the reason-code policy to one command's result. */
function applyResult(s: UploadSession, cmd: Cmd, reasonCode: number, reason: string): void {
  const kind = cmd.command.kind;
  const action = actionFor(kind, reasonCode, reason);
  if (action === 'done' && reasonCode === 0) {
    // The common case, once per segment: no description to build (it would be garbage at once).
    resolveDone(s, cmd);
    return;
  }
  const said = brokerSaid(reasonCode, reason);
  if (reasonCode !== 0) s.ports.logger.debug({ topic: cmd.topic, reasonCode, reason, action }, 'command result');
  s.lastReason = said;
  const retry = s.options.retry;
  switch (action) {
    case 'done':
      resolveDone(s, cmd);
      return;
    case 'resend': {
      if (cmd.attempts >= retry.maxCommandAttempts) {
        const code = kind === 'init' ? 'FT_REJECTED' : 'GAVE_UP';
        fail(s, new FtError(code, `broker ${describe(s)} answered ${said} to ${cmd.topic} ${cmd.attempts} times; giving up`, {
          transient: code === 'GAVE_UP',
          details: { reasonCode, reason, topic: cmd.topic },
        }));
        return;
      }
      cmd.cancelTimer?.();
      const delay = retryDelay(s, cmd.attempts);
      cmd.cancelTimer = s.ports.clock.after(delay, () => s.post({ kind: 'retry', cmd }));
      return;
    }
    case 'resend-all': {
      s.resendAlls += 1;
      if (s.resendAlls > retry.maxResendAll) {
        fail(s, new FtError('GAVE_UP', `broker ${describe(s)} answered ${said} to fin after sending the whole file ${s.resendAlls} times; giving up`, {
          transient: true,
          details: { reasonCode, reason },
        }));
        return;
      }
      s.ports.logger.warn({ fileId: s.setup.fileId, reason: said }, 'broker is missing data at fin; sending the whole file again');
      abandonAll(s);
      s.confirmed.clear();
      report(s);
      startPause(s, 'restart', retryDelay(s, s.resendAlls));
      return;
    }
    case 'restart': {
      s.restarts += 1;
      if (s.restarts > retry.maxRestarts) {
        fail(s, new FtError(
          'FT_UNAVAILABLE',
          `broker ${describe(s)} answered 0x10 to every file-transfer command: file transfer is probably not enabled on it (EMQX: file_transfer.enable = true)`,
          { transient: true, details: { reasonCode, broker: describe(s) } },
        ));
        return;
      }
      s.ports.logger.warn({ fileId: s.setup.fileId, topic: cmd.topic }, 'broker answered 0x10 (not handled): starting over from offset 0');
      abandonAll(s);
      s.confirmed.clear();
      report(s);
      startPause(s, 'restart', retryDelay(s, s.restarts));
      return;
    }
    case 'pause': {
      cmd.cancelTimer?.();
      cmd.cancelTimer = null;
      queueResend(s, cmd);
      if (s.pause) return;
      s.pauses += 1;
      if (s.pauses > retry.maxPauses) {
        fail(s, new FtError('GAVE_UP', `broker ${describe(s)} kept answering ${said}; giving up after ${retry.maxPauses} pauses`, {
          transient: true,
          details: { reasonCode },
        }));
        return;
      }
      startPause(s, 'send', Math.max(retry.backoff.baseMs, retryDelay(s, s.pauses)));
      return;
    }
    case 'cancel':
      fail(s, new FtError('FT_CANCELLED', `broker ${describe(s)} answered ${said} to ${cmd.topic}: it asks to cancel this transfer`, {
        details: { reasonCode, reason },
      }));
      return;
    case 'reject':
      fail(s, new FtError('FT_REJECTED', `broker ${describe(s)} rejected ${cmd.topic}: ${said}`, { details: { reasonCode, reason, topic: cmd.topic } }));
      return;
  }
}

// ---------------------------------------------------------------------------------------------
// Handlers (one per table row)

async function begin(s: UploadSession): Promise<void> {
  if (s.setup.confirmed && s.setup.confirmed.length > 0) {
    s.ports.logger.info({ fileId: s.setup.fileId, confirmed: s.confirmed.total() }, 'resuming upload');
  }
  checkPacketFits(s);
  beginPass(s);
  await pump(s);
}

function checkPacketFits(s: UploadSession): void {
  const max = s.ports.link.limits().maximumPacketSize;
  const topic = commandTopic(s.options.mode, s.setup.fileId, { kind: 'segment', offset: Math.max(0, s.reader.size), checksum: '0'.repeat(64) });
  const overhead = 5 + 2 + Buffer.byteLength(topic) + 2 + 9;
  const largest = Math.max(Math.min(s.options.chunkSize, s.reader.size), s.setup.initPayload.length);
  if (largest + overhead > max) {
    throw new FtError(
      'CONFIG_INVALID',
      `a ${largest}-byte segment does not fit the broker's maximum packet size of ${max} bytes: use --chunk-size ${Math.max(1, max - overhead)} or less`,
      { details: { maximumPacketSize: max, chunkSize: s.options.chunkSize } },
    );
  }
}

async function onPuback(s: UploadSession, e: EventOf<'ack'>): Promise<void> {
  const { cmd, info } = e;
  releaseWire(cmd);
  if (!isCurrent(s, cmd)) return;
  const v5Sync = s.options.mode === 'sync' && s.ports.link.protocolVersion === 5;
  const code = info.reasonCode;
  if (v5Sync) {
    applyResult(s, cmd, code, info.reasonString ?? '');
  } else if (s.ports.link.protocolVersion === 5 && code !== rc.success && code !== rc.unspecifiedError) {
    // No $file-response comes for 0x10, 0x97, 0x83, 0x87…: the PUBACK is the answer.
    applyResult(s, cmd, code, info.reasonString ?? '');
  } else {
    // The result comes on $file-response (the command's timer keeps running).
    cmd.unansweredAcks++;
  }
  await pump(s);
}

async function onResponse(s: UploadSession, e: EventOf<'response'>): Promise<void> {
  const r = e.response;
  const cmd = s.outstanding.get(r.topic);
  if (!cmd || cmd.retired || !cmd.packetIds.has(r.packetId)) {
    s.ports.logger.debug({ topic: r.topic, packetId: r.packetId }, 'response matches no outstanding command; ignored');
    return;
  }
  if (s.options.mode === 'sync' && s.ports.link.protocolVersion === 5) return;
  applyResult(s, cmd, r.reasonCode, r.reasonDescription);
  await pump(s);
}

function onLost(_s: UploadSession, e: EventOf<'lost'>): void {
  releaseWire(e.cmd);
}

async function onTimeout(s: UploadSession, e: EventOf<'timeout'>): Promise<void> {
  const { cmd } = e;
  if (!isCurrent(s, cmd)) return;
  cmd.cancelTimer = null;
  const unansweredInit = cmd.command.kind === 'init' && s.options.mode === 'async' && cmd.unansweredAcks >= s.options.retry.maxUnansweredInits;
  if (cmd.attempts >= s.options.retry.maxCommandAttempts || unansweredInit) {
    if (cmd.command.kind === 'init' && s.options.mode === 'async') {
      fail(s, new FtError(
        'FT_UNAVAILABLE',
        `broker ${describe(s)} never answered init on $file-response/${s.ports.link.clientId} (${cmd.attempts} attempts): file transfer is probably not enabled on it (EMQX: file_transfer.enable = true)`,
        { transient: true, details: { topic: cmd.topic } },
      ));
      return;
    }
    fail(s, new FtError('GAVE_UP', `no answer from broker ${describe(s)} to ${cmd.topic} after ${cmd.attempts} attempts; giving up`, {
      transient: true,
      details: { topic: cmd.topic },
    }));
    return;
  }
  s.ports.logger.info({ topic: cmd.topic, attempt: cmd.attempts }, 'no answer in time; sending the command again');
  queueResend(s, cmd);
  await pump(s);
}

async function onRetry(s: UploadSession, e: EventOf<'retry'>): Promise<void> {
  const { cmd } = e;
  if (!isCurrent(s, cmd)) return;
  cmd.cancelTimer = null;
  queueResend(s, cmd);
  await pump(s);
}

async function endPause(s: UploadSession): Promise<void> {
  const then = s.pause?.then;
  s.pause = null;
  if (then === 'restart') beginPass(s);
  await pump(s);
}

/** The link dropped: every outstanding command will be sent again after the reconnect. */
function holdInFlight(s: UploadSession, e: EventOf<'down'>): void {
  s.linkUp = false;
  s.ports.logger.info({ fileId: s.setup.fileId, reason: e.reason, outstanding: s.outstanding.size }, 'link down; holding the upload');
  for (const cmd of s.outstanding.values()) {
    cmd.cancelTimer?.();
    cmd.cancelTimer = null;
    cmd.packetIds.clear();
  }
  s.resendQueue = [];
}

/** Reconnected: re-send init (byte-identical) and every unacknowledged command, fin included. */
async function resendUnacked(s: UploadSession): Promise<void> {
  s.linkUp = true;
  checkPacketFits(s);
  const initTopic = commandTopic(s.options.mode, s.setup.fileId, { kind: 'init' });
  s.resendQueue = [...s.outstanding.values()].filter((c) => c.topic !== initTopic);
  const init = s.outstanding.get(initTopic);
  if (init) s.resendQueue.unshift(init);
  else sendInit(s);
  await pump(s);
}

function linkFailed(s: UploadSession, e: EventOf<'failed'>): void {
  fail(s, e.error);
}

function interrupt(s: UploadSession): void {
  fail(s, new FtError('INTERRUPTED', 'interrupted; the upload was not completed'));
}

/** After any handler: where the session stands now. */
function settle(s: UploadSession): SessionState {
  if (s.error) return 'failed';
  if (s.finished) return 'done';
  if (!s.linkUp) return 'offline';
  if (s.pause) return 'paused';
  return s.stage;
}

const WORKING: readonly SessionState[] = ['init', 'segments', 'fin'];
const ACTIVE: readonly SessionState[] = ['init', 'segments', 'fin', 'paused'];
const LIVE: readonly SessionState[] = ['idle', 'init', 'segments', 'fin', 'paused', 'offline'];

export const transitions: readonly AnyTransition[] = [
  { from: 'idle', on: 'start', run: begin, to: settle },
  { from: ACTIVE, on: 'ack', run: onPuback, to: settle },
  { from: ACTIVE, on: 'response', run: onResponse, to: settle },
  { from: ACTIVE, on: 'timeout', run: onTimeout, to: settle },
  { from: ACTIVE, on: 'retry', run: onRetry, to: settle },
  { from: WORKING, on: 'slot', run: pump, to: settle },
  { from: 'paused', on: 'resume', run: endPause, to: settle },
  { from: LIVE, on: 'lost', run: onLost, to: settle },
  { from: ACTIVE, on: 'down', run: holdInFlight, to: 'offline' },
  { from: 'idle', on: 'down', run: holdInFlight, to: 'idle' },
  { from: 'offline', on: 'up', run: resendUnacked, to: settle },
  { from: 'offline', on: 'resume', run: endPause, to: 'offline' },
  { from: LIVE, on: 'failed', run: linkFailed, to: 'failed' },
  { from: LIVE, on: 'interrupt', run: interrupt, to: 'failed' },
];
