/**
 * Runs one queued upload job once: job + checkpoint → uploadFile with `resume`, progress →
 * CheckpointWriter, outcome → the spool. The scheduler decides when to call it again.
 *
 * Every attempt starts by writing the checkpoint (file id, exact init payload, source identity,
 * attempt count) before a byte goes out, so after a power cut the next attempt sends a
 * byte-identical init and only what the broker has not confirmed. The default file id is the job
 * id, stable across restarts.
 */
import { basename } from 'node:path';
import { FtError, isFtError } from '../errors';
import type { Logger } from '../log';
import { systemClock, type Clock } from '../time/clock';
import type { CommandLink } from '../mqtt/command-link';
import { encodeInitPayload, safeFileName } from '../protocol/emqx-ft-filemeta';
import { totalBytes } from '../storage/byte-ranges';
import type { Checkpoint, CheckpointWriter } from '../storage/checkpoint';
import type { JobRecord } from '../storage/job-record';
import type { Spool } from '../storage/spool';
import { describeChange, nodeSourceOpener, sameSource, type SourceIdentity, type SourceOpener } from '../transfer/source-file';
import { uploadFile, validateUploadOptions } from '../transfer/emqx-ft/upload';
import { abandonTransfer } from '../transfer/emqx-ft/upload-abort';
import type { UploadOptions, UploadResult } from '../transfer/emqx-ft/upload-options';
import type { UploadSnapshot } from '../transfer/emqx-ft/upload-snapshot';
import { decodeQueuedOptions, jobUploadOptions, type JobUploadDefaults, type QueuedUploadOptions } from './upload-job-options';

export interface UploadJobDeps {
  spool: Spool;
  link: CommandLink;
  defaults: JobUploadDefaults;
  /** Checkpoint throttle: at most every `everyBytes` of progress or `everyMs`, and at each stage change. */
  checkpoint: { everyBytes: number; everyMs: number };
  /** Starts of one job (resumes after a crash included) before it is failed: stops a poison job. */
  maxAttempts: number;
  logger: Logger;
  clock?: Clock;
  opener?: SourceOpener;
  /** Wall clock for checkpoint timestamps. */
  now?: () => number;
}

export interface JobControl {
  /** The daemon is stopping: keep the job active with its checkpoint. */
  stop: AbortSignal;
  /** `ftagent cancel`: record the job as cancelled. */
  cancel: AbortSignal;
}

export type JobOutcome =
  | { kind: 'done'; record: JobRecord; result: UploadResult }
  | { kind: 'failed'; record: JobRecord; error: FtError }
  | { kind: 'cancelled'; record: JobRecord }
  /** The job stays active; run it again later (transient failure, or a changed source to restart). */
  | { kind: 'retry'; error: FtError; attempts: number; immediately: boolean }
  /** The daemon stopped it; it stays active with its checkpoint. */
  | { kind: 'stopped' }
  /** Finished or removed by someone else meanwhile. */
  | { kind: 'gone' };

/** `CODE: message`: what `status` shows (the code itself is kept in the record's `code`). */
function failureReason(err: FtError): string {
  return `${err.code}: ${err.message}`;
}

