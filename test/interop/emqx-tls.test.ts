/**
 * EMQX 5.3.2's ssl listener with a CA generated here and a client certificate required
 * (verify_peer, fail_if_no_peer_cert): `ftagent send --ca --cert --key` delivers the file over
 * mqtts://; without a client certificate the broker refuses the handshake and send says so.
 */
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli-run';
import { content } from '../helpers/content';
import { emqxStartTimeoutMs, expectEmqxExport, freeEmqxPort, startEmqx, type Emqx } from '../helpers/emqx';
import { makeCerts, makeClientCert, tempDir } from './mosquitto';

let emqx: Emqx;
let tlsUrl: string;
const tmp = tempDir('ftagent-emqx-tls-');
const certs = makeCerts(tmp.dir);
const client = makeClientCert(tmp.dir, 'store-gw');

beforeAll(async () => {
  const sslPort = await freeEmqxPort();
  emqx = await startEmqx({
    extraConf: `listeners.ssl.default {
  enable = true
  bind = "127.0.0.1:${sslPort}"
  ssl_options {
    cacertfile = "${certs.ca}"
    certfile = "${certs.cert}"
    keyfile = "${certs.key}"
    verify = verify_peer
    fail_if_no_peer_cert = true
  }
}`,
  });
  tlsUrl = `mqtts://127.0.0.1:${sslPort}`;
}, emqxStartTimeoutMs);

afterAll(async () => {
  emqx?.kill();
  await emqx?.stop();
  tmp.remove();
}, 60_000);

describe('ftagent send over TLS to EMQX 5.3.2 requiring a client certificate', () => {
  it.each([
    ['sync MQTT 5', ['--mqtt', '5']],
    ['async MQTT 3.1.1', ['--mqtt', '3.1.1']],
  ] as const)(
    'delivers with --ca --cert --key, %s',
    async (label, modeFlags) => {
      const bytes = content(150_000, label.length);
      const file = join(tmp.dir, `${label.replace(/\W+/g, '-')}.bin`);
      await writeFile(file, bytes);
      const clientId = `tls-${process.pid}-${label.length}`;
      const run = await runCli(['send', file, '--broker', tlsUrl, '--client-id', clientId, '--json', '--ca', certs.ca, '--cert', client.cert, '--key', client.key, ...modeFlags], tmp.dir);
      expect(run.code, `${run.err}\n${emqx.logTail()}`).toBe(0);
      await expectEmqxExport(emqx, clientId, String(run.json?.fileId), createHash('sha256').update(bytes).digest('hex'), bytes.length);
    },
    60_000,
  );

  it('without a client certificate: AUTH_FAILED (exit 2), saying to pass --cert and --key', async () => {
    const file = join(tmp.dir, 'nocert.bin');
    await writeFile(file, content(1000, 5));
    const run = await runCli(['send', file, '--broker', tlsUrl, '--client-id', `tls-nocert-${process.pid}`, '--json', '--ca', certs.ca], tmp.dir);
    expect(run.code, run.err).toBe(2);
    expect(run.json?.error).toMatchObject({ code: 'AUTH_FAILED' });
    expect(String((run.json?.error as { message?: string }).message)).toContain('--cert FILE and --key FILE');
  }, 60_000);
});
