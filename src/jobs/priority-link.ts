/**
 * High-priority jobs take the shared window first. Every job gets the daemon's one CommandLink;
 * normal and low ones get it through `yieldingLink`, which reports no free slot while a high job
 * runs. Their commands already in flight finish normally; they send nothing new until the last high
 * job ends, when they are woken with a `slot` event. So a small alarm picture queued behind a large
 * upload gets the whole window (and the whole byte budget) and finishes first.
 */
import type { CommandLink, LinkEvent } from '../mqtt/command-link';

export class PriorityGate {
  private high = 0;
  private readonly waiters = new Set<(e: LinkEvent) => void>();

  /** A high job started; the returned function ends it (call once). */
  enterHigh(): () => void {
    this.high += 1;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.high -= 1;
      if (this.high === 0) for (const w of [...this.waiters]) w({ kind: 'slot' });
    };
  }

  highRunning(): boolean {
    return this.high > 0;
  }

  /** The link as a normal or low job sees it. */
  yieldingLink(inner: CommandLink): CommandLink {
    const waiters = this.waiters;
    const highRunning = (): boolean => this.highRunning();
    return {
      get clientId() {
        return inner.clientId;
      },
      get protocolVersion() {
        return inner.protocolVersion;
      },
      isUp: () => inner.isUp(),
      currentUrl: () => inner.currentUrl(),
      limits: () => inner.limits(),
      freeSlots: () => (highRunning() ? 0 : inner.freeSlots()),
      send: (topic, payload, observer) => inner.send(topic, payload, observer),
      listen(listener) {
        const off = inner.listen(listener);
        waiters.add(listener);
        return () => {
          off();
          waiters.delete(listener);
        };
      },
    };
  }
}
