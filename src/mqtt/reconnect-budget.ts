/**
 * How long a Connection keeps reconnecting. Two kinds of trouble count against it:
 * - failed attempts (no CONNACK, refused): reset by the next CONNACK, since the address works;
 * - stalled cycles: connected, then lost the link before anything was acknowledged. A broker that
 *   drops every publish (or chokes on one command) answers every CONNACK, so resetting at CONNACK
 *   would reconnect forever at the fastest pace. These reset only when the transfer made progress
 *   (`progress()`, e.g. a command acknowledged) or the link stayed up for `stableMs`.
 * The backoff exponent is the sum of both, so the pause grows across cycles that achieve nothing.
 */
import { backoffDelay, type BackoffPolicy } from '../time/backoff';

export interface ReconnectBounds {
  /** Consecutive failed connection attempts (over all URLs) before giving up. */
  maxAttempts: number;
  /** Consecutive connected-but-no-progress cycles before giving up. */
  maxStalledCycles: number;
  /** A link that stayed up this long counts as healthy even if nothing was sent on it. */
  stableMs: number;
}

export const defaultReconnectBounds: ReconnectBounds = { maxAttempts: 10, maxStalledCycles: 6, stableMs: 60_000 };

export type CycleVerdict = 'retry' | 'attempts-exhausted' | 'stalled';

export class ReconnectBudget {
  failures = 0;
  stalls = 0;
  private upAt: number | null = null;
  private progressThisCycle = false;
  /** Whether any cycle of this budget ever made progress (the daemon's supervisor asks). */
  everProgressed = false;

  constructor(private readonly bounds: ReconnectBounds) {}

  connected(now: number): void {
    this.failures = 0;
    this.upAt = now;
    this.progressThisCycle = false;
  }

  progress(): void {
    this.progressThisCycle = true;
    this.everProgressed = true;
    this.stalls = 0;
  }

  /** The link went down after a CONNACK. */
  lost(now: number): CycleVerdict {
    const lasted = this.upAt === null ? 0 : now - this.upAt;
    this.upAt = null;
    if (this.progressThisCycle || lasted >= this.bounds.stableMs) {
      this.stalls = 0;
      return 'retry';
    }
    this.stalls += 1;
    return this.stalls >= this.bounds.maxStalledCycles ? 'stalled' : 'retry';
  }

  /** An attempt ended without a usable connection. */
  failed(): CycleVerdict {
    this.failures += 1;
    return this.failures >= this.bounds.maxAttempts ? 'attempts-exhausted' : 'retry';
  }

  delayMs(policy: BackoffPolicy, random?: () => number): number {
    return backoffDelay(this.failures + this.stalls, policy, random);
  }
}
