import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Daemon } from '../../src/daemon/daemon';
import { createLogger } from '../../src/log';
import { CrashFs } from '../helpers/crash-fs';
import { createNodeDurableFs } from '../../src/storage/node-fs';
import { Spool } from '../../src/storage/spool';
import { broker, daemonConfig, exportsOf, quietLog, sampleFile, until } from './helpers';

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'ftagent-faults-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function capture(): { logger: ReturnType<typeof createLogger>; lines: () => Array<Record<string, unknown>> } {
  let text = '';
  const stream = new Writable({
    write(chunk, _enc, done) {
      text += String(chunk);
      done();
    },
  });
  const logger = createLogger({ level: 'info', stream });
  return {
    logger,
    lines: () =>
      text
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('the daemon under faults', () => {
  it('finishes a transfer after the broker restarts mid-transfer', async () => {
    const dataDir = join(root, 'broker-restart');
    let b = await broker(dataDir);
    const port = b.port;
    const stateDir = join(root, 'state-restart');
    const fs = createNodeDurableFs();
    const spool = await Spool.open(fs, stateDir);
    mkdirSync(join(root, 'src'), { recursive: true });
    const bytes = sampleFile(join(root, 'src/restart.bin'), 3 * 1024 * 1024);
    const id = await spool.enqueue({ kind: 'upload', file: join(root, 'src/restart.bin') });
    const config = await daemonConfig(stateDir, port, { checkpoint: { everyBytes: 65536, everyMs: 60_000 } });
    const daemon = await Daemon.start({ config, fs, logger: quietLog, pollMs: 50, reconnectBackoff: { baseMs: 50, capMs: 200 } });
    try {
      await until('some progress', async () => ((await spool.readCheckpoint(id))?.confirmed[0]?.[1] ?? 0) >= 256 * 1024);
      await b.stop();
      b = await broker(dataDir, { port });
      await until('job done', async () => (await spool.get(id))?.state === 'done', 30_000, 50);
    } finally {
      await daemon.stop();
      await b.stop();
    }
    expect(exportsOf(dataDir, 'gw-daemon').get(id)?.equals(bytes)).toBe(true);
  });

  it('reports a full state directory clearly and neither loses the job nor marks it done', async () => {
    const dataDir = join(root, 'broker-full');
    const b = await broker(dataDir);
    const disk = new CrashFs();
    const stateDir = '/state';
    const spool = await Spool.open(disk.durableFs, stateDir);
    const bytes = sampleFile(join(root, 'src-full.bin'), 200_000);
    const id = await spool.enqueue({ kind: 'upload', file: join(root, 'src-full.bin') });
    // Room for the job's first records, not for the checkpoints that follow.
    disk.limitSpace(1200);
    const log = capture();
    const config = await daemonConfig(stateDir, b.port);
    const daemon = await Daemon.start({ config, fs: disk.durableFs, logger: log.logger, pollMs: 20, retryBackoff: { baseMs: 20, capMs: 50 } });
    try {
      await until('a DISK_FULL error in the log', () => log.lines().some((l) => l.code === 'DISK_FULL'));
    } finally {
      await daemon.stop();
    }
    const reported = log.lines().find((l) => l.code === 'DISK_FULL');
    expect(String(reported?.err)).toMatch(/no space left to write \/state\/.*free space/);
    expect(['queued', 'active']).toContain((await spool.get(id))?.state);

    // Space is back (a fresh disk holding what was durable): the job completes.
    const after = disk.reboot();
    const spool2 = await Spool.open(after.durableFs, stateDir);
    const daemon2 = await Daemon.start({ config, fs: after.durableFs, logger: quietLog, pollMs: 20 });
    try {
      await until('job done', async () => (await spool2.get(id))?.state === 'done');
    } finally {
      await daemon2.stop();
      await b.stop();
    }
    expect(exportsOf(dataDir, 'gw-daemon').get(id)?.equals(bytes)).toBe(true);
  });

  it('restarts a job from zero when its checkpoint is damaged, and moves a damaged job file aside', async () => {
    const dataDir = join(root, 'broker-corrupt');
    const b = await broker(dataDir);
    const fs = createNodeDurableFs();
    const stateDir = join(root, 'state-corrupt');
    const spool = await Spool.open(fs, stateDir);
    const bytes = sampleFile(join(root, 'src-corrupt.bin'), 30_000);
    const good = await spool.enqueue({ kind: 'upload', file: join(root, 'src-corrupt.bin') });
    const bad = await spool.enqueue({ kind: 'upload', file: join(root, 'src-corrupt.bin') });
    await spool.markActive(good);
    await fs.writeFileAtomic(spool.checkpointPath(good), new TextEncoder().encode('ftagent-record v1 checkpoint/1 12 00\n{"torn":'));
    await fs.writeFileAtomic(join(spool.jobsDir, `${bad}.job`), new TextEncoder().encode('garbage'));
    const log = capture();
    const daemon = await Daemon.start({ config: await daemonConfig(stateDir, b.port), fs, logger: log.logger, pollMs: 20 });
    try {
      await until('good job done', async () => (await spool.get(good))?.state === 'done');
    } finally {
      await daemon.stop();
      await b.stop();
    }
    expect(exportsOf(dataDir, 'gw-daemon').get(good)?.equals(bytes)).toBe(true);
    const quarantined = await fs.list(spool.quarantineDir);
    expect(quarantined.some((n) => n.endsWith(`checkpoints-${good}`))).toBe(true);
    expect(quarantined.some((n) => n.endsWith(`jobs-${bad}.job`))).toBe(true);
    const moved = log.lines().filter((l) => l.msg === 'moved a damaged state file aside');
    expect(moved.map((l) => String(l.reason)).join('\n')).toMatch(/malformed header|no header/);
  });
});
