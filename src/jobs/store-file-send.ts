/**
 * One file of a store-job run: the first attempt plus the task's retry_times, retry_interval apart,
 * never past the run's end time. Each attempt holds one of the runner's transfer slots while it asks,
 * waits and sends, and one of its send slots from the server's ok until END is out.
 * The outcome is written into `file` (the run's state); the caller saves it.
 */
import { FtError } from '../errors';
import type { Logger } from '../log';
import { sleep } from '../time/clock';
import { runStoreUpload, type Linger } from '../transfer/store/store-upload';
import type { FileResult, RunRecord } from './store-job-state';
import type { StoreJobsOptions } from './store-runner';
import type { StoreJob, StoreTask } from './store-job';
import type { TransferSlots } from './transfer-slots';

export interface FileSendContext {
  options: StoreJobsOptions;
  /** Transfers under way (asking, waiting after WAIT, or sending). */
  slots: TransferSlots;
  /** Transfers sending (nftp blocks in memory). */
  sendSlots: TransferSlots;
  log: Logger;
  /** Takes over the linger after END (the runner bounds how many run). */
  adoptLinger(linger: Linger): void;
}

export async function sendStoreFile(ctx: FileSendContext, job: StoreJob, task: StoreTask, run: RunRecord, file: FileResult, signal: AbortSignal): Promise<void> {
  const clock = ctx.options.clock;
  const maxAttempts = 1 + task.retry_times;
  while (file.attempts < maxAttempts && !signal.aborted) {
    if (clock.now() >= run.endTime) {
      file.state = 'failed';
      file.error = `${file.error ? `${file.error}; ` : ''}the job's end time came before the file could be sent`;
      return;
    }
    const release = await ctx.slots.acquire(signal);
    if (!release) return;
    try {
      const r = await (ctx.options.transfer ?? runStoreUpload)({
        channel: ctx.options.channel,
        clock,
        logger: ctx.log,
        verb: task.type,
        file: file.path,
        target_path: targetFor(task, file.path),
        job_id: job.sentJobId,
        task_id: task.task_id,
        script_id: task.script_id,
        groups: task.groups,
        servers: task.servers,
        endTime: run.endTime,
        signal,
        sendSlot: (s) => ctx.sendSlots.acquire(s),
        ...(ctx.options.requestTimeoutMs !== undefined ? { requestTimeoutMs: ctx.options.requestTimeoutMs } : {}),
        ...(ctx.options.nftp ? { nftp: ctx.options.nftp } : {}),
      });
      ctx.adoptLinger(r.linger);
      file.attempts++;
      file.state = 'done';
      file.topic = r.topic;
      file.size = r.size;
      file.finishedAt = clock.now();
      delete file.error;
      delete file.errorCode;
      release();
      return;
    } catch (err) {
      release();
      // An interrupted attempt is not counted: the next start tries it again in full.
      if (signal.aborted) return;
      file.attempts++;
      const e = err instanceof FtError ? err : new FtError('GAVE_UP', String(err));
      file.error = e.message;
      file.errorCode = e.code;
      file.state = 'failed';
      ctx.log.warn({ job: job.job_id, task: task.task_id, file: file.path, attempt: file.attempts, code: e.code }, `store transfer failed: ${e.message}`);
      // A setting that makes the file impossible to send will not change between attempts.
      if (e.code === 'CONFIG_INVALID' || e.code === 'SOURCE_UNREADABLE') return;
      if (file.attempts >= maxAttempts) return;
      const wait = task.retry_interval * 1000;
      if (clock.now() + wait >= run.endTime) return;
      if (!(await sleep(clock, wait, signal))) return;
    }
  }
}

/** A wildcard task sends each file under target_path's directory with its own name; otherwise target_path as given. */
function targetFor(task: StoreTask, file: string): string {
  if (!/[*?]/.test(task.path)) return task.target_path;
  const name = file.slice(file.lastIndexOf('/') + 1);
  return task.target_path.endsWith('/') ? `${task.target_path}${name}` : `${task.target_path}/${name}`;
}
