/**
 * The long fuzz run (`npm run fuzz`, bundled by scripts/fuzz.mjs): one target per process, so an
 * input that loops forever shows up as a process that outlives its time bound. Prints one JSON report.
 * Usage: node fuzz-main.js <target index> <inputs> <seed> <max ms per input>
 */
import { fuzz } from './engine';
import { fuzzTargets } from './targets';

async function main(): Promise<void> {
  const [index = '0', count = '100000', seed = '1', maxMs = '1000'] = process.argv.slice(2);
  const target = fuzzTargets[Number(index)];
  if (!target) {
    process.stdout.write(`${JSON.stringify({ targets: fuzzTargets.map((t) => t.name) })}\n`);
    return;
  }
  const report = await fuzz(target, { count: Number(count), seed: Number(seed), maxMsPerInput: Number(maxMs), maxFindings: 50 });
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

void main();
