import type { Logger } from '../../log';
import type { AuditEntry } from '../audit-log';
import type { Session } from '../session';
import type { RoutedMessage } from '../session-store';
import type { InboundPublish, InterceptResult } from '../types';
import type { ConnectDecision, ConnectPolicy } from './connect-decision';
import type { Connection } from './connection';

/** What a connection needs from the broker around it. */
export interface ConnectionHost {
  readonly log: Logger;
  readonly receiveMaximum: number;
  readonly advertiseReceiveMaximum: boolean;
  readonly maximumPacketSize: number;
  connectPolicy(): ConnectPolicy;
  publishDropper(): () => boolean;
  /** Make this connection the holder of the client id (closing any previous one) and return its session. */
  claimSession(connection: Connection, decision: Extract<ConnectDecision, { accept: true }>): { session: Session; sessionPresent: boolean };
  /** The connection closed; `willMessage` is its will, if it must be published. */
  connectionClosed(connection: Connection, session: Session, willMessage: RoutedMessage | null): void;
  intercept(msg: InboundPublish): InterceptResult | null;
  route(msg: RoutedMessage, publisherClientId: string | undefined): number;
  /** A subscription was granted: send the retained messages it matches. */
  subscribed(session: Session, filter: string, qos: 0 | 1): void;
  audit(entry: AuditEntry): void;
}

export const CONNECT_TIMEOUT_MS = 10_000;
/** Outbound QoS 1 window when the client states no Receive Maximum (EMQX's default max_inflight is 32). */
export const DEFAULT_OUTBOUND_WINDOW = 32;
/** Upper bound whatever the client states, so one subscriber cannot pin thousands of messages in flight. */
export const MAX_OUTBOUND_WINDOW = 128;
/** Above this many unwritten bytes QoS 0 messages to the client are dropped. */
export const CONGESTED_BYTES = 16 * 1024 * 1024;
/** How long a socket we ended may linger before it is destroyed. */
export const LINGER_MS = 1_000;
export const TOPIC_ALIAS_MAXIMUM = 65535;
