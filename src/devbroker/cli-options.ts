import { parseArgs } from 'node:util';
import { logLevels, type LogLevel } from '../log';
import type { Width as NftpWidth } from './store-server/nftp/wire';
import type { StoreFaults, StoreServerOptions } from './store-server/types';
import type { BrokerFaults } from './types';
import { integer, oneOf, orUsageError, rate, required, setIfDefined, UsageError, type UsageErrorResult } from './flag-values';

export const usage = `Usage: ftbroker --data DIR [options]
       ftbroker push --broker mqtt://HOST:PORT --client ID --file NAME --target PATH [options]

A development MQTT broker (3.1.1 and 5) that emulates EMQX 5.8+ file transfer and the store system's
server side (push, download, dir over $file_sniffer/v1 and nftp).

Commands
  (none)                   run the broker
  push                     ask a running broker to push a file from <data>/store/files/ to a store
                           (see ftbroker push --help)

Listener
  --port N                 TCP port (default 1883; 0 picks a free port, see the "listening" log line)
  --host H                 interface to listen on (default 127.0.0.1)
  --data DIR               directory for file-transfer segments and exported files (required)
  --tls-cert FILE          PEM server certificate: listen with TLS
  --tls-key FILE           PEM private key (required with --tls-cert)
  --tls-ca FILE            PEM CA for client certificates
  --tls-verify-client      require a client certificate signed by --tls-ca
  --user NAME:PASSWORD     accept only these credentials (repeatable)
  --receive-maximum N      Receive Maximum advertised and enforced (default 32)
  --emqx 5.3|5.8           behave like EMQX 5.3.2 (no Receive Maximum in CONNACK) or 5.8+ (default)
  --max-packet-size N      Maximum Packet Size in bytes, advertised and enforced (default 1048576)
  --audit FILE             append one JSON line per inbound PUBLISH to FILE
  --sink                   do not store segment payloads (benchmarks): same answers, empty exports

Store server (on by default; serves and pushes files from <data>/store/files/)
  --no-store               turn the store server off
  --store-max-sessions N   concurrent transfers per job the server allows (default 15)
  --store-token-ttl MS     reclaim a session token not returned within MS (default 600000)
  --store-wait-timeout MS  timeout sent with WAIT when a job's sessions are all taken (default 1000)
  --store-block-size N     nftp block size in bytes; must equal the agent's (default 32768)
  --store-width W          nftp content-length width, u16 or u32; must equal the agent's (default u16)

Faults (deterministic for a given --seed)
  --drop-every N           drop the connection on every Nth inbound PUBLISH, unacknowledged
  --refuse-for MS          refuse connections (server unavailable) for MS after start
  --segment-error-rate X   answer this fraction (0..1) of segments 0x80, not stored
  --segment-quota-rate X   answer this fraction (0..1) of segments 0x97, not stored
  --assembly-delay MS      extra time each assembly takes
  --assemble-timeout MS    a sync fin fails with "timeout" after MS (EMQX default 300000)
  --ft-disabled            behave like EMQX with file transfer disabled (0x10, no responses)
  --response-delay MS      delay every $file-response by MS
  --response-loss-rate X   never publish this fraction (0..1) of $file-response messages
  --store-lost-block-rate X  lose this fraction (0..1) of received nftp blocks once (forces GIVEME)
  --store-wait-storm N     answer WAIT N times to every broadcast/upload request before ok
  --store-error-rate X     answer this fraction (0..1) of broadcast/upload requests ERROR
  --seed N                 seed for every random fault choice

  --log-level L            fatal|error|warn|info|debug|trace|silent (default info)
  --version                print the version
  --help                   print this help
`;

export interface BrokerCliOptions {
  port: number;
  host: string;
  dataDir: string;
  tls?: { certFile: string; keyFile: string; caFile?: string; verifyClient: boolean };
  users?: Record<string, string>;
  receiveMaximum?: number;
  emqx?: '5.3' | '5.8';
  maximumPacketSize?: number;
  auditLog?: string;
  sink?: boolean;
  faults: BrokerFaults;
  logLevel: LogLevel;
  /** Absent: the store server with its defaults. false: no store server (--no-store). */
  store?: StoreCliOptions | false;
}

/** The store-server settings the command line can change; each is left out when not given. */
export type StoreCliOptions = Pick<StoreServerOptions, 'maxCurrentSessionDefault' | 'tokenTtlMs' | 'waitTimeoutMs' | 'nftp' | 'faults'>;

