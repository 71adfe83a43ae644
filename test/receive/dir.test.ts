import { execFileSync } from 'node:child_process';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryDir } from '../../src/devbroker/store-server/dir-query';
import { startAgent, startHarness, type Agent, type Harness } from './harness';

let h: Harness;
let agent: Agent;
let browse: string;
let outside: string;

beforeAll(async () => {
  h = await startHarness();
  browse = path.join(h.dir, 'agent', 'logs');
  outside = path.join(h.dir, 'agent', 'outside');
  await mkdir(path.join(browse, '2026', 'nov'), { recursive: true });
  await mkdir(outside, { recursive: true });
  await writeFile(path.join(browse, 'today.log'), 'x');
  await writeFile(path.join(browse, '2026', 'jan.log'), 'x');
  await writeFile(path.join(outside, 'secret'), 's');
  await symlink(outside, path.join(browse, 'escape'));
  execFileSync('mkfifo', [path.join(browse, 'pipe')]);
  agent = await startAgent(h, { receive: [path.join(h.dir, 'agent', 'recv')], browse: [browse] });
});
afterAll(async () => {
  await agent.stop();
  await h.cleanup();
});

describe('dir requests', () => {
  it('list one level of a folder: files and folders only, no symlinks or special files', async () => {
    const a = await queryDir(h.store.context, 'store-1', '');
    expect(a.result).toBe('OK');
    expect(a.type).toBe('folder');
    expect(a.entries).toEqual([
      { name: '2026', type: 'folder' },
      { name: 'today.log', type: 'file' },
    ]);
    const sub = await queryDir(h.store.context, 'store-1', path.join(browse, '2026'));
    expect(sub.entries).toEqual([
      { name: 'jan.log', type: 'file' },
      { name: 'nov', type: 'folder' },
    ]);
    // The request's own fields are echoed.
    expect(sub.fields.request_id).toBe(sub.requestId);
  });

  it('say type file for a file', async () => {
    const a = await queryDir(h.store.context, 'store-1', 'today.log');
    expect([a.result, a.type, a.entries]).toEqual(['OK', 'file', []]);
  });

  it('say NOT_EXIST for a missing path and NOT_ALLOW outside the browsable roots', async () => {
    expect((await queryDir(h.store.context, 'store-1', 'nope')).result).toBe('NOT_EXIST');
    expect((await queryDir(h.store.context, 'store-1', '../outside')).result).toBe('NOT_ALLOW');
    expect((await queryDir(h.store.context, 'store-1', outside)).result).toBe('NOT_ALLOW');
    expect((await queryDir(h.store.context, 'store-1', '/etc')).result).toBe('NOT_ALLOW');
    const viaLink = await queryDir(h.store.context, 'store-1', 'escape');
    expect(viaLink.result).toBe('NOT_ALLOW');
    expect(viaLink.entries).toEqual([]);
    expect((await queryDir(h.store.context, 'store-1', 'pipe')).result).toBe('NOT_ALLOW');
  });
});
