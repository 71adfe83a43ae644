/** A set of byte ranges kept as sorted, merged, half-open [start, end) intervals. */
import { totalBytes, type ByteRange } from '../../storage/byte-ranges';

export type { ByteRange };

export class RangeSet {
  private ranges: Array<[number, number]> = [];

  constructor(initial: readonly ByteRange[] = []) {
    for (const [s, e] of initial) this.add(s, e);
  }

  add(start: number, end: number): void {
    if (end <= start) return;
    let s = start;
    let e = end;
    const out: Array<[number, number]> = [];
    let placed = false;
    for (const r of this.ranges) {
      if (r[1] < s) out.push(r);
      else if (r[0] > e) {
        if (!placed) {
          out.push([s, e]);
          placed = true;
        }
        out.push(r);
      } else {
        s = Math.min(s, r[0]);
        e = Math.max(e, r[1]);
      }
    }
    if (!placed) out.push([s, e]);
    this.ranges = out;
  }

  clear(): void {
    this.ranges = [];
  }

  /** Takes [start, end) out of the set. */
  remove(start: number, end: number): void {
    if (end <= start) return;
    const out: Array<[number, number]> = [];
    for (const [s, e] of this.ranges) {
      if (e <= start || s >= end) out.push([s, e]);
      else {
        if (s < start) out.push([s, start]);
        if (e > end) out.push([end, e]);
      }
    }
    this.ranges = out;
  }

  /** The parts of [start, end) not in the set, in order. */
  gaps(start: number, end: number): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    let cursor = start;
    for (const [s, e] of this.ranges) {
      if (e <= cursor) continue;
      if (s >= end) break;
      if (s > cursor) out.push([cursor, Math.min(s, end)]);
      cursor = Math.max(cursor, e);
      if (cursor >= end) break;
    }
    if (cursor < end) out.push([cursor, end]);
    return out;
  }

  covers(start: number, end: number): boolean {
    return this.gaps(start, end).length === 0;
  }

  total(): number {
    return totalBytes(this.ranges);
  }

  toArray(): Array<[number, number]> {
    return this.ranges.map(([s, e]) => [s, e]);
  }
}
