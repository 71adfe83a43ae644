/**
 * The seeded fuzz run that is part of `npm test`: 2,000 generated inputs per decoder, no crash and
 * no input slower than the bound. `npm run fuzz` runs the same targets with 100,000 inputs each.
 */
import { describe, expect, it } from 'vitest';
import { fuzz } from './engine';
import { fuzzTargets } from './targets';

describe('fuzzing every decoder of peer and file input', () => {
  for (const target of fuzzTargets) {
    it(`${target.name}: 2,000 inputs, no crash, no hang`, async () => {
      const report = await fuzz(target, { count: 2000, seed: 20261204, maxMsPerInput: 1000 });
      expect(report.findings).toEqual([]);
      expect(report.inputs).toBe(2000);
      // The mutations must reach past the first check: some inputs are decoded, some refused.
      expect(report.rejected).toBeGreaterThan(0);
      expect(report.accepted).toBeGreaterThan(0);
    }, 120_000);
  }
});
