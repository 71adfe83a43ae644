/**
 * The upload API used by `ftagent send` and the daemon: prepares the source and the init payload
 * (or takes them from a resume snapshot), runs an UploadSession over a shared command link, and
 * sends a best-effort `abort` when it gives up (unless the caller resumes failures itself).
 */
import { randomUUID } from 'node:crypto';
import { basename } from 'node:path';
import { rangeProblem, uploadLimits, type IntegerRange } from '../../config/limits';
import { FtError } from '../../errors';
import { silentLogger, type Logger } from '../../log';
import { systemClock, type Clock } from '../../time/clock';
import type { CommandLink } from '../../mqtt/command-link';
import { decodeInitPayload, encodeInitPayload, fileNameProblem, safeFileName } from '../../protocol/emqx-ft-filemeta';
import { fileIdProblem } from '../../protocol/emqx-ft-topics';
import { describeChange, nodeSourceOpener, sameSource, type SourceFile, type SourceOpener } from '../source-file';
import { abandonTransfer } from './upload-abort';
import type { UploadOptions, UploadResult } from './upload-options';
import { UploadSession } from './upload-session';
import type { UploadSnapshot } from './upload-snapshot';

export interface UploadDeps {
  link: CommandLink;
  clock?: Clock;
  logger?: Logger;
  random?: () => number;
  opener?: SourceOpener;
}

/** Checks what can be checked before any byte is sent. Throws USAGE errors. */
export function validateUploadOptions(options: UploadOptions, protocolVersion: 4 | 5): void {
  if (options.mode === 'sync' && protocolVersion !== 5) {
    throw new FtError('USAGE', 'sync mode needs MQTT 5: MQTT 3.1.1 PUBACKs carry no result. Use --mode async (the default on 3.1.1)');
  }
  validateUploadValues(options);
}

/**
 * The values alone, by the rules of config/limits.ts: `send`, `send --queue` (at queue time) and
 * the daemon's job runner all call this, so a queued job never carries a value the daemon refuses.
 */
export function validateUploadValues(
  options: Partial<Pick<UploadOptions, 'name' | 'fileId' | 'chunkSize' | 'window' | 'segmentsTtl' | 'expireAt' | 'finTimeoutMs' | 'commandTimeoutMs' | 'memoryBudget'>>,
): void {
  if (options.name !== undefined) {
    const problem = fileNameProblem(options.name);
    if (problem) throw new FtError('USAGE', `--name ${JSON.stringify(options.name)} would be refused by the broker: ${problem}`);
  }
  if (options.fileId !== undefined) {
    const problem = fileIdProblem(options.fileId);
    if (problem) throw new FtError('USAGE', `--file-id ${JSON.stringify(options.fileId)} cannot be used: ${problem}`);
  }
  // Timeouts are milliseconds here (the flags and the config give whole seconds, checked there too).
  const inMs = (r: IntegerRange): IntegerRange => ({ min: 1, max: r.max * 1000, unit: 'milliseconds' });
  const numbers: Array<[string, number | undefined, IntegerRange]> = [
    ['--chunk-size', options.chunkSize, uploadLimits.chunkSize],
    ['--window', options.window, uploadLimits.window],
    ['--segments-ttl', options.segmentsTtl, uploadLimits.segmentsTtlSeconds],
    ['--expire-at', options.expireAt, uploadLimits.expireAt],
    ['fin timeout', options.finTimeoutMs, inMs(uploadLimits.finTimeoutSeconds)],
    ['command timeout', options.commandTimeoutMs, inMs(uploadLimits.commandTimeoutSeconds)],
  ];
  for (const [flag, value, range] of numbers) {
    const problem = value === undefined ? undefined : rangeProblem(value, range);
    if (problem) throw new FtError('USAGE', `${flag} ${problem}, got ${value}`);
  }
  if (options.memoryBudget !== undefined && (!Number.isSafeInteger(options.memoryBudget) || options.memoryBudget < 1))
    throw new FtError('USAGE', 'the upload memory budget must be a positive number of bytes');
}

export async function uploadFile(options: UploadOptions, deps: UploadDeps): Promise<UploadResult> {
  const clock = deps.clock ?? systemClock;
  const logger = deps.logger ?? silentLogger;
  const link = deps.link;
  validateUploadOptions(options, link.protocolVersion);
  const started = clock.now();
  const source = await (deps.opener ?? nodeSourceOpener).open(options.path);
  try {
    const identity = await source.identity();
    const prepared = prepare(options, identity.size, source);
    const resume = options.resume;
    if (resume && !sameSource(resume.source, identity)) {
      throw new FtError('SOURCE_CHANGED', `${options.path} changed since the transfer started (${describeChange(resume.source, identity)}); it has to be sent again as a new transfer`, {
        details: { path: options.path },
      });
    }
    const session = new UploadSession(
      {
        options: { ...options, onProgress: reportingProgress(link, options.onProgress) },
        fileId: prepared.fileId,
        initPayload: prepared.initPayload,
        source,
        identity,
        ...(resume ? { confirmed: resume.confirmed } : {}),
        ...(resume?.nodes ? { nodes: resume.nodes } : {}),
      },
      { link, clock, logger, ...(deps.random ? { random: deps.random } : {}) },
    );
    logger.info({ fileId: prepared.fileId, name: prepared.name, size: identity.size, mode: options.mode }, 'upload starting');
    try {
      const outcome = await session.run();
      return {
        fileId: prepared.fileId,
        name: prepared.name,
        size: identity.size,
        sha256: outcome.sha256,
        seconds: (clock.now() - started) / 1000,
        bytesSent: outcome.bytesSent,
        retries: outcome.retries,
        clientId: link.clientId,
        broker: link.currentUrl(),
      };
    } catch (err) {
      if (options.abortOnFailure !== false) await abandonTransfer(link, options.mode, prepared.fileId, clock, logger);
      throw err;
    }
  } finally {
    await source.close().catch(() => undefined);
  }
}

const stageRank = { init: 0, segments: 1, fin: 2 } as const;

/** Tells the link when the broker confirmed something new (a re-confirmed init is not progress). */
function reportingProgress(link: CommandLink, onProgress: UploadOptions['onProgress']): (s: UploadSnapshot) => void {
  let best = { stage: -1, bytes: -1 };
  return (s) => {
    const stage = stageRank[s.stage];
    const bytes = s.confirmed.reduce((n, [a, b]) => n + (b - a), 0);
    if (stage > best.stage || bytes > best.bytes) {
      best = { stage: Math.max(stage, best.stage), bytes: Math.max(bytes, best.bytes) };
      link.markProgress?.();
    }
    onProgress?.(s);
  };
}

function prepare(options: UploadOptions, size: number, source: SourceFile): { fileId: string; name: string; initPayload: Buffer } {
  const resume = options.resume;
  if (resume) {
    const meta = decodeInitPayload(resume.initPayload);
    if (!meta) throw new FtError('STATE_CORRUPT', `the saved init payload for ${resume.fileId} is not valid JSON metadata`);
    return { fileId: resume.fileId, name: meta.name, initPayload: Buffer.from(resume.initPayload) };
  }
  const fileId = options.fileId ?? randomUUID();
  const name = options.name ?? safeFileName(basename(source.path));
  const initPayload = encodeInitPayload({
    name,
    size,
    ...(options.expireAt !== undefined ? { expireAt: options.expireAt } : {}),
    ...(options.segmentsTtl !== undefined ? { segmentsTtl: options.segmentsTtl } : {}),
    ...(options.userData !== undefined ? { userData: options.userData } : {}),
  });
  return { fileId, name, initPayload };
}
