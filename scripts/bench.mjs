// `npm run bench` (not a test): throughput of `ftagent send` against a minimal MQTT.js client that
// publishes the same commands (topics, segment size, window) from memory to the same development
// broker, and the agent's peak RSS for a 16 MiB vs a 1 GiB file. Prints the figures.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const mqtt = require('mqtt');

const root = resolve(new URL('..', import.meta.url).pathname);
const dist = join(root, 'dist');
const work = mkdtempSync(join(tmpdir(), 'ftagent-bench-'));
const CHUNK = 65536;
const WINDOW = 16;
const MiB = 1024 * 1024;

function makeFile(name, size) {
  const path = join(work, name);
  const fd = openSync(path, 'w');
  const block = Buffer.alloc(4 * MiB);
  for (let i = 0; i < block.length; i++) block[i] = (i * 131) & 0xff;
  for (let done = 0; done < size; done += block.length) writeSync(fd, block, 0, Math.min(block.length, size - done));
  closeSync(fd);
  return path;
}

function startBroker(dataDir) {
  const child = spawn(process.execPath, [join(dist, 'ftbroker.js'), '--port', '0', '--data', dataDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((ok, fail) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        const m = JSON.parse(line);
        if (m.msg === 'listening') ok({ child, port: m.port });
      } catch {
        // ignore
      }
    });
    child.once('exit', (c) => fail(new Error(`ftbroker exited (${c})`)));
  });
}

/** The ceiling: the same commands from memory, a plain MQTT.js client, window-bounded, PUBACKs awaited. */
async function baseline(port, bytes, fileId) {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, clientId: 'bench-baseline', reconnectPeriod: 0 });
  const sha = createHash('sha256').update(bytes).digest('hex');
  const pub = (topic, payload) =>
    new Promise((ok, fail) => client.publish(topic, payload, { qos: 1 }, (err) => (err ? fail(err) : ok())));
  const t0 = performance.now();
  await pub(`$file/${fileId}/init`, Buffer.from(JSON.stringify({ name: 'baseline.bin', size: bytes.length })));
  let next = 0;
  const inflight = new Set();
  while (next < bytes.length || inflight.size > 0) {
    while (next < bytes.length && inflight.size < WINDOW) {
      const off = next;
      const p = pub(`$file/${fileId}/${off}`, bytes.subarray(off, Math.min(off + CHUNK, bytes.length))).then(() => inflight.delete(p));
      inflight.add(p);
      next += CHUNK;
    }
    await Promise.race(inflight);
  }
  await pub(`$file/${fileId}/fin/${bytes.length}/${sha}`, Buffer.alloc(0));
  const seconds = (performance.now() - t0) / 1000;
  await client.endAsync();
  return seconds;
}

function runAgent(args) {
  return new Promise((ok) => {
    // GNU time reports the child's peak RSS (KiB) on stderr.
    const child = spawn('/usr/bin/time', ['-f', 'maxrss_kib=%M', process.execPath, join(dist, 'ftagent.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.once('exit', (code) => {
      const rss = Number(/maxrss_kib=(\d+)/.exec(err)?.[1] ?? NaN) / 1024;
      const json = out.trim() ? JSON.parse(out.trim().split('\n').pop()) : null;
      ok({ code, json, rssMiB: rss, err });
    });
  });
}

async function agent(port, file, fileId) {
  const r = await runAgent(['send', file, '--broker', `mqtt://127.0.0.1:${port}`, '--client-id', 'bench-agent', '--chunk-size', String(CHUNK), '--window', String(WINDOW), '--file-id', fileId, '--json']);
  if (r.code !== 0) throw new Error(`ftagent send failed (${r.code}): ${r.err}`);
  return r;
}

const { child, port } = await startBroker(join(work, 'data'));
try {
  const size = 256 * MiB;
  const file = makeFile('bench-256.bin', size);
  const { readFileSync } = await import('node:fs');
  const bytes = readFileSync(file);
  const runs = [];
  for (let i = 0; i < 2; i++) {
    const b = await baseline(port, bytes, `base-${i}`);
    const a = await agent(port, file, `agent-${i}`);
    runs.push({ baseline: b, agent: a.json.seconds });
    console.log(`run ${i + 1}: baseline ${(size / MiB / b).toFixed(0)} MiB/s, ftagent ${(size / MiB / a.json.seconds).toFixed(0)} MiB/s`);
  }
  const bestBase = Math.min(...runs.map((r) => r.baseline));
  const bestAgent = Math.min(...runs.map((r) => r.agent));
  console.log(`throughput, 256 MiB, chunk ${CHUNK}, window ${WINDOW}: baseline ${(size / MiB / bestBase).toFixed(0)} MiB/s, ftagent ${(size / MiB / bestAgent).toFixed(0)} MiB/s, ratio ${(bestBase / bestAgent).toFixed(2)} (target ≥ 0.9)`);
  rmSync(file);

  const small = await agent(port, makeFile('rss-16.bin', 16 * MiB), 'rss-16');
  const big = await agent(port, makeFile('rss-1g.bin', 1024 * MiB), 'rss-1g');
  const diff = (big.rssMiB - small.rssMiB) / small.rssMiB;
  console.log(`peak RSS (${process.version}): 16 MiB file ${small.rssMiB.toFixed(1)} MiB, 1 GiB file ${big.rssMiB.toFixed(1)} MiB, difference ${(diff * 100).toFixed(1)} % (targets: within 10 %, under 80 MiB)`);
} finally {
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  rmSync(work, { recursive: true, force: true });
}
