/**
 * The one set of rules for values a person or script gives the agent, whether on the command line,
 * with `send --queue` (checked when queued, so the daemon never meets a value it refuses) or in the
 * config file. Each check returns what is wrong, or undefined.
 */
import { maxTimerMs } from '../time/clock';

export interface IntegerRange {
  min: number;
  max: number;
  unit?: string;
}

/** Seconds a timer can wait on Node before it overflows into firing at once. */
const maxTimerSeconds = Math.floor(maxTimerMs / 1000);

export const uploadLimits = {
  /** Segment bytes: at least a useful size, at most what a small device should hold window times. */
  chunkSize: { min: 64, max: 16 * 1024 * 1024, unit: 'bytes' },
  /** Commands in flight: MQTT packet ids are 16-bit. */
  window: { min: 1, max: 65535 },
  finTimeoutSeconds: { min: 1, max: 86400, unit: 'seconds' },
  commandTimeoutSeconds: { min: 1, max: 3600, unit: 'seconds' },
  segmentsTtlSeconds: { min: 1, max: maxTimerSeconds, unit: 'seconds' },
  /** Unix seconds; EMQX reads it as an integer timestamp. */
  expireAt: { min: 0, max: 253402300799, unit: 'seconds since 1970' },
} as const satisfies Record<string, IntegerRange>;

export function rangeProblem(value: number, range: IntegerRange): string | undefined {
  if (!Number.isSafeInteger(value) || value < range.min || value > range.max) {
    return `must be a whole number from ${range.min} to ${range.max}${range.unit ? ` (${range.unit})` : ''}`;
  }
  return undefined;
}

/** Schemes this build speaks; WebSocket transports are left out of the bundle. */
export const brokerSchemes = ['mqtt:', 'mqtts:', 'tcp:', 'ssl:', 'tls:'];

export function brokerUrlProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'must be a broker URL such as mqtt://10.0.0.5:1883 or mqtts://broker.example.com:8883';
  }
  if (url.protocol === 'ws:' || url.protocol === 'wss:') return "uses WebSocket, which this build does not speak: use mqtt:// or mqtts:// (the broker's TCP listener, EMQX 1883 / 8883)";
  if (!brokerSchemes.includes(url.protocol)) return 'must be a broker URL such as mqtt://10.0.0.5:1883 or mqtts://host:8883';
  if (!url.hostname) return 'has no host: write it as mqtt://host:port';
  if (url.username || url.password) return 'must not carry credentials: use the user name and a password file (or FTAGENT_PASSWORD)';
  return undefined;
}

/**
 * It becomes part of MQTT topics ($file-response/{clientid}) and the broker keys transfers by it.
 * MQTT allows 65535 bytes, EMQX as many by default (mqtt.max_clientid_len), many brokers 23: 128
 * characters is far beyond any real id and far below every limit that matters.
 */
export function clientIdProblem(value: string): string | undefined {
  if (value.length === 0 || value.length > 128) return `must be 1 to 128 characters long (got ${value.length})`;
  if (/[/+#\s]/.test(value)) return 'must not contain "/", "+", "#" or spaces (it becomes part of MQTT topics)';
  return undefined;
}
