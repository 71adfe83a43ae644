/**
 * EMQX 5.3.2 configured with limits (EXTRA_CONF), one node each: a Maximum Packet Size below the
 * chunk, file transfer switched off, and an assembly timeout shorter than any assembly. Each ends
 * the way the README says.
 */
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli-run';
import { content } from '../helpers/content';
import { expectEmqxExport, useEmqxSuite, type EmqxSuite } from '../helpers/emqx';

const SIZE = 300_000;
let seq = 0;

async function send(suite: EmqxSuite, flags: readonly string[]) {
  const bytes = content(SIZE, ++seq);
  const file = join(suite.dir, `limits-${seq}.bin`);
  await writeFile(file, bytes);
  const clientId = `limits-${process.pid}-${seq}`;
  const run = await runCli(['send', file, '--broker', suite.emqx.url, '--client-id', clientId, '--json', ...flags], suite.dir);
  return { run, clientId, sha: createHash('sha256').update(bytes).digest('hex') };
}

describe('EMQX 5.3.2 with mqtt.max_packet_size = 32KB', () => {
  const suite = useEmqxSuite({ extraConf: 'mqtt.max_packet_size = 32KB' });

  it('MQTT 5: an explicit 64 KiB chunk is refused before a byte is sent, naming the size that fits; that size then works', async () => {
    const refused = await send(suite, ['--mqtt', '5', '--chunk-size', '65536']);
    expect(refused.run.code).toBe(2);
    expect(refused.run.json?.error).toMatchObject({ code: 'CONFIG_INVALID' });
    const hint = /use --chunk-size (\d+) or less/.exec(String((refused.run.json?.error as { message?: string }).message));
    expect(hint, refused.run.err).not.toBeNull();
    const fits = await send(suite, ['--mqtt', '5', '--chunk-size', hint![1]!]);
    expect(fits.run.code, `${fits.run.err}\n${suite.emqx.logTail()}`).toBe(0);
    await expectEmqxExport(suite.emqx, fits.clientId, String(fits.run.json?.fileId), fits.sha, SIZE);
  }, 60_000);

  it.each([
    ['MQTT 5 (the limit is in CONNACK)', ['--mqtt', '5']],
    ['MQTT 3.1.1 (segments halved after the broker closes the connection)', ['--mqtt', '3.1.1']],
  ])(
    'with the default segment size delivers byte-exact over %s',
    async (_label, flags) => {
      const { run, clientId, sha } = await send(suite, flags);
      expect(run.code, `${run.err}\n${suite.emqx.logTail()}`).toBe(0);
      await expectEmqxExport(suite.emqx, clientId, String(run.json?.fileId), sha, SIZE);
    },
    150_000,
  );
});

describe('EMQX 5.3.2 with file_transfer.enable = false', () => {
  const suite = useEmqxSuite({ extraConf: 'file_transfer.enable = false' });

  it('MQTT 5: PUBACK 0x10 to every command ends in FT_UNAVAILABLE (exit 5) naming the setting', async () => {
    const { run } = await send(suite, ['--mqtt', '5', '--mode', 'sync']);
    expect(run.code).toBe(5);
    expect(run.json?.error).toMatchObject({ code: 'FT_UNAVAILABLE' });
    expect(String((run.json?.error as { message?: string }).message)).toContain('file_transfer.enable = true');
  }, 60_000);

  it('MQTT 3.1.1: init acknowledged but never answered ends in FT_UNAVAILABLE (exit 5) after a few command timeouts', async () => {
    const { run } = await send(suite, ['--mqtt', '3.1.1', '--command-timeout', '2']);
    expect(run.code).toBe(5);
    expect(run.json?.error).toMatchObject({ code: 'FT_UNAVAILABLE' });
    expect(String((run.json?.error as { message?: string }).message)).toContain('never answered init');
  }, 60_000);
});

describe('EMQX 5.3.2 with file_transfer.assemble_timeout = 1ms', () => {
  const suite = useEmqxSuite({ extraConf: 'file_transfer.assemble_timeout = 1ms' });

  it('async: the fin answered `timeout` is sent again and finds the export', async () => {
    const { run, clientId, sha } = await send(suite, ['--mqtt', '3.1.1']);
    expect(run.code, `${run.err}\n${suite.emqx.logTail()}`).toBe(0);
    expect(run.json?.bytesSent).toBe(SIZE);
    await expectEmqxExport(suite.emqx, clientId, String(run.json?.fileId), sha, SIZE);
  }, 60_000);

  it('sync MQTT 5: the fin PUBACK 0x80 (EMQX 5.3.2 gives no reason) leads to one more pass, then success', async () => {
    const { run, clientId, sha } = await send(suite, ['--mqtt', '5', '--mode', 'sync']);
    expect(run.code, `${run.err}\n${suite.emqx.logTail()}`).toBe(0);
    expect(Number(run.json?.bytesSent)).toBeLessThanOrEqual(2 * SIZE);
    await expectEmqxExport(suite.emqx, clientId, String(run.json?.fileId), sha, SIZE);
  }, 60_000);
});
