/**
 * The store system's job-control messages on `$file_sniffer/v1/<verb>/{clientid}` (docs/store-flows.md §1). Pure, no I/O.
 *
 * Requests and responses share one topic: a JSON object with an `ack` (or, for `dir`, a `result`) is a
 * response, one without is a request. A response echoes the request's fields and adds its own.
 *
 * Parsing is tolerant (the server side is not public and its docs disagree): unknown fields are kept in
 * `fields` so an echo reproduces them, ids may be strings or numbers, `timeout` may be a numeric string,
 * and ack values are matched without regard to case. Anything that is not a usable message fails with
 * FtError('PROTOCOL_ERROR'), never with anything else.
 */
import { randomBytes } from 'node:crypto';
import { FtError } from '../errors';
import { JsonNumberText, parseJsonKeepingIds, stringifyJson } from './json-ids';

export const sniffVerbs = ['dir', 'download', 'upload', 'broadcast', 'push'] as const;
export type SniffVerb = (typeof sniffVerbs)[number];

export const snifferTopicPrefix = '$file_sniffer/v1/';

/** `ack` values named in the docs. `BadReq` appears for broadcast only. */
const sniffAcks = ['ok', 'WAIT', 'ERROR', 'BadReq', 'NOT_ALLOW', 'NOT_EXIST'] as const;
export type SniffAck = (typeof sniffAcks)[number];

/** `result` of a `dir` response. */
const dirResults = ['OK', 'NOT_ALLOW', 'NOT_EXIST', 'ERROR'] as const;
export type DirResult = (typeof dirResults)[number];

/**
 * Job, task and script ids: the docs never say whether they are numbers or strings, so both are kept
 * as sent; numbers parsed from the wire or a job file are kept as their text (json-ids.ts), so even
 * ids beyond 2^53 are echoed digit for digit.
 */
export type SniffId = string | number | JsonNumberText;

function isId(v: unknown): v is SniffId {
  return typeof v === 'string' || typeof v === 'number' || v instanceof JsonNumberText;
}

export interface DirRequest {
  verb: 'dir';
  request_id: string;
  path: string;
}
export interface DownloadRequest {
  verb: 'download';
  request_id: string;
  path: string;
}
interface JobFields {
  request_id: string;
  path: string;
  target_path: string;
  job_id: SniffId;
  task_id: SniffId;
  script_id: SniffId;
}
export interface UploadRequest extends JobFields {
  verb: 'upload';
  servers: SniffId[];
}
export interface BroadcastRequest extends JobFields {
  verb: 'broadcast';
  /** Store group ids. */
  groups: SniffId[];
}
export interface PushRequest extends JobFields {
  verb: 'push';
  /** `$file/<suffix>`: the store subscribes to it before answering ok. */
  topic: string;
}
export type SniffRequest = DirRequest | DownloadRequest | UploadRequest | BroadcastRequest | PushRequest;
export type SniffRequestOf<V extends SniffVerb> = Extract<SniffRequest, { verb: V }>;
/** What a caller fills in; `request_id` is generated when missing. */
export type SniffRequestBody<V extends SniffVerb> = Omit<SniffRequestOf<V>, 'verb' | 'request_id'> & { request_id?: string };

export interface DirEntry {
  name: string;
  type: 'file' | 'folder';
}

export interface SniffResponse {
  verb: SniffVerb;
  request_id: string;
  /** Normalised to the spelling in `sniffAcks`; an ack value outside the list is kept in `ackText` with `ack` 'ERROR'. */
  ack?: SniffAck;
  /** The ack exactly as received. */
  ackText?: string;
  /** Allocated nftp topic (`$file/<32 hex>`), on ok. */
  topic?: string;
  /** WAIT: how long to wait before asking again, in ms. */
  timeoutMs?: number;
  /** dir only. */
  type?: 'file' | 'folder';
  result?: DirResult;
  resultText?: string;
  folder_include?: DirEntry[];
  /** Every field of the message as received (echoed request fields, unknown extras). */
  fields: Record<string, unknown>;
}

