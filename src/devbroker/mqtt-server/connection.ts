import type { Socket } from 'node:net';
import {
  generate,
  parser as createParser,
  type IConnectPacket,
  type IDisconnectPacket,
  type IPublishPacket,
  type ISubscribePacket,
  type IUnsubscribePacket,
  type Packet,
  type Parser,
} from 'mqtt-packet';
import type { Logger } from '../../log';
import type { AuditEntry } from '../audit-log';
import type { Delivery, DeliveryTarget, Session } from '../session';
import type { RoutedMessage } from '../session-store';
import { isValidTopicFilter, isValidTopicName } from '../topic-match';
import type { InboundPublish, InterceptResult } from '../types';
import { decideConnect, type ConnectDecision, type ConnectPolicy } from './connect-decision';
import { interceptorProperties, routedProperties, willToMessage } from './message-properties';
import { PacketFramer } from './packet-framer';
import { ReasonCode } from './reason-codes';
import type { ProtocolVersion } from './message-properties';

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

const CONNECT_TIMEOUT_MS = 10_000;
/** Outbound QoS 1 window when the client states no Receive Maximum (EMQX's default max_inflight is 32). */
const DEFAULT_OUTBOUND_WINDOW = 32;
/** Upper bound whatever the client states, so one subscriber cannot pin thousands of messages in flight. */
const MAX_OUTBOUND_WINDOW = 128;
/** Above this many unwritten bytes QoS 0 messages to the client are dropped. */
const CONGESTED_BYTES = 16 * 1024 * 1024;
/** How long a socket we ended may linger before it is destroyed. */
const LINGER_MS = 1_000;
const TOPIC_ALIAS_MAXIMUM = 65535;

/**
 * One client connection: CONNECT, the inbound QoS flows, subscriptions, keepalive, and writing the
 * session's deliveries. Anything malformed or against the protocol closes this connection only.
 */
export class Connection implements DeliveryTarget {
  private state: 'awaiting-connect' | 'connected' | 'closed' = 'awaiting-connect';
  private protocolVersion: ProtocolVersion = 4;
  private parser: Parser;
  private readonly framer: PacketFramer;
  private session: Session | null = null;
  private id = '';
  private keepaliveTimer: NodeJS.Timeout | null = null;
  private connectTimer: NodeJS.Timeout | null;
  private willMessage: RoutedMessage | null = null;
  private dropThisPublish: () => boolean = () => false;
  private receivedAnyByte = false;
  /** Inbound QoS 1 packet ids whose PUBACK is not sent yet. */
  private readonly pendingQos1 = new Set<number>();
  /** Inbound QoS 2 packet ids until PUBCOMP: null while the PUBREC code is unknown. */
  private readonly pendingQos2 = new Map<number, number | null>();
  private readonly topicAliases = new Map<number, string>();
  private clientMaximumPacketSize = Infinity;
  outboundWindow = DEFAULT_OUTBOUND_WINDOW;

  constructor(
    private readonly socket: Socket,
    private readonly host: ConnectionHost,
  ) {
    this.parser = this.newParser(4);
    this.framer = new PacketFramer(host.maximumPacketSize);
    this.connectTimer = setTimeout(() => this.close('no CONNECT in time'), CONNECT_TIMEOUT_MS);
    socket.setNoDelay(true);
    socket.on('data', (data: Buffer) => this.onData(data));
    socket.on('error', (err) => this.host.log.debug({ clientId: this.id, err: err.message }, 'socket error'));
    socket.on('close', () => this.cleanup('socket closed', true));
  }

  get clientId(): string {
    return this.id;
  }

  /** Another connection claimed this client id. */
  takeOver(): void {
    this.closeWith(ReasonCode.sessionTakenOver, 'session taken over by a new connection');
  }

  /** The broker is stopping. */
  shutdown(): void {
    this.closeWith(ReasonCode.serverShuttingDown, 'broker stopping');
  }

  // ---- DeliveryTarget: the session writes through these ----

