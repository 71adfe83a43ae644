import { readdir, readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FtHarness, sha256Hex } from './ft-harness';

/** docs/emqx-ft.md §3, one test per row, in both modes; docs/emqx-ft.md §4 for the response itself. */
describe.each([
  ['sync', '$file'],
  ['async', '$file-async'],
] as const)('%s mode (%s/…)', (mode, p) => {
  let h: FtHarness;
  beforeEach(async () => {
    h = await FtHarness.create();
  });
  afterEach(async () => {
    await h.dispose();
  });

  const init = (id: string, meta: object = { name: 'f.bin' }) => h.command(`${p}/${id}/init`, JSON.stringify(meta));

  it('init stored: 0x00 / success, and an identical re-init too', async () => {
    expect(await init('f1')).toMatchObject({ rc: 0, response: { reason_code: 0, reason_description: 'success' } });
    expect(await init('f1')).toMatchObject({ rc: 0, response: { reason_code: 0 } });
  });

  it('init with bad JSON or schema: 0x80 / invalid_filemeta_json, invalid_filemeta', async () => {
    expect(await h.command(`${p}/f1/init`, '{')).toMatchObject({ rc: 0x80, response: { reason_code: 128, reason_description: 'invalid_filemeta_json' } });
    expect(await h.command(`${p}/f1/init`, '{"name":"a/b"}')).toMatchObject({ rc: 0x80, response: { reason_description: 'invalid_filemeta' } });
  });

  it('init with a different meta for the same clientId+fileId: 0x80 / filemeta_conflict', async () => {
    await init('f1', { name: 'f.bin', size: 10 });
    expect(await init('f1', { name: 'f.bin', size: 11 })).toMatchObject({ rc: 0x80, response: { reason_description: 'filemeta_conflict' } });
    // Another client may use the same fileId with another meta.
    const other = await h.command(`${p}/f1/init`, JSON.stringify({ name: 'g' }), { clientId: 'c2' });
    expect(other.rc).toBe(0);
  });

  it('segment stored, including duplicate, empty, negative offset and beyond the size: 0x00', async () => {
    for (const topic of [`${p}/f1/0`, `${p}/f1/0`, `${p}/f1/5`, `${p}/f1/-3`, `${p}/f1/99999`]) {
      const payload = topic.endsWith('/5') ? '' : 'abc';
      expect(await h.command(topic, payload)).toMatchObject({ rc: 0, response: { reason_code: 0, reason_description: 'success' } });
    }
    const frags = await readdir(path.join(h.dataDir, 'segments', 'c1', 'f1', 'frags'));
    expect(frags.sort()).toEqual(['SEG.-3.3', 'SEG.0.3', 'SEG.5.0', 'SEG.99999.3']);
  });

  it('segment with a wrong checksum level: 0x80 / checksum_mismatch, not stored; right one stored', async () => {
    expect(await h.command(`${p}/f1/0/${sha256Hex('other')}`, 'data')).toMatchObject({ rc: 0x80, response: { reason_description: 'checksum_mismatch' } });
    await expect(readdir(path.join(h.dataDir, 'segments', 'c1', 'f1', 'frags'))).rejects.toThrow();
    expect(await h.command(`${p}/f1/0/${sha256Hex('data').toUpperCase()}`, 'data')).toMatchObject({ rc: 0 });
  });

  it('segment with bad offset or checksum format: invalid_offset / invalid_checksum', async () => {
    expect(await h.command(`${p}/f1/x`, 'd')).toMatchObject({ rc: 0x80, response: { reason_description: 'invalid_offset' } });
    expect(await h.command(`${p}/f1/0/abc`, 'd')).toMatchObject({ rc: 0x80, response: { reason_description: 'invalid_checksum' } });
  });

  it('empty fileId: invalid_fileid; unknown command: invalid_file_command', async () => {
    expect(await h.command(`${p}//init`, '{}')).toMatchObject({ rc: 0x80, response: { reason_description: 'invalid_fileid' } });
    expect(await h.command(`${p}/f1/fin/1/${sha256Hex('')}/x`)).toMatchObject({ rc: 0x80, response: { reason_description: 'invalid_file_command' } });
    expect(await h.command(`${p}/f1`)).toMatchObject({ rc: 0x80, response: { reason_description: 'invalid_file_command' } });
  });

  it('fin with bad size or checksum format: immediate 0x80 / invalid_size, invalid_checksum', async () => {
    expect(await h.command(`${p}/f1/fin/x`)).toMatchObject({ rc: 0x80, response: { reason_description: 'invalid_size' } });
    expect(await h.command(`${p}/f1/fin/1/zz`)).toMatchObject({ rc: 0x80, response: { reason_description: 'invalid_checksum' } });
  });

  it('fin that assembles: success, and the file is exported with its manifest', async () => {
    const data = 'hello world';
    await init('f1', { name: 'hello.txt', size: 11 });
    await h.command(`${p}/f1/0`, data.slice(0, 6));
    await h.command(`${p}/f1/6`, data.slice(6));
    const fin = await h.command(`${p}/f1/fin/11`);
    expect(fin).toMatchObject({ rc: 0, response: { reason_code: 0, reason_description: 'success', topic: `${p}/f1/fin/11`, vsn: '0.1' } });
    const dir = path.join(h.dataDir, 'exports', 'c1', 'f1');
    expect(await readFile(path.join(dir, 'hello.txt'), 'utf8')).toBe(data);
    const manifest = JSON.parse(await readFile(path.join(dir, 'hello.txt.MANIFEST.json'), 'utf8')) as unknown[];
    expect(manifest).toEqual(['filemeta', 1, { name: 'hello.txt', size: 11, checksum: sha256Hex(data).toUpperCase() }]);
    // Fragments are garbage-collected after a successful export.
    await expect(readdir(path.join(h.dataDir, 'segments', 'c1', 'f1', 'frags'))).rejects.toThrow();
  });

  it(`fin with missing segments or no init: ${mode === 'sync' ? '0x80' : '0x00'} PUBACK, incomplete response`, async () => {
    await h.command(`${p}/f1/0`, 'abc');
    const noInit = await h.command(`${p}/f1/fin/3`);
    expect(noInit).toMatchObject({ rc: mode === 'sync' ? 0x80 : 0, response: { reason_code: 128, reason_description: 'incomplete' } });
    await init('f1');
    const gap = await h.command(`${p}/f1/fin/6`);
    expect(gap).toMatchObject({ rc: mode === 'sync' ? 0x80 : 0, response: { reason_description: 'incomplete' } });
    // Segments are kept: filling the gap and re-sending fin succeeds.
    await h.command(`${p}/f1/3`, 'def');
    expect((await h.command(`${p}/f1/fin/6`)).response.reason_code).toBe(0);
  });

  it(`fin with a whole-file checksum mismatch: internal_error, segments kept, correct fin succeeds`, async () => {
    await init('f1', { name: 'x', checksum: sha256Hex('wrong') });
    await h.command(`${p}/f1/0`, 'abc');
    const bad = await h.command(`${p}/f1/fin/3`);
    expect(bad).toMatchObject({ rc: mode === 'sync' ? 0x80 : 0, response: { reason_code: 128, reason_description: 'internal_error' } });
    expect(await readdir(path.join(h.dataDir, 'exports', 'c1', 'f1')).catch(() => [])).toEqual([]);
    // The fin checksum takes precedence over the init's.
    const good = await h.command(`${p}/f1/fin/3/${sha256Hex('abc')}`);
    expect(good.response).toMatchObject({ reason_code: 0 });
    const manifest = JSON.parse(await readFile(path.join(h.dataDir, 'exports', 'c1', 'f1', 'x.MANIFEST.json'), 'utf8')) as [string, number, { checksum: string }];
    expect(manifest[2].checksum).toBe(sha256Hex('abc').toUpperCase());
  });

  it('fin after export: success without checks', async () => {
    await init('f1');
    await h.command(`${p}/f1/0`, 'abc');
    expect((await h.command(`${p}/f1/fin/3`)).response.reason_code).toBe(0);
    expect(await h.command(`${p}/f1/fin/999/${sha256Hex('nope')}`)).toMatchObject({ rc: 0, response: { reason_code: 0, reason_description: 'success' } });
  });

  it('fin size 0 exports an empty file, but still needs init', async () => {
    expect((await h.command(`${p}/f0/fin/0`)).response.reason_description).toBe('incomplete');
    await init('f0', { name: 'empty' });
    expect((await h.command(`${p}/f0/fin/0`)).response.reason_code).toBe(0);
    expect(await readFile(path.join(h.dataDir, 'exports', 'c1', 'f0', 'empty'), 'utf8')).toBe('');
  });

  it('abort: 0x00 / success, nothing deleted', async () => {
    await h.command(`${p}/f1/0`, 'abc');
    expect(await h.command(`${p}/f1/abort`)).toMatchObject({ rc: 0, response: { reason_description: 'success' } });
    expect(await readdir(path.join(h.dataDir, 'segments', 'c1', 'f1', 'frags'))).toEqual(['SEG.0.3']);
  });

  it('QoS 0 is dropped silently, QoS 2 gets 0x10 and is ignored; neither answers', async () => {
    expect(await h.send(`${p}/f1/init`, '{"name":"a"}', { qos: 0 })).toBe('drop');
    expect(await h.send(`${p}/f1/init`, '{"name":"a"}', { qos: 2 })).toBe(0x10);
    expect(h.published).toEqual([]);
    await expect(readdir(path.join(h.dataDir, 'segments'))).rejects.toThrow();
  });

  it('a JSON init that is not an object: 0x10 and no response (handler crash)', async () => {
    expect(await h.send(`${p}/f1/init`, '[]')).toBe(0x10);
    expect(await h.send(`${p}/f1/init`, '1')).toBe(0x10);
    expect(h.published).toEqual([]);
  });

  it('other topics are not claimed', async () => {
    expect(await h.send('a/b', 'x')).toBeNull();
    expect(await h.send('$file-response/c1', 'x')).toBeNull();
  });

  it('responds to Response-Topic with Correlation-Data when given, else $file-response/{clientid}', async () => {
    const cd = Buffer.from('corr-1');
    await h.send(`${p}/f1/abort`, '', { properties: { responseTopic: 'my/replies', correlationData: cd } });
    await h.send(`${p}/f1/abort`, '', { protocolVersion: 4 });
    expect(h.published[0]).toMatchObject({ topic: 'my/replies', qos: 1, properties: { correlationData: cd } });
    expect(h.published[1]).toMatchObject({ topic: '$file-response/c1', qos: 1 });
    expect(h.published[1]?.properties).toBeUndefined();
    const r = JSON.parse(h.published[0]?.payload.toString() ?? '') as Record<string, unknown>;
    expect(Object.keys(r).sort()).toEqual(['packet_id', 'reason_code', 'reason_description', 'topic', 'vsn']);
    expect(r['packet_id']).toBe(1);
  });
});

describe('mode may change per command', () => {
  it('init async, segment sync, fin async', async () => {
    const h = await FtHarness.create();
    try {
      expect((await h.command('$file-async/m/init', '{"name":"m"}')).rc).toBe(0);
      expect((await h.command('$file/m/0', 'xyz')).rc).toBe(0);
      expect((await h.command('$file-async/m/fin/3')).response.reason_code).toBe(0);
      expect(await readFile(path.join(h.dataDir, 'exports', 'c1', 'm', 'm'), 'utf8')).toBe('xyz');
    } finally {
      await h.dispose();
    }
  });
});
