/**
 * `ftagent send` and `fetch` as real processes against a broker that misbehaves on purpose: each
 * must end by itself, with the exit status of its error code and, with --json, exactly one object.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureFreshBundles } from '../helpers/fresh-bundles';
import { startHostileBroker, type HostileScript } from '../helpers/hostile-broker';
import { runAgent, type ProcessRun } from './process-run';

let root: string;
beforeAll(async () => {
  await ensureFreshBundles();
  root = mkdtempSync(join(tmpdir(), 'ftagent-hostile-'));
  writeFileSync(join(root, 'f.bin'), Buffer.alloc(100_000, 7));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function sendAgainst(script: HostileScript, ...args: string[]): Promise<{ run: ProcessRun; connects: number; publishes: number }> {
  const b = await startHostileBroker(script);
  try {
    const run = await runAgent(['send', join(root, 'f.bin'), '--broker', b.url, '--client-id', 'gw-hostile', '--json', ...args], { cwd: root, killAfterMs: 120_000 });
    return { run, connects: b.connects, publishes: b.publishes.length };
  } finally {
    await b.stop();
  }
}

function onlyFailure(run: ProcessRun): { code: string; message: string } {
  expect(run.jsonLines, run.out + run.err).toHaveLength(1);
  expect(run.jsonLines[0]).toMatchObject({ ok: false });
  return (run.jsonLines[0] as { error: { code: string; message: string } }).error;
}

const isFin = (topic: string): boolean => topic.includes('/fin/');

describe.concurrent('send against a hostile broker ends by itself with the right status', { timeout: 150_000 }, () => {
  it('a broker silent after CONNACK (no PUBACK, no PINGRESP): exit 5 GAVE_UP, not 0', async () => {
    const { run } = await sendAgainst({ silentAfterConnack: true }, '--command-timeout', '1');
    expect(run.code).toBe(5);
    expect(onlyFailure(run).code).toBe('GAVE_UP');
  });

  it('a fin PUBACK with the invalid reason code 0xFF: exit 5 PROTOCOL_ERROR after a bounded number of reconnects', async () => {
    const { run, connects } = await sendAgainst({ onPublish: (p) => (isFin(p.topic) ? { kind: 'ack', reasonCode: 0xff } : { kind: 'ack' }) });
    expect(run.code).toBe(5);
    const error = onlyFailure(run);
    expect(error.code).toBe('PROTOCOL_ERROR');
    expect(error.message).toMatch(/malformed packet/);
    // The first cycle confirms init and segments; the six that follow make no progress.
    expect(connects).toBe(7);
  });

  it('one segment never acknowledged (PINGREQ answered): exit 5 GAVE_UP', async () => {
    const { run, publishes } = await sendAgainst({ onPublish: (p) => (p.topic.endsWith('/0') ? { kind: 'ignore' } : { kind: 'ack' }) }, '--command-timeout', '1');
    expect(run.code).toBe(5);
    expect(onlyFailure(run).message).toMatch(/after 8 attempts/);
    expect(publishes).toBeGreaterThanOrEqual(8);
  });

  it('the fin never acknowledged: exit 5 GAVE_UP', async () => {
    const { run } = await sendAgainst({ onPublish: (p) => (isFin(p.topic) ? { kind: 'ignore' } : { kind: 'ack' }) }, '--fin-timeout', '1');
    expect(run.code).toBe(5);
    expect(onlyFailure(run).code).toBe('GAVE_UP');
  });

  it('PUBACKs only for packet ids never sent: exit 5 GAVE_UP', async () => {
    const { run } = await sendAgainst({ onPublish: () => ({ kind: 'ack-other', messageId: 60_000 }) }, '--command-timeout', '1');
    expect(run.code).toBe(5);
    expect(onlyFailure(run).code).toBe('GAVE_UP');
  });

  it('a success whose re-sent copy is never acknowledged prints ok and exits 0', async () => {
    let initCopies = 0;
    const { run } = await sendAgainst(
      {
        onPublish: (p, n) => {
          if (n === 1) return { kind: 'ack', delayMs: 2500 };
          if (p.topic.endsWith('/init')) return ((initCopies += 1), { kind: 'ignore' });
          return { kind: 'ack' };
        },
      },
      '--command-timeout',
      '2',
    );
    expect(run.code, run.err).toBe(0);
    expect(initCopies).toBe(1);
    expect(run.jsonLines).toHaveLength(1);
    expect(run.jsonLines[0]).toMatchObject({ ok: true, size: 100_000 });
  });

  it('CONNACK with Receive Maximum 0: exit 5 PROTOCOL_ERROR at once, one connect', async () => {
    const { run, connects } = await sendAgainst({ connackProperties: { receiveMaximum: 0 } });
    expect(run.code).toBe(5);
    expect(onlyFailure(run)).toMatchObject({ code: 'PROTOCOL_ERROR', message: expect.stringMatching(/Receive Maximum 0/) });
    expect(connects).toBe(1);
  });

  it('a broker that drops the connection on every publish: GAVE_UP after 6 connects, not a loop', async () => {
    const { run, connects } = await sendAgainst({ onPublish: () => ({ kind: 'close' }) });
    expect(run.code).toBe(5);
    expect(onlyFailure(run)).toMatchObject({ code: 'GAVE_UP', message: expect.stringMatching(/6 times in a row/) });
    expect(connects).toBe(6);
  });

  it('fetch against a broker silent after CONNACK: exit 5 with one JSON object', async () => {
    const b = await startHostileBroker({ silentAfterConnack: true });
    try {
      const run = await runAgent(['fetch', '/remote/a.txt', '--to', join(root, 'fetched.txt'), '--broker', b.url, '--client-id', 'gw-fetch', '--timeout', '1', '--json'], {
        cwd: root,
        killAfterMs: 120_000,
      });
      expect(run.code, run.err).toBe(5);
      onlyFailure(run);
    } finally {
      await b.stop();
    }
  });
});
