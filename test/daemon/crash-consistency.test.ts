import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daemon } from '../../src/daemon/daemon';
import { CrashFs, PowerCut } from '../helpers/crash-fs';
import type { DurableFs } from '../../src/storage/durable-fs';
import { Spool } from '../../src/storage/spool';
import { broker, daemonConfig, exportsOf, quietLog, sampleFile, until } from './helpers';

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'ftagent-crash-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** The simulator's DurableFs, calling `onCut` the moment a call meets the power cut. */
function watched(fs: DurableFs, onCut: () => void): DurableFs {
  const wrap =
    <A extends unknown[], R>(f: (...a: A) => Promise<R>) =>
    async (...a: A): Promise<R> => {
      try {
        return await f(...a);
      } catch (err) {
        if (err instanceof PowerCut) onCut();
        throw err;
      }
    };
  return {
    writeFileAtomic: wrap(fs.writeFileAtomic.bind(fs)),
    readFile: wrap(fs.readFile.bind(fs)),
    list: wrap(fs.list.bind(fs)),
    remove: wrap(fs.remove.bind(fs)),
    rename: wrap(fs.rename.bind(fs)),
    mkdirp: wrap(fs.mkdirp.bind(fs)),
    stat: wrap(fs.stat.bind(fs)),
  };
}

const STATE = '/var/lib/ftagent';
const SIZE = 24_000;

describe('crash consistency of a queued and uploaded job', () => {
  it('after a power cut at any boundary the job exists, resumes and reaches the broker exactly once', async () => {
    const b = await broker(join(root, 'broker'));
    const srcPath = join(root, 'payload.bin');
    const bytes = sampleFile(srcPath, SIZE);
    const retry = { baseMs: 5, capMs: 20 };
    let cutsTried = 0;
    /** Boot-2 runs that sent fewer segment bytes than the file holds: they resumed. */
    let resumed = 0;
    try {
      for (let k = 0; ; k++) {
        const config = await daemonConfig(STATE, b.port, { clientId: `crash-${k}` });
        const disk = new CrashFs(undefined, { unsyncedData: 'partial' });
        disk.cutPowerAt(k);
        let daemon: Daemon | undefined;
        let cut = false;
        const fs = watched(disk.durableFs, () => {
          cut = true;
          daemon?.halt();
        });
        // Boot 1: a device script queues the file (`ftagent send --queue`), the daemon sends it.
        let id: string | undefined;
        try {
          const spool = await Spool.open(fs, STATE);
          id = await spool.enqueue({ kind: 'upload', file: srcPath });
          daemon = await Daemon.start({ config, fs, logger: quietLog, pollMs: 10, retryBackoff: retry });
          if (cut) daemon.halt();
          const spoolView = spool;
          const jobId = id;
          await until(`boot 1 of cut ${k}`, async () => cut || (await spoolView.get(jobId).catch(() => undefined))?.state === 'done');
        } catch (err) {
          if (!(err instanceof PowerCut)) throw err;
        }
        daemon?.halt();
        if (!cut) {
          // No boundary left to cut: every earlier one was walked.
          expect(
            exportsOf(b.dataDir, `crash-${k}`)
              .get(id as string)
              ?.equals(bytes),
          ).toBe(true);
          break;
        }
        cutsTried++;

        // Boot 2 on what the disk kept.
        const after = disk.reboot();
        const daemon2 = await Daemon.start({
          config,
          fs: after.durableFs,
          logger: quietLog,
          pollMs: 10,
          retryBackoff: retry,
          onOutcome: (_id, o) => {
            if (o.kind === 'done' && o.result.bytesSent < SIZE) resumed++;
          },
        });
        const spool2 = await Spool.open(after.durableFs, STATE);
        try {
          await until(`boot 2 of cut ${k}`, async () => (await spool2.pendingIds()).length === 0);
        } finally {
          await daemon2.stop();
        }
        const finished = await spool2.listFinished();
        const exported = exportsOf(b.dataDir, `crash-${k}`);
        const where = `cut ${k} (${disk.ops.at(-1) ?? ''})`;
        if (id !== undefined) {
          // `send --queue` returned the id: the job must have survived and completed.
          expect(
            finished.map((j) => [j.id, j.state]),
            where,
          ).toEqual([[id, 'done']]);
        }
        expect(finished.length, where).toBeLessThanOrEqual(1);
        for (const job of finished) expect(job.state, where).toBe('done');
        expect(exported.size, where).toBe(finished.length);
        for (const [fileId, data] of exported) {
          expect(fileId, where).toBe(finished[0]?.id);
          expect(data.equals(bytes), where).toBe(true);
        }
      }
    } finally {
      await b.stop();
    }
    expect(cutsTried).toBeGreaterThan(30);
    expect(resumed).toBeGreaterThan(5);
  }, 120_000);
});
