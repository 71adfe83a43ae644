import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Daemon } from '../../src/daemon/daemon';
import { createNodeDurableFs } from '../../src/storage/node-fs';
import { Spool } from '../../src/storage/spool';
import { runCli } from '../helpers/cli-run';
import { broker, daemonConfig, exportsOf, quietLog, sampleFile, until } from './helpers';

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'ftagent-cliq-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function writeConfig(name: string, port: number, extra: Record<string, unknown> = {}): { cfg: string; stateDir: string } {
  const stateDir = join(root, `${name}-state`);
  const cfg = join(root, `${name}.json`);
  writeFileSync(cfg, JSON.stringify({ brokers: [`mqtt://127.0.0.1:${port}`], clientId: 'gw-cli', stateDir, upload: { chunkSize: 4096 }, log: { level: 'silent' }, ...extra }));
  return { cfg, stateDir };
}

describe('send --queue, status and cancel', () => {
  it('queues without a daemon, shows the job, and --wait exits 0 once the daemon has sent it', async () => {
    const b = await broker(join(root, 'b1'));
    const { cfg, stateDir } = writeConfig('c1', b.port);
    const bytes = sampleFile(join(root, 'q.bin'), 50_000);
    const queued = await runCli(['send', 'q.bin', '--queue', '--config', cfg, '--name', 'renamed.bin'], root);
    expect(queued.code, queued.err).toBe(0);
    const id = queued.out.trim();
    expect(id).toMatch(/^[0-9a-z]{11}-[0-9a-f]{8}$/);
    const status = await runCli(['status', '--json', '--config', cfg], root);
    expect(status.json).toMatchObject({ daemonPid: null, jobs: [{ id, state: 'queued', file: join(root, 'q.bin') }] });

    const config = await daemonConfig(stateDir, b.port, { clientId: 'gw-cli' });
    const waiting = runCli(['send', 'q.bin', '--queue', '--wait', '--json', '--config', cfg], root);
    const daemon = await Daemon.start({ config, fs: createNodeDurableFs(), logger: quietLog, pollMs: 50 });
    try {
      const waited = await waiting;
      expect(waited.code, waited.err).toBe(0);
      expect(waited.json).toMatchObject({ ok: true, state: 'done', exitStatus: 0 });
      await until('first job done', async () => (await runCli(['status', id, '--json', '--config', cfg], root)).json?.state === 'done');
    } finally {
      await daemon.stop();
      await b.stop();
    }
    const one = await runCli(['status', id, '--config', cfg], root);
    expect(one.out).toMatch(new RegExp(`^${id}  done .*sent as file id ${id}, name renamed.bin`));
    expect(exportsOf(b.dataDir, 'gw-cli').get(id)?.equals(bytes)).toBe(true);
  });

  it('fails a job whose file disappeared, with the reason', async () => {
    const b = await broker(join(root, 'b2'));
    const { cfg, stateDir } = writeConfig('c2', b.port);
    sampleFile(join(root, 'gone.bin'), 1000);
    const queued = await runCli(['send', 'gone.bin', '--queue', '--config', cfg], root);
    rmSync(join(root, 'gone.bin'));
    const config = await daemonConfig(stateDir, b.port, { clientId: 'gw-cli' });
    const daemon = await Daemon.start({ config, fs: createNodeDurableFs(), logger: quietLog, pollMs: 50 });
    try {
      await until('failed', async () => (await runCli(['status', queued.out.trim(), '--json', '--config', cfg], root)).json?.state === 'failed');
    } finally {
      await daemon.stop();
      await b.stop();
    }
    const st = await runCli(['status', queued.out.trim(), '--json', '--config', cfg], root);
    expect(String(st.json?.reason)).toMatch(/^SOURCE_UNREADABLE: .*does not exist/);
  });

  it('refuses connection flags with --queue and unknown jobs in status and cancel', async () => {
    const { cfg } = writeConfig('c3', 1);
    sampleFile(join(root, 'x.bin'), 10);
    const r = await runCli(['send', 'x.bin', '--queue', '--broker', 'mqtt://h:1', '--config', cfg], root);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--broker does not apply with --queue/);
    expect((await runCli(['status', 'lx2k9a1b00-3f9a1c0d', '--config', cfg], root)).code).toBe(2);
    expect((await runCli(['cancel', 'lx2k9a1b00-3f9a1c0d', '--config', cfg], root)).code).toBe(2);
  });

  it('cancel without a daemon leaves a request the daemon acts on at start', async () => {
    const b = await broker(join(root, 'b4'));
    const { cfg, stateDir } = writeConfig('c4', b.port);
    sampleFile(join(root, 'c.bin'), 1000);
    const id = (await runCli(['send', 'c.bin', '--queue', '--config', cfg], root)).out.trim();
    const c = await runCli(['cancel', id, '--config', cfg], root);
    expect(c.code, c.err).toBe(0);
    expect(c.out).toMatch(/cancelled when the daemon starts/);
    const daemon = await Daemon.start({ config: await daemonConfig(stateDir, b.port), fs: createNodeDurableFs(), logger: quietLog, pollMs: 50 });
    try {
      await until('cancelled', async () => (await runCli(['status', id, '--json', '--config', cfg], root)).json?.state === 'cancelled');
    } finally {
      await daemon.stop();
      await b.stop();
    }
    expect((await runCli(['cancel', id, '--config', cfg], root)).out).toMatch(/already cancelled/);
  });
});

