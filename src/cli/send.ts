/**
 * `ftagent send FILE`: upload one file in the foreground and exit once it is on the broker.
 * Arguments become UploadOptions + ConnectionOptions here; the work happens in transfer/.
 */
import { basename, resolve } from 'node:path';
import { FtError } from '../errors';
import { createLogger, type LogLevel } from '../log';
import { systemClock } from '../time/clock';
import { ByteRateLimit, parseByteRate } from '../mqtt/byte-rate-limit';
import { CommandChannel } from '../mqtt/command-channel';
import { Connection, type ConnectionOptions } from '../mqtt/connection';
import { safeFileName } from '../protocol/emqx-ft-filemeta';
import { totalBytes } from '../storage/byte-ranges';
import { uploadFile, validateUploadOptions } from '../transfer/emqx-ft/upload';
import { withUploadDefaults, type UploadOptions, type UploadResult } from '../transfer/emqx-ft/upload-options';
import { reportFailure, type CliCommand, type CliIo } from './command';
import { connectionFlagSpec, connectionFromFlags, logLevelFromFlag, outputFlagSpec } from './connection-flags';
import { exitStatus } from './exit-codes';
import { checkSourceFile } from './source-path';
import { ProgressReporter, formatBytes } from './progress';
import { isQueuedSend, runQueuedSend } from './send-queue';
import { sendUsageError as usageError, uploadFlagOptions, uploadFlagSpec } from './upload-flags';
import { sendUsage as usage } from './usage';
import { uploadFacts } from '../fleet/events';
import { parseCommandArgs } from './argv';

const argSpec = {
  ...connectionFlagSpec,
  mode: { type: 'string' },
  'max-rate': { type: 'string' },
  ...uploadFlagSpec,
  ...outputFlagSpec,
} as const;

export interface SendPlan {
  connection: ConnectionOptions;
  upload: UploadOptions;
  /** Bytes per second on the wire; undefined = as fast as the link allows. */
  maxBytesPerSecond?: number;
  json: boolean;
  quiet: boolean;
  logLevel: LogLevel;
}

/** Turns the command line into options. Throws USAGE / CONFIG_INVALID errors; touches only config files. */
export function planSend(argv: string[], io: CliIo): SendPlan {
  const { values: v, positionals } = parseCommandArgs('send', argv, argSpec);
  if (positionals.length !== 1 || positionals[0] === undefined) throw usageError('give exactly one FILE to send');
  const path = resolve(io.cwd, positionals[0]);

  const connection = connectionFromFlags(v, io, usageError);
  const protocolVersion = connection.protocolVersion;
  const mode = v.mode ?? (protocolVersion === 5 ? 'sync' : 'async');
  if (mode !== 'sync' && mode !== 'async') throw usageError(`--mode must be sync or async, got "${mode}"`);
  if (mode === 'sync' && protocolVersion === 4) throw usageError('--mode sync needs MQTT 5: MQTT 3.1.1 PUBACKs carry no result; use --mode async');

  const logLevel = logLevelFromFlag(v['log-level'], usageError);
  const maxBytesPerSecond = v['max-rate'] === undefined ? undefined : parseByteRate(v['max-rate']);
  if (v['max-rate'] !== undefined && maxBytesPerSecond === undefined) throw usageError(`--max-rate must be bytes per second, e.g. 262144 or 256k or 2M, got "${v['max-rate']}"`);

  const upload = withUploadDefaults({
    path,
    mode,
    segmentChecksums: false,
    ...uploadFlagOptions(v),
  });
  validateUploadOptions(upload, protocolVersion);
  return { connection, upload, json: v.json === true, quiet: v.quiet === true, logLevel, ...(maxBytesPerSecond !== undefined ? { maxBytesPerSecond } : {}) };
}

async function run(argv: string[], io: CliIo): Promise<number> {
  // --queue hands the file to the daemon's spool instead (send-queue.ts).
  if (isQueuedSend(argv)) return runQueuedSend(argv, io);
  const plan = planSend(argv, io);
  const size = checkSourceFile(plan.upload.path);
  const logger = createLogger({ level: plan.logLevel, stream: io.stderr });
  const interrupt = new AbortController();
  const onSignal = (): void => interrupt.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const label = plan.upload.name ?? safeFileName(basename(plan.upload.path));
  const progress = plan.quiet || plan.json ? null : new ProgressReporter(io.stderr, label, size);
  const connection = new Connection(plan.connection, { clock: systemClock, logger });
  const channel = new CommandChannel(
    connection,
    {
      responses: plan.upload.mode === 'async' || plan.connection.protocolVersion === 4,
      ...(plan.maxBytesPerSecond !== undefined ? { rateLimit: new ByteRateLimit(plan.maxBytesPerSecond, systemClock) } : {}),
    },
    logger,
  );
  try {
    await Promise.race([
      channel.start(),
      new Promise<never>((_, reject) => {
        interrupt.signal.addEventListener('abort', () => reject(new FtError('INTERRUPTED', 'interrupted while connecting')), { once: true });
      }),
    ]);
    const result = await uploadFile(
      {
        ...plan.upload,
        signal: interrupt.signal,
        onProgress: (snap) => progress?.update(totalBytes(snap.confirmed)),
      },
      { link: channel, clock: systemClock, logger },
    );
    progress?.finish();
    writeResult(io, plan, result);
    io.settle?.(exitStatus.ok);
    return exitStatus.ok;
  } catch (err) {
    progress?.finish();
    reportFailure(io, plan.json, err);
    throw err;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    channel.dispose();
    await connection.close();
  }
}

function writeResult(io: CliIo, plan: SendPlan, r: UploadResult): void {
  if (plan.json) {
    io.stdout.write(
      `${JSON.stringify({
        ok: true,
        ...uploadFacts(r),
        retries: r.retries,
        clientId: r.clientId,
        broker: r.broker,
      })}\n`,
    );
  } else if (!plan.quiet) {
    io.stdout.write(
      `sent ${r.name} (${formatBytes(r.size)}) to ${r.broker ?? 'the broker'} as file id ${r.fileId} (client id ${r.clientId}) in ${r.seconds.toFixed(1)} s; sha256 ${r.sha256}${r.retries > 0 ? `; ${r.retries} re-sends` : ''}\n`,
    );
  }
}

const command: CliCommand = { name: 'send', summary: 'upload one file to the broker and exit when it is there', usage, run };
export default command;
