/**
 * CommandLink over a Connection. Writes each command's PUBLISH itself (publish-frame.ts) with a
 * packet id from the client's own id provider, so MQTT.js's subscribes never collide with it; reads
 * raw PUBACKs from `packetreceive` (MQTT.js reports 0x10 as success, drops reason strings and
 * ignores acks of publishes it did not send), counts the publishes in flight against the broker's
 * Receive Maximum, routes `$file-response/{clientid}` and reports every outstanding publish lost
 * when the link drops.
 */
import type { MqttClient, Packet } from 'mqtt';
import { pubackResult } from './ack-packets';
import { FtError } from '../errors';
import type { Logger } from '../log';
import { parseFileResponse } from '../protocol/emqx-ft-response';
import { responseTopic } from '../protocol/emqx-ft-topics';
import type { CommandLink, LinkEvent, LinkLimits, SendObserver } from './command-link';
import type { Connection, ConnectionEvent } from './connection';
import type { ByteRateLimit } from './byte-rate-limit';
import { systemClock, type Clock } from '../time/clock';
import { untilFirstUp } from './first-up';
import { qos1PublishHeader } from './publish-frame';

interface PendingSend {
  observer: SendObserver;
  packetId: number;
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

  markProgress(): void {
    this.connection.markProgress();
  }

  freeSlots(): number {
    if (!this.client) return 0;
    if (this.overRate()) return 0;
    const cap = Math.min(this.limits().receiveMaximum, this.options.maxInFlight ?? Number.MAX_SAFE_INTEGER);
    return Math.max(0, cap - this.inFlight.size);
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
    const stream = client?.stream;
    if (!client || !stream?.writable) return false;
    const packetId = client.messageIdProvider.allocate();
    if (packetId === null) return false;
    this.inFlight.set(packetId, { observer, packetId });
    this.options.rateLimit?.take(payload.length);
    // One write of header and payload: the payload goes by reference (a chunk is reused only after
    // its PUBACK or the loss of this connection, see transfer/emqx-ft/chunk-reader.ts).
    stream.cork();
    stream.write(qos1PublishHeader(topic, packetId, payload.length, this.protocolVersion));
    if (payload.length > 0) stream.write(payload);
    stream.uncork();
    observer.sent(packetId);
    return true;
  }

  /**
   * Starts the connection; resolves once the channel is usable (connected and, when responses are
   * wanted, subscribed), rejects if the connection gives up first.
   */
  start(): Promise<void> {
    return untilFirstUp(
      (l) => this.listen(l),
      () => this.connection.start(),
    );
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
    const lost = [...this.inFlight.values()];
    this.inFlight = new Map();
    if (lost.length > 0) this.logger.debug({ count: lost.length, reason }, 'link down with commands in flight');
    for (const p of lost) p.observer.lost();
    return wasUp;
  }

  private onPacketReceive(client: MqttClient, p: Packet): void {
    if (client !== this.client) return;
    if (p.cmd === 'puback') {
      const ack = pubackResult(p);
      if (!ack) return;
      const pending = this.inFlight.get(ack.packetId);
      if (!pending) return;
      this.inFlight.delete(ack.packetId);
      client.messageIdProvider.deallocate(ack.packetId);
      pending.observer.acked(ack);
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
