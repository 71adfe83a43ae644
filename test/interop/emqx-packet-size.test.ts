import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli-run';
import { content } from '../helpers/content';
import { findEmqxExport, startEmqx, type Emqx } from '../helpers/emqx';

/**
 * EMQX with `mqtt.max_packet_size = 32KB`: MQTT 5 CONNACK announces it, MQTT 3.1.1 cannot, and
 * EMQX just closes a 3.1.1 connection that sends a bigger packet.
 */
describe('ftagent send with default segment sizes against EMQX with a 32 KB packet limit', () => {
  let emqx: Emqx;
  let dir: string;

  beforeAll(async () => {
    [emqx, dir] = await Promise.all([startEmqx({ extraConf: 'mqtt.max_packet_size = 32KB' }), mkdtemp(join(tmpdir(), 'ftagent-emqx-packet-'))]);
  }, 180_000);
  afterAll(() => Promise.all([emqx?.stop(), dir && rm(dir, { recursive: true, force: true })]), 60_000);

  it.each([
    ['MQTT 5 (the limit is in CONNACK)', ['--mqtt', '5']],
    ['MQTT 3.1.1 (segments halved after the broker closes the connection)', ['--mqtt', '3.1.1']],
  ])('delivers the file byte-exact over %s', async (label, flags) => {
    const bytes = content(1_000_000, label.length);
    const file = join(dir, `${label.length}.bin`);
    await writeFile(file, bytes);
    const clientId = `packet-${label.length}-${process.pid}`;
    const run = await runCli(['send', file, '--broker', emqx.url, '--client-id', clientId, '--json', ...flags], dir);
    expect(run.code, `${run.err}\n${emqx.logTail()}`).toBe(0);
    const exported = await findEmqxExport(emqx, clientId, String(run.json?.fileId));
    expect(exported, emqx.logTail()).toBeDefined();
    expect((await readFile(exported!.path)).equals(bytes)).toBe(true);
  }, 150_000);
});
