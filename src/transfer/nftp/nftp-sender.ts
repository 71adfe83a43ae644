/**
 * nftp sender session (docs/nftp.md §5–7): HELLO → ACK → FILE… END → linger answering GIVEME.
 * The whole behaviour is the transition table below; handlers are small and talk only to ports.
 *
 * Memory: at most `window` blocks are held at once; GIVEME answers re-read the block from the source.
 * nftp v1.x has no final acknowledgement, so "done" means the linger period passed quietly, not that
 * the receiver confirmed anything.
 */
import { randomInt } from 'node:crypto';
import { FtError } from '../../errors';
import { silentLogger, type Logger } from '../../log';
import { crc32cFinish, crc32cInit, crc32cUpdate } from '../../protocol/crc32c';
import { defaultNftpBlockSize, nftpBaseName, nftpBlockRange, nftpFileId, planNftpBlocks, type NftpPlan } from '../../protocol/nftp-blocks';
import { defaultNftpWidth, type NftpAck, type NftpGiveme, type NftpWidth } from '../../protocol/nftp-packets';
import { Machine, type Transition } from '../state-machine';
import type { Clock, NftpLink, NftpSource } from './nftp-ports';
import { decodeOrWarn, publishPacket, setTimer, stopTimer } from './nftp-session-io';

export interface NftpSenderOptions {
  link: NftpLink;
  source: NftpSource;
  clock: Clock;
  log?: Logger;
  /** Name for HELLO; only its base name is sent. The fileid is CRC-32C of that base name. */
  name: string;
  /** Default 32 KiB; not on the wire, the receiver must use the same (docs/nftp.md §3). */
  blockSize?: number;
  /** FILE/END content-length width; default 'u16'. */
  width?: NftpWidth;
  /** HELLO id (u8), echoed by the ACK; random by default. */
  helloId?: number;
  /** CRC-32C of the content if the caller already knows it; otherwise the source is read once to compute it. */
  filehash?: number;
  /** First wait for the ACK; doubles on each resend. Default 5000 ms. */
  helloTimeoutMs?: number;
  /** HELLO resends after the first. Default 2: a C receiver never ACKs a repeated HELLO (docs/nftp.md §7). */
  helloRetries?: number;
  /** Blocks published per pacing step. Default 4. */
  window?: number;
  /** Pause between pacing steps. Default 20 ms. */
  intervalMs?: number;
  /** Quiet time after END (and after each GIVEME answer) before the session ends. Default 30 s. */
  lingerMs?: number;
  /** Hard cap on the whole linger phase, so a peer cannot keep us forever. Default 10 min. */
  maxLingerMs?: number;
  /** Only for messages and logs. */
  topic?: string;
  /**
   * Called once every block went out the first time (END sent), with the result so far. The linger
   * that follows only answers GIVEMEs, so a caller may hand its transfer slot on from here.
   */
  onAllSent?: (soFar: NftpSendResult) => void;
}

export interface NftpSendResult {
  fileid: number;
  filehash: number;
  blocks: number;
  /** Blocks published the first time (equals `blocks`). */
  blocksSent: number;
  /** Blocks published again in answer to GIVEME. */
  blocksResent: number;
  helloAttempts: number;
  durationMs: number;
}

export type NftpSenderState = 'idle' | 'hello' | 'sending' | 'lingering' | 'done' | 'failed';

type SenderEvent =
  | { kind: 'start' }
  | { kind: 'ack'; packet: NftpAck }
  | { kind: 'giveme'; packet: NftpGiveme }
  | { kind: 'helloTimeout' }
  | { kind: 'tick' }
  | { kind: 'lingerOver' }
  | { kind: 'abort'; error: FtError };