  sendPublish(delivery: Delivery, messageId: number | undefined, dup: boolean): void {
    if (this.state !== 'connected') return;
    const packet: IPublishPacket = {
      cmd: 'publish',
      topic: delivery.topic,
      payload: delivery.payload,
      qos: delivery.qos,
      dup,
      retain: delivery.retain,
      ...(messageId !== undefined ? { messageId } : {}),
      ...(this.protocolVersion === 5 && delivery.properties ? { properties: delivery.properties } : {}),
    };
    const bytes = this.encode(packet);
    if (!bytes || bytes.length > this.clientMaximumPacketSize) {
      // MQTT 5 §3.1.2.11.4: a message too large for the client is discarded as if delivered (and so is one that cannot be encoded).
      if (bytes) this.host.log.debug({ clientId: this.id, topic: delivery.topic, bytes: bytes.length }, 'message larger than the client accepts: discarded');
      const session = this.session;
      if (messageId !== undefined && session) queueMicrotask(() => session.acknowledge(messageId));
      return;
    }
    this.socket.write(bytes);
  }

  isCongested(): boolean {
    return this.socket.writableLength > CONGESTED_BYTES;
  }

  // ---- input ----

  private onData(data: Buffer): void {
    this.keepaliveTimer?.refresh();
    if (!this.receivedAnyByte && data.length > 0) {
      this.receivedAnyByte = true;
      // Not MQTT at all (a port scan, an HTTP request): say so now rather than wait for a length that never comes.
      if (data[0] !== 0x10) return this.close('first bytes are not an MQTT CONNECT');
    }
    // Acknowledgements for every packet in this read go out in one write.
    this.socket.cork();
    try {
      this.handleFramed(data);
    } finally {
      this.socket.uncork();
    }
  }

