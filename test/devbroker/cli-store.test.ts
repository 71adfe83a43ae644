import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseBrokerArgs } from '../../src/devbroker/cli-options';
import { startBroker, type RunningBroker } from '../../src/devbroker';
import { judgeResult, parsePushArgs } from '../../src/devbroker/push-command';
import { silentLogger } from '../../src/log';
import { systemClock } from '../../src/time/clock';
import { Connection } from '../../src/mqtt/connection';
import { StoreChannel } from '../../src/mqtt/store-channel';
import { startStoreReceiver, type StoreReceiveRecord } from '../../src/transfer/store/store-receive';
import { brokerBundle, ensureFreshBundles } from '../helpers/fresh-bundles';
import { content } from '../helpers/content';

const bundle = brokerBundle;

describe('ftbroker store flags', () => {
  it('maps every store flag onto the store server options, with --seed for the store faults', () => {
    const command = parseBrokerArgs([
      '--data',
      'd',
      '--store-max-sessions',
      '3',
      '--store-token-ttl',
      '5000',
      '--store-wait-timeout',
      '250',
      '--store-block-size',
      '1024',
      '--store-width',
      'u32',
      '--store-lost-block-rate',
      '0.2',
      '--store-wait-storm',
      '4',
      '--store-error-rate',
      '0.5',
      '--seed',
      '9',
    ]);
    expect(command).toEqual({
      kind: 'run',
      options: {
        port: 1883,
        host: '127.0.0.1',
        dataDir: 'd',
        logLevel: 'info',
        faults: { seed: 9 },
        store: {
          maxCurrentSessionDefault: 3,
          tokenTtlMs: 5000,
          waitTimeoutMs: 250,
          nftp: { blockSize: 1024, width: 'u32' },
          faults: { lostBlockRate: 0.2, waitStormCount: 4, errorRate: 0.5, seed: 9 },
        },
      },
    });
  });

  it('leaves the store server at its defaults when no store flag is given', () => {
    const command = parseBrokerArgs(['--data', 'd', '--seed', '3']);
    expect(command.kind === 'run' && command.options.store).toBeUndefined();
  });

  it.each([
    [['--store-max-sessions', '2'], { maxCurrentSessionDefault: 2 }],
    [['--store-token-ttl', '1'], { tokenTtlMs: 1 }],
    [['--store-wait-timeout', '10'], { waitTimeoutMs: 10 }],
    [['--store-block-size', '65535'], { nftp: { blockSize: 65535 } }],
    [['--store-width', 'u16'], { nftp: { width: 'u16' } }],
    [['--store-block-size', '1048576', '--store-width', 'u32'], { nftp: { blockSize: 1048576, width: 'u32' } }],
    [['--store-lost-block-rate', '0'], { faults: { lostBlockRate: 0 } }],
    [['--store-wait-storm', '0'], { faults: { waitStormCount: 0 } }],
    [['--store-error-rate', '1'], { faults: { errorRate: 1 } }],
  ])('maps %j alone', (flags, store) => {
    expect(parseBrokerArgs(['--data', 'd', ...flags])).toMatchObject({ kind: 'run', options: { store } });
  });

  it('turns the store server off with --no-store', () => {
    expect(parseBrokerArgs(['--data', 'd', '--no-store'])).toMatchObject({ kind: 'run', options: { store: false } });
  });

  it.each([
    [['--store-max-sessions', '0']],
    [['--store-max-sessions', 'many']],
    [['--store-token-ttl', '-5']],
    [['--store-token-ttl', '1.5']],
    [['--store-wait-timeout', '0']],
    [['--store-wait-timeout']],
    [['--store-block-size', '0']],
    [['--store-block-size', '65536']],
    [['--store-block-size', '70000', '--store-width', 'u16']],
    [['--store-width', 'u8']],
    [['--store-lost-block-rate', '1.5']],
    [['--store-lost-block-rate', 'half']],
    [['--store-wait-storm', '-1']],
    [['--store-error-rate', '']],
    [['--no-store', '--store-error-rate', '0.1']],
    [['--no-store=yes']],
  ])('rejects %j as a usage error', (flags) => {
    const command = parseBrokerArgs(['--data', 'd', ...flags]);
    expect(command.kind).toBe('usage-error');
  });

  it('names the flag and the value in the message', () => {
    expect(parseBrokerArgs(['--data', 'd', '--store-width', 'u8'])).toEqual({ kind: 'usage-error', message: '--store-width must be one of u16, u32, got "u8"' });
    expect(parseBrokerArgs(['--data', 'd', '--no-store', '--store-wait-storm', '2'])).toMatchObject({ message: expect.stringContaining('--store-wait-storm') });
  });
});

describe('ftbroker push arguments', () => {
  const base = ['--broker', 'mqtt://127.0.0.1:1883', '--client', 'store-1', '--file', 'a.bin', '--target', 'www/a.bin'];

  it('reads the flags, with a 120 s timeout and no overwrite by default', () => {
    expect(parsePushArgs(base)).toEqual({
      kind: 'run',
      options: { brokerUrl: 'mqtt://127.0.0.1:1883', clientId: 'store-1', file: 'a.bin', target: 'www/a.bin', overwrite: false, timeoutMs: 120_000 },
    });
    expect(parsePushArgs([...base, '--overwrite', '--timeout', '5'])).toMatchObject({ options: { overwrite: true, timeoutMs: 5000 } });
    expect(parsePushArgs(['--help'])).toEqual({ kind: 'help' });
  });

  it.each([
    [['--client', 'c', '--file', 'f', '--target', 't']],
    [['--broker', 'mqtt://h:1', '--file', 'f', '--target', 't']],
    [['--broker', 'mqtt://h:1', '--client', 'c', '--target', 't']],
    [['--broker', 'mqtt://h:1', '--client', 'c', '--file', 'f']],
    [[...base.slice(2), '--broker', 'localhost:1883']],
    [[...base.slice(2), '--broker', 'http://localhost:1883']],
    [[...base, '--timeout', '0']],
    [[...base, '--timeout', '1.5']],
    [[...base, '--timeout', 'soon']],
    [[...base, '--qos', '2']],
    [[...base, 'extra']],
  ])('rejects %j as a usage error', (argv) => {
    expect(parsePushArgs(argv).kind).toBe('usage-error');
  });
});

