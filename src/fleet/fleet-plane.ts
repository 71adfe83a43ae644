/**
 * The fleet plane inside the daemon: the retained status document, the event outbox drained in
 * order, and (remote.enabled) the request topics, all on the daemon's one MQTT connection. Like the
 * store flows it outlives Connections: `attach` is called with each new one, and whatever it holds
 * for that Connection is dropped when it is retired.
 *
 * Bounds: one status publish at a time, at most one per statusMinGapSeconds (and one every
 * statusIntervalSeconds regardless); one event in flight at a time, each waiting at most
 * `publishTimeoutMs` for its PUBACK; at most `maxQueuedRequests` requests waiting to be answered,
 * beyond which they are dropped unanswered (the rate limit answers long before that).
 */
import type { IPublishPacket, MqttClient } from 'mqtt';
import type { Logger } from '../log';
import type { Clock } from '../time/clock';
import type { Connection } from '../mqtt/connection';
import type { EventOutbox } from './event-outbox';
import type { FleetEvent } from './events';
import { publishAcked } from './mqtt-publish';
import type { RemoteRequests } from './remote-requests';
import { buildStatus, offlineDocument, type StatusFacts, type StatusSources } from './status-document';
import { verbOfTopic, type FleetTopics } from './topics';

export interface FleetPlaneDeps {
  topics: FleetTopics;
  outbox: EventOutbox;
  sources: StatusSources;
  facts: StatusFacts;
  remote: RemoteRequests | undefined;
  statusIntervalMs: number;
  statusMinGapMs: number;
  offlineWaitMs: number;
  clock: Clock;
  logger: Logger;
}

const publishTimeoutMs = 30_000;
const maxQueuedRequests = 64;

export class FleetPlane {
  private client: MqttClient | null = null;
  private lastPublishAt = Number.NEGATIVE_INFINITY;
  private lastSignature = '';
  private statusTimer: (() => void) | null = null;
  private statusBusy = false;
  private statusAgain = false;
  private draining = false;
  private drainAgain = false;
  private requestChain: Promise<void> = Promise.resolve();
  private queuedRequests = 0;
  private stopped = false;
  private readonly log: Logger;

  constructor(private readonly deps: FleetPlaneDeps) {
    this.log = deps.logger.child({ component: 'fleet' });
  }

  /** The will for every Connection: the offline document, retained. */
  static will(topics: FleetTopics, clientId: string, startedAt: number): { topic: string; payload: Buffer; qos: 1; retain: true } {
    return { topic: topics.status, payload: Buffer.from(JSON.stringify(offlineDocument(clientId, startedAt, 'connection lost'))), qos: 1, retain: true };
  }

  start(): void {
    this.scheduleStatus(this.pollMs());
  }

  /** Rides on `connection`; returns the function to call when it is retired. */
  attach(connection: Connection): () => void {
    let mine: MqttClient | null = null;
    const letGo = (): void => {
      if (mine && this.client === mine) this.client = null;
      mine = null;
    };
    const off = connection.listen((e) => {
      if (e.kind === 'up') {
        mine = e.client;
        void this.onUp(e.client);
      } else letGo();
    });
    return () => {
      off();
      letGo();
    };
  }

  /** Something a status reader cares about changed: publish soon (within the rate limit). */
  changed(): void {
    if (this.stopped) return;
    const wait = Math.max(0, this.lastPublishAt + this.deps.statusMinGapMs - this.deps.clock.now());
    this.scheduleStatus(wait);
  }

  /** Durably records an event, then sends what waits (in order) if the link is up. */
  async emit(event: FleetEvent): Promise<void> {
    await this.deps.outbox.add(event);
    void this.drain();
    this.changed();
  }

  /** Power-loss path (tests): timers stop, nothing more is said. */
  halt(): void {
    this.stopped = true;
    this.statusTimer?.();
    this.statusTimer = null;
    this.client = null;
  }

