import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { repoRoot } from './fresh-bundles';

/**
 * The real EMQX 5.3.2 (with file transfer) kept beside the project checkout for interop tests:
 * `FTAGENT_EMQX_SH` names its script, else the nearest `shared/emqx/emqx.sh` in a parent folder
 * (a git worktree sits one level deeper than the main checkout).
 */
export const emqxScript = process.env.FTAGENT_EMQX_SH ?? findBesideCheckout(join('shared', 'emqx', 'emqx.sh'));

function findBesideCheckout(rel: string): string {
  let dir = resolve(repoRoot, '..');
  for (let depth = 0; depth < 4; depth++) {
    if (existsSync(join(dir, rel))) return join(dir, rel);
    dir = dirname(dir);
  }
  return resolve(repoRoot, '..', rel);
}
export const emqxPackages = 'erlang-nox erlang-odbc erlang-eldap librocksdb7.8 libsasl2-2 libsnappy1v5 libgflags2.2';

export interface Emqx {
  readonly port: number;
  readonly url: string;
  readonly dataDir: string;
  /** Where EMQX's local exporter writes finished files. */
  readonly exportsDir: string;
  /** SIGTERM (then SIGKILL after 30 s, as the script does). */
  stop(): Promise<void>;
  /** SIGKILL: a node that dies without a word. */
  kill(): void;
  /** Start again on the same port and data dir (segments on disk survive); `onStopped` runs in between. */
  restart(onStopped?: () => void): Promise<void>;
  /** The last lines of the broker's console log, for a failing test's message. */
  logTail(lines?: number): string;
}

export interface EmqxOptions {
  /** HOCON appended to the generated config, e.g. `mqtt.max_packet_size = 32KB`. */
  extraConf?: string;
  /** Default: a new temp dir, removed by stop(). */
  dataDir?: string;
}

/** emqx.sh's own bound per node is 120 s; on a loaded 2-core machine a cluster start nears it twice. */
const scriptTimeoutMs = 300_000;
/** For a hook that starts EMQX (a node or a cluster). */
export const emqxStartTimeoutMs = scriptTimeoutMs + 30_000;

function runScript(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  return new Promise((resolveRun, reject) => {
    execFile('bash', [emqxScript, ...args], { env: { ...process.env, ...env }, timeout: scriptTimeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`emqx.sh ${args.join(' ')} failed: ${String(stderr || err.message).slice(-2000)}`));
      else resolveRun(String(stdout));
    });
  });
}

/** Fails with the packages to install when Erlang is missing: the interop suite is never skipped. */
export function assertEmqxRunnable(): void {
  if (!existsSync(emqxScript)) throw new Error(`the EMQX test package is missing: expected ${emqxScript}`);
  const haveErl = (process.env.PATH ?? '').split(':').some((dir) => existsSync(join(dir, 'erl')));
  if (!haveErl) {
    throw new Error(`EMQX interop tests need Erlang: run 'sudo ${emqxScript} deps' (Debian packages: ${emqxPackages})`);
  }
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolvePort) => {
    const server = createServer();
    server.once('error', () => resolvePort(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolvePort(true)));
  });
}

/**
 * A free MQTT port whose companions are free too: EMQX takes PORT+1 for RPC, and a clustered node
 * 5369+PORT. Ports are drawn from 20000–29999 so those companions stay below 35369.
 */
export async function freeEmqxPort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 10_000);
    const companions = [port, port + 1, port + 5369];
    if ((await Promise.all(companions.map(portFree))).every(Boolean)) return port;
  }
  throw new Error('no free port for EMQX in 20000-29999');
}

function handle(port: number, dataDir: string, ownsDir: boolean, env: NodeJS.ProcessEnv): Emqx {
  const pidFile = join(dataDir, 'emqx.pid');
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    dataDir,
    exportsDir: join(dataDir, 'ft', 'exports'),
    async stop() {
      await runScript(['stop', dataDir]);
      if (ownsDir) await rm(dataDir, { recursive: true, force: true });
    },
    kill() {
      if (!existsSync(pidFile)) return;
      try {
        process.kill(Number(readFileSync(pidFile, 'utf8').trim()), 'SIGKILL');
      } catch {
        // already gone
      }
    },
    async restart(onStopped) {
      await runScript(['stop', dataDir]);
      onStopped?.();
      await runScript(['start', String(port), dataDir], env);
    },
    logTail(lines = 40) {
      try {
        return readFileSync(join(dataDir, 'log', 'console.log'), 'utf8')
          .split('\n')
          .slice(-lines)
          .join('\n');
      } catch {
        return '(no EMQX log)';
      }
    },
  };
}

/** One EMQX node on a free loopback port (about 15 s). */
export async function startEmqx(options: EmqxOptions = {}): Promise<Emqx> {
  assertEmqxRunnable();
  const ownsDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'ftagent-emqx-')));
  const env = options.extraConf ? { EXTRA_CONF: options.extraConf } : {};
  const port = await freeEmqxPort();
  await runScript(['start', String(port), dataDir], env);
  return handle(port, dataDir, ownsDir, env);
}

