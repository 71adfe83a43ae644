/**
 * Server → store push (docs/store-flows.md §1): the store server offers a file from `<dataDir>/store/files/` to a
 * client with `$file_sniffer/v1/push/{clientid}`, and on `ack: ok` sends it with nftp on the topic it
 * allocated. The client subscribes to that topic before it answers, so HELLO can follow the ack at once.
 *
 * An API of the development broker (`pushFile(storeServer.context, …)`), for tests and demos.
 */
import path from 'node:path';
import { FtError } from '../../errors';
import type { SniffId, SniffResponse } from '../../protocol/file-sniffer';
import { newRequestId } from '../../protocol/file-sniffer';
import { mkdir, realpath, stat } from 'node:fs/promises';
import type { SendResult as NftpSendResult } from './nftp/sender';
import type { FaultyLinkStats, NftpSendFaults } from './push-faults';
import { prepareStoreNftpSend } from './push-nftp-sender';
import type { StoreServerContext } from './types';

export interface PushFileOptions {
  clientId: string;
  /** A file under `<dataDir>/store/files/` (relative to it, or absolute inside it). */
  file: string;
  /** `target_path` for the store; where it lands is the store's decision (its receive roots). */
  target: string;
  /** Sent as `overwrite` when given: may the store replace an existing file? */
  overwrite?: boolean;
  jobId?: SniffId;
  taskId?: SniffId;
  scriptId?: SniffId;
  /** Extra request fields, sent as they are. */
  extra?: Record<string, unknown>;
  faults?: NftpSendFaults;
  /** How long to wait for the store's answer. Default 10 s. */
  answerTimeoutMs?: number;
  lingerMs?: number;
  helloTimeoutMs?: number;
  intervalMs?: number;
  window?: number;
}

export interface PushStarted {
  requestId: string;
  topic: string;
  response: SniffResponse;
  /** The store said ok and the nftp send has started. */
  accepted: boolean;
  /** When accepted: settles after the sender's linger (nftp v1 has no final acknowledgement). */
  sending: Promise<NftpSendResult> | undefined;
  faultStats: FaultyLinkStats | undefined;
  /** Stops the nftp send (tests, shutdown). */
  cancel(reason?: string): void;
}

function storeFilesDir(ctx: StoreServerContext): string {
  return path.join(ctx.storeDir, 'files');
}

/** Resolves once the store answered; the file keeps flowing in `sending` if it said ok. */
export async function pushFile(ctx: StoreServerContext, o: PushFileOptions): Promise<PushStarted> {
  const file = await resolveStoreFile(ctx, o.file);
  const send = await prepareStoreNftpSend(ctx, {
    clientId: o.clientId,
    file,
    name: path.basename(file),
    ...(o.faults ? { faults: o.faults } : {}),
    ...(o.lingerMs !== undefined ? { lingerMs: o.lingerMs } : {}),
    ...(o.helloTimeoutMs !== undefined ? { helloTimeoutMs: o.helloTimeoutMs } : {}),
    ...(o.intervalMs !== undefined ? { intervalMs: o.intervalMs } : {}),
    ...(o.window !== undefined ? { window: o.window } : {}),
  });
  const requestId = newRequestId();
  const body: Record<string, unknown> = {
    ...o.extra,
    request_id: requestId,
    path: path.relative(storeFilesDir(ctx), file),
    target_path: o.target,
    job_id: o.jobId ?? '',
    task_id: o.taskId ?? '',
    script_id: o.scriptId ?? '',
    topic: send.topic,
    ...(o.overwrite !== undefined ? { overwrite: o.overwrite } : {}),
  };
  let response: SniffResponse;
  try {
    response = await ctx.request('push', o.clientId, body, o.answerTimeoutMs ?? 10_000);
  } catch (err) {
    send.abort('no answer to the push');
    throw err;
  }
  const base = {
    verb: 'push' as const,
    clientId: o.clientId,
    request_id: requestId,
    job_id: String(o.jobId ?? ''),
    task_id: String(o.taskId ?? ''),
    script_id: String(o.scriptId ?? ''),
    path: o.target,
    topic: send.topic,
    file,
  };
  if (response.ack !== 'ok') {
    send.abort(`the store answered ${response.ackText ?? 'without an ack'}`);
    ctx.record({ at: new Date().toISOString(), ...base, ok: false, error: `store answered ${response.ackText ?? '(no ack)'}${reasonOf(response)}` });
    return { requestId, topic: send.topic, response, accepted: false, sending: undefined, faultStats: send.faultStats, cancel: () => undefined };
  }
  const sending = send.start();
  sending.then(
    (r) => ctx.record({ at: new Date().toISOString(), ...base, ok: true, filehash: r.filehash, givemes: r.blocksResent, blocks: r.blocks }),
    (err: unknown) => ctx.record({ at: new Date().toISOString(), ...base, ok: false, error: err instanceof Error ? err.message : String(err) }),
  );
  return { requestId, topic: send.topic, response, accepted: true, sending, faultStats: send.faultStats, cancel: (reason) => send.abort(reason) };
}

/**
 * A file the store server may send: under `<storeDir>/files/` once every symlink is resolved, and a
 * regular file. NOT_ALLOWED outside (or not a file), NOT_FOUND when missing.
 */
export async function resolveStoreFile(ctx: StoreServerContext, requested: string): Promise<string> {
  const dir = storeFilesDir(ctx);
  await mkdir(dir, { recursive: true });
  const root = await realpath(dir);
  const lexical = path.resolve(root, requested);
  const inside = (p: string): boolean => p === root || p.startsWith(`${root}${path.sep}`);
  const refuse = (why: string): FtError => new FtError('NOT_ALLOWED', `${requested} ${why}`, { details: { path: requested } });
  if (!inside(lexical)) throw refuse(`is outside ${dir}`);
  let real: string;
  try {
    real = await realpath(lexical);
  } catch {
    throw new FtError('NOT_FOUND', `${requested} does not exist`, { details: { path: requested } });
  }
  if (!inside(real)) throw refuse(`leads out of ${dir} through a symlink`);
  if (!(await stat(real)).isFile()) throw refuse('is not a regular file; only files can be sent');
  return real;
}

function reasonOf(r: SniffResponse): string {
  return typeof r.fields.reason === 'string' ? `: ${r.fields.reason}` : '';
}
