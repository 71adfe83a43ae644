import type { Logger } from '../log';
import { Session, SESSION_NEVER_EXPIRES, type MessageProperties } from './session';
import { topicMatches } from './topic-match';

/** A message to route, from a client or from the broker itself. */
export interface RoutedMessage {
  topic: string;
  payload: Buffer;
  qos: 0 | 1 | 2;
  retain: boolean;
  properties?: MessageProperties;
}

/**
 * Every session by client id, connected or not, and routing over their subscriptions. Routing is a
 * linear scan: a development broker has a handful of clients, and a scan has no index to get wrong.
 */
/** Retained topics kept at most; a new topic beyond this evicts the oldest (EMQX bounds them too). */
const MAX_RETAINED = 10_000;

export class SessionStore {
  private readonly sessions = new Map<string, Session>();
  /** The last retained message per topic (an empty payload clears it, as MQTT says). */
  private readonly retained = new Map<string, RoutedMessage>();

  constructor(
    private readonly maxQueuedPerSession: number,
    private readonly log: Logger,
  ) {}

  get(clientId: string): Session | undefined {
    return this.sessions.get(clientId);
  }

  create(clientId: string, expiryIntervalSec: number): Session {
    this.discard(clientId);
    const session = new Session(clientId, expiryIntervalSec, this.maxQueuedPerSession, this.log);
    this.sessions.set(clientId, session);
    return session;
  }

  discard(clientId: string): void {
    const session = this.sessions.get(clientId);
    if (!session) return;
    if (session.expiryTimer) clearTimeout(session.expiryTimer);
    this.sessions.delete(clientId);
  }

  /** The client went away: keep the session for its expiry interval, or drop it now. */
  release(session: Session): void {
    if (this.sessions.get(session.clientId) !== session) return;
    if (session.expiryIntervalSec === 0) {
      this.discard(session.clientId);
      return;
    }
    if (session.expiryIntervalSec === SESSION_NEVER_EXPIRES) return;
    // setTimeout overflows past ~24.8 days; a development broker never runs that long on one session.
    const ms = Math.min(session.expiryIntervalSec * 1000, 2 ** 31 - 1);
    session.expiryTimer = setTimeout(() => {
      if (!session.connected) {
        this.log.debug({ clientId: session.clientId }, 'session expired');
        this.discard(session.clientId);
      }
    }, ms);
    session.expiryTimer.unref();
  }

  /** Deliver to every matching subscription; returns how many sessions it went to. */
  route(message: RoutedMessage, publisherClientId: string | undefined): number {
    if (message.retain) this.retain(message);
    let matched = 0;
    for (const session of this.sessions.values()) {
      let grantedQos: 0 | 1 | -1 = -1;
      let retainAsPublished = false;
      for (const [filter, sub] of session.subscriptions) {
        if (sub.noLocal && session.clientId === publisherClientId) continue;
        if (!topicMatches(filter, message.topic)) continue;
        // Overlapping subscriptions: one copy, at the highest granted QoS (MQTT 5 §3.3.4 allows this).
        if (sub.qos > grantedQos) grantedQos = sub.qos;
        retainAsPublished ||= sub.retainAsPublished;
      }
      if (grantedQos === -1) continue;
      matched++;
      session.deliver({
        topic: message.topic,
        payload: message.payload,
        qos: Math.min(grantedQos, message.qos) === 0 ? 0 : 1,
        retain: retainAsPublished && message.retain,
        ...(message.properties ? { properties: message.properties } : {}),
      });
    }
    return matched;
  }

  /** A new subscription gets the retained messages its filter matches, flagged retained. */
  deliverRetained(session: Session, filter: string, qos: 0 | 1): void {
    for (const message of this.retained.values()) {
      if (!topicMatches(filter, message.topic)) continue;
      session.deliver({
        topic: message.topic,
        payload: message.payload,
        qos: Math.min(qos, message.qos) === 0 ? 0 : 1,
        retain: true,
        ...(message.properties ? { properties: message.properties } : {}),
      });
    }
  }

  private retain(message: RoutedMessage): void {
    this.retained.delete(message.topic);
    if (message.payload.length === 0) return;
    this.retained.set(message.topic, message);
    if (this.retained.size > MAX_RETAINED) {
      const oldest = this.retained.keys().next().value;
      if (oldest !== undefined) this.retained.delete(oldest);
    }
  }

  clear(): void {
    this.retained.clear();
    for (const session of this.sessions.values()) if (session.expiryTimer) clearTimeout(session.expiryTimer);
    this.sessions.clear();
  }
}
