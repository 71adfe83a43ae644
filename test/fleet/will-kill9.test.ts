/**
 * A gateway that loses power shows as offline: the daemon runs as a real process, announces itself
 * online (retained), is killed with SIGKILL, and the broker publishes its will, the retained
 * offline document. On the development broker and on Mosquitto.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentBundle, ensureFreshBundles } from '../helpers/fresh-bundles';
import { startMosquitto, tempDir, type Mosquitto } from '../interop/mosquitto';
import { broker } from '../daemon/helpers';
import type { RunningBroker } from '../../src/devbroker/index';
import { Observer } from './helpers';

let root: string;
let devbroker: RunningBroker | undefined;
let mosquitto: Mosquitto | undefined;
let removeMosquittoDir: () => void = () => undefined;
const children: ChildProcess[] = [];

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'ftagent-will-'));
  await ensureFreshBundles();
  devbroker = await broker(join(root, 'broker'));
  const t = tempDir('ftagent-will-mosquitto-');
  removeMosquittoDir = t.remove;
  mosquitto = await startMosquitto(t.dir);
}, 120_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await devbroker?.stop();
  await mosquitto?.stop();
  removeMosquittoDir();
  rmSync(root, { recursive: true, force: true });
});

describe('the will marks a killed daemon offline', () => {
  it.each([
    ['the development broker', '5', () => devbroker!.port],
    ['the development broker', '3.1.1', () => devbroker!.port],
    ['Mosquitto', '5', () => mosquitto!.port],
    ['Mosquitto', '3.1.1', () => mosquitto!.port],
  ] as const)('on %s over MQTT %s', async (label, mqtt, port) => {
    const clientId = `gw-will-${label.length}-${mqtt.replace('.', '')}`;
    const dir = mkdtempSync(join(root, 'gw-'));
    const config = join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ brokers: [`mqtt://127.0.0.1:${port()}`], clientId, stateDir: join(dir, 'state'), mqtt: { version: mqtt }, log: { level: 'warn' } }));
    const observer = await Observer.open(`mqtt://127.0.0.1:${port()}`, [`ftagent/${clientId}/status`]);
    try {
      const child = spawn(process.execPath, [agentBundle, 'run', '--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
      children.push(child);
      const online = await observer.waitFor('online', (s) => s.json.online === true);
      expect(online.json.clientId).toBe(clientId);
      child.kill('SIGKILL');
      const offline = await observer.waitFor('the will', (s) => s.json.online === false);
      expect(offline.json).toMatchObject({ online: false, clientId, reason: 'connection lost' });
      // Retained: a backend that connects later still sees the gateway offline.
      const late = await Observer.open(`mqtt://127.0.0.1:${port()}`, [`ftagent/${clientId}/status`]);
      const retained = await late.waitFor('the retained offline status', () => true);
      await late.close();
      expect(retained).toMatchObject({ retain: true, json: { online: false } });
    } finally {
      await observer.close();
    }
  }, 60_000);
});
