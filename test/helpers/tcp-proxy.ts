/**
 * A TCP proxy for tests between an MQTT client and a broker: forwards bytes, counts them each way,
 * reads the client's MQTT framing (to count packets and the payload bytes of file-transfer segment
 * PUBLISHes), and cuts connections on demand: now, after N more bytes or packets from the client,
 * or on each of the next K connections. `pause()` stops forwarding both ways (a stalled link).
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface CutRule {
  /** Cut once the client has sent this many more bytes on the connection. */
  bytes?: number;
  /** Cut once the client has sent this many more complete MQTT packets on the connection. */
  packets?: number;
}

export interface ProxyCounters {
  /** Bytes client → broker / broker → client, over every connection. */
  up: number;
  down: number;
  /** Complete MQTT packets client → broker. */
  packets: number;
  /** Payload bytes of PUBLISHes to `$file/{id}/{offset}…` or `$file-async/{id}/{offset}…`. */
  segmentBytes: number;
  /** The part of segmentBytes at a (file id, offset) already sent before: bytes sent again. */
  segmentBytesAgain: number;
  connections: number;
  cuts: number;
  /** The most QoS 1 PUBLISHes from the client ever waiting for their PUBACK on one connection. */
  maxInFlight: number;
}

const SEGMENT_TOPIC = /^\$file(?:-async)?\/([^/]+\/\d+)(?:\/|$)/;

/** Reads one direction's byte stream packet by packet (only what the counters need). */
class MqttStreamReader {
  private pending: Buffer = Buffer.alloc(0);
  private version = 4;

  /** `end`: where the packet ends in the buffer given to push(); `topic` of a PUBLISH, else ''. */
  constructor(private readonly onPacket: (packet: { type: number; qos: number; topic: string; segment: string | null; payload: number; end: number }) => void) {}

  push(data: Buffer): void {
    const carried = this.pending.length;
    this.pending = carried === 0 ? data : Buffer.concat([this.pending, data]);
    let consumed = 0;
    for (;;) {
      const header = remainingLength(this.pending);
      if (!header || this.pending.length < header.start + header.length) return;
      const body = this.pending.subarray(header.start, header.start + header.length);
      const first = this.pending[0]!;
      this.pending = this.pending.subarray(header.start + header.length);
      consumed += header.start + header.length;
      this.onPacket({ type: first >> 4, qos: (first >> 1) & 3, ...this.publish(first, body), end: consumed - carried });
    }
  }

  private publish(first: number, body: Buffer): { topic: string; segment: string | null; payload: number } {
    const type = first >> 4;
    const none = { topic: '', segment: null, payload: 0 };
    if (type === 1) {
      const nameLength = body.readUInt16BE(0);
      this.version = body[2 + nameLength] ?? 4;
      return none;
    }
    if (type !== 3) return none;
    const topicLength = body.readUInt16BE(0);
    const topic = body.subarray(2, 2 + topicLength).toString('utf8');
    let at = 2 + topicLength + (((first >> 1) & 3) > 0 ? 2 : 0);
    if (this.version === 5) {
      const props = remainingLength(body.subarray(at - 1));
      if (!props) return none;
      at += props.start - 1 + props.length;
    }
    return { topic, segment: SEGMENT_TOPIC.exec(topic)?.[1] ?? null, payload: body.length - at };
  }
}

/** MQTT's variable-length integer at offset 1: where the rest starts and how long it is. */
function remainingLength(buf: Buffer): { start: number; length: number } | undefined {
  let length = 0;
  for (let i = 1, mul = 1; i < 5; i++, mul *= 128) {
    const b = buf[i];
    if (b === undefined) return undefined;
    length += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) return { start: i + 1, length };
  }
  throw new Error('malformed MQTT remaining length');
}

interface Link {
  client: Socket;
  broker: Socket;
  rule: CutRule | null;
  sentBytes: number;
  sentPackets: number;
}

/** A rule counted from what the connection has already carried. */
function relative(link: Link, rule: CutRule): CutRule {
  return {
    ...(rule.bytes !== undefined ? { bytes: link.sentBytes + rule.bytes } : {}),
    ...(rule.packets !== undefined ? { packets: link.sentPackets + rule.packets } : {}),
  };
}

