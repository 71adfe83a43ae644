/**
 * A development broker with its store server (download handler plugged in) on loopback port 0 and a
 * temp dir, and an agent side (Connection + StoreChannel + startStoreReceiver) talking to it.
 * Small nftp blocks so a few KiB make many blocks; everything is stopped and removed by `cleanup`.
 */
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startBroker, type PublishInterceptor, type RunningBroker } from '../../src/devbroker';
import { decode } from '../../src/protocol/nftp-codec';
import { createStoreServer, lateBoundCore, type StoreServer, type StoreVerbHandler } from '../../src/devbroker/store-server';
import { createDownloadHandler, type DownloadHandler } from '../../src/devbroker/store-server/download-handler';
import { createPushControl } from '../../src/devbroker/store-server/push-control';
import { pushFile, type PushFileOptions, type PushStarted } from '../../src/devbroker/store-server/push-file';
import { silentLogger } from '../../src/log';
import { systemClock } from '../../src/time/clock';
import { Connection } from '../../src/mqtt/connection';
import { NftpBitmap } from '../../src/transfer/nftp/nftp-bitmap';
import { StoreChannel } from '../../src/mqtt/store-channel';
import { startStoreReceiver, type SinkFactory, type StoreReceiverOptions, type NftpReceiveSettings, type StoreReceiveRecord, type StoreReceiver } from '../../src/transfer/store/store-receive';

export const blockSize = 1024;

export interface Harness {
  dir: string;
  /** `<dataDir>/store/files`: what the server can push and serve. */
  filesDir: string;
  url: string;
  broker: RunningBroker;
  store: StoreServer;
  download: DownloadHandler;
  push(options: Omit<PushFileOptions, 'clientId'> & { clientId?: string }): Promise<PushStarted>;
  /** Every GIVEME a client published, by nftp topic: which blocks it asked for again. */
  givemes(topic: string): number[];
  cleanup(): Promise<void>;
}

export async function startHarness(options: { handlers?: StoreVerbHandler[] } = {}): Promise<Harness> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ftagent-receive-'));
  const dataDir = path.join(dir, 'broker');
  const filesDir = path.join(dataDir, 'store', 'files');
  await mkdir(filesDir, { recursive: true });
  const core = lateBoundCore(silentLogger);
  const download = createDownloadHandler({ lingerMs: 3000, intervalMs: 1 });
  const store = createStoreServer(core, { dataDir, handlers: [download, ...(options.handlers ?? [])], nftp: { blockSize }, log: silentLogger });
  const asked = new Map<string, number[]>();
  // Looks at every publish on a $file/ topic before the store server claims it, and lets it through.
  const observer: PublishInterceptor = {
    name: 'test-giveme-observer',
    onPublish(msg) {
      if (!msg.topic.startsWith('$file/')) return null;
      try {
        const packet = decode(msg.payload, { width: 'u16' });
        if (packet.kind === 'giveme') asked.set(msg.topic, [...(asked.get(msg.topic) ?? []), packet.seq]);
      } catch {
        // not nftp: none of our business
      }
      return null;
    },
  };
  const broker = await startBroker({
    dataDir,
    logLevel: 'silent',
    // This harness brings its own store server (fast test timings), so the built-in one is off.
    store: false,
    interceptors: [observer, store, createPushControl(store.context, { lingerMs: 3000, intervalMs: 1 })],
  });
  core.bind(broker.core);
  const pushes: PushStarted[] = [];
  return {
    dir,
    filesDir,
    url: `mqtt://127.0.0.1:${broker.port}`,
    broker,
    store,
    download,
    async push(o) {
      const started = await pushFile(store.context, { clientId: 'store-1', lingerMs: 3000, intervalMs: 1, ...o });
      pushes.push(started);
      return started;
    },
    givemes: (topic) => asked.get(topic) ?? [],
    async cleanup() {
      for (const p of pushes) p.cancel('test over');
      await broker.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface Agent {
  channel: StoreChannel;
  receiver: StoreReceiver;
  /** Resolves with the next push result the receiver reports. */
  nextResult(): Promise<StoreReceiveRecord>;
  stop(): Promise<void>;
}

export interface AgentOptions {
  clientId?: string;
  receive: string[];
  browse?: string[];
  nftp?: NftpReceiveSettings;
  overwriteDefault?: boolean;
  sinkFor?: SinkFactory;
  limits?: StoreReceiverOptions['limits'];
  freeSpace?: StoreReceiverOptions['freeSpace'];
}

export async function startAgent(h: Harness, o: AgentOptions): Promise<Agent> {
  const connection = new Connection({ brokers: [h.url], clientId: o.clientId ?? 'store-1', protocolVersion: 5 }, { clock: systemClock, logger: silentLogger });
  const channel = new StoreChannel(connection, { logger: silentLogger });
  await connection.start();
  await channel.whenReady();
  const queue: StoreReceiveRecord[] = [];
  const waiters: ((r: StoreReceiveRecord) => void)[] = [];
  const receiver = startStoreReceiver({
    storeChannel: channel,
    roots: { receive: o.receive, browse: o.browse ?? [] },
    logger: silentLogger,
    nftp: { blockSize, stallMs: 100, ...o.nftp },
    ...(o.overwriteDefault !== undefined ? { overwriteDefault: o.overwriteDefault } : {}),
    ...(o.sinkFor ? { sinkFor: o.sinkFor } : {}),
    ...(o.limits ? { limits: o.limits } : {}),
    ...(o.freeSpace ? { freeSpace: o.freeSpace } : {}),
    onResult: (r) => {
      const w = waiters.shift();
      if (w) w(r);
      else queue.push(r);
    },
  });
  await receiver.ready;
  return {
    channel,
    receiver,
    nextResult: () => {
      const r = queue.shift();
      return r ? Promise.resolve(r) : new Promise((resolve) => waiters.push(resolve));
    },
    async stop() {
      await receiver.stop();
      channel.dispose();
      await connection.close();
    },
  };
}

export { content } from '../helpers/content';

/** The blocks the persisted map names (what a restarted receiver will trust). */
export async function mapBlocks(mapFile: string, blocks: number): Promise<number[]> {
  const [body = ''] = (await readFile(mapFile, 'utf8')).split('\n');
  const record = JSON.parse(body) as { bitmap: string };
  const bitmap = new NftpBitmap(blocks, Buffer.from(record.bitmap, 'base64'));
  return Array.from({ length: blocks }, (_, i) => i).filter((i) => bitmap.has(i));
}
