/**
 * The fleet plane's behaviour as a backend sees it, against whichever broker a suite file starts:
 * the development broker, Mosquitto, the real EMQX. The daemon runs in-process on the real file
 * system behind an Uplink relay (cut to go offline); a separate MQTT client is the backend.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon } from '../../src/daemon/daemon';
import { createNodeDurableFs } from '../../src/storage/node-fs';
import { EventOutbox } from '../../src/fleet/event-outbox';
import { daemonConfig, quietLog, sampleFile, until } from '../daemon/helpers';
import { Observer, Uplink, lastOn } from './helpers';

export interface BrokerTarget {
  port: number;
  /**
   * The bytes exported for (clientId, fileId), or undefined; null for a broker without file
   * transfer (Mosquitto), where uploads end with FT_UNAVAILABLE instead.
   */
  exported: ((clientId: string, fileId: string) => Promise<Buffer | undefined>) | null;
}

export function fleetSuite(label: string, target: () => BrokerTarget, options: { mqtt: '5' | '3.1.1' } = { mqtt: '5' }): void {
  describe(`fleet plane on ${label} (MQTT ${options.mqtt})`, () => {
    let root: string;
    let uplink: Uplink;
    let daemon: Daemon | undefined;
    let observer: Observer | undefined;
    const clientId = `gw-fleet-${label.replace(/\W+/g, '')}-${options.mqtt.replace(/\W/g, '')}-${process.pid}`;
    const prefix = `ftagent/${clientId}`;

    beforeAll(async () => {
      root = mkdtempSync(join(tmpdir(), 'ftagent-fleet-'));
      uplink = await Uplink.open(target().port);
    });
    afterAll(async () => {
      await daemon?.stop();
      await observer?.close();
      await uplink?.close();
      rmSync(root, { recursive: true, force: true });
    }, 60_000);

    const outgoing = (): string => join(root, 'outgoing');
    const stateDir = (): string => join(root, 'state');

    it('publishes a retained status document that a late subscriber reads', async () => {
      mkdirSync(outgoing(), { recursive: true });
      const config = await daemonConfig(stateDir(), uplink.port, {
        clientId,
        mqtt: { version: options.mqtt },
        fleet: { statusMinGapSeconds: 0 },
        remote: { enabled: true, uploadRoots: [outgoing()], maxFilesPerRequest: 3 },
      });
      observer = await Observer.open(`mqtt://127.0.0.1:${target().port}`, [`${prefix}/status`, `${prefix}/events`, `${prefix}/cmd/response`, 'backend/answers/#']);
      daemon = await Daemon.start({ config, fs: createNodeDurableFs(), logger: quietLog, pollMs: 100, reconnectBackoff: { baseMs: 100, capMs: 500 } });
      await observer.waitFor('the first status, live', (s) => s.topic === `${prefix}/status` && s.json.online === true);
      // Subscribe only after the daemon published: what arrives is the broker's retained copy.
      const probe = await Observer.open(`mqtt://127.0.0.1:${target().port}`, [`${prefix}/status`]);
      const status = await probe.waitFor('a retained online status', (s) => s.topic === `${prefix}/status` && s.json.online === true);
      await probe.close();
      expect(status.retain).toBe(true);
      expect(status.json).toMatchObject({ online: true, clientId, queue: { jobs: 0, bytes: 0, queued: 0, active: 0 }, lastError: null, lastSuccessAt: null });
      expect(typeof status.json.version).toBe('string');
      expect(typeof status.json.uptimeSeconds).toBe('number');
      expect((status.json.stateDir as { freeBytes: number }).freeBytes).toBeGreaterThan(0);
    }, 60_000);

    it('sends job.done and job.failed events, and the status reports the last success and error', async () => {
      const bytes = sampleFile(join(root, 'done.bin'), 50_000, 3);
      const exported = target().exported;
      const ok = exported ? await daemon!.spool.enqueue({ kind: 'upload', file: join(root, 'done.bin') }) : undefined;
      const bad = await daemon!.spool.enqueue({ kind: 'upload', file: join(root, 'missing.bin') });
      if (ok !== undefined && exported) {
        const done = await observer!.waitFor('job.done', (s) => s.json.type === 'job.done' && s.json.job === ok);
        expect(done.retain).toBe(false);
        expect(done.json).toMatchObject({ clientId, fileId: ok, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), file: join(root, 'done.bin') });
        expect(done.json.bytesSent).toBeGreaterThanOrEqual(bytes.length);
        expect((await exported(clientId, ok))?.equals(bytes)).toBe(true);
      }
      const failed = await observer!.waitFor('job.failed', (s) => s.json.type === 'job.failed' && s.json.job === bad);
      expect(failed.json).toMatchObject({ code: 'SOURCE_UNREADABLE' });
      await observer!.waitFor(
        'a status with the last error',
        (s) => s.topic === `${prefix}/status` && (s.json.lastError as { code?: string } | null)?.code === 'SOURCE_UNREADABLE' && (!exported || s.json.lastSuccessAt !== null),
      );
    }, 60_000);

    it('keeps events of jobs that end while offline and sends them after reconnecting, in order', async () => {
      uplink.cut();
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push(await daemon!.spool.enqueue({ kind: 'upload', file: join(root, `never-${i}.bin`) }));
      for (const id of ids) {
        await daemon!.spool.requestCancel(id);
        // One at a time, so the three end in a known order.
        await until(`job ${id} cancelled`, async () => (await daemon!.spool.get(id))?.state === 'cancelled');
      }
      const outbox = new EventOutbox(createNodeDurableFs(), stateDir(), 1000);
      // Recorded durably while offline (the event is written just after the job's record).
      await until('three events in the outbox', async () => (await outbox.pendingCount()) === 3);
      expect(observer!.seen.filter((s) => s.json.type === 'job.cancelled')).toEqual([]);
      const before = observer!.seen.length;
      uplink.restore();
      await until('three cancel events', () => observer!.seen.slice(before).filter((s) => s.json.type === 'job.cancelled').length === 3, 30_000);
      const cancelled = observer!.seen
        .slice(before)
        .filter((s) => s.json.type === 'job.cancelled')
        .map((s) => s.json.job);
      expect(cancelled).toEqual(ids);
      await until('the outbox is empty', async () => (await outbox.pendingCount()) === 0);
      await observer!.waitFor('online again', (s) => s.topic === `${prefix}/status` && s.json.online === true && observer!.seen.indexOf(s) >= before);
    }, 60_000);

    it('queues a remote upload under the roots, answers on the Response-Topic with the job id, and reports the end as an event', async () => {
      const bytes = sampleFile(join(outgoing(), 'cam-1.jpg'), 30_000, 5);
      const answer = await request(observer!, prefix, 'upload', { requestId: 'r-up', path: 'cam-1.jpg', priority: 'high', metadata: { camera: 1 } }, 'backend/answers/1', 'corr-1');
      expect(answer.json).toMatchObject({ requestId: 'r-up', ok: true, files: [join(outgoing(), 'cam-1.jpg')] });
      if (options.mqtt === '5') expect(answer).toMatchObject({ topic: 'backend/answers/1', correlation: 'corr-1' });
      else expect(answer.topic).toBe(`${prefix}/cmd/response`);
      const [job] = answer.json.jobs as string[];
      const exported = target().exported;
      if (exported) {
        const done = await observer!.waitFor('remote job done', (s) => s.json.type === 'job.done' && s.json.job === job);
        expect(done.json.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
        expect((await exported(clientId, job!))?.equals(bytes)).toBe(true);
      } else {
        // The broker does no file transfer, so the job keeps trying: the backend cancels it.
        await until('the job runs', () => daemon!.runningJobs().includes(job!));
        const cancel = await request(observer!, prefix, 'cancel', { requestId: 'r-cancel', job }, 'backend/answers/c');
        expect(cancel.json).toMatchObject({ ok: true, job, cancelRequested: true });
        await observer!.waitFor('remote job cancelled', (s) => s.json.type === 'job.cancelled' && s.json.job === job);
      }
      const status = await request(observer!, prefix, 'status', { requestId: 'r-st', job }, 'backend/answers/2');
      expect(status.json).toMatchObject({ ok: true, job: { id: job, state: exported ? 'done' : 'cancelled', priority: 'high' } });
      const unknown = await request(observer!, prefix, 'cancel', { requestId: 'r-cancel-2', job: 'lx2k9a1b00-3f9a1c0d' }, 'backend/answers/c2');
      expect(unknown.json).toMatchObject({ ok: false, code: 'JOB_NOT_FOUND' });
      const list = await request(observer!, prefix, 'jobs', { requestId: 'r-jobs' }, 'backend/answers/3');
      expect((list.json.jobs as { id: string }[]).some((j) => j.id === job)).toBe(true);
    }, 180_000);

    it('refuses remote uploads outside the roots, through symlinks, of FIFOs, and malformed requests, queuing nothing', async () => {
      const secret = join(root, 'secret.txt');
      writeFileSync(secret, 'not for the backend');
      symlinkSync(secret, join(outgoing(), 'link-out.txt'));
      // Opening a FIFO for reading blocks until a writer comes: an answer proves it was never opened.
      mkfifoSyncSafe(join(outgoing(), 'pipe.jpg'));
      for (let i = 0; i < 4; i++) writeFileSync(join(outgoing(), `many-${i}.log`), 'x');
      const pendingBefore = (await daemon!.spool.pendingIds()).length;
      const cases: [Record<string, unknown>, string][] = [
        [{ requestId: 'o1', path: secret }, 'NOT_ALLOWED'],
        [{ requestId: 'o2', path: '../secret.txt' }, 'NOT_ALLOWED'],
        [{ requestId: 'o3', path: 'link-out.txt' }, 'NOT_ALLOWED'],
        [{ requestId: 'o4', path: 'pipe.jpg' }, 'NOT_ALLOWED'],
        [{ requestId: 'o5', path: 'many-*.log' }, 'REQUEST_INVALID'],
        [{ requestId: 'o6', path: 'cam-1.jpg', priority: 'urgent' }, 'REQUEST_INVALID'],
        [{ path: 'cam-1.jpg' }, 'REQUEST_INVALID'],
      ];
      for (const [body, code] of cases) {
        const answer = await request(observer!, prefix, 'upload', body, `backend/answers/${String(body.requestId)}`);
        expect(answer.json, JSON.stringify(body)).toMatchObject({ ok: false, code });
      }
      // Without a Response-Topic the answer goes to <prefix>/cmd/response.
      const before = observer!.seen.length;
      await observer!.client.publishAsync(`${prefix}/cmd/upload`, 'not json', { qos: 1 });
      const fallback = await observer!.waitFor('an answer on cmd/response', (s) => s.topic === `${prefix}/cmd/response` && observer!.seen.indexOf(s) >= before);
      expect(fallback.json).toMatchObject({ ok: false, code: 'REQUEST_INVALID', requestId: null });
      expect((await daemon!.spool.pendingIds()).length).toBe(pendingBefore);
      if (target().exported) expect(await target().exported!(clientId, 'secret.txt')).toBeUndefined();
    }, 60_000);

    it('publishes the offline document on a clean stop', async () => {
      const before = observer!.seen.length;
      await daemon!.stop();
      daemon = undefined;
      const offline = await observer!.waitFor('offline', (s) => s.topic === `${prefix}/status` && s.json.online === false && observer!.seen.indexOf(s) >= before);
      expect(offline.json).toMatchObject({ online: false, clientId, reason: 'stopped' });
      expect(lastOn(observer!, `${prefix}/status`)?.json.online).toBe(false);
    }, 60_000);
  });
}

function mkfifoSyncSafe(path: string): void {
  execFileSync('mkfifo', [path]);
}

let corr = 0;
/** A request as a backend sends it: MQTT 5 with Response-Topic and Correlation-Data. */
export async function request(o: Observer, prefix: string, verb: string, body: Record<string, unknown>, responseTopic: string, correlation = `c-${++corr}`) {
  const before = o.seen.length;
  await o.client.publishAsync(`${prefix}/cmd/${verb}`, JSON.stringify(body), { qos: 1, properties: { responseTopic, correlationData: Buffer.from(correlation) } });
  // An MQTT 3.1.1 gateway never sees the Response-Topic: its answers go to <prefix>/cmd/response.
  const fallback = `${prefix}/cmd/response`;
  return o.waitFor(`an answer on ${responseTopic}`, (s) => (s.topic === responseTopic || (s.topic === fallback && s.json.requestId === (body.requestId ?? null))) && o.seen.indexOf(s) >= before);
}
