/**
 * How big a segment is and how many are in flight, when the user did not say: from what the broker
 * allows and what the device can spare. See README "Segment size and window".
 *
 * - The segment is as large as the broker's Maximum Packet Size allows (MQTT 5 CONNACK; on 3.1.1,
 *   where the broker does not say, EMQX's default of 1 MiB is assumed) less the topic and header,
 *   up to `maxAutoChunkSize`: EMQX writes one file per segment, so segment count dominates its cost.
 * - The window is the broker's Receive Maximum, lowered so window x chunk stays within the memory
 *   budget (the chunk buffers are the upload's only memory that grows with these settings).
 * An explicit chunk size or window wins; with both explicit, the budget does not apply.
 */
import { commandTopic, type FtMode } from '../../protocol/emqx-ft-topics';
import type { LinkLimits } from '../../mqtt/command-link';

/** Largest segment chosen by default: past it EMQX gains little and a lost segment costs more. */
export const maxAutoChunkSize = 512 * 1024;
/** The default memory budget for chunk buffers of one upload (a 256 MB board spares this easily). */
export const defaultMemoryBudget = 8 * 1024 * 1024;
/** EMQX's `mqtt.max_packet_size` default, assumed on MQTT 3.1.1 whose CONNACK cannot say. */
export const emqxDefaultMaxPacket = 1024 * 1024;
/** Below this a default segment is not made smaller to fit the budget (the window shrinks instead). */
const minAutoChunkSize = 4096;
/**
 * Connections lost in a row with segments in flight and nothing confirmed before the segment size
 * is halved: one loss may be the network, two in a row with the same large commands is most likely
 * a broker that drops packets above its limit (EMQX on MQTT 3.1.1 just closes the connection).
 */
export const shrinkAfterDrops = 2;
/** The smallest segment halving goes to; below it the upload fails naming the likely cause. */
export const minShrunkChunkSize = 4096;

export interface GeometryRequest {
  mode: FtMode;
  fileId: string;
  /** Largest segment offset that will be sent (its digits are part of every segment topic). */
  size: number;
  segmentChecksums: boolean;
  chunkSize?: number;
  window?: number;
  memoryBudget: number;
}

export interface Geometry {
  chunkSize: number;
  window: number;
  /** The largest segment payload the broker takes in one packet. */
  largestFit: number;
}

/** Fixed header, topic length, packet id, properties: what a PUBLISH adds to the topic and payload. */
const publishHeader = 5 + 2 + 2 + 9;

/** The largest payload of a segment command that fits the broker's Maximum Packet Size. */
export function largestSegmentFit(r: Pick<GeometryRequest, 'mode' | 'fileId' | 'size' | 'segmentChecksums'>, maxPacket: number): number {
  const command = { kind: 'segment' as const, offset: r.size, ...(r.segmentChecksums ? { checksum: '0'.repeat(64) } : {}) };
  return maxPacket - publishHeader - Buffer.byteLength(commandTopic(r.mode, r.fileId, command));
}

/** The broker's packet limit as the agent should assume it: on 3.1.1, EMQX's default. */
export function assumedMaxPacket(limits: LinkLimits, protocolVersion: 4 | 5): number {
  return protocolVersion === 5 ? limits.maximumPacketSize : Math.min(limits.maximumPacketSize, emqxDefaultMaxPacket);
}

export function chooseGeometry(r: GeometryRequest, limits: LinkLimits, protocolVersion: 4 | 5, ceiling = maxAutoChunkSize): Geometry {
  const largestFit = largestSegmentFit(r, assumedMaxPacket(limits, protocolVersion));
  const budget = Math.max(1, r.memoryBudget);
  let chunkSize = r.chunkSize;
  if (chunkSize === undefined) {
    chunkSize = Math.min(ceiling, largestFit);
    if (r.window !== undefined) chunkSize = Math.min(chunkSize, Math.max(minAutoChunkSize, Math.floor(budget / r.window)));
    // Whole KiB when there is room: disk reads and EMQX's segment files like aligned sizes.
    if (chunkSize > minAutoChunkSize) chunkSize -= chunkSize % 1024;
    chunkSize = Math.max(1, chunkSize);
  }
  const window = r.window ?? Math.max(1, Math.min(limits.receiveMaximum, Math.floor(budget / chunkSize)));
  return { chunkSize, window, largestFit };
}
