/**
 * What the agent takes from the broker's CONNACK and PUBACK packets (decoded by MQTT.js), checked:
 * these are peer input, and a value the protocol forbids must become a clear PROTOCOL_ERROR, not a
 * window of 0 or an unbounded string in a log line.
 */
import type { IConnackPacket, Packet } from 'mqtt';
import { FtError } from '../errors';

export interface LinkLimits {
  /** How many QoS 1 publishes the broker accepts unacknowledged (CONNACK Receive Maximum). */
  receiveMaximum: number;
  /** Largest packet the broker accepts, in bytes (CONNACK Maximum Packet Size). */
  maximumPacketSize: number;
}

type IPubackPacket = Extract<Packet, { cmd: 'puback' }>;
export const protocolMaxPacket = 268_435_455;
/** Longer reason strings are cut: they end up in logs and error messages. */
const maxReasonString = 1024;

export function linkLimitsFrom(connack: Pick<IConnackPacket, 'properties'>): LinkLimits {
  const p = connack.properties;
  const receiveMaximum = p?.receiveMaximum ?? 65535;
  const maximumPacketSize = p?.maximumPacketSize ?? protocolMaxPacket;
  // MQTT 5 (3.2.2.3.3, 3.2.2.3.6): 0 is a protocol error for both.
  if (!Number.isInteger(receiveMaximum) || receiveMaximum < 1 || receiveMaximum > 65535) {
    throw new FtError('PROTOCOL_ERROR', `the broker's CONNACK has Receive Maximum ${receiveMaximum}; MQTT 5 allows 1 to 65535`, { details: { receiveMaximum } });
  }
  if (!Number.isInteger(maximumPacketSize) || maximumPacketSize < 1 || maximumPacketSize > protocolMaxPacket) {
    throw new FtError('PROTOCOL_ERROR', `the broker's CONNACK has Maximum Packet Size ${maximumPacketSize}; MQTT 5 allows 1 to ${protocolMaxPacket}`, { details: { maximumPacketSize } });
  }
  return { receiveMaximum, maximumPacketSize };
}

export interface PubackResult {
  packetId: number;
  reasonCode: number;
  reasonString?: string;
}

/** The PUBACK's id, raw reason code (0 when absent, as in MQTT 3.1.1) and reason string; undefined without an id. */
export function pubackResult(p: IPubackPacket): PubackResult | undefined {
  const id = p.messageId;
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 1 || id > 65535) return undefined;
  const code = p.reasonCode ?? 0;
  const reasonCode = Number.isInteger(code) && code >= 0 && code <= 255 ? code : 0x80;
  const raw = p.properties?.reasonString;
  if (typeof raw !== 'string') return { packetId: id, reasonCode };
  return { packetId: id, reasonCode, reasonString: raw.length > maxReasonString ? `${raw.slice(0, maxReasonString)}…` : raw };
}
