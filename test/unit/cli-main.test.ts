import { describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { main } from '../../src/cli/main';
import type { CliIo } from '../../src/cli/command';

function io(): CliIo & { out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => (out += String(d)));
  stderr.on('data', (d) => (err += String(d)));
  return { stdout, stderr, env: {}, cwd: process.cwd(), out: () => out, err: () => err };
}

describe('ftagent entry point', () => {
  it('prints the version', async () => {
    const t = io();
    expect(await main(['--version'], t)).toBe(0);
    expect(t.out()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('rejects an unknown command with exit 2 and says how to get help', async () => {
    const t = io();
    expect(await main(['frobnicate'], t)).toBe(2);
    expect(t.err()).toContain('unknown command "frobnicate"');
    expect(t.err()).toContain('--help');
  });
});
