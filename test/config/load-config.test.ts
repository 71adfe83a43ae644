import { describe, expect, expectTypeOf, it } from 'vitest';
import { parseConfig, watchUpload, type Config } from '../../src/config/load-config';
import { editDistance } from '../../src/config/validate';

describe('loadConfig', () => {
  it('fills every default', async () => {
    const c = await parseConfig('{}', '/etc/ftagent/config.json', { env: {} });
    expect(c).toMatchObject({
      brokers: ['mqtt://localhost:1883'],
      tls: { insecure: false },
      mqtt: { version: '5', mode: 'sync', keepalive: 60, maxPacketSize: 1048576 },
      upload: { memoryBudget: 8388608, finTimeoutSeconds: 330, segmentChecksums: false, onSourceChange: 'fail' },
      stateDir: '/var/lib/ftagent',
      maxConcurrent: 1,
      checkpoint: { everyBytes: 1048576, everyMs: 2000 },
      retention: { finishedJobs: 200 },
      watch: [],
      store: {
        enabled: false,
        requestTimeoutSeconds: 10,
        rescanSeconds: 30,
        nftp: { blockSize: 32768, width: 'u16', window: 4, intervalMs: 20, lingerSeconds: 30, stallMs: 500, maxGivemes: 8, helloWaitMs: 60000, checkpointEvery: 64 },
        receive: { roots: [], browseRoots: [], overwrite: false, maxConcurrent: 4, maxReservedBytes: 4294967296, staleHours: 72 },
      },
      log: { level: 'info' },
      source: '/etc/ftagent/config.json',
    });
    expect(c.upload.chunkSize).toBeUndefined();
    expect(c.upload.window).toBeUndefined();
    expect(c.clientId).toMatch(/^ftagent-/);
    expect(c.password).toBeUndefined();
  });

  it('merges per-watch overrides over the upload defaults', async () => {
    const c = await parseConfig(JSON.stringify({ upload: { window: 8 }, watch: [{ dir: 'in', upload: { chunkSize: 4096 } }] }), '/etc/ftagent/config.json');
    const w = c.watch[0];
    expect(w?.dir).toBe('/etc/ftagent/in');
    expect(w && watchUpload(c, w)).toEqual({ chunkSize: 4096, window: 8, memoryBudget: 8388608, finTimeoutSeconds: 330, segmentChecksums: false, onSourceChange: 'fail' });
  });

  it('lets a watch folder override what happens when a file changes before it is sent', async () => {
    const c = await parseConfig(JSON.stringify({ upload: { onSourceChange: 'restart' }, watch: [{ dir: 'a' }, { dir: 'b', upload: { onSourceChange: 'fail' } }] }), '/etc/ftagent/config.json');
    expect(c.watch.map((w) => watchUpload(c, w).onSourceChange)).toEqual(['restart', 'fail']);
  });

  it('resolves the store roots against the config file and accepts a big block with the u32 width', async () => {
    const c = await parseConfig(
      JSON.stringify({ store: { enabled: true, nftp: { blockSize: 262144, width: 'u32' }, receive: { roots: ['recv', '/srv/media'], browseRoots: ['logs'] } } }),
      '/etc/ftagent/config.json',
    );
    expect(c.store.receive).toEqual({
      roots: ['/etc/ftagent/recv', '/srv/media'],
      browseRoots: ['/etc/ftagent/logs'],
      overwrite: false,
      maxConcurrent: 4,
      maxReservedBytes: 4 * 1024 * 1024 * 1024,
      staleHours: 72,
    });
    expect(c.store.nftp).toMatchObject({ blockSize: 262144, width: 'u32', lingerSeconds: 30 });
  });

  it('derives its type from the schema', () => {
    expectTypeOf<Config['upload']['chunkSize']>().toEqualTypeOf<number | undefined>();
    expectTypeOf<Config['mqtt']['mode']>().toEqualTypeOf<'sync' | 'async'>();
    expectTypeOf<Config['watch'][number]['afterSuccess']>().toEqualTypeOf<'keep' | 'delete' | 'move'>();
    expectTypeOf<Config['watch'][number]['upload']['window']>().toEqualTypeOf<number | undefined>();
    expectTypeOf<Config['username']>().toEqualTypeOf<string | undefined>();
    expectTypeOf<Config['store']['nftp']['width']>().toEqualTypeOf<'u16' | 'u32'>();
    expectTypeOf<Config['store']['receive']['roots']>().toEqualTypeOf<string[]>();
    expectTypeOf<Config['upload']['onSourceChange']>().toEqualTypeOf<'fail' | 'restart'>();
  });

  it('measures edit distance', () => {
    expect(editDistance('chunksize', 'chunksize')).toBe(0);
    expect(editDistance('brokr', 'brokers')).toBe(2);
    expect(editDistance('', 'abc')).toBe(3);
  });
});
