/**
 * The development broker held to the real EMQX 5.3.2: every sequence of the table is played by a
 * plain MQTT.js client against both, and every PUBACK/PUBREC reason code, every `$file-response`
 * and the CONNACK's Receive Maximum must match. The development broker runs with `emqx: '5.3'`,
 * the behaviour switch for what changed between EMQX 5.3.2 and 5.8 (see its README section).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../src/devbroker/index';
import { silentLogger } from '../../src/log';
import { runCli } from '../helpers/cli-run';
import { writeContentFile } from '../helpers/content';
import { useEmqxSuite } from '../helpers/emqx';
import { startTcpProxy } from '../helpers/tcp-proxy';
import { play, type Observed } from './differential-client';
import { sequences } from './differential-table';

const suite = useEmqxSuite();
let dev: RunningBroker;
const results = new Map<string, { emqx: Observed; dev: Observed }>();

/** Runs `work` over `items`, `limit` at a time. */
async function pool<T>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const i = next++;
        await work(items[i]!, i);
      }
    }),
  );
}

beforeAll(async () => {
  dev = await startBroker({ dataDir: join(suite.dir, 'devbroker'), port: 0, logger: silentLogger, store: false, emqx: '5.3' });
  await pool(sequences, 6, async (seq, i) => {
    const clientId = `diff-${i}`;
    const fileId = `file-${i}`;
    const [emqx, devResult] = await Promise.all([play(suite.emqx.url, seq, clientId, fileId), play(`mqtt://127.0.0.1:${dev.port}`, seq, clientId, fileId)]);
    results.set(seq.name, { emqx, dev: devResult });
  });
}, 600_000);

afterAll(async () => {
  await dev?.stop();
});

describe('the development broker answers like EMQX 5.3.2', () => {
  it('has at least 60 sequences, and EMQX answered them with every kind of result', () => {
    expect(sequences.length).toBeGreaterThanOrEqual(60);
    const acks = new Set<number | null>();
    const reasons = new Set<string>();
    for (const { emqx } of results.values()) {
      for (const a of emqx.acks) acks.add(a);
      for (const r of emqx.responses) reasons.add(String((r.body as { reason_description?: unknown }).reason_description));
    }
    // 0x10: PUBREC of a QoS 2 command; 0x80 only reaches MQTT 5 clients.
    expect([...acks].sort((a, b) => Number(a) - Number(b))).toEqual([0, 0x10, 0x80]);
    expect([...reasons].sort()).toEqual([
      'checksum_mismatch',
      'filemeta_conflict',
      'incomplete',
      'internal_error',
      'invalid_checksum',
      'invalid_file_command',
      'invalid_filemeta',
      'invalid_filemeta_json',
      'invalid_offset',
      'invalid_size',
      'success',
    ]);
  });

  it.each(sequences.map((s) => [s.name]))('%s', (name) => {
    const r = results.get(name)!;
    expect(r.dev).toEqual(r.emqx);
  });
});

describe('no Receive Maximum in the CONNACK (EMQX 5.3.2, and the development broker as 5.3)', () => {
  it.each(['EMQX 5.3.2', 'development broker --emqx 5.3'])(
    'ftagent keeps its own window: %s',
    async (which) => {
      const port = which === 'EMQX 5.3.2' ? suite.emqx.port : dev.port;
      const proxy = await startTcpProxy(port);
      try {
        const file = join(suite.dir, `window-${which.length}.bin`);
        await writeContentFile(file, 2 * 1024 * 1024, 3);
        const run = await runCli(['send', file, '--broker', proxy.url, '--client-id', `window-${which.length}`, '--json', '--chunk-size', '16384', '--window', '5'], suite.dir);
        expect(run.code, run.err).toBe(0);
        // The window was used, and never exceeded (init and fin are commands too).
        expect(proxy.counters.maxInFlight).toBeGreaterThanOrEqual(3);
        expect(proxy.counters.maxInFlight).toBeLessThanOrEqual(5);
      } finally {
        await proxy.close();
      }
    },
    60_000,
  );
});
