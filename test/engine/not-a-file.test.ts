/**
 * Only regular files whose size is what reading them gives are sent: /proc files (size 0, content
 * when read), FIFOs, devices and directories are refused with SOURCE_UNREADABLE (exit 3) saying why,
 * by `send`, `send --queue` and the opener the daemon uses for queued and watch-folder jobs; and a
 * file that has more bytes at its end than announced fails instead of being cut short.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config';
import { Daemon } from '../../src/daemon/daemon';
import { isFtError } from '../../src/errors';
import { createNodeDurableFs } from '../../src/storage/node-fs';
import { BufferPool } from '../../src/transfer/emqx-ft/buffer-pool';
import { ChunkReader } from '../../src/transfer/emqx-ft/chunk-reader';
import { nodeSourceOpener } from '../../src/transfer/source-file';
import { runCli } from '../helpers/cli-run';
import { broker, exportsOf, quietLog, until } from '../daemon/helpers';
import { MemorySource } from './helpers/memory-source';

let dir = '';
let fifo = '';
let procLink = '';
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'ftagent-notafile-'));
  fifo = path.join(dir, 'pipe');
  execFileSync('mkfifo', [fifo]);
  await mkdir(path.join(dir, 'adir'));
  // What a watch folder could hold: a name that leads to a kernel file.
  procLink = path.join(dir, 'status.txt');
  await symlink('/proc/self/status', procLink);
  await writeFile(path.join(dir, 'cfg.json'), JSON.stringify({ stateDir: path.join(dir, 'state'), log: { level: 'silent' } }));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

const cases: [string, () => string, RegExp][] = [
  ['/proc/self/status', () => '/proc/self/status', /kernel pseudo-file \(procfs\)/],
  ['a symlink to a /proc file', () => procLink, /kernel pseudo-file/],
  ['a FIFO (without waiting for a writer)', () => fifo, /FIFO/],
  ['a character device', () => '/dev/zero', /device file/],
  ['a directory', () => path.join(dir, 'adir'), /directory/],
];

describe('sending what is not a regular file', () => {
  for (const [name, file, why] of cases) {
    it(`send refuses ${name}: exit 3, SOURCE_UNREADABLE`, async () => {
      const r = await runCli(['send', file(), '--broker', 'mqtt://127.0.0.1:1'], dir);
      expect(r.code).toBe(3);
      expect(r.err).toMatch(why);
      expect(r.err).toContain('SOURCE_UNREADABLE');
    });

    it(`send --queue refuses ${name} and queues nothing`, async () => {
      const r = await runCli(['send', file(), '--queue', '--config', path.join(dir, 'cfg.json')], dir);
      expect(r.code).toBe(3);
      expect(r.err).toMatch(why);
      const status = await runCli(['status', '--json', '--config', path.join(dir, 'cfg.json')], dir);
      expect((status.json as { jobs?: unknown[] } | null)?.jobs ?? []).toEqual([]);
    });

    it(`the daemon's opener refuses ${name}`, async () => {
      const err = await nodeSourceOpener.open(file()).catch((e: unknown) => e);
      expect(isFtError(err, 'SOURCE_UNREADABLE'), String(err)).toBe(true);
      expect(String(err)).toMatch(why);
    });
  }

  it('an empty regular file is still fine', async () => {
    await writeFile(path.join(dir, 'empty'), '');
    const src = await nodeSourceOpener.open(path.join(dir, 'empty'));
    expect((await src.identity()).size).toBe(0);
    await src.close();
  });
});

describe('the announced size is what is sent', () => {
  it('fails SOURCE_CHANGED when the file has bytes past the size it started with', async () => {
    const content = Buffer.alloc(10_000, 7);
    const source = new MemorySource({ content });
    // The reader was told 8192 bytes (the size at start); the file has 10,000.
    const reader = new ChunkReader(source, 8192, 4096, new BufferPool(4096, 3));
    await reader.next();
    const err = await reader.next().catch((e: unknown) => e);
    expect(isFtError(err, 'SOURCE_CHANGED')).toBe(true);
    expect(String(err)).toMatch(/more than the 8192 bytes/);
  });

  it('reads a file of exactly the announced size to the end', async () => {
    const reader = new ChunkReader(new MemorySource({ content: Buffer.alloc(8192, 1) }), 8192, 4096, new BufferPool(4096, 3));
    expect((await reader.next())?.length).toBe(4096);
    expect((await reader.next())?.length).toBe(4096);
    expect(await reader.next()).toBeNull();
    expect(reader.sha256()).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('a watch folder', () => {
  it('fails the job of a name that leads to a /proc file and sends the regular file beside it', async () => {
    const b = await broker(path.join(dir, 'broker'));
    const watchDir = path.join(dir, 'outbox');
    await mkdir(watchDir);
    await symlink('/proc/self/status', path.join(watchDir, 'status.txt'));
    await writeFile(path.join(watchDir, 'ok.txt'), 'a regular file');
    const cfg = path.join(dir, 'watch.json');
    await writeFile(
      cfg,
      JSON.stringify({ brokers: [`mqtt://127.0.0.1:${b.port}`], clientId: 'gw-notafile', stateDir: path.join(dir, 'w-state'), watch: [{ dir: watchDir, settleMs: 0 }], log: { level: 'silent' } }),
    );
    const daemon = await Daemon.start({ config: await loadConfig(cfg), fs: createNodeDurableFs(), logger: quietLog, pollMs: 30 });
    type Listed = { file: string; state: string; reason?: string };
    const jobs = async (): Promise<Listed[]> => ((await runCli(['status', '--json', '--config', cfg], dir)).json as { jobs: Listed[] }).jobs;
    try {
      await until('both watch jobs ended', async () => (await jobs()).filter((j) => j.state === 'done' || j.state === 'failed').length === 2);
    } finally {
      await daemon.stop();
      await b.stop();
    }
    const byName = Object.fromEntries((await jobs()).map((j) => [path.basename(j.file), j]));
    expect(byName['status.txt']).toMatchObject({ state: 'failed' });
    expect(byName['status.txt']?.reason).toMatch(/^SOURCE_UNREADABLE: .*kernel pseudo-file/);
    expect(byName['ok.txt']).toMatchObject({ state: 'done' });
    expect([...exportsOf(b.dataDir, 'gw-notafile').values()].map((x) => x.toString())).toEqual(['a regular file']);
  });
});
