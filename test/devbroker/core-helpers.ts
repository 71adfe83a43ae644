import { mkdtemp, rm } from 'node:fs/promises';
import { connect as connectTcp, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type IClientPublishOptions, type MqttClient } from 'mqtt';
import { generate, parser as createParser, type Packet } from 'mqtt-packet';
import { startBroker, type BrokerOptions, type RunningBroker } from '../../src/devbroker';

export interface TestBroker extends RunningBroker {
  dir: string;
  /** Stops the broker, ends every client opened through it, removes the temp dir. */
  cleanup(): Promise<void>;
  connect(options?: IClientOptions): Promise<MqttClient>;
  raw(): Promise<RawClient>;
}

/** A broker on 127.0.0.1, a free port and a fresh temp dir, quiet unless the test asks for logs. */
export async function startTestBroker(options: Partial<BrokerOptions> = {}): Promise<TestBroker> {
  const dir = await mkdtemp(join(tmpdir(), 'ftbroker-core-'));
  const broker = await startBroker({ dataDir: join(dir, 'data'), logLevel: 'silent', ...options });
  const clients: MqttClient[] = [];
  const raws: RawClient[] = [];
  return {
    ...broker,
    dir,
    async connect(clientOptions = {}) {
      const client = await connectClient(broker.port, clientOptions);
      clients.push(client);
      return client;
    },
    async raw() {
      const client = await RawClient.open(broker.port);
      raws.push(client);
      return client;
    },
    async cleanup() {
      await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
      for (const r of raws) r.destroy();
      await broker.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** An MQTT.js client that does not reconnect by itself (tests decide when to reconnect). */
export function connectClient(port: number, options: IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync({ host: '127.0.0.1', port, reconnectPeriod: 0, connectTimeout: 5_000, ...options });
}

/** Resolves with the first event `name` the emitter fires (with its arguments). */
export function once<T extends unknown[]>(emitter: { once(event: string, listener: (...args: T) => void): unknown }, name: string): Promise<T> {
  return new Promise((resolve) => {
    emitter.once(name, (...args: T) => resolve(args));
  });
}

const pubackCodesByClient = new WeakMap<MqttClient, Map<number, number>>();

/** The PUBACK reason codes a client received, by message id (MQTT.js itself reports 0x10 as plain success). */
export function pubackCodes(client: MqttClient): Map<number, number> {
  let codes = pubackCodesByClient.get(client);
  if (!codes) {
    const map = new Map<number, number>();
    client.on('packetreceive', (p) => {
      if (p.cmd === 'puback' && p.messageId !== undefined) map.set(p.messageId, p.reasonCode ?? 0);
    });
    pubackCodesByClient.set(client, map);
    codes = map;
  }
  return codes;
}

/** Publishes QoS 1 and resolves with the PUBACK's reason code, whatever it is. */
export function publishForCode(client: MqttClient, topic: string, payload: string | Buffer, options: IClientPublishOptions = {}): Promise<number> {
  const codes = pubackCodes(client);
  return new Promise((resolve, reject) => {
    // On success MQTT.js passes the PUBLISH, on an error code the PUBACK: both carry the message id.
    client.publish(topic, payload, { qos: 1, ...options }, (err, packet) => {
      const code = packet?.messageId !== undefined ? codes.get(packet.messageId) : undefined;
      if (code !== undefined) resolve(code);
      else reject(err ?? new Error('no PUBACK code recorded'));
    });
  });
}

/**
 * A client speaking raw MQTT over a socket, for what MQTT.js will not do: hold acknowledgements back,
 * break the protocol, send garbage.
 */
export class RawClient {
  private readonly packets: Packet[] = [];
  private waiters: Array<() => void> = [];
  private version: 4 | 5 = 4;
  private parserFor: ReturnType<typeof createParser>;
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    this.parserFor = this.newParser(4);
    socket.on('data', (data: Buffer) => this.parserFor.parse(data));
    this.closed = new Promise((resolve) => socket.on('close', () => resolve()));
    socket.on('close', () => this.wake());
    socket.on('error', () => undefined);
  }

  static open(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connectTcp(port, '127.0.0.1', () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  get isClosed(): boolean {
    return this.socket.destroyed || this.socket.readableEnded;
  }

  /** Sends CONNECT and returns the CONNACK. */
  async handshake(clientId: string, version: 4 | 5 = 5, extra: Partial<Extract<Packet, { cmd: 'connect' }>> = {}): Promise<Packet> {
    this.version = version;
    this.parserFor = this.newParser(version);
    this.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clientId, clean: true, keepalive: 0, ...extra });
    return this.next('connack');
  }

  send(packet: Packet): void {
    this.socket.write(generate(packet, { protocolVersion: this.version }));
  }

  writeBytes(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** The next packet of kind `cmd` (earlier packets of other kinds stay queued); rejects if the socket closes first. */
  async next(cmd: Packet['cmd']): Promise<Packet> {
    for (;;) {
      const index = this.packets.findIndex((p) => p.cmd === cmd);
      if (index >= 0) return this.packets.splice(index, 1)[0] as Packet;
      if (this.socket.destroyed) throw new Error(`connection closed before ${cmd}`);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** How many packets of kind `cmd` arrived and were not taken by next(). */
  queued(cmd: Packet['cmd']): number {
    return this.packets.filter((p) => p.cmd === cmd).length;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private newParser(version: 4 | 5): ReturnType<typeof createParser> {
    const p = createParser({ protocolVersion: version });
    p.on('packet', (packet: Packet) => {
      this.packets.push(packet);
      this.wake();
    });
    return p;
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
