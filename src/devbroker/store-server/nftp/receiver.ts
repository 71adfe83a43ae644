/**
 * The store server's nftp receiver (broadcast/upload intake), written from the wire format and
 * sharing no code with the agent's: HELLO → ACK, blocks written at `seq × blockSize` into
 * `<target>.part` in any order, GIVEME for the lowest missing blocks after `stallMs` without a new
 * block, CRC-32C of the whole file checked before it is renamed into place.
 *
 * Phases: waiting for HELLO (bounded by helloWaitMs) → receiving (bounded by maxRounds GIVEME rounds
 * without a new block) → verifying → done or failed. A repeated HELLO for the same name is ACKed again
 * and changes nothing (the agent resends HELLO when an ACK is lost).
 */
import { mkdirSync } from 'node:fs';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { FtError } from '../../../errors';
import type { Logger } from '../../../log';
import type { Clock } from '../../../time/clock';
import { crc32c, crcAdd, crcEnd, crcStart } from './crc32c';
import { read, write, type Packet, type Width } from './wire';

export interface ReceiverOptions {
  /** Where the verified file goes; `<target>.part` meanwhile. */
  target: string;
  blockSize: number;
  width: Width;
  /** No new block for this long → GIVEME. */
  stallMs: number;
  /** Wait for the first HELLO. */
  helloWaitMs: number;
  /** GIVEMEs per stall round (one missing block each). */
  givemeBurst: number;
  /** Rounds in a row without a new block before giving up. Default 20. */
  maxRounds?: number;
  publish(bytes: Buffer): Promise<void>;
  clock: Clock;
  log: Logger;
}

export interface ReceiveResult {
  size: number;
  filehash: number;
  blocks: number;
  givemesSent: number;
}

type HelloInfo = { id: number; name: Buffer; fileid: number; blocks: number; filehash: number };

export class NftpIntakeReceiver {
  readonly done: Promise<ReceiveResult>;
  private settle!: { ok: (r: ReceiveResult) => void; fail: (e: Error) => void };
  private phase: 'hello' | 'receiving' | 'verifying' | 'over' = 'hello';
  private hello: HelloInfo | undefined;
  private have = new Uint8Array(0);
  private count = 0;
  private lastLength = 0;
  private rounds = 0;
  private givemes = 0;
  private fh: FileHandle | undefined;
  private writes: Promise<void> = Promise.resolve();
  private cancelTimer: (() => void) | undefined;

  constructor(private readonly o: ReceiverOptions) {
    this.done = new Promise((ok, fail) => (this.settle = { ok, fail }));
    this.done.catch(() => undefined);
    this.timer(o.helloWaitMs, () => this.fail(new FtError('NFTP_NO_ANSWER', `no nftp HELLO within ${o.helloWaitMs} ms`, { transient: true })));
  }

  receive(payload: Buffer): void {
    const p = read(payload, this.o.width);
    if (typeof p === 'string') {
      this.o.log.warn({ problem: p }, 'store nftp: dropping a packet that does not parse');
      return;
    }
    if (p.type === 'HELLO') this.onHello(p);
    else if (p.type === 'FILE' || p.type === 'END') this.onBlock(p);
    // ACK and GIVEME are what we send: on a shared topic we may hear them again.
  }

  abort(reason: string): void {
    this.fail(new FtError('INTERRUPTED', `store nftp receive stopped: ${reason}`, { transient: true }));
  }

  private onHello(p: Extract<Packet, { type: 'HELLO' }>): void {
    const fileid = crc32c(p.name);
    if (this.hello) {
      if (this.hello.fileid === fileid && this.phase === 'receiving') void this.send({ type: 'ACK', id: p.id, fileid });
      return;
    }
    if (this.phase !== 'hello') return;
    if (p.blocks === 0) return this.fail(new FtError('PROTOCOL_ERROR', 'nftp HELLO announces 0 blocks; every file has at least one'));
    this.hello = { id: p.id, name: p.name, fileid, blocks: p.blocks, filehash: p.filehash };
    this.have = new Uint8Array(p.blocks);
    this.phase = 'receiving';
    this.writes = (async () => {
      mkdirSync(dirname(this.o.target), { recursive: true });
      this.fh = await open(`${this.o.target}.part`, 'w+');
    })();
    this.writes.catch((err: unknown) => this.fail(err as Error));
    void this.send({ type: 'ACK', id: p.id, fileid });
    this.armStall();
  }

