/**
 * Numbers and strings are checked once, by the same rules for the command line, `send --queue`
 * and the config; bad input is a usage or config error at once (exit 2), never a retry loop, a
 * timer overflow or an "unexpected failure". With --json every exit prints exactly one object.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, type CliRun } from '../helpers/cli-run';

let root: string;
let file: string;
const broker = ['--broker', 'mqtt://127.0.0.1:1'];
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'ftagent-bounds-'));
  file = join(root, 'a.bin');
  writeFileSync(file, 'hello');
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function oneJsonFailure(r: CliRun, code: string): string {
  const lines = r.out
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'));
  expect(lines, r.out + r.err).toHaveLength(1);
  const parsed = JSON.parse(lines[0] as string) as { ok: boolean; error: { code: string; message: string } };
  expect(parsed.ok).toBe(false);
  expect(parsed.error.code).toBe(code);
  return parsed.error.message;
}

describe('send refuses out-of-range values before connecting', () => {
  for (const [flag, value, why] of [
    ['--fin-timeout', '2147484', /--fin-timeout must be a whole number from 1 to 86400/],
    ['--command-timeout', '2147484', /--command-timeout must be a whole number from 1 to 3600/],
    ['--chunk-size', '4294967297', /--chunk-size must be a whole number from 64 to 16777216/],
    ['--window', '70000', /--window must be a whole number from 1 to 65535/],
    ['--segments-ttl', '0', /--segments-ttl must be a whole number/],
    ['--client-id', 'x'.repeat(70_000), /--client-id must be 1 to 128 characters long \(got 70000\)/],
    ['--broker', 'ws://127.0.0.1:8083', /WebSocket, which this build does not speak/],
  ] as const) {
    it(`${flag} ${value.length > 20 ? `<${value.length} characters>` : value}: exit 2 USAGE with one JSON object`, async () => {
      const r = await runCli(['send', file, ...broker, flag, value, '--json'], root);
      expect(r.code).toBe(2);
      expect(oneJsonFailure(r, 'USAGE')).toMatch(why);
    });
  }

  it('send --queue refuses at queue time what the daemon would refuse later, and queues nothing', async () => {
    const stateDir = join(root, 'queue-state');
    const config = join(root, 'queue-config.json');
    writeFileSync(config, JSON.stringify({ brokers: ['mqtt://127.0.0.1:1'], stateDir }));
    for (const args of [
      ['--fin-timeout', '2147484'],
      ['--chunk-size', '10'],
      ['--command-timeout', '99999'],
    ]) {
      const r = await runCli(['send', file, '--queue', '--config', config, '--json', ...args], root);
      expect(r.code).toBe(2);
      oneJsonFailure(r, 'USAGE');
    }
    let queued: string[] = [];
    try {
      queued = readdirSync(join(stateDir, 'jobs'));
    } catch {
      // no spool at all: nothing queued either
    }
    expect(queued).toEqual([]);
  });
});

describe('--json prints exactly one object on every exit', () => {
  it('a missing file, a directory, a usage error, a bad password file', async () => {
    expect((await runCli(['send', join(root, 'missing.bin'), ...broker, '--json'], root)).code).toBe(3);
    oneJsonFailure(await runCli(['send', join(root, 'missing.bin'), ...broker, '--json'], root), 'SOURCE_UNREADABLE');
    oneJsonFailure(await runCli(['send', root, ...broker, '--json'], root), 'SOURCE_UNREADABLE');
    oneJsonFailure(await runCli(['send', file, ...broker, '--bogus', '--json'], root), 'USAGE');
    oneJsonFailure(await runCli(['send', file, ...broker, '--username', 'u', '--password-file', join(root, 'nope'), '--json'], root), 'CONFIG_INVALID');
    oneJsonFailure(await runCli(['status', '--bogus', '--json'], root), 'USAGE');
    oneJsonFailure(await runCli(['job', 'list', '--json', '--config', join(root, 'nope.json')], root), 'CONFIG_INVALID');
  });

  it('fetch onto an existing file without --overwrite', async () => {
    const r = await runCli(['fetch', '/remote/a.bin', '--to', file, ...broker, '--json'], root);
    expect(r.code).not.toBe(0);
    expect(oneJsonFailure(r, (JSON.parse(r.out.trim()) as { error: { code: string } }).error.code)).toMatch(/exists|overwrite/i);
  });
});

describe('TLS files that can never work are usage errors, not retries', () => {
  const pem = (name: string): string => join(root, 'tls', name);
  beforeAll(() => {
    mkdirSync(join(root, 'tls'), { recursive: true });
    for (const n of ['one', 'two']) {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${n}`, '-keyout', pem(`${n}.key`), '-out', pem(`${n}.pem`)], { stdio: 'ignore' });
    }
    writeFileSync(pem('not-a-key'), 'this is not a key\n');
  });

  it('a key that does not belong to its certificate', async () => {
    const r = await runCli(['send', file, '--broker', 'mqtts://127.0.0.1:1', '--cert', pem('one.pem'), '--key', pem('two.key'), '--json'], root);
    expect(r.code).toBe(2);
    expect(oneJsonFailure(r, 'USAGE')).toMatch(/--key with --cert: the private key does not belong to the certificate/);
  });

  it('a key that is not a key, a missing certificate', async () => {
    const notKey = await runCli(['send', file, '--broker', 'mqtts://127.0.0.1:1', '--cert', pem('one.pem'), '--key', pem('not-a-key'), '--json'], root);
    expect(notKey.code).toBe(2);
    expect(oneJsonFailure(notKey, 'USAGE')).toMatch(/--key is not usable PEM/);
    const missing = await runCli(['send', file, '--broker', 'mqtts://127.0.0.1:1', '--cert', pem('missing.pem'), '--key', pem('one.key'), '--json'], root);
    expect(missing.code).toBe(2);
    expect(oneJsonFailure(missing, 'CONFIG_INVALID')).toMatch(/--cert .*missing\.pem cannot be read/);
  });

  it("config check says what is wrong with the config's key", async () => {
    const config = join(root, 'tls-config.json');
    writeFileSync(config, JSON.stringify({ brokers: ['mqtts://127.0.0.1:1'], stateDir: join(root, 'tls-state'), tls: { cert: pem('one.pem'), key: pem('two.key') } }));
    const r = await runCli(['config', 'check', '--config', config], root);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/"tls.key" with "tls.cert": the private key does not belong to the certificate/);
  });
});

describe('config check refuses what the daemon could never run with', () => {
  it('a ws:// broker and a stateDir that is a regular file', async () => {
    const ws = join(root, 'ws.json');
    writeFileSync(ws, JSON.stringify({ brokers: ['ws://127.0.0.1:8083/mqtt'], stateDir: join(root, 'ws-state') }));
    const r1 = await runCli(['config', 'check', '--config', ws], root);
    expect(r1.code).toBe(2);
    expect(r1.err).toMatch(/"brokers\[0\]" uses WebSocket/);
    const fileState = join(root, 'state-is-a-file');
    writeFileSync(fileState, '');
    const sf = join(root, 'sf.json');
    writeFileSync(sf, JSON.stringify({ brokers: ['mqtt://127.0.0.1:1'], stateDir: fileState }));
    const r2 = await runCli(['config', 'check', '--config', sf], root);
    expect(r2.code).toBe(2);
    expect(r2.err).toMatch(/"stateDir" .* exists and is not a directory/);
  });
});
