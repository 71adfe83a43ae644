import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { silentLogger } from '../../src/log';
import { systemClock } from '../../src/time/clock';
import { CommandChannel } from '../../src/mqtt/command-channel';
import { Connection } from '../../src/mqtt/connection';
import { FtError } from '../../src/errors';
import { uploadFile } from '../../src/transfer/emqx-ft/upload';
import { withUploadDefaults } from '../../src/transfer/emqx-ft/upload-options';
import { runCli } from '../helpers/cli-run';
import { makeCerts, startMosquitto, tempDir, type Mosquitto } from './mosquitto';

let tmp: ReturnType<typeof tempDir>;
let plain: Mosquitto;
let auth: Mosquitto;
let tls: Mosquitto;
let certs: ReturnType<typeof makeCerts>;
let file: string;

beforeAll(async () => {
  tmp = tempDir('ftagent-mosq-');
  certs = makeCerts(tmp.dir);
  [plain, auth, tls] = await Promise.all([
    startMosquitto(tmp.dir),
    startMosquitto(tmp.dir, { users: { gateway: 's3cret pass' } }),
    startMosquitto(tmp.dir, { tls: { cert: certs.cert, key: certs.key } }),
  ]);
  file = join(tmp.dir, 'sample.bin');
  writeFileSync(file, Buffer.alloc(5000, 1));
  writeFileSync(join(tmp.dir, 'good.pw'), 's3cret pass\n');
  writeFileSync(join(tmp.dir, 'bad.pw'), 'wrong\n');
}, 60_000);

afterAll(async () => {
  await Promise.all([plain?.stop(), auth?.stop(), tls?.stop()]);
  tmp?.remove();
});

const send = (port: number, scheme: string, ...args: string[]) => runCli(['send', file, '--broker', `${scheme}://127.0.0.1:${port}`, '--client-id', 'gw-mosq', '--json', ...args], tmp.dir);

describe('interop with mosquitto', () => {
  it('MQTT 5: connects, reads the raw 0x10 PUBACK and exits 5 saying file transfer is not enabled', async () => {
    const r = await send(plain.port, 'mqtt');
    expect(r.code).toBe(5);
    expect(r.json).toMatchObject({ ok: false, error: { code: 'FT_UNAVAILABLE' } });
    expect(r.err).toContain(`mqtt://127.0.0.1:${plain.port} answered 0x10`);
    expect(r.err).toContain('file_transfer.enable = true');
  });

  it('MQTT 3.1.1: connects, subscribes to $file-response and gives up with FT_UNAVAILABLE when no response ever comes', async () => {
    const connection = new Connection({ brokers: [`mqtt://127.0.0.1:${plain.port}`], clientId: 'gw-mosq-311', protocolVersion: 4 }, { clock: systemClock, logger: silentLogger });
    const channel = new CommandChannel(connection, { responses: true }, silentLogger);
    await channel.start();
    try {
      expect(channel.isUp()).toBe(true);
      const options = withUploadDefaults({ path: file, mode: 'async', commandTimeoutMs: 200, retry: { maxCommandAttempts: 2 } as never });
      const err = await uploadFile(options, { link: channel, logger: silentLogger }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FtError);
      expect((err as FtError).code).toBe('FT_UNAVAILABLE');
      expect((err as FtError).message).toContain('never answered init');
    } finally {
      channel.dispose();
      await connection.close();
    }
  });

  it('authenticates with --username and --password-file', async () => {
    const r = await send(auth.port, 'mqtt', '--username', 'gateway', '--password-file', join(tmp.dir, 'good.pw'));
    // Authenticated: the broker then answers 0x10 to the file-transfer command.
    expect(r.json).toMatchObject({ error: { code: 'FT_UNAVAILABLE' } });
  });

  it('takes the password from FTAGENT_PASSWORD too, and never prints it', async () => {
    const r = await runCli(['send', file, '--broker', `mqtt://127.0.0.1:${auth.port}`, '--client-id', 'gw-mosq', '--json', '--username', 'gateway', '--log-level', 'debug'], tmp.dir, {
      FTAGENT_PASSWORD: 's3cret pass',
    });
    expect(r.json).toMatchObject({ error: { code: 'FT_UNAVAILABLE' } });
    expect(r.out + r.err).not.toContain('s3cret');
  });

  for (const mqtt of ['5', '3.1.1']) {
    it(`refuses bad credentials with exit 2 and a clear message (MQTT ${mqtt})`, async () => {
      const r = await send(auth.port, 'mqtt', '--mqtt', mqtt, '--username', 'gateway', '--password-file', join(tmp.dir, 'bad.pw'));
      expect(r.code).toBe(2);
      expect(r.json).toMatchObject({ ok: false, error: { code: 'AUTH_FAILED' } });
      expect(r.err).toContain('refused the credentials');
      expect(r.err).not.toContain('wrong');
    });
  }

  it('rejects --password on the command line', async () => {
    const r = await send(auth.port, 'mqtt', '--username', 'gateway', '--password', 'x');
    expect(r.code).toBe(2);
    expect(r.err).toContain('--password-file');
  });

  it('connects over TLS with --ca (MQTT 5 and 3.1.1)', async () => {
    const r5 = await send(tls.port, 'mqtts', '--ca', certs.ca);
    expect(r5.json).toMatchObject({ error: { code: 'FT_UNAVAILABLE' } });
    const connection = new Connection(
      { brokers: [`mqtts://127.0.0.1:${tls.port}`], clientId: 'gw-tls-311', protocolVersion: 4, tls: { ca: Buffer.from(await import('node:fs').then((m) => m.readFileSync(certs.ca))) } },
      { clock: systemClock, logger: silentLogger },
    );
    await connection.start();
    expect(connection.isUp()).toBe(true);
    await connection.close();
  });

  it('refuses an untrusted certificate with exit 2 and says how to fix it; --insecure skips the check', async () => {
    const r = await send(tls.port, 'mqtts');
    expect(r.code).toBe(2);
    expect(r.json).toMatchObject({ error: { code: 'CONFIG_INVALID' } });
    expect(r.err).toContain('--ca');
    const insecure = await send(tls.port, 'mqtts', '--insecure');
    expect(insecure.json).toMatchObject({ error: { code: 'FT_UNAVAILABLE' } });
  });
});
