/**
 * DEBUG=mqttjs* keeps MQTT.js's trace working but never prints the password: the bundle uploads with
 * a known password to a broker that requires it, and stderr is searched for it.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../src/devbroker';
import { redactedMqttTrace } from '../../src/mqtt/redacted-trace';
import { agentBundle, ensureFreshBundles } from '../helpers/fresh-bundles';

const password = 'Tr1cky-S3cret!pw';
let dir = '';
let broker: RunningBroker;

beforeAll(async () => {
  await ensureFreshBundles();
  dir = await mkdtemp(path.join(tmpdir(), 'ftagent-trace-'));
  broker = await startBroker({ dataDir: path.join(dir, 'broker'), port: 0, logLevel: 'silent', users: { gw: password } });
});
afterAll(async () => {
  await broker.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('DEBUG=mqttjs* trace', () => {
  const sendWithDebug = async (debug: string): Promise<string> => {
    await writeFile(path.join(dir, 'pw'), `${password}\n`, { mode: 0o600 });
    await writeFile(path.join(dir, 'f.txt'), 'hello');
    const { stderr } = await promisify(execFile)(
      process.execPath,
      [agentBundle, 'send', path.join(dir, 'f.txt'), '--broker', `mqtt://127.0.0.1:${broker.port}`, '--username', 'gw', '--password-file', path.join(dir, 'pw'), '--quiet'],
      { env: { ...process.env, DEBUG: debug }, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
    );
    return stderr;
  };

  it('shows the CONNECT packet without the password', async () => {
    const stderr = await sendWithDebug('mqttjs*');
    expect(stderr).toContain("cmd: 'connect'");
    expect(stderr).toContain("username: 'gw'");
    expect(stderr).toContain("password: '[redacted]'");
    expect(stderr).not.toContain(password);
  });

  it('keeps it out of every other debug namespace too (DEBUG=*: mqtt-packet prints each string it writes)', async () => {
    const stderr = await sendWithDebug('*');
    expect(stderr).toContain('mqtt-packet:writeToStream writeString: [redacted]');
    expect(stderr).not.toContain(password);
  });

  it('takes the password out wherever it appears, also inside other text', () => {
    const lines: string[] = [];
    const log = redactedMqttTrace([password], (l) => lines.push(l));
    log('writeString: %s', password);
    log('packet %o', { cmd: 'connect', password: Buffer.from(password), nested: { key: 'PEM', other: `x${password}y` } });
    const all = lines.join('');
    expect(all).not.toContain(password);
    // A Buffer would print as <Buffer 54 72 31 …>; the field is replaced before formatting.
    expect(all).not.toContain('54 72 31');
    expect(all).not.toContain('PEM');
    expect(all).toContain("password: '[redacted]'");
  });
});
