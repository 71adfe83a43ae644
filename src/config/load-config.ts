import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { FtError, errnoCode } from '../errors';
import { fileLimits, readBounded } from './bounded-read';
import { configSchema, type ConfigFile } from './schema';
import { ConfigProblem, validate } from './validate';

export const defaultConfigPath = '/etc/ftagent/config.json';
const passwordEnv = 'FTAGENT_PASSWORD';

export type MqttMode = 'sync' | 'async';
export type UploadSettings = ConfigFile['upload'];
export type WatchConfig = ConfigFile['watch'][number];

/** A loaded config: every key present (defaults filled), paths absolute, secrets read. */
export type Config = Omit<ConfigFile, 'mqtt'> & {
  mqtt: Omit<ConfigFile['mqtt'], 'mode'> & { mode: MqttMode };
  /** From FTAGENT_PASSWORD or passwordFile; never logged (the logger redacts "password"). */
  password?: string;
  /** The absolute path the config was read from. */
  source: string;
};

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
}

/**
 * Reads and validates the config file. Every problem is one FtError('CONFIG_INVALID') whose
 * message names the file, the key and the fix; the CLI turns it into exit status 2.
 */
export async function loadConfig(file: string, options: LoadOptions = {}): Promise<Config> {
  const path = resolve(file);
  const text = await readConfigText(path);
  const config = await parseConfig(text, path, options);
  // A stateDir that is a file makes the daemon fail at every start (and systemd restart it forever).
  const kind = await stat(config.stateDir).then(
    (st) => (st.isDirectory() ? 'dir' : 'other'),
    () => 'absent',
  );
  if (kind === 'other') {
    throw new FtError('CONFIG_INVALID', `config ${path}: "stateDir" ${config.stateDir} exists and is not a directory: point it at a directory (it is created if missing), or move that file away`, {
      details: { file: path, key: 'stateDir' },
    });
  }
  return config;
}

export async function parseConfig(text: string, path: string, options: LoadOptions = {}): Promise<Config> {
  const env = options.env ?? process.env;
  const fail = (message: string, key?: string): FtError => new FtError('CONFIG_INVALID', `config ${path}: ${message}`, { details: { file: path, ...(key ? { key } : {}) } });

  let json: unknown;
  try {
    json = JSON.parse(text) as unknown;
  } catch (err) {
    throw new FtError('CONFIG_INVALID', `config ${path} ${describeJsonError(text, err)}. Fix the syntax (JSON allows no comments and no trailing commas)`, {
      details: { file: path },
    });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw fail('must hold one JSON object { … }');

  let file: ConfigFile;
  try {
    // The validator built this value from the schema ConfigFile is derived from.
    file = validate(configSchema, json, '', { baseDir: dirname(path), root: configSchema }) as ConfigFile;
  } catch (err) {
    if (err instanceof ConfigProblem) throw fail(err.message, err.key);
    throw err;
  }

  const config: Config = {
    ...file,
    mqtt: { ...file.mqtt, mode: file.mqtt.mode ?? (file.mqtt.version === '5' ? 'sync' : 'async') },
    source: path,
  };
  const password = await readPassword(file, env, fail);
  if (password !== undefined) config.password = password;
  for (const key of ['ca', 'cert', 'key'] as const) {
    const p = file.tls[key];
    if (p === undefined) continue;
    try {
      await access(p, constants.R_OK);
    } catch (err) {
      throw fail(`"tls.${key}" names ${p}, which cannot be read (${errnoCode(err) ?? 'error'}): fix the path or the file's permissions`, `tls.${key}`);
    }
  }
  return config;
}

/** The upload settings for files from one watch folder: its overrides on top of "upload". */
export function watchUpload(config: Pick<Config, 'upload'>, watch: WatchConfig): UploadSettings {
  const o = watch.upload;
  // Unset chunk size and window stay unset: the agent then chooses them from the broker's limits.
  const chunkSize = o.chunkSize ?? config.upload.chunkSize;
  const window = o.window ?? config.upload.window;
  return {
    ...(chunkSize === undefined ? {} : { chunkSize }),
    ...(window === undefined ? {} : { window }),
    memoryBudget: config.upload.memoryBudget,
    finTimeoutSeconds: o.finTimeoutSeconds ?? config.upload.finTimeoutSeconds,
    segmentChecksums: o.segmentChecksums ?? config.upload.segmentChecksums,
    onSourceChange: o.onSourceChange ?? config.upload.onSourceChange,
  };
}

async function readConfigText(path: string): Promise<string> {
  try {
    return readBounded(path, { limit: fileLimits.config, what: `config file ${path}`, code: 'CONFIG_INVALID' }).toString('utf8');
  } catch (err) {
    if (err instanceof FtError) throw err;
    const code = errnoCode(err);
    const message =
      code === 'ENOENT'
        ? `config file ${path} does not exist: create it (the README has a complete example) or pass --config FILE`
        : code === 'EISDIR'
          ? `config file ${path} is a directory: pass the JSON file itself with --config FILE`
          : `config file ${path} cannot be read (${code ?? String(err)}): check its permissions`;
    throw new FtError('CONFIG_INVALID', message, { cause: err, details: { file: path } });
  }
}

async function readPassword(file: ConfigFile, env: NodeJS.ProcessEnv, fail: (m: string, k?: string) => FtError): Promise<string | undefined> {
  const fromEnv = env[passwordEnv];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (file.passwordFile === undefined) return undefined;
  try {
    // One trailing newline is what `echo secret > file` leaves; it is not part of the password.
    const bytes = readBounded(file.passwordFile, { limit: fileLimits.password, what: `"passwordFile" ${file.passwordFile}`, code: 'CONFIG_INVALID' });
    return bytes.toString('utf8').replace(/\r?\n$/, '');
  } catch (err) {
    if (err instanceof FtError) throw err;
    throw fail(
      `"passwordFile" names ${file.passwordFile}, which cannot be read (${errnoCode(err) ?? 'error'}): create it (mode 0600), fix the path, or remove the key and set ${passwordEnv}`,
      'passwordFile',
    );
  }
}

/** "Unexpected token } in JSON at position 42" → "is not valid JSON at line 3, column 5 (Unexpected token })". */
function describeJsonError(text: string, err: unknown): string {
  const raw = err instanceof Error ? err.message : String(err);
  const m = /at position (\d+)/.exec(raw);
  const detail = raw.replace(/\s*(in JSON )?at position \d+.*$/, '').replace(/^JSON\.parse: /, '');
  if (!m) return `is not valid JSON (${detail})`;
  const pos = Number(m[1]);
  const before = text.slice(0, pos).split('\n');
  const line = before.length;
  const column = (before[before.length - 1]?.length ?? 0) + 1;
  return `is not valid JSON at line ${line}, column ${column} (${detail})`;
}
