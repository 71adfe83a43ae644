/**
 * The store system inside the daemon (store.enabled): the scheduled store jobs and the receiver of
 * push and dir requests, both started once and kept for the daemon's lifetime over a StoreLink.
 * Each Connection the LinkSupervisor builds gets its own StoreChannel, attached to that link while
 * the Connection lives and disposed when it is retired. So a job's schedule keeps running while
 * offline, and a job that fires then waits for the link instead of failing.
 */
import { watch } from 'node:fs';
import type { Config } from '../config/load-config';
import type { Logger } from '../log';
import type { Clock } from '../time/clock';
import type { Connection } from '../mqtt/connection';
import type { DurableFs } from '../storage/durable-fs';
import { startStoreJobs, type StoreJobsHandle } from '../jobs/store-runner';
import { StoreChannel } from '../mqtt/store-channel';
import { startStoreReceiver, type StoreReceiveRecord, type StoreReceiver } from '../transfer/store/store-receive';
import { startFileServing, type FileServing } from '../transfer/store/store-serve';
import { storeNftpReceiveFrom, storeNftpSendFrom } from './daemon-settings';
import { StoreLink } from './store-link';

/** fs.watch on a folder; an error later (the folder removed) only ends the watching. */
function watchFolder(dir: string, onChange: () => void): () => void {
  const watcher = watch(dir, { persistent: false }, () => onChange());
  watcher.on('error', () => watcher.close());
  return () => watcher.close();
}

export interface StoreFlowsDeps {
  config: Pick<Config, 'stateDir' | 'store'>;
  /** The state directory's file system: job and state files, and the files jobs send. */
  fs: DurableFs;
  clock: Clock;
  logger: Logger;
  /** Every finished push (the fleet plane's file.received event). */
  onReceived?: (record: StoreReceiveRecord) => void;
}

export class StoreFlows {
  private stopping: Promise<void> | undefined;

  private constructor(
    private readonly link: StoreLink,
    private readonly jobs: StoreJobsHandle,
    private readonly receiver: StoreReceiver,
    private readonly serving: FileServing | undefined,
    private readonly deps: StoreFlowsDeps,
  ) {}

  /** Resolves once the receive roots are checked and the handlers listen (answers start with the first channel). */
  static async start(deps: StoreFlowsDeps): Promise<StoreFlows> {
    const { config, fs, clock, logger } = deps;
    const store = config.store;
    const link = new StoreLink();
    const jobs = startStoreJobs({
      channel: link,
      stateDir: config.stateDir,
      fs,
      clock,
      logger,
      nftp: storeNftpSendFrom(config),
      requestTimeoutMs: store.requestTimeoutSeconds * 1000,
      rescanMs: store.rescanSeconds * 1000,
      maxParallelTransfers: store.maxParallelTransfers,
      watchJobs: watchFolder,
    });
    const receiver = startStoreReceiver({
      storeChannel: link,
      roots: { receive: store.receive.roots, browse: store.receive.browseRoots },
      clock,
      logger,
      overwriteDefault: store.receive.overwrite,
      nftp: storeNftpReceiveFrom(config),
      limits: { maxConcurrent: store.receive.maxConcurrent, maxReservedBytes: store.receive.maxReservedBytes },
      staleHours: store.receive.staleHours,
      ...(deps.onReceived ? { onResult: deps.onReceived } : {}),
    });
    const serving =
      store.serve.roots.length > 0 ? startFileServing({ link, roots: store.serve.roots, maxConcurrent: store.serve.maxConcurrent, nftp: storeNftpSendFrom(config), clock, logger }) : undefined;
    const flows = new StoreFlows(link, jobs, receiver, serving, deps);
    try {
      await receiver.ready;
      await serving?.ready;
    } catch (err) {
      await flows.stop();
      throw err;
    }
    logger.info(
      { receiveRoots: store.receive.roots, browseRoots: store.receive.browseRoots, blockSize: store.nftp.blockSize, width: store.nftp.width },
      store.receive.roots.length === 0 ? 'store flows started (no receive roots: every push is refused)' : 'store flows started',
    );
    return flows;
  }

  /** Rides on one Connection; the returned function retires that channel. */
  attach(connection: Connection): () => void {
    const channel = new StoreChannel(connection, {
      logger: this.deps.logger,
      clock: this.deps.clock,
      requestTimeoutMs: this.deps.config.store.requestTimeoutSeconds * 1000,
    });
    const detach = this.link.attach(channel);
    return () => {
      detach();
      channel.dispose();
    };
  }

  /**
   * Interrupts running store transfers and receives (runs stay 'running' on disk and resume at the
   * next start; partial received files keep their block map). The job runner is told synchronously,
   * before the caller closes the connection, so a dying link is not counted as a failed attempt.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const jobs = this.jobs.stop();
      const receiver = this.receiver.stop();
      const serving = this.serving?.stop();
      this.link.close();
      await Promise.all([jobs, receiver, serving]);
    })();
    return this.stopping;
  }
}
