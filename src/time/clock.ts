/** Time as a port: the real clock in production, a fake one in session tests. */
export interface Clock {
  now(): number;
  /** Runs `fn` once after `ms`; the returned function cancels it. */
  after(ms: number, fn: () => void): () => void;
}

/** Node's timers fire at once for delays above 2^31 - 1 ms (about 24.8 days). */
export const maxTimerMs = 2 ** 31 - 1;

export const systemClock: Clock = {
  now: () => Date.now(),
  after: (ms, fn) => {
    // Longer waits are chained, so no caller can overflow the timer into an immediate firing.
    let t: NodeJS.Timeout;
    const arm = (left: number): void => {
      t = setTimeout(left > maxTimerMs ? () => arm(left - maxTimerMs) : fn, Math.min(left, maxTimerMs));
    };
    arm(ms);
    return () => clearTimeout(t);
  },
};

/** Sleeps on a clock; resolves false early when the signal aborts. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const onAbort = (): void => {
      cancel();
      resolve(false);
    };
    const cancel = clock.after(ms, () => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