describe('ftbroker push results', () => {
  it('follows the first request id answered for its client and ignores other clients', () => {
    const state: { requestId?: string } = {};
    expect(judgeResult({ ok: true, stage: 'answered', clientId: 'other', requestId: 'x' }, 'me', state)).toEqual({ kind: 'ignore' });
    expect(judgeResult({ ok: true, stage: 'answered', clientId: 'me', requestId: 'r1' }, 'me', state)).toEqual({ kind: 'progress' });
    expect(judgeResult({ ok: false, stage: 'sent', clientId: 'me', requestId: 'r2', error: 'not ours' }, 'me', state)).toEqual({ kind: 'ignore' });
    expect(judgeResult({ ok: false, error: 'someone else’s bad command' }, 'me', state)).toEqual({ kind: 'ignore' });
    expect(judgeResult({ ok: true, stage: 'sent', clientId: 'me', requestId: 'r1' }, 'me', state)).toEqual({ kind: 'done' });
  });

  it('takes a failure that names no client as its own before any answer, and explains a refusal', () => {
    expect(judgeResult({ ok: false, error: 'NOT_FOUND a.bin' }, 'me', {})).toEqual({ kind: 'failed', error: 'NOT_FOUND a.bin' });
    expect(judgeResult({ ok: false, stage: 'answered', clientId: 'me', requestId: 'r', ack: 'ERROR', reason: 'exists' }, 'me', {})).toEqual({
      kind: 'failed',
      error: 'the store answered ERROR: exists',
    });
  });
});

interface ChildResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runBundle(args: string[]): Promise<ChildResult> {
  const child = spawn(process.execPath, [bundle, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/** Deterministic bytes that differ block to block, so a misplaced block changes the file. */
describe('ftbroker push against a running broker', () => {
  let dir = '';
  let broker: RunningBroker;
  let connection: Connection;
  let channel: StoreChannel;
  let stopReceiver: () => Promise<void> = () => Promise.resolve();
  const results: StoreReceiveRecord[] = [];
  let url = '';

  beforeAll(async () => {
    await ensureFreshBundles();
    dir = await mkdtemp(join(tmpdir(), 'ftbroker-push-'));
    const dataDir = join(dir, 'broker');
    broker = await startBroker({ port: 0, dataDir, logLevel: 'silent' });
    url = `mqtt://127.0.0.1:${broker.port}`;
    await mkdir(join(dataDir, 'store', 'files'), { recursive: true });

    // The agent side, with the default nftp settings on both ends.
    connection = new Connection({ brokers: [url], clientId: 'store-7', protocolVersion: 5 }, { clock: systemClock, logger: silentLogger });
    channel = new StoreChannel(connection, { logger: silentLogger });
    await connection.start();
    await channel.whenReady();
    const receiver = startStoreReceiver({
      storeChannel: channel,
      roots: { receive: [join(dir, 'recv')], browse: [] },
      logger: silentLogger,
      onResult: (r) => results.push(r),
    });
    await receiver.ready;
    stopReceiver = () => receiver.stop();
  }, 90_000);

  afterAll(async () => {
    await stopReceiver();
    channel?.dispose();
    await connection?.close();
    await broker?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  // The broker's sender lingers 30 s for late GIVEMEs before it reports the file as sent.
  it('pushes a file to the store, prints the results as JSON lines and exits 0', async () => {
    const data = content(100_000);
    await writeFile(join(dir, 'broker', 'store', 'files', 'notice.bin'), data);

    const run = await runBundle(['push', '--broker', url, '--client', 'store-7', '--file', 'notice.bin', '--target', 'www/notice.bin', '--timeout', '80', '--linger', '1']);

    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const lines = run.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ ok: true, stage: 'answered', clientId: 'store-7', ack: 'ok' });
    expect(lines.at(-1)).toMatchObject({ ok: true, stage: 'sent', clientId: 'store-7', requestId: lines[0]?.requestId });
    expect(results).toMatchObject([{ ok: true, requested: 'www/notice.bin' }]);
    expect((await readFile(join(dir, 'recv', 'www', 'notice.bin'))).equals(data)).toBe(true);
  }, 90_000);

  it('exits 1 with the error on stderr when the file is not in the store files', async () => {
    const run = await runBundle(['push', '--broker', url, '--client', 'store-7', '--file', 'missing.bin', '--target', 'www/missing.bin', '--timeout', '20']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^ftbroker push: .*missing\.bin/);
    expect(JSON.parse(run.stdout.trim())).toMatchObject({ ok: false });
  });

  it('exits 1 when the broker cannot be reached', async () => {
    const run = await runBundle(['push', '--broker', 'mqtt://127.0.0.1:1', '--client', 'store-7', '--file', 'a', '--target', 'b', '--timeout', '5']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('cannot connect to mqtt://127.0.0.1:1');
  });

  it('exits 2 on bad flags and prints the push help', async () => {
    const bad = await runBundle(['push', '--client', 'store-7']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--broker URL is required');
    const help = await runBundle(['push', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: ftbroker push');
    const main = await runBundle(['--help']);
    expect(main.stdout).toContain('Commands');
    expect(main.stdout).toContain('--store-wait-storm');
  });
});
