/**
 * The development broker's store server: the server side of `$file_sniffer/v1/<verb>/{clientid}` and
 * of the `$file/<32 hex>` nftp topics it allocates (docs/store-flows.md). It is a PublishInterceptor and must come
 * BEFORE the EMQX file-transfer emulation, which would otherwise take every `$file/…` publish.
 *
 * Routing only; each verb is a StoreVerbHandler (types.ts). Built in: broadcast and upload
 * (slot-handler.ts). Others (push, download, dir) are passed in `options.handlers`; a handler given
 * there replaces a built-in one for the same verb.
 */
import { join } from 'node:path';
import { FtError } from '../../errors';
import { systemClock } from '../../time/clock';
import { decodeSnifferMessage, encodeSnifferResponse, newRequestId, parseSnifferTopic, snifferTopic, type SniffResponse, type SniffVerb } from '../../protocol/file-sniffer';
import { createPrng } from '../prng';
import type { BrokerCore, InboundPublish, InterceptResult, PublishInterceptor } from '../types';
import { ResultLog } from './result-log';
import { SessionTokens } from './session-tokens';
import { createSlotHandlers } from './slot-handler';
import { TopicTable } from './topic-table';
import type { StoreIncoming, StoreResult, StoreServerContext, StoreServerOptions, StoreVerbHandler } from './types';

export type * from './types';
export { lateBoundCore, type LateBoundCore } from './late-core';
export { safeSegment } from './nftp-intake';

export interface StoreServer extends PublishInterceptor {
  readonly context: StoreServerContext;
  readonly results: ResultLog;
  readonly tokens: SessionTokens;
  close(): Promise<void>;
}

interface PendingServerRequest {
  verb: SniffVerb;
  clientId: string;
  resolve(r: SniffResponse): void;
}

const claimed: InterceptResult = { kind: 'ack', reasonCode: 0 };

export function createStoreServer(core: BrokerCore, options: StoreServerOptions): StoreServer {
  const clock = options.clock ?? systemClock;
  const log = (options.log ?? core.log).child({ component: 'store-server' });
  const storeDir = join(options.dataDir, 'store');
  const faults = options.faults ?? {};
  const topics = new TopicTable();
  const results = new ResultLog(join(storeDir, 'results.jsonl'));
  const limits = options.maxCurrentSession ?? {};
  const tokens = new SessionTokens(clock, (job) => limits[job] ?? options.maxCurrentSessionDefault ?? 15, options.tokenTtlMs ?? 600_000);
  const pending = new Map<string, PendingServerRequest>();
  const timers = new Set<() => void>();

  const context: StoreServerContext = {
    core,
    log,
    clock,
    storeDir,
    faults,
    prng: createPrng(faults.seed ?? 1),
    nftp: {
      blockSize: options.nftp?.blockSize ?? 32 * 1024,
      width: options.nftp?.width ?? 'u16',
      stallMs: options.nftp?.stallMs ?? 500,
      helloWaitMs: options.nftp?.helloWaitMs ?? 60_000,
      givemeBurst: options.nftp?.givemeBurst ?? 8,
    },
    respond(incoming, fields) {
      publishLater(snifferTopic(incoming.verb, incoming.clientId), encodeSnifferResponse(incoming.fields, fields));
    },
    request(verb, clientId, body, timeoutMs = 10_000) {
      const requestId = typeof body.request_id === 'string' ? body.request_id : newRequestId();
      const req = { ...body, request_id: requestId };
      return new Promise<SniffResponse>((resolve, reject) => {
        const cancel = clock.after(timeoutMs, () => {
          timers.delete(cancel);
          pending.delete(req.request_id);
          reject(new FtError('TIMEOUT', `client ${clientId} did not answer the ${verb} request ${req.request_id}`, { transient: true }));
        });
        timers.add(cancel);
        pending.set(req.request_id, {
          verb,
          clientId,
          resolve: (r) => {
            cancel();
            timers.delete(cancel);
            pending.delete(req.request_id);
            resolve(r);
          },
        });
        publishLater(snifferTopic(verb, clientId), Buffer.from(JSON.stringify(req), 'utf8'));
      });
    },
    allocateTopic: (clientId, handler) => topics.allocate(clientId, handler),
    releaseTopic(topic) {
      // Kept claimed (publishes dropped) for a while: the agent's sender may still be answering a late
      // GIVEME, and an unclaimed `$file/…` publish would reach the EMQX file-transfer emulation.
      if (!topics.get(topic)) return;
      topics.quiet(topic);
      const cancel = clock.after(options.topicGraceMs ?? 120_000, () => {
        timers.delete(cancel);
        topics.release(topic);
      });
      timers.add(cancel);
    },
    topicLink: (topic) => ({
      publish: async (payload) => core.publish({ topic, payload: Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), qos: 1 }),
    }),
    record: (result: StoreResult) => results.record(result),
  };

  const handlers = new Map<SniffVerb, StoreVerbHandler>();
  for (const h of createSlotHandlers({ tokens, waitTimeoutMs: options.waitTimeoutMs ?? 1000 })) handlers.set(h.verb, h);
  for (const h of options.handlers ?? []) handlers.set(h.verb, h);

  /** Answers go out after the PUBACK of the message they answer, as a real server's would. */
  function publishLater(topic: string, payload: Buffer): void {
    setImmediate(() => core.publish({ topic, payload, qos: 1 }));
  }

  function onPublish(msg: InboundPublish): InterceptResult | null {
    const nftp = topics.get(msg.topic);
    if (nftp) {
      if (nftp.clientId === msg.clientId) nftp.handler(msg.payload, msg);
      else log.warn({ topic: msg.topic, clientId: msg.clientId, owner: nftp.clientId }, 'store: publish on a topic allocated to another client dropped');
      return claimed;
    }
    const where = parseSnifferTopic(msg.topic);
    if (!where) return null;
    const handler = handlers.get(where.verb);
    if (!handler && pending.size === 0) return null;
    if (where.clientId !== msg.clientId) {
      log.warn({ topic: msg.topic, clientId: msg.clientId }, "store: a client published on another client's topic; dropped");
      return claimed;
    }
    let decoded;
    try {
      decoded = decodeSnifferMessage(msg.topic, msg.payload);
    } catch (err) {
      log.warn({ err: err instanceof Error ? err.message : String(err) }, 'store: malformed message dropped');
      return claimed;
    }
    if (decoded.kind === 'response') {
      const p = pending.get(decoded.response.request_id);
      if (p && p.clientId === msg.clientId && p.verb === decoded.verb) p.resolve(decoded.response);
      else handler?.onResponse?.(decoded.response, msg.clientId, context);
      return claimed;
    }
    if (!handler?.onRequest) return null;
    const incoming: StoreIncoming = { verb: decoded.verb, clientId: msg.clientId, request: decoded.request, fields: decoded.fields };
    try {
      handler.onRequest(incoming, context);
    } catch (err) {
      log.error({ err, verb: decoded.verb }, 'store handler failed');
      context.respond(incoming, { ack: 'ERROR', reason: 'internal error' });
    }
    return claimed;
  }

  return {
    name: 'store-server',
    context,
    results,
    tokens,
    onPublish,
    onDisconnect(clientId) {
      for (const h of new Set(handlers.values())) {
        try {
          h.onDisconnect?.(clientId, context);
        } catch (err) {
          log.error({ err }, 'store handler failed on disconnect');
        }
      }
    },
    async close() {
      for (const cancel of timers) cancel();
      timers.clear();
      tokens.clear();
      for (const h of new Set(handlers.values())) await h.close?.();
    },
  };
}
