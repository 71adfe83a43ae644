/**
 * Keeps the daemon's one MQTT connection alive for as long as it runs. A Connection retries on its
 * own but gives up after a bounded number of attempts (right for `ftagent send`); a daemon must
 * not, so when it gives up this builds a fresh Connection + CommandChannel after a backoff
 * (growing to a cap) and tries again, forever, until stopped. Jobs simply wait meanwhile.
 * Each Connection is also handed to `onConnection` (the store flows put their channel on it).
 */
import type { IClientOptions, MqttClient } from 'mqtt';
import type { Logger } from '../log';
import { backoffDelay, type BackoffPolicy } from '../time/backoff';
import { sleep, type Clock } from '../time/clock';
import { CommandChannel } from '../mqtt/command-channel';
import { Connection, type ConnectionOptions } from '../mqtt/connection';
import type { ByteRateLimit } from '../mqtt/byte-rate-limit';

export interface LinkSupervisorDeps {
  clock: Clock;
  logger: Logger;
  random?: () => number;
  connectFn?: (url: string, options: IClientOptions) => MqttClient;
  /** Pause between two Connections after one gave up. */
  backoff?: BackoffPolicy;
  /** Called whenever the link goes up or down. */
  onChange: () => void;
  /** The device's byte budget, shared by every connection in turn. */
  rateLimit?: ByteRateLimit;
  /**
   * Called with each new Connection before it starts, so other flows (the store channel) can ride on
   * it; the returned function is called once that Connection is retired (replaced, closed or halted).
   */
  onConnection?: (connection: Connection) => () => void;
}

export class LinkSupervisor {
  private channel: CommandChannel | null = null;
  private connection: Connection | null = null;
  private retireConnection: (() => void) | null = null;
  private up = false;
  private readonly stopped = new AbortController();
  private loop: Promise<void> | null = null;

  constructor(
    private readonly options: ConnectionOptions,
    /** Subscribe to $file-response/{clientid} (async mode, MQTT 3.1.1). */
    private readonly responses: boolean,
    private readonly deps: LinkSupervisorDeps,
  ) {}

  start(): void {
    this.loop ??= this.run();
  }

  /** The channel to start uploads on, or null while the link is down. */
  current(): CommandChannel | null {
    return this.up ? this.channel : null;
  }

  /**
   * Stops reconnecting and detaches the channel first, so uploads stopped afterwards see a dead
   * link and send no `abort` (the transfer resumes at the next start), then closes the connection.
   */
  async close(): Promise<void> {
    this.stopped.abort();
    this.up = false;
    this.channel?.dispose();
    this.retire();
    await this.connection?.close();
    await this.loop;
  }

  /** Drops the socket without any goodbye (simulated power loss in tests). */
  halt(): void {
    this.stopped.abort();
    this.up = false;
    this.channel?.dispose();
    this.retire();
    this.connection?.currentClient()?.end(true);
    void this.connection?.close();
  }

  private async run(): Promise<void> {
    const { logger, clock } = this.deps;
    const policy = this.deps.backoff ?? { baseMs: 1000, capMs: 60_000 };
    let giveUps = 0;
    while (!this.stopped.signal.aborted) {
      // Tests shorten every pause at once; in production each Connection keeps its own default.
      const connection = new Connection(this.deps.backoff ? { ...this.options, backoff: this.deps.backoff } : this.options, {
        clock,
        logger,
        ...(this.deps.random ? { random: this.deps.random } : {}),
        ...(this.deps.connectFn ? { connectFn: this.deps.connectFn } : {}),
      });
      const channel = new CommandChannel(connection, { responses: this.responses, clock, ...(this.deps.rateLimit ? { rateLimit: this.deps.rateLimit } : {}) }, logger);
      this.connection = connection;
      this.channel = channel;
      this.retireConnection = this.deps.onConnection?.(connection) ?? null;
      const failed = new Promise<void>((resolve) => {
        channel.listen((e) => {
          if (e.kind === 'up') {
            this.setUp(true);
          } else if (e.kind === 'down') {
            this.setUp(false);
          } else if (e.kind === 'failed') {
            logger.warn({ err: e.error.message, code: e.error.code }, 'mqtt connection gave up; will start over');
            this.setUp(false);
            resolve();
          }
        });
        this.stopped.signal.addEventListener('abort', () => resolve(), { once: true });
      });
      channel.start().catch(() => undefined);
      await failed;
      channel.dispose();
      this.retire();
      await connection.close().catch(() => undefined);
      if (this.stopped.signal.aborted) return;
      // A CONNACK alone is no reason to start the pause from its minimum again: a broker that
      // accepts and then drops every publish would be hammered. Only acknowledged progress is.
      giveUps = connection.everProgressed() ? 1 : giveUps + 1;
      await sleep(clock, backoffDelay(giveUps, policy, this.deps.random), this.stopped.signal);
    }
  }

  private retire(): void {
    const retire = this.retireConnection;
    this.retireConnection = null;
    retire?.();
  }

  private setUp(up: boolean): void {
    if (this.stopped.signal.aborted || this.up === up) return;
    this.up = up;
    this.deps.onChange();
  }
}
