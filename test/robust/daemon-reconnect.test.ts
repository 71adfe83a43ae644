/**
 * The daemon against a broker that drops the connection on every publish: each job attempt ends
 * after a bounded number of connect cycles, counts as a start, records why, and the job fails for
 * good after maxAttempts starts instead of looping at "init 0 %".
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daemon } from '../../src/daemon/daemon';
import type { JobOutcome } from '../../src/jobs/upload-job-runner';
import { createNodeDurableFs } from '../../src/storage/node-fs';
import { Spool } from '../../src/storage/spool';
import { startHostileBroker } from '../helpers/hostile-broker';
import { daemonConfig, quietLog, sampleFile, until } from '../daemon/helpers';

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'ftagent-daemon-reconnect-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('the daemon against a broker that drops every publish', () => {
  it('counts each bounded attempt as a start, records the reason, and fails the job after maxAttempts', { timeout: 90_000 }, async () => {
    const b = await startHostileBroker({ onPublish: () => ({ kind: 'close' }) });
    const stateDir = join(root, 'state');
    const fs = createNodeDurableFs();
    const spool = await Spool.open(fs, stateDir);
    mkdirSync(join(root, 'src'), { recursive: true });
    sampleFile(join(root, 'src/a.bin'), 20_000);
    const id = await spool.enqueue({ kind: 'upload', file: join(root, 'src/a.bin') });
    const config = await daemonConfig(stateDir, b.port);
    const retries: string[] = [];
    const outcomes: JobOutcome[] = [];
    const daemon = await Daemon.start({
      config,
      fs,
      logger: quietLog,
      pollMs: 20,
      maxAttempts: 3,
      retryBackoff: { baseMs: 10, capMs: 20 },
      reconnectBackoff: { baseMs: 5, capMs: 40 },
      onOutcome: (jobId, outcome) => {
        if (jobId !== id) return;
        outcomes.push(outcome);
        if (outcome.kind === 'retry') retries.push(`${outcome.error.code}: ${outcome.error.message}`);
      },
    });
    try {
      await until('job failed', async () => (await spool.get(id))?.state === 'failed', 80_000, 50);
    } finally {
      await daemon.stop();
      await b.stop();
    }
    const job = await spool.get(id);
    expect(job?.reason).toMatch(/^GAVE_UP: job was started 3 times without finishing/);
    expect(retries).toHaveLength(3);
    for (const r of retries) expect(r).toMatch(/^GAVE_UP: connected to .* 6 times in a row and lost the link each time before the transfer moved forward/);
    // Three attempts of six stalled cycles each, plus at most one more per attempt: the next
    // attempt's connection may already be up when the previous one is counted as failed.
    expect(b.connects).toBeGreaterThanOrEqual(18);
    expect(b.connects).toBeLessThanOrEqual(24);
  });
});
