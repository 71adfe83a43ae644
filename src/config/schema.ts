import { hostname } from 'node:os';
import { logLevels } from '../log';
import { defaultMaxPacketSize, nftpPacketOverhead } from '../protocol/packet-limits';
import { fleetSection, remoteSection, spoolSection } from './fleet-schema';
import { brokerUrlProblem, clientIdProblem, uploadLimits } from './limits';

/**
 * The config file, declared once: each key's type, default, range and description. The loader
 * (load-config.ts) validates against it, the TypeScript type of a loaded config is derived from it,
 * and `ftagent config check` and the README describe keys from it.
 *
 * Semantics: a missing key takes its `default`; a key marked `optional` stays undefined; a key
 * with neither is required. Objects are always present (filled from their fields' defaults).
 */
interface Common {
  description: string;
  optional?: true;
}
export interface StringField extends Common {
  type: 'string';
  default?: string | (() => string);
  /** A file-system path: resolved against the config file's directory. */
  path?: true;
  /** Returns what is wrong and how to fix it, or undefined. */
  check?: (value: string) => string | undefined;
}
export interface IntegerField extends Common {
  type: 'integer';
  default?: number;
  min: number;
  max: number;
  unit?: string;
}
export interface BooleanField extends Common {
  type: 'boolean';
  default?: boolean;
}
export interface EnumField extends Common {
  type: 'enum';
  values: readonly string[];
  default?: string;
}
export interface ObjectField extends Common {
  type: 'object';
  fields: Readonly<Record<string, Field>>;
  /** Keys that are not allowed, with the message to give instead of "unknown key". */
  refused?: Readonly<Record<string, string>>;
  /** Rules across fields; returns the offending field and the message, or undefined. */
  check?: (value: Record<string, unknown>) => { key: string; message: string } | undefined;
}
export interface ArrayField extends Common {
  type: 'array';
  items: Field;
  default?: readonly unknown[];
  minItems?: number;
}
export type Field = StringField | IntegerField | BooleanField | EnumField | ObjectField | ArrayField;

// ---- the type of a validated value, derived from the schema ----

type Simplify<T> = { [K in keyof T]: T[K] } & {};
export type ValueOf<F> = F extends { type: 'string' }
  ? string
  : F extends { type: 'integer' }
    ? number
    : F extends { type: 'boolean' }
      ? boolean
      : F extends { type: 'enum'; values: readonly (infer V)[] }
        ? V
        : F extends { type: 'object'; fields: infer Fs }
          ? ObjectValue<Fs>
          : F extends { type: 'array'; items: infer I }
            ? ValueOf<I>[]
            : never;
type ObjectValue<Fs> = Simplify<
  { [K in keyof Fs as Fs[K] extends { optional: true } ? never : K]: ValueOf<Fs[K]> } & {
    [K in keyof Fs as Fs[K] extends { optional: true } ? K : never]?: ValueOf<Fs[K]>;
  }
>;

// ---- checks shared by several keys ----

const checkBrokerUrl = brokerUrlProblem;
const checkClientId = clientIdProblem;

function checkPattern(value: string): string | undefined {
  if (value.length === 0) return 'is empty: use "*" for every file';
  if (value.includes('/')) return 'is matched against file names only and cannot contain "/": put the folder in "dir"';
  if (/[[\]{}]/.test(value) || value.includes('**')) return 'may use only the wildcards * and ? (no [], {} or **)';
  return undefined;
}

const defaultClientId = (): string => `ftagent-${hostname().replace(/[/+#\s]/g, '-')}`;

// ---- the keys ----

const chunkSize = {
  type: 'integer',
  optional: true,
  min: uploadLimits.chunkSize.min,
  max: uploadLimits.chunkSize.max,
  unit: 'bytes',
  description: "Bytes per segment. Default: as large as the broker's Maximum Packet Size allows, up to 512 KiB (1 MiB assumed on MQTT 3.1.1).",
} as const;
const window = {
  type: 'integer',
  optional: true,
  min: 1,
  max: 65535,
  description: "Segments in flight at once. Default: the broker's Receive Maximum, lowered so window x chunk stays within memoryBudget.",
} as const;
const memoryBudget = {
  type: 'integer',
  default: 8 * 1024 * 1024,
  min: 64 * 1024,
  max: 1024 * 1024 * 1024,
  unit: 'bytes',
  description: 'Chunk buffers one transfer may hold (window x chunk) when chunkSize or window is left to the agent.',
} as const;
const finTimeoutSeconds = {
  type: 'integer',
  default: 330,
  min: uploadLimits.finTimeoutSeconds.min,
  max: uploadLimits.finTimeoutSeconds.max,
  unit: 'seconds',
  description: 'How long to wait for the answer to fin (EMQX assembles the file before answering).',
} as const;
const segmentChecksums = {
  type: 'boolean',
  default: false,
  description: 'Send a SHA-256 checksum with every segment so the broker verifies each one.',
} as const;
const onSourceChange = {
  type: 'enum',
  values: ['fail', 'restart'],
  default: 'fail',
  description: 'Watch folders: when a file changes before it is fully sent, fail its job or send the new content under a new file id (ftagent send --queue takes --on-change instead).',
} as const;

