/**
 * One MQTT.js client at a time, with our own reconnect loop: exponential backoff with full jitter,
 * failover across the given broker URLs, the same client id on every attempt (EMQX keys transfers by
 * client id), a bounded number of consecutive failures. MQTT.js's own reconnect is off
 * (reconnectPeriod 0) and each attempt gets a fresh client, so nothing MQTT.js kept offline is
 * re-sent behind our back: re-sending is the sessions' job.
 */
import { connect, UniqueMessageIdProvider, type IClientOptions, type IConnackPacket, type MqttClient } from 'mqtt';
import { FtError } from '../errors';
import type { Logger } from '../log';
import { defaultBackoff, type BackoffPolicy } from '../time/backoff';
import { sleep, type Clock } from '../time/clock';
import { linkLimitsFrom, protocolMaxPacket, type LinkLimits } from './ack-packets';
import { capExceeded, capInboundPackets } from './inbound-packet-cap';
import { defaultMaxPacketSize } from '../protocol/packet-limits';
import { storeWithoutCopy } from './no-copy-publish';
import { mqttTraceWanted, redactedMqttTrace, redactStderrWhileDebugging } from './redacted-trace';
import { untilFirstUp } from './first-up';
import { classifyConnectError, describeDisconnect, isConnackRefusal, isMalformedPacket, sessionTakenOver, stalledError } from './connect-errors';
import { defaultReconnectBounds, ReconnectBudget } from './reconnect-budget';

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
  /** Largest packet we accept: announced in an MQTT 5 CONNECT, enforced on the socket. Default 1 MiB. */
  maximumPacketSize?: number;
  /** Published by the broker if the connection ends without a DISCONNECT (the daemon's offline status). */
  will?: { topic: string; payload: Buffer; qos: 0 | 1; retain: boolean };
  /** Consecutive cycles that connected but lost the link before any progress, before giving up. */
  maxStalledCycles?: number;
  /** How long close() lets MQTT.js finish politely before dropping the socket. */
  closeGraceMs?: number;
}

export type { LinkLimits } from './ack-packets';

export type ConnectionEvent = { kind: 'up'; client: MqttClient; url: string; limits: LinkLimits } | { kind: 'down'; url: string; reason: string } | { kind: 'failed'; error: FtError };

export interface ConnectionDeps {
  clock: Clock;
  logger: Logger;
  random?: () => number;
  /** Tests may replace MQTT.js's connect. */
  connectFn?: (url: string, options: IClientOptions) => MqttClient;
}

/**
 * MQTT.js traces every step of every packet through the `debug` package, whose logging function
 * builds an argument array on each call even when tracing is off: ~5 KiB of garbage per segment,
 * a fifth of everything an upload allocates. A function without parameters costs nothing to call.
 * DEBUG=mqttjs* keeps working for whoever needs MQTT.js's own trace.
 */
const ignoreMqttTrace = (): void => undefined;

type AttemptResult = { ok: true; client: MqttClient; connack: IConnackPacket } | { ok: false; error: FtError };

export class Connection {
  private client: MqttClient | null = null;
  private url: string | null = null;
  private currentLimits: LinkLimits = { receiveMaximum: 65535, maximumPacketSize: protocolMaxPacket };
  private readonly listeners = new Set<(e: ConnectionEvent) => void>();
  private readonly stop = new AbortController();
  private loop: Promise<void> | null = null;
  private urlIndex = 0;
  private readonly budget: ReconnectBudget;

  constructor(
    readonly options: ConnectionOptions,
    private readonly deps: ConnectionDeps,
  ) {
    if (options.brokers.length === 0) throw new FtError('CONFIG_INVALID', 'no broker URL given: pass --broker mqtt://host:port');
    this.budget = new ReconnectBudget({
      maxAttempts: options.maxAttempts ?? defaultReconnectBounds.maxAttempts,
      maxStalledCycles: options.maxStalledCycles ?? defaultReconnectBounds.maxStalledCycles,
      stableMs: defaultReconnectBounds.stableMs,
    });
  }

  /**
   * The transfer on this connection moved forward (a command was acknowledged): the link is worth
   * keeping, so stalled cycles start counting from zero again.
   */
  markProgress(): void {
    this.budget.progress();
  }

  /** Whether anything was ever acknowledged over this Connection (the daemon's supervisor asks). */
  everProgressed(): boolean {
    return this.budget.everProgressed;
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
    return untilFirstUp(
      (l) => this.listen(l),
      () => {
        this.loop = this.run();
      },
    );
  }

  /**
   * Closes the current client and stops reconnecting, within `closeGraceMs`: MQTT.js's polite
   * end(false) waits for every unacknowledged publish, which a broker that went silent never
   * acknowledges, so after the grace the socket is dropped.
   */
  async close(): Promise<void> {
    this.stop.abort();
    const client = this.client;
    this.client = null;
    if (client) {
      await new Promise<void>((resolve) => {
        const cancel = this.deps.clock.after(this.options.closeGraceMs ?? 2000, () => {
          // end(true) is a no-op while end(false) is pending: drop the socket itself.
          client.stream?.destroy();
          resolve();
        });
        client.end(false, {}, () => {
          cancel();
          resolve();
        });
      });
    }
    await this.loop;
  }

  private emit(e: ConnectionEvent): void {
    for (const l of [...this.listeners]) l(e);
  }