  private onBlock(p: Extract<Packet, { type: 'FILE' | 'END' }>): void {
    const h = this.hello;
    if (!h || this.phase !== 'receiving' || p.fileid !== h.fileid) return;
    if (p.seq >= h.blocks) {
      this.o.log.warn({ seq: p.seq, blocks: h.blocks }, 'store nftp: dropping a block past the announced count');
      return;
    }
    const last = p.seq === h.blocks - 1;
    if (last ? p.content.length > this.o.blockSize : p.content.length !== this.o.blockSize) {
      this.o.log.warn({ seq: p.seq, bytes: p.content.length, blockSize: this.o.blockSize }, 'store nftp: dropping a block of the wrong size (do both sides use the same block size?)');
      return;
    }
    if (this.have[p.seq]) return;
    this.have[p.seq] = 1;
    this.count++;
    this.rounds = 0;
    if (last) this.lastLength = p.content.length;
    const at = p.seq * this.o.blockSize;
    this.writes = this.writes.then(async () => {
      await this.fh?.write(p.content, 0, p.content.length, at);
    });
    this.writes.catch((err: unknown) => this.fail(err as Error));
    if (this.count === h.blocks) void this.finish(h);
    else this.armStall();
  }

  private armStall(): void {
    this.timer(this.o.stallMs, () => {
      const h = this.hello;
      if (!h || this.phase !== 'receiving') return;
      if (++this.rounds > (this.o.maxRounds ?? 20)) {
        return this.fail(new FtError('GAVE_UP', `nftp: ${h.blocks - this.count} of ${h.blocks} blocks still missing after ${this.rounds - 1} GIVEME rounds`, { transient: true }));
      }
      let asked = 0;
      for (let seq = 0; seq < h.blocks && asked < this.o.givemeBurst; seq++) {
        if (this.have[seq]) continue;
        asked++;
        this.givemes++;
        void this.send({ type: 'GIVEME', fileid: h.fileid, seq });
      }
      this.armStall();
    });
  }

  private async finish(h: HelloInfo): Promise<void> {
    this.phase = 'verifying';
    this.stopTimer();
    try {
      await this.writes;
      const fh = this.fh;
      if (!fh) throw new Error('the partial file is not open');
      const size = (h.blocks - 1) * this.o.blockSize + this.lastLength;
      let crc = crcStart;
      const buf = Buffer.alloc(Math.min(1 << 20, Math.max(1, size)));
      for (let at = 0; at < size;) {
        const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - at), at);
        if (bytesRead === 0) throw new Error(`the partial file ended at ${at} of ${size} bytes`);
        crc = crcAdd(crc, buf.subarray(0, bytesRead));
        at += bytesRead;
      }
      await fh.truncate(size);
      await fh.sync();
      await fh.close();
      this.fh = undefined;
      const filehash = crcEnd(crc);
      if (filehash !== h.filehash) {
        throw new FtError('PROTOCOL_ERROR', `nftp: the received content hashes to ${hex(filehash)}, HELLO announced ${hex(h.filehash)}; not moved into place`);
      }
      await rename(`${this.o.target}.part`, this.o.target);
      this.phase = 'over';
      this.settle.ok({ size, filehash, blocks: h.blocks, givemesSent: this.givemes });
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private fail(err: Error): void {
    if (this.phase === 'over') return;
    this.phase = 'over';
    this.stopTimer();
    const fh = this.fh;
    this.fh = undefined;
    void this.writes
      .catch(() => undefined)
      .then(() => fh?.close())
      .catch(() => undefined)
      .then(() => rm(`${this.o.target}.part`, { force: true }))
      .catch(() => undefined)
      .then(() => this.settle.fail(err));
  }

  private send(p: Packet): Promise<void> {
    return this.o.publish(write(p, this.o.width)).catch((err: unknown) => this.o.log.debug({ err }, 'store nftp: publish failed'));
  }

  private timer(ms: number, fn: () => void): void {
    this.stopTimer();
    this.cancelTimer = this.o.clock.after(ms, () => {
      this.cancelTimer = undefined;
      fn();
    });
  }

  private stopTimer(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
  }
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
