import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EventOutbox } from '../../src/fleet/event-outbox';
import type { FleetEvent } from '../../src/fleet/events';
import { createNodeDurableFs } from '../../src/storage/node-fs';
import { quietLog } from '../daemon/helpers';

const root = mkdtempSync(join(tmpdir(), 'ftagent-outbox-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const cancelled = (job: string): FleetEvent => ({ type: 'job.cancelled', at: '2026-12-04T00:00:00.000Z', clientId: 'gw', job, file: `/f/${job}`, reason: 'x' });

describe('the event outbox', () => {
  it('keeps at most maxPendingEvents, dropping and counting the oldest, and hands them out oldest first', async () => {
    let t = 1000;
    const outbox = new EventOutbox(createNodeDurableFs(), join(root, 'bounded'), 3, quietLog, () => t++);
    for (let i = 1; i <= 5; i++) await outbox.add(cancelled(`j${i}`));
    expect(await outbox.pendingCount()).toBe(3);
    expect(outbox.dropped).toBe(2);
    const order: string[] = [];
    for (let next = await outbox.oldest(); next; next = await outbox.oldest()) {
      order.push((next.event as { job: string }).job);
      await outbox.remove(next.name);
    }
    expect(order).toEqual(['j3', 'j4', 'j5']);
  });

  it('deletes a damaged event file instead of sending it, and goes on with the next', async () => {
    const outbox = new EventOutbox(createNodeDurableFs(), join(root, 'damaged'), 10, quietLog, () => 5000);
    await outbox.add(cancelled('first'));
    await outbox.add(cancelled('second'));
    const first = await outbox.oldest();
    writeFileSync(join(outbox.dir, first!.name), 'ftagent-record v1 fleet-event/1 3 00\n{}');
    const next = await outbox.oldest();
    expect((next?.event as { job: string }).job).toBe('second');
    expect(await outbox.pendingCount()).toBe(1);
  });
});
