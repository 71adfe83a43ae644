/**
 * `ftagent run`, minus the process: config → spool (repaired at start) → one supervised MQTT
 * connection → job scheduler → upload jobs, plus the watch folders, plus (store.enabled) the store
 * flows riding on the same connection. Tests run several of these in one process (each "boot" of
 * the crash tests is a new Daemon on the rebooted file system).
 */
import type { IClientOptions, MqttClient } from 'mqtt';
import { watchUpload, type Config } from '../config/load-config';
import type { Logger } from '../log';
import type { BackoffPolicy } from '../time/backoff';
import { systemClock, type Clock } from '../time/clock';
import type { Connection } from '../mqtt/connection';
import type { DurableFs } from '../storage/durable-fs';
import { Spool } from '../storage/spool';
import type { SourceOpener } from '../transfer/source-file';
import { JobScheduler } from '../jobs/job-scheduler';
import type { QueuedUploadOptions } from '../jobs/upload-job-options';
import { runUploadJob, type JobOutcome } from '../jobs/upload-job-runner';
import { WatchFolder } from '../jobs/watch-folder';
import { connectionOptionsFrom, jobDefaultsFrom, needsResponses } from './daemon-settings';
import { LinkSupervisor } from './link-supervisor';
import { StoreFlows } from './store-flows';
import { ByteRateLimit } from '../mqtt/byte-rate-limit';
import { setupFleet, type Fleet } from './fleet-setup';

export interface DaemonOptions {
  config: Config;
  /** The state directory's file system (the real one on a device; the power-cut simulator in tests). */
  fs: DurableFs;
  logger: Logger;
  clock?: Clock;
  random?: () => number;
  connectFn?: (url: string, options: IClientOptions) => MqttClient;
  opener?: SourceOpener;
  /** How often the spool and watch folders are polled. Default 1000 ms. */
  pollMs?: number;
  /** Between attempts of a job that failed transiently. Default 2 s doubling to 5 min, jittered. */
  retryBackoff?: BackoffPolicy;
  /** Starts of one job before it is failed. Default 50. */
  maxAttempts?: number;
  /** Between two MQTT connections after one gave up. */
  reconnectBackoff?: BackoffPolicy;
  onOutcome?: (jobId: string, outcome: JobOutcome) => void;
}

const daemonDefaults = {
  pollMs: 1000,
  retryBackoff: { baseMs: 2000, capMs: 300_000 },
  maxAttempts: 50,
} as const;

export class Daemon {
  private watchTimer: (() => void) | null = null;
  private stopped = false;

  private constructor(
    readonly spool: Spool,
    private readonly link: LinkSupervisor,
    private readonly scheduler: JobScheduler,
    private readonly watches: WatchFolder[],
    private readonly store: StoreFlows | undefined,
    readonly fleet: Fleet,
    private readonly options: DaemonOptions,
  ) {}

