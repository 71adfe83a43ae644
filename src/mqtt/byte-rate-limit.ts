/**
 * A cap on the bytes ftagent publishes per second, shared by every transfer on a device: a store's
 * uplink also carries its tills. A token bucket holding at most one second of budget: a publish may
 * overdraw it, and nothing more goes out until it is paid back.
 */
import type { Clock } from '../time/clock';

export class ByteRateLimit {
  private tokens: number;
  private updatedAt: number;

  constructor(
    readonly bytesPerSecond: number,
    private readonly clock: Clock,
  ) {
    if (!Number.isFinite(bytesPerSecond) || bytesPerSecond <= 0) throw new RangeError(`bytesPerSecond must be positive, got ${bytesPerSecond}`);
    this.tokens = bytesPerSecond;
    this.updatedAt = clock.now();
  }

  /** Spends the budget for a publish of `bytes` (it goes out now, even if that overdraws). */
  take(bytes: number): void {
    this.refill();
    this.tokens -= bytes;
  }

  /** How long until the next publish may go out: 0 now, else the ms until the debt is paid. */
  waitMs(): number {
    this.refill();
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens * 1000) / this.bytesPerSecond);
  }

  private refill(): void {
    const now = this.clock.now();
    this.tokens = Math.min(this.bytesPerSecond, this.tokens + ((now - this.updatedAt) * this.bytesPerSecond) / 1000);
    this.updatedAt = now;
  }
}

/** Parses `--max-rate`-style values: bytes per second, with an optional k / M / G suffix (1024-based). */
export function parseByteRate(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([kKmMgG]?)(?:i?B)?(?:\/s)?$/.exec(text.trim());
  if (!m || m[1] === undefined) return undefined;
  const scale = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(m[2] ?? '').toLowerCase()] ?? 1;
  const value = Math.floor(Number(m[1]) * scale);
  return value > 0 ? value : undefined;
}
