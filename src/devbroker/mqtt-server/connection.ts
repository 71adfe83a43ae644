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
import type { Delivery, DeliveryTarget, Session } from '../session';
import type { RoutedMessage } from '../session-store';
import type { InboundPublish, InterceptResult } from '../types';
import { decideConnect } from './connect-decision';
import { acceptingConnack, refusingConnack } from './connack';
import { CONGESTED_BYTES, CONNECT_TIMEOUT_MS, DEFAULT_OUTBOUND_WINDOW, LINGER_MS, MAX_OUTBOUND_WINDOW, type ConnectionHost } from './connection-host';
import { interceptorProperties, routedProperties, willToMessage } from './message-properties';
import { PacketFramer } from './packet-framer';
import { ReasonCode } from './reason-codes';
import type { ProtocolVersion } from './message-properties';
import { InboundQos } from './inbound-qos';
import { grantSubscriptions, retainedToSend } from './subscriptions';
import { TopicAliases } from './topic-aliases';

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
  private readonly inbound = new InboundQos();
  private readonly topicAliases = new TopicAliases();
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
      this.send(refusingConnack(version, decision.code));
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
    this.send(acceptingConnack(version, sessionPresent, this.host, decision));
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
    const seen = qos !== 0 && messageId !== undefined ? this.inbound.seen(qos, messageId) : undefined;
    if (seen?.kind === 'qos2') {
      // A retransmission of a QoS 2 message already received: answer again, process once.
      if (seen.code !== null) this.sendAck('pubrec', messageId ?? 0, seen.code);
      return;
    }
    if (seen?.kind === 'qos1') {
      // The client re-sent a message whose PUBACK is still pending: the first PUBACK answers both.
      ackSuppressed = true;
    } else if (qos > 0 && this.protocolVersion === 5 && this.inbound.size >= this.host.receiveMaximum) {
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
    if (!ackSuppressed) this.inbound.begin(qos, messageId);
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
    if (this.inbound.finish(qos, messageId, rc, this.protocolVersion === 5)) this.sendAck(qos === 1 ? 'puback' : 'pubrec', messageId, rc);
  }

  private onPubrel(messageId: number): void {
    const known = this.inbound.release(messageId);
    this.sendAck('pubcomp', messageId, known ? ReasonCode.success : ReasonCode.packetIdentifierNotFound);
  }

  /** The topic name, after MQTT 5 topic alias resolution; null when the connection was closed for it. */
  private resolveTopic(packet: IPublishPacket): string | null {
    const resolved = this.topicAliases.resolve(packet.topic, this.protocolVersion === 5 ? packet.properties?.topicAlias : undefined);
    if ('topic' in resolved) return resolved.topic;
    this.closeWith(resolved.code, resolved.why);
    return null;
  }

  // ---- SUBSCRIBE / UNSUBSCRIBE / DISCONNECT ----

  private onSubscribe(packet: ISubscribePacket): void {
    const session = this.session;
    if (!session) return;
    const v5 = this.protocolVersion === 5;
    const granted = grantSubscriptions(session, packet, v5);
    this.send({ cmd: 'suback', messageId: packet.messageId ?? 0, granted });
    // After the SUBACK, as MQTT orders it.
    for (const { filter, qos } of retainedToSend(packet, granted, v5)) this.host.subscribed(session, filter, qos);
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
