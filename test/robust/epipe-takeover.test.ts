import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/log';
import { systemClock } from '../../src/time/clock';
import { Connection } from '../../src/mqtt/connection';
import { agentBundle, ensureFreshBundles } from '../helpers/fresh-bundles';
import { startHostileBroker } from '../helpers/hostile-broker';

let root: string;
beforeAll(async () => {
  await ensureFreshBundles();
  root = mkdtempSync(join(tmpdir(), 'ftagent-epipe-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('small edges', () => {
  it('status into a pipe whose reader is gone (status | head -1) ends quietly, no EPIPE stack trace', async () => {
    const config = join(root, 'config.json');
    writeFileSync(config, JSON.stringify({ brokers: ['mqtt://127.0.0.1:1'], stateDir: join(root, 'state') }));
    const child = spawn(process.execPath, [agentBundle, 'status', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    // The reader goes away before the first line is written.
    child.stdout.destroy();
    let err = '';
    child.stderr.on('data', (d) => (err += String(d)));
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    expect(err).toBe('');
    expect(code).toBe(1);
  });

  it('a second client taking over the client id is logged at warn (DISCONNECT 0x8E)', async () => {
    const b = await startHostileBroker();
    let log = '';
    const logger = createLogger({ level: 'warn', stream: new Writable({ write: (c, _e, done) => ((log += String(c)), done()) }) });
    const connection = new Connection({ brokers: [b.url], clientId: 'gw-daemon', protocolVersion: 5 }, { clock: systemClock, logger });
    try {
      await connection.start();
      b.disconnectAll(0x8e);
      const end = Date.now() + 10_000;
      while (!log.includes('took over') && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    } finally {
      await connection.close();
      await b.stop();
    }
    const line = log.split('\n').find((l) => l.includes('took over'));
    expect(line, log).toBeDefined();
    expect(JSON.parse(line as string)).toMatchObject({ level: 40, clientId: 'gw-daemon' });
  });
});
