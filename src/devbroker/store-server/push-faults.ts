/**
 * Fault injection for the development broker's nftp sender (push and download): an NftpLink wrapper
 * that loses, duplicates, reorders or corrupts FILE/END blocks, or stalls the sender altogether.
 * Every random choice comes from one seeded PRNG, so a failing run can be replayed.
 *
 * Only first sends are lost: a block sent again in answer to GIVEME always goes out, otherwise a lost
 * block could never be repaired and "lost" would mean "stalled".
 */
import { chance, createPrng } from '../prng';
import { read, write, type Packet, type Width } from './nftp/wire';
import type { TopicLink } from './types';

export interface NftpSendFaults {
  seed?: number;
  /** These block numbers are not published the first time (only when the receiver asks with GIVEME). */
  dropBlocks?: readonly number[];
  /** Fraction (0..1) of first sends lost. */
  dropRate?: number;
  /** Fraction (0..1) of block sends published twice. */
  duplicateRate?: number;
  /** Publish blocks in reversed groups of this many (2 → 1,0,3,2,…); END flushes what is held. */
  reorderSpan?: number;
  /** After this many block sends the sender goes silent: nothing more is published, GIVEME unanswered. */
  stallAfterBlocks?: number;
  /** Flip one byte of this block every time it is sent (the whole-file CRC-32C then mismatches). */
  corruptBlock?: number;
}

export interface FaultyLinkStats {
  dropped: number;
  duplicated: number;
  reordered: number;
  corrupted: number;
  swallowed: number;
}

export function hasSendFaults(f: NftpSendFaults | undefined): boolean {
  if (!f) return false;
  return (f.dropBlocks?.length ?? 0) > 0 || (f.dropRate ?? 0) > 0 || (f.duplicateRate ?? 0) > 0 || (f.reorderSpan ?? 0) > 1 || f.stallAfterBlocks !== undefined || f.corruptBlock !== undefined;
}

/** Wraps `link`; packets other than FILE/END (HELLO) pass untouched unless the sender has stalled. */
export function faultyNftpLink(link: TopicLink, faults: NftpSendFaults, width: Width): { link: TopicLink; stats: FaultyLinkStats } {
  const prng = createPrng(faults.seed ?? 1);
  const stats: FaultyLinkStats = { dropped: 0, duplicated: 0, reordered: 0, corrupted: 0, swallowed: 0 };
  const dropSet = new Set(faults.dropBlocks ?? []);
  const seen = new Set<number>();
  const span = Math.max(1, faults.reorderSpan ?? 1);
  let held: Uint8Array[] = [];
  let blockSends = 0;

  const stalled = (): boolean => faults.stallAfterBlocks !== undefined && blockSends >= faults.stallAfterBlocks;

  const publishNow = async (bytes: Uint8Array): Promise<void> => {
    await link.publish(bytes);
    if (chance(prng, faults.duplicateRate)) {
      stats.duplicated++;
      await link.publish(bytes);
    }
  };

  const flushHeld = async (): Promise<void> => {
    const out = held.reverse();
    held = [];
    if (out.length > 1) stats.reordered += out.length;
    for (const bytes of out) await publishNow(bytes);
  };

  const wrapped: TopicLink = {
    async publish(payload: Uint8Array): Promise<void> {
      if (stalled()) {
        stats.swallowed++;
        return;
      }
      const packet = read(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), width);
      if (typeof packet === 'string' || (packet.type !== 'FILE' && packet.type !== 'END')) return link.publish(payload);
      blockSends++;
      const first = !seen.has(packet.seq);
      seen.add(packet.seq);
      if (first && (dropSet.has(packet.seq) || chance(prng, faults.dropRate))) {
        stats.dropped++;
        // END still releases held blocks, or they would wait for a block that never comes.
        if (packet.type === 'END') await flushHeld();
        return;
      }
      let bytes = payload;
      if (packet.seq === faults.corruptBlock && packet.content.length > 0) {
        stats.corrupted++;
        bytes = corrupt(packet, width);
      }
      // Answers to GIVEME go out at once: holding them back could wait for blocks that never come.
      if (span <= 1 || !first) return publishNow(bytes);
      held.push(bytes);
      if (held.length >= span || packet.type === 'END') await flushHeld();
    },
  };
  return { link: wrapped, stats };
}

function corrupt(packet: Extract<Packet, { type: 'FILE' | 'END' }>, width: Width): Uint8Array {
  const content = Buffer.from(packet.content);
  const at = Math.floor(content.length / 2);
  content[at] = (content[at] as number) ^ 0xff;
  return write({ ...packet, content }, width);
}
