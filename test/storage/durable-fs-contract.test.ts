import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DurableFs } from '../../src/storage/durable-fs';
import { createNodeDurableFs } from '../../src/storage/node-fs';
import { CrashFs } from '../helpers/crash-fs';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : new TextDecoder().decode(b));

interface Subject {
  fs: DurableFs;
  root: string;
  cleanup: () => Promise<void>;
}

const subjects: [string, () => Promise<Subject>][] = [
  [
    'node fs',
    async () => {
      const root = await mkdtemp(join(tmpdir(), 'ftagent-fs-'));
      return { fs: createNodeDurableFs(), root, cleanup: () => rm(root, { recursive: true, force: true }) };
    },
  ],
  [
    'crash fs',
    async () => {
      const crash = new CrashFs();
      await crash.durableFs.mkdirp('/tmp/t');
      return { fs: crash.durableFs, root: '/tmp/t', cleanup: async () => undefined };
    },
  ],
];

describe.each(subjects)('DurableFs contract: %s', (_name, make) => {
  let s: Subject;
  afterEach(async () => s.cleanup());

  it('writes a whole file with mode 0600 and reads it back', async () => {
    s = await make();
    await s.fs.writeFileAtomic(join(s.root, 'a'), text('hello'));
    expect(str(await s.fs.readFile(join(s.root, 'a')))).toBe('hello');
    const st = await s.fs.stat(join(s.root, 'a'));
    expect(st).toMatchObject({ kind: 'file', size: 5, mode: 0o600 });
  });

  it('replaces an existing file and leaves no temp file behind', async () => {
    s = await make();
    await s.fs.writeFileAtomic(join(s.root, 'a'), text('one'));
    await s.fs.writeFileAtomic(join(s.root, 'a'), text('two'));
    expect(str(await s.fs.readFile(join(s.root, 'a')))).toBe('two');
    expect(await s.fs.list(s.root)).toEqual(['a']);
  });

  it('answers undefined or [] for what does not exist, and removing it is a no-op', async () => {
    s = await make();
    expect(await s.fs.readFile(join(s.root, 'nope'))).toBeUndefined();
    expect(await s.fs.stat(join(s.root, 'nope'))).toBeUndefined();
    expect(await s.fs.list(join(s.root, 'nodir'))).toEqual([]);
    await s.fs.remove(join(s.root, 'nope'));
  });

  it('creates nested directories with mode 0700 and tolerates existing ones', async () => {
    s = await make();
    await s.fs.mkdirp(join(s.root, 'x/y/z'));
    await s.fs.mkdirp(join(s.root, 'x/y/z'));
    for (const d of ['x', 'x/y', 'x/y/z']) expect(await s.fs.stat(join(s.root, d))).toMatchObject({ kind: 'dir', mode: 0o700 });
  });

  it('lists sorted names, renames across directories and removes', async () => {
    s = await make();
    await s.fs.mkdirp(join(s.root, 'q'));
    for (const n of ['c', 'a', 'b']) await s.fs.writeFileAtomic(join(s.root, n), text(n));
    expect(await s.fs.list(s.root)).toEqual(['a', 'b', 'c', 'q']);
    await s.fs.rename(join(s.root, 'a'), join(s.root, 'q/a2'));
    expect(str(await s.fs.readFile(join(s.root, 'q/a2')))).toBe('a');
    await s.fs.remove(join(s.root, 'b'));
    expect(await s.fs.list(s.root)).toEqual(['c', 'q']);
  });

  it('refuses to treat a file as a directory', async () => {
    s = await make();
    await s.fs.writeFileAtomic(join(s.root, 'f'), text('x'));
    await expect(s.fs.mkdirp(join(s.root, 'f/sub'))).rejects.toMatchObject({ code: 'STATE_CORRUPT' });
  });
});

describe('node fs specifics', () => {
  let root = '';
  afterEach(async () => rm(root, { recursive: true, force: true }));

  it('cleans the temp file when the final rename fails', async () => {
    root = await mkdtemp(join(tmpdir(), 'ftagent-fs-'));
    const fs = createNodeDurableFs();
    // A non-empty directory where the file should go makes rename fail after the temp file exists.
    await mkdir(join(root, 'target'));
    await writeFile(join(root, 'target', 'inside'), 'x');
    await expect(fs.writeFileAtomic(join(root, 'target'), text('data'))).rejects.toThrow();
    expect(await fs.list(root)).toEqual(['target']);
  });

  it('fsyncs directories by opening them read-only (works on Linux)', async () => {
    root = await mkdtemp(join(tmpdir(), 'ftagent-fs-'));
    const fs = createNodeDurableFs();
    await fs.mkdirp(join(root, 'a'));
    await fs.writeFileAtomic(join(root, 'a', 'f'), text('x'));
    expect((await stat(join(root, 'a', 'f'))).mode & 0o777).toBe(0o600);
  });
});