export async function runUploadJob(job: JobRecord, control: JobControl, deps: UploadJobDeps): Promise<JobOutcome> {
  const { spool, logger } = deps;
  const now = deps.now ?? Date.now;
  const opener = deps.opener ?? nodeSourceOpener;
  let active: JobRecord;
  try {
    active = await spool.markActive(job.id);
  } catch (err) {
    if (isFtError(err, 'JOB_NOT_FOUND')) return { kind: 'gone' };
    throw err;
  }
  const fail = async (error: FtError): Promise<JobOutcome> => {
    const record = await spool.markFailed(job.id, failureReason(error), error.code);
    logger.warn({ job: job.id, file: job.spec.file, code: error.code, err: error.message }, 'job failed');
    return { kind: 'failed', record, error };
  };

  let queued: QueuedUploadOptions;
  let options: UploadOptions;
  try {
    queued = decodeQueuedOptions(active.spec.options, job.id);
    options = jobUploadOptions(active.spec.file, queued, deps.defaults);
    validateUploadOptions(options, deps.link.protocolVersion);
  } catch (err) {
    return fail(FtError.from(err));
  }

  let identity: SourceIdentity;
  try {
    const source = await opener.open(options.path);
    try {
      identity = await source.identity();
    } finally {
      await source.close().catch(() => undefined);
    }
  } catch (err) {
    return fail(FtError.from(err));
  }

  const previous = await spool.readCheckpoint(job.id);
  const attempts = (previous?.attempts ?? 0) + 1;
  if (attempts > deps.maxAttempts) {
    return fail(new FtError('GAVE_UP', `job was started ${deps.maxAttempts} times without finishing; giving up (see the daemon log for each attempt's error)`));
  }
  let start: Checkpoint;
  if (previous && !sameSource(previous.source, identity)) {
    const change = describeChange(previous.source, identity);
    if (queued.onSourceChange !== 'restart') {
      return fail(new FtError('SOURCE_CHANGED', `${options.path} changed since its transfer started (${change}); queue it again to send the new content`, { details: { path: options.path } }));
    }
    const generation = generationOf(previous.fileId, baseFileId(queued, job)) + 1;
    logger.info({ job: job.id, file: options.path, change, generation }, 'source changed: sending it again under a new file id');
    start = freshCheckpoint(job, queued, options, identity, generation, attempts, now);
  } else if (previous) {
    start = { ...previous, attempts, updatedAt: iso(now) };
  } else {
    start = freshCheckpoint(job, queued, options, identity, 1, attempts, now);
  }

  const writer = spool.checkpointWriter(job.id, deps.checkpoint);
  await writer.update(start);
  const progress = new ProgressRecorder(writer, start, now, deps.checkpoint.everyBytes);

  const abort = new AbortController();
  const onStop = (): void => abort.abort();
  control.stop.addEventListener('abort', onStop, { once: true });
  control.cancel.addEventListener('abort', onStop, { once: true });
  progress.onWriteError = () => abort.abort();
  if (control.stop.aborted || control.cancel.aborted) abort.abort();

  const confirmedBefore = totalBytes(start.confirmed);
  logger.info(
    { job: job.id, file: options.path, size: identity.size, fileId: start.fileId, attempt: attempts, resumeFrom: confirmedBefore, stage: start.stage },
    confirmedBefore > 0 || start.stage !== 'init' ? 'job resumed' : 'job started',
  );
  try {
    const result = await uploadFile(
      // No abort on failure: a transient one resumes from the checkpoint; below decides what is final.
      { ...options, resume: toSnapshot(start), onProgress: (s) => progress.offer(s), signal: abort.signal, abortOnFailure: false },
      { link: deps.link, logger, opener: gatedOpener(opener, () => progress.room()), ...(deps.clock ? { clock: deps.clock } : { clock: systemClock }) },
    );
    // No write may land after finish() removed the checkpoint.
    await progress.settled();
    const record = await spool.markDone(job.id, `sent as file id ${result.fileId}, name ${result.name}, ${result.size} bytes, sha256 ${result.sha256}`);
    logger.info(
      {
        job: job.id,
        fileId: result.fileId,
        size: result.size,
        resent: Math.max(0, result.bytesSent - (result.size - confirmedBefore)),
        retries: result.retries,
        seconds: Number(result.seconds.toFixed(3)),
      },
      'job done',
    );
    return { kind: 'done', record, result };
  } catch (err) {
    const error = FtError.from(err);
    const abandon = (): Promise<void> => abandonTransfer(deps.link, options.mode, start.fileId, deps.clock ?? systemClock, logger);
    if (control.cancel.aborted && !control.stop.aborted) {
      await abandon();
      await progress.settled();
      const record = await spool.cancel(job.id, 'cancelled on request');
      logger.info({ job: job.id }, 'job cancelled');
      return { kind: 'cancelled', record };
    }
    if (control.stop.aborted) {
      // Write down everything confirmed so far: the next start re-sends as little as possible.
      await progress.flush().catch((e: unknown) => logger.warn({ job: job.id, err: describe(e) }, 'final checkpoint write failed'));
      logger.info({ job: job.id, confirmed: totalBytes(progress.latest.confirmed) }, 'job paused for shutdown');
      return { kind: 'stopped' };
    }
    await progress.settled();
    const writeError = progress.writeError;
    if (writeError) {
      const stateError = FtError.from(writeError);
      logger.error({ job: job.id, code: stateError.code, err: stateError.message }, 'cannot write the checkpoint: upload paused; the job stays queued');
      return { kind: 'retry', error: stateError, attempts, immediately: false };
    }
    if (error.code === 'SOURCE_CHANGED' && queued.onSourceChange === 'restart') {
      // The next attempt sends the new content under a new file id: this one is given up.
      await abandon();
      return { kind: 'retry', error, attempts, immediately: true };
    }
    if (error.code === 'STATE_CORRUPT') {
      // The saved init payload is unusable: move the checkpoint aside; the next attempt starts over.
      await spool.quarantine(spool.checkpointPath(job.id), error.message);
      return { kind: 'retry', error, attempts, immediately: true };
    }
    if (error.transient) {
      await spool.noteRetry(job.id, `attempt ${attempts} failed: ${failureReason(error)}`);
      logger.warn({ job: job.id, attempt: attempts, code: error.code, err: error.message }, 'job attempt failed; will retry');
      return { kind: 'retry', error, attempts, immediately: false };
    }
    await abandon();
    return fail(error);
  } finally {
    control.stop.removeEventListener('abort', onStop);
    control.cancel.removeEventListener('abort', onStop);
  }
}

