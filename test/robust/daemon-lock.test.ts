/**
 * One daemon per state directory, with real processes: parallel starts leave exactly one, and a
 * stale lock whose pid now belongs to an unrelated process never blocks a start.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentBundle, ensureFreshBundles } from '../helpers/fresh-bundles';

let root: string;
let deadPort: number;
beforeAll(async () => {
  await ensureFreshBundles();
  root = mkdtempSync(join(tmpdir(), 'ftagent-lock-'));
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  deadPort = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function stateFor(name: string): { config: string; stateDir: string } {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  const stateDir = join(dir, 'state');
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ brokers: [`mqtt://127.0.0.1:${deadPort}`], clientId: `gw-${name}`, stateDir, log: { level: 'info' } }));
  return { config, stateDir };
}

interface Daemon {
  child: ChildProcess;
  exited: Promise<number | null>;
  out: () => string;
}

function startDaemon(config: string): Daemon {
  const child = spawn(process.execPath, [agentBundle, 'run', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '' } });
  let out = '';
  child.stdout?.on('data', (d) => (out += String(d)));
  child.stderr?.on('data', (d) => (out += String(d)));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, exited, out: () => out };
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
  return true;
}

const lockPid = (stateDir: string): number => (JSON.parse(readFileSync(join(stateDir, 'daemon.pid'), 'utf8')) as { pid: number }).pid;

async function stop(d: Daemon): Promise<number | null> {
  d.child.kill('SIGTERM');
  return d.exited;
}

describe('the daemon lock', () => {
  it('leaves exactly one daemon in 50 of 50 trials of 3 parallel starts', { timeout: 600_000 }, async () => {
    const trials = 50;
    const perTrial = 3;
    const outcomes: string[] = [];
    const trial = async (t: number): Promise<void> => {
      const { config, stateDir } = stateFor(`trial-${t}`);
      const daemons = Array.from({ length: perTrial }, () => startDaemon(config));
      const codes = new Map<Daemon, number | null>();
      for (const d of daemons) void d.exited.then((c) => codes.set(d, c));
      // The losers see the lock and exit 2 on their own; the winner runs until stopped.
      await until(() => codes.size >= perTrial - 1, 60_000);
      await new Promise((r) => setTimeout(r, 300));
      const alive = daemons.filter((d) => !codes.has(d));
      const losers = [...codes.values()];
      const holder = alive.length === 1 ? lockPid(stateDir) : -1;
      outcomes.push(`${alive.length} alive, losers exited ${losers.join(',')}, lock names the survivor: ${holder === alive[0]?.child.pid}`);
      await Promise.all(alive.map((d) => stop(d)));
    };
    // A few trials at a time keeps the machine usable.
    for (let t = 0; t < trials; t += 5) await Promise.all([0, 1, 2, 3, 4].filter((i) => t + i < trials).map((i) => trial(t + i)));
    expect(outcomes).toEqual(Array.from({ length: trials }, () => '1 alive, losers exited 2,2, lock names the survivor: true'));
  });

  it('a lock naming a live daemon refuses a second start with exit 2 and says which pid', { timeout: 60_000 }, async () => {
    const { config, stateDir } = stateFor('second');
    const first = startDaemon(config);
    try {
      expect(await until(() => first.out().includes('daemon started'), 30_000)).toBe(true);
      const second = startDaemon(config);
      expect(await second.exited).toBe(2);
      expect(second.out()).toContain(`another ftagent daemon (pid ${first.child.pid}) already runs on state directory ${stateDir}`);
    } finally {
      expect(await stop(first)).toBe(0);
    }
  });

  for (const [label, lockText] of [
    ['its recorded start time differs', (pid: number) => `${JSON.stringify({ pid, start: '1', boot: null, token: 'x' })}\n`],
    ['the old plain-pid format', (pid: number) => `${pid}\n`],
    ['written before this boot', (pid: number) => `${JSON.stringify({ pid, start: null, boot: 'another-boot', token: 'x' })}\n`],
  ] as const) {
    it(`a stale lock (${label}) whose pid now belongs to an unrelated process (ftagent send, sleep) does not block a start`, { timeout: 60_000 }, async () => {
      const { config, stateDir } = stateFor(`stale-${label.length}`);
      mkdirSync(stateDir, { recursive: true, mode: 0o700 });
      // A live process that is not a daemon: what a pid becomes after a power cut and reuse.
      const unrelated = spawn(process.execPath, [agentBundle, 'send', '/nonexistent', '--broker', `mqtt://127.0.0.1:${deadPort}`], { stdio: 'ignore' });
      const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
      try {
        for (const other of [unrelated, sleeper]) {
          writeFileSync(join(stateDir, 'daemon.pid'), lockText(other.pid!));
          const d = startDaemon(config);
          const started = await until(() => d.out().includes('daemon started'), 30_000);
          expect(started, d.out()).toBe(true);
          expect(lockPid(stateDir)).toBe(d.child.pid);
          expect(await stop(d)).toBe(0);
        }
      } finally {
        unrelated.kill('SIGKILL');
        sleeper.kill('SIGKILL');
      }
    });
  }
});
