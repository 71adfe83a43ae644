import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseBrokerArgs } from '../../src/devbroker/cli-options';
import { connectClient } from './core-helpers';
import { brokerBundle, ensureFreshBundles } from '../helpers/fresh-bundles';

const bundle = brokerBundle;

describe('ftbroker arguments', () => {
  it('maps every flag onto broker options and faults', () => {
    const command = parseBrokerArgs([
      '--port',
      '0',
      '--host',
      '0.0.0.0',
      '--data',
      '/tmp/d',
      '--tls-cert',
      'c.pem',
      '--tls-key',
      'k.pem',
      '--tls-ca',
      'ca.pem',
      '--tls-verify-client',
      '--receive-maximum',
      '8',
      '--emqx',
      '5.3',
      '--max-packet-size',
      '65536',
      '--audit',
      'a.jsonl',
      '--user',
      'gw:pa:ss',
      '--user',
      'ops:x',
      '--drop-every',
      '5',
      '--refuse-for',
      '1000',
      '--segment-error-rate',
      '0.1',
      '--segment-quota-rate',
      '0.05',
      '--assembly-delay',
      '200',
      '--assemble-timeout',
      '3000',
      '--ft-disabled',
      '--response-delay',
      '50',
      '--response-loss-rate',
      '0.5',
      '--seed',
      '7',
      '--log-level',
      'debug',
    ]);
    expect(command).toEqual({
      kind: 'run',
      options: {
        port: 0,
        host: '0.0.0.0',
        dataDir: '/tmp/d',
        tls: { certFile: 'c.pem', keyFile: 'k.pem', caFile: 'ca.pem', verifyClient: true },
        users: { gw: 'pa:ss', ops: 'x' },
        receiveMaximum: 8,
        emqx: '5.3',
        maximumPacketSize: 65536,
        auditLog: 'a.jsonl',
        logLevel: 'debug',
        faults: {
          dropEveryNPublishes: 5,
          refuseConnectionsForMs: 1000,
          segmentErrorRate: 0.1,
          segmentQuotaRate: 0.05,
          assemblyDelayMs: 200,
          assembleTimeoutMs: 3000,
          fileTransferDisabled: true,
          responseDelayMs: 50,
          responseLossRate: 0.5,
          seed: 7,
        },
      },
    });
  });

  it('defaults to port 1883 on 127.0.0.1 with no faults', () => {
    expect(parseBrokerArgs(['--data', 'd'])).toEqual({ kind: 'run', options: { port: 1883, host: '127.0.0.1', dataDir: 'd', faults: {}, logLevel: 'info' } });
  });

  it.each([
    [['--port', '0']],
    [['--data', 'd', '--port', 'x']],
    [['--data', 'd', '--port', '70000']],
    [['--data', 'd', '--segment-error-rate', '1.5']],
    [['--data', 'd', '--tls-cert', 'c.pem']],
    [['--data', 'd', '--user', 'nocolon']],
    [['--data', 'd', '--emqx', '5.4']],
    [['--data', 'd', '--log-level', 'loud']],
    [['--data', 'd', '--frobnicate']],
    [['--data', 'd', 'stray']],
  ])('rejects %j as a usage error', (argv) => {
    expect(parseBrokerArgs(argv).kind).toBe('usage-error');
  });

  it('recognises --help and --version', () => {
    expect(parseBrokerArgs(['--help'])).toEqual({ kind: 'help' });
    expect(parseBrokerArgs(['--version'])).toEqual({ kind: 'version' });
  });
});

describe('ftbroker process', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ftbroker-cli-'));
    await ensureFreshBundles();
  }, 60_000);
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('prints the listening line with its port, serves MQTT, and stops on SIGTERM', async () => {
    const child = spawn(process.execPath, [bundle, '--port', '0', '--data', join(dir, 'data')], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const lines = createInterface({ input: child.stdout });
    const listening = await new Promise<{ port: number; msg: string }>((resolve, reject) => {
      lines.on('line', (line) => {
        const entry = JSON.parse(line) as { port?: number; msg: string };
        if (entry.msg === 'listening' && typeof entry.port === 'number') resolve({ port: entry.port, msg: entry.msg });
      });
      child.on('exit', (code) => reject(new Error(`ftbroker exited with ${code} before listening`)));
    });
    expect(listening.port).toBeGreaterThan(0);

    const client = await connectClient(listening.port, { protocolVersion: 5, clientId: 'cli-check' });
    expect(client.connected).toBe(true);
    await client.endAsync();

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('exits 1 with a message when the audit file cannot be opened', async () => {
    const child = spawn(process.execPath, [bundle, '--port', '0', '--data', join(dir, 'data'), '--audit', join(dir, 'missing-dir', 'audit.jsonl')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(code).toBe(1);
    expect(stderr).toContain('ENOENT');
  });

  it('exits 2 with a message for an unknown flag', async () => {
    const child = spawn(process.execPath, [bundle, '--data', dir, '--bogus'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(code).toBe(2);
    expect(stderr).toContain('--bogus');
  });
});
