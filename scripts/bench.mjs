// `npm run bench` (not a test): every benchmark of the agent in one run, then one summary table
// with each figure's target and a pass/miss mark. Always exits 0: benchmarks are measurements.
//
//   node scripts/bench.mjs [--small-heap] [--skip-durability] [--skip-emqx] [--runs N] [--size-mib 256]
//
// 1. against the floor (scripts/bench-floor.mjs): ftagent vs scripts/floor-client.mjs on the
//    development broker in --sink mode (throughput, CPU-s, peak RSS at the same chunk and window),
//    ftagent's defaults vs 64 KiB there, and on real EMQX 5.3.2 when Erlang is installed.
// 2. peak RSS of `ftagent send` with its defaults for a 16 MiB and a 1 GiB file (memory must not
//    grow with size), with Node's defaults and with the systemd unit's flags (32 MiB heap).
// 3. startup: scripts/bench-startup.mjs (cold start vs `node -e 0`, bundle size).
// 4. durability: scripts/bench-durability.mjs (state-dir bytes per GiB, bytes re-sent after kill -9).
// 5. --small-heap: scripts/bench-small-heap.mjs, a 1 GiB upload with --max-old-space-size 32 and 16
//    (takes a few minutes, so it is optional).
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { benchDurability } from './bench-durability.mjs';
import { scratchDir, startBenchBroker } from './bench-broker.mjs';
import { agentSend, benchEmqx, benchSinkBroker } from './bench-floor.mjs';

const root = resolve(new URL('..', import.meta.url).pathname);
const agentBundle = join(root, 'dist', 'ftagent.js');
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : fallback;
};
// Interleaved runs, medians compared: a shared 2-core machine's pace varies run to run.
const runs = Math.max(1, Number(option('--runs', '3')));
const withEmqx = !args.includes('--skip-emqx');
const withSmallHeap = args.includes('--small-heap');
const withDurability = !args.includes('--skip-durability');

const MiB = 1024 * 1024;
const THROUGHPUT_MIB = Number(option('--size-mib', '256'));
const RSS_TARGET_MIB = 72;
const RSS_SPREAD = 0.1;

/** One row of the summary: what, the figure, the target, and whether it was met (null: not measured). */
const rows = [];
const row = (section, figure, target, ok) => rows.push({ section, figure, target, ok });
const failed = (section, err) => {
  console.error(`bench: ${section} failed: ${err instanceof Error ? err.message : String(err)}`);
  row(section, 'failed to run', '', null);
};

function makeFile(dir, name, size) {
  const path = join(dir, name);
  const fd = openSync(path, 'w');
  const block = Buffer.alloc(4 * MiB);
  for (let i = 0; i < block.length; i++) block[i] = (i * 131 + (i >> 12)) & 0xff;
  for (let done = 0; done < size; done += block.length) writeSync(fd, block, 0, Math.min(block.length, size - done));
  closeSync(fd);
  return path;
}

/** The V8 flags the systemd unit runs the agent with (scripts/systemd/ftagent.service.in, default heap). */
function deviceNodeFlags() {
  const unit = readFileSync(join(root, 'scripts', 'systemd', 'ftagent.service.in'), 'utf8');
  const exec = /^ExecStart=@NODE@ (.*?) @PREFIX@\/ftagent\.js/m.exec(unit)?.[1] ?? '';
  const heapMb = /^heap_mb=(\d+)$/m.exec(readFileSync(join(root, 'scripts', 'install.sh'), 'utf8'))?.[1] ?? '32';
  return exec.replaceAll('@HEAP_MB@', heapMb).split(/\s+/).filter(Boolean);
}

/** Child benchmark script with --json: its last JSON line. */
function runScript(script, scriptArgs, env = {}) {
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, [join(root, 'scripts', script), ...scriptArgs], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.once('exit', (code) => {
      const line = out
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .pop();
      try {
        ok(JSON.parse(line ?? ''));
      } catch {
        fail(new Error(`${script} exited ${code} without a JSON result`));
      }
    });
  });
}

const fmt = (n, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '?');