export type SniffMessage =
  { kind: 'request'; verb: SniffVerb; clientId: string; request: SniffRequest; fields: Record<string, unknown> } | { kind: 'response'; verb: SniffVerb; clientId: string; response: SniffResponse };

// ---- topics ---------------------------------------------------------------------------------

export function snifferTopic(verb: SniffVerb, clientId: string): string {
  if (clientId.length === 0 || /[/+#]/.test(clientId)) {
    throw new FtError('CONFIG_INVALID', `client id "${clientId}" cannot be part of a $file_sniffer topic: it must be non-empty without "/", "+" or "#"`);
  }
  return `${snifferTopicPrefix}${verb}/${clientId}`;
}

/** null when the topic is not a `$file_sniffer/v1/<known verb>/<clientid>` topic. */
export function parseSnifferTopic(topic: string): { verb: SniffVerb; clientId: string } | null {
  if (!topic.startsWith(snifferTopicPrefix)) return null;
  const rest = topic.slice(snifferTopicPrefix.length).split('/');
  if (rest.length !== 2) return null;
  const [verb = '', clientId = ''] = rest;
  if (!isVerb(verb) || clientId.length === 0) return null;
  return { verb, clientId };
}

function isVerb(v: string): v is SniffVerb {
  return (sniffVerbs as readonly string[]).includes(v);
}

// ---- ids --------------------------------------------------------------------------------------

let idSeq = 0;
/** Unique per process and across restarts: time, a counter, and randomness. */
export function newRequestId(): string {
  idSeq = (idSeq + 1) % 0x10000;
  return `${Date.now().toString(36)}${idSeq.toString(36).padStart(3, '0')}${randomBytes(6).toString('hex')}`;
}

// ---- encode -----------------------------------------------------------------------------------

export function encodeSnifferRequest(request: SniffRequest): Buffer {
  const { verb: _verb, ...body } = request;
  return Buffer.from(stringifyJson(body), 'utf8');
}

export interface SniffResponseFields {
  ack?: SniffAck;
  topic?: string;
  /** ms */
  timeout?: number;
  type?: 'file' | 'folder';
  result?: DirResult;
  folder_include?: DirEntry[];
  [extra: string]: unknown;
}

/** A response echoes every field of the request it answers (as received, unknown ones too), then adds its own. */
export function encodeSnifferResponse(requestFields: Record<string, unknown>, fields: SniffResponseFields): Buffer {
  const out: Record<string, unknown> = { ...requestFields };
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) out[k] = v;
  return Buffer.from(stringifyJson(out), 'utf8');
}

// ---- decode -----------------------------------------------------------------------------------

/** Decodes one message from a sniffer topic. Throws FtError('PROTOCOL_ERROR') only. */
export function decodeSnifferMessage(topic: string, payload: Uint8Array): SniffMessage {
  const where = parseSnifferTopic(topic);
  if (!where) throw malformed(topic, 'the topic is not $file_sniffer/v1/<dir|download|upload|broadcast|push>/<clientid>');
  const fields = parseObject(topic, payload);
  const { verb, clientId } = where;
  const requestId = fields.request_id;
  if (!isId(requestId)) throw malformed(topic, 'it has no request_id');
  const request_id = String(requestId);
  if ('ack' in fields || 'result' in fields) {
    return { kind: 'response', verb, clientId, response: decodeResponse(topic, verb, request_id, fields) };
  }
  return { kind: 'request', verb, clientId, request: decodeRequest(topic, verb, request_id, fields), fields };
}

function decodeRequest(topic: string, verb: SniffVerb, request_id: string, f: Record<string, unknown>): SniffRequest {
  const path = requiredString(topic, f, 'path');
  if (verb === 'dir' || verb === 'download') return { verb, request_id, path };
  const job = {
    request_id,
    path,
    target_path: optionalString(topic, f, 'target_path') ?? '',
    job_id: optionalId(topic, f, 'job_id') ?? '',
    task_id: optionalId(topic, f, 'task_id') ?? '',
    script_id: optionalId(topic, f, 'script_id') ?? '',
  };
  if (verb === 'upload') return { verb, ...job, servers: idList(topic, f, 'servers') };
  if (verb === 'broadcast') return { verb, ...job, groups: idList(topic, f, 'groups') };
  return { verb, ...job, topic: requiredString(topic, f, 'topic') };
}

