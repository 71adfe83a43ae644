/**
 * When the status document goes out, on a fake clock: at connect, on a change no sooner than
 * statusMinGapSeconds after the previous one, never for an unchanged document before
 * statusIntervalSeconds, and always once that interval has passed. The spool is real; the MQTT
 * client is a stand-in that acknowledges every publish.
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { EventOutbox } from '../../src/fleet/event-outbox';
import { FleetPlane } from '../../src/fleet/fleet-plane';
import { fleetTopics } from '../../src/fleet/topics';
import { SpoolIndex } from '../../src/jobs/spool-index';
import type { Connection, ConnectionEvent } from '../../src/mqtt/connection';
import { createNodeDurableFs } from '../../src/storage/node-fs';
import { Spool } from '../../src/storage/spool';
import { FakeClock, flush } from '../helpers/fake-clock';
import { quietLog, until } from '../daemon/helpers';

const root = mkdtempSync(join(tmpdir(), 'ftagent-status-rate-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

class AckingClient extends EventEmitter {
  connected = true;
  options = { protocolVersion: 5 };
  readonly published: { topic: string; doc: Record<string, unknown>; retain: boolean }[] = [];
  publish(topic: string, payload: Buffer, opts: { retain?: boolean }, cb: (err?: Error) => void): void {
    this.published.push({ topic, doc: JSON.parse(payload.toString('utf8')) as Record<string, unknown>, retain: opts.retain === true });
    setImmediate(() => cb());
  }
}

describe('status publishing', () => {
  it('at connect, on change after the minimum gap, and on the interval when nothing changed', async () => {
    const fs = createNodeDurableFs();
    const stateDir = join(root, 'state');
    const spool = await Spool.open(fs, stateDir);
    const clock = new FakeClock(1_000_000);
    const topics = fleetTopics('ftagent/{clientId}', 'gw');
    let builds = 0;
    const plane = new FleetPlane({
      topics,
      outbox: new EventOutbox(fs, stateDir, 10),
      sources: {
        spool,
        index: new SpoolIndex(spool),
        fs,
        stateDir,
        storeEnabled: false,
        running: () => [],
        pendingEvents: async () => {
          builds++;
          return 0;
        },
        droppedEvents: () => 0,
      },
      facts: { clientId: 'gw', startedAt: clock.now(), lastError: null, lastSuccessAt: null },
      remote: undefined,
      statusIntervalMs: 300_000,
      statusMinGapMs: 5_000,
      offlineWaitMs: 1000,
      clock,
      logger: quietLog,
    });
    const client = new AckingClient();
    let listener: ((e: ConnectionEvent) => void) | undefined;
    const connection = { listen: (l: (e: ConnectionEvent) => void) => ((listener = l), () => undefined), currentClient: () => client } as unknown as Connection;
    plane.start();
    plane.attach(connection);
    listener!({ kind: 'up', client: client as unknown as MqttClient, url: 'mqtt://x', limits: { receiveMaximum: 32, maximumPacketSize: 1 << 20 } });
    await clock.advance(0);
    await until('the status at connect', () => client.published.length === 1);
    expect(client.published[0]).toMatchObject({ topic: 'ftagent/gw/status', retain: true, doc: { online: true, queue: { jobs: 0 } } });

    await spool.enqueue({ kind: 'upload', file: '/data/a.jpg' });
    plane.changed();
    await clock.advance(4_999);
    expect(client.published.length).toBe(1);
    await clock.advance(1);
    await until('the changed status', () => client.published.length === 2);
    expect(client.published[1]?.doc).toMatchObject({ queue: { jobs: 1 } });

    // Polls that find the same document publish nothing until the interval has passed.
    // Each poll is awaited (its next one scheduled) before time moves on.
    const poll = async (): Promise<void> => {
      const n = builds;
      await until('the next poll is scheduled', () => clock.pendingTimers === 1);
      await clock.advance(5_000);
      await until('a poll built the document', () => builds > n);
      await until('the poll finished', () => clock.pendingTimers === 1);
    };
    await poll();
    await flush();
    expect(client.published.length).toBe(2);
    // The second document went out at +5 s; the interval ends at +305 s.
    for (let t = 10_000; t < 305_000; t += 5_000) {
      expect(client.published.length).toBe(2);
      await poll();
    }
    await until('the interval status', () => client.published.length === 3);
    expect(client.published[2]?.doc).toMatchObject({ online: true, queue: { jobs: 1 } });

    await plane.stop();
    expect(client.published[3]?.doc).toMatchObject({ online: false, reason: 'stopped' });
  }, 60_000);
});
