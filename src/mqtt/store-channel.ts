/**
 * The agent's MQTT adapter for the store flows (docs/store-flows.md): job-control requests and responses on
 * `$file_sniffer/v1/<verb>/{clientid}`, and the nftp topics (`$file/<suffix>`) sessions run on.
 *
 * It rides on the agent's one Connection. On every `up` it (re)subscribes the five sniffer topics and
 * every nftp topic still open, and only then counts as ready; on `down` every outstanding request and
 * publish fails with a transient DISCONNECTED, so the flows above retry per their own policy.
 * Nothing MQTT.js could re-send on its own is left behind (the Connection uses a fresh client each time).
 */
import type { MqttClient } from 'mqtt';
import { FtError } from '../errors';
import { silentLogger, type Logger } from '../log';
import { systemClock, type Clock } from '../time/clock';
import type { Connection, ConnectionEvent } from './connection';
import {
  buildSniffRequest,
  decodeSnifferMessage,
  encodeSnifferRequest,
  encodeSnifferResponse,
  parseSnifferTopic,
  sniffVerbs,
  snifferTopic,
  snifferTopicPrefix,
  type SniffRequest,
  type SniffRequestBody,
  type SniffRequestOf,
  type SniffResponse,
  type SniffResponseFields,
  type SniffVerb,
} from '../protocol/file-sniffer';

export interface StoreChannelOptions {
  logger?: Logger;
  clock?: Clock;
  /** Default for `request` when no timeout is given. Default 10 s. */
  requestTimeoutMs?: number;
}

export interface StoreRequestOptions {
  timeoutMs?: number;
}

/** A server-initiated request (push, dir, download) and its raw fields, for the echo in the answer. */
export interface IncomingStoreRequest<V extends SniffVerb = SniffVerb> {
  verb: V;
  request: SniffRequestOf<V>;
  fields: Record<string, unknown>;
}
export type StoreRequestHandler<V extends SniffVerb> = (incoming: IncomingStoreRequest<V>) => void | Promise<void>;

/** A `download` request another client published on its own topic (this agent serving files). */
export interface ForeignDownloadRequest {
  /** The requester: the answer goes to its topic. */
  clientId: string;
  request: SniffRequestOf<'download'>;
  fields: Record<string, unknown>;
}
export type ForeignDownloadHandler = (incoming: ForeignDownloadRequest) => void | Promise<void>;

/** One nftp topic: `link` for the session's publishes, `onPacket` for what arrives there. */

/**
 * One nftp topic: `link` for the session's publishes, `onPacket` for what arrives there. `link` has
 * the shape of transfer/nftp's NftpLink port; it is spelled out here because mqtt/ sits below transfer/.
 */
export interface NftpTopic {
  readonly topic: string;
  readonly link: { publish(payload: Uint8Array): Promise<void> };
  onPacket(cb: (payload: Uint8Array) => void): () => void;
  /** Stops listening; unsubscribes once no one else has the topic open. */
  close(): Promise<void>;
}

export type StoreLinkEvent = { kind: 'up' } | { kind: 'down'; reason: string };

interface PendingRequest {
  verb: SniffVerb;
  resolve(r: SniffResponse): void;
  reject(e: FtError): void;
}

/** Every client's download requests; `+` matches here because the `$` is only in the first level. */
const downloadsFromAll = `${snifferTopicPrefix}download/+`;

/** Own request ids remembered after they settle, so a late echo (MQTT 3.1.1 has no No Local) is still ignored. */
const ownIdMemory = 512;

export class StoreChannel {
  private client: MqttClient | null = null;
  private readonly pending = new Map<string, PendingRequest>();
  private readonly ownIds = new Set<string>();
  private readonly handlers = new Map<SniffVerb, Set<(m: IncomingStoreRequest) => void | Promise<void>>>();
  private readonly downloadServers = new Set<ForeignDownloadHandler>();
  private readonly nftp = new Map<string, Set<(payload: Uint8Array) => void>>();
  private readonly inflight = new Set<(e: FtError) => void>();
  private readonly linkListeners = new Set<(e: StoreLinkEvent) => void>();
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly offConnection: () => void;
  private disposed = false;

