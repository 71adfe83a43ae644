import { afterEach, describe, expect, it } from 'vitest';
import { connect as connectTcp } from 'node:net';
import type { PublishInterceptor } from '../../src/devbroker';
import { once, publishForCode, startTestBroker, type TestBroker } from './core-helpers';

let broker: TestBroker | undefined;
afterEach(async () => {
  await broker?.cleanup();
  broker = undefined;
});

/** Claims `hold/…` and never answers, so those publishes stay unacknowledged. */
const neverAnswers: PublishInterceptor = {
  name: 'never answers',
  onPublish: (msg) => (msg.topic.startsWith('hold/') ? { kind: 'ack', reasonCode: new Promise<number>(() => undefined) } : null),
};

describe('devbroker core: limits', () => {
  it('disconnects with 0x93 a client that exceeds Receive Maximum', async () => {
    broker = await startTestBroker({ receiveMaximum: 4, interceptors: [neverAnswers] });
    const raw = await broker.raw();
    await raw.handshake('greedy', 5);
    for (let id = 1; id <= 4; id++) raw.send({ cmd: 'publish', topic: `hold/${id}`, payload: Buffer.from('x'), qos: 1, messageId: id, dup: false, retain: false });
    raw.send({ cmd: 'pingreq' });
    await raw.next('pingresp');
    expect(raw.isClosed).toBe(false);
    raw.send({ cmd: 'publish', topic: 'hold/5', payload: Buffer.from('x'), qos: 1, messageId: 5, dup: false, retain: false });
    expect(await raw.next('disconnect')).toMatchObject({ reasonCode: 0x93 });
    await raw.closed;
  });

  it('lets a client use its full Receive Maximum again once acknowledgements go out', async () => {
    broker = await startTestBroker({ receiveMaximum: 2 });
    const pub = await broker.connect({ protocolVersion: 5, clientId: 'steady' });
    for (let i = 0; i < 10; i++) {
      const codes = await Promise.all([publishForCode(pub, 'a', 'x'), publishForCode(pub, 'b', 'y')]);
      expect(codes).toEqual([0x10, 0x10]);
    }
  });

  it('disconnects an MQTT 5 client with 0x95 for a packet over Maximum Packet Size', async () => {
    broker = await startTestBroker({ maximumPacketSize: 1024 });
    const client = await broker.connect({ protocolVersion: 5, clientId: 'big' });
    const disconnect = new Promise<number | undefined>((resolve) => {
      client.on('packetreceive', (p) => p.cmd === 'disconnect' && resolve(p.reasonCode));
    });
    client.on('error', () => undefined);
    client.publish('t', Buffer.alloc(2000), { qos: 1 });
    expect(await disconnect).toBe(0x95);
  });

  it('refuses an oversized packet from its fixed header, without waiting for the body', async () => {
    broker = await startTestBroker({ maximumPacketSize: 1024 });
    const raw = await broker.raw();
    await raw.handshake('liar', 5);
    // A PUBLISH header announcing 200 MB; the body is never sent.
    raw.writeBytes(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x60]));
    expect(await raw.next('disconnect')).toMatchObject({ reasonCode: 0x95 });
    await raw.closed;
  });

  it('closes an MQTT 3.1.1 connection that sends a packet over Maximum Packet Size', async () => {
    broker = await startTestBroker({ maximumPacketSize: 1024 });
    const client = await broker.connect({ protocolVersion: 4, clientId: 'big4' });
    const closed = once(client, 'close');
    client.on('error', () => undefined);
    client.publish('t', Buffer.alloc(2000), { qos: 1 });
    await closed;
    expect(client.connected).toBe(false);
  });

  it('accepts a packet of exactly Maximum Packet Size', async () => {
    broker = await startTestBroker({ maximumPacketSize: 1024 });
    const raw = await broker.raw();
    await raw.handshake('exact', 5);
    // 1 type byte + 2 length bytes + 2 topic-length + 't' + 2 id + 1 properties-length = 9 bytes of overhead.
    raw.send({ cmd: 'publish', topic: 't', payload: Buffer.alloc(1024 - 9), qos: 1, messageId: 1, dup: false, retain: false });
    expect(await raw.next('puback')).toMatchObject({ messageId: 1 });
  });
});

describe('devbroker core: robustness', () => {
  const garbage: Array<[string, Buffer]> = [
    ['random bytes before CONNECT', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')],
    ['a CONNECT with a bad protocol name', Buffer.from('100e0004584d51540400003c0002696400', 'hex')],
    ['a remaining length longer than four bytes', Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])],
    ['a reserved packet type', Buffer.from([0xf0, 0x00])],
  ];

  for (const [what, bytes] of garbage) {
    it(`closes only the connection that sends ${what}`, async () => {
      broker = await startTestBroker();
      const bystander = await broker.connect({ protocolVersion: 5, clientId: 'bystander' });
      await bystander.subscribeAsync('still/here', { qos: 1 });
      const socket = connectTcp(broker.port, '127.0.0.1');
      socket.on('error', () => undefined);
      await once(socket, 'connect');
      const closed = once(socket, 'close');
      socket.write(bytes);
      await closed;
      expect(await publishForCode(bystander, 'still/here', 'ok')).toBe(0);
    });
  }

  it('closes a connected client that sends a malformed packet, and keeps the others', async () => {
    broker = await startTestBroker();
    const bystander = await broker.connect({ protocolVersion: 4, clientId: 'bystander' });
    const raw = await broker.raw();
    await raw.handshake('vandal', 5);
    // SUBSCRIBE with reserved flags 0000 instead of 0010.
    raw.writeBytes(Buffer.from([0x80, 0x02, 0x00, 0x01]));
    await raw.closed;
    const other = await broker.raw();
    await other.handshake('vandal2', 5);
    // PUBLISH to a topic with a wildcard.
    other.send({ cmd: 'publish', topic: 'a/+', payload: Buffer.from('x'), qos: 0, dup: false, retain: false });
    expect(await other.next('disconnect')).toMatchObject({ reasonCode: 0x90 });
    expect(bystander.connected).toBe(true);
    await bystander.publishAsync('x', 'y', { qos: 1 });
  });

  it('closes a connection whose first packet is not CONNECT', async () => {
    broker = await startTestBroker();
    const raw = await broker.raw();
    raw.send({ cmd: 'pingreq' });
    await raw.closed;
    expect(raw.isClosed).toBe(true);
  });
});
