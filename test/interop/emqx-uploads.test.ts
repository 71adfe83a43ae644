/**
 * `ftagent send` against the real EMQX 5.3.2, one node for the file: every upload mode, the sizes
 * around the chunk boundary, a file of 64 MiB, a name that needs percent-encoding and every init
 * metadata flag. Each case is proven by the exported file (byte-exact) and EMQX's manifest.
 */
import { createHash } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli-run';
import { content, writeContentFile } from '../helpers/content';
import { expectEmqxExport, useEmqxSuite } from '../helpers/emqx';

const CHUNK = 65_536;
const MODES = [
  ['sync MQTT 5', ['--mqtt', '5', '--mode', 'sync']],
  ['async MQTT 5', ['--mqtt', '5', '--mode', 'async']],
  ['async MQTT 3.1.1', ['--mqtt', '3.1.1']],
] as const;
const SIZES = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 7];

const suite = useEmqxSuite();
let seq = 0;

async function send(file: string, flags: readonly string[]) {
  const clientId = `up-${process.pid}-${++seq}`;
  const run = await runCli(['send', file, '--broker', suite.emqx.url, '--client-id', clientId, '--chunk-size', String(CHUNK), '--json', ...flags], suite.dir);
  expect(run.code, `${run.err}\n${suite.emqx.logTail()}`).toBe(0);
  return { clientId, fileId: String(run.json?.fileId), json: run.json! };
}

describe.each(MODES)('ftagent send to EMQX 5.3.2, %s', (label, modeFlags) => {
  it.each(SIZES)(
    'delivers %i bytes byte-exact with a matching manifest',
    async (size) => {
      const bytes = content(size, size + label.length);
      const file = join(suite.dir, `size-${size}-${label.replace(/\W+/g, '-')}.bin`);
      await writeFile(file, bytes);
      const sha = createHash('sha256').update(bytes).digest('hex');
      const { clientId, fileId, json } = await send(file, modeFlags);
      expect(json.sha256).toBe(sha);
      expect(json.bytesSent).toBe(size);
      const exported = await expectEmqxExport(suite.emqx, clientId, fileId, sha, size);
      expect(exported.manifest.name).toBe(`size-${size}-${label.replace(/\W+/g, '-')}.bin`);
    },
    60_000,
  );

  it('percent-encodes a name EMQX would refuse, and records every metadata flag as EMQX stores it', async () => {
    const bytes = content(CHUNK * 2 + 11, 99);
    const name = 'cam 1:2%done\\x.jpg';
    const file = join(suite.dir, `${label.replace(/\W+/g, '-')}-${name}`);
    await writeFile(file, bytes);
    const sha = createHash('sha256').update(bytes).digest('hex');
    const { clientId, fileId } = await send(file, [
      ...modeFlags,
      '--user-data',
      '{"store":42,"tags":["a","b"]}',
      '--meta',
      'camera=front door',
      '--segments-ttl',
      '600',
      '--expire-at',
      '4102444800',
      '--segment-checksums',
    ]);
    const exported = await expectEmqxExport(suite.emqx, clientId, fileId, sha, bytes.length);
    expect(exported.manifest).toEqual({
      name: `${label.replace(/\W+/g, '-')}-cam 1%3A2%25done%5Cx.jpg`,
      size: bytes.length,
      checksum: sha.toUpperCase(),
      user_data: { store: 42, tags: ['a', 'b'], camera: 'front door' },
      segments_ttl: 600,
      expire_at: 4102444800,
    });
    expect(exported.path.endsWith(String(exported.manifest.name))).toBe(true);
  }, 60_000);
});

describe('a 64 MiB file through EMQX 5.3.2', () => {
  it.each([MODES[0], MODES[2]])(
    'arrives byte-exact, %s',
    async (label, modeFlags) => {
      const size = 64 * 1024 * 1024;
      const file = join(suite.dir, `big-${label.replace(/\W+/g, '-')}.bin`);
      const sha = await writeContentFile(file, size, 64);
      const { clientId, fileId, json } = await send(file, modeFlags);
      expect(json.bytesSent).toBe(size);
      await expectEmqxExport(suite.emqx, clientId, fileId, sha, size);
      await rm(file);
    },
    180_000,
  );
});
