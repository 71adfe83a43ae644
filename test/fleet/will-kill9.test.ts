/**
 * A gateway that loses power shows as offline: the daemon runs as a real process, announces itself
 * online (retained), is killed with SIGKILL, and the broker publishes its will, the retained
 * offline document. On the development broker and on Mosquitto.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { ensureFreshBundles } from '../helpers/fresh-bundles';
import { startMosquitto, tempDir, type Mosquitto } from '../interop/mosquitto';
import { broker } from '../daemon/helpers';
import type { RunningBroker } from '../../src/devbroker/index';
import { expectWillAfterKill } from './will';

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
  ] as const)(
    'on %s over MQTT %s',
    async (label, mqtt, port) => {
      await expectWillAfterKill(port(), `gw-will-${label.length}-${mqtt.replace('.', '')}`, mqtt, root, children);
    },
    60_000,
  );
});