  static async start(options: DaemonOptions): Promise<Daemon> {
    const { config, fs, logger } = options;
    const clock = options.clock ?? systemClock;
    const spool = await Spool.open(fs, config.stateDir, { log: logger, retention: config.retention.finishedJobs });
    const report = await spool.recover();
    logger.info({ stateDir: config.stateDir, ...report }, 'state directory checked');

    let store: StoreFlows | undefined;
    let scheduler: JobScheduler | undefined;
    const fleet = await setupFleet({ config, fs, spool, clock, logger, running: () => scheduler?.runningIds() ?? [], poke: () => scheduler?.poke() });
    const connection = await connectionOptionsFrom(config);
    const link = new LinkSupervisor(fleet.will ? { ...connection, will: fleet.will } : connection, needsResponses(config), {
      clock,
      logger,
      ...(options.random ? { random: options.random } : {}),
      ...(options.connectFn ? { connectFn: options.connectFn } : {}),
      ...(options.reconnectBackoff ? { backoff: options.reconnectBackoff } : {}),
      onChange: () => scheduler?.poke(),
      ...(config.maxBytesPerSecond > 0 ? { rateLimit: new ByteRateLimit(config.maxBytesPerSecond, clock) } : {}),
      onConnection: (connection: Connection) => {
        const retireStore = store?.attach(connection);
        const retireFleet = fleet.plane?.attach(connection);
        return () => {
          retireStore?.();
          retireFleet?.();
        };
      },
    });
    const watches = config.watch.map(
      (w) =>
        new WatchFolder(
          {
            dir: w.dir,
            pattern: w.pattern,
            settleMs: w.settleMs,
            afterSuccess: w.afterSuccess,
            ...(w.moveTo !== undefined ? { moveTo: w.moveTo } : {}),
            upload: uploadOverrides(config, w),
          },
          { fs, spool, stateDir: config.stateDir, clock, logger, enqueue: (job) => fleet.admission.enqueue(job) },
        ),
    );
    const defaults = jobDefaultsFrom(config);
    scheduler = new JobScheduler({
      spool,
      maxConcurrent: config.maxConcurrent,
      pollMs: options.pollMs ?? daemonDefaults.pollMs,
      retryBackoff: options.retryBackoff ?? daemonDefaults.retryBackoff,
      link: () => link.current(),
      run: (job, control, channel) =>
        runUploadJob(job, control, {
          spool,
          link: channel,
          defaults,
          checkpoint: config.checkpoint,
          maxAttempts: options.maxAttempts ?? daemonDefaults.maxAttempts,
          logger,
          clock,
          ...(options.opener ? { opener: options.opener } : {}),
        }),
      clock,
      logger,
      ...(options.random ? { random: options.random } : {}),
      index: fleet.index,
      onOutcome: (id, outcome) => {
        fleet.onOutcome(outcome);
        for (const w of watches) {
          w.onOutcome(id, outcome).catch((err: unknown) => logger.warn({ job: id, err: String(err) }, 'watch folder bookkeeping failed'));
        }
        options.onOutcome?.(id, outcome);
      },
    });
    for (const w of watches) await w.open();
    // The last step that can fail, and before the link starts, so the first Connection gets its store channel.
    if (config.store.enabled) store = await StoreFlows.start({ config, fs, clock, logger, onReceived: (r) => fleet.onReceived(r) });
    const daemon = new Daemon(spool, link, scheduler, watches, store, fleet, options);
    fleet.plane?.start();
    link.start();
    scheduler.start();
    daemon.scheduleWatch(clock, 0);
    logger.info({ brokers: config.brokers, clientId: config.clientId, maxConcurrent: config.maxConcurrent, watch: watches.length, store: config.store.enabled }, 'daemon started');
    return daemon;
  }

  /**
   * Clean stop (SIGTERM): nothing new starts, the connection is detached first so no `abort`
   * reaches the broker, running jobs write their checkpoint and stay active, then it closes.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.watchTimer?.();
    // Store runs are interrupted before the link goes, so a dying link is not counted as a failed attempt.
    const storeStopping = this.store?.stop();
    // The offline status goes out (bounded wait) while the connection is still there.
    await this.fleet.plane?.stop();
    // Link next: its synchronous part detaches the channel before the upload jobs see the stop signal.
    const closing = this.link.close();
    await this.scheduler.stop();
    await closing;
    await storeStopping;
    this.options.logger.info('daemon stopped');
  }

  /** Everything stops at once, nothing is written or said: the power-loss path (tests). */
  halt(): void {
    this.stopped = true;
    this.fleet.plane?.halt();
    this.watchTimer?.();
    this.scheduler.halt();
    void this.store?.stop().catch(() => undefined);
    this.link.halt();
  }

  runningJobs(): string[] {
    return this.scheduler.runningIds();
  }

  private scheduleWatch(clock: Clock, delay: number): void {
    if (this.watches.length === 0 || this.stopped) return;
    this.watchTimer = clock.after(delay, () => {
      void (async () => {
        for (const w of this.watches) {
          if (this.stopped) return;
          await w.scan().catch((err: unknown) => this.options.logger.warn({ dir: w.settings.dir, err: String(err) }, 'watch folder scan failed'));
        }
        this.scheduler.poke();
        this.scheduleWatch(clock, this.options.pollMs ?? daemonDefaults.pollMs);
      })();
    });
  }
}

function uploadOverrides(config: Config, w: Config['watch'][number]): QueuedUploadOptions {
  const u = watchUpload(config, w);
  return {
    ...(u.chunkSize === undefined ? {} : { chunkSize: u.chunkSize }),
    ...(u.window === undefined ? {} : { window: u.window }),
    finTimeoutMs: u.finTimeoutSeconds * 1000,
    segmentChecksums: u.segmentChecksums,
    // Written only when it differs from the runner's default, so job records stay as they were.
    ...(u.onSourceChange === 'restart' ? { onSourceChange: 'restart' } : {}),
  };
}