// ---- the store system (docs/store-flows.md): one section for job control, nftp both ways, and receiving ----

/** Both peers must agree on it out of band; a u16 content length cannot describe a bigger block. */
const u16MaxBlock = 0xffff;

const storeNftp = {
  type: 'object',
  description: "nftp settings. blockSize and width must match the store server; the rest is this agent's pacing and patience.",
  fields: {
    blockSize: { type: 'integer', default: 32768, min: 16, max: 64 * 1024 * 1024, unit: 'bytes', description: 'Bytes per nftp block, sending and receiving.' },
    width: { type: 'enum', values: ['u16', 'u32'], default: 'u16', description: 'Width of the FILE/END content-length field.' },
    window: { type: 'integer', default: 4, min: 1, max: 1024, description: 'Sending: blocks published per tick.' },
    intervalMs: { type: 'integer', default: 20, min: 0, max: 60_000, unit: 'ms', description: 'Sending: pause between two bursts of blocks.' },
    lingerSeconds: { type: 'integer', default: 30, min: 0, max: 3600, unit: 'seconds', description: 'Sending: how long to keep answering GIVEME after END (nftp has no final acknowledgement).' },
    stallMs: { type: 'integer', default: 500, min: 10, max: 600_000, unit: 'ms', description: 'Receiving: silence after which missing blocks are asked for again (GIVEME).' },
    maxGivemes: { type: 'integer', default: 8, min: 0, max: 10_000, description: 'Receiving: GIVEME rounds without progress before the receive fails.' },
    helloWaitMs: { type: 'integer', default: 60_000, min: 100, max: 3_600_000, unit: 'ms', description: 'Receiving: wait for the first packet after answering ok.' },
    checkpointEvery: { type: 'integer', default: 64, min: 1, max: 65535, description: 'Receiving: save the block map after this many new blocks (the resume point after a power cut).' },
  },
  check: (v) =>
    v.width === 'u16' && typeof v.blockSize === 'number' && v.blockSize > u16MaxBlock
      ? {
          key: 'blockSize',
          message: `is ${v.blockSize}, more than the ${u16MaxBlock} bytes "store.nftp.width" "u16" can describe: lower "store.nftp.blockSize" or set "store.nftp.width" to "u32" (the store server must use the same)`,
        }
      : undefined,
} as const satisfies ObjectField;