export type BrokerCliCommand = { kind: 'help' } | { kind: 'version' } | { kind: 'run'; options: BrokerCliOptions } | UsageErrorResult;

/** Turns argv (without node and the script) into what to do; never exits or reads files. */
export function parseBrokerArgs(argv: string[]): BrokerCliCommand {
  return orUsageError(() => parseOrThrow(argv));
}

function parseOrThrow(argv: string[]): BrokerCliCommand {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      data: { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'tls-ca': { type: 'string' },
      'tls-verify-client': { type: 'boolean' },
      'receive-maximum': { type: 'string' },
      emqx: { type: 'string' },
      'max-packet-size': { type: 'string' },
      audit: { type: 'string' },
      sink: { type: 'boolean' },
      user: { type: 'string', multiple: true },
      'drop-every': { type: 'string' },
      'refuse-for': { type: 'string' },
      'segment-error-rate': { type: 'string' },
      'segment-quota-rate': { type: 'string' },
      'assembly-delay': { type: 'string' },
      'assemble-timeout': { type: 'string' },
      'ft-disabled': { type: 'boolean' },
      'response-delay': { type: 'string' },
      'response-loss-rate': { type: 'string' },
      seed: { type: 'string' },
      // Node 18's parseArgs has no automatic --no-X negation, so this is a flag of its own.
      'no-store': { type: 'boolean' },
      'store-max-sessions': { type: 'string' },
      'store-token-ttl': { type: 'string' },
      'store-wait-timeout': { type: 'string' },
      'store-block-size': { type: 'string' },
      'store-width': { type: 'string' },
      'store-lost-block-rate': { type: 'string' },
      'store-wait-storm': { type: 'string' },
      'store-error-rate': { type: 'string' },
      'log-level': { type: 'string' },
      version: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) return { kind: 'help' };
  if (values.version) return { kind: 'version' };

  const options: BrokerCliOptions = {
    port: integer('--port', values.port, 0, 65535) ?? 1883,
    host: values.host ?? '127.0.0.1',
    dataDir: required('--data DIR', values.data),
    faults: {},
    logLevel: oneOf('--log-level', values['log-level'], logLevels) ?? 'info',
  };

  const certFile = values['tls-cert'];
  const keyFile = values['tls-key'];
  if ((certFile === undefined) !== (keyFile === undefined)) throw new UsageError('--tls-cert and --tls-key go together');
  if (certFile === undefined && (values['tls-ca'] !== undefined || values['tls-verify-client'])) {
    throw new UsageError('--tls-ca and --tls-verify-client need --tls-cert and --tls-key');
  }
  if (values['tls-verify-client'] && values['tls-ca'] === undefined) throw new UsageError('--tls-verify-client needs --tls-ca');
  if (certFile !== undefined && keyFile !== undefined) {
    options.tls = { certFile, keyFile, verifyClient: values['tls-verify-client'] === true, ...(values['tls-ca'] !== undefined ? { caFile: values['tls-ca'] } : {}) };
  }

  if (values.user) {
    const users: Record<string, string> = {};
    for (const pair of values.user) {
      const colon = pair.indexOf(':');
      if (colon <= 0) throw new UsageError(`--user must be NAME:PASSWORD, got ${JSON.stringify(pair)}`);
      users[pair.slice(0, colon)] = pair.slice(colon + 1);
    }
    options.users = users;
  }

  setIfDefined(options, 'receiveMaximum', integer('--receive-maximum', values['receive-maximum'], 1, 65535));
  const emqx = values.emqx;
  if (emqx !== undefined) {
    if (emqx !== '5.3' && emqx !== '5.8') throw new UsageError(`--emqx must be 5.3 or 5.8, got ${JSON.stringify(emqx)}`);
    options.emqx = emqx;
  }
  setIfDefined(options, 'maximumPacketSize', integer('--max-packet-size', values['max-packet-size'], 16, 268_435_460));
  setIfDefined(options, 'auditLog', values.audit);
  if (values.sink) options.sink = true;

  const faults: BrokerFaults = options.faults;
  setIfDefined(faults, 'dropEveryNPublishes', integer('--drop-every', values['drop-every'], 1, Number.MAX_SAFE_INTEGER));
  setIfDefined(faults, 'refuseConnectionsForMs', integer('--refuse-for', values['refuse-for'], 0, Number.MAX_SAFE_INTEGER));
  setIfDefined(faults, 'segmentErrorRate', rate('--segment-error-rate', values['segment-error-rate']));
  setIfDefined(faults, 'segmentQuotaRate', rate('--segment-quota-rate', values['segment-quota-rate']));
  setIfDefined(faults, 'assemblyDelayMs', integer('--assembly-delay', values['assembly-delay'], 0, Number.MAX_SAFE_INTEGER));
  setIfDefined(faults, 'assembleTimeoutMs', integer('--assemble-timeout', values['assemble-timeout'], 1, Number.MAX_SAFE_INTEGER));
  setIfDefined(faults, 'responseDelayMs', integer('--response-delay', values['response-delay'], 0, Number.MAX_SAFE_INTEGER));
  setIfDefined(faults, 'responseLossRate', rate('--response-loss-rate', values['response-loss-rate']));
  setIfDefined(faults, 'seed', integer('--seed', values.seed, 0, 0xffffffff));
  if (values['ft-disabled']) faults.fileTransferDisabled = true;

  const store = storeOptions(values, faults.seed);
  if (store !== undefined) options.store = store;

  return { kind: 'run', options };
}

