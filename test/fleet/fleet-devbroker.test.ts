import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { broker, exportsOf } from '../daemon/helpers';
import type { RunningBroker } from '../../src/devbroker/index';
import { fleetSuite } from './fleet-suite';

let b: (RunningBroker & { dataDir: string }) | undefined;
let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ftagent-fleet-broker-'));
  b = await broker(join(dir, 'broker'));
});
afterAll(async () => {
  await b?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const target = () => ({ port: b!.port, exported: async (clientId: string, fileId: string) => exportsOf(b!.dataDir, clientId).get(fileId) });
fleetSuite('the development broker', target, { mqtt: '5' });
fleetSuite('the development broker', target, { mqtt: '3.1.1' });