function decodeResponse(topic: string, verb: SniffVerb, request_id: string, f: Record<string, unknown>): SniffResponse {
  const r: SniffResponse = { verb, request_id, fields: f };
  if ('ack' in f) {
    const text = requiredString(topic, f, 'ack');
    r.ackText = text;
    r.ack = sniffAcks.find((a) => a.toLowerCase() === text.toLowerCase()) ?? 'ERROR';
  }
  const t = optionalString(topic, f, 'topic');
  if (t !== undefined) r.topic = t;
  if (f.timeout !== undefined && f.timeout !== null) {
    const n = typeof f.timeout === 'string' && /^\d+$/.test(f.timeout.trim()) ? Number(f.timeout) : f.timeout;
    if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) throw malformed(topic, `its timeout ${JSON.stringify(f.timeout)} is not a number of milliseconds`);
    r.timeoutMs = Math.floor(n);
  }
  if ('result' in f) {
    const text = requiredString(topic, f, 'result');
    r.resultText = text;
    r.result = dirResults.find((a) => a.toLowerCase() === text.toLowerCase()) ?? 'ERROR';
  }
  const type = optionalString(topic, f, 'type');
  if (type !== undefined) {
    if (type !== 'file' && type !== 'folder') throw malformed(topic, `its type "${type}" is neither "file" nor "folder"`);
    r.type = type;
  }
  if (f.folder_include !== undefined && f.folder_include !== null) r.folder_include = dirEntries(topic, f.folder_include);
  return r;
}

function parseObject(topic: string, payload: Uint8Array): Record<string, unknown> {
  let value: unknown;
  try {
    value = parseJsonKeepingIds(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8'));
  } catch {
    throw malformed(topic, `the payload is not JSON (${payload.byteLength} bytes)`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw malformed(topic, 'the payload is not a JSON object');
  return value as Record<string, unknown>;
}

function requiredString(topic: string, f: Record<string, unknown>, key: string): string {
  const v = f[key];
  if (typeof v !== 'string') throw malformed(topic, v === undefined ? `it has no "${key}"` : `its "${key}" is not a string`);
  return v;
}

function optionalString(topic: string, f: Record<string, unknown>, key: string): string | undefined {
  const v = f[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw malformed(topic, `its "${key}" is not a string`);
  return v;
}

function optionalId(topic: string, f: Record<string, unknown>, key: string): SniffId | undefined {
  const v = f[key];
  if (v === undefined || v === null) return undefined;
  if (!isId(v)) throw malformed(topic, `its "${key}" is neither a string nor a number`);
  return v;
}

function idList(topic: string, f: Record<string, unknown>, key: string): SniffId[] {
  const v = f[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every(isId)) {
    throw malformed(topic, `its "${key}" is not a list of ids`);
  }
  return v;
}

function dirEntries(topic: string, v: unknown): DirEntry[] {
  if (!Array.isArray(v)) throw malformed(topic, 'its folder_include is not a list');
  return v.map((e, i) => {
    if (typeof e !== 'object' || e === null) throw malformed(topic, `folder_include[${i}] is not an object`);
    const { name, type } = e as { name?: unknown; type?: unknown };
    if (typeof name !== 'string') throw malformed(topic, `folder_include[${i}] has no name`);
    if (type !== 'file' && type !== 'folder') throw malformed(topic, `folder_include[${i}].type is neither "file" nor "folder"`);
    return { name, type };
  });
}

function malformed(topic: string, problem: string): FtError {
  return new FtError('PROTOCOL_ERROR', `ignoring a malformed store-system message on ${topic}: ${problem}`, { details: { topic, problem } });
}

/** Builds a request, generating the request_id when the body has none. */
export function buildSniffRequest<V extends SniffVerb>(verb: V, body: SniffRequestBody<V>): SniffRequestOf<V> {
  return { ...body, verb, request_id: body.request_id ?? newRequestId() } as SniffRequestOf<V>;
}
