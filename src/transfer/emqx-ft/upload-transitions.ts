/**
 * The upload session's transition table and its handlers. Every row names its next state, or a
 * guard whose name and type say which states it can choose: the handlers only do the work (send,
 * record a result, hold or release commands) and leave the facts the guards read.
 */
import { createHash } from 'node:crypto';
import { FtError } from '../../errors';
import { commandTopic, type FtCommand } from '../../protocol/emqx-ft-topics';
import { rc } from '../../protocol/reason-codes';
import { describeChange, sameSource } from '../source-file';
import type { Transition } from '../state-machine';
import { abandonAll, drainQueue, fail, isCurrent, makeCmd, queueResend, releaseWire, segmentsOutstanding, type Cmd } from './upload-commands';
import { largestSegmentFit, maxAutoChunkSize, minShrunkChunkSize, shrinkAfterDrops } from './upload-geometry';
import { applyResult, brokerName, report } from './upload-results';
import type { SessionEvent, SessionState, UploadSession } from './upload-session';
import type { UploadStage } from './upload-snapshot';

type EventOf<K extends SessionEvent['kind']> = Extract<SessionEvent, { kind: K }>;

// ---------------------------------------------------------------------------------------------
// Sending

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
    throw new FtError(
      'SOURCE_CHANGED',
      `${s.setup.source.path} changed while it was being sent (${describeChange(s.setup.identity, now)}); nothing was committed on the broker, send it again once it is complete`,
      {
        details: { path: s.setup.source.path },
      },
    );
  }
}

async function sendFin(s: UploadSession): Promise<void> {
  await checkSourceUnchanged(s);
  const command: FtCommand = { kind: 'fin', size: s.reader.size, checksum: s.reader.sha256() };
  s.stage = 'fin';
  report(s);
  const cmd = makeCmd(s, command, Buffer.alloc(0), null);
  s.finTopic = cmd.topic;
  queueResend(s, cmd);
}

function segmentCommand(s: UploadSession, offset: number, bytes: Buffer): FtCommand {
  if (!s.options.segmentChecksums) return { kind: 'segment', offset };
  return { kind: 'segment', offset, checksum: createHash('sha256').update(bytes).digest('hex') };
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
      queueResend(s, makeCmd(s, segmentCommand(s, start, bytes), bytes, chunk));
    }
    chunk.unref();
    drainQueue(s);
  }
  if (s.resendQueue.length > 0) return;
  if (s.reader.done() && segmentsOutstanding(s) === 0 && s.finTopic === null) {
    if (!s.confirmed.covers(0, s.reader.size)) {
      throw new FtError('GAVE_UP', 'internal error: all segments sent but not all confirmed');
    }
    await sendFin(s);
    drainQueue(s);
  }
}

/**
 * Chooses the segment size and window for the link as it is now. A new segment size means a new
 * pass (true is returned): the chunks in flight were cut to the old size, and the broker confirms
 * byte ranges, so only what it has not confirmed is sent again.
 */
