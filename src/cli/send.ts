/**
 * `ftagent send FILE`: upload one file in the foreground and exit once it is on the broker.
 * Arguments become UploadOptions + ConnectionOptions here; the work happens in transfer/.
 */
import { readFileSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { FtError } from '../errors';
import { createLogger, logLevels, type LogLevel } from '../log';
import { systemClock } from '../mqtt/clock';
import { CommandChannel } from '../mqtt/command-channel';
import { Connection, type ConnectionOptions, type TlsMaterial } from '../mqtt/connection';
import { safeFileName } from '../protocol/emqx-ft-filemeta';
import { sourceUnreadable } from '../transfer/source-file';
import { uploadFile, validateUploadOptions } from '../transfer/upload';
import { withUploadDefaults, type UploadOptions, type UploadResult } from '../transfer/upload-options';
import type { CliCommand, CliIo } from './command';
import { exitStatus } from './exit-codes';
import { ProgressReporter, formatBytes } from './progress';
import { isQueuedSend, queueUsage, runQueuedSend } from './send-queue';
import { sendUsageError as usageError, uploadFlagOptions, uploadFlagSpec } from './upload-flags';

const usage = `Usage: ftagent send FILE [options]

Uploads FILE to the broker with EMQX File Transfer over MQTT and exits when it is there.

Connection:
  --broker URL            mqtt://host:port or mqtts://host:port; repeat it or give a comma
                          list for failover across the nodes of a cluster (required)
  --client-id ID          MQTT client id (default: ftagent-<hostname>-<pid>)
  --username U
  --password-file F       file holding the password (or env FTAGENT_PASSWORD)
  --ca F --cert F --key F TLS: CA bundle, client certificate and key (PEM)
  --insecure              do not check the broker's certificate
  --mqtt 5|3.1.1          protocol version (default 5)

Transfer:
  --mode sync|async       sync: results in PUBACKs (MQTT 5 only); async: on $file-response
                          (default: sync on MQTT 5, async on 3.1.1)
  --chunk-size BYTES      segment size (default 65536)
  --window N              commands in flight (default 16, never above the broker's Receive Maximum)
  --file-id ID            (default: a new UUID)
  --name NAME             name on the broker (default: the file's base name, made safe)
  --user-data JSON        user_data of the file metadata
  --meta KEY=VALUE        adds KEY to user_data (repeatable)
  --segments-ttl SECONDS  how long the broker keeps segments of an unfinished transfer
  --expire-at EPOCH       expiry stored with the file (Unix seconds)
  --segment-checksums     put the SHA-256 of each segment in its topic
  --fin-timeout SECONDS   wait for the fin result (default 330)
  --command-timeout SECONDS  wait for any other result before re-sending (default 30)

Output:
  --json                  print one JSON result object on stdout
  --quiet                 no progress, no summary
  --log-level LEVEL       fatal|error|warn|info|debug|trace (default warn; logs go to stderr)

Exit status: 0 on the broker; 2 usage or configuration error (also refused credentials or
certificate); 3 FILE cannot be read or changed while sending; 4 the broker rejected the file for
good; 5 gave up after bounded retries; 130 interrupted.
${queueUsage}`;

const argSpec = {
  broker: { type: 'string', multiple: true },
  'client-id': { type: 'string' },
  username: { type: 'string' },
  password: { type: 'string' },
  'password-file': { type: 'string' },
  ca: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  insecure: { type: 'boolean' },
  mqtt: { type: 'string' },
  mode: { type: 'string' },
  ...uploadFlagSpec,
  json: { type: 'boolean' },
  quiet: { type: 'boolean' },
  'log-level': { type: 'string' },
} as const;

export interface SendPlan {
  connection: ConnectionOptions;
  upload: UploadOptions;
  json: boolean;
  quiet: boolean;
  logLevel: LogLevel;
}

function readConfigFile(flag: string, path: string, cwd: string): Buffer {
  try {
    return readFileSync(resolve(cwd, path));
  } catch (err) {
    throw new FtError('CONFIG_INVALID', `--${flag} ${path} cannot be read (${err instanceof Error ? err.message : String(err)})`);
  }
}

export function parseBrokers(values: readonly string[]): string[] {
  const urls = values.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
  if (urls.length === 0) throw usageError('--broker is required (e.g. --broker mqtt://10.0.0.5:1883)');
  return urls.map((u) => {
    let url: URL;
    try {
      url = new URL(u);
    } catch {
      throw usageError(`--broker "${u}" is not a URL like mqtt://host:1883`);
    }
    const scheme = url.protocol.replace(/:$/, '');
    if (!['mqtt', 'mqtts', 'tcp', 'ssl', 'tls'].includes(scheme)) throw usageError(`--broker "${u}": use mqtt:// or mqtts://`);
    if (url.username || url.password) throw usageError(`--broker "${u}": put no credentials in the URL; use --username and --password-file`);
    return `${scheme}://${url.host}`;
  });
}

/** Turns the command line into options. Throws USAGE / CONFIG_INVALID errors; touches only config files. */
export function planSend(argv: string[], io: CliIo): SendPlan {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: argSpec, allowPositionals: true, strict: true });
  } catch (err) {
    throw usageError(err instanceof Error ? err.message : String(err));
  }
  const { values: v, positionals } = parsed;
  if (v.password !== undefined) throw usageError('--password is not accepted (it would show in the process list); use --password-file F or env FTAGENT_PASSWORD');
  if (positionals.length !== 1 || positionals[0] === undefined) throw usageError('give exactly one FILE to send');
  const path = resolve(io.cwd, positionals[0]);

  const mqtt = v.mqtt ?? '5';
  if (mqtt !== '5' && mqtt !== '3.1.1') throw usageError(`--mqtt must be 5 or 3.1.1, got "${mqtt}"`);
  const protocolVersion = mqtt === '5' ? 5 : 4;
  const mode = v.mode ?? (protocolVersion === 5 ? 'sync' : 'async');
  if (mode !== 'sync' && mode !== 'async') throw usageError(`--mode must be sync or async, got "${mode}"`);
  if (mode === 'sync' && protocolVersion === 4) throw usageError('--mode sync needs MQTT 5: MQTT 3.1.1 PUBACKs carry no result; use --mode async');

  const logLevel = (v['log-level'] ?? 'warn') as LogLevel;
  if (!logLevels.includes(logLevel)) throw usageError(`--log-level must be one of ${logLevels.join(', ')}`);

  let password: string | undefined;
  if (v['password-file'] !== undefined) password = readConfigFile('password-file', v['password-file'], io.cwd).toString('utf8').replace(/\r?\n$/, '');
  else if (io.env.FTAGENT_PASSWORD !== undefined) password = io.env.FTAGENT_PASSWORD;
  if (password !== undefined && v.username === undefined) throw usageError('a password needs --username');

  const tls: TlsMaterial = {};
  if (v.ca !== undefined) tls.ca = readConfigFile('ca', v.ca, io.cwd);
  if (v.cert !== undefined) tls.cert = readConfigFile('cert', v.cert, io.cwd);
  if (v.key !== undefined) tls.key = readConfigFile('key', v.key, io.cwd);
  if ((tls.cert === undefined) !== (tls.key === undefined)) throw usageError('--cert and --key go together');
  if (v.insecure) tls.insecure = true;

  const connection: ConnectionOptions = {
    brokers: parseBrokers(v.broker ?? []),
    clientId: v['client-id'] ?? `ftagent-${hostname()}-${process.pid}`,
    protocolVersion,
    ...(v.username !== undefined ? { username: v.username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(Object.keys(tls).length > 0 ? { tls } : {}),
  };
  if (connection.clientId === '' || /[+#/]/.test(connection.clientId)) throw usageError('--client-id must be non-empty and contain no "/", "+" or "#"');

  const upload = withUploadDefaults({
    path,
    mode,
    segmentChecksums: false,
    ...uploadFlagOptions(v),
  });
  validateUploadOptions(upload, protocolVersion);
  return { connection, upload, json: v.json === true, quiet: v.quiet === true, logLevel };
}

function checkReadable(path: string): number {
  try {
    const st = statSync(path);
    if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: st.isDirectory() ? 'EISDIR' : 'EINVAL' });
    return st.size;
  } catch (err) {
    throw sourceUnreadable(path, err);
  }
}

async function run(argv: string[], io: CliIo): Promise<number> {
  // --queue hands the file to the daemon's spool instead (send-queue.ts).
  if (isQueuedSend(argv)) return runQueuedSend(argv, io);
  const plan = planSend(argv, io);
  const size = checkReadable(plan.upload.path);
  const logger = createLogger({ level: plan.logLevel, stream: io.stderr });
  const interrupt = new AbortController();
  const onSignal = (): void => interrupt.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const label = plan.upload.name ?? safeFileName(basename(plan.upload.path));
  const progress = plan.quiet || plan.json ? null : new ProgressReporter(io.stderr, label, size);
  const connection = new Connection(plan.connection, { clock: systemClock, logger });
  const channel = new CommandChannel(connection, { responses: plan.upload.mode === 'async' || plan.connection.protocolVersion === 4 }, logger);
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
        onProgress: (snap) => progress?.update(snap.confirmed.reduce((n, [a, b]) => n + (b - a), 0)),
      },
      { link: channel, clock: systemClock, logger },
    );
    progress?.finish();
    writeResult(io, plan, result);
    return exitStatus.ok;
  } catch (err) {
    progress?.finish();
    if (plan.json && err instanceof FtError) {
      io.stdout.write(`${JSON.stringify({ ok: false, error: { code: err.code, message: err.message, transient: err.transient } })}\n`);
    }
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
        fileId: r.fileId,
        name: r.name,
        size: r.size,
        sha256: r.sha256,
        seconds: Number(r.seconds.toFixed(3)),
        bytesSent: r.bytesSent,
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
