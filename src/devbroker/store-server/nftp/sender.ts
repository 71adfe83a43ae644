/**
 * The store server's nftp sender (push and download), written from the wire format and sharing no
 * code with the agent's: HELLO (resent with a doubling wait until ACKed) → FILE blocks paced
 * `window` at a time, `intervalMs` apart → END for the last block → linger answering GIVEME by
 * reading the block again, until `lingerMs` pass without one (within `maxLingerMs`).
 * nftp v1 has no final acknowledgement: the send is over when the linger is.
 */
import { randomInt } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { FtError } from '../../../errors';
import type { Logger } from '../../../log';
import type { Clock } from '../../../time/clock';
import { crc32c, crcAdd, crcEnd, crcStart } from './crc32c';
import { blockCount, read, write, type Packet, type Width } from './wire';

export interface SenderOptions {
  file: string;
  /** HELLO name (its base name is sent). */
  name: string;
  blockSize: number;
  width: Width;
  publish(bytes: Buffer): Promise<void>;
  clock: Clock;
  log: Logger;
  /** First wait for the ACK (default 5 s), doubling on each of `resends` more HELLOs (default 4). */
  hello?: { firstWaitMs?: number; resends?: number };
  /** Blocks per burst (4), pause between bursts (20 ms), quiet time after END (30 s) within a cap (10 min). */
  pace?: { burst?: number; pauseMs?: number; quietMs?: number; capMs?: number };
}

/** What the result log records of a send. */
export interface SendResult {
  filehash: number;
  blocks: number;
  /** GIVEMEs answered. */
  blocksResent: number;
}

export class NftpFileSender {
  private fh: FileHandle | undefined;
  private size = 0;
  private blocks = 0;
  private readonly fileid: number;
  private readonly nameBytes: Buffer;
  private readonly id = randomInt(256);
  private next = 0;
  private resent = 0;
  private helloAttempts = 0;
  private acked: (() => void) | undefined;
  private lingerKick: (() => void) | undefined;
  private aborted: Error | undefined;
  private onAbort: (() => void) | undefined;

  constructor(private readonly o: SenderOptions) {
    this.nameBytes = Buffer.from(basename(o.name), 'utf8');
    this.fileid = crc32c(this.nameBytes);
  }

  /** Opens the file and checks it fits nftp; call before the topic is handed out. */
  async prepare(): Promise<void> {
    this.fh = await open(this.o.file, 'r');
    this.size = (await this.fh.stat()).size;
    this.blocks = blockCount(this.size, this.o.blockSize);
    if (this.blocks > 0xffff) {
      await this.close();
      throw new FtError('CONFIG_INVALID', `${this.o.file} needs ${this.blocks} nftp blocks of ${this.o.blockSize} bytes; at most 65535 fit (raise --store-block-size)`);
    }
  }

  receive(payload: Buffer): void {
    const p = read(payload, this.o.width);
    if (typeof p === 'string') return this.o.log.warn({ problem: p }, 'store nftp: dropping a packet that does not parse');
    if (p.type === 'ACK' && p.id === this.id) this.acked?.();
    else if (p.type === 'GIVEME' && p.fileid === this.fileid) void this.answer(p.seq);
  }

  abort(reason: string): void {
    if (this.aborted) return;
    this.aborted = new FtError('INTERRUPTED', `store nftp send of ${this.o.name} stopped: ${reason}`, { transient: true });
    this.onAbort?.();
  }

  async run(): Promise<SendResult> {
    try {
      if (!this.fh) await this.prepare();
      const filehash = await this.hash();
      await this.helloUntilAcked(filehash);
      const burst = Math.max(1, this.o.pace?.burst ?? 4);
      while (this.next < this.blocks) {
        const end = Math.min(this.blocks, this.next + burst);
        for (let seq = this.next; seq < end; seq++) await this.sendBlock(seq);
        this.next = end;
        if (this.next < this.blocks) await this.wait(this.o.pace?.pauseMs ?? 20);
      }
      await this.linger();
      return { filehash, blocks: this.blocks, blocksResent: this.resent };
    } finally {
      await this.close();
    }
  }

  private async hash(): Promise<number> {
    let crc = crcStart;
    for (let seq = 0; seq < this.blocks; seq++) crc = crcAdd(crc, await this.readBlock(seq));
    return crcEnd(crc);
  }

  private async helloUntilAcked(filehash: number): Promise<void> {
    const first = this.o.hello?.firstWaitMs ?? 5000;
    const tries = 1 + (this.o.hello?.resends ?? 4);
    const ack = new Promise<void>((resolve) => (this.acked = resolve));
    for (let attempt = 0; attempt < tries; attempt++) {
      this.helloAttempts++;
      await this.publish({ type: 'HELLO', id: this.id, blocks: this.blocks, name: this.nameBytes, filehash });
      if (await this.wait(first * 2 ** attempt, ack)) return;
    }
    throw new FtError('NFTP_NO_ANSWER', `no ACK to ${this.helloAttempts} nftp HELLOs for ${this.o.name}`, { transient: true });
  }

  private async linger(): Promise<void> {
    const lingerMs = this.o.pace?.quietMs ?? 30_000;
    const until = this.o.clock.now() + (this.o.pace?.capMs ?? 600_000);
    for (;;) {
      const left = Math.min(lingerMs, until - this.o.clock.now());
      if (left <= 0) return;
      const kicked = new Promise<void>((resolve) => (this.lingerKick = resolve));
      // Each GIVEME answered starts the quiet period again.
      if (!(await this.wait(left, kicked))) return;
    }
  }

  private async answer(seq: number): Promise<void> {
    if (seq >= this.next || this.aborted) return;
    try {
      await this.sendBlock(seq);
      this.resent++;
      this.lingerKick?.();
    } catch (err) {
      this.o.log.debug({ err, seq }, 'store nftp: answering GIVEME failed');
    }
  }

  private async sendBlock(seq: number): Promise<void> {
    const content = await this.readBlock(seq);
    await this.publish({ type: seq === this.blocks - 1 ? 'END' : 'FILE', fileid: this.fileid, seq, content });
  }

  private async readBlock(seq: number): Promise<Buffer> {
    const fh = this.fh;
    if (!fh) throw new Error('the file is closed');
    const at = seq * this.o.blockSize;
    const length = Math.max(0, Math.min(this.o.blockSize, this.size - at));
    const out = Buffer.alloc(length);
    const { bytesRead } = await fh.read(out, 0, length, at);
    if (bytesRead !== length) throw new FtError('SOURCE_CHANGED', `${this.o.file} became shorter while it was being sent`);
    return out;
  }

  private publish(p: Packet): Promise<void> {
    if (this.aborted) return Promise.reject(this.aborted);
    return this.o.publish(write(p, this.o.width));
  }

  /** True if `until` settled first, false after `ms`; rejects once aborted. */
  private wait(ms: number, until?: Promise<void>): Promise<boolean> {
    if (this.aborted) return Promise.reject(this.aborted);
    return new Promise((resolve, reject) => {
      let settled = false;
      const cancel = this.o.clock.after(ms, () => done(() => resolve(false)));
      const done = (then: () => void): void => {
        if (settled) return;
        settled = true;
        cancel();
        this.onAbort = undefined;
        then();
      };
      this.onAbort = () => done(() => reject(this.aborted ?? new FtError('INTERRUPTED', `store nftp send of ${this.o.name} stopped`)));
      void until?.then(() => done(() => resolve(true)));
    });
  }

  /** Closes the file; `run` does it itself, so this is for a send that never started. */
  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close().catch(() => undefined);
  }
}
