/**
 * The daemon (`ftagent run`, the bundle, as a real process) uploading to the real EMQX 5.3.2
 * through a byte-counting proxy: `send --queue --wait`, and `kill -9` mid-upload and during fin
 * with restarts, where the bytes sent again after each restart stay within the README's bound
 * (window × chunk + checkpoint.everyBytes).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createNodeDurableFs } from '../../src/storage/node-fs';
import { Spool } from '../../src/storage/spool';
import { runCli } from '../helpers/cli-run';
import { writeContentFile } from '../helpers/content';
import { expectEmqxExport, useEmqxSuite } from '../helpers/emqx';
import { agentBundle, ensureFreshBundles } from '../helpers/fresh-bundles';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy';

const CHUNK = 16_384;
const WINDOW = 8;
const EVERY_BYTES = 256 * 1024;
const BOUND = WINDOW * CHUNK + EVERY_BYTES;

const suite = useEmqxSuite();
let proxy: TcpProxy | undefined;
let daemon: ChildProcess | undefined;
let seq = 0;

afterEach(async () => {
  daemon?.kill('SIGKILL');
  daemon = undefined;
  await proxy?.close();
  proxy = undefined;
});

/** A daemon config in a fresh folder, its broker the proxy in front of EMQX. */
async function setup(clientId: string) {
  await ensureFreshBundles();
  proxy = await startTcpProxy(suite.emqx.port);
  const root = join(suite.dir, `daemon-${++seq}`);
  mkdirSync(root);
  const stateDir = join(root, 'state');
  const config = join(root, 'config.json');
  writeFileSync(
    config,
    JSON.stringify({
      brokers: [proxy.url],
      clientId,
      stateDir,
      upload: { chunkSize: CHUNK, window: WINDOW },
      checkpoint: { everyBytes: EVERY_BYTES, everyMs: 600_000 },
      log: { level: 'warn' },
    }),
  );
  return { root, stateDir, config, proxy };
}

function boot(config: string): { exit: Promise<number | null>; stderr: () => string } {
  let stderr = '';
  const child = spawn(process.execPath, [agentBundle, 'run', '--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr?.on('data', (d) => (stderr += String(d)));
  daemon = child;
  return { exit: new Promise((done) => child.once('exit', (code) => done(code))), stderr: () => stderr };
}

async function until(what: string, cond: () => Promise<boolean>, limitMs = 120_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}\n${suite.emqx.logTail()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the daemon on EMQX 5.3.2', () => {
  it('send --queue --wait returns once EMQX has the file, exported byte-exact', async () => {
    const clientId = `daemon-q-${process.pid}`;
    const { root, config } = await setup(clientId);
    const file = join(root, 'queued.bin');
    const sha = await writeContentFile(file, 3 * 1024 * 1024 + 5, 11);
    const running = boot(config);
    const run = await runCli(['send', file, '--queue', '--wait', '--config', config, '--json'], root);
    expect(run.code, `${run.err}\n${running.stderr()}`).toBe(0);
    expect(run.json).toMatchObject({ ok: true, state: 'done' });
    // A daemon job's file id is its job id.
    await expectEmqxExport(suite.emqx, clientId, String(run.json?.job), sha, 3 * 1024 * 1024 + 5);
    daemon?.kill('SIGTERM');
    expect(await running.exit).toBe(0);
  }, 120_000);

  it('survives kill -9 mid-upload (twice) and during fin; after each restart at most window × chunk + everyBytes is sent again', async () => {
    const clientId = `daemon-k9-${process.pid}`;
    const { root, stateDir, config, proxy: p } = await setup(clientId);
    const size = 12 * 1024 * 1024 + 77;
    const file = join(root, 'big.bin');
    const sha = await writeContentFile(file, size, 12);
    const spool = await Spool.open(createNodeDurableFs(), stateDir);
    const jobId = await spool.enqueue({ kind: 'upload', file });

    // Kill when this boot has sent `killAfter` more segment bytes, or at the first fin.
    let killAfter = Number.POSITIVE_INFINITY;
    let killAtFin = false;
    let bootStart = 0;
    p.onPublish((topic) => {
      if (!daemon) return;
      if (p.counters.segmentBytes - bootStart >= killAfter) daemon.kill('SIGKILL');
      else if (killAtFin && /\/fin(\/|$)/.test(topic)) daemon.kill('SIGKILL');
    });
    const againPerBoot: number[] = [];
    const runBoot = async (): Promise<number | null> => {
      bootStart = p.counters.segmentBytes;
      const before = p.counters.segmentBytesAgain;
      const exit = await boot(config).exit;
      againPerBoot.push(p.counters.segmentBytesAgain - before);
      return exit;
    };

    killAfter = 3 * 1024 * 1024;
    expect(await runBoot()).toBe(null);
    killAfter = 4 * 1024 * 1024;
    expect(await runBoot()).toBe(null);
    killAfter = Number.POSITIVE_INFINITY;
    killAtFin = true;
    expect(await runBoot()).toBe(null);
    killAtFin = false;
    const last = boot(config);
    const lastStart = p.counters.segmentBytesAgain;
    await until('the job done', async () => (await spool.get(jobId))?.state === 'done');
    againPerBoot.push(p.counters.segmentBytesAgain - lastStart);
    daemon?.kill('SIGTERM');
    expect(await last.exit, last.stderr()).toBe(0);

    await expectEmqxExport(suite.emqx, clientId, jobId, sha, size);
    // The first boot starts from nothing; each later one re-sends at most the bound.
    expect(againPerBoot[0]).toBe(0);
    for (const again of againPerBoot.slice(1)) expect(again).toBeLessThanOrEqual(BOUND);
    expect(p.counters.segmentBytesAgain).toBeLessThanOrEqual(3 * BOUND);
    expect(againPerBoot).toHaveLength(4);
    console.log(`daemon kill -9 on EMQX: ${size} bytes, ${p.counters.segmentBytes} segment bytes sent, again per boot ${againPerBoot.join(', ')} (bound ${BOUND})`);
  }, 240_000);
});
