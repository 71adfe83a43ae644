import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { startBroker } from '../../src/devbroker';
import { silentLogger } from '../../src/log';
import { runCli } from '../helpers/cli-run';
import { content } from '../helpers/content';

/** The development broker's --sink mode: the benchmarks' broker with its disk work taken out. */
describe('development broker in sink mode', () => {
  const root = mkdtempSync(join(tmpdir(), 'ftbroker-sink-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('acknowledges a whole upload as usual without storing any segment payload', async () => {
    const dataDir = join(root, 'data-1');
    const b = await startBroker({ port: 0, dataDir, logger: silentLogger, sink: true });
    const file = join(root, 'sunk.bin');
    writeFileSync(file, content(3 * 1024 * 1024 + 7));
    try {
      const r = await runCli(['send', file, '--broker', `mqtt://127.0.0.1:${b.port}`, '--client-id', 'gw-sink', '--file-id', 'k1', '--chunk-size', '65536', '--json'], root);
      expect(r.code, r.err).toBe(0);
      const exportDir = join(dataDir, 'exports', 'gw-sink', 'k1');
      const [, , manifest] = JSON.parse(readFileSync(join(exportDir, 'sunk.bin.MANIFEST.json'), 'utf8')) as [string, number, { size: number; checksum: string }];
      expect(manifest).toMatchObject({ size: 3 * 1024 * 1024 + 7, checksum: String(r.json!.sha256).toUpperCase() });
      expect(statSync(join(exportDir, 'sunk.bin')).size).toBe(0);
      const segmentsDir = join(dataDir, 'segments');
      const leftovers = existsSync(segmentsDir) ? readdirSync(segmentsDir, { recursive: true }).filter((n) => String(n).includes('SEG.')) : [];
      expect(leftovers).toEqual([]);
    } finally {
      await b.stop();
    }
  });

  it('still answers incomplete to a fin with a segment missing', async () => {
    const b = await startBroker({ port: 0, dataDir: join(root, 'data-2'), logger: silentLogger, sink: true });
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${b.port}`, { clientId: 'gw-sink-2', protocolVersion: 5, reconnectPeriod: 0 });
    try {
      const codes: number[] = [];
      client.on('packetreceive', (p) => {
        if (p.cmd === 'puback') codes.push(p.reasonCode ?? 0);
      });
      await client.publishAsync('$file/k2/init', JSON.stringify({ name: 'gap.bin', size: 20 }), { qos: 1 });
      await client.publishAsync('$file/k2/0', Buffer.alloc(10), { qos: 1 });
      await client.publishAsync('$file/k2/fin/20', Buffer.alloc(0), { qos: 1 }).catch(() => undefined);
      expect(codes).toEqual([0, 0, 0x80]);
    } finally {
      await client.endAsync();
      await b.stop();
    }
  });
});
