// The agent bundle as it ships: built with scripts/build.mjs's own options into a directory outside
// the repository (no node_modules anywhere above it), run from an empty directory, within its size
// budget, and with mqtt.js's WebSocket/SOCKS transports and pino's worker transports replaced by
// stubs that fail clearly while mqtt:// and mqtts:// keep working.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import mqttPacket from 'mqtt-packet';
import type { BuildOptions, Metafile } from 'esbuild';

const root = resolve(__dirname, '../..');
// 535 KiB with the fleet plane and the serving side; the budget catches a transport or a dependency
// slipping back into the bundle (each is tens of KiB), not a few lines of new code.
const sizeBudgetBytes = 576 * 1024;
const run = promisify(execFile);

interface BuildModule {
  bundleOptions(spec: { entry: string; out: string; stubs?: unknown[] }, used?: Set<string>): BuildOptions;
  leakedPackages(metafile: Metafile | undefined, forbidden: string[]): string[];
  agentStubs: unknown[];
  agentForbidden: string[];
  bundles: { entry: string; out: string; stubs: unknown[]; forbidden: string[] }[];
}

let dir: string;
let empty: string;
let buildMod: BuildModule;
let esbuild: typeof import('esbuild');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ftagent-bundle-'));
  empty = mkdtempSync(join(tmpdir(), 'ftagent-bundle-cwd-'));
  // A computed specifier keeps the type checker away from the untyped .mjs build script.
  buildMod = (await import(pathToFileURL(join(root, 'scripts/build.mjs')).href)) as BuildModule;
  esbuild = await import('esbuild');
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(empty, { recursive: true, force: true });
});

describe('the agent bundle', () => {
  let bundle: string;
  let leaked: string[];

  beforeAll(async () => {
    const agent = buildMod.bundles.find((b) => b.out === 'dist/ftagent.js');
    if (!agent) throw new Error('scripts/build.mjs no longer builds dist/ftagent.js');
    bundle = join(dir, 'ftagent.js');
    const result = await esbuild.build(buildMod.bundleOptions({ ...agent, out: bundle }));
    leaked = buildMod.leakedPackages(result.metafile, agent.forbidden);
  });

  it('runs `--version` from an empty directory with nothing installed', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    const out = execFileSync(process.execPath, [bundle, '--version'], { cwd: empty, encoding: 'utf8' });
    expect(out).toBe(`${pkg.version}\n`);
  });

  it(`stays within ${sizeBudgetBytes / 1024} KiB minified`, () => {
    expect(statSync(bundle).size).toBeLessThanOrEqual(sizeBudgetBytes);
  });

  it('leaves out the WebSocket, SOCKS, worker-timer and worker-transport packages', () => {
    expect(leaked).toEqual([]);
  });
});

// A minimal MQTT 3.1.1 peer: CONNACK for CONNECT, PUBACK for QoS 1 PUBLISH. Enough to prove that the
// transports the agent uses survived the stubbing.
function answerMqtt(socket: Socket): void {
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  parser.on('packet', (packet) => {
    if (packet.cmd === 'connect') socket.write(mqttPacket.generate({ cmd: 'connack', returnCode: 0, sessionPresent: false }));
    if (packet.cmd === 'publish' && packet.qos === 1) socket.write(mqttPacket.generate({ cmd: 'puback', messageId: packet.messageId ?? 0 }));
    if (packet.cmd === 'disconnect') socket.end();
  });
  socket.on('data', (d: Buffer) => parser.parse(d));
  socket.on('error', () => undefined);
}

function listen(server: Server): Promise<number> {
  return new Promise((res) => {
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      res(typeof address === 'object' && address ? address.port : 0);
    });
  });
}

