/**
 * The store flows' view of the daemon's link: one object that outlives the Connections the
 * LinkSupervisor builds one after another. A StoreChannel belongs to one Connection, but the store
 * job runner must keep its schedule through an outage and the receiver keeps its handlers, so both
 * talk to this instead and only the channel underneath is swapped.
 *
 * While no channel is attached (or the attached one is not subscribed yet) requests fail with a
 * transient DISCONNECTED and `whenReady` waits: a store transfer then waits for the link within its
 * job's end time (store-upload.ts) instead of failing.
 */
import { FtError } from '../errors';
import type { SniffRequestBody, SniffResponse, SniffResponseFields, SniffVerb } from '../protocol/file-sniffer';
import type { ForeignDownloadHandler, NftpTopic, StoreChannel, StoreRequestHandler, StoreRequestOptions } from '../mqtt/store-channel';
import type { StoreRequester } from '../transfer/store/store-upload';

/** A handler registration, replayed on every channel attached later. */
interface Registration {
  bind(channel: StoreChannel): () => void;
  unbind: (() => void) | undefined;
}

export class StoreLink implements StoreRequester {
  private channel: StoreChannel | null = null;
  private offChannelLink: (() => void) | undefined;
  private readonly registrations = new Set<Registration>();
  private readonly readyWaiters = new Set<(ready: boolean) => void>();
  private closed = false;

  /** Puts `channel` underneath (replacing any other); returns the detach to call when it is retired. */
  attach(channel: StoreChannel): () => void {
    this.detach();
    if (this.closed) return () => undefined;
    this.channel = channel;
    for (const r of this.registrations) r.unbind = r.bind(channel);
    this.offChannelLink = channel.onLink((e) => {
      if (e.kind === 'up') this.wake(true);
    });
    if (channel.isReady()) this.wake(true);
    return () => {
      if (this.channel === channel) this.detach();
    };
  }

  /** No more channels: waiters are told false, requests fail. */
  close(): void {
    this.closed = true;
    this.detach();
    this.wake(false);
  }

  isReady(): boolean {
    return this.channel?.isReady() ?? false;
  }

  /** True once a channel is subscribed on a live connection; false if `signal` aborts or the link closes first. */
  whenReady(signal?: AbortSignal): Promise<boolean> {
    if (this.isReady()) return Promise.resolve(true);
    if (this.closed || signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (ready: boolean): void => {
        this.readyWaiters.delete(done);
        signal?.removeEventListener('abort', onAbort);
        resolve(ready);
      };
      const onAbort = (): void => done(false);
      this.readyWaiters.add(done);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  request<V extends 'broadcast' | 'upload'>(verb: V, body: SniffRequestBody<V>, options?: StoreRequestOptions): Promise<SniffResponse> {
    const channel = this.channel;
    if (!channel) return Promise.reject(offline());
    return channel.request(verb, body, options);
  }

  onRequest<V extends SniffVerb>(verb: V, handler: StoreRequestHandler<V>): () => void {
    return this.register((channel) => channel.onRequest(verb, handler));
  }

  /** Binds on the current channel and on every channel attached later. */
  private register(bind: (channel: StoreChannel) => () => void): () => void {
    const registration: Registration = { bind, unbind: undefined };
    this.registrations.add(registration);
    if (this.channel) registration.unbind = registration.bind(this.channel);
    return () => {
      this.registrations.delete(registration);
      registration.unbind?.();
      registration.unbind = undefined;
    };
  }

  serveDownloads(handler: ForeignDownloadHandler): () => void {
    return this.register((channel) => channel.serveDownloads(handler));
  }

  respondTo(verb: SniffVerb, clientId: string, requestFields: Record<string, unknown>, fields: SniffResponseFields): Promise<void> {
    const channel = this.channel;
    if (!channel) return Promise.reject(offline());
    return channel.respondTo(verb, clientId, requestFields, fields);
  }

  respond(verb: SniffVerb, requestFields: Record<string, unknown>, fields: SniffResponseFields): Promise<void> {
    const channel = this.channel;
    if (!channel) return Promise.reject(offline());
    return channel.respond(verb, requestFields, fields);
  }

  openNftpTopic(topic: string): Promise<NftpTopic> {
    const channel = this.channel;
    if (!channel) return Promise.reject(offline());
    return channel.openNftpTopic(topic);
  }

  private detach(): void {
    this.offChannelLink?.();
    this.offChannelLink = undefined;
    for (const r of this.registrations) {
      r.unbind?.();
      r.unbind = undefined;
    }
    this.channel = null;
  }

  private wake(ready: boolean): void {
    for (const w of [...this.readyWaiters]) w(ready);
  }
}

function offline(): FtError {
  return new FtError('DISCONNECTED', 'not connected to the broker; the store request will be tried again once the link is back', { transient: true });
}
