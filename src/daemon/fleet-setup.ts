/**
 * Builds the daemon's fleet plane and bounded spool from the config: the event outbox, the spool
 * index and admission (every job the daemon itself queues goes through it), the remote requests
 * (remote.enabled) and the plane that publishes it all. The daemon only wires the results in.
 */
import type { Config } from '../config/load-config';
import type { Logger } from '../log';
import type { Clock } from '../time/clock';
import type { DurableFs } from '../storage/durable-fs';
import type { JobRecord } from '../storage/job-record';
import type { Spool } from '../storage/spool';
import { prepareRoots } from '../transfer/store/confine';
import type { StoreReceiveRecord } from '../transfer/store/store-receive';
import { SpoolAdmission } from '../jobs/spool-admission';
import { SpoolIndex, priorityOf } from '../jobs/spool-index';
import type { JobOutcome } from '../jobs/upload-job-runner';
import { totalBytes } from '../storage/byte-ranges';
import { EventOutbox } from '../fleet/event-outbox';
import { droppedEvent, eventForOutcome, receivedEvent, type FleetEvent } from '../fleet/events';
import { FleetPlane } from '../fleet/fleet-plane';
import { RemoteRequests } from '../fleet/remote-requests';
import { buildStatus, type StatusFacts } from '../fleet/status-document';
import { fleetTopics } from '../fleet/topics';

export interface FleetSetupDeps {
  config: Config;
  fs: DurableFs;
  spool: Spool;
  clock: Clock;
  logger: Logger;
  /** Jobs the scheduler runs now. */
  running: () => string[];
  /** Look at the spool now (a cancel request was filed). */
  poke: () => void;
}

export interface Fleet {
  admission: SpoolAdmission;
  index: SpoolIndex;
  /** undefined when fleet.enabled is false. */
  plane: FleetPlane | undefined;
  will: ReturnType<typeof FleetPlane.will> | undefined;
  onOutcome(outcome: JobOutcome): void;
  onReceived(record: StoreReceiveRecord): void;
}

export function outboxFor(config: Config, fs: DurableFs, logger: Logger): EventOutbox {
  return new EventOutbox(fs, config.stateDir, config.fleet.maxPendingEvents, logger);
}

export async function setupFleet(deps: FleetSetupDeps): Promise<Fleet> {
  const { config, fs, spool, clock, logger } = deps;
  const startedAt = clock.now();
  const outbox = outboxFor(config, fs, logger);
  const index = new SpoolIndex(spool);
  const enabled = config.fleet.enabled;
  let plane: FleetPlane | undefined;
  const emit = async (event: FleetEvent): Promise<void> => {
    if (!enabled) return;
    if (plane) await plane.emit(event);
    else await outbox.add(event);
  };
  const onDropped = (record: JobRecord, reason: string, at: Date): Promise<void> => emit(droppedEvent(record, 'low', reason, config.clientId, at.toISOString()));
  const admission = new SpoolAdmission({ spool, bounds: config.spool, onDropped, logger, index });
  const facts: StatusFacts = { clientId: config.clientId, startedAt, lastError: null, lastSuccessAt: null };
  const topics = fleetTopics(config.fleet.topicPrefix, config.clientId);
  const sources = {
    spool,
    index,
    fs,
    stateDir: config.stateDir,
    storeEnabled: config.store.enabled,
    running: deps.running,
    pendingEvents: () => outbox.pendingCount(),
    droppedEvents: () => outbox.dropped,
  };
  let remote: RemoteRequests | undefined;
  if (!enabled && config.remote.enabled) logger.warn('remote.enabled has no effect while fleet.enabled is false: no requests are answered');
  if (enabled && config.remote.enabled) {
    const prepared = await prepareRoots(config.remote.uploadRoots, { create: false });
    for (const p of prepared.problems) logger.warn({ problem: p }, 'remote: an upload root is unusable and ignored');
    const jobView = async (job: JobRecord): Promise<Record<string, unknown>> => {
      const cp = job.state === 'active' ? await spool.readCheckpoint(job.id).catch(() => undefined) : undefined;
      return {
        id: job.id,
        state: job.state,
        file: job.spec.file,
        priority: priorityOf(job),
        createdAt: job.spec.createdAt,
        finishedAt: job.finishedAt ?? null,
        reason: job.reason ?? null,
        progress: cp ? { confirmed: totalBytes(cp.confirmed), size: cp.source.size, stage: cp.stage } : null,
      };
    };
    remote = new RemoteRequests({
      settings: config.remote,
      roots: prepared.roots,
      enqueue: async (job) => {
        const id = await admission.enqueue(job);
        deps.poke();
        return id;
      },
      cancel: async (id) => {
        const job = await spool.get(id);
        if (job && (job.state === 'queued' || job.state === 'active')) {
          await spool.requestCancel(id);
          deps.poke();
        }
        return job;
      },
      job: async (id) => {
        const job = await spool.get(id);
        return job ? jobView(job) : undefined;
      },
      jobs: async (limit) => {
        const out = [];
        for (const job of [...(await spool.list()), ...(await spool.listFinished())].slice(0, limit)) out.push(await jobView(job));
        return out;
      },
      status: async () => (await buildStatus(facts, sources, clock.now())).doc,
      clock,
      logger,
    });
  }
  if (enabled) {
    plane = new FleetPlane({
      topics,
      outbox,
      sources,
      facts,
      remote,
      statusIntervalMs: config.fleet.statusIntervalSeconds * 1000,
      statusMinGapMs: config.fleet.statusMinGapSeconds * 1000,
      offlineWaitMs: config.fleet.offlineWaitMs,
      clock,
      logger,
    });
  }
  const report = (event: FleetEvent | undefined): void => {
    if (event) emit(event).catch((err: unknown) => logger.warn({ err: err instanceof Error ? err.message : String(err), type: event.type }, 'could not record a fleet event'));
  };
  return {
    admission,
    index,
    plane,
    will: plane ? FleetPlane.will(topics, config.clientId, startedAt) : undefined,
    onOutcome(outcome) {
      const at = new Date(clock.now()).toISOString();
      if (outcome.kind === 'done') facts.lastSuccessAt = at;
      if (outcome.kind === 'failed') facts.lastError = { code: outcome.error.code, message: outcome.error.message, at, job: outcome.record.id };
      report(eventForOutcome(outcome, config.clientId, at));
      plane?.changed();
    },
    onReceived(record) {
      report(receivedEvent(record, config.clientId, new Date(clock.now()).toISOString()));
    },
  };
}
