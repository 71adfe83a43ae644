/**
 * Every malformed or abusive request gets one answer with a stable code and changes nothing;
 * the rate limit refills with time. The roots and the queue are real (files on disk, a spool).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RemoteRequests } from '../../src/fleet/remote-requests';
import { createNodeDurableFs } from '../../src/storage/node-fs';
import { Spool } from '../../src/storage/spool';
import { prepareRoots } from '../../src/transfer/store/confine';
import { FakeClock } from '../helpers/fake-clock';
import { quietLog } from '../daemon/helpers';

let root: string;
let spool: Spool;
let clock: FakeClock;
let remote: RemoteRequests;
beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'ftagent-remote-'));
  mkdirSync(join(root, 'out'));
  writeFileSync(join(root, 'out', 'a.jpg'), 'a');
  writeFileSync(join(root, 'out', 'b.jpg'), 'b');
  spool = await Spool.open(createNodeDurableFs(), join(root, 'state'));
  clock = new FakeClock(1_000_000);
  const { roots } = await prepareRoots([join(root, 'out')], { create: false });
  remote = new RemoteRequests({
    settings: { maxRequestBytes: 512, maxRequestsPerMinute: 30, maxFilesPerRequest: 5 },
    roots,
    enqueue: (job) => spool.enqueue(job),
    cancel: (id) => spool.get(id),
    job: async () => undefined,
    jobs: async () => [],
    status: async () => ({ online: true }),
    clock,
    logger: quietLog,
  });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const ask = (verb: string, body: unknown) => remote.handle(verb, Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)));

describe('remote requests', () => {
  it.each([
    ['upload', 'not json', 'REQUEST_INVALID', null],
    ['upload', '[1,2]', 'REQUEST_INVALID', null],
    ['upload', 'null', 'REQUEST_INVALID', null],
    ['upload', { requestId: 7, path: 'a.jpg' }, 'REQUEST_INVALID', null],
    ['upload', { requestId: 'x'.repeat(129), path: 'a.jpg' }, 'REQUEST_INVALID', null],
    ['upload', { requestId: 'big', path: 'a'.repeat(600) }, 'REQUEST_INVALID', null],
    ['reboot', { requestId: 'v1' }, 'REQUEST_INVALID', 'v1'],
    ['upload', { requestId: 'u1' }, 'REQUEST_INVALID', 'u1'],
    ['upload', { requestId: 'u2', path: 'a.jpg', name: 'a/b' }, 'REQUEST_INVALID', 'u2'],
    ['upload', { requestId: 'u3', path: 'a.jpg', metadata: [1] }, 'REQUEST_INVALID', 'u3'],
    ['upload', { requestId: 'u4', path: '*.jpg', name: 'one.jpg' }, 'REQUEST_INVALID', 'u4'],
    ['upload', { requestId: 'u5', path: 'x/*/a.jpg' }, 'REQUEST_INVALID', 'u5'],
    ['upload', { requestId: 'u6', path: 'none-*.jpg' }, 'NOT_FOUND', 'u6'],
    ['upload', { requestId: 'u7', path: '/etc/hostname' }, 'NOT_ALLOWED', 'u7'],
    ['cancel', { requestId: 'c1', job: '../../etc' }, 'JOB_NOT_FOUND', 'c1'],
    ['status', { requestId: 's1', job: 'lx2k9a1b00-3f9a1c0d' }, 'JOB_NOT_FOUND', 's1'],
    ['jobs', { requestId: 'j1', limit: 0 }, 'REQUEST_INVALID', 'j1'],
    ['jobs', { requestId: 'j2', limit: '5' }, 'REQUEST_INVALID', 'j2'],
  ])('%s %j is answered %s and queues nothing', async (verb, body, code, requestId) => {
    const answer = await ask(verb, body);
    expect(answer).toMatchObject({ ok: false, code, requestId, verb });
    expect(typeof answer.message).toBe('string');
    expect(await spool.pendingIds()).toEqual([]);
  });

  it('queues every match of a pattern with its priority and size', async () => {
    const answer = await ask('upload', { requestId: 'g', path: '*.jpg', priority: 'low' });
    expect(answer).toMatchObject({ ok: true, files: [join(root, 'out', 'a.jpg'), join(root, 'out', 'b.jpg')] });
    const ids = answer.jobs as string[];
    expect(await spool.pendingIds()).toEqual(ids);
    expect((await spool.get(ids[0]!))?.spec.options).toEqual({ priority: 'low', queuedSize: 1 });
  });

  it('answers RATE_LIMITED beyond maxRequestsPerMinute, and again after the bucket refills', async () => {
    await clock.advance(60_000);
    const answers = [];
    for (let i = 0; i < 35; i++) answers.push(await ask('status', { requestId: `r${i}` }));
    expect(answers.filter((a) => a.ok).length).toBe(30);
    expect(answers.slice(30).every((a) => a.code === 'RATE_LIMITED')).toBe(true);
    await clock.advance(2_000);
    expect(await ask('status', { requestId: 'later' })).toMatchObject({ ok: true, status: { online: true } });
  });
});