  private async run(): Promise<void> {
    const policy = this.options.backoff ?? defaultBackoff;
    const budget = this.budget;
    const permanentByUrl = new Map<string, FtError>();
    while (!this.stop.signal.aborted) {
      const url = this.options.brokers[this.urlIndex % this.options.brokers.length] ?? '';
      const result = await this.attempt(url);
      if (this.stop.signal.aborted) {
        if (result.ok) result.client.end(true);
        return;
      }
      if (result.ok) {
        budget.connected(this.deps.clock.now());
        permanentByUrl.clear();
        const reason = await this.adopt(url, result.client, result.connack);
        if (this.stop.signal.aborted) return;
        this.emit({ kind: 'down', url, reason });
        if (budget.lost(this.deps.clock.now()) === 'stalled') {
          this.emit({ kind: 'failed', error: stalledError(this.options.brokers, budget.stalls, reason) });
          return;
        }
        this.urlIndex += 1;
      } else {
        const error = result.error;
        this.deps.logger.warn({ broker: url, attempt: budget.failures + 1, err: error.message }, 'mqtt connection attempt failed');
        if (!error.transient) permanentByUrl.set(url, error);
        // A refusal that retrying cannot fix (credentials, certificates) on every broker: stop now.
        if (permanentByUrl.size >= new Set(this.options.brokers).size) {
          this.emit({ kind: 'failed', error });
          return;
        }
        if (budget.failed() === 'attempts-exhausted') {
          this.emit({
            kind: 'failed',
            error: new FtError(
              'CONNECT_FAILED',
              `could not connect to ${this.options.brokers.join(', ')} after ${budget.failures} attempts (last: ${error.message}); check the broker address and that it is running`,
              { transient: true, cause: error },
            ),
          });
          return;
        }
        this.urlIndex += 1;
      }
      if (!(await sleep(this.deps.clock, budget.delayMs(policy, this.deps.random), this.stop.signal))) return;
    }
  }

  private adopt(url: string, client: MqttClient, connack: IConnackPacket): Promise<string> {
    this.client = client;
    this.url = url;
    this.currentLimits = linkLimitsFrom(connack);
    this.deps.logger.info({ broker: url, clientId: this.clientId, limits: this.currentLimits }, 'mqtt connected');
    const closed = new Promise<string>((resolve) => {
      let lastError = 'connection closed';
      client.on('error', (err) => {
        lastError = err.message;
        if (isMalformedPacket(err)) {
          // mqtt-packet's parser cannot continue after a malformed packet; MQTT says close the link.
          lastError = `the broker sent a malformed packet (${err.message})`;
          this.deps.logger.warn({ broker: url, err: err.message }, 'malformed packet from the broker: closing the connection');
          client.end(true);
          return;
        }
        this.deps.logger.warn({ broker: url, err: err.message }, 'mqtt client error');
      });
      client.on('disconnect', (packet) => {
        const rc = packet.reasonCode ?? 0;
        lastError = `the broker sent DISCONNECT ${describeDisconnect(rc)}`;
        if (rc === sessionTakenOver) {
          this.deps.logger.warn({ broker: url, clientId: this.clientId }, 'another client connected with this client id and took over the session (DISCONNECT 0x8e): two agents share a client id');
        } else {
          this.deps.logger.warn({ broker: url, reasonCode: rc }, lastError);
        }
      });
      client.once('close', () => {
        if (this.client === client) {
          this.client = null;
          this.url = null;
        }
        client.end(true);
        // The cap may have fired before this listener existed (in the same read as the CONNACK).
        resolve(capExceeded(client)?.message ?? lastError);
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
      ...(options.protocolVersion === 5 ? { properties: { maximumPacketSize: options.maximumPacketSize ?? defaultMaxPacketSize } } : {}),
      // MQTT.js's trace prints the CONNECT packet, password included: never its own logger.
      log: mqttTraceWanted() ? redactedMqttTrace(options.password !== undefined ? [options.password] : []) : ignoreMqttTrace,
    };
    if (options.username !== undefined) mqttOptions.username = options.username;
    if (options.password !== undefined) {
      mqttOptions.password = options.password;
      redactStderrWhileDebugging(options.password);
    }
    if (options.will) mqttOptions.will = { ...options.will };
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
      const onConnect = (connack: IConnackPacket): void => {
        try {
          linkLimitsFrom(connack);
        } catch (err) {
          finish({ ok: false, error: err as FtError });
          return;
        }
        finish({ ok: true, client, connack });
      };
      try {
        client = connectFn(url, mqttOptions);
        // Before any publish: this client's QoS 1 payloads are kept by reference, not copied.
        storeWithoutCopy(client);
        disableNagle(client);
        // Reported like any client error, so the 'down' event and the logs say why.
        capInboundPackets(client, options.maximumPacketSize ?? defaultMaxPacketSize, (error) => client.emit('error', error));
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

/**
 * Commands and acknowledgements are small and answered one at a time: with Nagle's algorithm a
 * PUBACK for a `$file-response` or a short command waits for the delayed ACK of the previous write,
 * tens of milliseconds each. MQTT.js creates its TCP or TLS socket synchronously and leaves Nagle on.
 */
function disableNagle(client: MqttClient): void {
  const stream = client.stream as { setNoDelay?: (noDelay?: boolean) => unknown } | undefined;
  stream?.setNoDelay?.(true);
}
