/**
 * Requests from the backend on `<prefix>/cmd/<verb>`: upload, cancel, status, jobs. Each is a JSON
 * object with a `requestId`; each gets exactly one answer (`ok: true` and the result, or `ok:
 * false` with a stable `code` and a message). Nothing a request says is executed: `upload` only
 * queues files under remote.uploadRoots as ordinary durable jobs, `cancel` files a cancel request.
 * Size, rate and glob expansion are bounded; a malformed request is answered, never thrown.
 */
import { FtError } from '../errors';
import type { Logger } from '../log';
import type { Clock } from '../time/clock';
import { fileNameProblem, type JsonValue } from '../protocol/emqx-ft-filemeta';
import type { JobRecord } from '../storage/job-record';
import type { NewJob } from '../storage/spool';
import type { ConfineRoot } from '../transfer/store/confine';
import { encodeQueuedOptions, jobPriorities, type JobPriority } from '../jobs/upload-job-options';
import { resolveRemoteUpload } from './remote-paths';

export interface RemoteSettings {
  maxRequestBytes: number;
  maxRequestsPerMinute: number;
  maxFilesPerRequest: number;
}

export interface RemoteRequestDeps {
  settings: RemoteSettings;
  roots: readonly ConfineRoot[];
  enqueue: (job: NewJob) => Promise<string>;
  /** Files a cancel request for a pending job; returns its record (finished or not), or undefined. */
  cancel: (id: string) => Promise<JobRecord | undefined>;
  job: (id: string) => Promise<Record<string, unknown> | undefined>;
  jobs: (limit: number) => Promise<Record<string, unknown>[]>;
  status: () => Promise<Record<string, unknown>>;
  clock: Clock;
  logger: Logger;
}

const verbs = ['upload', 'cancel', 'status', 'jobs'] as const;
type Verb = (typeof verbs)[number];
const maxRequestIdLength = 128;
const maxListedJobs = 200;

export class RemoteRequests {
  private tokens: number;
  private refilledAt: number;

  constructor(private readonly deps: RemoteRequestDeps) {
    this.tokens = deps.settings.maxRequestsPerMinute;
    this.refilledAt = deps.clock.now();
  }

  /** The answer to one request message (never throws). */
  async handle(verb: string, payload: Buffer): Promise<Record<string, unknown>> {
    let requestId: string | null = null;
    try {
      if (!this.takeToken()) throw new FtError('RATE_LIMITED', `more than ${this.deps.settings.maxRequestsPerMinute} requests a minute (remote.maxRequestsPerMinute): try again later`);
      if (payload.length > this.deps.settings.maxRequestBytes) {
        throw new FtError('REQUEST_INVALID', `the request is ${payload.length} bytes, more than remote.maxRequestBytes (${this.deps.settings.maxRequestBytes})`);
      }
      const body = parseObject(payload);
      requestId = readRequestId(body);
      if (!(verbs as readonly string[]).includes(verb)) throw new FtError('REQUEST_INVALID', `unknown verb "${verb}": use one of ${verbs.join(', ')}`);
      const result = await this.run(verb as Verb, body);
      this.deps.logger.info({ verb, requestId }, 'remote request answered');
      return { requestId, verb, ok: true, ...result };
    } catch (err) {
      const e = err instanceof FtError ? err : new FtError('REQUEST_INVALID', err instanceof Error ? err.message : String(err));
      this.deps.logger.warn({ verb, requestId, code: e.code, err: e.message }, 'remote request refused');
      return { requestId, verb, ok: false, code: e.code, message: e.message };
    }
  }

  private async run(verb: Verb, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    switch (verb) {
      case 'upload':
        return this.upload(body);
      case 'cancel': {
        const id = str(body, 'job', true);
        const record = await this.deps.cancel(id);
        if (!record) throw new FtError('JOB_NOT_FOUND', `no job ${id}`);
        const pending = record.state === 'queued' || record.state === 'active';
        return { job: id, state: record.state, cancelRequested: pending };
      }
      case 'status': {
        const id = str(body, 'job', false);
        if (id === undefined) return { status: await this.deps.status() };
        const job = await this.deps.job(id);
        if (!job) throw new FtError('JOB_NOT_FOUND', `no job ${id}`);
        return { job };
      }
      case 'jobs': {
        const limit = body.limit === undefined ? 50 : body.limit;
        if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 1 || limit > maxListedJobs) {
          throw new FtError('REQUEST_INVALID', `"limit" must be a whole number from 1 to ${maxListedJobs}`);
        }
        return { jobs: await this.deps.jobs(limit) };
      }
    }
  }

  private async upload(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const requested = str(body, 'path', true);
    const name = str(body, 'name', false);
    if (name !== undefined) {
      const problem = fileNameProblem(name);
      if (problem) throw new FtError('REQUEST_INVALID', `"name" ${JSON.stringify(name)} would be refused by the broker: ${problem}`);
    }
    const priority = body.priority === undefined ? 'normal' : body.priority;
    if (!(jobPriorities as readonly unknown[]).includes(priority)) throw new FtError('REQUEST_INVALID', `"priority" must be one of ${jobPriorities.join(', ')}`);
    const metadata = body.metadata;
    if (metadata !== undefined && (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata))) {
      throw new FtError('REQUEST_INVALID', '"metadata" must be a JSON object (it becomes the transfer\'s user_data)');
    }
    const files = await resolveRemoteUpload(this.deps.roots, requested, this.deps.settings.maxFilesPerRequest);
    if (name !== undefined && files.length > 1) throw new FtError('REQUEST_INVALID', `"name" applies to one file, but ${JSON.stringify(requested)} matches ${files.length}`);
    const jobs: string[] = [];
    for (const file of files) {
      const options = encodeQueuedOptions({
        priority: priority as JobPriority,
        queuedSize: file.size,
        ...(name !== undefined ? { name } : {}),
        ...(metadata !== undefined ? { userData: metadata as JsonValue } : {}),
      });
      jobs.push(await this.deps.enqueue({ kind: 'upload', file: file.path, options }));
    }
    return { jobs, files: files.map((f) => f.path) };
  }

  private takeToken(): boolean {
    const now = this.deps.clock.now();
    const perMs = this.deps.settings.maxRequestsPerMinute / 60_000;
    this.tokens = Math.min(this.deps.settings.maxRequestsPerMinute, this.tokens + (now - this.refilledAt) * perMs);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

function parseObject(payload: Buffer): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(payload.toString('utf8')) as unknown;
  } catch {
    throw new FtError('REQUEST_INVALID', 'the request is not JSON: send one JSON object with a "requestId"');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new FtError('REQUEST_INVALID', 'the request must be one JSON object with a "requestId"');
  return v as Record<string, unknown>;
}

function readRequestId(body: Record<string, unknown>): string {
  const id = body.requestId;
  if (typeof id !== 'string' || id.length === 0 || id.length > maxRequestIdLength) {
    throw new FtError('REQUEST_INVALID', `"requestId" must be a string of 1 to ${maxRequestIdLength} characters`);
  }
  return id;
}

function str(body: Record<string, unknown>, key: string, required: true): string;
function str(body: Record<string, unknown>, key: string, required: false): string | undefined;
function str(body: Record<string, unknown>, key: string, required: boolean): string | undefined {
  const v = body[key];
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string' || v.length === 0 || v.length > 4096) throw new FtError('REQUEST_INVALID', `"${key}" must be a non-empty string`);
  return v;
}