// ------------------------------------------------------------------ 1 + 2: against the floor, RSS
async function throughputAndRss() {
  // Room for the 1 GiB file, the broker's segments of it and its export.
  const scratch = scratchDir(3.5 * 1024 * MiB);
  const work = mkdtempSync(join(scratch.dir, 'ftagent-bench-'));
  const dataDir = join(work, 'broker');
  console.log(`broker data and files in ${scratch.dir}${scratch.tmpfs ? ' (tmpfs)' : " (not tmpfs: the broker's disk writes may dominate)"}`);
  const file = makeFile(work, 'bench-256.bin', THROUGHPUT_MIB * MiB);
  const floorArgs = { work, file, sizeMiB: THROUGHPUT_MIB, runs, row, failed };
  await benchSinkBroker(floorArgs);
  if (withEmqx) await benchEmqx(floorArgs);
  else row('real EMQX', 'skipped (--skip-emqx)', '', null);
  rmSync(file);
  // Memory of the sender only: the broker keeps no segment payloads.
  const broker = await startBenchBroker(dataDir, ['--log-level', 'warn', '--sink']);
  // An export is not needed once its upload is confirmed: keep tmpfs usage small.
  const dropBrokerFiles = () => rmSync(join(dataDir, 'exports'), { recursive: true, force: true });
  try {
    // Twice: with Node's defaults, and with the flags the systemd unit uses on devices (V8 grows its
    // young generation once, up to 16 MiB per semi-space, unless told not to).
    try {
      // The third pair tells JIT warm-up from growth: a 16 MiB upload ends before V8's optimizing
      // compiler runs, whose working memory (malloc'd, kept by the allocator) a longer upload pays
      // once; without it the two sizes show what grows with the file.
      for (const [label, flags] of /** @type {[string, string[]][]} */ ([
        ['node defaults', []],
        [`unit flags ${deviceNodeFlags().join(' ')}`, deviceNodeFlags()],
        ['--no-opt, diagnostic: no optimizing compiler', ['--no-opt']],
      ])) {
        const small = await agentSend(broker.port, makeFile(work, 'rss-16.bin', 16 * MiB), 'rss-16', { nodeFlags: flags });
        rmSync(join(work, 'rss-16.bin'));
        dropBrokerFiles();
        const big = await agentSend(broker.port, makeFile(work, 'rss-1g.bin', 1024 * MiB), 'rss-1g', { nodeFlags: flags });
        rmSync(join(work, 'rss-1g.bin'));
        dropBrokerFiles();
        const spread = (big.rssMiB - small.rssMiB) / small.rssMiB;
        row(
          `peak RSS of send with its defaults, 16 MiB vs 1 GiB (Node ${process.versions.node}, ${label})`,
          `${fmt(small.rssMiB)} vs ${fmt(big.rssMiB)} MiB (${spread >= 0 ? '+' : ''}${fmt(spread * 100)} %)`,
          `within ${RSS_SPREAD * 100} %, < ${RSS_TARGET_MIB} MiB`,
          Math.abs(spread) <= RSS_SPREAD && big.rssMiB < RSS_TARGET_MIB && small.rssMiB < RSS_TARGET_MIB,
        );
        if (flags.join(' ') === deviceNodeFlags().join(' ')) row(`1 GiB upload with the unit's flags (${flags.join(' ')})`, `done, ${fmt(1024 / big.seconds, 0)} MiB/s`, 'completes', true);
      }
    } catch (err) {
      failed('peak RSS', err);
    }
  } finally {
    await broker.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ 3: startup
async function startup() {
  try {
    const r = await runScript('bench-startup.mjs', ['--json']);
    const floor = r.startup.find((s) => s.note === 'floor');
    for (const s of r.startup) {
      if (s === floor) continue;
      row(`startup: ${s.case}`, s.medianMs === null ? s.note : `${fmt(s.medianMs)} ms = ${fmt(s.ratio, 2)}× node -e 0 (${fmt(floor?.medianMs)} ms)`, '≤ 2×', s.ratio === null ? false : s.ratio <= 2);
    }
    row('bundle size', `${r.size.kib} KiB (${r.size.gzippedKib} KiB gzipped)`, `≤ ${r.size.budgetKib} KiB`, r.size.ok);
  } catch (err) {
    failed('startup', err);
  }
}

// ------------------------------------------------------------------ 4: durability
async function durability() {
  if (!withDurability) {
    row('durability', 'skipped (--skip-durability)', '', null);
    return;
  }
  try {
    const r = await benchDurability();
    const perGiBMiB = r.stateBytesPerGiB / MiB;
    row('state-dir writes per GiB uploaded', `${fmt(perGiBMiB, 2)} MiB in ${r.stateWritesPerGiB} files`, '≤ 1 MiB', perGiBMiB <= 1);
    row(
      `re-sent after kill -9 at 50 % (${r.killUploadMiB} MiB upload)`,
      `${fmt(r.resentBytesAfterKillAt50 / 1024, 0)} KiB`,
      `≤ ${r.resentBound / 1024} KiB (window × chunk + checkpoint interval)`,
      r.resentBytesAfterKillAt50 <= r.resentBound,
    );
  } catch (err) {
    failed('durability', err);
  }
}

// ------------------------------------------------------------------ 5: small heap (optional)
async function smallHeap() {
  if (!withSmallHeap) {
    row('1 GiB upload with a small heap', 'skipped (pass --small-heap)', '', null);
    return;
  }
  try {
    const scratch = scratchDir(3.5 * 1024 * MiB);
    const r = await runScript('bench-small-heap.mjs', ['--json', '--heaps', '32,16', '--size-mib', '1024'], { TMPDIR: scratch.dir });
    for (const h of r.results) {
      row(`1 GiB upload, --max-old-space-size=${h.heapMiB}`, h.ok ? `ok, ${fmt(h.mibPerSecond, 0)} MiB/s, peak RSS ${fmt(h.peakRssMiB)} MiB` : h.note, 'completes, export identical', h.ok);
    }
  } catch (err) {
    failed('small heap', err);
  }
}

if (!existsSync(agentBundle)) {
  console.error('bench: dist/ftagent.js is missing; run `npm run build` first');
} else {
  await throughputAndRss();
  await startup();
  await durability();
  await smallHeap();
}

const mark = (ok) => (ok === null ? '-' : ok ? 'pass' : 'MISS');
const w0 = Math.max(...rows.map((r) => r.section.length), 7);
const w1 = Math.max(...rows.map((r) => r.figure.length), 6);
const w2 = Math.max(...rows.map((r) => r.target.length), 6);
console.log('');
console.log(`summary (Node ${process.version})`);
console.log(`  ${'measure'.padEnd(w0)}  ${'result'.padEnd(w1)}  ${'target'.padEnd(w2)}  mark`);
for (const r of rows) console.log(`  ${r.section.padEnd(w0)}  ${r.figure.padEnd(w1)}  ${r.target.padEnd(w2)}  ${mark(r.ok)}`);
process.exitCode = 0;
