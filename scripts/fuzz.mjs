#!/usr/bin/env node
// npm run fuzz [-- --inputs N --seed S --max-ms M]: fuzzes every decoder that reads peer or file
// input (test/fuzz/targets.ts) with N generated inputs each (default 100,000), one child process per
// decoder with a time bound, and prints crashes and hangs. Exit 1 when anything was found.
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..');
const { values } = parseArgs({ options: { inputs: { type: 'string' }, seed: { type: 'string' }, 'max-ms': { type: 'string' } } });
const inputs = Number(values.inputs ?? 100_000);
const seed = Number(values.seed ?? 20261204);
const maxMs = Number(values['max-ms'] ?? 1000);
// A decoder that needs more than this per thousand inputs is treated as hanging.
const processBoundMs = Math.max(60_000, inputs * 5);

// Beside its sources (two levels under the root, like test/helpers): the targets read the README's
// config example relative to their own folder.
const bundle = join(root, 'test', 'fuzz', `.fuzz-main-${process.pid}.cjs`);
process.on('exit', () => rmSync(bundle, { force: true }));
await build({ entryPoints: [join(root, 'test', 'fuzz', 'main.ts')], bundle: true, platform: 'node', format: 'cjs', target: 'node18', outfile: bundle, logLevel: 'error' });

const run = (args, timeout) =>
  new Promise((resolve) => {
    execFile(process.execPath, [bundle, ...args], { timeout, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => resolve({ err, stdout, stderr }));
  });

const listed = await run(['-1'], 120_000);
if (listed.err) {
  console.log(`the fuzz targets do not load: ${listed.err.message}\n${listed.stderr}`);
  process.exit(1);
}
const names = JSON.parse(listed.stdout).targets;
let total = 0;
let findings = 0;
for (let i = 0; i < names.length; i++) {
  const started = Date.now();
  const r = await run([String(i), String(inputs), String(seed), String(maxMs)], processBoundMs);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (r.err) {
    findings++;
    console.log(`${names[i]}: HANG or CRASH of the process after ${seconds} s (${r.err.killed ? 'killed at the time bound' : r.err.message}) ${r.stderr.slice(0, 500)}`);
    continue;
  }
  const report = JSON.parse(r.stdout);
  total += report.inputs;
  findings += report.findings.length;
  console.log(
    `${report.target}: ${report.inputs} inputs (${report.accepted} accepted, ${report.rejected} refused), ` +
      `${report.findings.filter((f) => f.kind === 'crash').length} crashes, ${report.findings.filter((f) => f.kind === 'hang').length} hangs, ` +
      `slowest ${report.slowestMs.toFixed(1)} ms, ${seconds} s`,
  );
  for (const f of report.findings.slice(0, 5)) console.log(`  ${f.kind} at input ${f.index}: ${f.message}\n    ${f.inputHex.slice(0, 200)}`);
}
console.log(`${names.length} decoders, ${total} inputs, seed ${seed}: ${findings === 0 ? 'no crashes, no hangs' : `${findings} findings`}`);
process.exit(findings === 0 ? 0 : 1);
