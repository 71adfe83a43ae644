// ftagent against the floor (scripts/floor-client.mjs: raw socket, hand-built frames, no MQTT
// library), each a separate process measured the same way: wall time from its own JSON result,
// CPU-s (user + sys) and peak RSS from GNU time (else /proc sampling). Runs are interleaved and the
// medians compared.
//
// 1. The development broker in --sink mode (acks as usual, stores no segment payload): ftagent vs
//    the floor at the same chunk and window, as ratios of throughput, CPU-s and peak RSS.
// 2. The same broker: ftagent's defaults (segment size and window from the broker) vs 64 KiB.
// 3. Real EMQX 5.3.2 with its defaults (../shared/emqx/emqx.sh, when Erlang is installed): ftagent's
//    defaults vs the floor at 64 KiB segments. The issue's yardstick is EMQX's Python reference client
//    at 64 KiB, which is not available here: the floor client at 64 KiB stands in for it (it is
//    faster than that client, so the ratio is conservative).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { freePort, startBenchBroker } from './bench-broker.mjs';

const root = resolve(new URL('..', import.meta.url).pathname);
const agentBundle = join(root, 'dist', 'ftagent.js');
const floorScript = join(root, 'scripts', 'floor-client.mjs');
const emqxScript = resolve(root, '..', 'shared', 'emqx', 'emqx.sh');
const MiB = 1024 * 1024;

/** @typedef {{ code: number | null, json: any, rssMiB: number, cpuSeconds: number, seconds: number, err: string }} Measured */
/** @typedef {{ seconds: number, cpu: number, rss: number }} Summary */

/**
 * A child's JSON result, wall seconds (its own), CPU-s and peak RSS (MiB).
 * @param {string[]} argv
 * @returns {Promise<Measured>}
 */
export function runMeasured(argv) {
  const gnuTime = existsSync('/usr/bin/time');
  const [cmd, cmdArgs] = gnuTime ? ['/usr/bin/time', ['-f', 'bench_time %M %U %S', process.execPath, ...argv]] : [process.execPath, argv];
  return new Promise((ok) => {
    const child = spawn(cmd, cmdArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let hwm = 0;
    const sample = () => {
      try {
        const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) hwm = Math.max(hwm, Number(m[1]));
      } catch {
        // gone
      }
    };
    const timer = gnuTime ? null : setInterval(sample, 20);
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.once('exit', (code) => {
      if (timer) clearInterval(timer);
      const t = /bench_time (\d+) ([\d.]+) ([\d.]+)/.exec(err);
      const rssMiB = (t ? Number(t[1]) : hwm) / 1024;
      const cpuSeconds = t ? Number(t[2]) + Number(t[3]) : NaN;
      let json = null;
      try {
        json = JSON.parse(out.trim().split('\n').pop() ?? '');
      } catch {
        // not JSON
      }
      ok({ code, json, rssMiB, cpuSeconds, seconds: json?.seconds ?? NaN, err });
    });
  });
}

/**
 * @param {number} port
 * @param {string} file
 * @param {string} fileId
 * @param {{ chunk?: number, window?: number, nodeFlags?: string[] }} [options]
 */
export async function agentSend(port, file, fileId, { chunk, window, nodeFlags = [] } = {}) {
  const r = await runMeasured([
    ...nodeFlags,
    agentBundle,
    'send',
    file,
    '--broker',
    `mqtt://127.0.0.1:${port}`,
    '--client-id',
    'bench-agent',
    '--file-id',
    fileId,
    '--json',
    ...(chunk ? ['--chunk-size', String(chunk)] : []),
    ...(window ? ['--window', String(window)] : []),
  ]);
  if (r.code !== 0 || !r.json?.ok) throw new Error(`ftagent send failed (${r.code}): ${r.err.trim().slice(-500)}`);
  return r;
}

/**
 * @param {number} port
 * @param {string} file
 * @param {string} fileId
 * @param {{ chunk: number, window: number }} options
 */
async function floorSend(port, file, fileId, { chunk, window }) {
  const r = await runMeasured([floorScript, '--port', String(port), '--file', file, '--file-id', fileId, '--client-id', 'bench-floor', '--chunk', String(chunk), '--window', String(window)]);
  if (r.code !== 0 || !r.json?.ok) throw new Error(`floor client failed (${r.code}): ${JSON.stringify(r.json)} ${r.err.trim().slice(-500)}`);
  return r;
}

/** @param {number[]} xs */
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return (s.length % 2 ? s[m] : ((s[m - 1] ?? NaN) + (s[m] ?? NaN)) / 2) ?? NaN;
};
/** @param {Measured[]} rs @returns {Summary} */
const summary = (rs) => ({ seconds: median(rs.map((r) => r.seconds)), cpu: median(rs.map((r) => r.cpuSeconds)), rss: median(rs.map((r) => r.rssMiB)) });

/**
 * Interleaved runs of two senders; `after` cleans up between runs.
 * @param {number} runs
 * @param {(i: number) => Promise<Measured>} a
 * @param {(i: number) => Promise<Measured>} b
 * @param {() => Promise<void>} after
 * @param {string} label
 * @returns {Promise<[Summary, Summary]>}
 */
async function interleave(runs, a, b, after, label) {
  /** @type {Measured[]} */
  const as = [];
  /** @type {Measured[]} */
  const bs = [];
  for (let i = 0; i < runs; i++) {
    const ra = await a(i);
    as.push(ra);
    await after();
    const rb = await b(i);
    bs.push(rb);
    await after();
    console.log(
      `${label} run ${i + 1}/${runs}: ${fmt(ra.seconds, 2)} s / ${fmt(rb.seconds, 2)} s, ${fmt(ra.cpuSeconds, 2)} / ${fmt(rb.cpuSeconds, 2)} CPU-s, ${fmt(ra.rssMiB)} / ${fmt(rb.rssMiB)} MiB`,
    );
  }
  return [summary(as), summary(bs)];
}

