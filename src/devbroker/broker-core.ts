import type { Socket } from 'node:net';
import type { Logger } from '../log';
import type { AuditEntry, AuditLog } from './audit-log';
import type { ConnectionFaults } from './faults';
import type { ConnectDecision, ConnectPolicy } from './mqtt-server/connect-decision';
import { Connection } from './mqtt-server/connection';
import type { ConnectionHost } from './mqtt-server/connection-host';
import type { Session } from './session';
import { SessionStore, type RoutedMessage } from './session-store';
import type { BrokerCore, InboundPublish, InterceptResult, OutboundMessage, PublishInterceptor } from './types';

export interface BrokerCoreSettings {
  log: Logger;
  receiveMaximum: number;
  /** false: the CONNACK carries no Receive Maximum (EMQX 5.3.2 sends none). */
  advertiseReceiveMaximum: boolean;
  maximumPacketSize: number;
  maxQueuedPerSession: number;
  users?: Readonly<Record<string, string>>;
  faults: ConnectionFaults;
  audit: AuditLog;
  interceptors: PublishInterceptor[];
}

/**
 * The broker without its listener: sessions by client id, which connection holds each id, the
 * interceptor chain, and routing. `startBroker` puts a TCP or TLS server in front of it.
 */
export class Broker implements BrokerCore, ConnectionHost {
  readonly log: Logger;
  readonly receiveMaximum: number;
  readonly advertiseReceiveMaximum: boolean;
  readonly maximumPacketSize: number;
  private readonly sessions: SessionStore;
  private readonly holders = new Map<string, Connection>();
  private readonly connections = new Set<Connection>();
  private readonly interceptors: PublishInterceptor[];

  constructor(private readonly settings: BrokerCoreSettings) {
    this.log = settings.log;
    this.receiveMaximum = settings.receiveMaximum;
    this.advertiseReceiveMaximum = settings.advertiseReceiveMaximum;
    this.maximumPacketSize = settings.maximumPacketSize;
    this.sessions = new SessionStore(settings.maxQueuedPerSession, settings.log);
    this.interceptors = [...settings.interceptors];
  }

  /** Interceptors run in the order added; the file-transfer one is added last, after any test's own. */
  addInterceptor(interceptor: PublishInterceptor): void {
    this.interceptors.push(interceptor);
  }

  publish(msg: OutboundMessage): void {
    this.route({ topic: msg.topic, payload: msg.payload, qos: msg.qos, retain: false, ...(msg.properties ? { properties: msg.properties } : {}) }, undefined);
  }

  /** Serve one accepted socket until it closes. */
  accept(socket: Socket): void {
    const connection = new Connection(socket, this);
    this.connections.add(connection);
    socket.once('close', () => this.connections.delete(connection));
  }

  /** Close every connection and forget every session. */
  async stop(): Promise<void> {
    for (const connection of this.connections) connection.shutdown();
    this.connections.clear();
    this.sessions.clear();
    for (const interceptor of this.interceptors) {
      try {
        await interceptor.close?.();
      } catch (err) {
        this.log.error({ interceptor: interceptor.name, err }, 'interceptor failed to close');
      }
    }
  }

  /** How many messages wait in the session of a client id (for tests and the log). */
  queuedFor(clientId: string): number {
    return this.sessions.get(clientId)?.queuedCount ?? 0;
  }

  // ---- ConnectionHost ----

  connectPolicy(): ConnectPolicy {
    return { refusingConnections: this.settings.faults.refusingConnections(), ...(this.settings.users ? { users: this.settings.users } : {}) };
  }

  publishDropper(): () => boolean {
    return this.settings.faults.publishDropper();
  }

  claimSession(connection: Connection, decision: Extract<ConnectDecision, { accept: true }>): { session: Session; sessionPresent: boolean } {
    const previous = this.holders.get(decision.clientId);
    if (previous && previous !== connection) {
      this.log.info({ clientId: decision.clientId }, 'client id taken over by a new connection');
      // Closing runs its cleanup synchronously, so the old connection lets go before the new one starts.
      previous.takeOver();
    }
    this.holders.set(decision.clientId, connection);
    const existing = this.sessions.get(decision.clientId);
    if (existing && !decision.cleanStart) {
      existing.expiryIntervalSec = decision.sessionExpiryIntervalSec;
      return { session: existing, sessionPresent: true };
    }
    return { session: this.sessions.create(decision.clientId, decision.sessionExpiryIntervalSec), sessionPresent: false };
  }

  connectionClosed(connection: Connection, session: Session, willMessage: RoutedMessage | null): void {
    if (this.holders.get(connection.clientId) === connection) this.holders.delete(connection.clientId);
    this.sessions.release(session);
    for (const interceptor of this.interceptors) {
      try {
        interceptor.onDisconnect?.(connection.clientId);
      } catch (err) {
        this.log.error({ interceptor: interceptor.name, err }, 'interceptor failed on disconnect');
      }
    }
    if (willMessage) this.route(willMessage, connection.clientId);
  }

  intercept(msg: InboundPublish): InterceptResult | null {
    for (const interceptor of this.interceptors) {
      const result = interceptor.onPublish(msg);
      if (result !== null) return result;
    }
    return null;
  }

  subscribed(session: Session, filter: string, qos: 0 | 1): void {
    this.sessions.deliverRetained(session, filter, qos);
  }

  route(msg: RoutedMessage, publisherClientId: string | undefined): number {
    return this.sessions.route(msg, publisherClientId);
  }

  audit(entry: AuditEntry): void {
    this.settings.audit.record(entry);
  }
}
