import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const install = join(__dirname, '../../scripts/install.sh');
const uninstall = join(__dirname, '../../scripts/uninstall.sh');

describe('install.sh and uninstall.sh', () => {
  let root: string;
  let bundle: string;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'ftagent-install-'));
    bundle = join(root, 'bundle.js');
    writeFileSync(bundle, '#!/usr/bin/env node\n');
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  function runInstall(...extra: string[]): string {
    return execFileSync('sh', [install, '--root', join(root, 'fs'), '--bundle', bundle, ...extra], { encoding: 'utf8' });
  }

  it('lays out program, private config and state dirs, and a unit that systemd accepts', () => {
    runInstall('--heap-mb', '40');
    const fs = join(root, 'fs');
    expect(statSync(join(fs, 'opt/ftagent/ftagent.js')).mode & 0o777).toBe(0o755);
    expect(statSync(join(fs, 'etc/ftagent')).mode & 0o777).toBe(0o700);
    expect(statSync(join(fs, 'var/lib/ftagent')).mode & 0o777).toBe(0o700);
    expect(statSync(join(fs, 'etc/ftagent/config.json')).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(join(fs, 'etc/ftagent/config.json'), 'utf8'))).toHaveProperty('brokers');
    expect(readlinkSync(join(fs, 'usr/local/bin/ftagent'))).toBe('/opt/ftagent/ftagent.js');

    const unitPath = join(fs, 'etc/systemd/system/ftagent.service');
    const unit = readFileSync(unitPath, 'utf8');
    expect(unit).not.toContain('@');
    expect(unit).toMatch(/^ExecStart=\/\S*node --max-old-space-size=40 --max-semi-space-size=1 \/opt\/ftagent\/ftagent\.js run --config \/etc\/ftagent\/config\.json$/m);
    expect(unit).toMatch(/^Restart=always$/m);
    expect(unit).toMatch(/^RestartPreventExitStatus=2$/m);
    expect(unit).toMatch(/^After=network-online\.target$/m);

    const verify = spawnSync('systemd-analyze', ['verify', unitPath], { encoding: 'utf8' });
    if (verify.error) throw new Error(`systemd-analyze is needed for this test (apt-get install systemd): ${verify.error.message}`);
    expect(verify.stderr.trim()).toBe('');
    expect(verify.status).toBe(0);
  });

  it('keeps an existing config on reinstall', () => {
    runInstall();
    const config = join(root, 'fs/etc/ftagent/config.json');
    writeFileSync(config, '{"brokers":["mqtts://mine:8883"]}');
    runInstall();
    expect(readFileSync(config, 'utf8')).toContain('mine');
  });

  it('refuses to install a bundle that does not exist, saying how to build it', () => {
    const r = spawnSync('sh', [install, '--root', join(root, 'fs'), '--bundle', join(root, 'missing.js')], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('npm run build');
  });

  it('uninstall keeps config and queued jobs unless --purge', () => {
    runInstall();
    const fs = join(root, 'fs');
    writeFileSync(join(fs, 'var/lib/ftagent/job'), 'queued');
    execFileSync('sh', [uninstall, '--root', fs]);
    expect(existsSync(join(fs, 'opt/ftagent'))).toBe(false);
    expect(existsSync(join(fs, 'etc/systemd/system/ftagent.service'))).toBe(false);
    expect(existsSync(join(fs, 'var/lib/ftagent/job'))).toBe(true);
    execFileSync('sh', [uninstall, '--root', fs, '--purge']);
    expect(existsSync(join(fs, 'var/lib/ftagent'))).toBe(false);
    expect(existsSync(join(fs, 'etc/ftagent'))).toBe(false);
  });
});
