/**
 * Local files an operator names are read with a cap (config 1 MiB, password 4 KiB, PEM 1 MiB):
 * /dev/zero or a huge file fails at once with a message naming the file and the limit, and the
 * process never holds more than the cap. Config keys that are not the schema's own are refused,
 * including the ones every object inherits ("constructor", "toString", "__proto__").
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileLimits } from '../../src/config/bounded-read';
import { parseConfig } from '../../src/config/load-config';
import { connectionOptionsFrom } from '../../src/daemon/daemon-settings';
import { isFtError } from '../../src/errors';
import { runCli } from '../helpers/cli-run';
import { agentBundle, ensureFreshBundles } from '../helpers/fresh-bundles';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ftagent-hostile-files-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

async function file(name: string, bytes: number): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, Buffer.alloc(bytes, 0x61));
  return p;
}

describe('size caps on local files', () => {
  it('config check --config /dev/zero fails with the limit, exit 2', async () => {
    const r = await runCli(['config', 'check', '--config', '/dev/zero'], dir);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/config file \/dev\/zero is larger than 1 MiB/);
    expect(r.err).toContain('CONFIG_INVALID');
  });

  it('a config password file is read up to 4 KiB and no further', async () => {
    const at = await file('pw-at-limit', fileLimits.password);
    const over = await file('pw-over', fileLimits.password + 1);
    const c = await parseConfig(JSON.stringify({ username: 'u', passwordFile: at }), join(dir, 'c.json'), { env: {} });
    expect(c.password).toHaveLength(fileLimits.password);
    for (const p of [over, '/dev/zero']) {
      const err = await parseConfig(JSON.stringify({ username: 'u', passwordFile: p }), join(dir, 'c.json'), { env: {} }).catch((e: unknown) => e);
      expect(isFtError(err, 'CONFIG_INVALID')).toBe(true);
      expect(String(err)).toMatch(/larger than 4 KiB/);
    }
  });

  it('send --password-file and --ca /dev/zero are usage errors before any connection', async () => {
    const src = await file('src.txt', 10);
    for (const flags of [
      ['--username', 'u', '--password-file', '/dev/zero'],
      ['--ca', '/dev/zero'],
    ]) {
      const r = await runCli(['send', src, '--broker', 'mqtt://127.0.0.1:1', ...flags, '--json'], dir);
      expect(r.code).toBe(2);
      expect(`${r.err}${r.out}`).toMatch(/larger than (4 KiB|1 MiB)/);
    }
  });

  it('the daemon refuses a TLS file over 1 MiB and takes one at the limit', async () => {
    const at = await file('ca-at.pem', fileLimits.pem);
    const over = await file('ca-over.pem', fileLimits.pem + 1);
    const base = await parseConfig('{}', join(dir, 'c.json'), { env: {} });
    const ok = await connectionOptionsFrom({ ...base, tls: { ...base.tls, ca: at } });
    expect(ok.tls?.ca?.length).toBe(fileLimits.pem);
    const err = await connectionOptionsFrom({ ...base, tls: { ...base.tls, ca: over } }).catch((e: unknown) => e);
    expect(isFtError(err, 'CONFIG_INVALID')).toBe(true);
    expect(String(err)).toMatch(/"tls\.ca" .* is larger than 1 MiB/);
  });

  it('a 150 MB config file fails without the process growing by it', async () => {
    await ensureFreshBundles();
    const big = join(dir, 'big.json');
    await writeFile(big, '');
    await truncate(big, 150 * 1024 * 1024);
    const rssFile = join(dir, 'rss');
    const preload = join(dir, 'rss.js');
    await writeFile(preload, `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(rssFile)}, String(process.resourceUsage().maxRSS)));`);
    const r = await promisify(execFile)(process.execPath, ['--require', preload, agentBundle, 'config', 'check', '--config', big], { encoding: 'utf8' }).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect((r as { code: number }).code).toBe(2);
    expect((r as { stderr: string }).stderr).toMatch(/larger than 1 MiB/);
    // Node itself takes 40-60 MiB; reading the whole file took about 490 MB.
    expect(Number(await readFile(rssFile, 'utf8')) / 1024).toBeLessThan(150);
  });
});

describe("config keys that are not the schema's own", () => {
  for (const key of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
    it(`refuses "${key}" at the top and inside an object`, async () => {
      for (const text of [`{"${key}": {"x": 1}}`, `{"upload": {"${key}": 1}}`]) {
        const err = await parseConfig(text, join(dir, 'c.json'), { env: {} }).catch((e: unknown) => e);
        expect(isFtError(err, 'CONFIG_INVALID'), `${text} was accepted`).toBe(true);
        expect(String(err)).toMatch(/unknown key/);
      }
    });
  }
});

describe('mqtt.maxPacketSize against the nftp block size', () => {
  it('must hold a block plus 4096 bytes of headers, exactly', async () => {
    const cfg = (max: number) => JSON.stringify({ mqtt: { maxPacketSize: max }, store: { nftp: { blockSize: 262144, width: 'u32' } } });
    expect((await parseConfig(cfg(262144 + 4096), join(dir, 'c.json'), { env: {} })).mqtt.maxPacketSize).toBe(266240);
    const err = await parseConfig(cfg(262144 + 4095), join(dir, 'c.json'), { env: {} }).catch((e: unknown) => e);
    expect(isFtError(err, 'CONFIG_INVALID')).toBe(true);
    expect(String(err)).toMatch(/"mqtt\.maxPacketSize" is 266239, too small .* raise it to at least 266240/);
  });
});
