/**
 * The flags that `send` and `fetch` share (connection and output): one spec, one set of rules, so a flag
 * means the same thing to every command. Each command passes its own usage-error wording.
 */
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { fileLimits, readBounded } from '../config/bounded-read';
import { brokerUrlProblem, clientIdProblem } from '../config/limits';
import { FtError } from '../errors';
import { logLevels, type LogLevel } from '../log';
import { tlsMaterialProblem } from '../mqtt/connect-errors';
import type { ConnectionOptions, TlsMaterial } from '../mqtt/connection';
import type { CliIo } from './command';

export const connectionFlagSpec = {
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
} as const;

export interface ConnectionFlagValues {
  broker?: string[];
  'client-id'?: string;
  username?: string;
  password?: string;
  'password-file'?: string;
  ca?: string;
  cert?: string;
  key?: string;
  insecure?: boolean;
  mqtt?: string;
}

type UsageError = (message: string) => FtError;

export function parseBrokers(values: readonly string[], usageError: UsageError): string[] {
  const urls = values
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');
  if (urls.length === 0) throw usageError('--broker is required (e.g. --broker mqtt://10.0.0.5:1883)');
  return urls.map((u) => {
    const problem = brokerUrlProblem(u);
    if (problem) throw usageError(`--broker "${u}" ${problem}`);
    const url = new URL(u);
    return `${url.protocol.replace(/:$/, '')}://${url.host}`;
  });
}

function readFlagFile(flag: string, path: string, cwd: string, limit: number): Buffer {
  try {
    return readBounded(resolve(cwd, path), { limit, what: `--${flag} ${path}`, code: 'USAGE' });
  } catch (err) {
    if (err instanceof FtError) throw err;
    throw new FtError('CONFIG_INVALID', `--${flag} ${path} cannot be read (${err instanceof Error ? err.message : String(err)})`);
  }
}

/** Flags → ConnectionOptions. Throws USAGE (via `usageError`) or CONFIG_INVALID; reads only the named files. */
export function connectionFromFlags(v: ConnectionFlagValues, io: CliIo, usageError: UsageError): ConnectionOptions {
  if (v.password !== undefined) throw usageError('--password is not accepted (it would show in the process list); use --password-file F or env FTAGENT_PASSWORD');
  const mqtt = v.mqtt ?? '5';
  if (mqtt !== '5' && mqtt !== '3.1.1') throw usageError(`--mqtt must be 5 or 3.1.1, got "${mqtt}"`);

  let password: string | undefined;
  if (v['password-file'] !== undefined)
    password = readFlagFile('password-file', v['password-file'], io.cwd, fileLimits.password)
      .toString('utf8')
      .replace(/\r?\n$/, '');
  else if (io.env.FTAGENT_PASSWORD !== undefined) password = io.env.FTAGENT_PASSWORD;
  if (password !== undefined && v.username === undefined) throw usageError('a password needs --username');

  const tls: TlsMaterial = {};
  if (v.ca !== undefined) tls.ca = readFlagFile('ca', v.ca, io.cwd, fileLimits.pem);
  if (v.cert !== undefined) tls.cert = readFlagFile('cert', v.cert, io.cwd, fileLimits.pem);
  if (v.key !== undefined) tls.key = readFlagFile('key', v.key, io.cwd, fileLimits.pem);
  if ((tls.cert === undefined) !== (tls.key === undefined)) throw usageError('--cert and --key go together');
  const tlsProblem = tlsMaterialProblem(tls, { ca: '--ca', cert: '--cert', key: '--key' });
  if (tlsProblem) throw usageError(tlsProblem);
  if (v.insecure) tls.insecure = true;

  // The pid keeps two foreground commands on one device from taking over each other's session.
  const clientId = v['client-id'] ?? `ftagent-${hostname()}-${process.pid}`;
  const idProblem = v['client-id'] === undefined ? undefined : clientIdProblem(clientId);
  if (idProblem) throw usageError(`--client-id ${idProblem}`);
  return {
    brokers: parseBrokers(v.broker ?? [], usageError),
    clientId,
    protocolVersion: mqtt === '5' ? 5 : 4,
    ...(v.username !== undefined ? { username: v.username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(Object.keys(tls).length > 0 ? { tls } : {}),
  };
}

/** How a foreground transfer reports: `--json` result, `--quiet`, `--log-level` (logs go to stderr). */
export const outputFlagSpec = {
  json: { type: 'boolean' },
  quiet: { type: 'boolean' },
  'log-level': { type: 'string' },
} as const;

/** `--log-level`, default warn: a foreground command's stderr is for the person running it. */
export function logLevelFromFlag(value: string | undefined, usageError: UsageError): LogLevel {
  const level = value ?? 'warn';
  if (!(logLevels as readonly string[]).includes(level)) throw usageError(`--log-level must be one of ${logLevels.join(', ')}`);
  return level as LogLevel;
}
