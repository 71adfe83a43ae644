/**
 * The store server as an nftp sender (push and download): an NftpSender on a freshly allocated
 * `$file/<32 hex>` topic, publishing through the store server's topic link (optionally through the
 * fault wrapper) and fed the client's ACK/GIVEME by the topic table, which claims them.
 *
 * Prepared and started in two steps: the topic goes into the push request or download answer first,
 * HELLO only once the client can hear it.
 */
import { openNftpFileSource, type NftpFileSource } from '../../transfer/nftp-file-source';
import { NftpSender, type NftpSendResult } from '../../transfer/nftp-sender';
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
  start(): Promise<NftpSendResult>;
  abort(reason?: string): void;
}

export async function prepareStoreNftpSend(ctx: StoreServerContext, options: StoreNftpSendOptions): Promise<StoreNftpSend> {
  const { blockSize, width } = ctx.nftp;
  const source: NftpFileSource = await openNftpFileSource(options.file, blockSize);
  let sender: NftpSender | undefined;
  const topic = ctx.allocateTopic(options.clientId, (payload) => sender?.receive(payload));
  const plain = ctx.topicLink(topic);
  const faulty = hasSendFaults(options.faults) ? faultyNftpLink(plain, options.faults ?? {}, width) : undefined;
  const cleanup = async (): Promise<void> => {
    ctx.releaseTopic(topic);
    await source.close().catch(() => undefined);
  };
  try {
    sender = new NftpSender({
      link: faulty?.link ?? plain,
      source,
      clock: ctx.clock,
      log: ctx.log.child({ store: 'nftp-send', topic, clientId: options.clientId }),
      name: options.name,
      blockSize,
      width,
      topic,
      ...(options.lingerMs !== undefined ? { lingerMs: options.lingerMs } : {}),
      ...(options.helloTimeoutMs !== undefined ? { helloTimeoutMs: options.helloTimeoutMs } : {}),
      ...(options.intervalMs !== undefined ? { intervalMs: options.intervalMs } : {}),
      ...(options.window !== undefined ? { window: options.window } : {}),
    });
  } catch (err) {
    await cleanup();
    throw err;
  }
  const s = sender;
  let started: Promise<NftpSendResult> | undefined;
  return {
    topic,
    faultStats: faulty?.stats,
    start() {
      started ??= s.run().finally(cleanup);
      return started;
    },
    abort(reason) {
      if (started) s.abort(reason);
      else void cleanup();
    },
  };
}
