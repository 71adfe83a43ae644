import pino, { type Logger } from 'pino';

export type { Logger } from 'pino';
export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof logLevels)[number];

// Secrets may sit at the top of a log object or one or two levels down (options, config.broker…).
const secretKeys = ['password', 'passphrase', 'token', 'secret', 'key', 'privateKey', 'authorization'];
const redactedPaths = secretKeys.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);

export interface LoggerOptions {
  level?: LogLevel;
  /** 1 = stdout (the daemon, for journald), 2 = stderr (foreground commands keep stdout for results). */
  fd?: 1 | 2;
  /** Tests pass a stream to capture lines. */
  stream?: pino.DestinationStream;
}

/**
 * One JSON line per event. No transports: they spawn worker threads that cannot be bundled.
 * The destination is synchronous so the last lines before a crash or power cut reach the journal.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const destination = options.stream ?? pino.destination({ fd: options.fd ?? 1, sync: true });
  return pino(
    {
      level: options.level ?? 'info',
      base: { pid: process.pid },
      redact: { paths: redactedPaths, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}

/** A logger that drops everything, for library callers and tests that do not care. */
export const silentLogger: Logger = pino({ level: 'silent' });
