import { execFileSync } from 'node:child_process';
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { content, startAgent, startHarness, type Agent, type Harness } from './harness';

let h: Harness;
let agent: Agent;
let recv: string;
let outside: string;
let canMknod = true;

beforeAll(async () => {
  h = await startHarness();
  recv = path.join(h.dir, 'agent', 'recv');
  outside = path.join(h.dir, 'agent', 'outside');
  await mkdir(path.join(recv, 'adir'), { recursive: true });
  await mkdir(outside, { recursive: true });
  await symlink(outside, path.join(recv, 'escape'));
  await writeFile(path.join(recv, 'real.txt'), 'keep me');
  await symlink(path.join(recv, 'real.txt'), path.join(recv, 'link.txt'));
  execFileSync('mkfifo', [path.join(recv, 'fifo')]);
  try {
    execFileSync('mknod', [path.join(recv, 'null'), 'c', '1', '3'], { stdio: 'ignore' });
  } catch {
    canMknod = false;
  }
  await writeFile(path.join(h.filesDir, 'payload.sh'), content(3000));
  agent = await startAgent(h, { receive: [recv] });
});
afterAll(async () => {
  await agent.stop();
  await h.cleanup();
});

describe('a push whose target is not allowed', () => {
  const cases: [string, () => string, RegExp][] = [
    ['".." escaping the root', () => '../outside/payload.sh', /"\.\."/],
    ['".." that would stay inside', () => 'adir/../payload.sh', /"\.\."/],
    ['an absolute path elsewhere', () => path.join(outside, 'payload.sh'), /outside the configured roots/],
    ['an absolute system path', () => '/etc/cron.d/payload', /outside the configured roots/],
    ['a directory symlink leading out', () => 'escape/payload.sh', /symlink/],
    ['a target that is a symlink', () => 'link.txt', /symlink/],
    ['a FIFO', () => 'fifo', /FIFO/],
    ['a directory where a file is expected', () => 'adir', /directory/],
    ['a device file', () => 'null', /device file/],
  ];
  for (const [name, target, why] of cases) {
    it(`is answered NOT_ALLOW and writes nothing: ${name}`, async (ctx) => {
      if (target() === 'null' && !canMknod) ctx.skip();
      const push = await h.push({ file: 'payload.sh', target: target(), overwrite: true });
      expect(push.response.ack).toBe('NOT_ALLOW');
      expect(String(push.response.fields.reason)).toMatch(why);
      const r = await agent.nextResult();
      expect(r.code).toBe('NOT_ALLOWED');
      expect(await readdir(outside)).toEqual([]);
      expect(await readFile(path.join(recv, 'real.txt'), 'utf8')).toBe('keep me');
      expect((await readdir(recv)).filter((n) => n.includes('payload') || n.endsWith('.part'))).toEqual([]);
    });
  }

  it('ignores the HELLO name: the file lands at target_path whatever the sender calls it', async () => {
    // The server's file is called payload.sh; the store asked for another name.
    const push = await h.push({ file: 'payload.sh', target: 'adir/renamed.sh' });
    expect(push.response.ack).toBe('ok');
    expect((await agent.nextResult()).ok).toBe(true);
    expect(await readdir(path.join(recv, 'adir'))).toEqual(['renamed.sh']);
    expect(await readdir(outside)).toEqual([]);
  });
});
