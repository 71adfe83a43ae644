import { createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log';
import { uploadFile } from '../../src/transfer/emqx-ft/upload';
import { withUploadDefaults } from '../../src/transfer/emqx-ft/upload-options';
import type { UploadSnapshot } from '../../src/transfer/emqx-ft/upload-snapshot';
import { FakeClock, flush } from '../helpers/fake-clock';
import { ScriptedLink } from './helpers/scripted-link';

const FOUR_GIB = 2 ** 32;

describe('a real file larger than 4 GiB (sparse)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ftagent-sparse-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is read from disk at offsets past 2^32 and hashed whole', async () => {
    // Zeros everywhere (holes) but for marker bytes either side of the 4 GiB boundary and at the end.
    const path = join(dir, 'big.bin');
    const size = FOUR_GIB + 3;
    const markers: [number, Buffer][] = [
      [FOUR_GIB - 2, Buffer.from('ab')],
      [FOUR_GIB, Buffer.from('xyz')],
    ];
    const fd = openSync(path, 'w');
    for (const [at, bytes] of markers) writeSync(fd, bytes, 0, bytes.length, at);
    closeSync(fd);
    expect(statSync(path).size).toBe(size);

    const expected = createHash('sha256');
    const zeros = Buffer.alloc(64 * 1024 * 1024);
    for (let at = 0; at < FOUR_GIB - 2; at += zeros.length) expected.update(zeros.subarray(0, Math.min(zeros.length, FOUR_GIB - 2 - at)));
    expected.update(Buffer.from('abxyz'));

    // Everything but the last two chunks already confirmed: the last two are read from disk and sent.
    const chunk = 1 << 20;
    const identity = statSync(path);
    const resume: UploadSnapshot = {
      fileId: 'big',
      stage: 'segments',
      initPayload: Buffer.from(JSON.stringify({ name: 'big.bin', size })),
      confirmed: [[0, FOUR_GIB - chunk]],
      source: { path, size, mtimeMs: identity.mtimeMs, ino: identity.ino },
    };
    const link = new ScriptedLink(5);
    const clock = new FakeClock(1_000_000);
    const options = withUploadDefaults({ path, mode: 'sync', chunkSize: chunk, window: 4, fileId: 'big', resume });
    let settled = false;
    const upload = uploadFile(options, { link, clock, logger: silentLogger, random: () => 0.5 }).finally(() => (settled = true));
    while (!settled) {
      await flush();
      await clock.advance(100);
    }
    const result = await upload;

    expect(link.topics().slice(0, 3)).toEqual(['$file/big/init', `$file/big/${FOUR_GIB - chunk}`, `$file/big/${FOUR_GIB}`]);
    const [, beforeBoundary, pastBoundary] = link.sent;
    expect(beforeBoundary!.payload.subarray(chunk - 2)).toEqual(Buffer.from('ab'));
    expect(pastBoundary!.payload).toEqual(Buffer.from('xyz'));
    const sha = expected.digest('hex');
    expect(link.topics().at(-1)).toBe(`$file/big/fin/${size}/${sha}`);
    expect(result.sha256).toBe(sha);
  }, 240_000); // hashing 4 GiB takes ~20 s alone, minutes on two busy cores: a safety net, not a timing claim
});