  constructor(
    private readonly connection: Connection,
    private readonly options: StoreChannelOptions = {},
  ) {
    this.log = (options.logger ?? silentLogger).child({ component: 'store-channel' });
    this.clock = options.clock ?? systemClock;
    this.offConnection = connection.listen((e) => this.onConnectionEvent(e));
    const current = connection.currentClient();
    if (current) void this.attach(current);
  }

  get clientId(): string {
    return this.connection.clientId;
  }

  isReady(): boolean {
    return this.client !== null;
  }

  /** Resolves true once subscribed on a live connection; false when `signal` aborts or the channel is disposed first. */
  whenReady(signal?: AbortSignal): Promise<boolean> {
    if (this.client) return Promise.resolve(true);
    if (this.disposed || signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (v: boolean): void => {
        off();
        signal?.removeEventListener('abort', onAbort);
        resolve(v);
      };
      const onAbort = (): void => done(false);
      const off = this.onLink((e) => {
        if (e.kind === 'up') done(true);
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  onLink(cb: (e: StoreLinkEvent) => void): () => void {
    this.linkListeners.add(cb);
    return () => this.linkListeners.delete(cb);
  }

  /**
   * Publishes a request (QoS 1) on `$file_sniffer/v1/<verb>/{clientid}` and resolves with the response
   * carrying the same request_id. Fails with DISCONNECTED (transient) when the link is or goes down,
   * TIMEOUT (transient) when nothing answers in time.
   */
  request<V extends SniffVerb>(verb: V, body: SniffRequestBody<V>, options: StoreRequestOptions = {}): Promise<SniffResponse> {
    const request = buildSniffRequest(verb, body);
    const topic = snifferTopic(verb, this.clientId);
    const timeoutMs = options.timeoutMs ?? this.options.requestTimeoutMs ?? 10_000;
    return new Promise<SniffResponse>((resolve, reject) => {
      let cancelTimer: () => void = () => undefined;
      const settle = (): void => {
        cancelTimer();
        this.pending.delete(request.request_id);
      };
      this.pending.set(request.request_id, {
        verb,
        resolve: (r) => (settle(), resolve(r)),
        reject: (e) => (settle(), reject(e)),
      });
      this.rememberOwn(request.request_id);
      cancelTimer = this.clock.after(timeoutMs, () => {
        const p = this.pending.get(request.request_id);
        p?.reject(
          new FtError('TIMEOUT', `no answer to the ${verb} request ${request.request_id} on ${topic} within ${(timeoutMs / 1000).toFixed(1)} s: is the store server running?`, {
            transient: true,
            details: { verb, requestId: request.request_id, topic },
          }),
        );
      });
      this.log.debug({ verb, requestId: request.request_id }, 'store request sent');
      this.publish(topic, encodeSnifferRequest(request as SniffRequest)).catch((err: unknown) => {
        this.pending.get(request.request_id)?.reject(err instanceof FtError ? err : disconnected(String(err)));
      });
    });
  }

  /** Handles server-initiated requests of one verb (push, dir, download). Returns the unsubscribe. */
  onRequest<V extends SniffVerb>(verb: V, handler: StoreRequestHandler<V>): () => void {
    let set = this.handlers.get(verb);
    if (!set) this.handlers.set(verb, (set = new Set()));
    // The map is keyed by verb, so a message reaching this set has this verb.
    const h = (m: IncomingStoreRequest): void | Promise<void> => handler(m as unknown as IncomingStoreRequest<V>);
    set.add(h);
    return () => set?.delete(h);
  }

  /**
   * Serves `download` requests other clients publish on `$file_sniffer/v1/download/+` (subscribed
   * while at least one handler is registered). Returns the unregister.
   */
  serveDownloads(handler: ForeignDownloadHandler): () => void {
    this.downloadServers.add(handler);
    const client = this.client;
    if (this.downloadServers.size === 1 && client) {
      this.subscribeWith(client, [downloadsFromAll]).catch((err: unknown) => this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'store: cannot subscribe to download requests'));
    }
    return () => {
      this.downloadServers.delete(handler);
      const c = this.client;
      if (this.downloadServers.size === 0 && c) void c.unsubscribeAsync(downloadsFromAll).catch(() => undefined);
    };
  }

  /** Answers another client's request on that client's topic, echoing its fields. */
  respondTo(verb: SniffVerb, clientId: string, requestFields: Record<string, unknown>, fields: SniffResponseFields): Promise<void> {
    return this.publish(snifferTopic(verb, clientId), encodeSnifferResponse(requestFields, fields));
  }

  /** Answers a request: every field of the request is echoed, then `fields` added (docs/store-flows.md §1). */
  respond(verb: SniffVerb, requestFields: Record<string, unknown>, fields: SniffResponseFields): Promise<void> {
    return this.publish(snifferTopic(verb, this.clientId), encodeSnifferResponse(requestFields, fields));
  }

  /**
   * Subscribes (QoS 1) to an nftp topic and resolves once the broker granted it, so a caller can answer
   * `push` only when it can hear the first packet. Kept subscribed across reconnects until closed.
   */
  async openNftpTopic(topic: string): Promise<NftpTopic> {
    const listeners = new Set<(payload: Uint8Array) => void>();
    let set = this.nftp.get(topic);
    const fresh = !set;
    if (!set) this.nftp.set(topic, (set = new Set()));
    const relay = (payload: Uint8Array): void => {
      for (const l of [...listeners]) l(payload);
    };
    set.add(relay);
    const shared = set;
    let closed = false;
    const close = async (): Promise<void> => {
      if (closed) return;
      closed = true;
      shared.delete(relay);
      listeners.clear();
      if (shared.size === 0 && this.nftp.get(topic) === shared) {
        this.nftp.delete(topic);
        const client = this.client;
        if (client) await client.unsubscribeAsync(topic).catch(() => undefined);
      }
    };
    if (fresh) {
      try {
        await this.subscribe(topic);
      } catch (err) {
        await close();
        throw err;
      }
    }
    return {
      topic,
      link: { publish: (payload) => this.publish(topic, Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)) },
      onPacket: (cb) => {
        listeners.add(cb);
        return () => listeners.delete(cb);
      },
      close,
    };
  }

  /** Stops listening; outstanding requests fail. The connection is closed by its owner. */
  dispose(): void {
    this.disposed = true;
    this.offConnection();
    this.detach('store channel closed');
  }

  // ---- connection events ----------------------------------------------------------------------

  private onConnectionEvent(e: ConnectionEvent): void {
    if (e.kind === 'up') void this.attach(e.client);
    else this.detach(e.kind === 'down' ? e.reason : e.error.message);
  }

  private async attach(client: MqttClient): Promise<void> {
    client.on('message', (topic, payload) => {
      if (client === this.client) this.onMessage(topic, payload);
    });
    const topics = [...sniffVerbs.map((v) => snifferTopic(v, this.clientId)), ...this.nftp.keys(), ...(this.downloadServers.size > 0 ? [downloadsFromAll] : [])];
    try {
      await this.subscribeWith(client, topics);
    } catch (err) {
      // The link dropped while subscribing; the connection's reconnect brings another `up`.
      this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'store topics: subscribe failed');
      return;
    }
    if (client !== this.connection.currentClient() || this.disposed) return;
    this.client = client;
    this.log.debug({ topics: topics.length }, 'store topics subscribed');
    this.emitLink({ kind: 'up' });
  }

  private detach(reason: string): void {
    const wasUp = this.client !== null;
    this.client = null;
    const error = disconnected(reason);
    for (const p of [...this.pending.values()]) p.reject(error);
    for (const r of [...this.inflight]) r(error);
    this.inflight.clear();
    if (wasUp) this.emitLink({ kind: 'down', reason });
  }

  private emitLink(e: StoreLinkEvent): void {
    for (const l of [...this.linkListeners]) l(e);
  }

  // ---- inbound ----------------------------------------------------------------------------------

  private onMessage(topic: string, payload: Buffer): void {
    const nftp = this.nftp.get(topic);
    if (nftp) {
      const bytes = new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
      for (const l of [...nftp]) l(bytes);
      return;
    }
    const where = parseSnifferTopic(topic);
    if (!where) return;
    const foreign = where.clientId !== this.clientId;
    if (foreign && (where.verb !== 'download' || this.downloadServers.size === 0)) return;
    let msg;
    try {
      msg = decodeSnifferMessage(topic, payload);
    } catch (err) {
      this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'store: ignoring a malformed message');
      return;
    }
    if (foreign) {
      // Answers (ours or another server's) travel on the same topic as the requests we serve.
      if (msg.kind === 'request' && msg.request.verb === 'download') {
        const incoming: ForeignDownloadRequest = { clientId: where.clientId, request: msg.request, fields: msg.fields };
        this.runHandlers(this.downloadServers, incoming, 'download');
      }
      return;
    }
    if (msg.kind === 'response') {
      const p = this.pending.get(msg.response.request_id);
      if (p && p.verb === msg.verb) p.resolve(msg.response);
      else this.log.debug({ verb: msg.verb, requestId: msg.response.request_id }, 'store: ignoring a response to no request of ours');
      return;
    }
    // Our own request coming back (MQTT 3.1.1, or a broker without No Local): not for us.
    if (this.ownIds.has(msg.request.request_id)) return;
    const handlers = this.handlers.get(msg.verb);
    if (!handlers || handlers.size === 0) {
      this.log.debug({ verb: msg.verb, requestId: msg.request.request_id }, 'store: no handler for a server request');
      return;
    }
    this.runHandlers(handlers, { verb: msg.verb, request: msg.request, fields: msg.fields }, msg.verb);
  }

