/**
 * nftp receiver session (docs/nftp.md §5): HELLO → ACK → blocks written at their offsets → verify → done.
 * The whole behaviour is the transition table below; handlers are small and talk only to ports.
 *
 * Differences from the C reference, on purpose (docs/nftp.md §7):
 * - the HELLO name never decides where the file goes (the caller's sink does);
 * - blocks go straight to the sink at `seq * blockSize`, nothing out of order is held in memory;
 * - blockseq is bounds-checked; a block past the count is logged and dropped;
 * - completion is "every block present", and the CRC-32C is checked before the file is moved into place;
 * - a repeated HELLO for the same file is ACKed again instead of being refused.
 */
import { FtError } from '../../errors';
import { silentLogger, type Logger } from '../../log';
import { defaultNftpBlockSize, nftpFileId } from '../../protocol/nftp-blocks';
import { defaultNftpWidth, type NftpBlock, type NftpHello, type NftpWidth } from '../../protocol/nftp-packets';
import { NftpBitmap } from './nftp-bitmap';
import { Machine, type Transition } from '../state-machine';
import type { Clock, NftpLink, NftpSink, NftpSinkFinish } from './nftp-ports';
import { decodeOrWarn, publishPacket, setTimer, stopTimer } from './nftp-session-io';

export interface NftpReceiverOptions {
  link: NftpLink;
  clock: Clock;
  sink: NftpSink;
  log?: Logger;
  /** Must equal the sender's (not on the wire, docs/nftp.md §3). Default 32 KiB. */
  blockSize?: number;
  width?: NftpWidth;
  /** No new block for this long → GIVEME for the first missing one (nanomq_cli: ~500 ms). Default 500. */
  stallMs?: number;
  /** GIVEME rounds without progress before giving up. Default 8. */
  maxGivemes?: number;
  /** Cap of the doubling wait between GIVEME rounds. Default 8000 ms. */
  maxGivemeIntervalMs?: number;
  /** GIVEMEs per round, one missing block each (the C sender answers each one). Default 1, like nanomq_cli. */
  givemeBurst?: number;
  /** How long to wait for HELLO at all. Default 60 s. */
  helloWaitMs?: number;
  /** Persist the bitmap after this many new blocks. Default 64. */
  checkpointEvery?: number;
  /** Only for messages and logs. */
  topic?: string;
}

export interface NftpReceiveResult {
  fileid: number;
  filehash: number;
  name: string;
  blocks: number;
  size: number;
  /** Blocks already stored by an earlier attempt (resume). */
  resumedBlocks: number;
  duplicates: number;
  givemesSent: number;
  durationMs: number;
}

export type NftpReceiverState = 'waiting' | 'receiving' | 'verifying' | 'done' | 'failed';

type ReceiverEvent = { kind: 'hello'; packet: NftpHello } | { kind: 'block'; packet: NftpBlock } | { kind: 'stall' } | { kind: 'helloWait' } | { kind: 'complete' } | { kind: 'abort'; error: FtError };

interface Transfer {
  hello: NftpHello;
  fileid: number;
  bitmap: NftpBitmap;
  resumedBlocks: number;
  size: number | undefined;
}

interface ReceiverCtx {
  readonly o: Required<Omit<NftpReceiverOptions, 'link' | 'clock' | 'sink' | 'log' | 'width' | 'topic'>>;
  readonly link: NftpLink;
  readonly clock: Clock;
  readonly sink: NftpSink;
  readonly log: Logger;
  readonly width: NftpWidth;
  readonly topic: string;
  t: Transfer | undefined;
  startedAt: number;
  duplicates: number;
  givemesSent: number;
  /** Consecutive GIVEME rounds since the last new block. */
  givemeRounds: number;
  sinceCheckpoint: number;
  /** Cancels the one pending timer (each session has at most one). */
  timer: (() => void) | undefined;
  error: FtError | undefined;
  sinkOpen: boolean;
  dispatch(e: ReceiverEvent): void;
}

const transitions: readonly Transition<NftpReceiverState, ReceiverEvent, ReceiverCtx>[] = [
  { from: 'waiting', on: 'hello', run: openAndAck, to: (c) => (c.t?.bitmap.complete ? 'verifying' : 'receiving') },
  { from: 'waiting', on: 'helloWait', run: giveUpWaiting, to: 'failed' },
  { from: 'receiving', on: 'hello', run: reAckSameFile, to: 'receiving' },
  { from: 'receiving', on: 'block', run: storeBlock, to: (c) => (c.t?.bitmap.complete ? 'verifying' : 'receiving') },
  { from: 'receiving', on: 'stall', run: askForMissing, to: 'receiving' },
  { from: 'verifying', on: 'complete', run: verifyAndFinish, to: 'done' },
  { from: '*', on: 'abort', run: recordAbort, to: 'failed' },
];

