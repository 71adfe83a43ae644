import { describe, expect, it } from 'vitest';
import { CrashFs, PowerCut } from '../helpers/crash-fs';
import { isFtError } from '../../src/errors';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const read = async (fs: CrashFs, path: string): Promise<string | undefined> => {
  const bytes = await fs.durableFs.readFile(path);
  return bytes === undefined ? undefined : new TextDecoder().decode(bytes);
};

/** Runs `scenario` uncut to count its boundaries, then once per cut point; returns each rebooted fs. */
async function everyCut(setup: (fs: CrashFs) => Promise<void>, scenario: (fs: CrashFs) => Promise<void>, options: ConstructorParameters<typeof CrashFs>[1] = {}): Promise<CrashFs[]> {
  const probe = new CrashFs(undefined, options);
  await setup(probe);
  const start = probe.boundaries;
  await scenario(probe);
  const total = probe.boundaries - start;
  const out: CrashFs[] = [];
  for (let k = 0; k <= total; k++) {
    const fs = new CrashFs(undefined, options);
    await setup(fs);
    fs.cutPowerAt(fs.boundaries + k);
    await scenario(fs).catch((err: unknown) => {
      if (!(err instanceof PowerCut)) throw err;
    });
    out.push(fs.reboot());
  }
  return out;
}

describe('crash-fs', () => {
  it('loses the data of a naive write that was never fsynced, even when its name was', async () => {
    const fs = new CrashFs();
    const f = await fs.openForWrite('/state', 0o600);
    await f.write(text('important'));
    await f.close();
    await fs.syncDir('/');
    const after = fs.reboot();
    expect(await read(after, '/state')).toBe('');
  });

  it('loses a created file whose directory was never fsynced, even when its data was', async () => {
    const fs = new CrashFs();
    const f = await fs.openForWrite('/state', 0o600);
    await f.write(text('important'));
    await f.sync();
    await f.close();
    expect(await read(fs.reboot(), '/state')).toBeUndefined();
  });

  it('keeps a rename only after the directory is fsynced', async () => {
    const fs = new CrashFs();
    await fs.durableFs.writeFileAtomic('/a', text('A'));
    await fs.rename('/a', '/b');
    const lost = fs.reboot();
    expect(await read(lost, '/a')).toBe('A');
    expect(await read(lost, '/b')).toBeUndefined();
    await fs.syncDir('/');
    const kept = fs.reboot();
    expect(await read(kept, '/a')).toBeUndefined();
    expect(await read(kept, '/b')).toBe('A');
  });

  it('shows a file in both directories after a cross-directory rename when only the target was fsynced', async () => {
    const fs = new CrashFs();
    await fs.durableFs.mkdirp('/x');
    await fs.durableFs.mkdirp('/y');
    await fs.durableFs.writeFileAtomic('/x/f', text('F'));
    await fs.rename('/x/f', '/y/f');
    await fs.syncDir('/y');
    const after = fs.reboot();
    expect(await read(after, '/x/f')).toBe('F');
    expect(await read(after, '/y/f')).toBe('F');
  });

  it('throws PowerCut from the cut boundary and from every call after it', async () => {
    const fs = new CrashFs();
    fs.cutPowerAt(1);
    const f = await fs.openForWrite('/a', 0o600);
    await expect(f.write(text('x'))).rejects.toBeInstanceOf(PowerCut);
    await expect(f.sync()).rejects.toBeInstanceOf(PowerCut);
    await expect(fs.readdir('/')).rejects.toBeInstanceOf(PowerCut);
    expect(fs.isDead).toBe(true);
  });

  it('counts open, write, fsync, rename and directory fsync as boundaries of an atomic write', async () => {
    const fs = new CrashFs();
    await fs.durableFs.writeFileAtomic('/a', text('x'));
    expect(fs.ops.map((o) => o.split(' ')[1])).toEqual(['open', 'write', 'fsync', 'rename', 'fsync-dir']);
  });

  for (const unsyncedData of ['lost', 'partial'] as const) {
    it(`never leaves a torn file after an atomic replace, at any cut (unsynced data ${unsyncedData})`, async () => {
      const results = await everyCut(
        (fs) => fs.durableFs.writeFileAtomic('/f', text('old complete content')),
        (fs) => fs.durableFs.writeFileAtomic('/f', text('new complete content, longer')),
        { unsyncedData },
      );
      expect(results.length).toBeGreaterThan(5);
      const seen = new Set<string | undefined>();
      for (const fs of results) {
        const content = await read(fs, '/f');
        expect(['old complete content', 'new complete content, longer']).toContain(content);
        seen.add(content);
        expect(await fs.durableFs.list('/')).toEqual(['f']);
      }
      expect(seen.size).toBe(2);
    });
  }

  it('creates a new file all or nothing at any cut', async () => {
    const results = await everyCut(
      async () => undefined,
      (fs) => fs.durableFs.writeFileAtomic('/new', text('whole')),
      { unsyncedData: 'partial' },
    );
    for (const fs of results) expect([undefined, 'whole']).toContain(await read(fs, '/new'));
  });

  it('makes directories from mkdirp durable with mode 0700', async () => {
    const fs = new CrashFs();
    await fs.durableFs.mkdirp('/var/lib/ftagent/jobs');
    const after = fs.reboot();
    const st = await after.durableFs.stat('/var/lib/ftagent/jobs');
    expect(st?.kind).toBe('dir');
    expect(st?.mode).toBe(0o700);
  });

  it('turns ENOSPC into DISK_FULL naming the path, removes the temp file and keeps the old content', async () => {
    const fs = new CrashFs();
    await fs.durableFs.writeFileAtomic('/f', text('old'));
    fs.limitSpace(10);
    const err: unknown = await fs.durableFs.writeFileAtomic('/f', text('far more than ten bytes')).catch((e: unknown) => e);
    expect(isFtError(err, 'DISK_FULL')).toBe(true);
    expect((err as Error).message).toContain('/f');
    expect((err as Error).message).toMatch(/free space|stateDir/);
    expect(await fs.durableFs.list('/')).toEqual(['f']);
    expect(await read(fs, '/f')).toBe('old');
  });

  it('reboots to the same durable state when no power cut happened', async () => {
    const fs = new CrashFs();
    await fs.durableFs.mkdirp('/d');
    await fs.durableFs.writeFileAtomic('/d/a', text('1'));
    await fs.durableFs.writeFileAtomic('/d/b', text('2'));
    await fs.durableFs.remove('/d/a');
    expect(CrashFs.dump(fs.reboot())).toEqual({ '/d/b': '2' });
  });
});

describe('crash-fs finds the bugs it exists to find', () => {
  it('shows a torn file when a record is rewritten in place instead of atomically', async () => {
    const results = await everyCut(
      (fs) => fs.durableFs.writeFileAtomic('/f', text('old complete content')),
      async (fs) => {
        const f = await fs.openForWrite('/f', 0o600);
        await f.write(text('new complete content, longer'));
        await f.sync();
        await f.close();
      },
      { unsyncedData: 'partial' },
    );
    const contents = await Promise.all(results.map((fs) => read(fs, '/f')));
    expect(contents.some((c) => c !== 'old complete content' && c !== 'new complete content, longer')).toBe(true);
  });

  it('loses a replaced file when the rename is not followed by a directory fsync', async () => {
    const fs = new CrashFs();
    const f = await fs.openForWrite('/f.tmp', 0o600);
    await f.write(text('new'));
    await f.sync();
    await f.close();
    await fs.rename('/f.tmp', '/f');
    expect(await read(fs.reboot(), '/f')).toBeUndefined();
  });
});