const storeValueFlags = ['store-max-sessions', 'store-token-ttl', 'store-wait-timeout', 'store-block-size', 'store-width', 'store-lost-block-rate', 'store-wait-storm', 'store-error-rate'] as const;
type StoreFlagValues = { 'no-store'?: boolean } & { [K in (typeof storeValueFlags)[number]]?: string };

// Both end up in timers (here or in the agent); setTimeout fires at once for anything above 2^31 - 1 ms.
const maxTimerMs = 0x7fffffff;
const nftpWidths: readonly NftpWidth[] = ['u16', 'u32'];

/**
 * The store-server part of the command line: false for --no-store, undefined when nothing was given
 * (so the broker keeps its defaults), else only the settings that were given.
 */
function storeOptions(values: StoreFlagValues, seed: number | undefined): StoreCliOptions | false | undefined {
  const given = storeValueFlags.filter((flag) => values[flag] !== undefined);
  if (values['no-store']) {
    if (given.length > 0) throw new UsageError(`--no-store turns the store server off; --${given[0]} has nothing to apply to`);
    return false;
  }
  if (given.length === 0) return undefined;

  const store: StoreCliOptions = {};
  setIfDefined(store, 'maxCurrentSessionDefault', integer('--store-max-sessions', values['store-max-sessions'], 1, 65535));
  setIfDefined(store, 'tokenTtlMs', integer('--store-token-ttl', values['store-token-ttl'], 1, maxTimerMs));
  setIfDefined(store, 'waitTimeoutMs', integer('--store-wait-timeout', values['store-wait-timeout'], 1, maxTimerMs));
  const nftp = storeNftp(values['store-block-size'], values['store-width']);
  if (nftp !== undefined) store.nftp = nftp;
  const faults = storeFaults(values, seed);
  if (faults !== undefined) store.faults = faults;
  return store;
}

/** nftp settings both peers must agree on; the block size limit follows the width's content-length field. */
function storeNftp(blockSizeText: string | undefined, widthText: string | undefined): StoreCliOptions['nftp'] | undefined {
  if (blockSizeText === undefined && widthText === undefined) return undefined;
  const width = oneOf('--store-width', widthText, nftpWidths);
  // A FILE block's length goes into a u16 field unless the width is u32 (then 64 MiB, like the agent's --block-size).
  const blockSize = integer('--store-block-size', blockSizeText, 1, width === 'u32' ? 64 * 1024 * 1024 : 0xffff);
  return { ...(blockSize !== undefined ? { blockSize } : {}), ...(width !== undefined ? { width } : {}) };
}

/** Store faults draw from their own generator; --seed seeds it too, so one seed replays the whole run. */
function storeFaults(values: StoreFlagValues, seed: number | undefined): StoreFaults | undefined {
  const faults: StoreFaults = {};
  setIfDefined(faults, 'lostBlockRate', rate('--store-lost-block-rate', values['store-lost-block-rate']));
  setIfDefined(faults, 'waitStormCount', integer('--store-wait-storm', values['store-wait-storm'], 0, Number.MAX_SAFE_INTEGER));
  setIfDefined(faults, 'errorRate', rate('--store-error-rate', values['store-error-rate']));
  if (Object.keys(faults).length === 0) return undefined;
  if (seed !== undefined) faults.seed = seed;
  return faults;
}
