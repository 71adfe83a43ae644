/**
 * `ftagent run` and `send --queue --wait` as real processes against a broker that drops the
 * connection on every publish: the daemon's job attempt ends after its bounded reconnect cycles,
 * the reason is recorded where `status` shows it, the waiting sender gives up at its
 * --wait-timeout with one JSON object, and the daemon still stops cleanly on SIGTERM.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentBundle, ensureFreshBundles } from '../helpers/fresh-bundles';
import { startHostileBroker } from '../helpers/hostile-broker';
import { runAgent } from './process-run';

let root: string;
beforeAll(async () => {
  await ensureFreshBundles();
  root = mkdtempSync(join(tmpdir(), 'ftagent-hostile-daemon-'));
  writeFileSync(join(root, 'a.bin'), Buffer.alloc(50_000, 3));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('the daemon against a broker that drops every publish', () => {
  it('records why the attempt failed, lets send --wait time out, and stops on SIGTERM', { timeout: 180_000 }, async () => {
    const b = await startHostileBroker({ onPublish: () => ({ kind: 'close' }) });
    const config = join(root, 'config.json');
    writeFileSync(config, JSON.stringify({ brokers: [b.url], clientId: 'gw-hostile-daemon', stateDir: join(root, 'state'), log: { level: 'info' } }));
    const daemon = spawn(process.execPath, [agentBundle, 'run', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    daemon.stdout.on('data', (d) => (log += String(d)));
    const exited = new Promise<number | null>((r) => daemon.on('exit', (c) => r(c)));
    try {
      const waited = await runAgent(['send', 'a.bin', '--queue', '--wait', '--wait-timeout', '45', '--json', '--config', config], { cwd: root, killAfterMs: 150_000 });
      // The job is retried later (its policy), so the wait ends at its timeout, with one object.
      expect(waited.code, waited.err).toBe(5);
      expect(waited.jsonLines).toHaveLength(1);
      const job = (waited.jsonLines[0] as { job: string }).job;
      const status = await runAgent(['status', job, '--json', '--config', config], { cwd: root });
      const record = status.jsonLines[0] as { state: string; reason?: string };
      expect(record.state).toMatch(/queued|active/);
      expect(record.reason).toMatch(/attempt \d+ failed: GAVE_UP: connected to .* 6 times in a row/);
      expect(log).toContain('job attempt failed; will retry');
      // Six cycles per attempt, with pauses that grow: far from the 1,132 connects in 300 s of old.
      expect(b.connects).toBeLessThanOrEqual(30);
    } finally {
      daemon.kill('SIGTERM');
      expect(await exited).toBe(0);
      await b.stop();
    }
  });
});
