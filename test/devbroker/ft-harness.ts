import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { silentLogger } from '../../src/log';
import { createFileTransfer, type FileTransfer } from '../../src/devbroker/ft';
import type { BrokerCore, BrokerFaults, InboundPublish, OutboundMessage } from '../../src/devbroker/types';

/** Drives the file-transfer interceptor directly, with a fake core that records what it publishes. */
export interface FtResponse {
  packet_id: number;
  reason_code: number;
  reason_description: string;
  topic: string;
  vsn: string;
}

export class FtHarness {
  readonly published: OutboundMessage[] = [];
  readonly core: BrokerCore = { publish: (m) => this.published.push(m), log: silentLogger };
  ft: FileTransfer;
  private nextId = 1;

  private constructor(
    readonly dataDir: string,
    private faults: BrokerFaults | undefined,
  ) {
    this.ft = this.create();
  }

  static async create(faults?: BrokerFaults): Promise<FtHarness> {
    const dir = await mkdtemp(path.join(tmpdir(), 'ft-test-'));
    return new FtHarness(dir, faults);
  }

  private create(): FileTransfer {
    return createFileTransfer(this.core, { dataDir: this.dataDir, ...(this.faults ? { faults: this.faults } : {}) });
  }

  /** A broker restart: a new emulation over the same data directory. */
  async restart(faults?: BrokerFaults): Promise<void> {
    await this.ft.close();
    if (faults) this.faults = faults;
    this.ft = this.create();
  }

  async dispose(): Promise<void> {
    await this.ft.close();
    await rm(this.dataDir, { recursive: true, force: true });
  }

  message(topic: string, payload: Buffer | string = '', extra: Partial<InboundPublish> = {}): InboundPublish {
    return {
      clientId: 'c1',
      protocolVersion: 5,
      topic,
      payload: Buffer.isBuffer(payload) ? payload : Buffer.from(payload),
      qos: 1,
      messageId: this.nextId++,
      dup: false,
      retain: false,
      ...extra,
    };
  }

  /** The raw intercept result's ack code (awaited), or 'drop'/'null'. */
  async send(topic: string, payload: Buffer | string = '', extra: Partial<InboundPublish> = {}): Promise<number | 'drop' | null> {
    const result = this.ft.onPublish(this.message(topic, payload, extra));
    if (result === null) return null;
    if (result.kind === 'drop') return 'drop';
    return await result.reasonCode;
  }

  /** Send and also return the response to this command (waiting for it if needed). */
  async command(topic: string, payload: Buffer | string = '', extra: Partial<InboundPublish> = {}): Promise<{ rc: number | 'drop' | null; response: FtResponse }> {
    const msg = this.message(topic, payload, extra);
    const result = this.ft.onPublish(msg);
    const rc = result === null ? null : result.kind === 'drop' ? 'drop' : await result.reasonCode;
    const response = await this.waitResponse((r) => r.topic === topic && r.packet_id === msg.messageId);
    return { rc, response };
  }

  responses(): FtResponse[] {
    return this.published.map((m) => JSON.parse(m.payload.toString()) as FtResponse);
  }

  async waitResponse(match: (r: FtResponse) => boolean, timeoutMs = 5000): Promise<FtResponse> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.responses().find(match);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no matching $file-response; got ${JSON.stringify(this.responses())}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}