interface SenderCtx {
  readonly o: Required<Pick<NftpSenderOptions, 'helloTimeoutMs' | 'helloRetries' | 'window' | 'intervalMs' | 'lingerMs' | 'maxLingerMs'>>;
  readonly link: NftpLink;
  readonly source: NftpSource;
  readonly clock: Clock;
  readonly log: Logger;
  readonly width: NftpWidth;
  readonly plan: NftpPlan;
  readonly name: string;
  readonly fileid: number;
  readonly helloId: number;
  readonly topic: string;
  readonly onAllSent: ((soFar: NftpSendResult) => void) | undefined;
  filehash: number | undefined;
  startedAt: number;
  helloAttempts: number;
  acked: boolean;
  /** The next block to send for the first time. */
  nextBlock: number;
  blocksResent: number;
  lingerStartedAt: number;
  /** Cancels the one pending timer (each session has at most one). */
  timer: (() => void) | undefined;
  error: FtError | undefined;
  dispatch(e: SenderEvent): void;
}

const transitions: readonly Transition<NftpSenderState, SenderEvent, SenderCtx>[] = [
  { from: 'idle', on: 'start', run: hashAndSendHello, to: 'hello' },
  { from: 'hello', on: 'ack', run: acceptAck, to: (c) => (c.acked ? 'sending' : 'hello') },
  { from: 'hello', on: 'helloTimeout', run: resendHelloOrGiveUp, to: 'hello' },
  { from: 'sending', on: 'tick', run: sendBurst, to: (c) => (c.nextBlock >= c.plan.blocks ? 'lingering' : 'sending') },
  { from: 'sending', on: 'giveme', run: answerGiveme, to: 'sending' },
  { from: 'lingering', on: 'giveme', run: answerGiveme, to: 'lingering' },
  { from: 'lingering', on: 'lingerOver', run: stopTimer, to: 'done' },
  { from: '*', on: 'abort', run: recordAbort, to: 'failed' },
];

export class NftpSender {
  private readonly ctx: SenderCtx;
  private readonly machine: Machine<NftpSenderState, SenderEvent, SenderCtx>;
  private settle: { resolve: (r: NftpSendResult) => void; reject: (e: FtError) => void } | undefined;
  private readonly result: Promise<NftpSendResult>;

  constructor(options: NftpSenderOptions) {
    const width = options.width ?? defaultNftpWidth;
    const name = nftpBaseName(options.name);
    // Fails before anything is published: block size vs width, and > 65535 blocks (docs/nftp.md §3).
    const plan = planNftpBlocks(options.source.size, options.blockSize ?? defaultNftpBlockSize, width);
    const helloId = options.helloId ?? randomInt(256);
    if (!Number.isInteger(helloId) || helloId < 0 || helloId > 0xff) {
      throw new FtError('CONFIG_INVALID', `nftp HELLO id ${helloId} must be 0..255`);
    }
    const log = (options.log ?? silentLogger).child({ nftp: 'send', file: name });
    this.ctx = {
      o: {
        helloTimeoutMs: options.helloTimeoutMs ?? 5000,
        helloRetries: options.helloRetries ?? 2,
        window: Math.max(1, options.window ?? 4),
        intervalMs: options.intervalMs ?? 20,
        lingerMs: options.lingerMs ?? 30_000,
        maxLingerMs: options.maxLingerMs ?? 600_000,
      },
      link: options.link,
      source: options.source,
      clock: options.clock,
      log,
      width,
      plan,
      name,
      fileid: nftpFileId(name),
      helloId,
      topic: options.topic ?? 'the transfer topic',
      onAllSent: options.onAllSent,
      filehash: options.filehash,
      startedAt: options.clock.now(),
      helloAttempts: 0,
      acked: false,
      nextBlock: 0,
      blocksResent: 0,
      lingerStartedAt: 0,
      timer: undefined,
      error: undefined,
      dispatch: (e) => this.machine.dispatch(e),
    };
    this.result = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
    // Callers that only use `run()` still see the rejection; this keeps an unobserved failure from crashing.
    this.result.catch(() => undefined);
    this.machine = new Machine(
      transitions,
      'idle',
      this.ctx,
      log,
      {
        label: 'nftp send',
        onError: (c, err) => {
          c.error = FtError.from(err);
          stopTimer(c);
          return 'failed';
        },
        onEnter: (c, state) => this.onEnter(c, state),
      },
      ['done', 'failed'],
    );
  }

  get state(): NftpSenderState {
    return this.machine.state;
  }

