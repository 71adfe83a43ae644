// @ts-check
// Start-up cost and size of the agent bundle: the median wall time of a fresh process running
// `node dist/ftagent.js --version` and `node dist/ftagent.js send --help`, against `node -e 0`
// (the floor: Node itself), and the bundle's size on disk and gzipped. Targets: start ≤ 2× the
// floor, bundle ≤ 500 KiB. Prints a table and always exits 0 (a measurement, not a test).
//
//   node scripts/bench-startup.mjs [--runs N] [--node PATH] [--bundle PATH] [--json]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : fallback;
};
const runs = Math.max(3, Number(option('--runs', '21')));
const node = option('--node', process.execPath);
const bundle = resolve(root, option('--bundle', 'dist/ftagent.js'));
const asJson = args.includes('--json');
const startTargetRatio = 2;
const sizeBudgetKiB = 500;

let bytes;
try {
  bytes = statSync(bundle).size;
} catch {
  console.error(`bench-startup: ${bundle} is missing; run \`npm run build\` first`);
  process.exit(0);
}
const gzBytes = gzipSync(readFileSync(bundle)).length;

// Every process starts in an empty directory: nothing to find next to it, as on a device.
const cwd = mkdtempSync(join(tmpdir(), 'ftagent-bench-startup-'));

function once(argv) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(node, argv, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  return { ms, ok: r.status === 0, stderr: String(r.stderr ?? '').trim() };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const cases = [
  { name: 'node -e 0', argv: ['-e', '0'] },
  { name: 'ftagent --version', argv: [bundle, '--version'] },
  { name: 'ftagent send --help', argv: [bundle, 'send', '--help'] },
];

// Interleave the cases run by run so that drift in machine load affects them all alike.
const samples = cases.map(() => /** @type {number[]} */ ([]));
const failures = cases.map(() => '');
for (const c of cases) once(c.argv); // warm the page cache
for (let i = 0; i < runs; i++) {
  cases.forEach((c, k) => {
    if (failures[k]) return;
    const r = once(c.argv);
    if (r.ok) samples[k]?.push(r.ms);
    else failures[k] = r.stderr.split('\n')[0] || 'non-zero exit';
  });
}
rmSync(cwd, { recursive: true, force: true });

const floor = median(samples[0]);
const rows = cases.map((c, k) => {
  if (failures[k]) return { case: c.name, medianMs: null, ratio: null, note: `failed: ${failures[k]}` };
  const ms = median(samples[k]);
  const ratio = ms / floor;
  const note = k === 0 ? 'floor' : ratio <= startTargetRatio ? `ok (≤ ${startTargetRatio}×)` : `over ${startTargetRatio}×`;
  return { case: c.name, medianMs: Number(ms.toFixed(1)), ratio: Number(ratio.toFixed(2)), note };
});
const size = {
  bundle: bundle.startsWith(root) ? bundle.slice(root.length) : bundle,
  kib: Number((bytes / 1024).toFixed(1)),
  gzippedKib: Number((gzBytes / 1024).toFixed(1)),
  budgetKib: sizeBudgetKiB,
  ok: bytes <= sizeBudgetKiB * 1024,
};
const nodeVersion = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();

if (asJson) {
  console.log(JSON.stringify({ node: nodeVersion, runs, startup: rows, size }));
} else {
  console.log(`startup (Node ${nodeVersion}, median of ${runs} runs, empty working directory)`);
  console.log(`  ${'command'.padEnd(22)} ${'median ms'.padStart(10)} ${'× node -e 0'.padStart(12)}  target`);
  for (const r of rows) {
    const ms = r.medianMs === null ? '-' : r.medianMs.toFixed(1);
    const ratio = r.ratio === null ? '-' : `${r.ratio.toFixed(2)}×`;
    console.log(`  ${r.case.padEnd(22)} ${ms.padStart(10)} ${ratio.padStart(12)}  ${r.note}`);
  }
  console.log(`bundle ${size.bundle}: ${size.kib} KiB (${size.gzippedKib} KiB gzipped), budget ${sizeBudgetKiB} KiB: ${size.ok ? 'ok' : 'OVER'}`);
}
