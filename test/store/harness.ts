/** A development broker with the store server, and an agent-side connection + store channel to it. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBroker, type RunningBroker } from '../../src/devbroker/index';
import type { StoreServer, StoreServerOptions } from '../../src/devbroker/store-server/index';
import { createLogger } from '../../src/log';
import { systemClock } from '../../src/time/clock';
import { Connection } from '../../src/mqtt/connection';
import { StoreChannel } from '../../src/mqtt/store-channel';

export const quietLog = createLogger({ level: 'silent' });

export interface StoreBroker {
  broker: RunningBroker;
  store: StoreServer;
  dataDir: string;
  url: string;
  stop(): Promise<void>;
}

export async function startStoreBroker(root: string, options: Omit<StoreServerOptions, 'dataDir'> = {}): Promise<StoreBroker> {
  const dataDir = mkdtempSync(join(root, 'broker-'));
  const broker = await startBroker({
    port: 0,
    dataDir,
    logger: quietLog,
    store: { log: quietLog, ...options, nftp: { blockSize: 1024, stallMs: 100, ...options.nftp } },
  });
  const store = broker.store;
  if (!store) throw new Error('the development broker started without its store server');
  return { broker, store, dataDir, url: `mqtt://127.0.0.1:${broker.port}`, stop: () => broker.stop() };
}

export interface Agent {
  connection: Connection;
  channel: StoreChannel;
  close(): Promise<void>;
}

export async function connectAgent(url: string, clientId: string, protocolVersion: 4 | 5 = 5): Promise<Agent> {
  const connection = new Connection({ brokers: [url], clientId, protocolVersion, maxAttempts: 3, backoff: { baseMs: 10, capMs: 50 } }, { clock: systemClock, logger: quietLog });
  const channel = new StoreChannel(connection, { logger: quietLog });
  await connection.start();
  await channel.whenReady();
  return {
    connection,
    channel,
    close: async () => {
      channel.dispose();
      await connection.close();
    },
  };
}

export function tempRoot(prefix: string): { root: string; cleanup(): void } {
  const root = mkdtempSync(join(tmpdir(), prefix));
  return { root, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

export function sampleFile(dir: string, name: string, size: number): { path: string; bytes: Buffer } {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + (i >> 8) + 7) & 0xff;
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return { path, bytes };
}

/** Fast nftp settings for loopback tests (the broker side uses the same 1 KiB block size). */
export const fastNftp = { blockSize: 1024, intervalMs: 0, window: 8, lingerMs: 1500, helloTimeoutMs: 2000 };
