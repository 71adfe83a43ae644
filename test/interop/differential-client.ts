/**
 * Plays one differential sequence with a plain MQTT.js client and records what a broker answered:
 * the CONNACK's Receive Maximum, the raw reason code of every PUBACK/PUBREC (null: none within the
 * bound), and every `$file-response` (or Response-Topic message) with its Correlation-Data.
 */
import mqtt, { type IPublishPacket, type Packet } from 'mqtt';
import type { Sequence } from './differential-table';

export interface Observed {
  receiveMaximum: number | null;
  acks: Array<number | null>;
  responses: Array<{ on: string; correlation: string | null; body: unknown }>;
}

/** Bounds: an answer to one command (a sync fin waits for assembly), and quiet after the last. */
const ACK_WAIT_MS = 15_000;
const QUIET_MS = 500;
const SETTLE_MAX_MS = 15_000;

export async function play(url: string, seq: Sequence, clientId: string, fileId: string): Promise<Observed> {
  const fill = (s: string): string => s.replaceAll('{ft}', seq.prefix).replaceAll('{f}', fileId).replaceAll('{c}', clientId);
  const client = mqtt.connect(url, { clientId, protocolVersion: seq.version, clean: true, reconnectPeriod: 0, connectTimeout: 10_000 });
  const observed: Observed = { receiveMaximum: null, acks: [], responses: [] };
  const acks = new Map<number, number>();
  /** Packet id → the step that used it: MQTT.js starts its ids at random, so compare by step. */
  const stepOf = new Map<number, number>();
  let lastMessageAt = Date.now();
  let ackListener: (() => void) | null = null;
  client.on('packetreceive', (p: Packet) => {
    if (p.cmd === 'puback' || p.cmd === 'pubrec') {
      acks.set(p.messageId ?? -1, p.reasonCode ?? 0);
      ackListener?.();
    }
  });
  client.on('message', (topic: string, payload: Buffer, packet: IPublishPacket) => {
    lastMessageAt = Date.now();
    const correlation = packet.properties?.correlationData;
    observed.responses.push({ on: topic.replace(clientId, '{c}'), correlation: correlation ? correlation.toString() : null, body: JSON.parse(payload.toString()) });
  });
  try {
    await new Promise<void>((resolve, reject) => {
      client.once('connect', (connack) => {
        observed.receiveMaximum = connack.properties?.receiveMaximum ?? null;
        resolve();
      });
      client.once('error', reject);
    });
    await client.subscribeAsync([`$file-response/${clientId}`, `resp/${clientId}`], { qos: 1 });
    let stepIndex = -1;
    for (const step of seq.steps) {
      const qos = step.qos ?? 1;
      const properties = step.correlation !== undefined ? { responseTopic: `resp/${clientId}`, correlationData: Buffer.from(step.correlation) } : undefined;
      let messageId = -1;
      const sent = (p: Packet): void => {
        if (p.cmd === 'publish') messageId = p.messageId ?? -1;
      };
      client.once('packetsend', sent);
      stepIndex += 1;
      client.publish(fill(step.topic), step.payload ?? '', { qos, ...(properties ? { properties } : {}) }, () => undefined);
      if (qos === 0) continue;
      stepOf.set(messageId, stepIndex);
      const end = Date.now() + ACK_WAIT_MS;
      await new Promise<void>((resolve) => {
        const check = (): void => {
          if (acks.has(messageId) || Date.now() > end) {
            ackListener = null;
            clearInterval(timer);
            resolve();
          }
        };
        const timer = setInterval(check, 50);
        ackListener = check;
      });
      observed.acks.push(acks.get(messageId) ?? null);
    }
    // Every QoS 1 command the broker handled (PUBACK 0 or 0x80) gets one response, an async fin's
    // after assembly: wait for that many (bounded), then for quiet, to catch any extra.
    const expected = observed.acks.filter((a) => a === 0 || a === 0x80).length;
    const settleEnd = Date.now() + SETTLE_MAX_MS;
    while ((observed.responses.length < expected || Date.now() - lastMessageAt < QUIET_MS) && Date.now() < settleEnd) {
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, QUIET_MS));
  } finally {
    client.end(true);
  }
  for (const r of observed.responses) {
    const body = r.body as { packet_id?: unknown };
    if (typeof body.packet_id === 'number') body.packet_id = `step ${stepOf.get(body.packet_id) ?? '?'}`;
  }
  const key = (r: Observed['responses'][number]): string => {
    const body = r.body as { packet_id?: unknown; topic?: unknown };
    return `${String(body.packet_id)}|${String(body.topic)}|${r.on}`;
  };
  observed.responses.sort((a, b) => key(a).localeCompare(key(b)));
  return observed;
}