/**
 * Turns the engine's synchronous progress callbacks into throttled checkpoint writes, keeping the
 * createdAt/attempts of the attempt's first checkpoint and remembering a failed write.
 */
class ProgressRecorder {
  latest: Checkpoint;
  writeError: unknown = undefined;
  onWriteError: () => void = () => undefined;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly writer: CheckpointWriter,
    private readonly base: Checkpoint,
    private readonly now: () => number,
    private readonly everyBytes: number,
  ) {
    this.latest = base;
  }

  /**
   * Resolves once less than `everyBytes` of confirmed progress is waiting for its checkpoint
   * write. The upload reads its next chunk only after this, so what a crash can cost (confirmed
   * but not written down, plus what is in flight) stays within everyBytes + window × chunk even
   * when acknowledgements outrun a slow fsync.
   */
  async room(): Promise<void> {
    for (;;) {
      const unwritten = totalBytes(this.latest.confirmed) - totalBytes((this.writer.lastWritten ?? this.base).confirmed);
      if (this.writeError !== undefined || unwritten <= 0 || unwritten < this.everyBytes) return;
      await this.chain;
    }
  }

  offer(s: UploadSnapshot): void {
    const cp: Checkpoint = {
      ...this.base,
      fileId: s.fileId,
      stage: s.stage,
      confirmed: s.confirmed.map(([a, b]) => [a, b] as const),
      ...(s.nodes ? { nodes: s.nodes } : {}),
      updatedAt: iso(this.now),
    };
    this.latest = cp;
    this.chain = this.writer.update(cp).catch((err: unknown) => {
      if (this.writeError === undefined) {
        this.writeError = err;
        this.onWriteError();
      }
    });
  }

  settled(): Promise<unknown> {
    return this.chain;
  }

  async flush(): Promise<void> {
    await this.chain;
    if (this.writeError === undefined) await this.writer.flush();
  }
}

/** The source as the engine reads it, each read waiting for `gate` first. */
function gatedOpener(inner: SourceOpener, gate: () => Promise<void>): SourceOpener {
  return {
    async open(path) {
      const file = await inner.open(path);
      return {
        path: file.path,
        read: async (buffer, length, position) => {
          await gate();
          return file.read(buffer, length, position);
        },
        identity: () => file.identity(),
        close: () => file.close(),
      };
    },
  };
}

function baseFileId(q: QueuedUploadOptions, job: JobRecord): string {
  return q.fileId ?? job.id;
}

/** Generation 1 is the base file id; a restart after a source change sends `<base>.<n>`. */
function generationOf(fileId: string, base: string): number {
  if (fileId === base) return 1;
  const m = /^\.(\d+)$/.exec(fileId.slice(base.length));
  return fileId.startsWith(base) && m ? Number(m[1]) : 1;
}

function freshCheckpoint(job: JobRecord, q: QueuedUploadOptions, options: UploadOptions, identity: SourceIdentity, generation: number, attempts: number, now: () => number): Checkpoint {
  const base = baseFileId(q, job);
  const name = options.name ?? safeFileName(basename(options.path));
  const initPayload = encodeInitPayload({
    name,
    size: identity.size,
    ...(options.expireAt !== undefined ? { expireAt: options.expireAt } : {}),
    ...(options.segmentsTtl !== undefined ? { segmentsTtl: options.segmentsTtl } : {}),
    ...(options.userData !== undefined ? { userData: options.userData } : {}),
  }).toString('utf8');
  const at = iso(now);
  return {
    jobId: job.id,
    fileId: generation === 1 ? base : `${base}.${generation}`,
    initPayload,
    source: { path: identity.path, size: identity.size, mtimeMs: identity.mtimeMs, ino: identity.ino },
    ...(options.chunkSize === undefined ? {} : { chunkSize: options.chunkSize }),
    confirmed: [],
    stage: 'init',
    attempts,
    createdAt: at,
    updatedAt: at,
  };
}

function toSnapshot(cp: Checkpoint): UploadSnapshot {
  return {
    fileId: cp.fileId,
    stage: cp.stage,
    initPayload: Buffer.from(cp.initPayload, 'utf8'),
    confirmed: cp.confirmed.map(([a, b]) => [a, b] as const),
    ...(cp.nodes ? { nodes: cp.nodes } : {}),
    source: cp.source,
  };
}

function iso(now: () => number): string {
  return new Date(now()).toISOString();
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