const storeSection = {
  type: 'object',
  description: 'The store system: scheduled broadcast/upload jobs, and files pushed to or browsed on this device ($file_sniffer/v1/…, nftp).',
  fields: {
    enabled: { type: 'boolean', default: false, description: 'Run the store flows in the daemon: store jobs (ftagent job add), push and dir requests.' },
    requestTimeoutSeconds: { type: 'integer', default: 10, min: 1, max: 3600, unit: 'seconds', description: "How long a broadcast/upload request waits for the store server's answer." },
    rescanSeconds: {
      type: 'integer',
      default: 30,
      min: 1,
      max: 86400,
      unit: 'seconds',
      description: 'How often the daemon re-reads the store jobs as a fallback; changes made with ftagent job add/remove are seen at once.',
    },
    maxParallelTransfers: {
      type: 'integer',
      default: 8,
      min: 1,
      max: 256,
      description:
        "Store-job files sending at once, all jobs together (twice as many may be asking the server); the server's WAIT limits them further. Memory: about this × nftp.window × nftp.blockSize.",
    },
    nftp: storeNftp,
    receive: {
      type: 'object',
      description: 'What the store server may do on this device. Nothing outside these folders is written or listed.',
      fields: {
        roots: {
          type: 'array',
          default: [],
          items: { type: 'string', path: true, description: 'A folder pushed files may be written under (created if missing).' },
          description: 'Folders pushed files may land under: a relative target_path is taken from the first, an absolute one must lie under one of them. Empty: every push is refused.',
        },
        browseRoots: {
          type: 'array',
          default: [],
          items: { type: 'string', path: true, description: 'A folder dir requests may list.' },
          description: 'Folders dir requests may list, one level at a time. Empty: every dir request is refused.',
        },
        overwrite: { type: 'boolean', default: false, description: 'Replace an existing file when a push does not say whether to.' },
        maxConcurrent: { type: 'integer', default: 4, min: 1, max: 1024, description: 'Receives (push) at once; past it a push is answered ERROR (busy).' },
        maxReservedBytes: {
          type: 'integer',
          default: 4 * 1024 * 1024 * 1024,
          min: 0,
          max: Number.MAX_SAFE_INTEGER,
          unit: 'bytes',
          description: 'Bytes all receives in progress may claim together (blocks × blockSize from each HELLO); a HELLO past it is refused.',
        },
        staleHours: { type: 'integer', default: 72, min: 1, max: 100_000, unit: 'hours', description: 'Partial receives (.part, .part.map) untouched this long are removed, at start and every hour.' },
      },
    },
    serve: {
      type: 'object',
      description: "Answer other clients' download requests ($file_sniffer/v1/download/+) with files from these folders only.",
      fields: {
        roots: {
          type: 'array',
          default: [],
          items: { type: 'string', path: true, description: 'A folder whose files other clients may download.' },
          description: 'Folders served to other clients: a relative path is taken from the first. Empty (the default): download requests from other clients are not answered.',
        },
        maxConcurrent: { type: 'integer', default: 4, min: 1, max: 64, description: 'Files being sent at once; beyond it a request is answered ERROR (busy). The linger after END is not counted.' },
      },
    },
  },
} as const satisfies ObjectField;

