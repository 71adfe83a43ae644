import { afterAll, beforeAll } from 'vitest';
import { startMosquitto, tempDir, type Mosquitto } from '../interop/mosquitto';
import { fleetSuite } from './fleet-suite';

let m: Mosquitto | undefined;
let remove: () => void = () => undefined;
beforeAll(async () => {
  const t = tempDir('ftagent-fleet-mosquitto-');
  remove = t.remove;
  m = await startMosquitto(t.dir);
});
afterAll(async () => {
  await m?.stop();
  remove();
});

// Mosquitto has retained messages and wills but no file transfer: uploads end FT_UNAVAILABLE there.
const target = () => ({ port: m!.port, exported: null });
fleetSuite('Mosquitto', target, { mqtt: '5' });
fleetSuite('Mosquitto', target, { mqtt: '3.1.1' });
