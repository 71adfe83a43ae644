import { describe, expect, it } from 'vitest';
import { ReconnectBudget } from '../../src/mqtt/reconnect-budget';

const bounds = { maxAttempts: 3, maxStalledCycles: 4, stableMs: 60_000 };
const policy = { baseMs: 100, capMs: 1_000_000 };
const top = (): number => 0.999999;

describe('reconnect budget', () => {
  it('gives up after maxStalledCycles connected cycles without progress, with a growing backoff', () => {
    const b = new ReconnectBudget(bounds);
    const ceilings: number[] = [];
    const verdicts: string[] = [];
    for (let i = 0; i < 4; i++) {
      b.connected(i * 1000);
      verdicts.push(b.lost(i * 1000 + 10));
      ceilings.push(b.delayMs(policy, top));
    }
    expect(verdicts).toEqual(['retry', 'retry', 'retry', 'stalled']);
    // A CONNACK does not reset the exponent: each stalled cycle doubles the ceiling.
    expect(ceilings.map((c) => Math.round(c / 100))).toEqual([2, 4, 8, 16]);
  });

  it('progress during a cycle, or a link that stayed up for stableMs, starts the count again', () => {
    const b = new ReconnectBudget(bounds);
    for (let i = 0; i < 3; i++) {
      b.connected(0);
      b.lost(10);
    }
    expect(b.stalls).toBe(3);
    b.connected(0);
    b.progress();
    expect(b.lost(10)).toBe('retry');
    expect(b.stalls).toBe(0);
    b.connected(0);
    b.lost(10);
    b.connected(100);
    expect(b.lost(100 + 60_000)).toBe('retry');
    expect(b.stalls).toBe(0);
    expect(b.everProgressed).toBe(true);
  });

  it('counts failed attempts separately and resets them at a CONNACK', () => {
    const b = new ReconnectBudget(bounds);
    expect([b.failed(), b.failed()]).toEqual(['retry', 'retry']);
    b.connected(0);
    expect(b.failures).toBe(0);
    expect([b.failed(), b.failed(), b.failed()]).toEqual(['retry', 'retry', 'attempts-exhausted']);
  });
});
