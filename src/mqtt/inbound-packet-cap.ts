/**
 * The cap on what a broker can make us buffer. MQTT 5 clients announce a Maximum Packet Size in
 * CONNECT and a conforming broker (EMQX) then drops what does not fit; a broker that ignores it, or
 * any MQTT 3.1.1 broker, could still send a 100 MB packet, which MQTT.js would collect whole before
 * parsing. This watches the bytes arriving on the socket, reads each packet's fixed header (type
 * byte + Remaining Length varint) and destroys the socket as soon as a header announces a packet
 * larger than the cap, long before its body arrives.
 */
import type { MqttClient } from 'mqtt';

type State = { kind: 'type' } | { kind: 'length'; value: number; multiplier: number; headerBytes: number } | { kind: 'body'; left: number };

export class InboundPacketCap {
  private state: State = { kind: 'type' };
  /** The announced size of the packet that broke the cap, once it happened. */
  exceeded: number | undefined;

  constructor(private readonly maxPacketSize: number) {}

  /** Feeds received bytes; false once a packet over the cap (or a malformed length) was announced. */
  push(chunk: Uint8Array): boolean {
    let i = 0;
    while (i < chunk.length && this.exceeded === undefined) {
      const s = this.state;
      if (s.kind === 'body') {
        const take = Math.min(s.left, chunk.length - i);
        i += take;
        s.left -= take;
        if (s.left === 0) this.state = { kind: 'type' };
        continue;
      }
      const byte = chunk[i++] as number;
      if (s.kind === 'type') {
        this.state = { kind: 'length', value: 0, multiplier: 1, headerBytes: 1 };
        continue;
      }
      s.value += (byte & 0x7f) * s.multiplier;
      s.multiplier *= 128;
      s.headerBytes++;
      if (byte & 0x80) {
        // At most four length bytes (MQTT): a fifth means the stream is garbage.
        if (s.headerBytes > 4) this.exceeded = Number.POSITIVE_INFINITY;
        continue;
      }
      if (s.value + s.headerBytes > this.maxPacketSize) this.exceeded = s.value + s.headerBytes;
      else this.state = s.value === 0 ? { kind: 'type' } : { kind: 'body', left: s.value };
    }
    return this.exceeded === undefined;
  }
}

const exceededBy = new WeakMap<MqttClient, Error>();

/** Why the cap closed this client's socket, if it did. */
export function capExceeded(client: MqttClient): Error | undefined {
  return exceededBy.get(client);
}

/** Watches `client`'s socket; `onExceeded` runs once, after the socket was destroyed, with the reason. */
export function capInboundPackets(client: MqttClient, maxPacketSize: number, onExceeded: (error: Error) => void): void {
  const stream = client.stream as (NodeJS.ReadableStream & { destroy?: (err?: Error) => void }) | undefined;
  if (!stream || typeof stream.on !== 'function') return;
  const cap = new InboundPacketCap(maxPacketSize);
  const onData = (chunk: Buffer): void => {
    if (cap.push(chunk)) return;
    stream.removeListener('data', onData);
    const error = new Error(`the broker sent a packet of ${cap.exceeded} bytes, above this client's Maximum Packet Size ${maxPacketSize}`);
    exceededBy.set(client, error);
    stream.destroy?.(error);
    onExceeded(error);
  };
  stream.on('data', onData);
}
