import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig, type Config } from '../../src/config/load-config';
import { startBroker, type BrokerFaults, type PublishInterceptor, type RunningBroker } from '../../src/devbroker/index';
import { createLogger } from '../../src/log';

export const quietLog = createLogger({ level: 'silent' });

export async function broker(
  dataDir: string,
  opts: { faults?: BrokerFaults; auditLog?: string; interceptors?: PublishInterceptor[]; port?: number } = {},
): Promise<RunningBroker & { dataDir: string }> {
  const b = await startBroker({
    port: opts.port ?? 0,
    dataDir,
    logger: quietLog,
    faults: { seed: 3, ...opts.faults },
    ...(opts.auditLog ? { auditLog: opts.auditLog } : {}),
    ...(opts.interceptors ? { interceptors: opts.interceptors } : {}),
  });
  return Object.assign(b, { dataDir });
}

export async function daemonConfig(stateDir: string, port: number, extra: Record<string, unknown> = {}): Promise<Config> {
  const text = JSON.stringify({
    brokers: [`mqtt://127.0.0.1:${port}`],
    clientId: 'gw-daemon',
    stateDir,
    upload: { chunkSize: 4096, window: 4 },
    checkpoint: { everyBytes: 8192, everyMs: 60_000 },
    log: { level: 'silent' },
    ...extra,
  });
  return parseConfig(text, join(stateDir, '..', 'config.json'), { env: {} });
}

export function sampleFile(path: string, size: number, seed = 1): Buffer {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + seed * 7 + (i >> 9)) & 0xff;
  writeFileSync(path, bytes);
  return bytes;
}

/** fileId → exported bytes for one client. */
export function exportsOf(dataDir: string, clientId: string): Map<string, Buffer> {
  const dir = join(dataDir, 'exports', clientId);
  const out = new Map<string, Buffer>();
  if (!existsSync(dir)) return out;
  for (const fileId of readdirSync(dir)) {
    const files = readdirSync(join(dir, fileId)).filter((n) => !n.endsWith('.MANIFEST.json'));
    for (const f of files) out.set(fileId, readFileSync(join(dir, fileId, f)));
  }
  return out;
}

export function sha(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

export async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 20_000, stepMs = 20): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