function fitGeometry(s: UploadSession): boolean {
  const limits = s.ports.link.limits();
  const wanted = s.geometryFor(limits);
  const explicit = s.options.chunkSize;
  const fit = largestSegmentFit({ ...s.options, fileId: s.setup.fileId, size: s.reader.size }, limits.maximumPacketSize);
  const details = { maximumPacketSize: limits.maximumPacketSize, chunkSize: explicit ?? wanted.chunkSize };
  if (s.setup.initPayload.length > fit) {
    throw new FtError(
      'CONFIG_INVALID',
      `the ${s.setup.initPayload.length}-byte init metadata does not fit the broker's maximum packet size of ${limits.maximumPacketSize} bytes: shorten --name or --user-data`,
      { details },
    );
  }
  if (explicit !== undefined && Math.min(explicit, s.reader.size) > fit) {
    throw new FtError(
      'CONFIG_INVALID',
      `a ${Math.min(explicit, s.reader.size)}-byte segment does not fit the broker's maximum packet size of ${limits.maximumPacketSize} bytes: use --chunk-size ${Math.max(1, fit)} or less, or leave it out to let ftagent choose`,
      { details },
    );
  }
  const resized = wanted.chunkSize !== s.geometry.chunkSize;
  s.geometry = wanted;
  if (!resized) return false;
  s.ports.logger.info({ fileId: s.setup.fileId, chunkSize: wanted.chunkSize, window: wanted.window }, 'segment size chosen for this broker');
  abandonAll(s);
  s.reader = s.readerFor(wanted);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Handlers (one per table row)

async function begin(s: UploadSession): Promise<void> {
  if (s.setup.confirmed && s.setup.confirmed.length > 0) {
    s.ports.logger.info({ fileId: s.setup.fileId, confirmed: s.confirmed.total() }, 'resuming upload');
  }
  fitGeometry(s);
  beginPass(s);
  await pump(s);
}

async function onPuback(s: UploadSession, e: EventOf<'ack'>): Promise<void> {
  const { cmd, info } = e;
  releaseWire(cmd);
  if (!isCurrent(s, cmd)) return;
  const v5 = s.ports.link.protocolVersion === 5;
  const code = info.reasonCode;
  if (v5 && (s.options.mode === 'sync' || (code !== rc.success && code !== rc.unspecifiedError))) {
    // Sync: the PUBACK is the result. Async: no $file-response comes for 0x10, 0x97, 0x83, 0x87…
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
  const asyncInit = cmd.command.kind === 'init' && s.options.mode === 'async';
  if (cmd.attempts >= s.options.retry.maxCommandAttempts || (asyncInit && cmd.unansweredAcks >= s.options.retry.maxUnansweredInits)) {
    fail(
      s,
      asyncInit
        ? neverAnsweredInit(s, cmd)
        : new FtError('GAVE_UP', `no answer from broker ${brokerName(s)} to ${cmd.topic} after ${cmd.attempts} attempts; giving up`, {
            transient: true,
            details: { topic: cmd.topic },
          }),
    );
    return;
  }
  s.ports.logger.info({ topic: cmd.topic, attempt: cmd.attempts }, 'no answer in time; sending the command again');
  queueResend(s, cmd);
  await pump(s);
}

function neverAnsweredInit(s: UploadSession, cmd: Cmd): FtError {
  return new FtError(
    'FT_UNAVAILABLE',
    `broker ${brokerName(s)} never answered init on $file-response/${s.ports.link.clientId} (${cmd.attempts} attempts): file transfer is probably not enabled on it (EMQX: file_transfer.enable = true)`,
    { transient: true, details: { topic: cmd.topic } },
  );
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
  let largestInFlight = 0;
  for (const cmd of s.outstanding.values()) {
    // Sent on the lost connection (it has packet ids there) and never answered.
    if (cmd.command.kind === 'segment' && cmd.packetIds.size > 0) largestInFlight = Math.max(largestInFlight, cmd.payload.length);
    cmd.cancelTimer?.();
    cmd.cancelTimer = null;
    cmd.packetIds.clear();
  }
  s.resendQueue = [];
  if (largestInFlight > 0) shrinkAfterRepeatedDrops(s, largestInFlight, e.reason);
}

/**
 * A broker that closes the connection whenever a segment is above its packet limit looks, from
 * here, like a connection that dies each time the same large segments are sent. Halve the default
 * segment size (the next connection cuts the rest of the file anew) down to a floor, then fail
 * saying what is likely wrong and which setting fixes it.
 */
function shrinkAfterRepeatedDrops(s: UploadSession, largestInFlight: number, reason: string): void {
  s.dropsWithoutProgress += 1;
  // An explicit size is the user's: never changed, and a link that keeps dropping it ends at the
  // connection's bound on cycles without progress (GAVE_UP, transient, naming --chunk-size). Failing
  // it for good here would turn a flaky uplink (cuts before any PUBACK comes back) into a job lost.
  if (s.options.chunkSize !== undefined || s.dropsWithoutProgress < shrinkAfterDrops) return;
  const current = s.geometry.chunkSize;
  if (current <= minShrunkChunkSize) {
    const tried = `segments from ${maxAutoChunkSize} down to ${current} bytes`;
    fail(
      s,
      new FtError(
        'CONFIG_INVALID',
        `the connection to broker ${brokerName(s)} closed ${s.dropsWithoutProgress} times in a row while ${largestInFlight}-byte segments were in flight and nothing was confirmed (${tried}; last: ${reason}): the broker's maximum packet size is probably smaller (EMQX: mqtt.max_packet_size; MQTT 3.1.1 cannot announce it). Set --chunk-size (upload.chunkSize) below that limit`,
        { details: { likelyCause: 'maximumPacketSize', chunkSize: current, drops: s.dropsWithoutProgress } },
      ),
    );
    return;
  }
  s.chunkCeiling = Math.max(minShrunkChunkSize, Math.floor(current / 2));
  s.dropsWithoutProgress = 0;
  // A smaller segment is a new try, not one more stalled cycle: without this the connection's bound
  // on cycles without progress would end the upload before the halving reaches the broker's limit.
  // The halving itself is bounded by its floor.
  s.ports.link.markProgress?.();
  s.ports.logger.warn({ fileId: s.setup.fileId, from: current, to: s.chunkCeiling }, 'the connection keeps closing while large segments are in flight: halving the segment size');
}

/** Reconnected: re-send init (byte-identical) and every unacknowledged command, fin included. */
async function resendUnacked(s: UploadSession): Promise<void> {
  s.linkUp = true;
  if (fitGeometry(s)) {
    beginPass(s);
    await pump(s);
    return;
  }
  const initTopic = commandTopic(s.options.mode, s.setup.fileId, { kind: 'init' });
  s.resendQueue = [...s.outstanding.values()].filter((c) => c.topic !== initTopic);
  const init = s.outstanding.get(initTopic);
  if (init) s.resendQueue.unshift(init);
  else sendInit(s);
  await pump(s);
}

async function pumpForSlot(s: UploadSession): Promise<void> {
  s.slotQueued = false;
  await pump(s);
}

function linkFailed(s: UploadSession, e: EventOf<'failed'>): void {
  fail(s, e.error);
}

function interrupt(s: UploadSession): void {
  fail(s, new FtError('INTERRUPTED', 'interrupted; the upload was not completed'));
}

// ---------------------------------------------------------------------------------------------
// Guards: the next state, read from what the handler left

/** A handler that failed the session (its error is set) ends it, whatever else happened. */
function failedOr<T extends SessionState>(next: (s: UploadSession) => T): (s: UploadSession) => T | 'failed' {
  return (s) => (s.error ? 'failed' : next(s));
}

/** On the link: waiting out a pause, or working on the current stage (init, segments, fin). */
const pausedOrStage = (s: UploadSession): 'paused' | UploadStage => (s.pause ? 'paused' : s.stage);

/** After a result, a timer or a free slot: fin confirmed (done), paused, or the current stage. */
const afterWork = failedOr((s): 'done' | 'paused' | UploadStage => (s.finished ? 'done' : pausedOrStage(s)));

/** After start: the link was down before the first send (offline), or the init stage. */
const afterStart = failedOr((s): 'offline' | UploadStage => (s.linkUp ? s.stage : 'offline'));

/** After a reconnect: paused again if a pause is still running, else the current stage. */
const afterReconnect = failedOr(pausedOrStage);

/** After a lost connection: offline, or failed when repeated drops point at the packet size. */
const afterDrop = failedOr((): 'offline' => 'offline');

/** A buffer release changes no state. */
const unchanged = (s: UploadSession): SessionState => s.state;

const WORKING: readonly SessionState[] = ['init', 'segments', 'fin'];
const ACTIVE: readonly SessionState[] = ['init', 'segments', 'fin', 'paused'];
const LIVE: readonly SessionState[] = ['idle', 'init', 'segments', 'fin', 'paused', 'offline'];

export const transitions: readonly Transition<SessionState, SessionEvent, UploadSession>[] = [
  { from: 'idle', on: 'start', run: begin, to: afterStart },
  { from: ACTIVE, on: 'ack', run: onPuback, to: afterWork },
  { from: ACTIVE, on: 'response', run: onResponse, to: afterWork },
  { from: ACTIVE, on: 'timeout', run: onTimeout, to: afterWork },
  { from: ACTIVE, on: 'retry', run: onRetry, to: afterWork },
  { from: WORKING, on: 'slot', run: pumpForSlot, to: afterWork },
  { from: 'paused', on: 'resume', run: endPause, to: afterWork },
  { from: LIVE, on: 'lost', run: onLost, to: unchanged },
  { from: ACTIVE, on: 'down', run: holdInFlight, to: afterDrop },
  { from: 'idle', on: 'down', run: holdInFlight, to: 'idle' },
  { from: 'offline', on: 'up', run: resendUnacked, to: afterReconnect },
  { from: 'offline', on: 'resume', run: endPause, to: 'offline' },
  { from: LIVE, on: 'failed', run: linkFailed, to: 'failed' },
  { from: LIVE, on: 'interrupt', run: interrupt, to: 'failed' },
];
