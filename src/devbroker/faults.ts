import type { BrokerFaults } from './types';

/**
 * The connection faults the core injects. Both are counters or clocks, not random, so the same
 * client behaviour always meets the same faults.
 */
export interface ConnectionFaults {
  /** True while the broker should answer CONNECT with "server unavailable". */
  refusingConnections(): boolean;
  /** A fresh per-connection counter: returns true for the PUBLISH that should kill the connection. */
  publishDropper(): () => boolean;
}

export function createConnectionFaults(faults: BrokerFaults | undefined, startedAt: number, now: () => number = Date.now): ConnectionFaults {
  const refuseUntil = startedAt + (faults?.refuseConnectionsForMs ?? 0);
  const dropEvery = faults?.dropEveryNPublishes ?? 0;
  return {
    refusingConnections: () => now() < refuseUntil,
    publishDropper() {
      if (!(dropEvery > 0)) return () => false;
      let count = 0;
      return () => {
        count++;
        return count % dropEvery === 0;
      };
    },
  };
}
