/**
 * Uploads through a TCP proxy that keeps cutting the connection to a real EMQX 5.3.2, in every
 * mode: each upload still ends with the exact file exported, and what was sent again stays within
 * one window of chunks per cut (the proxy counts the segment payload bytes on the wire).
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli-run';
import { writeContentFile } from '../helpers/content';
import { expectEmqxExport, useEmqxSuite } from '../helpers/emqx';
import { startTcpProxy, type CutRule, type TcpProxy } from '../helpers/tcp-proxy';

const CHUNK = 32_768;
const WINDOW = 8;
const SIZE = 2 * 1024 * 1024 + 123;

const suite = useEmqxSuite();
let proxy: TcpProxy | undefined;
let seq = 0;

afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
});

const MODES = [
  ['sync MQTT 5', ['--mqtt', '5', '--mode', 'sync']],
  ['async MQTT 5', ['--mqtt', '5', '--mode', 'async']],
  ['async MQTT 3.1.1', ['--mqtt', '3.1.1']],
] as const;

const RULES: ReadonlyArray<[string, CutRule, number]> = [
  ['every 300 kB', { bytes: 300_000 }, 6],
  ['every 10 packets', { packets: 10 }, 5],
];

describe.each(MODES)('connection cuts between ftagent and EMQX 5.3.2, %s', (label, modeFlags) => {
  it.each(RULES)(
    'the upload survives a cut %s',
    async (_what, rule, times) => {
      proxy = await startTcpProxy(suite.emqx.port);
      proxy.cutRepeatedly(rule, times);
      const file = join(suite.dir, `cuts-${++seq}.bin`);
      const sha = await writeContentFile(file, SIZE, seq);
      const clientId = `cuts-${process.pid}-${seq}`;
      const run = await runCli(['send', file, '--broker', proxy.url, '--client-id', clientId, '--json', '--chunk-size', String(CHUNK), '--window', String(WINDOW), ...modeFlags], suite.dir);
      expect(run.code, `${label}: ${run.err}\n${suite.emqx.logTail()}`).toBe(0);
      // Each rule cuts before the file is through, so every planned cut happens.
      expect(proxy.counters.cuts).toBe(times);
      await expectEmqxExport(suite.emqx, clientId, String(run.json?.fileId), sha, SIZE);
      // Every byte at least once; after each cut at most the window in flight is sent again.
      expect(proxy.counters.segmentBytes).toBeGreaterThanOrEqual(SIZE);
      expect(proxy.counters.segmentBytes).toBeLessThanOrEqual(SIZE + times * WINDOW * CHUNK);
    },
    120_000,
  );
});
