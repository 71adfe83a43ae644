import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { publishForCode, startTestBroker, type TestBroker } from './core-helpers';

interface Pki {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

let dir = '';
let pki: Pki;

/** A throwaway CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl. */
async function makePki(where: string): Promise<Pki> {
  const run = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: where, stdio: 'pipe' });
  };
  run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=ftbroker test CA', '-keyout', 'ca.key', '-out', 'ca.pem');
  await writeFile(join(where, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  for (const who of ['server', 'client']) {
    run('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${who}`, '-keyout', `${who}.key`, '-out', `${who}.csr`);
    run('x509', '-req', '-in', `${who}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-out', `${who}.pem`, ...(who === 'server' ? ['-extfile', 'server.ext'] : []));
  }
  const read = (name: string): Promise<string> => readFile(join(where, name), 'utf8');
  return { ca: await read('ca.pem'), serverCert: await read('server.pem'), serverKey: await read('server.key'), clientCert: await read('client.pem'), clientKey: await read('client.key') };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ftbroker-tls-'));
  pki = await makePki(dir);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let broker: TestBroker | undefined;
afterEach(async () => {
  await broker?.cleanup();
  broker = undefined;
});

describe('devbroker core: TLS', () => {
  it('serves MQTT over TLS to a client that trusts its CA', async () => {
    broker = await startTestBroker({ tls: { cert: pki.serverCert, key: pki.serverKey } });
    const client = await broker.connect({ protocol: 'mqtts', protocolVersion: 5, clientId: 'tls-client', ca: pki.ca });
    await client.subscribeAsync('secure', { qos: 1 });
    expect(await publishForCode(client, 'secure', 'hello')).toBe(0);
  });

  it('requires a client certificate signed by its CA when asked to verify clients', async () => {
    broker = await startTestBroker({ tls: { cert: pki.serverCert, key: pki.serverKey, ca: pki.ca, requestClientCert: true } });
    const withCert = await broker.connect({ protocol: 'mqtts', protocolVersion: 5, clientId: 'with-cert', ca: pki.ca, cert: pki.clientCert, key: pki.clientKey });
    expect(withCert.connected).toBe(true);

    const without = mqtt.connect({ host: '127.0.0.1', port: broker.port, protocol: 'mqtts', protocolVersion: 5, clientId: 'without-cert', ca: pki.ca, reconnectPeriod: 0 });
    const outcome = await new Promise<string>((resolve) => {
      without.once('connect', () => resolve('connected'));
      without.once('error', () => resolve('refused'));
      without.once('close', () => resolve('refused'));
    });
    without.end(true);
    expect(outcome).toBe('refused');
  });
});
