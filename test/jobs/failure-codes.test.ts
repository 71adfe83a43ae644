import { describe, expect, it } from 'vitest';
import { FtError } from '../../src/errors';
import { exitCodeOf } from '../../src/cli/exit-codes';
import { failedJobError } from '../../src/cli/send-queue';
import { runUploadJob, type UploadJobDeps } from '../../src/jobs/upload-job-runner';
import { CrashFs } from '../helpers/crash-fs';
import { Spool } from '../../src/storage/spool';
import { encodeJob } from '../../src/storage/job-record';
import { createLogger } from '../../src/log';
import { ScriptedLink, acceptAll } from '../engine/helpers/scripted-link';
import { MemorySource } from '../engine/helpers/memory-source';

const logger = createLogger({ level: 'silent' });
const control = () => ({ stop: new AbortController().signal, cancel: new AbortController().signal });

async function setup(source: MemorySource): Promise<{ fs: CrashFs; spool: Spool; deps: UploadJobDeps; id: string }> {
  const fs = new CrashFs();
  const spool = await Spool.open(fs.durableFs, '/state');
  const id = await spool.enqueue({ kind: 'upload', file: source.path, options: {} });
  const deps: UploadJobDeps = {
    spool,
    link: new ScriptedLink(5, acceptAll),
    defaults: { mode: 'sync', chunkSize: 1024, window: 4, segmentChecksums: false, finTimeoutMs: 60_000 },
    checkpoint: { everyBytes: 1 << 20, everyMs: 60_000 },
    maxAttempts: 50,
    logger,
    opener: { open: async () => source },
  };
  return { fs, spool, deps, id };
}

describe('a failed job keeps its error code as data', () => {
  it('fails a job at its first attempt with INTERNAL when the code hits a bug, and records the code', async () => {
    const source = new MemorySource({
      content: 10_000,
      onRead: (reads) => {
        if (reads === 2) throw new TypeError("Cannot read properties of undefined (reading 'length')");
      },
    });
    const { fs, id, deps } = await setup(source);
    const outcome = await runUploadJob((await deps.spool.get(id))!, control(), deps);
    // Not a transient GAVE_UP retried 50 times, not a peer's PROTOCOL_ERROR: a bug, failed at once.
    expect(outcome.kind).toBe('failed');
    if (outcome.kind !== 'failed') return;
    expect(outcome.error).toMatchObject({ code: 'INTERNAL', transient: false });
    expect(outcome.record.code).toBe('INTERNAL');
    // What `send --wait` reads back from disk, in a fresh spool over the same state directory.
    const reread = await (await Spool.open(fs.durableFs, '/state')).get(id);
    expect(reread).toMatchObject({ state: 'failed', code: 'INTERNAL' });
    expect(exitCodeOf(failedJobError(reread!))).toBe(1);
  });

  it('takes the exit status from the code field, whatever the reason text says', () => {
    expect(exitCodeOf(failedJobError({ code: 'FT_REJECTED', reason: 'GAVE_UP: looks like something else' }))).toBe(4);
    expect(exitCodeOf(failedJobError({ code: 'SOURCE_CHANGED', reason: 'the file grew' }))).toBe(3);
  });

  it('still reads the code of records written before the field existed', async () => {
    const { fs, spool, id } = await setup(new MemorySource({ content: 10 }));
    const old = { ...(await spool.get(id))!, state: 'failed' as const, reason: 'SOURCE_CHANGED: /data/a changed while being sent' };
    await fs.durableFs.writeFileAtomic(`/state/finished/${id}.job`, encodeJob(old));
    await fs.durableFs.remove(`/state/jobs/${id}.job`);
    const record = await (await Spool.open(fs.durableFs, '/state')).get(id);
    expect(record?.code).toBeUndefined();
    expect(failedJobError(record!)).toMatchObject({ code: 'SOURCE_CHANGED', message: '/data/a changed while being sent' });
    expect(exitCodeOf(failedJobError({ reason: 'no code at all' }))).toBe(5);
  });
});

describe('FtError.from', () => {
  it('passes an FtError through unchanged', () => {
    const e = new FtError('TIMEOUT', 'no answer', { transient: true });
    expect(FtError.from(e)).toBe(e);
    expect(FtError.from(e, { code: 'DISCONNECTED', what: 'publish' })).toBe(e);
  });

  it('makes anything else INTERNAL (exit 1, not transient), keeping the original as the cause', () => {
    const bug = new RangeError('offset out of range');
    const e = FtError.from(bug);
    expect(e).toMatchObject({ code: 'INTERNAL', transient: false, message: 'unexpected failure: offset out of range', cause: bug });
    expect(exitCodeOf(e)).toBe(1);
    expect(FtError.from('a string').message).toBe('unexpected failure: a string');
  });

  it('lets a port boundary say what a foreign error means there', () => {
    const e = FtError.from(new Error('client disconnecting'), { code: 'DISCONNECTED', what: 'publishing FILE failed', transient: true });
    expect(e).toMatchObject({ code: 'DISCONNECTED', transient: true, message: 'publishing FILE failed: client disconnecting' });
    expect(exitCodeOf(e)).toBe(5);
  });
});
