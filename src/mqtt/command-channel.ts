/**
 * CommandLink over a Connection. Reads raw PUBACKs from `packetreceive` (MQTT.js reports 0x10 as
 * success and drops reason strings), learns each publish's packet id from `packetsend`, counts the
 * publishes in flight against the broker's Receive Maximum, routes `$file-response/{clientid}` and
 * reports every outstanding publish lost when the link drops.
 */
import type { MqttClient, Packet } from 'mqtt';
import { FtError } from '../errors';
import type { Logger } from '../log';
import { parseFileResponse } from '../protocol/emqx-ft-response';
import { responseTopic } from '../protocol/emqx-ft-topics';
import type { CommandLink, LinkEvent, LinkLimits, SendObserver } from './command-link';
import type { Connection, ConnectionEvent } from './connection';
import type { ByteRateLimit } from './byte-rate-limit';
import { systemClock, type Clock } from './clock';
import { untilFirstUp } from './first-up';

interface PendingSend {
  topic: string;
  payload: Buffer;
  observer: SendObserver;
  packetId: number | null;
}

export interface CommandChannelOptions {
  /** Subscribe to `$file-response/{clientid}` on every connection (async mode, MQTT 3.1.1). */
  responses: boolean;
  /** Our own cap on publishes in flight on this connection, below the broker's Receive Maximum. */
  maxInFlight?: number;
  /** A cap on bytes per second, shared with the device's other channels (it outlives connections). */
  rateLimit?: ByteRateLimit;
  /** For the rate limit's wake-up timer; default the system clock. */
  clock?: Clock;
}

export class CommandChannel implements CommandLink {
  private readonly listeners = new Set<(e: LinkEvent) => void>();
  private client: MqttClient | null = null;
  private awaitingId: PendingSend[] = [];
  private inFlight = new Map<number, PendingSend>();
  private url: string | null = null;
  private readonly offConnection: () => void;
  private cancelRateWake: (() => void) | null = null;

  constructor(
    private readonly connection: Connection,
    private readonly options: CommandChannelOptions,
    private readonly logger: Logger,
  ) {
    this.offConnection = connection.listen((e) => this.onConnectionEvent(e));
  }

  get clientId(): string {
    return this.connection.clientId;
  }

  get protocolVersion(): 4 | 5 {
    return this.connection.options.protocolVersion;
  }

  isUp(): boolean {
    return this.client !== null;
  }

  currentUrl(): string | null {
    return this.url;
  }

  limits(): LinkLimits {
    return this.connection.limits();
  }

  freeSlots(): number {
    if (!this.client) return 0;
    if (this.overRate()) return 0;
    const cap = Math.min(this.limits().receiveMaximum, this.options.maxInFlight ?? Number.MAX_SAFE_INTEGER);
    return Math.max(0, cap - this.inFlight.size - this.awaitingId.length);
  }

  /** Over the byte budget: no slot now, and a `slot` event once the debt is paid. */
  private overRate(): boolean {
    const wait = this.options.rateLimit?.waitMs() ?? 0;
    if (wait === 0) return false;
    if (!this.cancelRateWake) {
      this.cancelRateWake = (this.options.clock ?? systemClock).after(wait, () => {
        this.cancelRateWake = null;
        this.emit({ kind: 'slot' });
      });
    }
    return true;
  }

