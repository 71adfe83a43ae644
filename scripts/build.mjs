// Builds the two single-file bundles: dist/ftagent.js (the device agent) and dist/ftbroker.js
// (the development broker). CommonJS, every dependency inside, runnable by Node 18 from any folder.
import { build } from 'esbuild';
import { readFileSync, statSync, chmodSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

const bundles = [
  { entry: 'src/cli/bin.ts', out: 'dist/ftagent.js' },
  { entry: 'src/devbroker/bin.ts', out: 'dist/ftbroker.js' },
];

for (const { entry, out } of bundles) {
  await build({
    entryPoints: [entry],
    outfile: out,
    bundle: true,
    platform: 'node',
    target: 'node18',
    format: 'cjs',
    minify: true,
    legalComments: 'none',
    banner: { js: '#!/usr/bin/env node' },
    define: { FTAGENT_VERSION: JSON.stringify(pkg.version) },
    // ws loads these optional native helpers inside try/catch; they are never needed here.
    external: ['bufferutil', 'utf-8-validate'],
    logLevel: 'warning',
  });
  chmodSync(out, 0o755);
  const bytes = statSync(out).size;
  const gz = gzipSync(readFileSync(out)).length;
  console.log(`${out}: ${(bytes / 1024).toFixed(1)} KiB (${(gz / 1024).toFixed(1)} KiB gzipped)`);
}