  get fileid(): number {
    return this.ctx.fileid;
  }

  /** Starts the session; resolves after the linger period, rejects with an FtError. */
  run(): Promise<NftpSendResult> {
    this.ctx.startedAt = this.ctx.clock.now();
    this.machine.dispatch({ kind: 'start' });
    return this.result;
  }

  /** Feeds one MQTT payload from the transfer topic. Never throws. */
  receive(payload: Uint8Array): void {
    const packet = decodeOrWarn(this.ctx, payload);
    if (!packet) return;
    // On a shared topic we hear our own HELLO/FILE/END (docs/nftp.md §6): not for us.
    if (packet.kind === 'ack') this.machine.dispatch({ kind: 'ack', packet });
    else if (packet.kind === 'giveme') this.machine.dispatch({ kind: 'giveme', packet });
    else this.ctx.log.trace({ kind: packet.kind }, 'nftp: ignoring a packet of the sending direction');
  }

  abort(reason = 'aborted by the caller'): void {
    this.machine.dispatch({ kind: 'abort', error: new FtError('INTERRUPTED', `nftp send of "${this.ctx.name}" stopped: ${reason}`) });
  }

  whenIdle(): Promise<void> {
    return this.machine.whenIdle();
  }

  private onEnter(c: SenderCtx, state: NftpSenderState): void {
    if (state === 'done') {
      c.log.info({ blocks: c.plan.blocks, resent: c.blocksResent }, 'nftp send finished (linger over)');
      this.settle?.resolve(resultOf(c));
    } else if (state === 'failed') {
      stopTimer(c);
      const error = c.error ?? new FtError('PROTOCOL_ERROR', 'nftp send failed');
      c.log.warn({ code: error.code }, error.message);
      this.settle?.reject(error);
    }
  }
}

// ---- handlers -------------------------------------------------------------------------------

async function hashAndSendHello(c: SenderCtx): Promise<void> {
  if (c.filehash === undefined) c.filehash = await hashSource(c);
  await sendHello(c);
}

/** Streams the source block by block: the hash must be in HELLO, before the first FILE. */
async function hashSource(c: SenderCtx): Promise<number> {
  let state = crc32cInit();
  for (let i = 0; i < c.plan.blocks; i++) state = crc32cUpdate(state, await readBlock(c, i));
  return crc32cFinish(state);
}

async function sendHello(c: SenderCtx): Promise<void> {
  c.helloAttempts++;
  await publishPacket(c, { kind: 'hello', id: c.helloId, blocks: c.plan.blocks, name: c.name, filehash: c.filehash ?? 0 });
  const wait = c.o.helloTimeoutMs * 2 ** (c.helloAttempts - 1);
  c.log.debug({ attempt: c.helloAttempts, waitMs: wait }, 'nftp HELLO sent');
  setTimer(c, wait, { kind: 'helloTimeout' });
}

function acceptAck(c: SenderCtx, e: { packet: NftpAck }): void {
  if (e.packet.id !== c.helloId) {
    c.log.debug({ id: e.packet.id, ours: c.helloId }, 'nftp: ignoring an ACK for another HELLO id');
    return;
  }
  if (e.packet.fileid !== c.fileid) {
    // The C sender ignores the ACK's fileid too; a difference hints that the peer hashes names
    // differently (CRC-32 vs CRC-32C is an open question for the store server, docs/store-flows.md §5).
    c.log.warn({ ackFileid: e.packet.fileid, ours: c.fileid }, 'nftp ACK carries a different fileid than ours; continuing with ours');
  }
  c.acked = true;
  stopTimer(c);
  setTimer(c, 0, { kind: 'tick' });
}

