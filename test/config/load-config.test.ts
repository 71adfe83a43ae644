import { describe, expect, expectTypeOf, it } from 'vitest';
import { parseConfig, watchUpload, type Config } from '../../src/config/load-config';
import { editDistance } from '../../src/config/validate';

describe('loadConfig', () => {
  it('fills every default', async () => {
    const c = await parseConfig('{}', '/etc/ftagent/config.json', { env: {} });
    expect(c).toMatchObject({
      brokers: ['mqtt://localhost:1883'],
      tls: { insecure: false },
      mqtt: { version: '5', mode: 'sync', keepalive: 60 },
      upload: { chunkSize: 65536, window: 16, finTimeoutSeconds: 330, segmentChecksums: false },
      stateDir: '/var/lib/ftagent',
      maxConcurrent: 1,
      checkpoint: { everyBytes: 1048576, everyMs: 2000 },
      retention: { finishedJobs: 200 },
      watch: [],
      log: { level: 'info' },
      source: '/etc/ftagent/config.json',
    });
    expect(c.clientId).toMatch(/^ftagent-/);
    expect(c.password).toBeUndefined();
  });

  it('merges per-watch overrides over the upload defaults', async () => {
    const c = await parseConfig(JSON.stringify({ upload: { window: 8 }, watch: [{ dir: 'in', upload: { chunkSize: 4096 } }] }), '/etc/ftagent/config.json');
    const w = c.watch[0];
    expect(w?.dir).toBe('/etc/ftagent/in');
    expect(w && watchUpload(c, w)).toEqual({ chunkSize: 4096, window: 8, finTimeoutSeconds: 330, segmentChecksums: false });
  });

  it('derives its type from the schema', () => {
    expectTypeOf<Config['upload']['chunkSize']>().toEqualTypeOf<number>();
    expectTypeOf<Config['mqtt']['mode']>().toEqualTypeOf<'sync' | 'async'>();
    expectTypeOf<Config['watch'][number]['afterSuccess']>().toEqualTypeOf<'keep' | 'delete' | 'move'>();
    expectTypeOf<Config['watch'][number]['upload']['window']>().toEqualTypeOf<number | undefined>();
    expectTypeOf<Config['username']>().toEqualTypeOf<string | undefined>();
  });

  it('measures edit distance', () => {
    expect(editDistance('chunksize', 'chunksize')).toBe(0);
    expect(editDistance('brokr', 'brokers')).toBe(2);
    expect(editDistance('', 'abc')).toBe(3);
  });
});
