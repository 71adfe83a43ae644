/**
 * The nftp topics the store server has allocated: `$file/<32 hex>`, unique, each bound to the client
 * it was given to. Publishes on one are claimed before the EMQX file-transfer emulation (which would
 * take every `$file/…` publish for its own) and never routed to other subscribers.
 */
import { randomBytes } from 'node:crypto';
import type { NftpTopicHandler } from './types';

interface Entry {
  clientId: string;
  handler: NftpTopicHandler;
}

export class TopicTable {
  private readonly topics = new Map<string, Entry>();

  allocate(clientId: string, handler: NftpTopicHandler): string {
    for (;;) {
      const topic = `$file/${randomBytes(16).toString('hex')}`;
      if (this.topics.has(topic)) continue;
      this.topics.set(topic, { clientId, handler });
      return topic;
    }
  }

  get(topic: string): Entry | undefined {
    return this.topics.get(topic);
  }

  /** Keeps the topic claimed but drops what arrives on it. */
  quiet(topic: string): void {
    const e = this.topics.get(topic);
    if (e) e.handler = () => undefined;
  }

  release(topic: string): void {
    this.topics.delete(topic);
  }

  get size(): number {
    return this.topics.size;
  }
}