  private runHandlers<M>(handlers: Set<(m: M) => void | Promise<void>>, incoming: M, verb: SniffVerb): void {
    for (const h of [...handlers]) {
      Promise.resolve()
        .then(() => h(incoming))
        .catch((err: unknown) => this.log.error({ err, verb }, 'store request handler failed'));
    }
  }

  // ---- outbound ---------------------------------------------------------------------------------

  private publish(topic: string, payload: Buffer): Promise<void> {
    const client = this.client;
    if (!client) return Promise.reject(disconnected('not connected to the broker'));
    return new Promise((resolve, reject) => {
      const fail = (e: FtError): void => {
        this.inflight.delete(fail);
        reject(e);
      };
      this.inflight.add(fail);
      client.publish(topic, payload, { qos: 1 }, (err) => {
        this.inflight.delete(fail);
        if (!err) return resolve();
        reject(publishError(topic, err));
      });
    });
  }

  private async subscribe(topic: string): Promise<void> {
    const client = this.client;
    if (!client) throw disconnected('not connected to the broker');
    await this.subscribeWith(client, [topic]);
  }

  private async subscribeWith(client: MqttClient, topics: string[]): Promise<void> {
    if (topics.length === 0) return;
    const v5 = this.connection.options.protocolVersion === 5;
    // No Local on MQTT 5 spares us our own requests and nftp packets; 3.1.1 gets them and drops them.
    const granted = await client.subscribeAsync(topics, v5 ? { qos: 1, nl: true } : { qos: 1 });
    const refused = granted.filter((g) => g.qos >= 0x80);
    if (refused.length > 0) {
      throw new FtError('FT_REJECTED', `the broker refused the subscription to ${refused.map((g) => g.topic).join(', ')}: allow it in the broker's ACL`, {
        details: { topics: refused.map((g) => g.topic) },
      });
    }
  }

  private rememberOwn(id: string): void {
    this.ownIds.add(id);
    if (this.ownIds.size > ownIdMemory) {
      const oldest = this.ownIds.values().next().value;
      if (oldest !== undefined) this.ownIds.delete(oldest);
    }
  }
}

function disconnected(reason: string): FtError {
  return new FtError('DISCONNECTED', `the MQTT connection dropped (${reason}); the store request will be tried again`, { transient: true });
}

function publishError(topic: string, err: Error): FtError {
  const rc = (err as { code?: unknown }).code;
  if (typeof rc === 'number' && rc >= 0x80) {
    const emqx = topic.startsWith('$file/') ? ' (EMQX 5 with its own file transfer enabled claims every $file/… publish; nftp needs it disabled or EMQX 4.4)' : '';
    return new FtError('FT_REJECTED', `the broker refused the publish to ${topic} (rc 0x${rc.toString(16)})${emqx}`, { details: { topic, reasonCode: rc } });
  }
  return disconnected(err.message);
}
