import type { SegmentFragment } from './segment-store';

/**
 * The coverage search of `emqx_ft_assembly` (docs/emqx-ft.md §5): segments are edges offset → offset+len and
 * the file is any chain of them from 0 to exactly `size`. Empty segments are ignored, a segment
 * past the end cannot finish a chain, and overlapping segments whose boundaries do not line up
 * leave a gap. EMQX runs Dijkstra with all local weights 0, so any chain is as good as another.
 *
 * Returns the chain, or null when the file is incomplete.
 */
export function findCoverage(segments: SegmentFragment[], size: bigint): SegmentFragment[] | null {
  if (size < 0n || size > BigInt(Number.MAX_SAFE_INTEGER)) return null;
  const end = Number(size);
  const edges = new Map<number, SegmentFragment[]>();
  for (const seg of segments) {
    if (seg.length === 0 || seg.offset + seg.length > end) continue;
    const list = edges.get(seg.offset);
    if (list) list.push(seg);
    else edges.set(seg.offset, [seg]);
  }
  // Longer segments first: fewer files to read. Depth-first, each offset visited once.
  for (const list of edges.values()) list.sort((a, b) => b.length - a.length);
  const via = new Map<number, SegmentFragment>();
  const stack = [0];
  const seen = new Set<number>([0]);
  while (stack.length > 0) {
    const at = stack.pop() as number;
    if (at === end) break;
    for (const seg of [...(edges.get(at) ?? [])].reverse()) {
      const next = seg.offset + seg.length;
      if (seen.has(next)) continue;
      seen.add(next);
      via.set(next, seg);
      stack.push(next);
    }
  }
  if (!seen.has(end)) return null;
  const chain: SegmentFragment[] = [];
  for (let at = end; at !== 0;) {
    const seg = via.get(at) as SegmentFragment;
    chain.push(seg);
    at = seg.offset;
  }
  return chain.reverse();
}
