// @ts-check
// Does the agent upload a large file with a tiny JavaScript heap? Runs
// `node --max-old-space-size=N dist/ftagent.js send FILE --json` against the development broker
// (native, loopback) for a list of N, checks the broker's export byte for byte (sha256), and reports
// wall time, throughput and the process's peak resident memory. Ends with the smallest heap that held.
//
//   node scripts/bench-small-heap.mjs [--size-mib 1024] [--heaps 32,24,16,12,8] [--sparse]
//        [--extra "--max-semi-space-size=1"] [--node PATH] [--timeout-s 900] [--json]
//
// --sparse uploads a file of zeros made with truncate (instant, no disk cost for the source);
// the default is random bytes. Scratch lives in the system temporary directory and is removed.
import { spawn } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { closeSync, createReadStream, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, truncateSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBenchBroker } from './bench-broker.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : fallback;
};
const sizeMiB = Number(option('--size-mib', '1024'));
const heaps = option('--heaps', '32,24,16,12,8')
  .split(',')
  .map(Number)
  .filter((n) => n > 0);
const sparse = args.includes('--sparse');
const extra = option('--extra', '').split(/\s+/).filter(Boolean);
const node = option('--node', process.execPath);
const timeoutMs = Number(option('--timeout-s', '900')) * 1000;
const asJson = args.includes('--json');
const agent = resolve(root, 'dist/ftagent.js');
const brokerBundle = resolve(root, 'dist/ftbroker.js');

const say = (line) => {
  if (!asJson) console.log(line);
};
const fail = (message) => {
  console.error(`bench-small-heap: ${message}`);
  process.exit(1);
};

for (const f of [agent, brokerBundle]) if (!existsSync(f)) fail(`${f} is missing; run \`npm run build\` first`);

const scratch = mkdtempSync(join(tmpdir(), 'ftagent-small-heap-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));

// ------------------------------------------------------------------ the file
const file = join(scratch, `big-${sizeMiB}MiB.bin`);
const sizeBytes = sizeMiB * 1024 * 1024;
if (sparse) {
  closeSync(openSync(file, 'w'));
  truncateSync(file, sizeBytes);
} else {
  const fd = openSync(file, 'w');
  const block = Buffer.allocUnsafe(4 * 1024 * 1024);
  for (let written = 0; written < sizeBytes; written += block.length) {
    randomFillSync(block);
    writeSync(fd, block, 0, Math.min(block.length, sizeBytes - written));
  }
  closeSync(fd);
}
const sha256Of = (path) =>
  new Promise((res, rej) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (d) => h.update(d))
      .on('end', () => res(h.digest('hex')))
      .on('error', rej);
  });
const wantSha = await sha256Of(file);
say(`file: ${sizeMiB} MiB ${sparse ? 'sparse (zeros)' : 'random'}, sha256 ${wantSha.slice(0, 16)}...`);

// ------------------------------------------------------------------ helpers
function startBroker(dataDir) {
  // Awaited by connecting, not by its "listening" log line, and bounded by a timeout.
  return startBenchBroker(dataDir);
}

function peakRssKiB(pid) {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmHWM:\s+(\d+) kB/m);
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function send(flags, port, clientId, cwd) {
  return new Promise((res) => {
    const argv = [...flags, agent, 'send', file, '--broker', `mqtt://127.0.0.1:${port}`, '--client-id', clientId, '--json'];
    const t0 = process.hrtime.bigint();
    const child = spawn(node, argv, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HOME: cwd, NODE_OPTIONS: '' } });
    let stdout = '';
    let stderr = '';
    let peak = 0;
    child.stdout.on('data', (d) => (stdout += String(d)));
    child.stderr.on('data', (d) => (stderr = (stderr + String(d)).slice(-4000)));
    const sampler = setInterval(() => (peak = Math.max(peak, peakRssKiB(child.pid))), 50);
    const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code, signal) => {
      clearInterval(sampler);
      clearTimeout(killer);
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      res({ code, signal, seconds, peakKiB: peak, stdout, stderr });
    });
  });
}

