import { describe, expect, it } from 'vitest';
import { ByteRateLimit, parseByteRate } from '../../src/mqtt/byte-rate-limit';
import { FakeClock } from '../helpers/fake-clock';

describe('byte rate limit', () => {
  it('lets one second of budget out at once, then makes the next publish wait for the debt', async () => {
    const clock = new FakeClock();
    const limit = new ByteRateLimit(1000, clock);
    limit.take(600);
    expect(limit.waitMs()).toBe(0);
    limit.take(600); // overdraws by 200 bytes: 200 ms at 1000 B/s
    expect(limit.waitMs()).toBe(200);
    await clock.advance(150);
    expect(limit.waitMs()).toBe(50);
    await clock.advance(50);
    expect(limit.waitMs()).toBe(0);
  });

  it('never saves up more than one second of budget while idle', async () => {
    const clock = new FakeClock();
    const limit = new ByteRateLimit(1000, clock);
    await clock.advance(60_000);
    limit.take(2000);
    expect(limit.waitMs()).toBe(1000);
  });

  it('holds the long-run rate: 10 000 bytes in 1000-byte publishes take 8 s (1 s of burst, one overdraw)', async () => {
    const clock = new FakeClock();
    const limit = new ByteRateLimit(1000, clock);
    const start = clock.now();
    for (let sent = 0; sent < 10_000; sent += 1000) {
      await clock.advance(limit.waitMs());
      limit.take(1000);
    }
    // Sent by time T: at most the one-second burst, plus T × rate, plus the publish that overdrew.
    expect(clock.now() - start).toBe(8000);
  });

  it('parses rates with k, M and G suffixes', () => {
    expect(parseByteRate('1048576')).toBe(1048576);
    expect(parseByteRate('512k')).toBe(512 * 1024);
    expect(parseByteRate('2M')).toBe(2 * 1024 * 1024);
    expect(parseByteRate('1.5MB/s')).toBe(1.5 * 1024 * 1024);
    expect(parseByteRate('0')).toBeUndefined();
    expect(parseByteRate('fast')).toBeUndefined();
  });
});
