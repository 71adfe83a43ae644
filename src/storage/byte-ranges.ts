/**
 * Byte intervals as a checkpoint stores them: sorted, merged, half-open [start, end).
 * Only what the storage layer needs to check and measure them. The upload engine keeps its live
 * set in transfer/emqx-ft/range-set.ts, built on this type and sum (its arrays drop straight into a Checkpoint);
 * storage sits below transfer and must not import it.
 */
export type ByteRange = readonly [start: number, end: number];

/** True when `ranges` is in merged form: safe non-negative integers, non-empty, sorted, neither overlapping nor touching. */
export function isMerged(ranges: readonly ByteRange[]): boolean {
  return ranges.every(([s, e], i) => {
    const prev = ranges[i - 1];
    return Number.isSafeInteger(s) && Number.isSafeInteger(e) && s >= 0 && e > s && (!prev || s > prev[1]);
  });
}

/** Bytes covered by merged ranges. */
export function totalBytes(ranges: readonly ByteRange[]): number {
  return ranges.reduce((sum, [s, e]) => sum + (e - s), 0);
}
