import { describe, expect, it } from 'vitest';
import { JobScheduler } from '../../src/jobs/job-scheduler';
import type { JobControl, JobOutcome } from '../../src/jobs/upload-job-runner';
import type { CommandLink } from '../../src/mqtt/command-link';
import type { JobRecord } from '../../src/storage/job-record';
import { CrashFs } from '../helpers/crash-fs';
import { Spool } from '../../src/storage/spool';
import { FtError } from '../../src/errors';
import { createLogger } from '../../src/log';
import { FakeClock, flush } from '../helpers/fake-clock';
import { ScriptedLink } from '../engine/helpers/scripted-link';

/** One attempt the scheduler started; the test decides how it ends. */
interface Attempt {
  id: string;
  control: JobControl;
  end(outcome: JobOutcome | ((job: JobRecord) => Promise<JobOutcome>)): Promise<void>;
}

async function harness(opts: { maxConcurrent?: number; jobs?: number; link?: boolean } = {}) {
  const fs = new CrashFs();
  const spool = await Spool.open(fs.durableFs, '/state');
  const clock = new FakeClock(1_000_000);
  const ids: string[] = [];
  for (let i = 0; i < (opts.jobs ?? 1); i++) ids.push(await spool.enqueue({ kind: 'upload', file: `/data/f${i}` }));
  const attempts: Attempt[] = [];
  let running = 0;
  let maxRunning = 0;
  let link: CommandLink | null = opts.link === false ? null : new ScriptedLink();
  const scheduler = new JobScheduler({
    spool,
    maxConcurrent: opts.maxConcurrent ?? 1,
    pollMs: 1000,
    retryBackoff: { baseMs: 10_000, capMs: 10_000 },
    link: () => link,
    clock,
    logger: createLogger({ level: 'silent' }),
    random: () => 0.5,
    run: (job, control) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      return new Promise<JobOutcome>((resolve) => {
        attempts.push({
          id: job.id,
          control,
          end: async (outcome) => {
            running--;
            resolve(typeof outcome === 'function' ? await outcome(job) : outcome);
            await flush();
          },
        });
      });
    },
  });
  return {
    spool,
    clock,
    ids,
    attempts,
    scheduler,
    get running() {
      return running;
    },
    get maxRunning() {
      return maxRunning;
    },
    setLink(up: boolean) {
      link = up ? new ScriptedLink() : null;
    },
  };
}

const done =
  (spool: Spool) =>
  async (job: JobRecord): Promise<JobOutcome> => ({
    kind: 'done',
    record: await spool.markDone(job.id),
    result: { fileId: 'f', name: 'n', size: 0, sha256: '', seconds: 0, bytesSent: 0, retries: 0, clientId: 'gw-1', broker: 'mqtt://scripted:1883' },
  });

describe('the job scheduler', () => {
  it('runs at most maxConcurrent jobs at once and starts the next as soon as one ends', async () => {
    const h = await harness({ maxConcurrent: 2, jobs: 5 });
    h.scheduler.start();
    await h.clock.advance(0);
    expect(h.attempts).toHaveLength(2);
    await h.attempts[0]!.end(done(h.spool));
    await h.clock.advance(0);
    expect(h.attempts).toHaveLength(3);
    // End attempts oldest first until every job has run once.
    for (let ended = 1; ended < 5; ended++) {
      await h.attempts[ended]!.end(done(h.spool));
      await h.clock.advance(0);
    }
    expect(h.maxRunning).toBe(2);
    expect(new Set(h.attempts.map((a) => a.id)).size).toBe(5);
    expect(await h.spool.list()).toEqual([]);
    await h.scheduler.stop();
  });

  it('starts nothing while the link is down, and starts the queue once it is up', async () => {
    const h = await harness({ link: false, jobs: 1 });
    h.scheduler.start();
    await h.clock.advance(5000);
    expect(h.attempts).toHaveLength(0);
    h.setLink(true);
    await h.clock.advance(1000);
    expect(h.attempts.map((a) => a.id)).toEqual(h.ids);
    await h.attempts[0]!.end(done(h.spool));
    await h.scheduler.stop();
  });

  it('waits out the backoff before another attempt of a job that failed transiently', async () => {
    const h = await harness();
    h.scheduler.start();
    await h.clock.advance(0);
    const error = new FtError('TIMEOUT', 'no answer', { transient: true });
    await h.attempts[0]!.end({ kind: 'retry', error, attempts: 1, immediately: false });
    // backoffDelay(1, 10 s cap, random 0.5) = 5 s: polls before that leave the job alone.
    await h.clock.advance(4000);
    expect(h.attempts).toHaveLength(1);
    await h.clock.advance(2000);
    expect(h.attempts).toHaveLength(2);
    expect(h.attempts[1]!.id).toBe(h.ids[0]);
    await h.attempts[1]!.end(done(h.spool));
    await h.scheduler.stop();
  });

  it('cancels a queued job without running it, and tells a running job to cancel', async () => {
    const h = await harness({ jobs: 2 });
    h.scheduler.start();
    await h.clock.advance(0);
    const [first, second] = h.ids as [string, string];
    expect(h.attempts.map((a) => a.id)).toEqual([first]);
    await h.spool.requestCancel(second);
    await h.spool.requestCancel(first);
    await h.clock.advance(1000);
    expect((await h.spool.get(second))?.state).toBe('cancelled');
    expect(h.attempts[0]!.control.cancel.aborted).toBe(true);
    expect(h.attempts[0]!.control.stop.aborted).toBe(false);
    await h.attempts[0]!.end(async (job) => ({ kind: 'cancelled', record: await h.spool.cancel(job.id) }));
    await h.clock.advance(1000);
    expect(h.attempts).toHaveLength(1);
    expect(await h.spool.cancelRequests()).toEqual([]);
    await h.scheduler.stop();
  });

  it('on stop, tells running jobs to stop, waits for them, and starts nothing more', async () => {
    const h = await harness({ jobs: 2 });
    h.scheduler.start();
    await h.clock.advance(0);
    let stopped = false;
    const stopping = h.scheduler.stop().then(() => (stopped = true));
    await flush();
    expect(h.attempts[0]!.control.stop.aborted).toBe(true);
    expect(stopped).toBe(false);
    await h.attempts[0]!.end({ kind: 'stopped' });
    await stopping;
    await h.clock.advance(10_000);
    expect(h.attempts).toHaveLength(1);
    expect((await h.spool.list()).map((j) => j.id)).toEqual(h.ids);
  });
});
