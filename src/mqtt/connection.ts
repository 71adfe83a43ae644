/**
 * One MQTT.js client at a time, with our own reconnect loop: exponential backoff with full jitter,
 * failover across the given broker URLs, the same client id on every attempt (EMQX keys transfers by
 * client id), a bounded number of consecutive failures. MQTT.js's own reconnect is off
 * (reconnectPeriod 0) and each attempt gets a fresh client, so nothing MQTT.js kept offline is
 * re-sent behind our back: re-sending is the sessions' job.
 */
import { connect, UniqueMessageIdProvider, type IClientOptions, type IConnackPacket, type MqttClient } from 'mqtt';
import { FtError, errnoCode } from '../errors';
import type { Logger } from '../log';
import { backoffDelay, defaultBackoff, type BackoffPolicy } from './backoff';
import { sleep, type Clock } from './clock';
import { storeWithoutCopy } from './no-copy-publish';
import { untilFirstUp } from './first-up';

export interface TlsMaterial {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** Explicit opt-out of certificate checks. */
  insecure?: boolean;
}

export interface ConnectionOptions {
  /** mqtt://host:port or mqtts://host:port; several = failover across the nodes of a cluster. */
  brokers: string[];
  clientId: string;
  protocolVersion: 4 | 5;
  username?: string;
  password?: string;
  tls?: TlsMaterial;
  keepaliveSeconds?: number;
  connectTimeoutMs?: number;
  backoff?: BackoffPolicy;
  /** Consecutive failed attempts (over all URLs) before giving up. */
  maxAttempts?: number;
}

export interface LinkLimits {
  /** How many QoS 1 publishes the broker accepts unacknowledged (CONNACK Receive Maximum). */
  receiveMaximum: number;
  /** Largest packet the broker accepts, in bytes (CONNACK Maximum Packet Size). */
  maximumPacketSize: number;
}

export type ConnectionEvent =
  | { kind: 'up'; client: MqttClient; url: string; limits: LinkLimits }
  | { kind: 'down'; url: string; reason: string }
  | { kind: 'failed'; error: FtError };

export interface ConnectionDeps {
  clock: Clock;
  logger: Logger;
  random?: () => number;
  /** Tests may replace MQTT.js's connect. */
  connectFn?: (url: string, options: IClientOptions) => MqttClient;
}

const protocolMaxPacket = 268_435_455;

/**
 * MQTT.js traces every step of every packet through the `debug` package, whose logging function
 * builds an argument array on each call even when tracing is off: ~5 KiB of garbage per segment,
 * a fifth of everything an upload allocates. A function without parameters costs nothing to call.
 * DEBUG=mqttjs* keeps working for whoever needs MQTT.js's own trace.
 */
const ignoreMqttTrace = (): void => undefined;
const mqttTraceWanted = (): boolean => /mqttjs/.test(process.env['DEBUG'] ?? '');

type AttemptResult = { ok: true; client: MqttClient; connack: IConnackPacket } | { ok: false; error: FtError };

export class Connection {
  private client: MqttClient | null = null;
  private url: string | null = null;
  private currentLimits: LinkLimits = { receiveMaximum: 65535, maximumPacketSize: protocolMaxPacket };
  private readonly listeners = new Set<(e: ConnectionEvent) => void>();
  private readonly stop = new AbortController();
  private loop: Promise<void> | null = null;
  private urlIndex = 0;

  constructor(
    readonly options: ConnectionOptions,
    private readonly deps: ConnectionDeps,
  ) {
    if (options.brokers.length === 0) throw new FtError('CONFIG_INVALID', 'no broker URL given: pass --broker mqtt://host:port');
  }

  get clientId(): string {
    return this.options.clientId;
  }

  isUp(): boolean {
    return this.client !== null;
  }

  currentUrl(): string | null {
    return this.url;
  }

  currentClient(): MqttClient | null {
    return this.client;
  }

  limits(): LinkLimits {
    return this.currentLimits;
  }

