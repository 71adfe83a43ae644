import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli-run';
import { content } from '../helpers/content';
import { findEmqxExport, startEmqx, type Emqx } from '../helpers/emqx';

describe('ftagent send against a real EMQX 5.3.2', () => {
  let emqx: Emqx;
  let dir: string;

  beforeAll(async () => {
    emqx = await startEmqx();
    dir = await mkdtemp(join(tmpdir(), 'ftagent-emqx-smoke-'));
  }, 180_000);

  afterAll(async () => {
    await emqx?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it.each([
    ['sync over MQTT 5', ['--mqtt', '5', '--mode', 'sync']],
    ['async over MQTT 3.1.1', ['--mqtt', '3.1.1']],
  ])('delivers a file byte-exact with a matching manifest, %s', async (label, flags) => {
    const bytes = content(200_000, label.length);
    const file = join(dir, `${label.replace(/\W+/g, '-')}.bin`);
    await writeFile(file, bytes);
    const clientId = `smoke-${label.length}-${process.pid}`;
    const run = await runCli(['send', file, '--broker', emqx.url, '--client-id', clientId, '--json', ...flags], dir);
    expect(run.code, `${run.err}\n${emqx.logTail()}`).toBe(0);
    const fileId = String(run.json?.fileId);
    const exported = await findEmqxExport(emqx, clientId, fileId);
    expect(exported, emqx.logTail()).toBeDefined();
    expect((await readFile(exported!.path)).equals(bytes)).toBe(true);
    const sha = createHash('sha256').update(bytes).digest('hex');
    expect(exported!.manifest).toMatchObject({ size: bytes.length, checksum: sha.toUpperCase() });
  }, 120_000);
});