export class NftpReceiver {
  private readonly ctx: ReceiverCtx;
  private readonly machine: Machine<NftpReceiverState, ReceiverEvent, ReceiverCtx>;
  private settle: { resolve: (r: NftpReceiveResult) => void; reject: (e: FtError) => void } | undefined;
  private readonly result: Promise<NftpReceiveResult>;
  private started = false;

  constructor(options: NftpReceiverOptions) {
    const blockSize = options.blockSize ?? defaultNftpBlockSize;
    if (!Number.isInteger(blockSize) || blockSize < 1) {
      throw new FtError('CONFIG_INVALID', `nftp block size ${blockSize} must be a positive whole number of bytes`);
    }
    const log = (options.log ?? silentLogger).child({ nftp: 'recv' });
    this.ctx = {
      o: {
        blockSize,
        stallMs: options.stallMs ?? 500,
        maxGivemes: options.maxGivemes ?? 8,
        maxGivemeIntervalMs: options.maxGivemeIntervalMs ?? 8000,
        givemeBurst: Math.max(1, options.givemeBurst ?? 1),
        helloWaitMs: options.helloWaitMs ?? 60_000,
        checkpointEvery: Math.max(1, options.checkpointEvery ?? 64),
      },
      link: options.link,
      clock: options.clock,
      sink: options.sink,
      log,
      width: options.width ?? defaultNftpWidth,
      topic: options.topic ?? 'the transfer topic',
      t: undefined,
      startedAt: options.clock.now(),
      duplicates: 0,
      givemesSent: 0,
      givemeRounds: 0,
      sinceCheckpoint: 0,
      timer: undefined,
      error: undefined,
      sinkOpen: false,
      dispatch: (e) => this.machine.dispatch(e),
    };
    this.result = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
    this.result.catch(() => undefined);
    this.machine = new Machine(
      transitions,
      'waiting',
      this.ctx,
      log,
      {
        label: 'nftp receive',
        onError: (c, err) => {
          c.error = FtError.from(err);
          return 'failed';
        },
        onEnter: (c, state) => this.onEnter(c, state),
      },
      ['done', 'failed'],
    );
  }

  get state(): NftpReceiverState {
    return this.machine.state;
  }

  /** Starts waiting for HELLO; resolves once the verified file is in place, rejects with an FtError. */
  run(): Promise<NftpReceiveResult> {
    if (!this.started) {
      this.started = true;
      this.ctx.startedAt = this.ctx.clock.now();
      setTimer(this.ctx, this.ctx.o.helloWaitMs, { kind: 'helloWait' });
    }
    return this.result;
  }

  /** Feeds one MQTT payload from the transfer topic. Never throws. */
  receive(payload: Uint8Array): void {
    const packet = decodeOrWarn(this.ctx, payload);
    if (!packet) return;
    if (packet.kind === 'hello') this.machine.dispatch({ kind: 'hello', packet });
    else if (packet.kind === 'file' || packet.kind === 'end') this.machine.dispatch({ kind: 'block', packet });
    // On a shared topic we hear our own ACK/GIVEME (docs/nftp.md §6): not for us.
    else this.ctx.log.trace({ kind: packet.kind }, 'nftp: ignoring a packet of the receiving direction');
  }

  abort(reason = 'aborted by the caller'): void {
    this.machine.dispatch({ kind: 'abort', error: new FtError('INTERRUPTED', `nftp receive stopped: ${reason}`) });
  }

  whenIdle(): Promise<void> {
    return this.machine.whenIdle();
  }

  private onEnter(c: ReceiverCtx, state: NftpReceiverState): void {
    if (state === 'verifying') {
      stopTimer(c);
      c.dispatch({ kind: 'complete' });
    } else if (state === 'done' && c.t) {
      const t = c.t;
      c.log.info({ blocks: t.hello.blocks, size: t.size, duplicates: c.duplicates, givemes: c.givemesSent }, 'nftp receive finished');
      this.settle?.resolve({
        fileid: t.fileid,
        filehash: t.hello.filehash,
        name: t.hello.name,
        blocks: t.hello.blocks,
        size: t.size ?? 0,
        resumedBlocks: t.resumedBlocks,
        duplicates: c.duplicates,
        givemesSent: c.givemesSent,
        durationMs: c.clock.now() - c.startedAt,
      });
    } else if (state === 'failed') {
      stopTimer(c);
      const error = c.error ?? new FtError('PROTOCOL_ERROR', 'nftp receive failed');
      c.log.warn({ code: error.code }, error.message);
      void closeSink(c).then(() => this.settle?.reject(error));
    }
  }
}

