import { afterEach, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import type { IPublishPacket } from 'mqtt-packet';
import type { InboundPublish, PublishInterceptor } from '../../src/devbroker';
import { publishForCode, startTestBroker, type TestBroker } from './core-helpers';

let broker: TestBroker | undefined;
afterEach(async () => {
  await broker?.cleanup();
  broker = undefined;
});

interface Received {
  topic: string;
  payload: string;
  packet: IPublishPacket;
}

/** Every message the client receives, in order, and a way to wait for the nth. */
function inbox(client: MqttClient): { messages: Received[]; waitFor(count: number): Promise<Received[]> } {
  const messages: Received[] = [];
  let waiters: Array<() => void> = [];
  client.on('message', (topic, payload, packet) => {
    messages.push({ topic, payload: payload.toString(), packet });
    const w = waiters;
    waiters = [];
    w.forEach((f) => f());
  });
  return {
    messages,
    async waitFor(count) {
      while (messages.length < count) await new Promise<void>((resolve) => waiters.push(resolve));
      return messages;
    },
  };
}

describe('devbroker core: routing', () => {
  it('routes a publish to a matching subscriber, across protocol versions', async () => {
    broker = await startTestBroker();
    const sub = await broker.connect({ protocolVersion: 4, clientId: 'sub' });
    await sub.subscribeAsync('store/+/status', { qos: 1 });
    const box = inbox(sub);
    const pub = await broker.connect({ protocolVersion: 5, clientId: 'pub' });
    expect(await publishForCode(pub, 'store/42/status', 'up')).toBe(0);
    const [msg] = await box.waitFor(1);
    expect(msg).toMatchObject({ topic: 'store/42/status', payload: 'up' });
    expect(msg?.packet.qos).toBe(1);
  });

  it('answers PUBACK 0x10 to an MQTT 5 publish nobody subscribed to', async () => {
    broker = await startTestBroker();
    const pub = await broker.connect({ protocolVersion: 5, clientId: 'lonely' });
    expect(await publishForCode(pub, 'nobody/listens', 'x')).toBe(0x10);
  });

  it('does not let wildcards at the first level match topics starting with $', async () => {
    broker = await startTestBroker();
    const hash = await broker.connect({ protocolVersion: 5, clientId: 'hash' });
    await hash.subscribeAsync(['#', '+/abc/init'], { qos: 1 });
    const hashBox = inbox(hash);
    const dollar = await broker.connect({ protocolVersion: 5, clientId: 'dollar' });
    await dollar.subscribeAsync('$file-response/#', { qos: 1 });
    const dollarBox = inbox(dollar);
    const pub = await broker.connect({ protocolVersion: 5, clientId: 'pub' });

    expect(await publishForCode(pub, '$file-response/gw1', 'answer')).toBe(0);
    expect(await publishForCode(pub, '$x/abc/init', 'hidden')).toBe(0x10);
    await publishForCode(pub, 'x/abc/init', 'plain');
    await dollarBox.waitFor(1);
    await hashBox.waitFor(1);
    expect(dollarBox.messages.map((m) => m.topic)).toEqual(['$file-response/gw1']);
    // 'plain' matches both of hash's filters and arrives once.
    expect(hashBox.messages.map((m) => m.topic)).toEqual(['x/abc/init']);
  });

  it('passes Response Topic, Correlation Data and User Properties through to MQTT 5 subscribers', async () => {
    broker = await startTestBroker();
    const sub = await broker.connect({ protocolVersion: 5, clientId: 'sub' });
    await sub.subscribeAsync('req/#', { qos: 1 });
    const box = inbox(sub);
    const pub = await broker.connect({ protocolVersion: 5, clientId: 'pub' });
    await pub.publishAsync('req/1', 'q', {
      qos: 1,
      properties: { responseTopic: 'resp/1', correlationData: Buffer.from('c0ffee', 'hex'), userProperties: { store: '42' } },
    });
    const [msg] = await box.waitFor(1);
    expect(msg?.packet.properties).toMatchObject({ responseTopic: 'resp/1', correlationData: Buffer.from('c0ffee', 'hex'), userProperties: { store: '42' } });
  });

  it('stops delivering after UNSUBSCRIBE', async () => {
    broker = await startTestBroker();
    const sub = await broker.connect({ protocolVersion: 5, clientId: 'sub' });
    await sub.subscribeAsync('t/1', { qos: 1 });
    const pub = await broker.connect({ protocolVersion: 5, clientId: 'pub' });
    expect(await publishForCode(pub, 't/1', 'a')).toBe(0);
    await sub.unsubscribeAsync('t/1');
    expect(await publishForCode(pub, 't/1', 'b')).toBe(0x10);
  });

  it('delivers at QoS 0 to a QoS 0 subscription and at most QoS 1 otherwise', async () => {
    broker = await startTestBroker();
    const sub0 = await broker.connect({ protocolVersion: 5, clientId: 'sub0' });
    const granted = await sub0.subscribeAsync('q/0', { qos: 0 });
    const sub2 = await broker.connect({ protocolVersion: 5, clientId: 'sub2' });
    const granted2 = await sub2.subscribeAsync('q/0', { qos: 2 });
    expect(granted[0]?.qos).toBe(0);
    expect(granted2[0]?.qos).toBe(1);
    const box0 = inbox(sub0);
    const box2 = inbox(sub2);
    const pub = await broker.connect({ protocolVersion: 5, clientId: 'pub' });
    await pub.publishAsync('q/0', 'x', { qos: 2 });
    expect((await box0.waitFor(1))[0]?.packet.qos).toBe(0);
    expect((await box2.waitFor(1))[0]?.packet.qos).toBe(1);
  });

  it('completes an inbound QoS 2 exchange and delivers the message at QoS 1', async () => {
    broker = await startTestBroker();
    const sub = await broker.connect({ protocolVersion: 4, clientId: 'sub' });
    await sub.subscribeAsync('q2', { qos: 2 });
    const box = inbox(sub);
    const raw = await broker.raw();
    await raw.handshake('qos2-pub', 5);
    raw.send({ cmd: 'publish', topic: 'q2', payload: Buffer.from('once'), qos: 2, messageId: 9, dup: false, retain: false });
    expect(await raw.next('pubrec')).toMatchObject({ messageId: 9, reasonCode: 0 });
    // A retransmission before PUBREL is answered again but not delivered again.
    raw.send({ cmd: 'publish', topic: 'q2', payload: Buffer.from('once'), qos: 2, messageId: 9, dup: true, retain: false });
    expect(await raw.next('pubrec')).toMatchObject({ messageId: 9 });
    raw.send({ cmd: 'pubrel', messageId: 9 });
    expect(await raw.next('pubcomp')).toMatchObject({ messageId: 9, reasonCode: 0 });
    const [msg] = await box.waitFor(1);
    expect(msg).toMatchObject({ topic: 'q2', payload: 'once' });
    expect(msg?.packet.qos).toBe(1);
    // A QoS 0 marker published after proves nothing else came.
    raw.send({ cmd: 'publish', topic: 'q2', payload: Buffer.from('end'), qos: 0, dup: false, retain: false });
    await box.waitFor(2);
    expect(box.messages.map((m) => m.payload)).toEqual(['once', 'end']);
  });

  it('publishes the will of a client that vanishes, and not of one that says goodbye', async () => {
    broker = await startTestBroker();
    const watcher = await broker.connect({ protocolVersion: 5, clientId: 'watcher' });
    await watcher.subscribeAsync('status/#', { qos: 1 });
    const box = inbox(watcher);
    const will = { topic: 'status/polite', payload: Buffer.from('gone'), qos: 1 as const, retain: false };
    const polite = await broker.raw();
    await polite.handshake('polite', 5, { will });
    polite.send({ cmd: 'disconnect', reasonCode: 0 });
    await polite.closed;
    const vanisher = await broker.raw();
    await vanisher.handshake('vanisher', 5, { will: { ...will, topic: 'status/vanisher' } });
    vanisher.destroy();
    await box.waitFor(1);
    expect(box.messages.map((m) => m.topic)).toEqual(['status/vanisher']);
  });

  it('routes messages the broker itself publishes through BrokerCore.publish', async () => {
    broker = await startTestBroker();
    const sub = await broker.connect({ protocolVersion: 5, clientId: 'gw' });
    await sub.subscribeAsync('$file-response/gw', { qos: 1 });
    const box = inbox(sub);
    broker.core.publish({ topic: '$file-response/gw', payload: Buffer.from('{"reason_code":0}'), qos: 1, properties: { correlationData: Buffer.from('01', 'hex') } });
    const [msg] = await box.waitFor(1);
    expect(msg?.payload).toBe('{"reason_code":0}');
    expect(msg?.packet.properties?.correlationData).toEqual(Buffer.from('01', 'hex'));
  });
});

describe('devbroker core: interceptors', () => {
  function claimPrefix(prefix: string, decide: (msg: InboundPublish) => number | Promise<number>, seen: InboundPublish[] = []): PublishInterceptor {
    return {
      name: `claim ${prefix}`,
      onPublish(msg) {
        if (!msg.topic.startsWith(prefix)) return null;
        seen.push(msg);
        return { kind: 'ack', reasonCode: decide(msg) };
      },
    };
  }

  it('acknowledges a claimed publish with the interceptor code and does not route it', async () => {
    const seen: InboundPublish[] = [];
    broker = await startTestBroker({ interceptors: [claimPrefix('$file/', () => 0x80, seen)] });
    const snoop = await broker.connect({ protocolVersion: 5, clientId: 'snoop' });
    await snoop.subscribeAsync(['$file/#', 'marker'], { qos: 1 });
    const box = inbox(snoop);
    const pub = await broker.connect({ protocolVersion: 5, clientId: 'dev1' });
    expect(await publishForCode(pub, '$file/f1/init', '{}', { properties: { correlationData: Buffer.from('ab', 'hex') } })).toBe(0x80);
    await publishForCode(pub, 'marker', 'm');
    await box.waitFor(1);
    expect(box.messages.map((m) => m.topic)).toEqual(['marker']);
    expect(seen[0]).toMatchObject({ clientId: 'dev1', protocolVersion: 5, topic: '$file/f1/init', qos: 1, properties: { correlationData: Buffer.from('ab', 'hex') } });
  });

  it('holds a PUBACK until the interceptor promise settles, while serving the connection', async () => {
    let release: (code: number) => void = () => undefined;
    const held = new Promise<number>((resolve) => (release = resolve));
    broker = await startTestBroker({ interceptors: [claimPrefix('$file/', () => held)] });
    const raw = await broker.raw();
    await raw.handshake('holder', 5);
    raw.send({ cmd: 'publish', topic: '$file/f1/fin/10', payload: Buffer.alloc(0), qos: 1, messageId: 1, dup: false, retain: false });
    raw.send({ cmd: 'publish', topic: 'other', payload: Buffer.from('x'), qos: 1, messageId: 2, dup: false, retain: false });
    expect(await raw.next('puback')).toMatchObject({ messageId: 2 });
    release(0x83);
    expect(await raw.next('puback')).toMatchObject({ messageId: 1, reasonCode: 0x83 });
  });

  it('sends one PUBACK for a message re-sent while its PUBACK is held', async () => {
    let release: (code: number) => void = () => undefined;
    const held = new Promise<number>((resolve) => (release = resolve));
    const seen: InboundPublish[] = [];
    broker = await startTestBroker({ interceptors: [claimPrefix('$file/', () => held, seen)] });
    const raw = await broker.raw();
    await raw.handshake('dup-fin', 5);
    const fin = { cmd: 'publish', topic: '$file/f1/fin/10', payload: Buffer.alloc(0), qos: 1, messageId: 5, retain: false } as const;
    raw.send({ ...fin, dup: false });
    raw.send({ ...fin, dup: true });
    raw.send({ cmd: 'pingreq' });
    await raw.next('pingresp');
    expect(seen.map((m) => m.dup)).toEqual([false, true]);
    release(0);
    expect(await raw.next('puback')).toMatchObject({ messageId: 5, reasonCode: 0 });
    // Anything answered for the re-sent copy would arrive before this PINGRESP.
    raw.send({ cmd: 'pingreq' });
    await raw.next('pingresp');
    expect(raw.queued('puback')).toBe(0);
  });

  it('gives an MQTT 3.1.1 client a plain PUBACK whatever the interceptor decides', async () => {
    broker = await startTestBroker({ interceptors: [claimPrefix('$file/', () => 0x80)] });
    const raw = await broker.raw();
    await raw.handshake('old-device', 4);
    raw.send({ cmd: 'publish', topic: '$file/f/init', payload: Buffer.from('{}'), qos: 1, messageId: 3, dup: false, retain: false });
    const puback = await raw.next('puback');
    expect(puback.messageId).toBe(3);
    expect((puback as { reasonCode?: number }).reasonCode ?? 0).toBe(0);
  });

  it('answers PUBREC with the interceptor code for a claimed QoS 2 publish', async () => {
    broker = await startTestBroker({ interceptors: [claimPrefix('$file/', () => 0x10)] });
    const raw = await broker.raw();
    await raw.handshake('q2dev', 5);
    raw.send({ cmd: 'publish', topic: '$file/f/init', payload: Buffer.from('{}'), qos: 2, messageId: 4, dup: false, retain: false });
    expect(await raw.next('pubrec')).toMatchObject({ messageId: 4, reasonCode: 0x10 });
    raw.send({ cmd: 'pubrel', messageId: 4 });
    expect(await raw.next('pubcomp')).toMatchObject({ messageId: 4, reasonCode: 0 });
  });

  it('tells interceptors when a client disconnects', async () => {
    const gone: string[] = [];
    let resolveGone: () => void = () => undefined;
    const disconnected = new Promise<void>((resolve) => (resolveGone = resolve));
    broker = await startTestBroker({
      interceptors: [{ name: 'watcher', onPublish: () => null, onDisconnect: (id) => (gone.push(id), resolveGone()) }],
    });
    const raw = await broker.raw();
    await raw.handshake('leaver', 5);
    raw.destroy();
    await disconnected;
    expect(gone).toEqual(['leaver']);
  });

  it('answers 0x80 when an interceptor throws, and keeps serving', async () => {
    broker = await startTestBroker({
      interceptors: [
        {
          name: 'broken',
          onPublish: (msg) => {
            if (msg.topic === 'boom') throw new Error('bug');
            return null;
          },
        },
      ],
    });
    const pub = await broker.connect({ protocolVersion: 5, clientId: 'p' });
    expect(await publishForCode(pub, 'boom', 'x')).toBe(0x80);
    expect(await publishForCode(pub, 'fine', 'x')).toBe(0x10);
  });
});

describe('devbroker core: file-transfer wiring', () => {
  it('hands $file/ commands to the file-transfer emulation after the caller interceptors', async () => {
    broker = await startTestBroker();
    const device = await broker.connect({ protocolVersion: 5, clientId: 'gw-wired' });
    await device.subscribeAsync('$file-response/gw-wired', { qos: 1 });
    const box = inbox(device);
    expect(await publishForCode(device, '$file/wired-1/init', JSON.stringify({ name: 'a.txt', size: 1 }))).toBe(0);
    const [response] = await box.waitFor(1);
    expect(JSON.parse(response?.payload ?? '{}')).toMatchObject({ topic: '$file/wired-1/init', reason_code: 0 });
  });
});
