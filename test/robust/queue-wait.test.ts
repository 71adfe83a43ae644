import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli-run';

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'ftagent-queue-wait-'));
  writeFileSync(join(root, 'a.bin'), 'hello');
  writeFileSync(join(root, 'config.json'), JSON.stringify({ brokers: ['mqtt://127.0.0.1:1'], stateDir: join(root, 'state') }));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('send --queue --wait with no daemon running', () => {
  it('says so once on stderr, keeps waiting up to --wait-timeout, then exits 5 TIMEOUT with one JSON object; the job stays queued', async () => {
    const r = await runCli(['send', 'a.bin', '--queue', '--wait', '--wait-timeout', '1', '--json', '--config', join(root, 'config.json')], root);
    expect(r.code).toBe(5);
    const lines = r.out.trim().split('\n');
    expect(lines).toHaveLength(1);
    const result = JSON.parse(lines[0] as string) as { ok: boolean; job: string; state: string; error: { code: string } };
    expect(result).toMatchObject({ ok: false, state: 'queued', error: { code: 'TIMEOUT' } });
    expect(r.err.match(/no daemon is running/g)).toHaveLength(1);
    const status = await runCli(['status', result.job, '--json', '--config', join(root, 'config.json')], root);
    expect(status.json).toMatchObject({ id: result.job, state: 'queued' });
  });

  it('--wait-timeout without --wait is a usage error', async () => {
    const r = await runCli(['send', 'a.bin', '--queue', '--wait-timeout', '5', '--config', join(root, 'config.json')], root);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--wait-timeout needs --wait/);
  });
});