  /** Clean stop: the offline document goes out (bounded wait) before the connection is closed. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.statusTimer?.();
    this.statusTimer = null;
    const client = this.client;
    if (!client) return;
    const doc = offlineDocument(this.deps.facts.clientId, this.deps.facts.startedAt, 'stopped', this.deps.clock.now());
    const ok = await publishAcked(client, this.deps.topics.status, Buffer.from(JSON.stringify(doc)), { retain: true }, this.deps.clock, this.deps.offlineWaitMs);
    if (!ok) this.log.warn({ waitedMs: this.deps.offlineWaitMs }, 'offline status not acknowledged in time; the broker keeps the last one until the will or the next start');
  }

  private pollMs(): number {
    return Math.max(1000, this.deps.statusMinGapMs);
  }

  private async onUp(client: MqttClient): Promise<void> {
    this.client = client;
    if (this.deps.remote) {
      client.on('message', (topic: string, payload: Buffer, packet: IPublishPacket) => this.onMessage(client, topic, payload, packet));
      try {
        const granted = await client.subscribeAsync(this.deps.topics.cmdFilter, { qos: 1, ...(client.options.protocolVersion === 5 ? { nl: true } : {}) });
        const qos = granted[0]?.qos ?? 0x80;
        if (qos >= 0x80) this.log.error({ topic: this.deps.topics.cmdFilter, rc: qos }, 'broker refused the subscription to remote requests: allow it in the broker ACL');
      } catch (err) {
        this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'subscribe to remote requests failed; will try at the next connection');
      }
    }
    if (this.client !== client) return;
    // At every connect, whatever the rate limit says: the will may have said offline meanwhile
    // (a takeover publishes the old connection's will before our CONNACK; docs/fleet.md).
    this.lastSignature = '';
    this.lastPublishAt = Number.NEGATIVE_INFINITY;
    this.scheduleStatus(0);
    void this.drain();
  }

  private onMessage(client: MqttClient, topic: string, payload: Buffer, packet: IPublishPacket): void {
    const verb = verbOfTopic(this.deps.topics, topic);
    const remote = this.deps.remote;
    if (verb === undefined || !remote) return;
    if (this.queuedRequests >= maxQueuedRequests) {
      this.log.warn({ topic }, 'remote request dropped: too many waiting to be answered');
      return;
    }
    this.queuedRequests++;
    const props = packet.properties;
    this.requestChain = this.requestChain
      .then(async () => {
        this.queuedRequests--;
        const answer = await remote.handle(verb, payload);
        const responseTopic = validResponseTopic(props?.responseTopic) ?? this.deps.topics.cmdResponse;
        const live = this.client === client ? client : this.client;
        if (!live) return;
        const options = props?.correlationData ? { properties: { correlationData: props.correlationData } } : {};
        await publishAcked(live, responseTopic, Buffer.from(JSON.stringify(answer)), options, this.deps.clock, publishTimeoutMs);
        this.changed();
      })
      .catch((err: unknown) => this.log.error({ err: err instanceof Error ? err.message : String(err) }, 'remote request handling failed'));
  }

  private scheduleStatus(delayMs: number): void {
    if (this.stopped) return;
    this.statusTimer?.();
    this.statusTimer = this.deps.clock.after(delayMs, () => {
      this.statusTimer = null;
      // Events other processes added (send --queue dropping a job) are picked up here too.
      void this.drain();
      void this.publishStatus().finally(() => this.scheduleStatus(this.statusAgain ? 0 : this.pollMs()));
    });
  }

  /** Publishes when the signature changed (at most once per min gap) or the interval passed. */
  private async publishStatus(): Promise<void> {
    if (this.statusBusy) {
      this.statusAgain = true;
      return;
    }
    this.statusBusy = true;
    this.statusAgain = false;
    try {
      const client = this.client;
      if (!client || this.stopped) return;
      const now = this.deps.clock.now();
      if (now - this.lastPublishAt < this.deps.statusMinGapMs) return;
      const { doc, signature } = await buildStatus(this.deps.facts, this.deps.sources, now);
      if (signature === this.lastSignature && now - this.lastPublishAt < this.deps.statusIntervalMs) return;
      const ok = await publishAcked(client, this.deps.topics.status, Buffer.from(JSON.stringify(doc)), { retain: true }, this.deps.clock, publishTimeoutMs);
      if (ok) {
        this.lastSignature = signature;
        this.lastPublishAt = now;
      }
    } catch (err) {
      this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not build or publish the status document');
    } finally {
      this.statusBusy = false;
    }
  }

  /** Sends waiting events oldest first, one at a time, each removed after its PUBACK. */
  private async drain(): Promise<void> {
    if (this.draining) {
      this.drainAgain = true;
      return;
    }
    this.draining = true;
    try {
      do {
        this.drainAgain = false;
        for (;;) {
          const client = this.client;
          if (!client || this.stopped) return;
          const next = await this.deps.outbox.oldest();
          if (!next) break;
          const ok = await publishAcked(client, this.deps.topics.events, Buffer.from(JSON.stringify(next.event)), {}, this.deps.clock, publishTimeoutMs);
          if (!ok) return;
          await this.deps.outbox.remove(next.name);
        }
      } while (this.drainAgain);
    } catch (err) {
      this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not send fleet events; will try again');
    } finally {
      this.draining = false;
    }
  }
}

/** A Response-Topic we may publish to: a topic name, not a filter, not a broker-internal one. */
function validResponseTopic(topic: string | undefined): string | undefined {
  if (topic === undefined || topic.length === 0 || topic.length > 1024) return undefined;
  if (/[+#\0]/.test(topic) || topic.startsWith('$')) return undefined;
  return topic;
}
