/**
 * EMQX 5.3.2 stopped and started again on the same data dir in the middle of an upload: its
 * segments survive on disk, ftagent reconnects, re-sends what was unconfirmed, and the file is
 * exported byte-exact.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli-run';
import { writeContentFile } from '../helpers/content';
import { emqxStartTimeoutMs, expectEmqxExport, useEmqxSuite } from '../helpers/emqx';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy';

const SIZE = 6 * 1024 * 1024 + 3;
const suite = useEmqxSuite();
let proxy: TcpProxy | undefined;

afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
});

describe('EMQX 5.3.2 restarted mid-upload', () => {
  it.each([
    ['sync MQTT 5', ['--mqtt', '5', '--mode', 'sync']],
    ['async MQTT 3.1.1', ['--mqtt', '3.1.1']],
  ] as const)(
    'the upload completes, %s',
    async (label, modeFlags) => {
      const p = (proxy = await startTcpProxy(suite.emqx.port));
      let restarting: Promise<void> | undefined;
      p.onPublish(() => {
        if (restarting || p.counters.segmentBytes < 2 * 1024 * 1024) return;
        // Nothing more reaches EMQX while it shuts down (so the upload cannot finish first); once it
        // is down its connections close, and new ones go through while it starts again.
        p.pause();
        restarting = suite.emqx.restart(() => {
          p.cutNow();
          p.resume();
        });
      });
      const file = join(suite.dir, `${label.replace(/\W+/g, '-')}.bin`);
      const sha = await writeContentFile(file, SIZE, label.length);
      const clientId = `restart-${process.pid}-${label.length}`;
      const run = await runCli(['send', file, '--broker', p.url, '--client-id', clientId, '--json', ...modeFlags], suite.dir);
      await restarting;
      expect(run.code, `${run.err}\n${suite.emqx.logTail()}`).toBe(0);
      expect(restarting).toBeDefined();
      expect(p.counters.connections).toBeGreaterThan(1);
      await expectEmqxExport(suite.emqx, clientId, String(run.json?.fileId), sha, SIZE);
    },
    2 * emqxStartTimeoutMs,
  );
});
