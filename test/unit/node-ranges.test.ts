import { describe, expect, it } from 'vitest';
import { NodeRanges } from '../../src/transfer/emqx-ft/node-ranges';
import { RangeSet } from '../../src/transfer/emqx-ft/range-set';

describe('NodeRanges: which cluster node confirmed which bytes', () => {
  it('after a move to node B, what only node A confirmed is what may be lost', () => {
    const nodes = new NodeRanges();
    nodes.confirm('A', 0, 100);
    nodes.confirm('A', 100, 300);
    nodes.confirm('B', 300, 500);
    nodes.confirm('B', 200, 250); // re-sent to B after a reconnect
    expect(nodes.heldOnlyElsewhere('B')).toEqual([
      [0, 200],
      [250, 300],
    ]);
    expect(nodes.heldOnlyElsewhere('A')).toEqual([[300, 500]]);
    expect(nodes.heldOnlyElsewhere('C')).toEqual([[0, 500]]);
  });

  it('on one node nothing is held elsewhere', () => {
    const nodes = new NodeRanges();
    nodes.confirm('A', 0, 1000);
    expect(nodes.heldOnlyElsewhere('A')).toEqual([]);
  });

  it('survives its record form (the checkpoint), a node named __proto__ included', () => {
    const nodes = new NodeRanges();
    nodes.confirm('mqtt://n1:1883', 0, 10);
    nodes.confirm('__proto__', 10, 20);
    const again = new NodeRanges(JSON.parse(JSON.stringify(nodes.toRecord())) as Record<string, Array<[number, number]>>);
    expect(again.heldOnlyElsewhere('mqtt://n1:1883')).toEqual([[10, 20]]);
    expect(again.toRecord()).toEqual(nodes.toRecord());
  });

  it('RangeSet.remove takes a range out, splitting where needed', () => {
    const set = new RangeSet([
      [0, 100],
      [200, 300],
    ]);
    set.remove(50, 250);
    expect(set.toArray()).toEqual([
      [0, 50],
      [250, 300],
    ]);
    set.remove(0, 1000);
    expect(set.toArray()).toEqual([]);
  });
});
