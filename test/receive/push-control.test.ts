import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import mqtt from 'mqtt';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { pushControlTopic, pushResultTopic } from '../../src/devbroker/store-server/push-control';
import { content, startAgent, startHarness, type Agent, type Harness } from './harness';

let h: Harness;
let agent: Agent;

beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await agent.stop();
  await h.cleanup();
});

it('pushes a file when any MQTT client publishes a command on the control topic', async () => {
  const data = content(9000, 21);
  await writeFile(path.join(h.filesDir, 'notice.html'), data);
  const recv = path.join(h.dir, 'agent', 'recv');
  agent = await startAgent(h, { receive: [recv] });
  const operator = await mqtt.connectAsync({ host: '127.0.0.1', port: h.broker.port, reconnectPeriod: 0 });
  try {
    await operator.subscribeAsync(pushResultTopic, { qos: 1 });
    const answered = new Promise<Record<string, unknown>>((resolve) =>
      operator.on('message', (_t, payload) => {
        const body = JSON.parse(payload.toString()) as Record<string, unknown>;
        if (body.stage === 'answered' || body.error !== undefined) resolve(body);
      }),
    );
    await operator.publishAsync(pushControlTopic, JSON.stringify({ clientId: 'store-1', file: 'notice.html', target: 'www/notice.html', jobId: 7 }), { qos: 1 });
    const answer = await answered;
    expect(answer).toMatchObject({ ok: true, ack: 'ok', clientId: 'store-1' });
    expect((await agent.nextResult()).ok).toBe(true);
    expect(await readFile(path.join(recv, 'www', 'notice.html'))).toEqual(data);
  } finally {
    await operator.endAsync(true);
  }
});
