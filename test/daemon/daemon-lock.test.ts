import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../helpers/free-port';
import { agentBundle, ensureFreshBundles } from '../helpers/fresh-bundles';
import { runCli } from '../helpers/cli-run';

/**
 * One daemon per state directory, as users see it: a second `ftagent run` on the same state
 * directory is refused while the first lives; one killed with SIGKILL (no chance to clean up) does
 * not keep the directory locked; a daemon that stops cleanly frees it. Real processes of the bundle.
 */
let root: string;
const children: ChildProcess[] = [];
beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'ftagent-lock-'));
  await ensureFreshBundles();
}, 120_000);
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

interface Daemon {
  child: ChildProcess;
  exit: Promise<number | null>;
  stderr(): string;
  /** Resolves once it logged that it started (its signal handlers are in place from then on). */
  started: Promise<void>;
}

function startDaemon(cfg: string): Daemon {
  // The broker is away: the daemon keeps trying, which is all this test needs of it.
  const child = spawn(process.execPath, [agentBundle, 'run', '--config', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let err = '';
  let out = '';
  child.stderr?.on('data', (d) => (err += String(d)));
  const started = new Promise<void>((resolve) => {
    child.stdout?.on('data', (d) => {
      out += String(d);
      if (out.includes('"daemon started"')) resolve();
    });
  });
  return { child, started, exit: new Promise((done) => child.once('exit', (code) => done(code))), stderr: () => err };
}

async function daemonPid(cfg: string): Promise<number | null> {
  const r = await runCli(['status', '--json', '--config', cfg], root);
  return (r.json as { daemonPid: number | null }).daemonPid;
}

describe('the daemon lock', () => {
  it('admits one daemon per state directory, recovers from a killed one, and is freed by a clean stop', async () => {
    const cfg = join(root, 'config.json');
    writeFileSync(cfg, JSON.stringify({ brokers: [`mqtt://127.0.0.1:${await freePort()}`], clientId: 'gw-lock', stateDir: join(root, 'state'), log: { level: 'info' } }));

    const first = startDaemon(cfg);
    await first.started;
    expect(await daemonPid(cfg)).toBe(first.child.pid);

    const second = startDaemon(cfg);
    expect(await second.exit, second.stderr()).toBe(2);
    expect(second.stderr()).toContain(String(first.child.pid));
    expect(await daemonPid(cfg)).toBe(first.child.pid);

    first.child.kill('SIGKILL');
    await first.exit;
    // Its lock is left behind, but no live daemon holds it.
    expect(await daemonPid(cfg)).toBe(null);

    // The killed daemon's lock is recovered, and a clean stop frees the directory for the next one.
    for (let round = 0; round < 2; round++) {
      const next = startDaemon(cfg);
      await next.started;
      expect(await daemonPid(cfg)).toBe(next.child.pid);
      next.child.kill('SIGTERM');
      expect(await next.exit, next.stderr()).toBe(0);
      expect(await daemonPid(cfg)).toBe(null);
    }
  });
});
