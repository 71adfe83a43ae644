import { readdir } from 'node:fs/promises';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { BrokerFaults } from '../../src/devbroker/types';
import { FtHarness } from './ft-harness';

/** The file-transfer faults of `BrokerFaults`, all reproducible from `seed`. */
let h: FtHarness;
afterEach(async () => {
  await h.dispose();
});

async function frags(id: string): Promise<string[]> {
  return readdir(path.join(h.dataDir, 'segments', 'c1', id, 'frags')).catch(() => []);
}

describe('faults', () => {
  it('fileTransferDisabled: 0x10 for every command, nothing stored, no response', async () => {
    h = await FtHarness.create({ fileTransferDisabled: true });
    for (const t of ['$file/f/init', '$file/f/0', '$file-async/f/fin/1', '$file/f/bogus/x/y']) expect(await h.send(t, '{"name":"a"}')).toBe(0x10);
    expect(h.published).toEqual([]);
    await expect(readdir(h.dataDir)).resolves.toEqual([]);
  });

  it('segmentErrorRate: 0x80 with a response, segment not stored', async () => {
    h = await FtHarness.create({ segmentErrorRate: 1 });
    expect(await h.command('$file/f/0', 'abc')).toMatchObject({ rc: 0x80, response: { reason_code: 128, reason_description: 'internal_error' } });
    expect(await frags('f')).toEqual([]);
    // Only segments are affected.
    expect(await h.send('$file/f/init', '{"name":"a"}')).toBe(0);
  });

  it('segmentQuotaRate: 0x97, no response, not stored', async () => {
    h = await FtHarness.create({ segmentQuotaRate: 1 });
    expect(await h.send('$file-async/f/0', 'abc')).toBe(0x97);
    expect(h.published).toEqual([]);
    expect(await frags('f')).toEqual([]);
  });

  it('responseLossRate: acks as usual, responses never published', async () => {
    h = await FtHarness.create({ responseLossRate: 1 });
    expect(await h.send('$file/f/init', '{"name":"a"}')).toBe(0);
    expect(await h.send('$file/f/0', 'abc')).toBe(0);
    expect(await h.send('$file/f/fin/3')).toBe(0);
    expect(h.published).toEqual([]);
  });

  it('responseDelayMs: the response comes after the ack', async () => {
    h = await FtHarness.create({ responseDelayMs: 50 });
    expect(await h.send('$file/f/abort')).toBe(0);
    expect(h.published).toEqual([]);
    expect(await h.waitResponse((r) => r.topic === '$file/f/abort')).toMatchObject({ reason_code: 0 });
  });

  it('the same seed gives the same faults', async () => {
    const run = async (faults: BrokerFaults): Promise<(number | 'drop' | null)[]> => {
      h = await FtHarness.create(faults);
      const rcs: (number | 'drop' | null)[] = [];
      for (let i = 0; i < 30; i++) rcs.push(await h.send(`$file/f/${i}`, 'x'));
      await h.dispose();
      return rcs;
    };
    const faults = { seed: 42, segmentErrorRate: 0.3, segmentQuotaRate: 0.3 };
    const a = await run(faults);
    const b = await run(faults);
    expect(a).toEqual(b);
    expect(new Set(a)).toEqual(new Set([0, 0x80, 0x97]));
    h = await FtHarness.create();
  });
});