/** @param {number} n */
const fmt = (n, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '?');
/** @param {Summary} s @param {number} mib */
const side = (s, mib) => `${fmt(mib / s.seconds, 0)} MiB/s, ${fmt(s.cpu, 2)} CPU-s, ${fmt(s.rss)} MiB`;

/** Sections 1 and 2: the development broker without disk work. */
export async function benchSinkBroker({ work, file, sizeMiB, runs, row, failed }) {
  const dataDir = join(work, 'sink-broker');
  const broker = await startBenchBroker(dataDir, ['--log-level', 'warn', '--sink']);
  const clean = async () => rmSync(join(dataDir, 'exports'), { recursive: true, force: true });
  try {
    for (const [chunk, window] of /** @type {[number, number][]} */ ([
      [65536, 16],
      [524288, 16],
    ])) {
      try {
        const [agent, floor] = await interleave(
          runs,
          (i) => agentSend(broker.port, file, `sink-a-${chunk}-${i}`, { chunk, window }),
          (i) => floorSend(broker.port, file, `sink-f-${chunk}-${i}`, { chunk, window }),
          clean,
          `sink ${chunk / 1024} KiB`,
        );
        const what = `${sizeMiB} MiB, chunk ${chunk / 1024} KiB, window ${window}, ftbroker --sink: ftagent ${side(agent, sizeMiB)} vs floor ${side(floor, sizeMiB)}`;
        const tput = floor.seconds / agent.seconds;
        const cpu = agent.cpu / floor.cpu;
        row(`throughput vs floor (${what})`, `${fmt(tput, 2)}`, '≥ 0.90', tput >= 0.9);
        row(`CPU-s vs floor, ${chunk / 1024} KiB`, `${fmt(cpu, 2)}×`, '≤ 1.30×', cpu <= 1.3);
        row(`peak RSS vs floor, ${chunk / 1024} KiB`, `${fmt(agent.rss)} vs ${fmt(floor.rss)} MiB (+${fmt(agent.rss - floor.rss)})`, '≤ floor + 8 MiB', agent.rss <= floor.rss + 8);
      } catch (err) {
        failed(`sink broker, ${chunk / 1024} KiB`, err);
      }
    }
    try {
      const [auto, small] = await interleave(
        runs,
        (i) => agentSend(broker.port, file, `sink-d-${i}`),
        (i) => agentSend(broker.port, file, `sink-64-${i}`, { chunk: 65536 }),
        clean,
        'sink default vs 64 KiB',
      );
      const ratio = small.seconds / auto.seconds;
      row(
        `ftagent defaults vs --chunk-size 65536 (${sizeMiB} MiB, ftbroker --sink): ${side(auto, sizeMiB)} vs ${side(small, sizeMiB)}`,
        `throughput ${fmt(ratio, 2)}×, CPU-s ${fmt(auto.cpu / small.cpu, 2)}×`,
        'throughput ≥ 1.0×',
        ratio >= 1,
      );
    } catch (err) {
      failed('sink broker, defaults vs 64 KiB', err);
    }
  } finally {
    await broker.stop();
  }
}

function erlangInstalled() {
  return (process.env.PATH ?? '').split(':').some((d) => existsSync(join(d, 'erl')));
}

/** Section 3: real EMQX with its defaults. */
export async function benchEmqx({ work, file, sizeMiB, runs, row, failed }) {
  if (!existsSync(emqxScript) || !erlangInstalled()) {
    row('real EMQX', `skipped (${existsSync(emqxScript) ? 'Erlang is not installed' : `${emqxScript} is missing`})`, '', null);
    return;
  }
  const dataDir = join(work, 'emqx');
  let port = 0;
  for (let i = 0; i < 20 && port === 0; i++) {
    const p = await freePort();
    if (p < 60000) port = p;
  }
  try {
    execFileSync(emqxScript, ['start', String(port), dataDir], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 180_000 });
  } catch (err) {
    failed('real EMQX (start)', err);
    return;
  }
  try {
    const clean = async () => rmSync(join(dataDir, 'ft', 'exports'), { recursive: true, force: true });
    const [agent, floor] = await interleave(
      runs,
      (i) => agentSend(port, file, `emqx-a-${i}`),
      (i) => floorSend(port, file, `emqx-f-${i}`, { chunk: 65536, window: 16 }),
      clean,
      'EMQX default vs floor 64 KiB',
    );
    const wall = agent.seconds / floor.seconds;
    row(
      `real EMQX 5.3.2 defaults, ${sizeMiB} MiB: ftagent defaults ${side(agent, sizeMiB)} vs floor at 64 KiB x 16 ${side(floor, sizeMiB)} (stands in for EMQX's Python client at 64 KiB)`,
      `wall ${fmt(wall, 2)}`,
      '≤ 0.40',
      wall <= 0.4,
    );
    row(`real EMQX: peak RSS of ftagent send, defaults`, `${fmt(agent.rss)} MiB`, '≤ 72 MiB', agent.rss <= 72);
  } catch (err) {
    failed('real EMQX', err);
  } finally {
    try {
      execFileSync(emqxScript, ['stop', dataDir], { stdio: 'ignore', timeout: 60_000 });
    } catch {
      // already stopped
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export const benchMiB = MiB;