// ---- handlers -------------------------------------------------------------------------------

async function openAndAck(c: ReceiverCtx, e: { packet: NftpHello }): Promise<void> {
  const hello = e.packet;
  validateHello(hello);
  const fileid = nftpFileId(hello.nameBytes ?? hello.name);
  let opened: { alreadyHave: NftpBitmap | null };
  try {
    opened = await c.sink.open({ name: hello.name, blocks: hello.blocks, filehash: hello.filehash, blockSize: c.o.blockSize });
  } catch (err) {
    throw FtError.from(err, { code: 'PROTOCOL_ERROR', what: 'nftp: cannot open the receiving file' });
  }
  c.sinkOpen = true;
  const have = opened.alreadyHave && opened.alreadyHave.size === hello.blocks ? opened.alreadyHave : null;
  const bitmap = have ?? new NftpBitmap(hello.blocks);
  c.t = { hello, fileid, bitmap, resumedBlocks: bitmap.count, size: undefined };
  c.log.info({ name: hello.name, blocks: hello.blocks, fileid, resumed: bitmap.count }, 'nftp HELLO accepted');
  await publishPacket(c, { kind: 'ack', id: hello.id, fileid });
  armStall(c, c.o.stallMs);
}

/** HELLO fields are structurally valid after decode; these are the semantic checks. */
function validateHello(hello: NftpHello): void {
  // floor(size/bs)+1 is never 0 (docs/nftp.md §3).
  if (hello.blocks < 1) throw new FtError('PROTOCOL_ERROR', 'nftp HELLO announces 0 blocks; a sender always has at least one');
  if ((hello.nameBytes?.length ?? hello.name.length) === 0) throw new FtError('PROTOCOL_ERROR', 'nftp HELLO has an empty file name');
}

function giveUpWaiting(c: ReceiverCtx): void {
  c.timer = undefined;
  throw new FtError(
    'NFTP_NO_ANSWER',
    `no nftp HELLO arrived on ${c.topic} within ${(c.o.helloWaitMs / 1000).toFixed(1)} s: nothing is sending there ` +
      '(EMQX 5 with its own file transfer enabled swallows every publish to $file/… topics)',
    { transient: true, details: { topic: c.topic } },
  );
}

async function reAckSameFile(c: ReceiverCtx, e: { packet: NftpHello }): Promise<void> {
  const t = c.t;
  const h = e.packet;
  if (!t) return;
  if (h.blocks !== t.hello.blocks || h.filehash !== t.hello.filehash || nftpFileId(h.nameBytes ?? h.name) !== t.fileid) {
    c.log.warn({ name: h.name, blocks: h.blocks }, 'nftp: ignoring HELLO for a different file while a transfer is in progress');
    return;
  }
  // The sender lost our ACK (or QoS 1 delivered HELLO twice): answer again, keep every block we have.
  await publishPacket(c, { kind: 'ack', id: h.id, fileid: t.fileid });
}

async function storeBlock(c: ReceiverCtx, e: { packet: NftpBlock }): Promise<void> {
  const t = c.t;
  const { fileid, seq, content, kind } = e.packet;
  if (!t) return;
  if (fileid !== t.fileid) {
    c.log.debug({ fileid, ours: t.fileid }, 'nftp: ignoring a block of another file');
    return;
  }
  const blocks = t.hello.blocks;
  if (seq >= blocks) {
    // The C receiver would write past its table here (docs/nftp.md §7); we drop it.
    c.log.warn({ seq, blocks }, `nftp protocol error: ${kind.toUpperCase()} blockseq ${seq} is past the block count ${blocks}; packet ignored`);
    return;
  }
  if (t.bitmap.has(seq)) {
    c.duplicates++;
    return;
  }
  checkBlockLength(c, seq, blocks, content.length);
  if (kind === 'end' && seq !== blocks - 1) c.log.debug({ seq, blocks }, 'nftp: END before the last block (tolerated)');
  try {
    await c.sink.writeBlock(seq, seq * c.o.blockSize, content);
  } catch (err) {
    throw FtError.from(err, { code: 'PROTOCOL_ERROR', what: `nftp: cannot write block ${seq}` });
  }
  t.bitmap.set(seq);
  if (seq === blocks - 1) t.size = seq * c.o.blockSize + content.length;
  c.givemeRounds = 0;
  if (++c.sinceCheckpoint >= c.o.checkpointEvery && !t.bitmap.complete) await checkpoint(c);
  if (!t.bitmap.complete) armStall(c, c.o.stallMs);
}

