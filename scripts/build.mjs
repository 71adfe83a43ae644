// @ts-check
// Builds the two single-file bundles: dist/ftagent.js (the device agent) and dist/ftbroker.js
// (the development broker). CommonJS, every dependency inside, runnable by Node 18 from any folder.
//
// The agent bundle is kept lean for small devices: transports and helpers that mqtt.js and pino
// carry for other environments (MQTT over WebSocket and mini-program sockets, SOCKS proxies,
// browser worker timers, pino's worker-thread transports) are replaced by stubs that throw a clear "not supported in this build"
// error if they are ever reached. mqtt:// (TCP) and mqtts:// (TLS) are untouched. The build fails if
// one of the dropped packages finds its way back into the agent bundle by another import path.
import { build } from 'esbuild';
import { readFileSync, statSync, chmodSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

/** Throws the error every stub raises; `what` names the feature, `instead` says what to use. */
const unsupported = (what, instead) =>
  `function unsupported(){const e=new Error(${JSON.stringify(`${what} is not supported in this build of ftagent; ${instead}`)});e.code='ERR_FTAGENT_UNSUPPORTED';throw e}`;

const sep = String.raw`[\\/]`;
const inPackage = (name, dir = '') =>
  new RegExp(
    `${sep}node_modules${sep}${name}${sep}${dir
      .split('/')
      .filter(Boolean)
      .map((d) => `${d}${sep}`)
      .join('')}[^\\\\/]+$`,
  );

/** @typedef {{ request: string; importer: RegExp; contents: string }} Stub */
/** @typedef {{ entry: string; out: string; stubs?: Stub[]; forbidden?: string[] }} BundleSpec */

/**
 * Each stub replaces one import, and only when it comes from the named importer, so a package
 * that really needs one of these modules still gets the real thing (and then trips the guard below).
 */
/** @type {Stub[]} */
export const agentStubs = [
  {
    // mqtt/build/lib/connect/index.js: `require('./ws').streamBuilder` for ws:// and wss://.
    request: './ws',
    importer: inPackage('mqtt', 'build/lib/connect'),
    contents: [unsupported('MQTT over WebSocket (ws://, wss://)', 'use mqtt:// or mqtts://'), 'exports.streamBuilder=unsupported;exports.browserStreamBuilder=unsupported;'].join('\n'),
  },
  {
    // mqtt/build/lib/connect/index.js, browser branch only: WeChat and Alipay mini-program sockets.
    request: './wx',
    importer: inPackage('mqtt', 'build/lib/connect'),
    contents: [unsupported('MQTT over WeChat mini-program sockets (wx://, wxs://)', 'use mqtt:// or mqtts://'), 'exports.__esModule=true;exports.default=unsupported;'].join('\n'),
  },
  {
    request: './ali',
    importer: inPackage('mqtt', 'build/lib/connect'),
    contents: [unsupported('MQTT over Alipay mini-program sockets (ali://, alis://)', 'use mqtt:// or mqtts://'), 'exports.__esModule=true;exports.default=unsupported;'].join('\n'),
  },
  {
    // mqtt/build/lib/connect/{tcp,tls}.js: used only when `socksProxy` or MQTTJS_SOCKS_PROXY is set.
    request: './socks',
    importer: inPackage('mqtt', 'build/lib/connect'),
    contents: [unsupported('A SOCKS proxy (socksProxy option or MQTTJS_SOCKS_PROXY)', 'unset MQTTJS_SOCKS_PROXY'), 'exports.__esModule=true;exports.default=unsupported;'].join('\n'),
  },
  {
    // mqtt/build/lib/get-timer.js: browser main-thread keepalive timers; Node uses native timers.
    request: 'worker-timers',
    importer: inPackage('mqtt', 'build/lib'),
    contents: [
      unsupported('timerVariant "worker"', 'use the native timers (the default on Node)'),
      'exports.setInterval=unsupported;exports.clearInterval=unsupported;',
      'exports.setTimeout=unsupported;exports.clearTimeout=unsupported;',
    ].join('\n'),
  },
  {
    // pino/lib/transport.js: transports run in worker threads, which a single-file bundle cannot
    // load (the logger writes to a file descriptor instead). Fails fast instead of hanging.
    request: 'thread-stream',
    importer: inPackage('pino', 'lib'),
    contents: [unsupported('pino transports (worker threads)', 'log to a file descriptor'), 'module.exports=function ThreadStream(){unsupported()};'].join('\n'),
  },
];

/** Packages that must not appear in the agent bundle: what the stubs above keep out, and test fakes. */
export const agentForbidden = [
  ...['ws', 'socks', 'ip-address', 'smart-buffer', 'worker-timers', 'thread-stream'],
  // memfs backs the test-only file systems (test/helpers/crash-fs.ts); shipping it is a wrong import.
  ...['memfs', '@jsonjoy.com'],
];

/**
 * @param {Stub[]} stubs
 * @param {Set<string>} used
 * @returns {import('esbuild').Plugin}
 */
function stubPlugin(stubs, used) {
  const escape = (s) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const filter = new RegExp(`^(?:${stubs.map((s) => escape(s.request)).join('|')})$`);
  return {
    name: 'ftagent-stubs',
    setup(b) {
      b.onResolve({ filter }, (args) => {
        const index = stubs.findIndex((s) => s.request === args.path && s.importer.test(args.importer));
        if (index < 0) return undefined;
        used.add(args.path);
        return { path: String(index), namespace: 'ftagent-stub' };
      });
      b.onLoad({ filter: /.*/, namespace: 'ftagent-stub' }, (args) => ({
        contents: stubs[Number(args.path)]?.contents ?? '',
        loader: 'js',
      }));
    },
  };
}

/** esbuild options for one bundle; exported so tests and measurements build exactly like this. */
/**
 * @param {BundleSpec} spec
 * @param {Set<string>} used
 * @returns {import('esbuild').BuildOptions & { metafile: true }}
 */
export function bundleOptions({ entry, out, stubs = [] }, used = new Set()) {
  return {
    absWorkingDir: root,
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
    plugins: stubs.length > 0 ? [stubPlugin(stubs, used)] : [],
    metafile: true,
    logLevel: 'warning',
  };
}

/** Names of forbidden packages present in an esbuild metafile's inputs. */
export function leakedPackages(metafile, forbidden) {
  const inputs = Object.keys(metafile.inputs);
  return forbidden.filter((name) => inputs.some((p) => new RegExp(`(?:^|${sep})node_modules${sep}${name}${sep}`).test(p)));
}

/** @type {(BundleSpec & { forbidden: string[] })[]} */
export const bundles = [
  { entry: 'src/cli/bin.ts', out: 'dist/ftagent.js', stubs: agentStubs, forbidden: agentForbidden },
  { entry: 'src/devbroker/bin.ts', out: 'dist/ftbroker.js', stubs: [], forbidden: [] },
];

async function main() {
  for (const spec of bundles) {
    const { out, forbidden } = spec;
    const used = new Set();
    const result = await build(bundleOptions(spec, used));
    const leaked = leakedPackages(result.metafile, forbidden);
    if (leaked.length > 0) {
      console.error(`${out}: packages that must not ship in this bundle are in it: ${leaked.join(', ')}`);
      console.error('  find the importer (esbuild --analyze), then remove the import or stub it in scripts/build.mjs');
      process.exit(1);
    }
    const file = resolve(root, out);
    chmodSync(file, 0o755);
    const bytes = statSync(file).size;
    const gz = gzipSync(readFileSync(file)).length;
    const note = used.size > 0 ? ` [stubbed: ${[...used].sort().join(', ')}]` : '';
    console.log(`${out}: ${(bytes / 1024).toFixed(1)} KiB (${(gz / 1024).toFixed(1)} KiB gzipped)${note}`);
  }
}

// Run as a script (`node scripts/build.mjs`); importing it only gives the options.
if (process.argv[1] && pathToFileURL(resolve(process.argv[1])).href === import.meta.url) {
  await main();
}
