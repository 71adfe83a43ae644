import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { systemClock } from '../../src/time/clock';
import { nftpFileId } from '../../src/protocol/nftp-blocks';
import { decode, encode } from '../../src/protocol/nftp-codec';
import type { NftpPacket } from '../../src/protocol/nftp-packets';
import { startFileServing, type FileServing } from '../../src/transfer/store/store-serve';
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
  device.on('message', (topic, payload) => {
    if (!topic.startsWith('$file_sniffer/')) return;
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
  it('streams the file as nftp and sends a block again when the requester asks with GIVEME after END', async () => {
    const answer = await ask('g', 'a.bin');
    const topic = String(answer.topic);
    const packets: NftpPacket[] = [];
    device.on('message', (tp, payload) => {
      if (tp === topic) packets.push(decode(new Uint8Array(payload), { width: 'u16' }));
    });
    await device.subscribeAsync(topic, { qos: 1, nl: true });
    const waitFor = async (what: string, cond: () => boolean): Promise<void> => {
      const end = Date.now() + 15_000;
      while (!cond()) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${packets.map((p) => p.kind).join(',')}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await waitFor('HELLO', () => packets.some((p) => p.kind === 'hello'));
    const hello = packets.find((p) => p.kind === 'hello');
    if (hello?.kind !== 'hello') throw new Error('unreachable');
    expect(hello.blocks).toBe(5); // 5000 bytes in blocks of 1024
    const fileid = nftpFileId('a.bin');
    await device.publishAsync(topic, Buffer.from(encode({ kind: 'ack', id: hello.id, fileid }, { width: 'u16' })), { qos: 1 });
    await waitFor('END', () => packets.some((p) => p.kind === 'end'));
    const before = packets.filter((p) => p.kind === 'file' && p.seq === 2).length;
    await device.publishAsync(topic, Buffer.from(encode({ kind: 'giveme', fileid, seq: 2 }, { width: 'u16' })), { qos: 1 });
    await waitFor('block 2 again', () => packets.filter((p) => p.kind === 'file' && p.seq === 2).length === before + 1);
    const again = packets.filter((p) => p.kind === 'file' && p.seq === 2).at(-1);
    expect(again?.kind === 'file' && Buffer.from(again.content).equals(Buffer.alloc(1024, 7))).toBe(true);
  });

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
