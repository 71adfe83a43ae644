import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBroker, type BrokerFaults, type RunningBroker } from '../../src/devbroker/index';
import { createLogger } from '../../src/log';
import { runCli } from '../helpers/cli-run';
import { freePort } from '../helpers/free-port';

const quietLog = createLogger({ level: 'silent' });
let root: string;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'ftagent-send-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
async function broker(faults: BrokerFaults = {}, extra: { receiveMaximum?: number } = {}): Promise<RunningBroker & { dataDir: string; url: string }> {
  const dataDir = join(root, `broker-${++n}`);
  const b = await startBroker({ port: 0, dataDir, logger: quietLog, faults: { seed: 7, ...faults }, ...extra });
  return Object.assign(b, { dataDir, url: `mqtt://127.0.0.1:${b.port}` });
}

function sampleFile(name: string, size: number): { path: string; bytes: Buffer } {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + (i >> 8)) & 0xff;
  const path = join(root, name);
  writeFileSync(path, bytes);
  return { path, bytes };
}

function exported(dataDir: string, clientId: string, fileId: string, name: string): Buffer {
  return readFileSync(join(dataDir, 'exports', clientId, fileId, name));
}

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

async function send(b: { url: string }, file: string, ...args: string[]) {
  return runCli(['send', file, '--broker', b.url, '--client-id', 'gw-test', '--json', ...args], root);
}

