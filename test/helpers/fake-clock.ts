import type { Clock } from '../../src/time/clock';

/** Lets queued promise chains run (no real time passes in the sessions' view). */
export async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

interface Pending {
  due: number;
  id: number;
  fire: () => void;
}

/** A clock whose time moves only when a test says so; timers fire in due order. */
export class FakeClock implements Clock {
  private nextId = 0;
  private readonly timers = new Map<number, Pending>();

  /** `start` is the clock's first reading (a wall-clock time where schedules matter). */
  constructor(private t = 0) {}

  now(): number {
    return this.t;
  }

  after(delayMs: number, fire: () => void): () => void {
    const id = ++this.nextId;
    this.timers.set(id, { due: this.t + Math.max(0, delayMs), id, fire });
    return () => void this.timers.delete(id);
  }

  get pendingTimers(): number {
    return this.timers.size;
  }

  private earliest(): Pending | undefined {
    let best: Pending | undefined;
    for (const p of this.timers.values()) if (!best || p.due < best.due || (p.due === best.due && p.id < best.id)) best = p;
    return best;
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  async advance(ms: number): Promise<void> {
    const target = this.t + ms;
    for (;;) {
      await flush();
      const next = this.earliest();
      if (!next || next.due > target) break;
      this.timers.delete(next.id);
      this.t = next.due;
      next.fire();
    }
    this.t = target;
    await flush();
  }

  /**
   * Jumps from timer to timer until `promise` settles; fails if it would need more than `limitMs`.
   * `settle` lets real I/O (a file sink) finish before fake time moves on, so timers never fire early.
   */
  async runUntilSettled<T>(promise: Promise<T>, limitMs = 3_600_000, settle?: () => Promise<unknown>): Promise<T> {
    let settled = false;
    const watched = promise.then(
      (v) => ((settled = true), v),
      (e: unknown) => {
        settled = true;
        throw e;
      },
    );
    watched.catch(() => undefined);
    const deadline = this.t + limitMs;
    let idleRounds = 0;
    for (;;) {
      await flush();
      if (settle) await settle();
      if (settled) return watched;
      const next = this.earliest();
      if (!next) {
        // Real I/O outside the sessions' queues (closing files) may still be under way.
        if (++idleRounds > 500) throw new Error(`fake clock: nothing scheduled at t=${this.t} and the promise has not settled`);
        await new Promise<void>((resolve) => setTimeout(resolve, 1));
        continue;
      }
      idleRounds = 0;
      if (next.due > deadline) throw new Error(`fake clock: not settled within ${limitMs} ms`);
      this.timers.delete(next.id);
      this.t = next.due;
      next.fire();
    }
  }
}
