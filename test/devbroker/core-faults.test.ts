import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPrng } from '../../src/devbroker/prng';
import { publishForCode, startTestBroker, type TestBroker } from './core-helpers';

let broker: TestBroker | undefined;
afterEach(async () => {
  await broker?.cleanup();
  broker = undefined;
});

interface AuditLine {
  t: string;
  client: string;
  topic: string;
  bytes: number;
  qos: number;
  rc: number | null;
}

async function auditLines(path: string): Promise<AuditLine[]> {
  const text = await readFile(path, 'utf8');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as AuditLine);
}

describe('devbroker core: connection faults', () => {
  it('drops the connection on every Nth inbound PUBLISH without acknowledging it', async () => {
    broker = await startTestBroker({ faults: { dropEveryNPublishes: 3 } });
    const raw = await broker.raw();
    await raw.handshake('victim', 5);
    for (let id = 1; id <= 3; id++) raw.send({ cmd: 'publish', topic: 'x', payload: Buffer.from('y'), qos: 1, messageId: id, dup: false, retain: false });
    await raw.closed;
    expect(raw.queued('puback')).toBe(2);

    // The count is per connection: a new connection gets two more publishes through.
    const again = await broker.raw();
    await again.handshake('victim', 5);
    for (let id = 1; id <= 2; id++) again.send({ cmd: 'publish', topic: 'x', payload: Buffer.from('y'), qos: 1, messageId: id, dup: false, retain: false });
    await again.next('puback');
    await again.next('puback');
    expect(again.isClosed).toBe(false);
  });

  it('refuses connections with server unavailable while refuseConnectionsForMs lasts', async () => {
    broker = await startTestBroker({ faults: { refuseConnectionsForMs: 60_000 } });
    const v5 = await broker.raw();
    expect(await v5.handshake('early5', 5)).toMatchObject({ reasonCode: 0x88 });
    await v5.closed;
    const v4 = await broker.raw();
    expect(await v4.handshake('early4', 4)).toMatchObject({ returnCode: 3 });
    await v4.closed;
  });

  it('accepts connections again once refuseConnectionsForMs has passed', async () => {
    const startedAt = Date.now();
    broker = await startTestBroker({ faults: { refuseConnectionsForMs: 300 } });
    let attempts = 0;
    for (;;) {
      attempts++;
      const raw = await broker.raw();
      const connack = (await raw.handshake(`patient-${attempts}`, 5)) as { reasonCode?: number };
      if (connack.reasonCode === 0) break;
      expect(connack.reasonCode).toBe(0x88);
      await raw.closed;
      // Polling a deadline: there is no event for "the refusal window ended".
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(attempts).toBeGreaterThan(1);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(300);
  });
});

describe('devbroker core: audit log', () => {
  it('writes one JSON line per inbound PUBLISH with the acknowledgement code once it is known', async () => {
    let release: (rc: number) => void = () => undefined;
    const delayed = new Promise<number>((resolve) => (release = resolve));
    const auditDir = await mkdtemp(join(tmpdir(), 'ftbroker-audit-'));
    onTestFinished(() => rm(auditDir, { recursive: true, force: true }));
    const audit = join(auditDir, 'audit.jsonl');
    broker = await startTestBroker({
      auditLog: audit,
      // dev sends four publishes, so the fifth of a connection is the one dropped.
      faults: { dropEveryNPublishes: 5 },
      interceptors: [{ name: 'delay fin', onPublish: (m) => (m.topic.endsWith('/fin/3') ? { kind: 'ack', reasonCode: delayed } : null) }],
    });
    const sub = await broker.connect({ protocolVersion: 5, clientId: 'sub' });
    await sub.subscribeAsync('seen', { qos: 1 });
    const pub = await broker.connect({ protocolVersion: 5, clientId: 'dev' });
    expect(await publishForCode(pub, 'seen', Buffer.alloc(10))).toBe(0);
    expect(await publishForCode(pub, 'unseen', Buffer.alloc(20))).toBe(0x10);
    const fin = publishForCode(pub, '$file/f/fin/3', Buffer.alloc(0));
    await pub.publishAsync('zero', Buffer.alloc(5), { qos: 0 });
    release(0x80);
    expect(await fin).toBe(0x80);
    const raw = await broker.raw();
    await raw.handshake('dropper', 5);
    for (let id = 1; id <= 5; id++) raw.send({ cmd: 'publish', topic: 'd', payload: Buffer.alloc(7), qos: 1, messageId: id, dup: false, retain: false });
    await raw.closed;
    await broker.stop();

    const lines = await auditLines(audit);
    const fromDev = lines.filter((l) => l.client === 'dev').map(({ topic, bytes, qos, rc }) => ({ topic, bytes, qos, rc }));
    // Lines follow the acknowledgements, so the held fin may come after the QoS 0 publish sent behind it.
    expect(fromDev).toHaveLength(4);
    expect(fromDev).toEqual(
      expect.arrayContaining([
        { topic: 'seen', bytes: 10, qos: 1, rc: 0 },
        { topic: 'unseen', bytes: 20, qos: 1, rc: 0x10 },
        { topic: 'zero', bytes: 5, qos: 0, rc: 0x10 },
        { topic: '$file/f/fin/3', bytes: 0, qos: 1, rc: 0x80 },
      ]),
    );
    expect(lines.filter((l) => l.client === 'dropper').map((l) => l.rc)).toEqual([0x10, 0x10, 0x10, 0x10, null]);
    for (const line of lines) expect(Number.isNaN(Date.parse(line.t))).toBe(false);
  });
});

describe('devbroker prng', () => {
  it('repeats the same sequence for the same seed and differs for another', () => {
    const a = createPrng(42);
    const b = createPrng(42);
    const c = createPrng(43);
    const seqA = Array.from({ length: 5 }, () => a());
    expect(Array.from({ length: 5 }, () => b())).toEqual(seqA);
    expect(Array.from({ length: 5 }, () => c())).not.toEqual(seqA);
    for (const x of seqA) expect(x >= 0 && x < 1).toBe(true);
  });
});
