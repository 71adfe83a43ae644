/**
 * Which broker (by URL) confirmed which byte ranges of one upload. EMQX keeps a segment on the
 * cluster node that received it; when that node is lost, `fin` answers `incomplete`. Knowing who
 * confirmed what lets the upload send again only what the lost nodes held instead of the whole
 * file (docs/emqx-interop.md, "Clusters"). Kept in the checkpoint, so a restart does not forget it.
 */
import { RangeSet, type ByteRange } from './range-set';

/** Node URL → the merged ranges it confirmed. */
export type NodeRangesRecord = Record<string, ByteRange[]>;

export class NodeRanges {
  private readonly byNode = new Map<string, RangeSet>();

  constructor(initial: Readonly<NodeRangesRecord> = {}) {
    for (const [node, ranges] of Object.entries(initial)) this.byNode.set(node, new RangeSet(ranges));
  }

  confirm(node: string, start: number, end: number): void {
    let set = this.byNode.get(node);
    if (!set) this.byNode.set(node, (set = new RangeSet()));
    set.add(start, end);
  }

  /** The ranges some other node confirmed and `node` did not: what a move to `node` may have lost. */
  heldOnlyElsewhere(node: string): Array<[number, number]> {
    const here = this.byNode.get(node) ?? new RangeSet();
    const out = new RangeSet();
    for (const [other, set] of this.byNode) {
      if (other === node) continue;
      for (const [s, e] of set.toArray()) for (const [gs, ge] of here.gaps(s, e)) out.add(gs, ge);
    }
    return out.toArray();
  }

  clear(): void {
    this.byNode.clear();
  }

  toRecord(): NodeRangesRecord {
    const out = Object.create(null) as NodeRangesRecord;
    for (const [node, set] of this.byNode) out[node] = set.toArray();
    return out;
  }
}
