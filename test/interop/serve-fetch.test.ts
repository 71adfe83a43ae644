import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { agentBundle, ensureFreshBundles } from '../helpers/fresh-bundles';
import { startMosquitto, tempDir, type Mosquitto } from './mosquitto';

/**
 * One agent (a real daemon process) serves files from store.serve.roots; another fetches them with
 * `ftagent fetch`, both through Mosquitto, which routes `$file_sniffer/…` and `$file/…` like any topic.
 */
let tmp: ReturnType<typeof tempDir>;
let mosq: Mosquitto;
let server: ChildProcess;
let serverLog = '';
let served: string;
const firmware = Buffer.alloc(300 * 1024 + 123);
for (let i = 0; i < firmware.length; i++) firmware[i] = (i * 131 + (i >> 10)) & 0xff;

beforeAll(async () => {
  await ensureFreshBundles();
  tmp = tempDir('ftagent-serve-');
  mosq = await startMosquitto(tmp.dir);
  served = join(tmp.dir, 'served');
  mkdirSync(join(served, 'fw'), { recursive: true });
  writeFileSync(join(served, 'fw', 'cam-2.4.1.bin'), firmware);
  writeFileSync(join(tmp.dir, 'secret.txt'), 'not for devices');
  symlinkSync(join(tmp.dir, 'secret.txt'), join(served, 'fw', 'leak.txt'));
  const config = join(tmp.dir, 'server.json');
  writeFileSync(
    config,
    JSON.stringify({
      brokers: [`mqtt://127.0.0.1:${mosq.port}`],
      clientId: 'gw-serving',
      stateDir: join(tmp.dir, 'state'),
      log: { level: 'debug' },
      store: { enabled: true, serve: { roots: [served] }, nftp: { lingerSeconds: 2 } },
    }),
  );
  server = spawn(process.execPath, [agentBundle, 'run', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  server.stdout?.on('data', (d) => (serverLog += String(d)));
  server.stderr?.on('data', (d) => (serverLog += String(d)));
  const end = Date.now() + 30_000;
  while (!serverLog.includes('store topics subscribed')) {
    if (Date.now() > end || server.exitCode !== null) throw new Error(`the serving daemon did not come up:\n${serverLog}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}, 90_000);

afterAll(async () => {
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server.once('exit', r));
    server.kill('SIGTERM');
    await exited;
  }
  await mosq?.stop();
  tmp?.remove();
});

function fetch(remote: string, to: string, ...extra: string[]): { status: number | null; json: Record<string, unknown> } {
  const r = spawnSync(process.execPath, [agentBundle, 'fetch', remote, '--to', to, '--broker', `mqtt://127.0.0.1:${mosq.port}`, '--client-id', 'device-7', '--json', '--timeout', '10', ...extra], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  const last = r.stdout.trim().split('\n').at(-1) ?? '';
  return { status: r.status, json: last.startsWith('{') ? (JSON.parse(last) as Record<string, unknown>) : { stdout: r.stdout, stderr: r.stderr } };
}

describe('ftagent fetch from another agent serving files, over Mosquitto', () => {
  it('delivers the file byte for byte (MQTT 5 and 3.1.1)', () => {
    for (const mqtt of ['5', '3.1.1']) {
      const out = join(tmp.dir, `got-${mqtt}.bin`);
      const r = fetch('fw/cam-2.4.1.bin', out, '--mqtt', mqtt);
      expect(r.status, JSON.stringify(r.json)).toBe(0);
      expect(readFileSync(out).equals(firmware)).toBe(true);
    }
  }, 120_000);

  it('answers NOT_ALLOW for .. and for a symlink leading out, NOT_EXIST for a missing file, and writes nothing', () => {
    for (const [remote, code] of [
      ['../secret.txt', 'NOT_ALLOWED'],
      ['fw/leak.txt', 'NOT_ALLOWED'],
      [join(tmp.dir, 'secret.txt'), 'NOT_ALLOWED'],
      ['fw/none.bin', 'NOT_FOUND'],
    ] as const) {
      const out = join(tmp.dir, `refused-${code}-${remote.length}.txt`);
      const r = fetch(remote, out);
      expect(r.status, remote).toBe(4);
      expect(r.json, remote).toMatchObject({ ok: false, error: { code } });
      expect(() => readFileSync(out)).toThrow();
    }
  }, 120_000);
});
