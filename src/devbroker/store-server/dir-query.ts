/**
 * The server side of `dir` (docs/store-flows.md §1): the store server asks a store what is at a path and gets back
 * its `type`, a `result` (OK / NOT_ALLOW / NOT_EXIST / ERROR) and one level of `folder_include`.
 * An API of the development broker (`queryDir(storeServer.context, …)`).
 */
import { FtError } from '../../errors';
import { newRequestId, type DirEntry, type DirResult } from '../../protocol/file-sniffer';
import type { StoreServerContext } from './types';

export interface DirAnswer {
  requestId: string;
  result: DirResult;
  /** The result exactly as the store sent it. */
  resultText: string | undefined;
  type: 'file' | 'folder' | undefined;
  entries: DirEntry[];
  /** Every field of the answer. */
  fields: Record<string, unknown>;
}

export async function queryDir(ctx: StoreServerContext, clientId: string, dirPath: string, timeoutMs = 10_000): Promise<DirAnswer> {
  const requestId = newRequestId();
  const r = await ctx.request('dir', clientId, { request_id: requestId, path: dirPath }, timeoutMs);
  if (r.result === undefined) {
    throw new FtError('PROTOCOL_ERROR', `client ${clientId} answered the dir request ${requestId} without a result`, { details: { fields: r.fields } });
  }
  const answer: DirAnswer = { requestId, result: r.result, resultText: r.resultText, type: r.type, entries: r.folder_include ?? [], fields: r.fields };
  ctx.record({ at: new Date().toISOString(), verb: 'dir', clientId, request_id: requestId, path: dirPath, ok: r.result === 'OK', ...(r.result !== 'OK' ? { error: r.result } : {}) });
  return answer;
}