  private handleFramed(data: Buffer): void {
    for (const event of this.framer.push(data)) {
      if (this.state === 'closed') return;
      if (event.kind === 'too-large') {
        this.closeWith(ReasonCode.packetTooLarge, `packet of ${event.size} bytes exceeds the maximum packet size ${this.host.maximumPacketSize}`);
        return;
      }
      if (event.kind === 'malformed') {
        this.closeWith(ReasonCode.malformedPacket, `malformed packet: ${event.reason}`);
        return;
      }
      try {
        this.parser.parse(event.bytes);
      } catch (err) {
        this.closeWith(ReasonCode.malformedPacket, `malformed packet: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  private newParser(protocolVersion: ProtocolVersion): Parser {
    const parser = createParser({ protocolVersion });
    parser.on('packet', (packet: Packet) => {
      if (this.state === 'closed') return;
      try {
        this.onPacket(packet);
      } catch (err) {
        this.host.log.error({ clientId: this.id, cmd: packet.cmd, err }, 'failed to handle a packet');
        this.closeWith(ReasonCode.unspecifiedError, 'internal error while handling a packet');
      }
    });
    parser.on('error', (err: unknown) => {
      this.closeWith(ReasonCode.malformedPacket, `malformed packet: ${err instanceof Error ? err.message : String(err)}`);
    });
    return parser;
  }

  private onPacket(packet: Packet): void {
    if (this.state === 'awaiting-connect') {
      if (packet.cmd !== 'connect') return this.close(`first packet was ${packet.cmd}, not CONNECT`);
      return this.onConnect(packet);
    }
    switch (packet.cmd) {
      case 'publish':
        return this.onPublish(packet);
      case 'puback':
        if (packet.messageId !== undefined) this.session?.acknowledge(packet.messageId);
        return;
      case 'pubrel':
        return this.onPubrel(packet.messageId ?? 0);
      case 'subscribe':
        return this.onSubscribe(packet);
      case 'unsubscribe':
        return this.onUnsubscribe(packet);
      case 'pingreq':
        return this.send({ cmd: 'pingresp' });
      case 'disconnect':
        return this.onDisconnect(packet);
      case 'auth':
        return this.closeWith(ReasonCode.badAuthenticationMethod, 'AUTH is not supported');
      case 'pubrec':
      case 'pubcomp':
        // The broker never sends QoS 2, so these answer nothing; ignoring them is harmless.
        this.host.log.debug({ clientId: this.id, cmd: packet.cmd }, 'ignored an acknowledgement for a QoS 2 flow that does not exist');
        return;
      default:
        return this.closeWith(ReasonCode.protocolError, `a client may not send ${packet.cmd}`);
    }
  }

  // ---- CONNECT ----

  private onConnect(packet: IConnectPacket): void {
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    const version = packet.protocolVersion ?? 4;
    this.protocolVersion = version;
    if (version === 5) this.parser = this.newParser(5);

    const decision = decideConnect(packet, this.host.connectPolicy());
    if (!decision.accept) {
      this.host.log.info({ clientId: packet.clientId, reason: decision.reason }, 'connection refused');
      this.send(version === 5 ? { cmd: 'connack', sessionPresent: false, reasonCode: decision.code } : { cmd: 'connack', sessionPresent: false, returnCode: decision.code });
      this.close(decision.reason);
      return;
    }

    this.id = decision.clientId;
    const { session, sessionPresent } = this.host.claimSession(this, decision);
    this.session = session;
    this.dropThisPublish = this.host.publishDropper();
    this.willMessage = packet.will ? willToMessage(packet.will, version) : null;
    if (version === 5) {
      const props = packet.properties;
      if (props?.receiveMaximum) this.outboundWindow = Math.min(props.receiveMaximum, MAX_OUTBOUND_WINDOW);
      if (props?.maximumPacketSize) this.clientMaximumPacketSize = props.maximumPacketSize;
    }
    const keepalive = packet.keepalive ?? 0;
    if (keepalive > 0) {
      // MQTT §3.1.2.10: one and a half keepalive periods without a packet end the connection.
      this.keepaliveTimer = setTimeout(() => this.closeWith(ReasonCode.keepAliveTimeout, 'keepalive timeout'), keepalive * 1500);
    }

    this.state = 'connected';
    if (version === 5) {
      this.send({
        cmd: 'connack',
        sessionPresent,
        reasonCode: ReasonCode.success,
        properties: {
          ...(this.host.advertiseReceiveMaximum ? { receiveMaximum: this.host.receiveMaximum } : {}),
          maximumPacketSize: this.host.maximumPacketSize,
          topicAliasMaximum: TOPIC_ALIAS_MAXIMUM,
          retainAvailable: true,
          sharedSubscriptionAvailable: false,
          subscriptionIdentifiersAvailable: false,
          wildcardSubscriptionAvailable: true,
          ...(decision.assignedClientId ? { assignedClientIdentifier: decision.clientId } : {}),
        },
      });
    } else {
      this.send({ cmd: 'connack', sessionPresent, returnCode: 0 });
    }
    this.host.log.debug({ clientId: this.id, protocolVersion: version, sessionPresent, keepalive }, 'client connected');
    session.attach(this);
  }

  // ---- inbound PUBLISH ----

  private onPublish(packet: IPublishPacket): void {
    const qos = packet.qos;
    const messageId = packet.messageId;
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;

    const topic = this.resolveTopic(packet);
    if (topic === null) return;

    if (this.dropThisPublish()) {
      this.host.audit({ client: this.id, topic, bytes: payload.length, qos, rc: null });
      this.host.log.info({ clientId: this.id, topic }, 'dropping the connection on this publish (fault injection)');
      // Acknowledgements already written for earlier packets still go out, so the fault hits exactly this PUBLISH.
      this.close('dropped by fault injection');
      return;
    }

    if (qos > 0 && messageId === undefined) return this.closeWith(ReasonCode.protocolError, 'QoS > 0 PUBLISH without a packet id');

    let ackSuppressed = false;
    if (qos === 2 && messageId !== undefined && this.pendingQos2.has(messageId)) {
      // A retransmission of a QoS 2 message already received: answer again, process once.
      const known = this.pendingQos2.get(messageId);
      if (known !== null && known !== undefined) this.sendAck('pubrec', messageId, known);
      return;
    }
    if (qos === 1 && messageId !== undefined && this.pendingQos1.has(messageId)) {
      // The client re-sent a message whose PUBACK is still pending: the first PUBACK answers both.
      ackSuppressed = true;
    } else if (qos > 0 && this.protocolVersion === 5 && this.pendingQos1.size + this.pendingQos2.size >= this.host.receiveMaximum) {
      return this.closeWith(ReasonCode.receiveMaximumExceeded, `more than ${this.host.receiveMaximum} unacknowledged QoS 1/2 publishes`);
    }

    const inbound: InboundPublish = {
      clientId: this.id,
      protocolVersion: this.protocolVersion,
      topic,
      payload,
      qos,
      dup: packet.dup,
      retain: packet.retain,
      ...(messageId !== undefined ? { messageId } : {}),
      ...(this.protocolVersion === 5 && packet.properties ? { properties: interceptorProperties(packet.properties) } : {}),
    };
    const code = this.decide(inbound, packet);

    if (qos === 0 || messageId === undefined) {
      const record = (rc: number): void => this.host.audit({ client: this.id, topic, bytes: payload.length, qos, rc });
      if (typeof code === 'number') record(code);
      else code.then(record, () => record(ReasonCode.unspecifiedError));
      return;
    }
    if (!ackSuppressed) {
      if (qos === 1) this.pendingQos1.add(messageId);
      else this.pendingQos2.set(messageId, null);
    }
    const finish = (rc: number): void => {
      this.host.audit({ client: this.id, topic, bytes: payload.length, qos, rc });
      if (!ackSuppressed) this.finishInboundAck(qos, messageId, rc);
    };
    if (typeof code === 'number') finish(code);
    else
      code.then(finish, (err: unknown) => {
        this.host.log.error({ clientId: this.id, topic, err }, 'an interceptor failed to produce a reason code');
        finish(ReasonCode.unspecifiedError);
      });
  }

  /** The acknowledgement code: from the first interceptor that claims the message, else from routing. */
  private decide(inbound: InboundPublish, packet: IPublishPacket): number | Promise<number> {
    let result: InterceptResult | null;
    try {
      result = this.host.intercept(inbound);
    } catch (err) {
      this.host.log.error({ clientId: this.id, topic: inbound.topic, err }, 'an interceptor threw');
      return ReasonCode.unspecifiedError;
    }
    if (result?.kind === 'drop') return ReasonCode.success;
    if (result?.kind === 'ack') return result.reasonCode;
    const matched = this.host.route(
      {
        topic: inbound.topic,
        payload: inbound.payload,
        qos: inbound.qos,
        retain: inbound.retain,
        ...(this.protocolVersion === 5 && packet.properties ? { properties: routedProperties(packet.properties) } : {}),
      },
      this.id,
    );
    return matched === 0 && this.protocolVersion === 5 ? ReasonCode.noMatchingSubscribers : ReasonCode.success;
  }

  private finishInboundAck(qos: 1 | 2, messageId: number, rc: number): void {
    if (this.state !== 'connected') return;
    if (qos === 1) {
      this.pendingQos1.delete(messageId);
      this.sendAck('puback', messageId, rc);
      return;
    }
    if (!this.pendingQos2.has(messageId)) return;
    // MQTT 5 §4.3.3: a PUBREC with an error code ends the exchange; no PUBREL follows.
    if (this.protocolVersion === 5 && rc >= 0x80) this.pendingQos2.delete(messageId);
    else this.pendingQos2.set(messageId, rc);
    this.sendAck('pubrec', messageId, rc);
  }

  private onPubrel(messageId: number): void {
    const known = this.pendingQos2.delete(messageId);
    this.sendAck('pubcomp', messageId, known ? ReasonCode.success : ReasonCode.packetIdentifierNotFound);
  }

  /** The topic name, after MQTT 5 topic alias resolution; null when the connection was closed for it. */
  private resolveTopic(packet: IPublishPacket): string | null {
    const alias = this.protocolVersion === 5 ? packet.properties?.topicAlias : undefined;
    let topic = packet.topic;
    if (alias !== undefined) {
      if (alias === 0 || alias > TOPIC_ALIAS_MAXIMUM) {
        this.closeWith(ReasonCode.topicAliasInvalid, `topic alias ${alias} out of range`);
        return null;
      }
      if (topic.length > 0) this.topicAliases.set(alias, topic);
      else {
        const known = this.topicAliases.get(alias);
        if (known === undefined) {
          this.closeWith(ReasonCode.protocolError, `unknown topic alias ${alias}`);
          return null;
        }
        topic = known;
      }
    }
    if (!isValidTopicName(topic)) {
      this.closeWith(ReasonCode.topicNameInvalid, `invalid topic name ${JSON.stringify(topic)}`);
      return null;
    }
    return topic;
  }

  // ---- SUBSCRIBE / UNSUBSCRIBE / DISCONNECT ----

  private onSubscribe(packet: ISubscribePacket): void {
    const session = this.session;
    if (!session) return;
    const v5 = this.protocolVersion === 5;
    const granted = packet.subscriptions.map((sub) => {
      if (sub.topic.startsWith('$share/') || sub.topic.startsWith('$queue/')) return v5 ? ReasonCode.sharedSubscriptionsNotSupported : 0x80;
      if (!isValidTopicFilter(sub.topic)) return v5 ? ReasonCode.topicFilterInvalid : 0x80;
      const qos: 0 | 1 = sub.qos === 0 ? 0 : 1;
      session.subscriptions.set(sub.topic, { qos, noLocal: v5 && sub.nl === true, retainAsPublished: v5 && sub.rap === true });
      return qos;
    });
    this.send({ cmd: 'suback', messageId: packet.messageId ?? 0, granted });
    // After the SUBACK, as MQTT orders it; MQTT 5 Retain Handling 2 asks for none.
    packet.subscriptions.forEach((sub, i) => {
      const qos = granted[i];
      if ((qos === 0 || qos === 1) && !(v5 && sub.rh === 2)) this.host.subscribed(session, sub.topic, qos);
    });
  }

  private onUnsubscribe(packet: IUnsubscribePacket): void {
    const session = this.session;
    if (!session) return;
    const results = packet.unsubscriptions.map((filter) => (session.subscriptions.delete(filter) ? ReasonCode.success : ReasonCode.noSubscriptionExisted));
    if (this.protocolVersion === 5) this.send({ cmd: 'unsuback', messageId: packet.messageId ?? 0, granted: results });
    else this.send({ cmd: 'unsuback', messageId: packet.messageId ?? 0, granted: [] });
  }

  private onDisconnect(packet: IDisconnectPacket): void {
    // A normal DISCONNECT discards the will; MQTT 5 reason 0x04 asks for it to be published.
    if (!(this.protocolVersion === 5 && packet.reasonCode === ReasonCode.disconnectWithWill)) this.willMessage = null;
    const expiry = packet.properties?.sessionExpiryInterval;
    // MQTT 5 §3.14.2.2.2: a session that started with expiry 0 cannot be given one at DISCONNECT.
    if (this.session && expiry !== undefined && this.session.expiryIntervalSec !== 0) this.session.expiryIntervalSec = expiry;
    this.close('client disconnected');
  }

  // ---- output and closing ----

  private sendAck(cmd: 'puback' | 'pubrec' | 'pubcomp', messageId: number, rc: number): void {
    if (this.protocolVersion === 5) this.send({ cmd, messageId, reasonCode: rc });
    else this.send({ cmd, messageId });
  }

  private send(packet: Packet): void {
    if (this.state === 'closed') return;
    const bytes = this.encode(packet);
    if (bytes) this.socket.write(bytes);
  }

  private encode(packet: Packet): Buffer | null {
    try {
      return generate(packet, { protocolVersion: this.protocolVersion });
    } catch (err) {
      this.host.log.error({ clientId: this.id, cmd: packet.cmd, err }, 'could not encode a packet');
      return null;
    }
  }

  /** Close with an MQTT 5 DISCONNECT carrying the reason (3.1.1 has no server DISCONNECT: just close). */
  private closeWith(reasonCode: number, why: string): void {
    if (this.state === 'closed') return;
    if (this.state === 'connected' && this.protocolVersion === 5) {
      const bytes = this.encode({ cmd: 'disconnect', reasonCode, properties: { reasonString: why } });
      if (bytes) this.socket.write(bytes);
    }
    this.close(why);
  }

  private close(why: string): void {
    if (this.state === 'closed') return;
    this.cleanup(why, false);
    // Flush what was written (a DISCONNECT, a refusing CONNACK), then close; a peer that never reads gets cut off.
    this.socket.destroySoon();
    setTimeout(() => this.socket.destroy(), LINGER_MS).unref();
  }

  /** Runs once per connection, whoever closes it first. */
  private cleanup(why: string, bySocket: boolean): void {
    if (this.state === 'closed') return;
    const wasConnected = this.state === 'connected';
    this.state = 'closed';
    this.framer.stop();
    if (this.connectTimer) clearTimeout(this.connectTimer);
    if (this.keepaliveTimer) clearTimeout(this.keepaliveTimer);
    const log = why === 'client disconnected' || why === 'socket closed' ? this.host.log.debug : this.host.log.info;
    log.call(this.host.log, { clientId: this.id || undefined, reason: why, bySocket }, 'connection closed');
    if (wasConnected && this.session) {
      this.session.detach(this);
      this.host.connectionClosed(this, this.session, this.willMessage);
    }
  }
}
