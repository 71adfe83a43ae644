/**
 * A store job (docs/store-flows.md §3): when it fires (6-field crontab), how long each firing may take, and its
 * tasks, each sending the local files matching `path` to the store server. Validation gives messages
 * that name the field and say what to write instead.
 */
import { FtError } from '../errors';
import type { SniffId } from '../protocol/file-sniffer';
import { JsonNumberText } from '../protocol/json-ids';
import { parseSchedule, timezoneProblem } from './schedule';
import { checkWildcardPath } from './wildcard';

export type StoreTaskType = 'broadcast' | 'upload';

export interface StoreTask {
  task_id: SniffId;
  script_id: SniffId;
  /** BROADCAST → `broadcast`; UPLOAD_TO_SERVER (or UPLOAD) → `upload`. */
  type: StoreTaskType;
  /** Absolute local path; `*` and `?` allowed in the last component only. */
  path: string;
  target_path: string;
  groups: SniffId[];
  servers: SniffId[];
  /** Further attempts of a failed file (the first is not counted). */
  retry_times: number;
  /** Seconds between attempts. */
  retry_interval: number;
}

export interface StoreJob {
  /** The id as text: also the state file's name, hence the restricted characters. */
  job_id: string;
  /** The id as the job gives it, number or string, echoed in every request. */
  sentJobId: SniffId;
  /** The job exactly as given (ids kept as written); what `job add` stores. */
  source: unknown;
  name?: string;
  enable: boolean;
  /** `min hour dom mon dow`, or `sec min hour dom mon dow`. */
  execution_time: string;
  /** Seconds after each firing during which the job may run (WAITs, retries); then it stops. */
  duration: number;
  /** IANA zone for execution_time; default the system's. */
  timezone?: string;
  /** The server enforces it; kept for display. */
  max_current_session?: number;
  tasks: StoreTask[];
}

const jobIdRe = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export function parseStoreJob(value: unknown, source: string): StoreJob {
  const bad = (field: string, problem: string): FtError => new FtError('CONFIG_INVALID', `${source}: ${field} ${problem}`, { details: { source, field } });
  const o = asObject(value, () => bad('the job', 'must be a JSON object'));
  const jobId = o.job_id ?? o.id;
  if (!isId(jobId) || !jobIdRe.test(String(jobId))) {
    throw bad('"job_id"', 'must be 1-100 letters, digits, ".", "_" or "-" (it names the job\'s state file), e.g. "job_id": "campaign-42"');
  }
  const execution = o.execution_time;
  if (typeof execution !== 'string') throw bad('"execution_time"', 'must be a crontab string such as "0 2 * * *" or, with seconds, "0 0 2 * * *"');
  const timezone = optionalString(o, 'timezone', bad);
  const tzProblem = timezone === undefined ? undefined : timezoneProblem(timezone);
  if (tzProblem) throw bad('"timezone"', tzProblem);
  try {
    parseSchedule(execution, timezone);
  } catch (err) {
    throw bad('"execution_time"', err instanceof Error ? `is invalid: ${err.message}` : 'is invalid');
  }
  const duration = o.duration;
  if (typeof duration !== 'number' || !Number.isInteger(duration) || duration < 1 || duration > 30 * 86400) {
    throw bad('"duration"', 'must be a whole number of seconds from 1 to 2592000 (30 days): how long each firing may run');
  }
  const enable = o.enable ?? true;
  if (typeof enable !== 'boolean' && enable !== 0 && enable !== 1) throw bad('"enable"', 'must be true or false');
  const mcs = o.max_current_session ?? o.max_curren_session;
  if (mcs !== undefined && (typeof mcs !== 'number' || !Number.isInteger(mcs) || mcs < 1)) throw bad('"max_current_session"', 'must be a positive whole number');
  if (!Array.isArray(o.tasks) || o.tasks.length === 0) throw bad('"tasks"', 'must be a non-empty list of tasks');
  const tasks = o.tasks.map((t, i) => parseTask(t, `tasks[${i}]`, bad));
  const ids = new Set<string>();
  for (const t of tasks) {
    if (ids.has(String(t.task_id))) throw bad('"tasks"', `has task_id ${String(t.task_id)} twice`);
    ids.add(String(t.task_id));
  }
  const name = optionalString(o, 'name', bad);
  return {
    job_id: String(jobId),
    sentJobId: jobId,
    source: value,
    ...(name !== undefined ? { name } : {}),
    enable: enable === true || enable === 1,
    execution_time: execution,
    duration,
    ...(timezone !== undefined ? { timezone } : {}),
    ...(typeof mcs === 'number' ? { max_current_session: mcs } : {}),
    tasks,
  };
}

function parseTask(value: unknown, at: string, bad: (f: string, p: string) => FtError): StoreTask {
  const o = asObject(value, () => bad(at, 'must be an object'));
  const id = (k: string): SniffId => {
    const v = o[k];
    if (!isId(v) || v === '') throw bad(`${at}.${k}`, 'must be a non-empty string or a number');
    return v;
  };
  const rawType = typeof o.type === 'string' ? o.type.toUpperCase() : '';
  const type: StoreTaskType | undefined = rawType === 'BROADCAST' ? 'broadcast' : rawType === 'UPLOAD_TO_SERVER' || rawType === 'UPLOAD' ? 'upload' : undefined;
  if (!type) {
    throw bad(`${at}.type`, `is ${JSON.stringify(o.type)}: this agent sends with "BROADCAST" or "UPLOAD_TO_SERVER" (receiving is the server's push)`);
  }
  const path = o.path;
  if (typeof path !== 'string') throw bad(`${at}.path`, 'must be the absolute path of the file(s) to send');
  const problem = checkWildcardPath(path);
  if (problem) throw bad(`${at}.path`, problem);
  const target = o.target_path;
  if (typeof target !== 'string' || target === '') throw bad(`${at}.target_path`, 'must be the path the file should have on the receiving side');
  const list = (k: string): SniffId[] => {
    const v = o[k];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || !v.every(isId)) throw bad(`${at}.${k}`, 'must be a list of ids');
    return v;
  };
  const groups = list('groups');
  const servers = list('servers');
  if (type === 'broadcast' && groups.length === 0) throw bad(`${at}.groups`, 'must name at least one store group for a BROADCAST task');
  const int = (k: string, dflt: number, max: number): number => {
    const v = o[k] ?? dflt;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw bad(`${at}.${k}`, `must be a whole number from 0 to ${max}`);
    return v;
  };
  return {
    task_id: id('task_id'),
    script_id: id('script_id'),
    type,
    path,
    target_path: target,
    groups,
    servers,
    retry_times: int('retry_times', 3, 1000),
    retry_interval: int('retry_interval', 30, 86400),
  };
}

function isId(v: unknown): v is SniffId {
  return typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v)) || v instanceof JsonNumberText;
}

function asObject(v: unknown, fail: () => FtError): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw fail();
  return v as Record<string, unknown>;
}

function optionalString(o: Record<string, unknown>, k: string, bad: (f: string, p: string) => FtError): string | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw bad(`"${k}"`, 'must be a string');
  return v;
}
