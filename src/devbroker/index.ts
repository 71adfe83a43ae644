import { mkdir } from 'node:fs/promises';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { createLogger, type Logger, type LogLevel } from '../log';
import { noAuditLog, openAuditLog } from './audit-log';
import { Broker } from './broker-core';
import { createConnectionFaults } from './faults';
import type { BrokerCore, BrokerFaults, PublishInterceptor } from './types';
import { createFileTransfer } from './ft';
import { createStoreServer, type StoreServer, type StoreServerOptions } from './store-server';
import { createDownloadHandler } from './store-server/download-handler';
import { createPushControl } from './store-server/push-control';

export type { BrokerCore, BrokerFaults, InboundPublish, InterceptResult, OutboundMessage, PublishInterceptor } from './types';
export { createPrng } from './prng';

export interface BrokerTlsOptions {
  /** PEM text of the server certificate (chain). Contents, not a path: the CLI reads the files. */
  cert: string | Buffer;
  /** PEM text of the server's private key. */
  key: string | Buffer;
  /** PEM text of the CA that client certificates must chain to. */
  ca?: string | Buffer;
  /** Require a client certificate signed by `ca`; connections without one are refused at the TLS handshake. */
  requestClientCert?: boolean;
}

export interface BrokerOptions {
  /** TCP port; 0 (the default) picks a free one, reported in the result. */
  port?: number;
  /** Interface to listen on; default 127.0.0.1. */
  host?: string;
  /** Where the file-transfer emulation keeps segments and exported files; created if missing. */
  dataDir: string;
  tls?: BrokerTlsOptions;
  /** Receive Maximum advertised in the MQTT 5 CONNACK and enforced (DISCONNECT 0x93); default 32. */
  receiveMaximum?: number;
  /** Maximum Packet Size in bytes, advertised and enforced on every connection; default 1 MiB (EMQX's default). */
  maximumPacketSize?: number;
  faults?: BrokerFaults;
  /** Append one JSON line per inbound PUBLISH to this file. */
  auditLog?: string;
  /** Default 'info'; ignored when `logger` is given. */
  logLevel?: LogLevel;
  logger?: Logger;
  /** Run before the file-transfer emulation; the first to claim a PUBLISH decides its acknowledgement. */
  interceptors?: PublishInterceptor[];
  /** username → password. When set, every client must present one of these (else CONNACK "not authorized"). */
  users?: Record<string, string>;
  /** false = a plain MQTT broker: no EMQX file-transfer emulation (for tests that bring their own). Default true. */
  fileTransfer?: boolean;
  /** Per-session bound on queued QoS 1 messages (oldest dropped first); default 10 000. */
  maxQueuedPerSession?: number;
  /**
   * The store system's server side (`$file_sniffer/v1/…` and the nftp topics it allocates), on by
   * default; false turns it off. It runs before the file-transfer emulation, which would otherwise
   * take every `$file/…` publish.
   */
  store?: Omit<StoreServerOptions, 'dataDir'> | false;
}

export interface RunningBroker {
  port: number;
  core: BrokerCore;
  /** The store server, unless `store: false`: push files, send dir queries, read results. */
  store?: StoreServer;
  /** Close every connection, stop listening, flush the audit log. Safe to call twice. */
  stop(): Promise<void>;
}

const DEFAULT_RECEIVE_MAXIMUM = 32;
const DEFAULT_MAXIMUM_PACKET_SIZE = 1024 * 1024;
const DEFAULT_MAX_QUEUED = 10_000;

export async function startBroker(options: BrokerOptions): Promise<RunningBroker> {
  const receiveMaximum = options.receiveMaximum ?? DEFAULT_RECEIVE_MAXIMUM;
  const maximumPacketSize = options.maximumPacketSize ?? DEFAULT_MAXIMUM_PACKET_SIZE;
  // MQTT 5 limits: Receive Maximum 1..65535, Maximum Packet Size 1..268435460 (2^28 - 1 + 5 header bytes).
  if (!Number.isInteger(receiveMaximum) || receiveMaximum < 1 || receiveMaximum > 65535) {
    throw new RangeError(`receiveMaximum must be an integer from 1 to 65535, got ${receiveMaximum}`);
  }
  if (!Number.isInteger(maximumPacketSize) || maximumPacketSize < 16 || maximumPacketSize > 268_435_460) {
    throw new RangeError(`maximumPacketSize must be an integer from 16 to 268435460, got ${maximumPacketSize}`);
  }
  const log = options.logger ?? createLogger({ level: options.logLevel ?? 'info', fd: 1 });
  await mkdir(options.dataDir, { recursive: true });

  const audit = options.auditLog ? await openAuditLog(options.auditLog) : noAuditLog;
  const broker = new Broker({
    log,
    receiveMaximum,
    maximumPacketSize,
    maxQueuedPerSession: options.maxQueuedPerSession ?? DEFAULT_MAX_QUEUED,
    ...(options.users ? { users: options.users } : {}),
    faults: createConnectionFaults(options.faults, Date.now()),
    audit,
    interceptors: options.interceptors ?? [],
  });
  const store = options.store === false ? undefined : wireStoreServer(broker, options.dataDir, log, options.store ?? {});
  if (options.fileTransfer !== false) wireFileTransfer(broker, options, log);

  const server = createListener(options.tls, (socket) => broker.accept(socket));
  // TLS handshake failures (no or bad client certificate) concern that client only.
  server.on('tlsClientError', (err: Error) => log.info({ err: err.message }, 'TLS handshake failed'));
  server.on('error', (err) => log.error({ err }, 'listener error'));
  // Every TCP socket, including TLS ones still in their handshake, which the broker core never sees.
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;

  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await broker.stop();
      await store?.close();
      // server.close waits for every socket; flush what the core wrote and close the rest.
      for (const socket of sockets) socket.destroySoon();
      await closed;
      await audit.close();
    })();
    return stopping;
  };
  return { port, core: broker, stop, ...(store ? { store } : {}) };
}

function createListener(tls: BrokerTlsOptions | undefined, onSocket: (socket: Socket) => void): Server {
  if (!tls) return createTcpServer(onSocket);
  const verify = tls.requestClientCert === true;
  return createTlsServer(
    {
      cert: tls.cert,
      key: tls.key,
      ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
      requestCert: verify,
      rejectUnauthorized: verify,
      handshakeTimeout: 10_000,
    },
    onSocket,
  );
}

/**
 * The store server serves `download` requests from `<dataDir>/store/files/` and takes push orders on
 * `$ftbroker/push`; handlers the caller gives for a verb replace the built-in ones.
 */
function wireStoreServer(broker: Broker, dataDir: string, log: Logger, options: Omit<StoreServerOptions, 'dataDir'>): StoreServer {
  const store = createStoreServer(broker, { dataDir, log, ...options, handlers: [createDownloadHandler(), ...(options.handlers ?? [])] });
  broker.addInterceptor(store);
  broker.addInterceptor(createPushControl(store.context));
  return store;
}

/** The EMQX file-transfer emulation runs after any interceptors the caller passed. */
function wireFileTransfer(broker: Broker, options: BrokerOptions, log: Logger): void {
  broker.addInterceptor(
    createFileTransfer(broker, {
      dataDir: options.dataDir,
      ...(options.faults ? { faults: options.faults } : {}),
      ...(options.logLevel ? { logLevel: options.logLevel } : {}),
    }),
  );
  log.debug('file-transfer emulation enabled');
}