describe('watch folders', () => {
  it('queues settled files once, deletes them after success, and queues nothing twice after a restart', async () => {
    const b = await broker(join(root, 'bw'));
    const watchDir = join(root, 'outbox');
    mkdirSync(watchDir);
    const stateDir = join(root, 'w-state');
    const config = await daemonConfig(stateDir, b.port, {
      clientId: 'gw-watch',
      watch: [
        { dir: watchDir, pattern: '*.jpg', settleMs: 0, afterSuccess: 'delete' },
        { dir: join(root, 'keepbox'), pattern: '*', settleMs: 0, afterSuccess: 'keep' },
      ],
    });
    mkdirSync(join(root, 'keepbox'));
    const a = sampleFile(join(watchDir, 'a.jpg'), 20_000, 3);
    sampleFile(join(watchDir, 'skip.txt'), 100);
    const k = sampleFile(join(root, 'keepbox', 'k.bin'), 5000, 4);
    const fs = createNodeDurableFs();
    let daemon = await Daemon.start({ config, fs, logger: quietLog, pollMs: 30 });
    try {
      await until('a.jpg sent and deleted', () => !existsSync(join(watchDir, 'a.jpg')) && exportsOf(b.dataDir, 'gw-watch').size === 2);
    } finally {
      await daemon.stop();
    }
    expect(readdirSync(watchDir)).toEqual(['skip.txt']);
    expect(existsSync(join(root, 'keepbox', 'k.bin'))).toBe(true);
    // A restart must not queue the kept file again. A file added after the restart is the witness:
    // the scan that queues it has also seen k.bin (in the same folder, settled for longer), so once
    // its job is done any second job for k.bin would already be in the spool.
    daemon = await Daemon.start({ config, fs, logger: quietLog, pollMs: 30 });
    try {
      sampleFile(join(root, 'keepbox', 'later.bin'), 3000, 5);
      const finished = (): string[] => readdirSync(join(stateDir, 'finished')).filter((n) => n.endsWith('.job'));
      await until('the job of later.bin finished', () => finished().length === 3);
    } finally {
      await daemon.stop();
    }
    await b.stop();
    const spool = await Spool.open(fs, stateDir);
    expect(await spool.list()).toEqual([]);
    expect((await spool.listFinished()).map((j) => basename(j.spec.file)).sort()).toEqual(['a.jpg', 'k.bin', 'later.bin']);
    const exported = [...exportsOf(b.dataDir, 'gw-watch').values()];
    expect(exported).toHaveLength(3);
    expect(exported.some((x) => x.equals(a))).toBe(true);
    expect(exported.some((x) => x.equals(k))).toBe(true);
  });
});
