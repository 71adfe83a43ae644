import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import mqtt, { type IClientOptions, type MqttClient, type Packet } from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../src/devbroker';
import type { BrokerFaults } from '../../src/devbroker/types';
import { silentLogger } from '../../src/log';
import type { FtResponse } from './ft-harness';

/**
 * The emulation inside the real broker, driven by MQTT.js over loopback (MQTT 5 and 3.1.1).
 * It goes through startBroker's own wiring of the file-transfer emulation, as users get it.
 */
let dataDir: string;
let broker: RunningBroker | undefined;
const clients: MqttClient[] = [];

async function start(faults?: BrokerFaults): Promise<RunningBroker> {
  broker = await startBroker({ dataDir, logger: silentLogger, ...(faults ? { faults } : {}) });
  return broker;
}

interface TestClient {
  client: MqttClient;
  responses: FtResponse[];
  /** Publish at QoS 1 and resolve with the raw PUBACK reason code (undefined on MQTT 3.1.1). */
  publish(topic: string, payload?: string | Buffer, opts?: mqtt.IClientPublishOptions): Promise<number | undefined>;
  response(topic: string, timeoutMs?: number): Promise<FtResponse>;
}

async function connect(port: number, clientId: string, options: IClientOptions = {}): Promise<TestClient> {
  const client = mqtt.connect({ host: '127.0.0.1', port, clientId, protocolVersion: 5, reconnectPeriod: 0, ...options });
  clients.push(client);
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  const responses: FtResponse[] = [];
  client.on('message', (topic, payload) => {
    if (topic.startsWith('$file-response/')) responses.push(JSON.parse(payload.toString()) as FtResponse);
  });
  await client.subscribeAsync(`$file-response/${clientId}`, { qos: 1 });
  const acks = new Map<number, (rc: number | undefined) => void>();
  client.on('packetreceive', (p: Packet) => {
    if (p.cmd === 'puback' && p.messageId !== undefined) acks.get(p.messageId)?.(p.reasonCode);
  });
  return {
    client,
    responses,
    publish(topic, payload = '', opts = {}) {
      return new Promise((resolve) => {
        const onSend = (p: Packet): void => {
          if (p.cmd === 'publish' && p.topic === topic && p.messageId !== undefined) {
            client.off('packetsend', onSend);
            acks.set(p.messageId, resolve);
          }
        };
        client.on('packetsend', onSend);
        // MQTT.js reports 0x80 as an error; the raw code is what the test reads.
        client.publish(topic, payload, { qos: 1, ...opts }, () => undefined);
      });
    },
    async response(topic, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = responses.find((r) => r.topic === topic);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no response for ${topic}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
  };
}

beforeEach(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'ft-int-'));
});

afterEach(async () => {
  for (const c of clients.splice(0)) await c.endAsync(true).catch(() => undefined);
  await broker?.stop();
  broker = undefined;
  await rm(dataDir, { recursive: true, force: true });
});

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

describe('file transfer through the broker', () => {
  it('uploads a file with MQTT 5 and reads raw PUBACK codes and responses', async () => {
    const { port } = await start();
    const c = await connect(port, 'dev-5');
    expect(await c.publish('$file/a1/init', JSON.stringify({ name: 'a.txt', size: 10, checksum: sha('0123456789') }))).toBe(0);
    expect(await c.publish('$file/a1/0', '01234')).toBe(0);
    expect(await c.publish(`$file/a1/5/${sha('nope')}`, '56789')).toBe(0x80);
    expect(await c.publish(`$file/a1/5/${sha('56789')}`, '56789')).toBe(0);
    expect(await c.publish('$file/a1/fin/10')).toBe(0);
    expect(await c.response('$file/a1/fin/10')).toMatchObject({ reason_code: 0, reason_description: 'success' });
    expect(c.responses.find((r) => r.topic === `$file/a1/5/${sha('nope')}`)?.reason_description).toBe('checksum_mismatch');
    expect(await readFile(path.join(dataDir, 'exports', 'dev-5', 'a1', 'a.txt'), 'utf8')).toBe('0123456789');
  });

  it('holds a sync fin PUBACK for assemblyDelayMs while later commands are acked', async () => {
    const { port } = await start({ assemblyDelayMs: 300 });
    const c = await connect(port, 'dev-d');
    expect(await c.publish('$file/d1/init', '{"name":"d"}')).toBe(0);
    expect(await c.publish('$file/d1/0', 'x')).toBe(0);
    const order: string[] = [];
    const fin = c.publish('$file/d1/fin/1').then((rc) => (order.push('fin'), rc));
    const other = c.publish('$file/d2/abort').then((rc) => (order.push('abort'), rc));
    expect(await Promise.all([fin, other])).toEqual([0, 0]);
    expect(order).toEqual(['abort', 'fin']);
  });

  it('echoes Correlation-Data on the Response-Topic', async () => {
    const { port } = await start();
    const c = await connect(port, 'dev-rt');
    const replies: { topic: string; cd: string | undefined }[] = [];
    c.client.on('message', (topic, _payload, packet) => replies.push({ topic, cd: packet.properties?.correlationData?.toString() }));
    await c.client.subscribeAsync('replies/here', { qos: 1 });
    expect(await c.publish('$file-async/r1/abort', '', { properties: { responseTopic: 'replies/here', correlationData: Buffer.from('k1') } })).toBe(0);
    for (let i = 0; i < 100 && replies.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(replies[0]).toEqual({ topic: 'replies/here', cd: 'k1' });
  });

  it('tells an MQTT 3.1.1 client about a failure only through $file-response', async () => {
    const { port } = await start();
    const c = await connect(port, 'dev-3', { protocolVersion: 4 });
    expect(await c.publish('$file/v3/init', '{"name":"bad/name"}')).toBeUndefined();
    expect(await c.response('$file/v3/init')).toMatchObject({ reason_code: 128, reason_description: 'invalid_filemeta' });
    expect(await c.publish('$file/v3/fin/4')).toBeUndefined();
    expect(await c.response('$file/v3/fin/4')).toMatchObject({ reason_code: 128, reason_description: 'incomplete' });
  });

  it('answers a QoS 2 command with PUBREC 0x10 and ignores it', async () => {
    const { port } = await start();
    const c = await connect(port, 'dev-q2');
    const pubrec = new Promise<number | undefined>((resolve) => c.client.on('packetreceive', (p: Packet) => p.cmd === 'pubrec' && resolve(p.reasonCode)));
    c.client.publish('$file/q2/init', '{"name":"q"}', { qos: 2 });
    expect(await pubrec).toBe(0x10);
    expect(await c.publish('$file/q2/abort')).toBe(0);
    expect(c.responses.map((r) => r.topic)).toEqual(['$file/q2/abort']);
  });

  it('continues a transfer after the broker restarts on the same data directory', async () => {
    let running = await start();
    let c = await connect(running.port, 'dev-r');
    expect(await c.publish('$file/t1/init', '{"name":"t.bin","size":6}')).toBe(0);
    expect(await c.publish('$file/t1/0', 'abc')).toBe(0);
    for (const old of clients.splice(0)) await old.endAsync(true).catch(() => undefined);
    await running.stop();

    running = await start();
    c = await connect(running.port, 'dev-r');
    expect(await c.publish('$file/t1/init', '{"name":"t.bin","size":6}')).toBe(0);
    expect(await c.publish('$file/t1/3', 'def')).toBe(0);
    expect(await c.publish('$file/t1/fin/6')).toBe(0);
    expect(await readFile(path.join(dataDir, 'exports', 'dev-r', 't1', 't.bin'), 'utf8')).toBe('abcdef');
  });
});
