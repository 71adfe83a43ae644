/**
 * A small seeded pseudo-random generator (mulberry32) for fault injection. Every random choice the
 * development broker makes for a fault comes from one of these, so a run with the same `seed`
 * makes the same choices and a failing test can be replayed. Not for anything secret.
 */
export type Prng = () => number;

/** Returns a function giving numbers in [0, 1), the same sequence for the same seed. */
export function createPrng(seed: number): Prng {
  let state = Math.trunc(seed) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** True with probability `rate` (0..1); rate 0 never consumes a number, so adding a zero-rate fault keeps sequences stable. */
export function chance(prng: Prng, rate: number | undefined): boolean {
  if (rate === undefined || rate <= 0) return false;
  return prng() < rate;
}