describe('mqtt.js inside the lean bundle', () => {
  let probe: string;
  let certDir: string;
  const servers: Server[] = [];

  beforeAll(async () => {
    // Bundled exactly like the agent (same options, same stubs), from a tiny entry that uses mqtt.js
    // and pino directly, so this holds whatever the agent's own code looks like today.
    probe = join(dir, 'probe.js');
    const contents = `
      const mqtt = require('mqtt');
      const pino = require('pino');
      const fs = require('fs');
      const [what, url, ca] = process.argv.slice(2);
      const fail = (e) => { console.log(JSON.stringify({ error: e.message, code: e.code })); process.exit(0); };
      if (what === 'transport') {
        try { pino.transport({ target: 'pino/file' }); console.log('{}'); } catch (e) { fail(e); }
      } else {
        let client;
        try {
          client = mqtt.connect(url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000, ca: ca ? fs.readFileSync(ca) : undefined });
        } catch (e) { fail(e); }
        client.on('error', fail);
        client.on('connect', () => client.publish('t', 'x', { qos: 1 }, (err) => {
          console.log(JSON.stringify({ puback: !err }));
          client.end();
        }));
      }`;
    const options = buildMod.bundleOptions({ entry: 'unused', out: probe, stubs: buildMod.agentStubs });
    delete options.entryPoints;
    const result = await esbuild.build({ ...options, stdin: { contents, resolveDir: root, loader: 'js' } });
    expect(buildMod.leakedPackages(result.metafile, buildMod.agentForbidden)).toEqual([]);

    certDir = mkdtempSync(join(tmpdir(), 'ftagent-bundle-tls-'));
    try {
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-days',
          '1',
          '-subj',
          '/CN=localhost',
          '-addext',
          'subjectAltName=IP:127.0.0.1,DNS:localhost',
          '-keyout',
          join(certDir, 'key.pem'),
          '-out',
          join(certDir, 'cert.pem'),
        ],
        { stdio: 'pipe' },
      );
    } catch (err) {
      throw new Error(`openssl is needed to make a test certificate (apt-get install openssl): ${String(err)}`);
    }
  });

  afterAll(() => {
    for (const s of servers) s.close();
    rmSync(certDir, { recursive: true, force: true });
  });

  const probeRun = async (...argv: string[]): Promise<Record<string, unknown>> => {
    const { stdout } = await run(process.execPath, [probe, ...argv], { cwd: empty, timeout: 20_000 });
    return JSON.parse(stdout.trim()) as Record<string, unknown>;
  };

  it('connects and publishes over mqtt:// (TCP)', async () => {
    const server = createTcpServer(answerMqtt);
    servers.push(server);
    const port = await listen(server);
    expect(await probeRun('connect', `mqtt://127.0.0.1:${port}`)).toEqual({ puback: true });
  });

  it('connects and publishes over mqtts:// (TLS), verifying the certificate', async () => {
    const server = createTlsServer({ key: readFileSync(join(certDir, 'key.pem')), cert: readFileSync(join(certDir, 'cert.pem')) }, answerMqtt);
    servers.push(server);
    const port = await listen(server);
    const url = `mqtts://127.0.0.1:${port}`;
    expect(await probeRun('connect', url, join(certDir, 'cert.pem'))).toEqual({ puback: true });
  });

  it('refuses ws:// and wss:// with a clear error', async () => {
    for (const url of ['ws://127.0.0.1:1/mqtt', 'wss://127.0.0.1:1/mqtt']) {
      const r = await probeRun('connect', url);
      expect(r.code).toBe('ERR_FTAGENT_UNSUPPORTED');
      expect(r.error).toMatch(/WebSocket .* not supported in this build.*mqtt:\/\/ or mqtts:\/\//);
    }
  });

  it('refuses a SOCKS proxy with a clear error', async () => {
    const server = createTcpServer(answerMqtt);
    servers.push(server);
    const port = await listen(server);
    const { stdout } = await run(process.execPath, [probe, 'connect', `mqtt://127.0.0.1:${port}`], {
      cwd: empty,
      timeout: 20_000,
      env: { ...process.env, MQTTJS_SOCKS_PROXY: 'socks5://127.0.0.1:1' },
    });
    const r = JSON.parse(stdout.trim()) as Record<string, unknown>;
    expect(r.code).toBe('ERR_FTAGENT_UNSUPPORTED');
    expect(r.error).toMatch(/SOCKS proxy .* not supported in this build/);
  });

  it('refuses pino transports with a clear error instead of hanging', async () => {
    const r = await probeRun('transport');
    expect(r.code).toBe('ERR_FTAGENT_UNSUPPORTED');
    expect(r.error).toMatch(/pino transports .* not supported in this build/);
  });
});
