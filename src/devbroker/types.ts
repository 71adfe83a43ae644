import type { Logger } from '../log';

/**
 * The seam between the development broker's MQTT core (connections, sessions, routing) and the
 * features layered on it (EMQX file transfer, the store server). The core hands every inbound
 * PUBLISH to its interceptors in order; the first that claims it decides the acknowledgement and
 * the message is not routed to subscribers (EMQX marks `$file/…` commands `allow_publish => false`).
 */
export interface InboundPublish {
  clientId: string;
  /** 4 = MQTT 3.1.1, 5 = MQTT 5 (3 = MQTT 3.1 is treated like 4). */
  protocolVersion: 3 | 4 | 5;
  topic: string;
  payload: Buffer;
  qos: 0 | 1 | 2;
  /** Present for QoS 1 and 2. */
  messageId?: number;
  dup: boolean;
  retain: boolean;
  /** MQTT 5 only. */
  properties?: {
    responseTopic?: string;
    correlationData?: Buffer;
    userProperties?: Record<string, string | string[]>;
  };
}

/** What an interceptor decides for a publish it claims. */
export type InterceptResult =
  /** Drop silently: no routing, no acknowledgement beyond what the QoS requires with rc 0. */
  | { kind: 'drop' }
  /**
   * Acknowledge with this reason code (PUBACK for QoS 1, PUBREC for QoS 2; MQTT 3.1.1 acks carry
   * no code on the wire). A promise delays the acknowledgement until it settles: EMQX holds a
   * sync fin's PUBACK until assembly ends. The core must keep serving the connection meanwhile.
   */
  | { kind: 'ack'; reasonCode: number | Promise<number> };

export interface PublishInterceptor {
  readonly name: string;
  /** Return null for "not mine": the core routes the message normally. */
  onPublish(msg: InboundPublish): InterceptResult | null;
  /** Called when a client's connection closes (any reason), for per-connection state. */
  onDisconnect?(clientId: string): void;
  close?(): Promise<void>;
}

/** A message the broker itself publishes (responses, pushes), routed like any other. */
export interface OutboundMessage {
  topic: string;
  payload: Buffer;
  qos: 0 | 1;
  properties?: {
    correlationData?: Buffer;
    responseTopic?: string;
    userProperties?: Record<string, string | string[]>;
  };
}

/** What interceptors may use of the core. */
export interface BrokerCore {
  /** Route to matching subscribers; QoS 1 messages queue for offline persistent sessions. */
  publish(msg: OutboundMessage): void;
  readonly log: Logger;
}

/**
 * Fault injection for tests and benchmarks. Every random choice comes from one PRNG seeded with
 * `seed`, so a failing run can be replayed. Connection faults belong to the core; file-transfer
 * faults to the file-transfer emulation.
 */
export interface BrokerFaults {
  seed?: number;
  // connection (core)
  /** Close the connection abruptly on every Nth inbound PUBLISH of a connection (not acknowledged). */
  dropEveryNPublishes?: number;
  /** Refuse CONNECTs (server unavailable) until this many ms after the broker started. */
  refuseConnectionsForMs?: number;
  // file transfer
  /** Fraction (0..1) of segments answered 0x80 and not stored. */
  segmentErrorRate?: number;
  /** Fraction (0..1) of segments answered 0x97 (quota exceeded) and not stored. */
  segmentQuotaRate?: number;
  /** Extra time assembly takes, in ms. */
  assemblyDelayMs?: number;
  /** EMQX `assemble_timeout` (default 5 min): a sync fin is answered 0x80 `timeout` after this. */
  assembleTimeoutMs?: number;
  /** EMQX with file_transfer.enable = false: 0x10 and no response for every command. */
  fileTransferDisabled?: boolean;
  /** Delay every `$file-response` by this many ms. */
  responseDelayMs?: number;
  /** Fraction (0..1) of `$file-response` messages never published. */
  responseLossRate?: number;
}
