import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isFtError } from '../../src/errors';
import { ConfinedDir } from '../../src/storage/confined-dir';
import { constants as fsc, link } from 'node:fs';
import { confineExisting, confineWriteTarget, prepareRoots, type ConfineRoot } from '../../src/transfer/store/confine';

let dir: string;
let recv: string;
let outside: string;
let roots: ConfineRoot[];

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'ftagent-confine-'));
  recv = path.join(dir, 'recv');
  outside = path.join(dir, 'outside');
  await mkdir(outside, { recursive: true });
  roots = (await prepareRoots([recv], { create: true })).roots;
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function refusal(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isFtError(err, 'NOT_ALLOWED'), `expected NOT_ALLOWED, got ${String(err)}`).toBe(true);
  return (err as Error).message;
}

describe('confineWriteTarget', () => {
  it('accepts a relative path under the first root and an absolute path inside it', async () => {
    const rel = await confineWriteTarget(roots, 'campaign/a.mp4');
    expect(rel.path).toBe(path.join(roots[0]!.real, 'campaign', 'a.mp4'));
    expect(rel.exists).toBe(false);
    const abs = await confineWriteTarget(roots, path.join(recv, 'b.sh'));
    expect(abs.path).toBe(path.join(roots[0]!.real, 'b.sh'));
  });

  it('reports an existing regular file so the caller can apply its overwrite policy', async () => {
    await writeFile(path.join(recv, 'old.txt'), 'x');
    expect((await confineWriteTarget(roots, 'old.txt')).exists).toBe(true);
  });

  it('refuses ".." anywhere in the path, even when it would stay inside', async () => {
    expect(await refusal(confineWriteTarget(roots, '../outside/x'))).toMatch(/"\.\."/);
    expect(await refusal(confineWriteTarget(roots, 'a/../b'))).toMatch(/"\.\."/);
    await refusal(confineWriteTarget(roots, `${recv}/../outside/x`));
  });

  it('refuses absolute paths outside every root', async () => {
    expect(await refusal(confineWriteTarget(roots, path.join(outside, 'x')))).toMatch(/outside the configured roots/);
    await refusal(confineWriteTarget(roots, '/etc/passwd'));
    // A sibling whose name merely starts with the root's name is not inside it.
    await refusal(confineWriteTarget(roots, `${recv}2/x`));
  });

  it('refuses a directory symlink that leads out of the root', async () => {
    await symlink(outside, path.join(recv, 'escape'));
    expect(await refusal(confineWriteTarget(roots, 'escape/x.sh'))).toMatch(/symlink/);
    expect(await refusal(confineWriteTarget(roots, 'escape/deeper/x.sh'))).toMatch(/symlink/);
  });

  it('refuses a target that is itself a symlink, even one pointing inside', async () => {
    await writeFile(path.join(recv, 'real.txt'), 'x');
    await symlink(path.join(recv, 'real.txt'), path.join(recv, 'link.txt'));
    await symlink(path.join(outside, 'passwd'), path.join(recv, 'out.txt'));
    expect(await refusal(confineWriteTarget(roots, 'link.txt'))).toMatch(/symlink/);
    expect(await refusal(confineWriteTarget(roots, 'out.txt'))).toMatch(/symlink/);
  });

  it('refuses a dangling directory symlink (mkdir would follow it out)', async () => {
    await symlink(path.join(outside, 'not-yet'), path.join(recv, 'dangling'));
    expect(await refusal(confineWriteTarget(roots, 'dangling/x'))).toMatch(/symlink to nowhere/);
  });

  it('refuses a partial file planted as a symlink beside the target', async () => {
    await symlink(path.join(outside, 'victim'), path.join(recv, 'x.bin.part'));
    expect(await refusal(confineWriteTarget(roots, 'x.bin'))).toMatch(/x\.bin\.part is a symlink/);
  });

  it('refuses directories, FIFOs, sockets and device files as targets', async () => {
    await mkdir(path.join(recv, 'adir'));
    expect(await refusal(confineWriteTarget(roots, 'adir'))).toMatch(/directory/);
    expect(await refusal(confineWriteTarget(roots, 'sub/'))).toMatch(/directory where a file is expected/);
    expect(await refusal(confineWriteTarget(roots, recv))).toMatch(/root directory itself/);
    execFileSync('mkfifo', [path.join(recv, 'fifo')]);
    expect(await refusal(confineWriteTarget(roots, 'fifo'))).toMatch(/FIFO/);
    const server: Server = createServer();
    await new Promise<void>((resolve) => server.listen(path.join(recv, 'sock'), resolve));
    try {
      expect(await refusal(confineWriteTarget(roots, 'sock'))).toMatch(/socket/);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('refuses a character device file inside the root', async (ctx) => {
    try {
      execFileSync('mknod', [path.join(recv, 'null'), 'c', '1', '3'], { stdio: 'ignore' });
    } catch {
      ctx.skip(); // needs CAP_MKNOD
    }
    expect(await refusal(confineWriteTarget(roots, 'null'))).toMatch(/device file/);
    const d = await ConfinedDir.open(roots[0]!.real, roots[0]!.real, { create: false });
    expect(await refusal(d.openFile('null', fsc.O_RDWR))).toMatch(/not a regular file/);
    await d.close();
  });

  it('refuses a path through a regular file, a NUL byte, reserved partial-file names, and no roots at all', async () => {
    await writeFile(path.join(recv, 'file'), 'x');
    expect(await refusal(confineWriteTarget(roots, 'file/x'))).toMatch(/not a directory/);
    await refusal(confineWriteTarget(roots, 'a\0b'));
    await refusal(confineWriteTarget(roots, 'x.part'));
    await refusal(confineWriteTarget(roots, 'x.part.map'));
    expect(await refusal(confineWriteTarget([], 'x'))).toMatch(/no roots/);
  });

  it('follows a root that is itself a symlink, by either spelling', async () => {
    const linkRoot = path.join(dir, 'recv-link');
    await symlink(recv, linkRoot);
    const viaLink = (await prepareRoots([linkRoot], { create: false })).roots;
    const t = await confineWriteTarget(viaLink, path.join(linkRoot, 'x'));
    expect(t.path).toBe(path.join(viaLink[0]!.real, 'x'));
    expect((await confineWriteTarget(viaLink, path.join(viaLink[0]!.real, 'y'))).path).toBe(path.join(viaLink[0]!.real, 'y'));
  });
});

describe('confineExisting', () => {
  it('finds files and folders, following symlinks only while they stay inside', async () => {
    await mkdir(path.join(recv, 'media'));
    await writeFile(path.join(recv, 'media', 'a.jpg'), 'x');
    await symlink(path.join(recv, 'media'), path.join(recv, 'alias'));
    expect((await confineExisting(roots, 'media')).type).toBe('folder');
    expect((await confineExisting(roots, 'media/a.jpg')).type).toBe('file');
    expect((await confineExisting(roots, 'alias/a.jpg')).path).toBe(path.join(roots[0]!.real, 'media', 'a.jpg'));
  });

  it('says NOT_FOUND for a missing path inside, NOT_ALLOWED for one reached through a symlink out', async () => {
    const missing = await confineExisting(roots, 'nope').catch((e: unknown) => e);
    expect(isFtError(missing, 'NOT_FOUND')).toBe(true);
    await symlink(outside, path.join(recv, 'escape'));
    await writeFile(path.join(outside, 'secret'), 's');
    await refusal(confineExisting(roots, 'escape'));
    await refusal(confineExisting(roots, 'escape/secret'));
    await refusal(confineExisting(roots, 'escape/missing'));
  });

  it('refuses special files', async () => {
    execFileSync('mkfifo', [path.join(recv, 'fifo')]);
    expect(await refusal(confineExisting(roots, 'fifo'))).toMatch(/FIFO/);
  });
});

describe('ConfinedDir', () => {
  it('opens a file, refuses a symlink, a hard-linked file and a FIFO swapped in under its name', async () => {
    const real = roots[0]!.real;
    const d = await ConfinedDir.open(real, path.join(real, 'a', 'b'), { create: true });
    await writeFile(path.join(real, 'a', 'b', 'f'), 'x');
    await (await d.openFile('f', fsc.O_RDWR)).close();
    await symlink(path.join(outside, 'secret'), path.join(real, 'a', 'b', 'l'));
    expect(await refusal(d.openFile('l', fsc.O_RDWR | fsc.O_CREAT))).toMatch(/symlink/);
    await writeFile(path.join(outside, 'victim'), 'v');
    await new Promise<void>((resolve, reject) => link(path.join(outside, 'victim'), path.join(real, 'a', 'b', 'h'), (e) => (e ? reject(e) : resolve())));
    expect(await refusal(d.openFile('h', fsc.O_RDWR))).toMatch(/2 hard links/);
    execFileSync('mkfifo', [path.join(real, 'a', 'b', 'p')]);
    expect(await refusal(d.openFile('p', fsc.O_RDWR))).toMatch(/not a regular file/);
    await d.close();
  });

  it('never walks through a symlink, and notices when its directory is moved away', async () => {
    const real = roots[0]!.real;
    await symlink(outside, path.join(real, 'out'));
    expect(await refusal(ConfinedDir.open(real, path.join(real, 'out', 'x'), { create: true }))).toMatch(/symlink/);
    expect(await import('node:fs/promises').then((f) => f.readdir(outside))).toEqual([]);
    const d = await ConfinedDir.open(real, path.join(real, 'm'), { create: true });
    await d.verify();
    await import('node:fs/promises').then((f) => f.rename(path.join(real, 'm'), path.join(real, 'm2')));
    await symlink(outside, path.join(real, 'm'));
    expect(await refusal(d.verify())).toMatch(/moved or replaced/);
    await d.close();
  });
});
