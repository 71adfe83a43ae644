import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FtError } from '../../src/errors';
import { crc32c } from '../../src/protocol/crc32c';
import { NftpBitmap } from '../../src/transfer/nftp/nftp-bitmap';
import { NftpFileSink } from '../../src/transfer/nftp/nftp-file-sink';
import { openNftpFileSource } from '../../src/transfer/nftp/nftp-file-source';
import { prng, randomBytes } from './prng';
import { sessionPair } from './session-pair';

let dir = '';
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'nftp-sink-'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const exists = (p: string) =>
  fs.stat(p).then(
    () => true,
    () => false,
  );
const content = randomBytes(prng(9), 40);
const info = { name: 'x.bin', blocks: 3, filehash: crc32c(content), blockSize: 16 };

describe('nftp file sink', () => {
  it('writes blocks at their offsets and renames only after the hash matches', async () => {
    const target = path.join(dir, 'in', 'x.bin');
    const sink = new NftpFileSink({ target });
    expect(await sink.open(info)).toEqual({ alreadyHave: null });
    await sink.writeBlock(2, 32, content.subarray(32));
    await sink.writeBlock(0, 0, content.subarray(0, 16));
    await sink.writeBlock(1, 16, content.subarray(16, 32));
    expect(await exists(target)).toBe(false);
    expect(await sink.finish({ filehash: info.filehash })).toEqual({ verified: true, size: 40 });
    expect(new Uint8Array(await fs.readFile(target))).toEqual(content);
    expect(await exists(sink.partPath)).toBe(false);
    expect(await exists(sink.mapPath)).toBe(false);
  });

  it('keeps a file with the wrong hash out of the target', async () => {
    const target = path.join(dir, 'x.bin');
    const sink = new NftpFileSink({ target });
    await sink.open({ ...info, filehash: 1 });
    await sink.writeBlock(0, 0, content);
    const res = await sink.finish({ filehash: 1 });
    expect(res).toEqual({ verified: false, size: 40, actualHash: crc32c(content) });
    expect(await exists(target)).toBe(false);
    await sink.abort({ discard: true });
    expect(await exists(sink.partPath)).toBe(false);
  });

  it('resumes from the persisted map for the same file and starts over for another', async () => {
    const target = path.join(dir, 'x.bin');
    const first = new NftpFileSink({ target });
    await first.open(info);
    await first.writeBlock(0, 0, content.subarray(0, 16));
    const map = new NftpBitmap(3);
    map.set(0);
    await first.saveBitmap(map);
    await first.abort({ discard: false });

    const again = new NftpFileSink({ target });
    const { alreadyHave } = await again.open(info);
    expect(alreadyHave?.has(0)).toBe(true);
    expect(alreadyHave?.count).toBe(1);
    await again.abort({ discard: false });

    const other = new NftpFileSink({ target });
    expect(await other.open({ ...info, filehash: 5 })).toEqual({ alreadyHave: null });
    expect((await fs.stat(other.partPath)).size).toBe(0);
    await other.abort({ discard: true });
  });

  it('ignores a damaged map and starts over', async () => {
    const target = path.join(dir, 'x.bin');
    const first = new NftpFileSink({ target });
    await first.open(info);
    await first.saveBitmap(new NftpBitmap(3));
    await first.abort({ discard: false });
    const text = await fs.readFile(first.mapPath, 'utf8');
    await fs.writeFile(first.mapPath, text.replace('"blocks":3', '"blocks":4'));
    const again = new NftpFileSink({ target });
    expect(await again.open(info)).toEqual({ alreadyHave: null });
    await again.abort({ discard: true });
  });

  it('refuses to write before open', async () => {
    const sink = new NftpFileSink({ target: path.join(dir, 'x.bin') });
    await expect(sink.writeBlock(0, 0, content)).rejects.toBeInstanceOf(FtError);
  });
});

describe('nftp over files end to end', () => {
  it('sends a file from disk and receives it onto disk byte-exact through lost and reordered packets', async () => {
    const data = randomBytes(prng(21), 20_000);
    const src = path.join(dir, 'x.bin');
    await fs.writeFile(src, data);
    const source = await openNftpFileSource(src, 1000);
    const target = path.join(dir, 'out', 'x.bin');
    const rand = prng(22);
    const pair = sessionPair(data, {
      blockSize: 1000,
      source,
      sink: new NftpFileSink({ target }),
      fault: () => (rand() < 0.1 ? { drop: true } : { delayMs: Math.floor(rand() * 20) }),
    });
    await pair.run();
    await source.close();
    expect(new Uint8Array(await fs.readFile(target))).toEqual(data);
  });

  it('resumes after the sender vanished mid-transfer, keeping the blocks already on disk', async () => {
    const data = randomBytes(prng(31), 10_000);
    const target = path.join(dir, 'x.bin');
    let published = 0;
    // First attempt: the sender disappears after HELLO and 5 blocks; the receiver gives up.
    const first = sessionPair(data, {
      blockSize: 500,
      sink: new NftpFileSink({ target }),
      fault: (d) => ({ drop: d.from === 'sender' && ++published > 6 }),
    });
    const err = await first.run().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(FtError);
    expect((err as FtError).code).toBe('NFTP_NO_ANSWER');
    expect(await exists(`${target}.part.map`)).toBe(true);

    const second = sessionPair(data, { blockSize: 500, sink: new NftpFileSink({ target }) });
    const { received } = await second.run();
    expect(received.resumedBlocks).toBe(5);
    expect(new Uint8Array(await fs.readFile(target))).toEqual(data);
  });
});
