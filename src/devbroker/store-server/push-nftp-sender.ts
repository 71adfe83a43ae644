/**
 * The store server as an nftp sender (push and download): its own sender (nftp/sender.ts, no code
 * shared with the agent) on a freshly allocated
 * `$file/<32 hex>` topic, publishing through the store server's topic link (optionally through the
 * fault wrapper) and fed the client's ACK/GIVEME by the topic table, which claims them.
 *
 * Prepared and started in two steps: the topic goes into the push request or download answer first,
 * HELLO only once the client can hear it.
 */
import { NftpFileSender, type SendResult } from './nftp/sender';
import { faultyNftpLink, hasSendFaults, type FaultyLinkStats, type NftpSendFaults } from './push-faults';
import type { StoreServerContext } from './types';

export interface StoreNftpSendOptions {
  clientId: string;
  /** Absolute path of the file to send (already confined by the caller). */
  file: string;
  /** Name for HELLO (its base name is sent); the receiver never places the file by it. */
  name: string;
  faults?: NftpSendFaults;
  /** Quiet time after END before the session ends (answering GIVEME meanwhile). Default 30 s. */
  lingerMs?: number;
  /** First wait for the ACK (doubles per resend). Default 5 s. */
  helloTimeoutMs?: number;
  intervalMs?: number;
  window?: number;
}

export interface StoreNftpSend {
  readonly topic: string;
  readonly faultStats: FaultyLinkStats | undefined;
  /** Sends HELLO and the blocks; settles after the linger (or a failure). The topic is released then. */
  start(): Promise<SendResult>;
  abort(reason?: string): void;
}

export async function prepareStoreNftpSend(ctx: StoreServerContext, options: StoreNftpSendOptions): Promise<StoreNftpSend> {
  const { blockSize, width } = ctx.nftp;
  let sender: NftpFileSender | undefined;
  const topic = ctx.allocateTopic(options.clientId, (payload) => sender?.receive(payload));
  const plain = ctx.topicLink(topic);
  const faulty = hasSendFaults(options.faults) ? faultyNftpLink(plain, options.faults ?? {}, width) : undefined;
  const link = faulty?.link ?? plain;
  const s = new NftpFileSender({
    file: options.file,
    name: options.name,
    blockSize,
    width,
    publish: (bytes) => link.publish(bytes),
    clock: ctx.clock,
    log: ctx.log.child({ store: 'nftp-send', topic, clientId: options.clientId }),
    hello: { ...(options.helloTimeoutMs !== undefined ? { firstWaitMs: options.helloTimeoutMs } : {}) },
    pace: {
      ...(options.lingerMs !== undefined ? { quietMs: options.lingerMs } : {}),
      ...(options.intervalMs !== undefined ? { pauseMs: options.intervalMs } : {}),
      ...(options.window !== undefined ? { burst: options.window } : {}),
    },
  });
  try {
    await s.prepare();
  } catch (err) {
    ctx.releaseTopic(topic);
    throw err;
  }
  sender = s;
  let started: Promise<SendResult> | undefined;
  return {
    topic,
    faultStats: faulty?.stats,
    start() {
      started ??= s.run().finally(() => ctx.releaseTopic(topic));
      return started;
    },
    abort(reason) {
      s.abort(reason ?? 'aborted');
      if (!started) {
        ctx.releaseTopic(topic);
        void s.close();
      }
    },
  };
}
