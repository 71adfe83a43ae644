/**
 * A small scriptable MQTT 3.1.1/5 broker for tests that need a broker to misbehave on purpose:
 * go silent after CONNACK, never answer PINGREQ, never acknowledge one publish or the fin, send
 * PUBACKs for ids never sent, lie with reason codes, drop the connection on every publish, or
 * advertise odd CONNACK properties. It is not a file-transfer broker: by default it acknowledges
 * every QoS 1 publish with 0x00, which is a successful sync upload to the agent.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import mqtt from 'mqtt-packet';

export interface SeenPublish {
  /** 1-based number of the connection it came on. */
  connection: number;
  topic: string;
  messageId: number | undefined;
  bytes: number;
}

/** What to do with one inbound QoS 1 PUBLISH. */
export type PublishAction =
  | { kind: 'ack'; reasonCode?: number; delayMs?: number }
  | { kind: 'ignore' }
  | { kind: 'close' }
  /** A PUBACK for another packet id than the one received (and nothing for the real one). */
  | { kind: 'ack-other'; messageId: number; reasonCode?: number };

export interface HostileScript {
  /** CONNACK properties for MQTT 5 clients (e.g. { receiveMaximum: 0 }). */
  connackProperties?: Record<string, unknown>;
  /** After CONNACK: answer nothing at all (no SUBACK, PUBACK, PINGRESP). */
  silentAfterConnack?: boolean;
  /** Answer PINGREQ (default true, unless silent). */
  answerPing?: boolean;
  /** Decide per publish; default: ack 0x00. `n` counts QoS 1 publishes over all connections (1-based). */
  onPublish?: (p: SeenPublish, n: number) => PublishAction;
  /** Close each connection right after its CONNACK. */
  closeAfterConnack?: boolean;
}

export interface HostileBroker {
  port: number;
  url: string;
  connects: number;
  publishes: SeenPublish[];
  pings: number;
  /** Sends an MQTT 5 DISCONNECT with this reason to every open connection, then closes them. */
  disconnectAll(reasonCode: number): void;
  stop(): Promise<void>;
}

export async function startHostileBroker(script: HostileScript = {}): Promise<HostileBroker> {
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const state = { connects: 0, publishes: [] as SeenPublish[], pings: 0 };
  const versions = new Map<Socket, number>();

  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.setNoDelay(true);
    // The parser takes the protocol version from the CONNECT it parses.
    const parser = mqtt.parser();
    let connection = 0;
    let version = 4;
    const send = (packet: Record<string, unknown>): void => {
      if (!socket.destroyed) socket.write(mqtt.generate(packet as unknown as mqtt.Packet, { protocolVersion: version }));
    };
    const later = (ms: number, fn: () => void): void => {
      const t = setTimeout(() => {
        timers.delete(t);
        fn();
      }, ms);
      timers.add(t);
    };
    parser.on('error', () => socket.destroy());
    parser.on('packet', (packet) => {
      if (packet.cmd === 'connect') {
        version = packet.protocolVersion ?? 4;
        versions.set(socket, version);
        state.connects += 1;
        connection = state.connects;
        send({ cmd: 'connack', returnCode: 0, reasonCode: 0, sessionPresent: false, ...(version === 5 ? { properties: script.connackProperties ?? {} } : {}) });
        if (script.closeAfterConnack) socket.destroy();
        return;
      }
      if (script.silentAfterConnack) return;
      if (packet.cmd === 'pingreq') {
        state.pings += 1;
        if (script.answerPing !== false) send({ cmd: 'pingresp' });
        return;
      }
      if (packet.cmd === 'subscribe') {
        send({ cmd: 'suback', messageId: packet.messageId, granted: packet.subscriptions.map(() => 1), ...(version === 5 ? { properties: {} } : {}) });
        return;
      }
      if (packet.cmd === 'disconnect') {
        socket.end();
        return;
      }
      if (packet.cmd !== 'publish' || packet.qos !== 1) return;
      const seen: SeenPublish = { connection, topic: packet.topic, messageId: packet.messageId, bytes: (packet.payload as Buffer).length };
      state.publishes.push(seen);
      const action = script.onPublish?.(seen, state.publishes.length) ?? { kind: 'ack' };
      const puback = (messageId: number | undefined, reasonCode: number): void => send({ cmd: 'puback', messageId, ...(version === 5 ? { reasonCode } : {}) });
      switch (action.kind) {
        case 'ack':
          if (action.delayMs) later(action.delayMs, () => puback(packet.messageId, action.reasonCode ?? 0));
          else puback(packet.messageId, action.reasonCode ?? 0);
          break;
        case 'ack-other':
          puback(action.messageId, action.reasonCode ?? 0);
          break;
        case 'close':
          socket.destroy();
          break;
        case 'ignore':
          break;
      }
    });
    socket.on('data', (d: Buffer) => parser.parse(d));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    get connects() {
      return state.connects;
    },
    get publishes() {
      return state.publishes;
    },
    get pings() {
      return state.pings;
    },
    disconnectAll(reasonCode: number) {
      for (const s of sockets) {
        if (versions.get(s) === 5) s.write(mqtt.generate({ cmd: 'disconnect', reasonCode }, { protocolVersion: 5 }));
        s.end();
      }
    },
    async stop() {
      for (const t of timers) clearTimeout(t);
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
