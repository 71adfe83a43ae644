// @ts-check
// Durability figures for `npm run bench` (expects dist/ built):
//   1. bytes the daemon writes to its state directory per GiB uploaded (flash wear), from the
//      daemon's own count of state writes (logged when it stops);
//   2. bytes re-sent after a `kill -9` at 50 % of an upload, from the development broker's audit
//      log (segments whose offset was already sent before the kill).
// Defaults of the config file apply (chunk and window from the broker: 512 KiB x 16 against the
// development broker's 1 MiB packets and the 8 MiB memory budget; checkpoint every 1 MiB / 2 s).
// Run alone: node scripts/bench-durability.mjs; or import { benchDurability } from bench.mjs.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { startBenchBroker } from './bench-broker.mjs';

const root = resolve(new URL('..', import.meta.url).pathname);
const dist = join(root, 'dist');
const MiB = 1024 * 1024;

function makeFile(path, size) {
  const fd = openSync(path, 'w');
  const block = Buffer.alloc(4 * MiB);
  for (let i = 0; i < block.length; i++) block[i] = (i * 131 + (i >> 12)) & 0xff;
  for (let done = 0; done < size; done += block.length) writeSync(fd, block, 0, Math.min(block.length, size - done));
  closeSync(fd);
}

function jsonLines(stream, onLine) {
  createInterface({ input: stream }).on('line', (line) => {
    try {
      onLine(JSON.parse(line));
    } catch {
      // not JSON
    }
  });
}

function startBroker(dataDir, audit) {
  // Awaited by connecting, not by its "listening" log line, and bounded by a timeout.
  return startBenchBroker(dataDir, ['--audit', audit]);
}

function agent(args, opts = {}) {
  return spawn(process.execPath, [join(dist, 'ftagent.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
}

async function run(args) {
  const child = agent(args);
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const code = await new Promise((r) => child.once('exit', r));
  if (code !== 0) throw new Error(`ftagent ${args.join(' ')} exited ${code}: ${err}`);
  return out.trim();
}

function auditSegments(path, clientId) {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l))
    .filter((l) => l.client === clientId && /^\d+$/.test(l.topic.split('/')[2] ?? ''))
    .map((l) => ({ key: `${l.topic.split('/')[1]}@${l.topic.split('/')[2]}`, bytes: l.bytes }));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Starts the daemon, resolves its 'state directory writes' figure when it stops. */
function daemon(cfg) {
  const child = agent(['run', '--config', cfg]);
  const exited = new Promise((ok) => child.once('exit', ok));
  const line = new Promise((ok) => jsonLines(child.stdout, (m) => m.msg === 'state directory writes since start' && ok(m)));
  // A daemon that stops without the line (another log level, a crash) must not hang the benchmark.
  const stats = Promise.race([line, exited.then(() => new Promise((r) => setTimeout(r, 200))).then(() => null)]).then((m) => {
    if (m === null) throw new Error('the daemon stopped without logging its state-directory writes');
    return m;
  });
  stats.catch(() => undefined); // a daemon killed with -9 is never asked for its figure
  return { child, stats, exited };
}

async function untilJobDone(cfg, id, timeoutMs = 600_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (Date.now() > deadline) throw new Error(`job ${id} not done after ${timeoutMs / 1000} s`);
    const st = JSON.parse(await run(['status', id, '--json', '--config', cfg]));
    if (st.state === 'done') return;
    if (st.state === 'failed' || st.state === 'cancelled') throw new Error(`job ${id} ${st.state}: ${st.reason}`);
    await sleep(200);
  }
}

export async function benchDurability({ wearMiB = 256, killMiB = 64 } = {}) {
  const work = mkdtempSync(join(tmpdir(), 'ftagent-bench-dur-'));
  const audit = join(work, 'audit.jsonl');
  const broker = await startBroker(join(work, 'broker'), audit);
  try {
    const config = (name) => {
      const cfg = join(work, `${name}.json`);
      writeFileSync(cfg, JSON.stringify({ brokers: [`mqtt://127.0.0.1:${broker.port}`], clientId: `bench-${name}`, stateDir: join(work, `${name}-state`), log: { level: 'info' } }));
      return cfg;
    };

    // 1. Flash wear: state-directory bytes per GiB uploaded.
    const wearCfg = config('wear');
    const wearFile = join(work, 'wear.bin');
    makeFile(wearFile, wearMiB * MiB);
    const d1 = daemon(wearCfg);
    const t0 = performance.now();
    const id1 = await run(['send', wearFile, '--queue', '--config', wearCfg]);
    await untilJobDone(wearCfg, id1);
    const seconds = (performance.now() - t0) / 1000;
    d1.child.kill('SIGTERM');
    const stats = await d1.stats;
    await d1.exited;
    const perGiB = (stats.stateBytesWritten * 1024) / wearMiB;

    // 2. kill -9 at 50 %: bytes sent again after the restart.
    const killCfg = config('kill');
    const killFile = join(work, 'kill.bin');
    const size = killMiB * MiB;
    makeFile(killFile, size);
    const id2 = await run(['send', killFile, '--queue', '--config', killCfg]);
    const d2 = daemon(killCfg);
    const halfDeadline = Date.now() + 600_000;
    for (;;) {
      if (Date.now() > halfDeadline) throw new Error('the upload never reached 50 %');
      const sent = auditSegments(audit, 'bench-kill').reduce((n, s) => n + s.bytes, 0);
      if (sent >= size / 2) break;
      await sleep(10);
    }
    d2.child.kill('SIGKILL');
    await d2.exited;
    await sleep(300);
    const before = new Set(auditSegments(audit, 'bench-kill').map((s) => s.key));
    const countBefore = auditSegments(audit, 'bench-kill').length;
    const d3 = daemon(killCfg);
    await untilJobDone(killCfg, id2);
    d3.child.kill('SIGTERM');
    await d3.exited;
    const resent = auditSegments(audit, 'bench-kill')
      .slice(countBefore)
      .filter((s) => before.has(s.key))
      .reduce((n, s) => n + s.bytes, 0);

    return {
      stateBytesPerGiB: Math.round(perGiB),
      stateWritesPerGiB: Math.round((stats.stateFilesWritten * 1024) / wearMiB),
      wearUploadMiB: wearMiB,
      wearUploadSeconds: Number(seconds.toFixed(2)),
      resentBytesAfterKillAt50: resent,
      // window x chunk (the default memory budget, 8 MiB) + the checkpoint interval.
      resentBound: 8 * MiB + MiB,
      killUploadMiB: killMiB,
    };
  } finally {
    broker.child.kill('SIGTERM');
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && pathToFileURL(resolve(process.argv[1])).href === import.meta.url) {
  const r = await benchDurability();
  console.log(`state dir writes: ${(r.stateBytesPerGiB / 1024).toFixed(1)} KiB in ${r.stateWritesPerGiB} files per GiB uploaded (${r.wearUploadMiB} MiB in ${r.wearUploadSeconds} s)`);
  console.log(
    `re-sent after kill -9 at 50 %: ${(r.resentBytesAfterKillAt50 / 1024).toFixed(0)} KiB (bound window × chunk + checkpoint interval = ${r.resentBound / 1024} KiB; ${r.killUploadMiB} MiB upload)`,
  );
  console.log(JSON.stringify(r));
}
