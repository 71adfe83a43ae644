import { afterEach, describe, expect, it } from 'vitest';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { IPublishPacket } from 'mqtt-packet';
import { publishForCode, startTestBroker, type TestBroker } from './core-helpers';

let broker: TestBroker | undefined;
const opened: MqttClient[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((c) => c.endAsync(true)));
  await broker?.cleanup();
  broker = undefined;
});

/**
 * Connects with the message listener already attached: queued messages follow the CONNACK in the
 * same read, before a promise-based connect would hand the client over.
 */
function connectCollecting(port: number, options: IClientOptions, expected: number): Promise<{ client: MqttClient; sessionPresent: boolean; payloads: string[] }> {
  return new Promise((resolve, reject) => {
    const payloads: string[] = [];
    let sessionPresent = false;
    const client = mqtt.connect({ host: '127.0.0.1', port, reconnectPeriod: 0, ...options });
    opened.push(client);
    const done = (): void => {
      if (payloads.length >= expected) resolve({ client, sessionPresent, payloads });
    };
    client.on('connect', (connack) => {
      sessionPresent = connack.sessionPresent;
      done();
    });
    client.on('message', (_topic, payload) => {
      payloads.push(payload.toString());
      if (client.connected) done();
    });
    client.on('error', reject);
  });
}

describe('devbroker core: persistent sessions', () => {
  for (const version of [4, 5] as const) {
    const persistent: IClientOptions = version === 4 ? { protocolVersion: 4, clean: false } : { protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 300 } };

    it(`queues QoS 1 messages for an absent MQTT ${version === 4 ? '3.1.1' : '5'} client and delivers them on reconnect`, async () => {
      broker = await startTestBroker();
      const first = await connectCollecting(broker.port, { ...persistent, clientId: `away-${version}` }, 0);
      await first.client.subscribeAsync('jobs/#', { qos: 1 });
      await first.client.endAsync();

      const pub = await broker.connect({ protocolVersion: 5, clientId: 'pub' });
      for (const n of ['1', '2', '3']) expect(await publishForCode(pub, `jobs/${n}`, n)).toBe(0);

      const back = await connectCollecting(broker.port, { ...persistent, clientId: `away-${version}` }, 3);
      expect(back.sessionPresent).toBe(true);
      expect(back.payloads).toEqual(['1', '2', '3']);
      // The subscription survived too: new messages keep coming.
      const fourth = new Promise<void>((resolve) => back.client.once('message', () => resolve()));
      await publishForCode(pub, 'jobs/4', '4');
      await fourth;
      expect(back.payloads).toEqual(['1', '2', '3', '4']);
    });
  }

  it('forgets the session of a clean client', async () => {
    broker = await startTestBroker();
    const first = await connectCollecting(broker.port, { protocolVersion: 4, clean: true, clientId: 'forgetful' }, 0);
    await first.client.subscribeAsync('jobs/#', { qos: 1 });
    await first.client.endAsync();
    const pub = await broker.connect({ protocolVersion: 5, clientId: 'pub' });
    expect(await publishForCode(pub, 'jobs/1', '1')).toBe(0x10);
    const back = await connectCollecting(broker.port, { protocolVersion: 4, clean: false, clientId: 'forgetful' }, 0);
    expect(back.sessionPresent).toBe(false);
  });

  it('does not keep an MQTT 5 session whose expiry interval is 0', async () => {
    broker = await startTestBroker();
    const first = await connectCollecting(broker.port, { protocolVersion: 5, clean: false, clientId: 'brief' }, 0);
    await first.client.subscribeAsync('jobs/#', { qos: 1 });
    await first.client.endAsync();
    const back = await connectCollecting(broker.port, { protocolVersion: 5, clean: false, clientId: 'brief' }, 0);
    expect(back.sessionPresent).toBe(false);
  });

  it('drops the oldest queued messages beyond the queue bound', async () => {
    broker = await startTestBroker({ maxQueuedPerSession: 3 });
    const opts: IClientOptions = { protocolVersion: 5, clean: false, clientId: 'bounded', properties: { sessionExpiryInterval: 60 } };
    const first = await connectCollecting(broker.port, opts, 0);
    await first.client.subscribeAsync('n', { qos: 1 });
    await first.client.endAsync();
    const pub = await broker.connect({ protocolVersion: 5, clientId: 'pub' });
    for (let i = 1; i <= 5; i++) await publishForCode(pub, 'n', String(i));
    const back = await connectCollecting(broker.port, opts, 3);
    expect(back.payloads).toEqual(['3', '4', '5']);
  });

  it('re-sends an unacknowledged QoS 1 message with DUP after a reconnect', async () => {
    broker = await startTestBroker();
    const connectOpts = { clean: false, properties: { sessionExpiryInterval: 60 } };
    const first = await broker.raw();
    await first.handshake('slow-acker', 5, connectOpts);
    first.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'cmd', qos: 1 }] });
    await first.next('suback');
    const pub = await broker.connect({ protocolVersion: 5, clientId: 'pub' });
    await publishForCode(pub, 'cmd', 'reboot');
    const original = (await first.next('publish')) as IPublishPacket;
    expect(original.dup).toBe(false);
    first.destroy();
    await first.closed;

    const second = await broker.raw();
    expect(await second.handshake('slow-acker', 5, connectOpts)).toMatchObject({ sessionPresent: true });
    const again = (await second.next('publish')) as IPublishPacket;
    expect(again).toMatchObject({ dup: true, messageId: original.messageId, topic: 'cmd', payload: Buffer.from('reboot') });
    second.send({ cmd: 'puback', messageId: again.messageId as number, reasonCode: 0 });
  });

  it('limits unacknowledged outbound messages to the client Receive Maximum', async () => {
    broker = await startTestBroker();
    const raw = await broker.raw();
    await raw.handshake('window-2', 5, { properties: { receiveMaximum: 2 } });
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'w', qos: 1 }] });
    await raw.next('suback');
    const pub = await broker.connect({ protocolVersion: 5, clientId: 'pub' });
    for (let i = 1; i <= 3; i++) await publishForCode(pub, 'w', String(i));
    const a = (await raw.next('publish')) as IPublishPacket;
    await raw.next('publish');
    // The third waits for a PUBACK; a ping round trip shows it did not come on its own.
    raw.send({ cmd: 'pingreq' });
    await raw.next('pingresp');
    expect(raw.queued('publish')).toBe(0);
    raw.send({ cmd: 'puback', messageId: a.messageId as number, reasonCode: 0 });
    expect(((await raw.next('publish')) as IPublishPacket).payload).toEqual(Buffer.from('3'));
  });
});
