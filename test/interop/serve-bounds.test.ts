import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { systemClock } from '../../src/mqtt/clock';
import { startFileServing, type FileServing } from '../../src/transfer/store-serve';
import { connectAgent, quietLog, tempRoot, type Agent } from '../store/harness';
import { startMosquitto, type Mosquitto } from './mosquitto';

let t: ReturnType<typeof tempRoot>;
let b: Mosquitto;
let agent: Agent;
let serving: FileServing;
let device: mqtt.MqttClient;
const answers: Record<string, unknown>[] = [];

beforeEach(async () => {
  t = tempRoot('ftagent-serve-unit-');
  const roots = join(t.root, 'served');
  mkdirSync(roots);
  writeFileSync(join(roots, 'a.bin'), Buffer.alloc(5000, 7));
  // Mosquitto routes $file_sniffer/… and $file/… like any topic, as a store's local broker would.
  b = await startMosquitto(t.root);
  const url = `mqtt://127.0.0.1:${b.port}`;
  agent = await connectAgent(url, 'gw-serve');
  serving = startFileServing({ link: agent.channel, roots: [roots], maxConcurrent: 1, nftp: { blockSize: 1024 }, clock: systemClock, logger: quietLog });
  await serving.ready;
  // A device that asks but never subscribes to the transfer topic: its send stays in HELLO.
  device = await mqtt.connectAsync(url, { clientId: 'device-1', protocolVersion: 5 });
  answers.length = 0;
  device.on('message', (_topic, payload) => {
    const m = JSON.parse(payload.toString()) as Record<string, unknown>;
    if ('ack' in m) answers.push(m);
  });
  await device.subscribeAsync('$file_sniffer/v1/download/device-1', { qos: 1, nl: true });
});

afterEach(async () => {
  await device.endAsync();
  await serving.stop();
  await agent.close();
  await b.stop();
  t.cleanup();
});

async function ask(requestId: string | number, path: string): Promise<Record<string, unknown>> {
  await device.publishAsync('$file_sniffer/v1/download/device-1', `{"request_id":${JSON.stringify(requestId)},"path":${JSON.stringify(path)},"extra":[1]}`, { qos: 1 });
  const end = Date.now() + 10_000;
  for (;;) {
    const found = answers.find((a) => a.request_id === requestId);
    if (found) return found;
    if (Date.now() > end) throw new Error(`no answer to ${String(requestId)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('serving downloads to other clients', () => {
  it('answers ok with a fresh nftp topic, echoing the request, and ERROR (busy) beyond store.serve.maxConcurrent', async () => {
    const first = await ask('r1', 'a.bin');
    expect(first).toMatchObject({ request_id: 'r1', path: 'a.bin', extra: [1], ack: 'ok' });
    expect(first.topic).toMatch(/^\$file\/[0-9a-f]{32}$/);
    const second = await ask(2, 'a.bin');
    expect(second).toMatchObject({ request_id: 2, ack: 'ERROR' });
    expect(String(second.reason)).toMatch(/busy: 1 download\(s\) running/);
  });

  it('answers NOT_EXIST and NOT_ALLOW without taking a slot', async () => {
    expect(await ask('m', 'missing.bin')).toMatchObject({ ack: 'NOT_EXIST' });
    expect(await ask('u', '../x')).toMatchObject({ ack: 'NOT_ALLOW' });
    expect(await ask('f', '.')).toMatchObject({ ack: 'NOT_ALLOW' });
    expect(await ask('ok', 'a.bin')).toMatchObject({ ack: 'ok' });
  });
});
