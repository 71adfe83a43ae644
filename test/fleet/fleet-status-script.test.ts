/**
 * The example consumer prints the fleet as a backend would see it: one row per gateway from the
 * retained status topics, a live daemon online with its queue, a gateway whose will fired offline.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon } from '../../src/daemon/daemon';
import type { RunningBroker } from '../../src/devbroker/index';
import { createNodeDurableFs } from '../../src/storage/node-fs';
import { repoRoot } from '../helpers/fresh-bundles';
import { broker, daemonConfig, quietLog } from '../daemon/helpers';
import { Observer } from './helpers';

let root: string;
let b: (RunningBroker & { dataDir: string }) | undefined;
let daemon: Daemon | undefined;
beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'ftagent-fleet-script-'));
  b = await broker(join(root, 'broker'));
});
afterAll(async () => {
  await daemon?.stop();
  await b?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('scripts/fleet-status.mjs', () => {
  it('prints one row per gateway from the retained status documents', async () => {
    const config = await daemonConfig(join(root, 'state'), b!.port, { clientId: 'store-0042-gw', fleet: { statusMinGapSeconds: 0 } });
    daemon = await Daemon.start({ config, fs: createNodeDurableFs(), logger: quietLog, pollMs: 100 });
    const watcher = await Observer.open(`mqtt://127.0.0.1:${b!.port}`, ['ftagent/+/status']);
    await watcher.waitFor('online', (s) => s.json.clientId === 'store-0042-gw' && s.json.online === true);
    await watcher.close();
    // A gateway that lost power: its will left this retained.
    const other = await Observer.open(`mqtt://127.0.0.1:${b!.port}`, []);
    await other.client.publishAsync(
      'ftagent/store-0007-gw/status',
      JSON.stringify({ online: false, clientId: 'store-0007-gw', version: '0.1.0', startedAt: '2026-12-04T08:00:00.000Z', reason: 'connection lost' }),
      { qos: 1, retain: true },
    );
    await other.close();

    const run = await promisify(execFile)(process.execPath, [join(repoRoot, 'scripts', 'fleet-status.mjs'), '--broker', `mqtt://127.0.0.1:${b!.port}`, '--wait-ms', '500']);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^GATEWAY\s+STATE\s+VERSION\s+UPTIME\s+QUEUED\s+BYTES\s+ACTIVE\s+LAST ERROR\s+LAST SUCCESS\s+FREE$/);
    expect(lines).toHaveLength(4);
    const cells = (line: string): string[] => line.split(/\s{2,}/);
    expect(cells(lines[1]!)).toEqual(['store-0007-gw', 'offline (connection lost)', '0.1.0', '-', '-']);
    const live = cells(lines[2]!);
    expect(live.slice(0, 2)).toEqual(['store-0042-gw', 'online']);
    expect(live[2]).toBe('0.0.0-dev');
    expect(live[4]).toBe('0');
    expect(live[5]).toBe('0 B');
    expect(live[live.length - 1]).toMatch(/^\d+(\.\d)? (B|KiB|MiB|GiB|TiB)$/);
    expect(lines[3]).toBe('2 gateway(s), 1 online');

    const json = await promisify(execFile)(process.execPath, [join(repoRoot, 'scripts', 'fleet-status.mjs'), '--broker', `mqtt://127.0.0.1:${b!.port}`, '--wait-ms', '500', '--json']);
    const docs = JSON.parse(json.stdout) as { clientId: string; online: boolean }[];
    expect(docs.map((d) => [d.clientId, d.online])).toEqual([
      ['store-0007-gw', false],
      ['store-0042-gw', true],
    ]);
  }, 60_000);
});