/** Two EMQX nodes joined in one cluster (about 30 s). */
export async function startEmqxCluster(options: { extraConf?: string } = {}): Promise<[Emqx, Emqx]> {
  assertEmqxRunnable();
  const dirs = [await mkdtemp(join(tmpdir(), 'ftagent-emqx-n1-')), await mkdtemp(join(tmpdir(), 'ftagent-emqx-n2-'))] as const;
  const first = await freeEmqxPort();
  let second = await freeEmqxPort();
  while (second === first || second === first + 1 || second + 1 === first) second = await freeEmqxPort();
  const env = options.extraConf ? { EXTRA_CONF: options.extraConf } : {};
  await runScript(['cluster', String(first), dirs[0], String(second), dirs[1]], env);
  return [handle(first, dirs[0], true, env), handle(second, dirs[1], true, env)];
}

export interface EmqxExport {
  path: string;
  /** The filemeta EMQX recorded: name, size, checksum (upper-case hex), user_data, ... */
  manifest: Record<string, unknown>;
}

/**
 * The exported file of (clientId, fileId): EMQX writes it to
 * exports/<2 hex>/<2 hex>/<rest of a hash>/<clientid>/<fileid>/<name> with <name>.MANIFEST.json beside it.
 */
export async function findEmqxExport(emqx: Pick<Emqx, 'exportsDir'>, clientId: string, fileId: string): Promise<EmqxExport | undefined> {
  const level = async (dir: string): Promise<string[]> =>
    readdir(dir).then(
      (names) => names.map((n) => join(dir, n)),
      () => [],
    );
  for (const a of await level(emqx.exportsDir)) {
    for (const b of await level(a)) {
      for (const c of await level(b)) {
        for (const clientDir of await level(c)) {
          if (decodeURIComponent(clientDir.slice(c.length + 1)) !== clientId) continue;
          for (const fileDir of await level(clientDir)) {
            if (decodeURIComponent(fileDir.slice(clientDir.length + 1)) !== fileId) continue;
            const names = await readdir(fileDir);
            const data = names.find((n) => !n.endsWith('.MANIFEST.json'));
            if (data === undefined) return undefined;
            const raw = JSON.parse(await readFile(join(fileDir, `${data}.MANIFEST.json`), 'utf8')) as unknown;
            // EMQX 5.3.2 writes ["filemeta", 1, {...}]: the versioned term, not the bare object.
            const manifest = (Array.isArray(raw) ? raw[2] : raw) as Record<string, unknown>;
            return { path: join(fileDir, data), manifest };
          }
        }
      }
    }
  }
  return undefined;
}

/** SHA-256 (hex) of a file, streamed. */
export async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const piece of createReadStream(path)) hash.update(piece as Buffer);
  return hash.digest('hex');
}

/**
 * The export of (clientId, fileId) after checking it: its bytes hash to `sha256` and its manifest
 * records that checksum (EMQX writes it upper-case) and the size. Failures carry the EMQX log tail.
 */
export async function expectEmqxExport(emqx: Emqx, clientId: string, fileId: string, sha256: string, size: number): Promise<EmqxExport> {
  const exported = await findEmqxExport(emqx, clientId, fileId);
  if (!exported) throw new Error(`no export of ${clientId}/${fileId} under ${emqx.exportsDir}\n${emqx.logTail()}`);
  const actual = await fileSha256(exported.path);
  if (actual !== sha256) throw new Error(`export ${exported.path} has SHA-256 ${actual}, expected ${sha256}`);
  const { size: onDisk } = await stat(exported.path);
  if (onDisk !== size || exported.manifest.size !== size || exported.manifest.checksum !== sha256.toUpperCase()) {
    throw new Error(`export ${exported.path}: ${onDisk} bytes, manifest ${JSON.stringify(exported.manifest)}; expected ${size} bytes, checksum ${sha256}`);
  }
  return exported;
}

export interface EmqxSuite {
  readonly emqx: Emqx;
  /** A scratch folder for the suite's files, removed with the node. */
  readonly dir: string;
}

/**
 * One EMQX node for a whole suite file (tests use their own client ids): started before the
 * first test, stopped (with its data and the scratch folder) after the last.
 */
export function useEmqxSuite(options: EmqxOptions = {}): EmqxSuite {
  const suite = {} as { emqx: Emqx; dir: string };
  beforeAll(async () => {
    suite.dir = await mkdtemp(join(tmpdir(), 'ftagent-interop-'));
    suite.emqx = await startEmqx(options);
  }, emqxStartTimeoutMs);
  afterAll(async () => {
    // Its data is thrown away: no need for a graceful stop (which can take many seconds).
    suite.emqx?.kill();
    await suite.emqx?.stop();
    if (suite.dir) await rm(suite.dir, { recursive: true, force: true });
  }, 60_000);
  return suite;
}
