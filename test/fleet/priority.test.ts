/**
 * A high-priority alarm picture queued (remotely) while a 256 MiB normal upload runs starts at
 * once beside it (maxConcurrent 1 + the reserved slot), takes the shared window (the large upload
 * publishes no new segment until it is done) and finishes first. A byte cap keeps the large upload
 * running long enough; the test asserts order and counts, not time.
 */
import { openSync, closeSync, ftruncateSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon } from '../../src/daemon/daemon';
import type { PublishInterceptor, RunningBroker } from '../../src/devbroker/index';
import { encodeQueuedOptions } from '../../src/jobs/upload-job-options';
import { createNodeDurableFs } from '../../src/storage/node-fs';
import { broker, daemonConfig, exportsOf, quietLog, sampleFile, until } from '../daemon/helpers';
import { request } from './fleet-suite';
import { Observer } from './helpers';

const clientId = 'gw-priority';
const prefix = `ftagent/${clientId}`;
let root: string;
let b: (RunningBroker & { dataDir: string }) | undefined;
let daemon: Daemon | undefined;
let observer: Observer | undefined;
/** Every file-transfer publish of the gateway, in the order the broker received them. */
const publishes: string[] = [];

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'ftagent-priority-'));
  const recorder: PublishInterceptor = {
    name: 'order-recorder',
    onPublish(msg) {
      if (msg.clientId === clientId && msg.topic.startsWith('$file/')) publishes.push(msg.topic);
      return null;
    },
  };
  b = await broker(join(root, 'broker'), { interceptors: [recorder] });
});
afterAll(async () => {
  await daemon?.stop();
  await observer?.close();
  await b?.stop();
  rmSync(root, { recursive: true, force: true });
}, 60_000);

describe('job priority', () => {
  it('finishes a high-priority 100 KiB job before a running 256 MiB normal one', async () => {
    const camera = join(root, 'camera');
    mkdirSync(camera);
    const big = join(root, 'big.bin');
    const fd = openSync(big, 'w');
    ftruncateSync(fd, 256 * 1024 * 1024);
    closeSync(fd);
    const alarm = sampleFile(join(camera, 'alarm.jpg'), 100 * 1024, 9);
    const config = await daemonConfig(join(root, 'state'), b!.port, {
      clientId,
      maxConcurrent: 1,
      maxBytesPerSecond: 2 * 1024 * 1024,
      upload: { chunkSize: 8192, window: 16 },
      fleet: { statusMinGapSeconds: 0 },
      remote: { enabled: true, uploadRoots: [camera] },
    });
    daemon = await Daemon.start({ config, fs: createNodeDurableFs(), logger: quietLog, pollMs: 100 });
    observer = await Observer.open(`mqtt://127.0.0.1:${b!.port}`, [`${prefix}/events`, 'backend/#']);
    const bigJob = await daemon.spool.enqueue({ kind: 'upload', file: big, options: encodeQueuedOptions({ queuedSize: 256 * 1024 * 1024 }) });
    await until('the large upload is under way', () => publishes.filter((t) => t.startsWith(`$file/${bigJob}/`)).length > 20);

    const answer = await request(observer, prefix, 'upload', { requestId: 'alarm', path: 'alarm.jpg', priority: 'high' }, 'backend/answers');
    expect(answer.json.ok).toBe(true);
    const [alarmJob] = answer.json.jobs as string[];
    await observer.waitFor('the alarm is done', (s) => s.json.type === 'job.done' && s.json.job === alarmJob, 120_000);
    expect((await daemon.spool.get(bigJob))?.state).toBe('active');
    expect(exportsOf(b!.dataDir, clientId).get(alarmJob!)?.equals(alarm)).toBe(true);

    // While the alarm was on the wire the large upload put no new segment out.
    const first = publishes.findIndex((t) => t.startsWith(`$file/${alarmJob}/`));
    const fin = publishes.findIndex((t) => t.startsWith(`$file/${alarmJob}/fin`));
    expect(first).toBeGreaterThan(0);
    expect(fin).toBeGreaterThan(first);
    expect(publishes.slice(first, fin + 1).filter((t) => t.startsWith(`$file/${bigJob}/`))).toEqual([]);

    const cancel = await request(observer, prefix, 'cancel', { requestId: 'stop-big', job: bigJob }, 'backend/answers/cancel');
    expect(cancel.json).toMatchObject({ ok: true, cancelRequested: true });
    await observer.waitFor('the large upload is cancelled', (s) => s.json.type === 'job.cancelled' && s.json.job === bigJob);
    const ends = observer.seen.filter((s) => s.topic === `${prefix}/events`).map((s) => `${String(s.json.type)} ${String(s.json.job)}`);
    expect(ends).toEqual([`job.done ${alarmJob}`, `job.cancelled ${bigJob}`]);
  }, 180_000);
});
