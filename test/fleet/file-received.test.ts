/**
 * A file the store system pushes to the gateway is reported as one file.received event once it
 * landed; a refused push is not reported (the store server has the refusal).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon } from '../../src/daemon/daemon';
import { queryDir } from '../../src/devbroker/store-server/dir-query';
import { pushFile } from '../../src/devbroker/store-server/push-file';
import type { RunningBroker } from '../../src/devbroker/index';
import { createNodeDurableFs } from '../../src/storage/node-fs';
import { broker, daemonConfig, quietLog, sampleFile, until } from '../daemon/helpers';
import { Observer } from './helpers';

const clientId = 'gw-received';
let root: string;
let b: (RunningBroker & { dataDir: string }) | undefined;
let daemon: Daemon | undefined;
let observer: Observer | undefined;
beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'ftagent-received-'));
  b = await broker(join(root, 'broker'));
});
afterAll(async () => {
  await daemon?.stop();
  await observer?.close();
  await b?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('file.received', () => {
  it('is published for a pushed file that landed, and not for a refused push', async () => {
    const recv = join(root, 'recv');
    const browse = join(root, 'browse');
    mkdirSync(browse, { recursive: true });
    const config = await daemonConfig(join(root, 'state'), b!.port, {
      clientId,
      store: { enabled: true, nftp: { lingerSeconds: 1 }, receive: { roots: [recv], browseRoots: [browse] } },
    });
    daemon = await Daemon.start({ config, fs: createNodeDurableFs(), logger: quietLog, pollMs: 50 });
    observer = await Observer.open(`mqtt://127.0.0.1:${b!.port}`, [`ftagent/${clientId}/events`]);
    const store = b!.store!;
    await until('the daemon answers store requests', async () => {
      try {
        await queryDir(store.context, clientId, browse, 300);
        return true;
      } catch {
        return false;
      }
    });
    mkdirSync(join(b!.dataDir, 'store', 'files'), { recursive: true });
    const bytes = sampleFile(join(b!.dataDir, 'store', 'files', 'notice.html'), 20_000, 4);
    const refused = await pushFile(store.context, { clientId, file: 'notice.html', target: '../notice.html' });
    expect(refused.response.ack).toBe('NOT_ALLOW');
    const push = await pushFile(store.context, { clientId, file: 'notice.html', target: 'www/notice.html', lingerMs: 1000, intervalMs: 1 });
    expect(push.response.ack).toBe('ok');
    const event = await observer.waitFor('file.received', (s) => s.json.type === 'file.received');
    expect(event.json).toMatchObject({ clientId, path: join(recv, 'www', 'notice.html'), size: bytes.length });
    expect(existsSync(join(recv, 'www', 'notice.html'))).toBe(true);
    expect(observer.seen.filter((s) => s.json.type === 'file.received')).toHaveLength(1);
  }, 60_000);
});
