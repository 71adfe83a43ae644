import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli-run';
import { readmeExample } from '../helpers/readme-config';

describe('the README config example', () => {
  const root = mkdtempSync(join(tmpdir(), 'ftagent-readme-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('passes `ftagent config check` once the files it names exist', async () => {
    // Move every absolute path of the example under a temp root and create what must exist.
    const text = readmeExample().replace(/"\/(etc|data|var)\//g, `"${root}/$1/`);
    mkdirSync(join(root, 'etc/ftagent'), { recursive: true });
    writeFileSync(join(root, 'etc/ftagent/password'), 'x\n', { mode: 0o600 });
    // config check reads the certificates as the daemon will: they must be real PEM, key matching.
    const pem = (name: string): string => join(root, 'etc/ftagent', name);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=gw', '-keyout', pem('client.key'), '-out', pem('client.pem')], { stdio: 'ignore' });
    copyFileSync(pem('client.pem'), pem('ca.pem'));
    for (const dir of ['data/outgoing', 'data/sent', 'data/incoming']) mkdirSync(join(root, dir), { recursive: true });
    const config = join(root, 'config.json');
    writeFileSync(config, text);

    const r = await runCli(['config', 'check', '--config', config], root);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain(`config OK: ${config}`);
  });
});
