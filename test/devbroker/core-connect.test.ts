import { afterEach, describe, expect, it } from 'vitest';
import { once, startTestBroker, type TestBroker } from './core-helpers';

let broker: TestBroker | undefined;
afterEach(async () => {
  await broker?.cleanup();
  broker = undefined;
});

describe('devbroker core: connecting', () => {
  it('accepts an MQTT 3.1.1 client', async () => {
    broker = await startTestBroker();
    const client = await broker.connect({ protocolVersion: 4, clientId: 'v4-client' });
    expect(client.connected).toBe(true);
  });

  it('advertises Receive Maximum and Maximum Packet Size in the MQTT 5 CONNACK', async () => {
    broker = await startTestBroker({ receiveMaximum: 7, maximumPacketSize: 4096 });
    const raw = await broker.raw();
    const connack = await raw.handshake('v5-client', 5);
    expect(connack).toMatchObject({ cmd: 'connack', reasonCode: 0, properties: { receiveMaximum: 7, maximumPacketSize: 4096 } });
  });

  it('defaults to Receive Maximum 32 and Maximum Packet Size 1 MiB', async () => {
    broker = await startTestBroker();
    const raw = await broker.raw();
    expect(await raw.handshake('defaults-raw', 5)).toMatchObject({ properties: { receiveMaximum: 32, maximumPacketSize: 1048576 } });
  });

  it('as EMQX 5.3.2 (--emqx 5.3): no Receive Maximum in the CONNACK, and 65535 publishes in flight allowed', async () => {
    broker = await startTestBroker({ emqx: '5.3' });
    const raw = await broker.raw();
    const connack = (await raw.handshake('emqx53-raw', 5)) as { properties?: Record<string, unknown> };
    expect(connack.properties?.receiveMaximum).toBeUndefined();
    expect(connack.properties?.maximumPacketSize).toBe(1048576);
    expect(broker.core).toMatchObject({ receiveMaximum: 65535, advertiseReceiveMaximum: false });
  });

  it('assigns a client id to an MQTT 5 client that sent none', async () => {
    broker = await startTestBroker();
    const raw = await broker.raw();
    const connack = await raw.handshake('', 5);
    expect(connack).toMatchObject({ reasonCode: 0, properties: { assignedClientIdentifier: expect.stringMatching(/^ftbroker-/) } });
  });

  it('accepts an empty client id from a clean MQTT 3.1.1 client and rejects it from a persistent one', async () => {
    broker = await startTestBroker();
    const clean = await broker.raw();
    expect(await clean.handshake('', 4)).toMatchObject({ returnCode: 0 });
    const persistent = await broker.raw();
    // CONNECT, MQTT 3.1.1, clean session 0, keepalive 0, empty client id: mqtt-packet will not encode this, so by hand.
    persistent.writeBytes(Buffer.from('100c00044d5154540400000000 00'.replace(/ /g, ''), 'hex'));
    expect(await persistent.next('connack')).toMatchObject({ returnCode: 2 });
    await persistent.closed;
  });

  it('refuses wrong credentials with "not authorized" and admits the right ones', async () => {
    broker = await startTestBroker({ users: { gateway: 's3cret' } });
    const v5 = await broker.raw();
    expect(await v5.handshake('bad5', 5, { username: 'gateway', password: Buffer.from('nope') })).toMatchObject({ reasonCode: 0x87 });
    await v5.closed;
    const v4 = await broker.raw();
    expect(await v4.handshake('bad4', 4)).toMatchObject({ returnCode: 5 });
    await v4.closed;
    const good = await broker.connect({ protocolVersion: 5, clientId: 'good', username: 'gateway', password: 's3cret' });
    expect(good.connected).toBe(true);
  });

  it('closes the older connection with DISCONNECT 0x8E when a client id is taken over', async () => {
    broker = await startTestBroker();
    const first = await broker.raw();
    await first.handshake('same-id', 5);
    const second = await broker.raw();
    expect(await second.handshake('same-id', 5)).toMatchObject({ reasonCode: 0 });
    expect(await first.next('disconnect')).toMatchObject({ reasonCode: 0x8e });
    await first.closed;
    second.send({ cmd: 'pingreq' });
    expect(await second.next('pingresp')).toMatchObject({ cmd: 'pingresp' });
  });

  it('closes the older MQTT 3.1.1 connection on takeover', async () => {
    broker = await startTestBroker();
    const first = await broker.raw();
    await first.handshake('same-v4', 4);
    const second = await broker.raw();
    await second.handshake('same-v4', 4);
    await first.closed;
    expect(first.isClosed).toBe(true);
  });

  it('closes a connection that stays silent for 1.5 keepalive periods', async () => {
    broker = await startTestBroker();
    const raw = await broker.raw();
    await raw.handshake('sleepy', 5, { keepalive: 1 });
    expect(await raw.next('disconnect')).toMatchObject({ reasonCode: 0x8d });
    await raw.closed;
  });

  it('keeps a connection that pings within its keepalive', async () => {
    broker = await startTestBroker();
    const client = await broker.connect({ protocolVersion: 5, clientId: 'pinger', keepalive: 1 });
    // Two keepalive periods: MQTT.js pings each second, so the broker must not cut it off.
    let pings = 0;
    await new Promise<void>((resolve) => {
      client.on('packetreceive', (p) => {
        if (p.cmd === 'pingresp' && ++pings === 2) resolve();
      });
    });
    expect(client.connected).toBe(true);
  });

  it('answers PINGREQ with PINGRESP', async () => {
    broker = await startTestBroker();
    const raw = await broker.raw();
    await raw.handshake('pinger-raw', 4);
    raw.send({ cmd: 'pingreq' });
    expect(await raw.next('pingresp')).toEqual(expect.objectContaining({ cmd: 'pingresp' }));
  });

  it('lets an MQTT.js client connect and disconnect cleanly', async () => {
    broker = await startTestBroker();
    const client = await broker.connect({ protocolVersion: 5, clientId: 'polite' });
    const closed = once(client, 'close');
    await client.endAsync();
    await closed;
    expect(client.connected).toBe(false);
  });
});
