import type { FakeClock } from '../helpers/fake-clock';
import type { NftpLink } from '../../src/transfer/nftp/nftp-ports';

export type Side = 'sender' | 'receiver';

/** What happens to one message: dropped, delivered `copies` times, each after `delayMs`. */
export interface Fault {
  drop?: boolean;
  copies?: number;
  delayMs?: number;
}

export interface Delivery {
  from: Side;
  bytes: Uint8Array;
}

/**
 * One MQTT topic between two peers, with MQTT 5 No Local (nobody hears itself) and scripted faults.
 * Deliveries go through the fake clock, so different delays reorder messages.
 */
export class MemoryTopic {
  readonly published: Delivery[] = [];
  private readonly handlers = new Map<Side, (bytes: Uint8Array) => void>();

  constructor(
    private readonly clock: FakeClock,
    private readonly fault: (d: Delivery, index: number) => Fault = () => ({}),
    private readonly latencyMs = 1,
  ) {}

  attach(side: Side, receive: (bytes: Uint8Array) => void): void {
    this.handlers.set(side, receive);
  }

  link(from: Side): NftpLink {
    return {
      publish: async (payload) => {
        const d = { from, bytes: payload.slice() };
        const f = this.fault(d, this.published.length);
        this.published.push(d);
        if (f.drop) return;
        const to: Side = from === 'sender' ? 'receiver' : 'sender';
        for (let k = 0; k < (f.copies ?? 1); k++) {
          this.clock.after(this.latencyMs + (f.delayMs ?? 0), () => this.handlers.get(to)?.(d.bytes));
        }
      },
    };
  }
}
