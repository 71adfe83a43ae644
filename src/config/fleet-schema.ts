/**
 * The config sections of the fleet plane (health, events and remote requests over MQTT) and of
 * the bounded spool. Declared here so schema.ts only lists them.
 */
import type { ObjectField } from './schema';

function checkTopicPrefix(value: string): string | undefined {
  if (value.length === 0 || value.length > 200) return 'must be 1 to 200 characters long';
  if (/[+#\s\0]/.test(value)) return 'must not contain "+", "#", spaces or NUL (it is a topic name, not a filter)';
  if (value.startsWith('$')) return 'must not start with "$" (brokers reserve those topics)';
  if (value.endsWith('/')) return 'must not end with "/": the agent appends "/status", "/events" and "/cmd/…"';
  return undefined;
}

export const fleetSection = {
  type: 'object',
  description: 'The fleet plane: a retained health document, job events and (with "remote") requests, on the daemon\'s MQTT connection.',
  fields: {
    enabled: { type: 'boolean', default: true, description: "Publish status and events (and set the connection's will to the offline document)." },
    topicPrefix: {
      type: 'string',
      default: 'ftagent/{clientId}',
      check: checkTopicPrefix,
      description: 'Topic prefix; {clientId} is replaced with the client id. Topics: <prefix>/status, <prefix>/events, <prefix>/cmd/<verb>.',
    },
    statusIntervalSeconds: { type: 'integer', default: 300, min: 10, max: 86400, unit: 'seconds', description: 'The status document is published again this often even when nothing changed.' },
    statusMinGapSeconds: { type: 'integer', default: 5, min: 0, max: 3600, unit: 'seconds', description: 'At most one status document per this many seconds when things change.' },
    maxPendingEvents: {
      type: 'integer',
      default: 1000,
      min: 1,
      max: 1_000_000,
      description: 'Events kept in <stateDir>/events/ while they cannot be published; the oldest is dropped (and counted) when full.',
    },
    offlineWaitMs: { type: 'integer', default: 2000, min: 0, max: 60_000, unit: 'ms', description: 'On a clean stop, how long to wait for the broker to acknowledge the offline document.' },
  },
} as const satisfies ObjectField;

export const remoteSection = {
  type: 'object',
  description: 'Requests from the backend on <prefix>/cmd/<verb> (upload, cancel, status, jobs). Off unless enabled.',
  fields: {
    enabled: { type: 'boolean', default: false, description: 'Subscribe to <prefix>/cmd/+ and answer requests.' },
    uploadRoots: {
      type: 'array',
      default: [],
      items: { type: 'string', path: true, description: 'A folder remote upload requests may read files from.' },
      description: 'Folders remote "upload" requests may name files under (confined like pushes: no "..", no symlinks out, regular files only). Empty: every remote upload is refused.',
    },
    maxRequestBytes: { type: 'integer', default: 16384, min: 256, max: 1_048_576, unit: 'bytes', description: 'A larger request is answered REQUEST_INVALID without being parsed.' },
    maxRequestsPerMinute: { type: 'integer', default: 60, min: 1, max: 100_000, description: 'Requests over this rate are answered RATE_LIMITED.' },
    maxFilesPerRequest: { type: 'integer', default: 100, min: 1, max: 10_000, description: 'A glob matching more files than this is refused (TOO_MANY_FILES) and nothing is queued.' },
  },
} as const satisfies ObjectField;

export const spoolSection = {
  type: 'object',
  description: 'Bounds of the job queue (queued and active jobs), whoever adds to it: send --queue, watch folders, remote requests.',
  fields: {
    maxJobs: { type: 'integer', default: 10_000, min: 1, max: 1_000_000, description: 'Queued and active jobs at most.' },
    maxBytes: { type: 'integer', default: 0, min: 0, max: 2 ** 50, unit: 'bytes', description: 'Total size of the files of queued and active jobs at most; 0: no byte bound.' },
    whenFull: {
      type: 'enum',
      values: ['refuse', 'drop-oldest-low'],
      default: 'refuse',
      description: 'refuse: a new job is refused with SPOOL_FULL; drop-oldest-low: the oldest queued low-priority jobs are dropped to make room (refused if that is not enough).',
    },
  },
} as const satisfies ObjectField;