  listen(listener: (e: LinkEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  send(topic: string, payload: Buffer, observer: SendObserver): boolean {
    const client = this.client;
    if (!client) return false;
    const pending: PendingSend = { topic, payload, observer, packetId: null };
    this.awaitingId.push(pending);
    this.options.rateLimit?.take(payload.length);
    client.publish(topic, payload, { qos: 1 }, () => {
      // Results are read from packetreceive: this callback cannot tell 0x00 from 0x10.
    });
    return true;
  }

  /**
   * Starts the connection; resolves once the channel is usable (connected and, when responses are
   * wanted, subscribed), rejects if the connection gives up first.
   */
  start(): Promise<void> {
    return untilFirstUp((l) => this.listen(l), () => this.connection.start());
  }

  /** Stops listening to the connection (the connection itself is closed by its owner). */
  dispose(): void {
    this.offConnection();
    this.cancelRateWake?.();
    this.cancelRateWake = null;
    this.detach('channel closed');
  }

  private emit(e: LinkEvent): void {
    for (const l of [...this.listeners]) l(e);
  }

  private onConnectionEvent(e: ConnectionEvent): void {
    if (e.kind === 'up') {
      void this.attach(e.client, e.url, e.limits);
    } else if (e.kind === 'down') {
      if (this.detach(e.reason)) this.emit({ kind: 'down', url: e.url, reason: e.reason });
    } else {
      this.detach(e.error.message);
      this.emit({ kind: 'failed', error: e.error });
    }
  }

  private async attach(client: MqttClient, url: string, limits: LinkLimits): Promise<void> {
    client.on('packetsend', (p: Packet) => this.onPacketSend(client, p));
    client.on('packetreceive', (p: Packet) => this.onPacketReceive(client, p));
    if (this.options.responses) {
      const topic = responseTopic(this.clientId);
      try {
        const granted = await client.subscribeAsync(topic, { qos: 1 });
        const qos = granted[0]?.qos ?? 0x80;
        if (qos >= 0x80) {
          this.emit({
            kind: 'failed',
            error: new FtError('FT_REJECTED', `broker ${url} refused the subscription to ${topic} (rc 0x${qos.toString(16)}): allow it in the broker's ACL`),
          });
          return;
        }
      } catch (err) {
        // The link dropped while subscribing; the connection's reconnect loop will try again.
        this.logger.warn({ broker: url, err: err instanceof Error ? err.message : String(err) }, 'subscribe to file responses failed');
        return;
      }
      if (client !== this.connection.currentClient()) return;
    }
    this.client = client;
    this.url = url;
    this.emit({ kind: 'up', url, limits });
  }

  /** Returns true when a link was up. Every outstanding publish is reported lost. */
  private detach(reason: string): boolean {
    const wasUp = this.client !== null;
    this.client = null;
    this.url = null;
    const lost = [...this.awaitingId, ...this.inFlight.values()];
    this.awaitingId = [];
    this.inFlight = new Map();
    if (lost.length > 0) this.logger.debug({ count: lost.length, reason }, 'link down with commands in flight');
    for (const p of lost) p.observer.lost();
    return wasUp;
  }

  private onPacketSend(client: MqttClient, p: Packet): void {
    if (client !== this.client || p.cmd !== 'publish') return;
    const pub = p;
    if (pub.qos !== 1 || pub.messageId === undefined) return;
    const i = this.awaitingId.findIndex((s) => s.payload === pub.payload && s.topic === pub.topic);
    if (i < 0) return;
    const [pending] = this.awaitingId.splice(i, 1);
    if (!pending) return;
    pending.packetId = pub.messageId;
    this.inFlight.set(pub.messageId, pending);
    pending.observer.sent(pub.messageId);
  }

  private onPacketReceive(client: MqttClient, p: Packet): void {
    if (client !== this.client) return;
    if (p.cmd === 'puback') {
      const id = p.messageId;
      if (id === undefined) return;
      const pending = this.inFlight.get(id);
      if (!pending) return;
      this.inFlight.delete(id);
      const reasonString = p.properties?.reasonString;
      pending.observer.acked({ packetId: id, reasonCode: p.reasonCode ?? 0, ...(reasonString === undefined ? {} : { reasonString }) });
      this.emit({ kind: 'slot' });
    } else if (p.cmd === 'publish' && p.topic === responseTopic(this.clientId)) {
      const parsed = parseFileResponse(p.payload as Buffer);
      if (!parsed.ok) {
        this.logger.warn({ topic: p.topic, problem: parsed.problem }, 'ignoring a malformed file-transfer response');
        return;
      }
      this.emit({ kind: 'response', response: parsed.response });
    }
  }
}
