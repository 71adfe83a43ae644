import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli-run';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ftagent-config-'));
  await writeFile(join(dir, 'pw'), 'hunter2\n', { mode: 0o600 });
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

let n = 0;
async function check(content: string | object, env: NodeJS.ProcessEnv = {}): Promise<{ status: number; out: string; err: string; file: string }> {
  const file = join(dir, `c${n++}.json`);
  await writeFile(file, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  const r = await runCli(['config', 'check', '--config', file], dir, env);
  return { status: r.code, out: r.out, err: r.err, file };
}

describe('ftagent config check', () => {
  it('accepts an empty object (every key has a default) and prints a summary', async () => {
    const r = await check({});
    expect(r.status).toBe(0);
    expect(r.out).toContain(`config OK: ${r.file}`);
    expect(r.out).toContain('mqtt://localhost:1883');
    expect(r.out).toContain('5, sync mode');
    expect(r.out).toContain('/var/lib/ftagent');
  });

  it('accepts a full config, resolving relative paths against the config file', async () => {
    await mkdir(join(dir, 'incoming'), { recursive: true });
    const r = await check({
      brokers: ['mqtts://broker.example.com:8883', 'mqtt://10.0.0.5:1883'],
      clientId: 'store-0042-gw',
      username: 'gw42',
      passwordFile: 'pw',
      mqtt: { version: '3.1.1' },
      stateDir: 'state',
      upload: { onSourceChange: 'restart' },
      watch: [{ dir: 'incoming', pattern: 'cam-*.jpg', afterSuccess: 'move', moveTo: 'sent', upload: { window: 4, onSourceChange: 'fail' } }],
      store: {
        enabled: true,
        requestTimeoutSeconds: 15,
        rescanSeconds: 60,
        nftp: { blockSize: 16384, width: 'u16', window: 8, intervalMs: 10, lingerSeconds: 20, stallMs: 400, maxGivemes: 6, helloWaitMs: 30000, checkpointEvery: 32 },
        receive: { roots: ['media'], browseRoots: ['logs'], overwrite: true },
      },
    });
    expect(r.err).toBe('');
    expect(r.status).toBe(0);
    expect(r.out).toContain('3.1.1, async mode');
    expect(r.out).toContain('password set');
    expect(r.out).not.toContain('hunter2');
    expect(r.out).toContain(`${join(dir, 'state')}`);
    expect(r.out).toContain(`${join(dir, 'incoming')}/cam-*.jpg`);
  });

  const cases: [string, string | object, string][] = [
    ['a missing file', '', ''],
    ['broken JSON', '{\n  "brokers": ["mqtt://a:1883"],\n}', 'is not valid JSON at line 3'],
    ['a non-object', '[1]', 'must hold one JSON object'],
    ['a misspelt key', { upload: { chunksize: 1024 } }, 'unknown key "upload.chunksize": did you mean "upload.chunkSize"?'],
    ['a key at the wrong level', { chunkSize: 1024 }, 'unknown key "chunkSize": did you mean "upload.chunkSize"?'],
    ['an unknown key with nothing close', { frobnicate: 1 }, 'unknown key "frobnicate": remove it (keys allowed here: brokers, clientId'],
    [
      'a wrong type',
      { upload: { finTimeoutSeconds: '330' } },
      '"upload.finTimeoutSeconds" must be a whole number from 1 to 86400 (seconds), got the string "330": fix the value, e.g. 330 (the default)',
    ],
    ['a value out of range', { upload: { chunkSize: 10 } }, '"upload.chunkSize" must be a whole number from 64 to 16777216 (bytes), got 10'],
    ['a bad enum', { mqtt: { version: 5 } }, '"mqtt.version" must be one of "5", "3.1.1", got 5'],
    ['a bad broker URL', { brokers: ['localhost:1883'] }, '"brokers[0]" must be a broker URL such as mqtt://10.0.0.5:1883'],
    ['an empty broker list', { brokers: [] }, '"brokers" needs at least 1 entry'],
    ['a password in the file', { password: 'x' }, '"password" must not be written in the config file'],
    ['sync mode on MQTT 3.1.1', { mqtt: { version: '3.1.1', mode: 'sync' } }, '"mqtt.mode" is "sync", which needs MQTT 5'],
    ['a missing required key', { watch: [{ pattern: '*' }] }, '"watch[0].dir" is missing'],
    ['move without a target', { watch: [{ dir: '/in', afterSuccess: 'move' }] }, '"watch[0].moveTo" is needed when "afterSuccess" is "move"'],
    ['a bad glob', { watch: [{ dir: '/in', pattern: '**/*.jpg' }] }, '"watch[0].pattern" is matched against file names only'],
    ['a bad per-watch override', { watch: [{ dir: '/in', upload: { window: 0 } }] }, '"watch[0].upload.window" must be a whole number from 1 to 65535'],
    ['an unreadable password file', { passwordFile: 'nope' }, '"passwordFile" names'],
    ['a half TLS client pair', { tls: { cert: 'pw' } }, '"tls.key" is needed too'],
    ['a missing CA file', { tls: { ca: 'ca.pem' } }, '"tls.ca" names'],
    ['a bad log level', { log: { level: 'verbose' } }, '"log.level" must be one of "fatal", "error"'],
    ['a client id that breaks topics', { clientId: 'a/b' }, '"clientId" must not contain "/"'],
    ['a bad source-change policy', { upload: { onSourceChange: 'retry' } }, '"upload.onSourceChange" must be one of "fail", "restart", got the string "retry"'],
    ['a misspelt store switch', { store: { enable: true } }, 'unknown key "store.enable": did you mean "store.enabled"?'],
    ['receive settings at the top level', { receive: { roots: ['/srv'] } }, 'unknown key "receive": did you mean "store.receive"?'],
    ['an nftp setting outside store.nftp', { store: { blockSize: 1024 } }, 'unknown key "store.blockSize": did you mean "store.nftp.blockSize"?'],
    [
      'a block too big for the u16 width',
      { store: { nftp: { blockSize: 65536 } } },
      '"store.nftp.blockSize" is 65536, more than the 65535 bytes "store.nftp.width" "u16" can describe: lower "store.nftp.blockSize" or set "store.nftp.width" to "u32"',
    ],
    ['a bad nftp width', { store: { nftp: { width: 'u8' } } }, '"store.nftp.width" must be one of "u16", "u32", got the string "u8"'],
    ['a receive root that is not a list', { store: { receive: { roots: '/srv/media' } } }, '"store.receive.roots" must be a list [ … ], got the string "/srv/media"'],
    ['an empty browse root', { store: { receive: { browseRoots: [''] } } }, '"store.receive.browseRoots[0]" is empty: give a path, or remove the key'],
    ['a zero request timeout', { store: { requestTimeoutSeconds: 0 } }, '"store.requestTimeoutSeconds" must be a whole number from 1 to 3600 (seconds), got 0'],
    ['a non-boolean overwrite', { store: { receive: { overwrite: 'yes' } } }, '"store.receive.overwrite" must be true or false, got the string "yes"'],
    ['a negative rate cap', { maxBytesPerSecond: -1 }, '"maxBytesPerSecond" must be a whole number from 0 to 1073741824'],
  ];

  it.each(cases)('rejects %s with one line and exit status 2', async (_name, content, expected) => {
    if (content === '') {
      const r = await runCli(['config', 'check', '--config', join(dir, 'absent.json')], dir);
      expect(r.code).toBe(2);
      expect(r.err).toBe(`ftagent config: config file ${join(dir, 'absent.json')} does not exist: create it (the README has a complete example) or pass --config FILE [CONFIG_INVALID]\n`);
      return;
    }
    const r = await check(content);
    expect(r.status).toBe(2);
    expect(r.out).toBe('');
    expect(r.err.split('\n').filter(Boolean)).toHaveLength(1);
    expect(r.err).toMatch(new RegExp(`^ftagent config: config ${r.file}[: ]`));
    expect(r.err).toContain(expected);
  });

  it('takes the password from FTAGENT_PASSWORD', async () => {
    const r = await check({ username: 'u' }, { FTAGENT_PASSWORD: 's3cret' });
    expect(r.out).toContain('password set');
    expect(r.out).not.toContain('s3cret');
  });

  it('rejects a missing or unknown subcommand as a usage error', async () => {
    expect((await runCli(['config'], dir)).code).toBe(2);
    const show = await runCli(['config', 'show'], dir);
    expect(show.code).toBe(2);
    expect(show.err).toContain('unknown subcommand "show"');
  });

  it('prints its usage with --help', async () => {
    const help = await runCli(['config', '--help'], dir);
    expect(help.code).toBe(0);
    expect(help.out).toContain('ftagent config check [--config FILE]');
  });
});
