import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { until } from '../daemon/helpers';

export interface Seen {
  topic: string;
  json: Record<string, unknown>;
  retain: boolean;
  correlation?: string;
}

/** An observer client: what the backend of a fleet would run. */
export class Observer {
  readonly seen: Seen[] = [];
  private constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      let json: Record<string, unknown>;
      try {
        json = JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
      } catch {
        json = { unparsable: payload.toString('utf8') };
      }
      const c = packet.properties?.correlationData;
      this.seen.push({ topic, json, retain: packet.retain, ...(c ? { correlation: c.toString('utf8') } : {}) });
    });
  }

  static async open(url: string, filters: string[], options: IClientOptions = {}): Promise<Observer> {
    const client = connect(url, { clientId: `observer-${process.pid}-${Math.random().toString(16).slice(2, 8)}`, reconnectPeriod: 0, protocolVersion: 5, ...options });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    const o = new Observer(client);
    for (const f of filters) await client.subscribeAsync(f, { qos: 1 });
    return o;
  }

  on(topic: string): Seen[] {
    return this.seen.filter((s) => s.topic === topic);
  }

  async waitFor(what: string, pred: (s: Seen) => boolean, timeoutMs = 30_000): Promise<Seen> {
    await until(what, () => this.seen.some(pred), timeoutMs);
    return this.seen.find(pred) as Seen;
  }

  events(topic: string): Record<string, unknown>[] {
    return this.on(topic).map((s) => s.json);
  }

  async close(): Promise<void> {
    await this.client.endAsync(true).catch(() => undefined);
  }
}

export function lastOn(o: Observer, topic: string): Seen | undefined {
  const all = o.on(topic);
  return all[all.length - 1];
}

/**
 * A TCP relay in front of a broker that can be cut (every connection dropped, new ones refused)
 * and restored: the gateway's uplink going away and coming back, on any broker.
 */
export class Uplink {
  private readonly sockets = new Set<import('node:net').Socket>();
  private up = true;
  private constructor(
    private readonly server: import('node:net').Server,
    readonly port: number,
  ) {}

  static async open(targetPort: number): Promise<Uplink> {
    const net = await import('node:net');
    let self: Uplink | undefined;
    const server = net.createServer((inbound) => {
      if (!self?.up) {
        inbound.destroy();
        return;
      }
      const outbound = net.connect(targetPort, '127.0.0.1');
      for (const s of [inbound, outbound]) {
        self.sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => {
          self?.sockets.delete(s);
          inbound.destroy();
          outbound.destroy();
        });
      }
      inbound.pipe(outbound);
      outbound.pipe(inbound);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const address = server.address();
    self = new Uplink(server, typeof address === 'object' && address ? address.port : 0);
    return self;
  }

  cut(): void {
    this.up = false;
    for (const s of this.sockets) s.destroy();
  }

  restore(): void {
    this.up = true;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
