import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { connect, type IPublishPacket, type MqttClient, type Packet } from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log';
import { systemClock } from '../../src/time/clock';
import { Connection } from '../../src/mqtt/connection';
import { storeWithoutCopy } from '../../src/mqtt/no-copy-publish';

/** An MQTT 5 server that accepts the connection and answers PUBLISH only when told to. */
async function holdingServer(): Promise<{ server: Server; port: number; publishes: IPublishPacket[]; ack: (id: number) => void }> {
  const publishes: IPublishPacket[] = [];
  let socket: Socket | null = null;
  const server = createServer((s) => {
    socket = s;
    const parser = mqttPacket.parser({ protocolVersion: 5 });
    parser.on('packet', (p: Packet) => {
      if (p.cmd === 'connect') s.write(mqttPacket.generate({ cmd: 'connack', sessionPresent: false, reasonCode: 0 }, { protocolVersion: 5 }));
      else if (p.cmd === 'publish') publishes.push(p);
    });
    s.on('data', (d: Buffer) => parser.parse(d));
    s.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const ack = (id: number): void => {
    socket?.write(mqttPacket.generate({ cmd: 'puback', messageId: id, reasonCode: 0 }, { protocolVersion: 5 }));
  };
  return { server, port, publishes, ack };
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).toBe(true);
}

function stored(client: MqttClient, messageId: number): Promise<IPublishPacket | undefined> {
  return new Promise((resolve) => client.outgoingStore.get({ messageId }, (_err, p) => resolve(p as IPublishPacket | undefined)));
}

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  // Clients first (newest first): a server only closes once its sockets are gone.
  for (const c of cleanup.splice(0).reverse()) await c();
});

describe('QoS 1 payloads are kept by reference, not copied', () => {
  it('installs on the MQTT.js version in use (fails if an upgrade changed the internals it replaces)', () => {
    const client = connect('mqtt://127.0.0.1:1', { reconnectPeriod: 0, manualConnect: true });
    expect(storeWithoutCopy(client)).toBe(true);
  });

  it('a Connection stores the very Buffer it was given until the PUBACK, and the bytes arrive intact', async () => {
    const srv = await holdingServer();
    cleanup.push(() => new Promise<void>((r) => srv.server.close(() => r())));
    const connection = new Connection({ brokers: [`mqtt://127.0.0.1:${srv.port}`], clientId: 'nocopy', protocolVersion: 5 }, { clock: systemClock, logger: silentLogger });
    cleanup.push(() => connection.close());
    await connection.start();
    const client = connection.currentClient();
    if (!client) throw new Error('no client');
    const payload = Buffer.alloc(65536, 7);
    let acked = false;
    client.publish('$file/f/0', payload, { qos: 1 }, (err) => {
      expect(err).toBeFalsy();
      acked = true;
    });
    await until(() => srv.publishes.length === 1);
    const id = srv.publishes[0]?.messageId ?? 0;
    const kept = await stored(client, id);
    expect(kept?.payload).toBe(payload);
    expect((srv.publishes[0]?.payload as Buffer).equals(payload)).toBe(true);
    srv.ack(id);
    await until(() => acked);
    expect(await stored(client, id)).toBeUndefined();
  });

  it('(why it is needed) plain MQTT.js keeps a copy of each payload', async () => {
    const srv = await holdingServer();
    cleanup.push(() => new Promise<void>((r) => srv.server.close(() => r())));
    const client = connect(`mqtt://127.0.0.1:${srv.port}`, { protocolVersion: 5, reconnectPeriod: 0 });
    cleanup.push(() => new Promise<void>((r) => client.end(true, {}, () => r())));
    await new Promise((r) => client.once('connect', r));
    const payload = Buffer.alloc(1024, 1);
    client.publish('t', payload, { qos: 1 });
    await until(() => srv.publishes.length === 1);
    const kept = await stored(client, srv.publishes[0]?.messageId ?? 0);
    expect(kept?.payload).not.toBe(payload);
    expect((kept?.payload as Buffer).equals(payload)).toBe(true);
  });
});

describe('the MQTT socket', () => {
  it('has Nagle turned off, so small commands and acknowledgements are not held behind delayed ACKs', async () => {
    const srv = await holdingServer();
    cleanup.push(() => new Promise<void>((r) => srv.server.close(() => r())));
    const noDelayCalls: (boolean | undefined)[] = [];
    const connection = new Connection(
      { brokers: [`mqtt://127.0.0.1:${srv.port}`], clientId: 'nodelay', protocolVersion: 5 },
      {
        clock: systemClock,
        logger: silentLogger,
        connectFn: (url, options) => {
          const client = connect(url, options);
          const socket = client.stream as unknown as { setNoDelay(noDelay?: boolean): unknown };
          const original = socket.setNoDelay.bind(socket);
          socket.setNoDelay = (noDelay?: boolean) => {
            noDelayCalls.push(noDelay);
            return original(noDelay);
          };
          return client;
        },
      },
    );
    cleanup.push(() => connection.close());
    await connection.start();
    expect(noDelayCalls).toEqual([true]);
  });
});
