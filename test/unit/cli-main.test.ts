import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli-run';

describe('ftagent entry point', () => {
  it('prints the version', async () => {
    const r = await runCli(['--version'], process.cwd());
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('rejects an unknown command with exit 2 and says how to get help', async () => {
    const r = await runCli(['frobnicate'], process.cwd());
    expect(r.code).toBe(2);
    expect(r.err).toContain('unknown command "frobnicate"');
    expect(r.err).toContain('--help');
  });

  it('lists every command in its help', async () => {
    const r = await runCli(['--help'], process.cwd());
    expect(r.code).toBe(0);
    for (const name of ['send', 'run', 'status', 'cancel', 'config', 'job', 'fetch']) expect(r.out).toMatch(new RegExp(`^  ${name} `, 'm'));
  });
});