/** The block size is agreed out of band; a disagreement would silently corrupt offsets, so it fails. */
function checkBlockLength(c: ReceiverCtx, seq: number, blocks: number, length: number): void {
  const bs = c.o.blockSize;
  const last = seq === blocks - 1;
  // Tolerate a full-size last block too: a sender counting blocks with a ceiling would produce one.
  if ((!last && length !== bs) || (last && length > bs)) {
    throw new FtError(
      'PROTOCOL_ERROR',
      `nftp block ${seq} of ${blocks} has ${length} bytes but the configured block size is ${bs}: ` +
        `both sides must use the same block size (it is not carried on the wire)` +
        (!last ? `; the sender seems to use ${length}` : ''),
      { details: { seq, blocks, length, blockSize: bs } },
    );
  }
}

async function askForMissing(c: ReceiverCtx): Promise<void> {
  c.timer = undefined;
  const t = c.t;
  if (!t) return;
  if (c.givemeRounds >= c.o.maxGivemes) {
    await checkpoint(c);
    const first = t.bitmap.nextMissing();
    throw new FtError(
      'NFTP_NO_ANSWER',
      `the nftp sender stopped answering on ${c.topic}: ${t.hello.blocks - t.bitmap.count} of ${t.hello.blocks} blocks of ` +
        `"${t.hello.name}" still missing (first: ${first}) after ${c.givemeRounds} GIVEME rounds without progress; ` +
        'the partial file and its block map are kept for a later attempt',
      { transient: true, details: { missing: t.hello.blocks - t.bitmap.count, first } },
    );
  }
  c.givemeRounds++;
  let seq = t.bitmap.nextMissing();
  for (let k = 0; k < c.o.givemeBurst && seq >= 0; k++) {
    await publishPacket(c, { kind: 'giveme', fileid: t.fileid, seq });
    c.givemesSent++;
    c.log.debug({ seq, round: c.givemeRounds }, 'nftp GIVEME sent');
    const next = t.bitmap.nextMissing(seq + 1);
    if (next <= seq) break; // wrapped around
    seq = next;
  }
  armStall(c, Math.min(c.o.stallMs * 2 ** c.givemeRounds, c.o.maxGivemeIntervalMs));
}

async function verifyAndFinish(c: ReceiverCtx): Promise<void> {
  const t = c.t;
  if (!t) return;
  let res: NftpSinkFinish;
  try {
    res = await c.sink.finish({ filehash: t.hello.filehash });
  } catch (err) {
    throw FtError.from(err, { code: 'PROTOCOL_ERROR', what: `nftp: cannot complete "${t.hello.name}"` });
  }
  c.sinkOpen = false;
  t.size = res.size;
  if (!res.verified) {
    // The content is wrong as a whole; keeping it for resume would only reproduce the mismatch.
    c.sinkOpen = true;
    await closeSink(c, true);
    throw new FtError(
      'PROTOCOL_ERROR',
      `nftp file "${t.hello.name}" arrived complete but its CRC-32C is ${hex(res.actualHash)} instead of the announced ` +
        `${hex(t.hello.filehash)}; it was not moved into place (check that both sides use CRC-32C and the same block size)`,
      { transient: true, details: { expected: t.hello.filehash, actual: res.actualHash } },
    );
  }
}

function recordAbort(c: ReceiverCtx, e: { error: FtError }): void {
  c.error = e.error;
}

// ---- port helpers ---------------------------------------------------------------------------

async function checkpoint(c: ReceiverCtx): Promise<void> {
  if (!c.t || !c.sinkOpen) return;
  c.sinceCheckpoint = 0;
  try {
    await c.sink.saveBitmap(c.t.bitmap);
  } catch (err) {
    throw FtError.from(err, { code: 'PROTOCOL_ERROR', what: 'nftp: cannot save the block map' });
  }
}

/** Leaves the partial file in a resumable state (or removes it), exactly once. Never throws. */
async function closeSink(c: ReceiverCtx, discard = false): Promise<void> {
  if (!c.sinkOpen) return;
  c.sinkOpen = false;
  try {
    if (!discard && c.t) await c.sink.saveBitmap(c.t.bitmap);
    await c.sink.abort({ discard });
  } catch (err) {
    c.log.warn({ err }, 'nftp: cleaning up the partial file failed');
  }
}

function armStall(c: ReceiverCtx, ms: number): void {
  setTimer(c, ms, { kind: 'stall' });
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
