import type { Logger } from '../log';

/** The properties a routed message keeps from its publisher (MQTT 5; dropped for 3.1.1 receivers). */
export interface MessageProperties {
  responseTopic?: string;
  correlationData?: Buffer;
  userProperties?: Record<string, string | string[]>;
  contentType?: string;
  payloadFormatIndicator?: boolean;
}

/** One message on its way to one subscriber. */
export interface Delivery {
  topic: string;
  payload: Buffer;
  qos: 0 | 1;
  retain: boolean;
  properties?: MessageProperties;
}

export interface Subscription {
  /** Granted QoS: the broker delivers at most QoS 1. */
  qos: 0 | 1;
  /** MQTT 5 No Local: not sent back to the client that published it. */
  noLocal: boolean;
  /** MQTT 5 Retain As Published. */
  retainAsPublished: boolean;
}

/** The live connection a session writes to while its client is connected. */
export interface DeliveryTarget {
  /** How many outbound QoS 1 messages may await a PUBACK at once. */
  readonly outboundWindow: number;
  sendPublish(delivery: Delivery, messageId: number | undefined, dup: boolean): void;
  /** True when the socket is so backed up that QoS 0 messages should be dropped. */
  isCongested(): boolean;
}

/** Never expires (MQTT 5 0xFFFFFFFF, and MQTT 3.1.1 clean=false). */
export const SESSION_NEVER_EXPIRES = 0xffffffff;

/**
 * What the broker remembers about one client id: subscriptions, QoS 1 messages in flight, and
 * QoS 1 messages queued while the window is full or the client is away. The queue is bounded
 * (oldest dropped first, as EMQX's message queue does) so a vanished subscriber cannot exhaust memory.
 */
export class Session {
  readonly subscriptions = new Map<string, Subscription>();
  private readonly inflight = new Map<number, Delivery>();
  private readonly queue: Delivery[] = [];
  private target: DeliveryTarget | null = null;
  private nextMessageId = 1;
  private droppedFromQueue = 0;
  expiryIntervalSec: number;
  expiryTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly clientId: string,
    expiryIntervalSec: number,
    private readonly maxQueued: number,
    private readonly log: Logger,
  ) {
    this.expiryIntervalSec = expiryIntervalSec;
  }

  get connected(): boolean {
    return this.target !== null;
  }

  get queuedCount(): number {
    return this.queue.length;
  }

  /** The client (re)connected: first re-send what was in flight with DUP, then drain the queue. */
  attach(target: DeliveryTarget): void {
    this.target = target;
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.expiryTimer = null;
    for (const [messageId, delivery] of this.inflight) target.sendPublish(delivery, messageId, true);
    this.drain();
  }

  detach(target: DeliveryTarget): void {
    if (this.target === target) this.target = null;
  }

  deliver(delivery: Delivery): void {
    const target = this.target;
    if (delivery.qos === 0) {
      // QoS 0 is never stored: sent now or lost, as MQTT allows.
      if (target && !target.isCongested()) target.sendPublish(delivery, undefined, false);
      return;
    }
    if (target && this.queue.length === 0 && this.inflight.size < target.outboundWindow) {
      this.sendInflight(target, delivery);
      return;
    }
    this.enqueue(delivery);
  }

  /** A PUBACK from the client; returns false for an id that was not in flight. */
  acknowledge(messageId: number): boolean {
    if (!this.inflight.delete(messageId)) return false;
    this.drain();
    return true;
  }

  private drain(): void {
    const target = this.target;
    if (!target) return;
    while (this.queue.length > 0 && this.inflight.size < target.outboundWindow && this.target === target) {
      this.sendInflight(target, this.queue.shift() as Delivery);
    }
  }

  private sendInflight(target: DeliveryTarget, delivery: Delivery): void {
    const messageId = this.allocateMessageId();
    this.inflight.set(messageId, delivery);
    target.sendPublish(delivery, messageId, false);
  }

  private enqueue(delivery: Delivery): void {
    if (this.queue.length >= this.maxQueued) {
      this.queue.shift();
      this.droppedFromQueue++;
      // One warning per thousand drops keeps a flood from flooding the log too.
      if (this.droppedFromQueue % 1000 === 1) {
        this.log.warn({ clientId: this.clientId, dropped: this.droppedFromQueue, maxQueued: this.maxQueued }, 'session queue full: oldest messages dropped');
      }
    }
    this.queue.push(delivery);
  }

  private allocateMessageId(): number {
    // Skip ids still in flight; the window is far below 65535 so this always ends.
    for (;;) {
      const id = this.nextMessageId;
      this.nextMessageId = id === 0xffff ? 1 : id + 1;
      if (!this.inflight.has(id)) return id;
    }
  }
}
