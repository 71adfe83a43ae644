import { describe, expect, it } from 'vitest';
import { isMerged, totalBytes } from '../../src/storage/byte-ranges';

describe('byte ranges', () => {
  it('recognises merged form', () => {
    expect(isMerged([])).toBe(true);
    expect(
      isMerged([
        [0, 1],
        [2, 3],
      ]),
    ).toBe(true);
    expect(
      isMerged([
        [0, 2],
        [2, 3],
      ]),
    ).toBe(false);
    expect(
      isMerged([
        [2, 3],
        [0, 1],
      ]),
    ).toBe(false);
    expect(isMerged([[1, 1]])).toBe(false);
    expect(isMerged([[-1, 1]])).toBe(false);
    expect(isMerged([[0.5, 1]])).toBe(false);
  });

  it('totals the bytes covered', () => {
    expect(
      totalBytes([
        [0, 10],
        [20, 30],
      ]),
    ).toBe(20);
    expect(totalBytes([])).toBe(0);
  });
});