export interface TcpProxy {
  readonly port: number;
  readonly url: string;
  readonly counters: ProxyCounters;
  /** Called for each PUBLISH from the client, before it is forwarded. */
  onPublish(listener: (topic: string, payloadBytes: number) => void): void;
  /** Points new connections at another broker port (the open ones are left alone). */
  retarget(port: number): void;
  /** Cut every open connection now. */
  cutNow(): void;
  /** Arms one cut on each open connection, or on the next one when none is open. */
  cutAfter(rule: CutRule): void;
  /** Arms `rule` on each of the next `times` connections (the current one included). */
  cutRepeatedly(rule: CutRule, times: number): void;
  pause(): void;
  resume(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const counters: ProxyCounters = { up: 0, down: 0, packets: 0, segmentBytes: 0, segmentBytesAgain: 0, connections: 0, cuts: 0, maxInFlight: 0 };
  const links = new Set<Link>();
  let target = targetPort;
  let paused = false;
  let nextRule: CutRule | null = null;
  let repeat: { rule: CutRule; left: number } | null = null;
  const segmentsSeen = new Set<string>();
  const publishListeners: Array<(topic: string, payloadBytes: number) => void> = [];

  const cut = (link: Link): void => {
    if (!links.delete(link)) return;
    counters.cuts += 1;
    link.client.destroy();
    link.broker.destroy();
  };
  const takeRule = (): CutRule | null => {
    if (repeat && repeat.left > 0) {
      repeat.left -= 1;
      return repeat.rule;
    }
    const rule = nextRule;
    nextRule = null;
    return rule;
  };
  const due = (link: Link): boolean =>
    link.rule !== null && ((link.rule.bytes !== undefined && link.sentBytes >= link.rule.bytes) || (link.rule.packets !== undefined && link.sentPackets >= link.rule.packets));

  const server: Server = createServer((client) => {
    counters.connections += 1;
    const broker = connect(target, targetHost);
    const link: Link = { client, broker, rule: takeRule(), sentBytes: 0, sentPackets: 0 };
    links.add(link);
    let cutAt = -1;
    let inFlight = 0;
    const reader = new MqttStreamReader((packet) => {
      if (cutAt >= 0) return;
      if (packet.type === 3 && packet.qos === 1) counters.maxInFlight = Math.max(counters.maxInFlight, ++inFlight);
      link.sentPackets += 1;
      counters.packets += 1;
      if (packet.segment !== null) {
        counters.segmentBytes += packet.payload;
        if (segmentsSeen.has(packet.segment)) counters.segmentBytesAgain += packet.payload;
        segmentsSeen.add(packet.segment);
      }
      if (packet.topic) for (const listener of publishListeners) listener(packet.topic, packet.payload);
      if (link.rule?.packets !== undefined && link.sentPackets >= link.rule.packets) cutAt = packet.end;
    });
    if (paused) {
      client.pause();
      broker.pause();
    }
    client.on('data', (data: Buffer) => {
      if (!links.has(link)) return;
      let chunk = data;
      if (link.rule?.bytes !== undefined) chunk = data.subarray(0, Math.max(0, link.rule.bytes - link.sentBytes));
      reader.push(chunk);
      // The Nth packet goes through whole; nothing after it does.
      if (cutAt >= 0) chunk = chunk.subarray(0, cutAt);
      link.sentBytes += chunk.length;
      counters.up += chunk.length;
      broker.write(chunk);
      if (cutAt >= 0 || due(link)) cut(link);
    });
    const downstream = new MqttStreamReader((packet) => {
      if (packet.type === 4) inFlight -= 1;
    });
    broker.on('data', (data: Buffer) => {
      if (!links.has(link)) return;
      downstream.push(data);
      counters.down += data.length;
      client.write(data);
    });
    const end = (): void => {
      if (links.delete(link)) {
        client.destroy();
        broker.destroy();
      }
    };
    for (const s of [client, broker]) {
      s.on('error', end);
      s.on('close', end);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;

  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    counters,
    onPublish(listener) {
      publishListeners.push(listener);
    },
    retarget(p) {
      target = p;
    },
    cutNow() {
      for (const link of [...links]) cut(link);
    },
    cutAfter(rule) {
      if (links.size === 0) nextRule = rule;
      for (const link of links) link.rule = relative(link, rule);
    },
    cutRepeatedly(rule, times) {
      repeat = { rule, left: times };
      for (const link of links) {
        if (repeat.left === 0) break;
        repeat.left -= 1;
        link.rule = relative(link, rule);
      }
    },
    pause() {
      paused = true;
      for (const link of links) {
        link.client.pause();
        link.broker.pause();
      }
    },
    resume() {
      paused = false;
      for (const link of links) {
        link.client.resume();
        link.broker.resume();
      }
    },
    async close() {
      for (const link of [...links]) cut(link);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