async function resendHelloOrGiveUp(c: SenderCtx): Promise<void> {
  c.timer = undefined;
  if (c.helloAttempts > c.o.helloRetries) {
    const seconds = ((c.clock.now() - c.startedAt) / 1000).toFixed(1);
    throw new FtError(
      'NFTP_NO_ANSWER',
      `nothing answered the nftp HELLO for "${c.name}" on ${c.topic} (${c.helloAttempts} HELLOs over ${seconds} s). ` +
        'Check that a receiver is subscribed to exactly that topic. EMQX 5 with its own file transfer enabled ' +
        '(file_transfer.enable = true) swallows every publish to $file/… topics, so nftp needs EMQX 4.4 or ' +
        `file transfer disabled. HELLO is resent only ${c.o.helloRetries} time(s) on purpose: a C nftp receiver ` +
        'never ACKs a repeated HELLO for a name it already has, so more resends would not help.',
      { transient: true, details: { name: c.name, attempts: c.helloAttempts, topic: c.topic } },
    );
  }
  await sendHello(c);
}

async function sendBurst(c: SenderCtx): Promise<void> {
  c.timer = undefined;
  const end = Math.min(c.plan.blocks, c.nextBlock + c.o.window);
  const sends: Promise<void>[] = [];
  for (let i = c.nextBlock; i < end; i++) sends.push(readBlock(c, i).then((bytes) => publishBlock(c, i, bytes)));
  await Promise.all(sends);
  c.nextBlock = end;
  if (c.nextBlock < c.plan.blocks) {
    setTimer(c, c.o.intervalMs, { kind: 'tick' });
  } else {
    c.lingerStartedAt = c.clock.now();
    c.log.debug({ lingerMs: c.o.lingerMs }, 'nftp END sent; lingering for GIVEME');
    setTimer(c, c.o.lingerMs, { kind: 'lingerOver' });
    c.onAllSent?.(resultOf(c));
  }
}

function resultOf(c: SenderCtx): NftpSendResult {
  return {
    fileid: c.fileid,
    filehash: c.filehash ?? 0,
    blocks: c.plan.blocks,
    blocksSent: c.nextBlock,
    blocksResent: c.blocksResent,
    helloAttempts: c.helloAttempts,
    durationMs: c.clock.now() - c.startedAt,
  };
}

async function answerGiveme(c: SenderCtx, e: { packet: NftpGiveme }): Promise<void> {
  const { fileid, seq } = e.packet;
  if (fileid !== c.fileid) {
    c.log.debug({ fileid, ours: c.fileid }, 'nftp: ignoring GIVEME for another file');
    return;
  }
  if (seq >= c.plan.blocks) {
    c.log.warn({ seq, blocks: c.plan.blocks }, 'nftp: ignoring GIVEME for a block past the block count');
    return;
  }
  if (seq >= c.nextBlock) {
    c.log.debug({ seq, next: c.nextBlock }, 'nftp: GIVEME for a block not sent yet; it comes in order');
    return;
  }
  await publishBlock(c, seq, await readBlock(c, seq));
  c.blocksResent++;
  if (c.nextBlock >= c.plan.blocks) {
    // Each repair restarts the quiet period, within the hard cap.
    const left = c.lingerStartedAt + c.o.maxLingerMs - c.clock.now();
    stopTimer(c);
    setTimer(c, Math.max(0, Math.min(c.o.lingerMs, left)), { kind: 'lingerOver' });
  }
}

function recordAbort(c: SenderCtx, e: { error: FtError }): void {
  c.error = e.error;
  stopTimer(c);
}

// ---- port helpers ---------------------------------------------------------------------------

async function readBlock(c: SenderCtx, index: number): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = await c.source.readBlock(index);
  } catch (err) {
    throw FtError.from(err, { code: 'SOURCE_UNREADABLE', what: `nftp: cannot read block ${index} of "${c.name}"` });
  }
  const want = nftpBlockRange(index, c.plan.size, c.plan.blockSize).length;
  if (bytes.length !== want) {
    throw new FtError('SOURCE_CHANGED', `nftp: block ${index} of "${c.name}" has ${bytes.length} bytes, expected ${want}: the file changed while it was being sent`);
  }
  return bytes;
}

function publishBlock(c: SenderCtx, seq: number, content: Uint8Array): Promise<void> {
  // END only for the last block, FILE otherwise, also when answering GIVEME (docs/nftp.md §5).
  return publishPacket(c, { kind: seq === c.plan.blocks - 1 ? 'end' : 'file', fileid: c.fileid, seq, content });
}