export const configSchema = {
  type: 'object',
  description: 'ftagent configuration',
  check: (v) => {
    const mqtt = v.mqtt as { maxPacketSize: number };
    const store = v.store as { nftp: { blockSize: number } };
    return store.nftp.blockSize + nftpPacketOverhead > mqtt.maxPacketSize
      ? {
          key: 'mqtt.maxPacketSize',
          message: `is ${mqtt.maxPacketSize}, too small for an nftp block of "store.nftp.blockSize" ${store.nftp.blockSize} bytes plus ${nftpPacketOverhead} of headers: raise it to at least ${store.nftp.blockSize + nftpPacketOverhead}`,
        }
      : undefined;
  },
  refused: {
    password: 'must not be written in the config file: put it in a file (mode 0600) named by "passwordFile", or set the FTAGENT_PASSWORD environment variable',
  },
  fields: {
    brokers: {
      type: 'array',
      items: { type: 'string', check: checkBrokerUrl, description: 'Broker URL' },
      default: ['mqtt://localhost:1883'],
      minItems: 1,
      description: 'Broker URLs, tried in order; the agent fails over to the next one.',
    },
    clientId: {
      type: 'string',
      default: defaultClientId,
      check: checkClientId,
      description: 'MQTT client id. Must stay the same across restarts: the broker keys transfers by it. Default ftagent-<hostname>.',
    },
    username: { type: 'string', optional: true, description: 'MQTT user name.' },
    passwordFile: {
      type: 'string',
      optional: true,
      path: true,
      description: 'File holding the MQTT password (trailing newline ignored). FTAGENT_PASSWORD in the environment takes precedence.',
    },
    tls: {
      type: 'object',
      description: 'TLS for mqtts:// and wss:// brokers.',
      fields: {
        ca: { type: 'string', optional: true, path: true, description: 'CA certificate file (PEM) to trust instead of the system store.' },
        cert: { type: 'string', optional: true, path: true, description: 'Client certificate file (PEM), with "key".' },
        key: { type: 'string', optional: true, path: true, description: 'Client private key file (PEM), with "cert".' },
        insecure: { type: 'boolean', default: false, description: 'Accept any server certificate. Testing only.' },
      },
      check: (v) => ((v.cert === undefined) !== (v.key === undefined) ? { key: v.cert === undefined ? 'cert' : 'key', message: 'is needed too: "tls.cert" and "tls.key" go together' } : undefined),
    },
    mqtt: {
      type: 'object',
      description: 'MQTT protocol.',
      fields: {
        version: { type: 'enum', values: ['5', '3.1.1'], default: '5', description: 'MQTT protocol version.' },
        mode: {
          type: 'enum',
          values: ['sync', 'async'],
          optional: true,
          description: 'sync: $file/… with results in PUBACK reason codes (MQTT 5 only); async: $file-async/… with results on $file-response/{clientId}. Default: sync for 5, async for 3.1.1.',
        },
        keepalive: { type: 'integer', default: 60, min: 0, max: 65535, unit: 'seconds', description: 'MQTT keepalive.' },
        maxPacketSize: {
          type: 'integer',
          default: defaultMaxPacketSize,
          min: 4096,
          max: 268_435_455,
          unit: 'bytes',
          description: 'Largest MQTT packet this agent accepts (sent as Maximum Packet Size in an MQTT 5 CONNECT; a larger one closes the connection). Must hold an nftp block.',
        },
      },
      check: (v) =>
        v.mode === 'sync' && v.version === '3.1.1'
          ? { key: 'mode', message: 'is "sync", which needs MQTT 5 (3.1.1 PUBACKs carry no reason code): use "async" or set "mqtt.version" to "5"' }
          : undefined,
    },
    upload: {
      type: 'object',
      description: 'Upload defaults (each watch folder may override them).',
      fields: { chunkSize, window, memoryBudget, finTimeoutSeconds, segmentChecksums, onSourceChange },
    },
    stateDir: {
      type: 'string',
      default: '/var/lib/ftagent',
      path: true,
      description: 'Where the spool, checkpoints and finished-job records live (created 0700).',
    },
    maxConcurrent: { type: 'integer', default: 1, min: 1, max: 64, description: 'Transfers running at the same time.' },
    maxBytesPerSecond: {
      type: 'integer',
      default: 0,
      min: 0,
      max: 1024 * 1024 * 1024,
      unit: 'bytes per second',
      description: "A cap on what file-transfer uploads send, all transfers together (the store's uplink also carries its tills); 0: no cap.",
    },
    checkpoint: {
      type: 'object',
      description: 'How often a running transfer writes its checkpoint (always on a stage change). Fewer writes spare the SD card.',
      fields: {
        everyBytes: { type: 'integer', default: 1048576, min: 0, max: 2 ** 40, unit: 'bytes', description: 'After this many newly confirmed bytes.' },
        everyMs: { type: 'integer', default: 2000, min: 0, max: 3_600_000, unit: 'ms', description: 'Or after this long with progress.' },
      },
    },
    retention: {
      type: 'object',
      description: 'How much history to keep.',
      fields: {
        finishedJobs: { type: 'integer', default: 200, min: 0, max: 100_000, description: 'Finished-job records kept in the state directory.' },
      },
    },
    watch: {
      type: 'array',
      default: [],
      description: 'Folders whose new files are uploaded automatically.',
      items: {
        type: 'object',
        description: 'A watched folder.',
        fields: {
          dir: { type: 'string', path: true, description: 'The folder to watch.' },
          pattern: { type: 'string', default: '*', check: checkPattern, description: 'File names to take: * any run of characters, ? one character.' },
          settleMs: { type: 'integer', default: 2000, min: 0, max: 3_600_000, unit: 'ms', description: "A file is taken once its size and mtime haven't changed for this long." },
          afterSuccess: { type: 'enum', values: ['keep', 'delete', 'move'], default: 'keep', description: 'What to do with a file once the broker has it.' },
          moveTo: { type: 'string', optional: true, path: true, description: 'Folder for afterSuccess "move".' },
          upload: {
            type: 'object',
            description: 'Overrides of the top-level "upload" keys for this folder.',
            fields: {
              chunkSize,
              window,
              finTimeoutSeconds: { ...finTimeoutSeconds, optional: true },
              segmentChecksums: { ...segmentChecksums, optional: true },
              onSourceChange: { ...onSourceChange, optional: true },
            },
          },
        },
        check: (v) => (v.afterSuccess === 'move' && v.moveTo === undefined ? { key: 'moveTo', message: 'is needed when "afterSuccess" is "move": name the folder to move sent files to' } : undefined),
      },
    },
    store: storeSection,
    fleet: fleetSection,
    remote: remoteSection,
    spool: spoolSection,
    log: {
      type: 'object',
      description: 'Logging (JSON lines on stdout).',
      fields: { level: { type: 'enum', values: logLevels, default: 'info', description: 'Least severe level written.' } },
    },
  },
} as const satisfies ObjectField;

/** The config as validated, before defaults that depend on other keys are filled in (load-config.ts). */
export type ConfigFile = ValueOf<typeof configSchema>;
