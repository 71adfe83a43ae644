/**
 * The ports an nftp session talks to. Sessions never touch MQTT, the file system or real timers
 * directly, so tests drive them with a scripted link and a fake clock.
 */
import type { Logger } from '../../log';
import type { NftpBitmap } from './nftp-bitmap';

/** One topic. Incoming packets are fed to the session with `session.receive(bytes)`. */
export interface NftpLink {
  publish(payload: Uint8Array): Promise<void>;
}

/** Where the sender's blocks come from: read on demand so at most a few blocks are in memory. */
export interface NftpSource {
  readonly size: number;
  /** Block `index` of the plan's block size; its length must match the block range exactly. */
  readBlock(index: number): Promise<Uint8Array>;
}

export interface NftpSinkOpenInfo {
  /** The HELLO name, for logs and resume matching only: the caller decides where the file goes. */
  name: string;
  blocks: number;
  filehash: number;
  blockSize: number;
}

export type NftpSinkFinish = { verified: true; size: number } | { verified: false; size: number; actualHash: number };

export interface NftpSink {
  /** Prepares the partial file; returns the blocks already stored by an earlier attempt of the same file. */
  open(info: NftpSinkOpenInfo): Promise<{ alreadyHave: NftpBitmap | null }>;
  /** Writes a block at its offset; blocks may come in any order. */
  writeBlock(seq: number, offset: number, bytes: Uint8Array): Promise<void>;
  /** Makes the written blocks durable and records which they are (resume point). */
  saveBitmap(bitmap: NftpBitmap): Promise<void>;
  /**
   * All blocks are present: checks the CRC-32C of the whole content and, only if it matches, moves the
   * file into place. On a mismatch nothing reaches the target.
   */
  finish(expected: { filehash: number }): Promise<NftpSinkFinish>;
  /** Gives up: `discard` also removes the partial data (e.g. after a hash mismatch). */
  abort(options: { discard: boolean }): Promise<void>;
}

export type { Logger };
/** Time comes from the project's clock port (real in the daemon, fake in tests). */
export type { Clock } from '../../time/clock';