  listen(listener: (e: ConnectionEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Starts the loop; resolves once the first connection is up, rejects if it gives up first. */
  start(): Promise<void> {
    if (this.loop) throw new Error('connection already started');
    return untilFirstUp((l) => this.listen(l), () => {
      this.loop = this.run();
    });
  }

  /** Closes the current client and stops reconnecting. */
  async close(): Promise<void> {
    this.stop.abort();
    const client = this.client;
    this.client = null;
    if (client) await new Promise<void>((r) => client.end(false, {}, () => r()));
    await this.loop;
  }

  private emit(e: ConnectionEvent): void {
    for (const l of [...this.listeners]) l(e);
  }

  private async run(): Promise<void> {
    const policy = this.options.backoff ?? defaultBackoff;
    const maxAttempts = this.options.maxAttempts ?? 10;
    let failures = 0;
    const permanentByUrl = new Map<string, FtError>();
    while (!this.stop.signal.aborted) {
      const url = this.options.brokers[this.urlIndex % this.options.brokers.length] ?? '';
      const result = await this.attempt(url);
      if (this.stop.signal.aborted) {
        if (result.ok) result.client.end(true);
        return;
      }
      if (result.ok) {
        failures = 0;
        permanentByUrl.clear();
        const closed = this.adopt(url, result.client, result.connack);
        const reason = await closed;
        if (this.stop.signal.aborted) return;
        this.emit({ kind: 'down', url, reason });
      } else {
        failures += 1;
        this.deps.logger.warn({ broker: url, attempt: failures, err: result.error.message }, 'mqtt connection attempt failed');
        if (!result.error.transient) permanentByUrl.set(url, result.error);
        // A refusal that retrying cannot fix (credentials, certificates) on every broker: stop now.
        if (permanentByUrl.size >= new Set(this.options.brokers).size) {
          this.emit({ kind: 'failed', error: result.error });
          return;
        }
        if (failures >= maxAttempts) {
          this.emit({
            kind: 'failed',
            error: new FtError(
              'CONNECT_FAILED',
              `could not connect to ${this.options.brokers.join(', ')} after ${failures} attempts (last: ${result.error.message}); check the broker address and that it is running`,
              { transient: true, cause: result.error },
            ),
          });
          return;
        }
        this.urlIndex += 1;
      }
      const delay = backoffDelay(failures, policy, this.deps.random);
      if (!(await sleep(this.deps.clock, delay, this.stop.signal))) return;
    }
  }

  private adopt(url: string, client: MqttClient, connack: IConnackPacket): Promise<string> {
    this.client = client;
    this.url = url;
    const props = connack.properties;
    this.currentLimits = {
      receiveMaximum: props?.receiveMaximum ?? 65535,
      maximumPacketSize: props?.maximumPacketSize ?? protocolMaxPacket,
    };
    this.deps.logger.info({ broker: url, clientId: this.clientId, limits: this.currentLimits }, 'mqtt connected');
    const closed = new Promise<string>((resolve) => {
      let lastError = 'connection closed';
      client.on('error', (err) => {
        lastError = err.message;
        this.deps.logger.warn({ broker: url, err: err.message }, 'mqtt client error');
      });
      client.once('close', () => {
        if (this.client === client) {
          this.client = null;
          this.url = null;
        }
        client.end(true);
        resolve(lastError);
      });
    });
    this.emit({ kind: 'up', client, url, limits: this.currentLimits });
    return closed;
  }

  private attempt(url: string): Promise<AttemptResult> {
    const { options } = this;
    const connectFn = this.deps.connectFn ?? connect;
    const mqttOptions: IClientOptions = {
      clientId: options.clientId,
      protocolVersion: options.protocolVersion,
      clean: true,
      keepalive: options.keepaliveSeconds ?? 30,
      reconnectPeriod: 0,
      connectTimeout: options.connectTimeoutMs ?? 10_000,
      resubscribe: false,
      // Never reuse the id of an unacknowledged publish (the default provider wraps blindly at 65535).
      messageIdProvider: new UniqueMessageIdProvider(),
      // mqtt-packet's default pre-builds 65536 two-byte Buffers for packet ids on the first write
      // (~5.7 MiB of heap that never goes away); writing the two bytes when needed costs nothing.
      writeCache: false,
      ...(mqttTraceWanted() ? {} : { log: ignoreMqttTrace }),
    };
    if (options.username !== undefined) mqttOptions.username = options.username;
    if (options.password !== undefined) mqttOptions.password = options.password;
    const tls = options.tls;
    if (tls) {
      if (tls.ca) mqttOptions.ca = tls.ca;
      if (tls.cert) mqttOptions.cert = tls.cert;
      if (tls.key) mqttOptions.key = tls.key;
      mqttOptions.rejectUnauthorized = tls.insecure !== true;
    }
    return new Promise((resolve) => {
      let settled = false;
      let lastError: unknown = null;
      let client: MqttClient;
      const finish = (r: AttemptResult): void => {
        if (settled) return;
        settled = true;
        cancelTimer();
        client.removeListener('connect', onConnect);
        if (!r.ok) client.end(true);
        resolve(r);
      };
      const onConnect = (connack: IConnackPacket): void => finish({ ok: true, client, connack });
      try {
        client = connectFn(url, mqttOptions);
        // Before any publish: this client's QoS 1 payloads are kept by reference, not copied.
        storeWithoutCopy(client);
        disableNagle(client);
      } catch (err) {
        resolve({ ok: false, error: classifyConnectError(url, err) });
        return;
      }
      const cancelTimer = this.deps.clock.after((options.connectTimeoutMs ?? 10_000) + 1000, () =>
        finish({ ok: false, error: new FtError('CONNECT_FAILED', `no CONNACK from ${url} in time`, { transient: true }) }),
      );
      client.on('connect', onConnect);
      client.on('error', (err) => {
        lastError = err;
        // A refused CONNACK is final for this attempt.
        if (isConnackRefusal(err)) finish({ ok: false, error: classifyConnectError(url, err) });
      });
      client.on('close', () => finish({ ok: false, error: classifyConnectError(url, lastError) }));
    });
  }
}

function isConnackRefusal(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'ErrorWithReasonCode';
}

const authCodes = new Set([4, 5, 0x86, 0x87, 0x8a, 0x8c]);
const tlsTrustCodes = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ALTNAME|ERR_SSL|EPROTO/;

function classifyConnectError(url: string, err: unknown): FtError {
  const message = err instanceof Error ? err.message : 'connection closed before CONNACK';
  if (isConnackRefusal(err)) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'number' && authCodes.has(code)) {
      return new FtError(
        'AUTH_FAILED',
        `broker ${url} refused the credentials (${message}, rc ${code}): check --username and --password-file / FTAGENT_PASSWORD`,
        { details: { broker: url, reasonCode: code } },
      );
    }
    return new FtError('CONNECT_FAILED', `broker ${url} refused the connection: ${message}`, {
      transient: true,
      details: { broker: url, reasonCode: code },
    });
  }
  const errno = errnoCode(err) ?? '';
  if (tlsTrustCodes.test(errno) || /certificate|self[- ]signed|SSL routines/i.test(message)) {
    return new FtError(
      'CONFIG_INVALID',
      `TLS to ${url} failed: ${message}${errno ? ` (${errno})` : ''}: pass the broker's CA with --ca FILE (or --insecure to skip the check)`,
      { details: { broker: url, errno } },
    );
  }
  return new FtError('CONNECT_FAILED', `cannot connect to ${url}: ${message}${errno && !message.includes(errno) ? ` (${errno})` : ''}`, {
    transient: true,
    details: { broker: url, errno },
  });
}

/**
 * Commands and acknowledgements are small and answered one at a time: with Nagle's algorithm a
 * PUBACK for a `$file-response` or a short command waits for the delayed ACK of the previous write,
 * tens of milliseconds each. MQTT.js creates its TCP or TLS socket synchronously and leaves Nagle on.
 */
function disableNagle(client: MqttClient): void {
  const stream = client.stream as { setNoDelay?: (noDelay?: boolean) => unknown } | undefined;
  stream?.setNoDelay?.(true);
}