describe('ftagent send against the development broker', () => {
  for (const [label, args] of [
    ['MQTT 5 sync', []],
    ['MQTT 5 async', ['--mode', 'async']],
    ['MQTT 3.1.1 async', ['--mqtt', '3.1.1']],
  ] as const) {
    it(`puts the file on the broker byte for byte over ${label}`, async () => {
      const b = await broker();
      try {
        const f = sampleFile(`s-${label.replace(/\W/g, '')}.bin`, 200_000);
        const r = await send(b, f.path, '--chunk-size', '16384', '--file-id', 'f-1', ...args);
        expect(r.code, r.err).toBe(0);
        expect(r.json).toMatchObject({ ok: true, fileId: 'f-1', size: 200_000, sha256: sha(f.bytes), retries: 0 });
        expect(exported(b.dataDir, 'gw-test', 'f-1', r.json!.name as string).equals(f.bytes)).toBe(true);
      } finally {
        await b.stop();
      }
    });
  }

  it('handles 0-byte, 1-byte and exact-multiple-of-chunk files', async () => {
    const b = await broker();
    try {
      for (const size of [0, 1, 3 * 4096]) {
        const f = sampleFile(`edge-${size}.bin`, size);
        const r = await send(b, f.path, '--chunk-size', '4096', '--file-id', `edge-${size}`);
        expect(r.code, r.err).toBe(0);
        expect(exported(b.dataDir, 'gw-test', `edge-${size}`, `edge-${size}.bin`).equals(f.bytes)).toBe(true);
      }
    } finally {
      await b.stop();
    }
  });

  it('sends segment checksums the broker verifies', async () => {
    const b = await broker();
    try {
      const f = sampleFile('cks.bin', 50_000);
      const r = await send(b, f.path, '--chunk-size', '8192', '--segment-checksums', '--file-id', 'cks');
      expect(r.code, r.err).toBe(0);
      expect(exported(b.dataDir, 'gw-test', 'cks', 'cks.bin').equals(f.bytes)).toBe(true);
    } finally {
      await b.stop();
    }
  });

  it('survives the broker dropping the connection every 5 publishes', async () => {
    const b = await broker({ dropEveryNPublishes: 5 });
    try {
      const f = sampleFile('drops.bin', 120_000);
      const r = await send(b, f.path, '--chunk-size', '8192', '--window', '3', '--file-id', 'drops');
      expect(r.code, r.err).toBe(0);
      expect(r.json!.retries).toBeGreaterThan(0);
      expect(exported(b.dataDir, 'gw-test', 'drops', 'drops.bin').equals(f.bytes)).toBe(true);
    } finally {
      await b.stop();
    }
  });

  it('survives lost and delayed responses in async mode', async () => {
    const b = await broker({ responseLossRate: 0.2, responseDelayMs: 30 });
    try {
      const f = sampleFile('lossy.bin', 60_000);
      const r = await send(b, f.path, '--mode', 'async', '--chunk-size', '8192', '--command-timeout', '1', '--fin-timeout', '2', '--file-id', 'lossy');
      expect(r.code, r.err).toBe(0);
      expect(exported(b.dataDir, 'gw-test', 'lossy', 'lossy.bin').equals(f.bytes)).toBe(true);
    } finally {
      await b.stop();
    }
  });

  it('pauses through 0x97 bursts and re-sends segments answered 0x80', async () => {
    const b = await broker({ segmentQuotaRate: 0.25, segmentErrorRate: 0.15 });
    try {
      const f = sampleFile('quota.bin', 100_000);
      const r = await send(b, f.path, '--chunk-size', '8192', '--file-id', 'quota');
      expect(r.code, r.err).toBe(0);
      expect(r.json!.retries).toBeGreaterThan(0);
      expect(exported(b.dataDir, 'gw-test', 'quota', 'quota.bin').equals(f.bytes)).toBe(true);
    } finally {
      await b.stop();
    }
  });

  it('respects a small broker Receive Maximum with a larger --window', async () => {
    const b = await broker({}, { receiveMaximum: 2 });
    try {
      const f = sampleFile('rm.bin', 100_000);
      const r = await send(b, f.path, '--chunk-size', '4096', '--window', '32', '--file-id', 'rm');
      expect(r.code, r.err).toBe(0);
      expect(r.json!.retries).toBe(0);
    } finally {
      await b.stop();
    }
  });

  it('exits 5 with a clear message when file transfer is disabled on the broker', async () => {
    const b = await broker({ fileTransferDisabled: true });
    try {
      const f = sampleFile('off.bin', 1000);
      const r = await send(b, f.path);
      expect(r.code).toBe(5);
      expect(r.err).toContain('file transfer is probably not enabled');
      expect(r.json).toMatchObject({ ok: false, error: { code: 'FT_UNAVAILABLE' } });
    } finally {
      await b.stop();
    }
  });

  it('refuses a bad --name with exit 2 before sending any byte', async () => {
    const b = await broker();
    try {
      const f = sampleFile('named.bin', 1000);
      const r = await send(b, f.path, '--name', 'a/b:c');
      expect(r.code).toBe(2);
      expect(r.err).toContain('--name');
      expect(existsSync(join(b.dataDir, 'segments', 'gw-test'))).toBe(false);
    } finally {
      await b.stop();
    }
  });

  it('fails with exit 3 when the file changes while it is being sent', async () => {
    const b = await broker({ responseDelayMs: 20 });
    try {
      const f = sampleFile('growing.bin', 64 * 1024);
      const pending = send(b, f.path, '--mode', 'async', '--chunk-size', '1024', '--window', '1', '--file-id', 'grow');
      setTimeout(() => appendFileSync(f.path, 'more'), 300);
      const r = await pending;
      expect(r.code).toBe(3);
      expect(r.json).toMatchObject({ ok: false, error: { code: 'SOURCE_CHANGED' } });
      expect(existsSync(join(b.dataDir, 'exports', 'gw-test', 'grow'))).toBe(false);
    } finally {
      await b.stop();
    }
  });

  it('fails over to the next broker when the first URL is dead', async () => {
    const b = await broker();
    try {
      const f = sampleFile('failover.bin', 10_000);
      const dead = `mqtt://127.0.0.1:${await freePort()}`;
      const r = await runCli(['send', f.path, '--broker', `${dead},${b.url}`, '--client-id', 'gw-test', '--json', '--file-id', 'fo'], root);
      expect(r.code, r.err).toBe(0);
      expect(r.json!.broker).toBe(b.url);
      expect(exported(b.dataDir, 'gw-test', 'fo', 'failover.bin').equals(f.bytes)).toBe(true);
    } finally {
      await b.stop();
    }
  });

  it('makes a default name safe by percent-encoding', async () => {
    const b = await broker();
    try {
      const f = sampleFile('50%:off.bin', 10);
      const r = await send(b, f.path, '--file-id', 'pct');
      expect(r.code, r.err).toBe(0);
      expect(r.json!.name).toBe('50%25%3Aoff.bin');
      expect(readdirSync(join(b.dataDir, 'exports', 'gw-test', 'pct'))).toContain('50%25%3Aoff.bin');
    } finally {
      await b.stop();
    }
  });

  it('exits 3 for a missing file and 2 for sync mode on MQTT 3.1.1, without connecting', async () => {
    const missing = await runCli(['send', join(root, 'nope.bin'), '--broker', 'mqtt://127.0.0.1:1'], root);
    expect(missing.code).toBe(3);
    expect(missing.err).toContain('does not exist');
    const sync311 = await runCli(['send', join(root, 'nope.bin'), '--broker', 'mqtt://127.0.0.1:1', '--mqtt', '3.1.1', '--mode', 'sync'], root);
    expect(sync311.code).toBe(2);
    expect(sync311.err).toContain('MQTT 5');
  });
});

describe('ftagent send --max-rate', () => {
  it('never sends faster than the cap: 3 MiB at 1 MiB/s takes at least 1.8 s, and arrives whole', async () => {
    const b = await broker();
    try {
      const { path, bytes } = sampleFile('capped.bin', 3 * 1024 * 1024);
      const r = await send(b, path, '--max-rate', '1M', '--file-id', 'capped');
      expect(r.code).toBe(0);
      // A lower bound, so a slow machine cannot break it: one second of burst, then 1 MiB/s.
      expect(r.json?.seconds).toBeGreaterThanOrEqual(1.8);
      expect(sha(exported(b.dataDir, 'gw-test', 'capped', 'capped.bin'))).toBe(sha(bytes));
    } finally {
      await b.stop();
    }
  });

  it('refuses a rate that is not bytes per second', async () => {
    const r = await runCli(['send', 'x', '--broker', 'mqtt://127.0.0.1:1', '--max-rate', 'fast'], root);
    expect(r.code).toBe(2);
    expect(r.err).toContain('--max-rate must be bytes per second');
  });

  it('leaves the rate to the daemon with --queue', async () => {
    const r = await runCli(['send', 'x', '--queue', '--max-rate', '1M'], root);
    expect(r.code).toBe(2);
    expect(r.err).toContain('--max-rate does not apply with --queue');
  });
});