const stopBroker = (child) =>
  new Promise((res) => {
    if (child.exitCode !== null) return res(undefined);
    child.once('exit', () => res(undefined));
    child.kill('SIGTERM');
  });

// ------------------------------------------------------------------ runs
const nodeVersion = await new Promise((res) => {
  const c = spawn(node, ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let v = '';
  c.stdout.on('data', (d) => (v += d));
  c.on('exit', () => res(v.trim()));
});
say(`node ${nodeVersion}, flags: --max-old-space-size=N ${extra.join(' ')}`.trimEnd());
say(`  ${'heap MiB'.padStart(8)}  ${'result'.padEnd(8)} ${'seconds'.padStart(8)} ${'MiB/s'.padStart(7)} ${'peak RSS MiB'.padStart(13)}  note`);

const results = [];
for (const heap of heaps) {
  const dataDir = join(scratch, `broker-${heap}`);
  const cwd = join(scratch, `agent-${heap}`);
  mkdirSync(dataDir, { recursive: true });
  mkdirSync(cwd, { recursive: true });
  const { child, port } = await startBroker(dataDir);
  const clientId = `small-heap-${heap}`;
  const r = await send([`--max-old-space-size=${heap}`, ...extra], port, clientId, cwd);
  let ok = r.code === 0;
  let note = '';
  if (!ok) {
    const last = r.stderr.trim().split('\n').filter(Boolean).slice(-2).join(' | ');
    note = r.signal ? `killed by ${r.signal}${r.signal === 'SIGKILL' ? ' (timeout)' : ''}` : `exit ${r.code}: ${last.slice(0, 160)}`;
    if (/heap out of memory|Allocation failed/i.test(r.stderr)) note = `out of memory: ${last.slice(0, 120)}`;
  } else {
    try {
      const text = r.stdout.trim();
      const json = JSON.parse(
        text.startsWith('{') && text.endsWith('}')
          ? text
          : text
              .split('\n')
              .filter((l) => l.startsWith('{'))
              .pop(),
      );
      const exported = join(dataDir, 'exports', clientId, json.fileId, json.name);
      if (!existsSync(exported)) {
        ok = false;
        note = `no export at ${exported}`;
      } else if ((await sha256Of(exported)) !== wantSha) {
        ok = false;
        note = 'export differs from the file sent';
      } else note = 'export identical';
    } catch (err) {
      ok = false;
      note = `unreadable --json output: ${String(err).slice(0, 120)}`;
    }
  }
  await stopBroker(child);
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(cwd, { recursive: true, force: true });
  const row = {
    heapMiB: heap,
    ok,
    seconds: Number(r.seconds.toFixed(1)),
    mibPerSecond: ok ? Number((sizeMiB / r.seconds).toFixed(1)) : null,
    peakRssMiB: Number((r.peakKiB / 1024).toFixed(1)),
    note,
  };
  results.push(row);
  say(
    `  ${String(heap).padStart(8)}  ${(ok ? 'ok' : 'FAILED').padEnd(8)} ${row.seconds.toFixed(1).padStart(8)} ${
      row.mibPerSecond === null ? '-'.padStart(7) : row.mibPerSecond.toFixed(1).padStart(7)
    } ${row.peakRssMiB.toFixed(1).padStart(13)}  ${note}`,
  );
}

// The smallest heap such that it and every larger heap tried held.
const sorted = [...results].sort((a, b) => b.heapMiB - a.heapMiB);
let smallest = null;
for (const r of sorted) {
  if (!r.ok) break;
  smallest = r.heapMiB;
}
if (asJson) console.log(JSON.stringify({ node: nodeVersion, sizeMiB, sparse, extra, results, smallestHeapMiB: smallest }));
else say(smallest === null ? 'no heap size tried held' : `smallest heap that held: --max-old-space-size=${smallest}`);
