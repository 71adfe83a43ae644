import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type BrokerFaults, type RunningBroker } from '../../src/devbroker/index';
import { createLogger } from '../../src/log';
import { runCli } from '../helpers/cli-run';
import { content } from '../helpers/content';

const quietLog = createLogger({ level: 'silent' });
let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'ftagent-geometry-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
interface TestBroker extends RunningBroker {
  dataDir: string;
  url: string;
  audit: string;
}
async function broker(options: { maximumPacketSize?: number; faults?: BrokerFaults } = {}): Promise<TestBroker> {
  const dataDir = join(root, `broker-${++n}`);
  const audit = join(root, `audit-${n}.jsonl`);
  const b = await startBroker({
    port: 0,
    dataDir,
    logger: quietLog,
    auditLog: audit,
    faults: { seed: 3, ...options.faults },
    ...(options.maximumPacketSize ? { maximumPacketSize: options.maximumPacketSize } : {}),
  });
  return Object.assign(b, { dataDir, audit, url: `mqtt://127.0.0.1:${b.port}` });
}

interface Publish {
  topic: string;
  bytes: number;
  rc: number | null;
}
function segmentPublishes(audit: string): Publish[] {
  return readFileSync(audit, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Publish)
    .filter((p) => /^\$file(-async)?\/[^/]+\/\d+$/.test(p.topic));
}

function sample(name: string, size: number): { path: string; bytes: Buffer } {
  const bytes = content(size);
  const path = join(root, name);
  writeFileSync(path, bytes);
  return { path, bytes };
}

describe('ftagent send chooses the segment size from the broker', () => {
  it('uses 512 KiB segments under the broker default of 1 MiB packets', async () => {
    const b = await broker();
    try {
      const f = sample('big.bin', 3 * 1024 * 1024 + 5);
      const r = await runCli(['send', f.path, '--broker', b.url, '--client-id', 'gw-geo', '--file-id', 'g1', '--json'], root);
      await b.stop();
      expect(r.code, r.err).toBe(0);
      expect(readFileSync(join(b.dataDir, 'exports', 'gw-geo', 'g1', 'big.bin')).equals(f.bytes)).toBe(true);
      const sizes = segmentPublishes(b.audit).map((p) => p.bytes);
      expect(sizes.slice(0, 6)).toEqual(Array(6).fill(512 * 1024));
      expect(sizes).toHaveLength(7);
    } finally {
      await b.stop();
    }
  });

  for (const mqtt of ['5', '3.1.1'] as const) {
    it(`fits a broker with a 20000-byte packet limit without --chunk-size (MQTT ${mqtt})`, async () => {
      const b = await broker({ maximumPacketSize: 20_000 });
      try {
        const f = sample(`small-${mqtt}.bin`, 200_000);
        const args = mqtt === '5' ? [] : ['--mqtt', '3.1.1'];
        const r = await runCli(['send', f.path, '--broker', b.url, '--client-id', 'gw-geo', '--file-id', `s${mqtt}`, '--json', '--command-timeout', '2', ...args], root);
        await b.stop();
        expect(r.code, r.err).toBe(0);
        expect(readFileSync(join(b.dataDir, 'exports', 'gw-geo', `s${mqtt}`, `small-${mqtt}.bin`)).equals(f.bytes)).toBe(true);
        const sizes = segmentPublishes(b.audit).map((p) => p.bytes);
        expect(Math.max(...sizes)).toBeLessThan(20_000);
      } finally {
        await b.stop();
      }
    }, 120_000);
  }

  it('refuses an explicit --chunk-size above the limit with exit 2, naming the size that fits', async () => {
    const b = await broker({ maximumPacketSize: 20_000 });
    try {
      const f = sample('explicit.bin', 100_000);
      const r = await runCli(['send', f.path, '--broker', b.url, '--client-id', 'gw-geo', '--chunk-size', '65536', '--json'], root);
      expect(r.code).toBe(2);
      expect(r.json).toMatchObject({ ok: false, error: { code: 'CONFIG_INVALID' } });
      expect(String((r.json!.error as { message: string }).message)).toMatch(/--chunk-size 19\d\d\d or less/);
    } finally {
      await b.stop();
    }
  });

  it('on MQTT 3.1.1, halves the segment size while the broker keeps closing the connection, and fails naming the packet limit below the floor', async () => {
    const b = await broker({ maximumPacketSize: 2000 });
    try {
      const f = sample('tiny-limit.bin', 100_000);
      const r = await runCli(['send', f.path, '--broker', b.url, '--client-id', 'gw-geo', '--mqtt', '3.1.1', '--json'], root);
      await b.stop();
      expect(r.code, r.err).toBe(2);
      expect(r.json).toMatchObject({ ok: false, error: { code: 'CONFIG_INVALID' } });
      expect(String((r.json!.error as { message: string }).message)).toMatch(/maximum packet size is probably smaller.*--chunk-size/);
      // Every halving was tried down to the 4 KiB floor; the broker refused each before reading it.
      expect(String((r.json!.error as { message: string }).message)).toMatch(/segments from 524288 down to 4096 bytes/);
      expect(segmentPublishes(b.audit)).toEqual([]);
    } finally {
      await b.stop();
    }
  }, 120_000);

  it('on MQTT 3.1.1, an explicit --chunk-size the broker keeps dropping is never changed and ends at the bound on cycles without progress, naming --chunk-size', async () => {
    const b = await broker({ maximumPacketSize: 20_000 });
    try {
      const f = sample('explicit-311.bin', 100_000);
      const r = await runCli(['send', f.path, '--broker', b.url, '--client-id', 'gw-geo', '--mqtt', '3.1.1', '--chunk-size', '65536', '--json'], root);
      await b.stop();
      expect(r.code, r.err).toBe(5);
      expect(r.json).toMatchObject({ ok: false, error: { code: 'GAVE_UP' } });
      expect(String((r.json!.error as { message: string }).message)).toMatch(/6 times in a row.*--chunk-size/);
      expect(segmentPublishes(b.audit).every((p) => p.bytes === 65536 && p.rc === null)).toBe(true);
    } finally {
      await b.stop();
    }
  }, 120_000);
});
