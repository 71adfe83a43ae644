import { describe, expect, it } from 'vitest';
import { parseFtTopic } from '../../src/devbroker/ft/command-parser';
import { parseErlangTermInteger, parseTopicInteger } from '../../src/devbroker/ft/erlang-integer';
import { escapeFilename, isFilenameSafe } from '../../src/devbroker/ft/escape';
import { decodeFilemetaPayload, decodeManifest, encodeManifest, filemetaEquals, type Filemeta } from '../../src/devbroker/ft/filemeta';
import { findCoverage } from '../../src/devbroker/ft/coverage';

const HEX = 'ab'.repeat(32);

function reason(topic: string): string | undefined {
  const p = parseFtTopic(topic);
  return p?.kind === 'error' ? p.reason : undefined;
}

describe('topic grammar (docs/emqx-ft.md §1)', () => {
  it('ignores topics that are not $file/ or $file-async/', () => {
    expect(parseFtTopic('$file')).toBeNull();
    expect(parseFtTopic('$filex/a/init')).toBeNull();
    expect(parseFtTopic('file/a/init')).toBeNull();
  });

  it('recognises every command under both prefixes', () => {
    for (const prefix of ['$file', '$file-async']) {
      const mode = prefix === '$file' ? 'sync' : 'async';
      expect(parseFtTopic(`${prefix}/f/init`)).toEqual({ kind: 'command', mode, fileId: 'f', command: { kind: 'init' } });
      expect(parseFtTopic(`${prefix}/f/10`)).toMatchObject({ command: { kind: 'segment', offset: 10n } });
      expect(parseFtTopic(`${prefix}/f/10/${HEX}`)).toMatchObject({ command: { kind: 'segment', offset: 10n, checksum: Buffer.from(HEX, 'hex') } });
      expect(parseFtTopic(`${prefix}/f/fin/5`)).toMatchObject({ command: { kind: 'fin', size: 5n } });
      expect(parseFtTopic(`${prefix}/f/fin/5/${HEX}`)).toMatchObject({ command: { kind: 'fin', size: 5n, checksum: HEX.toUpperCase() } });
      expect(parseFtTopic(`${prefix}/f/abort`)).toMatchObject({ command: { kind: 'abort' } });
    }
  });

  it('rejects an empty fileId as invalid_fileid', () => {
    expect(reason('$file/')).toBe('invalid_fileid');
    expect(reason('$file//init')).toBe('invalid_fileid');
    expect(reason('$file-async//fin/1')).toBe('invalid_fileid');
  });

  it('rejects a missing command and too many levels as invalid_file_command', () => {
    expect(reason('$file/f')).toBe('invalid_file_command');
    expect(reason(`$file/f/fin/1/${HEX}/x`)).toBe('invalid_file_command');
    expect(reason('$file/f/1/2/3')).toBe('invalid_file_command');
  });

  it('parses offsets and sizes like Erlang string:to_integer over the whole level', () => {
    expect(parseFtTopic('$file/f/+007')).toMatchObject({ command: { offset: 7n } });
    expect(parseFtTopic('$file/f/-5')).toMatchObject({ command: { offset: -5n } });
    expect(parseFtTopic('$file/f/fin/00')).toMatchObject({ command: { size: 0n } });
    for (const bad of ['', '1x', ' 1', '1.0', '0x10', '+', '1_000']) expect(reason(`$file/f/${bad}`)).toBe('invalid_offset');
    expect(reason('$file/f/fin')).toBe('invalid_offset');
    expect(reason('$file/f/init/x')).toBe('invalid_offset');
    expect(reason('$file/f/fin/')).toBe('invalid_size');
    expect(reason('$file/f/fin/-')).toBe('invalid_size');
  });

  it('requires 64 hex characters for a checksum level', () => {
    expect(reason(`$file/f/0/${HEX.slice(1)}`)).toBe('invalid_checksum');
    expect(reason(`$file/f/0/${'g'.repeat(64)}`)).toBe('invalid_checksum');
    expect(reason(`$file/f/fin/1/${HEX}0`)).toBe('invalid_checksum');
    // The offset is checked before the checksum.
    expect(reason(`$file/f/x/zz`)).toBe('invalid_offset');
  });

  it('keeps unicode fileIds', () => {
    expect(parseFtTopic('$file/文件🌚/init')).toMatchObject({ fileId: '文件🌚' });
  });
});

describe('integers', () => {
  it('topic integers: sign, leading zeros, nothing else', () => {
    expect(parseTopicInteger('-0')).toBe(0n);
    expect(parseTopicInteger('99999999999999999999')).toBe(99999999999999999999n);
    expect(parseTopicInteger('١٢')).toBeNull();
  });

  it('init numeric strings are read as Erlang terms', () => {
    expect(parseErlangTermInteger('123')).toBe(123n);
    expect(parseErlangTermInteger(' 12 ')).toBe(12n);
    expect(parseErlangTermInteger('1_000')).toBe(1000n);
    expect(parseErlangTermInteger('16#ff')).toBe(255n);
    expect(parseErlangTermInteger('-3')).toBe(-3n);
    for (const bad of ['', '1.0', '1e3', 'abc', '1 1', '37#1']) expect(parseErlangTermInteger(bad)).toBeNull();
  });
});

describe('esc() and safe names (docs/emqx-ft.md §6, §2)', () => {
  it('percent-encodes %, :, \\, / and non-printables per UTF-8 byte, upper-case', () => {
    expect(escapeFilename('100%.file')).toBe('100%25.file');
    expect(escapeFilename('/etc/passwd')).toBe('%2Fetc%2Fpasswd');
    expect(escapeFilename('a:b\\c')).toBe('a%3Ab%5Cc');
    expect(escapeFilename('\u0001\u0085')).toBe('%01%C2%85');
    expect(escapeFilename('中文')).toBe('中文');
    expect(escapeFilename('.')).toBe('%2E');
    expect(escapeFilename('..')).toBe('%2E%2E');
    expect(escapeFilename('...')).toBe('...');
  });

  it('accepts the names EMQX accepts and refuses unsafe ones', () => {
    for (const ok of ['.safe.100%', '中文.txt', '🌚', 'a b']) expect(isFilenameSafe(ok)).toBe(true);
    for (const bad of ['', '.', '..', 'a/b', 'a\\b', 'a:b', 'a\nb', 'a\u007fb', 'a\u0090b', 'a\uffffb']) expect(isFilenameSafe(bad)).toBe(false);
  });
});

function decode(payload: string): ReturnType<typeof decodeFilemetaPayload> {
  return decodeFilemetaPayload(Buffer.from(payload));
}

describe('init payload (docs/emqx-ft.md §2)', () => {
  it('accepts a full filemeta and upper-cases the checksum', () => {
    const result = decode(JSON.stringify({ name: 'a.bin', size: 10, checksum: HEX, expire_at: 0, segments_ttl: 60, user_data: { k: [1, 'x'] } }));
    expect(result.kind).toBe('ok');
    if (result.kind !== 'ok') return;
    expect(result.meta).toMatchObject({ name: 'a.bin', size: 10n, checksum: HEX.toUpperCase(), expireAt: 0n, segmentsTtl: 60n });
  });

  it('requires a safe string name of at most 240 bytes', () => {
    expect(decode('{"foo":"bar"}')).toEqual({ kind: 'error', reason: 'invalid_filemeta' });
    expect(decode('{"name":123}')).toEqual({ kind: 'error', reason: 'invalid_filemeta' });
    expect(decode('{"name":null}')).toEqual({ kind: 'error', reason: 'invalid_filemeta' });
    expect(decode(JSON.stringify({ name: 'x'.repeat(240) })).kind).toBe('ok');
    expect(decode(JSON.stringify({ name: 'x'.repeat(239) + 'é' }))).toEqual({ kind: 'error', reason: 'invalid_filemeta' });
    for (const name of ['', '.', '..', 'a/b', 'c:d', 'e\\f', 'tab\t']) {
      expect(decode(JSON.stringify({ name }))).toEqual({ kind: 'error', reason: 'invalid_filemeta' });
    }
  });

  it('rejects floats, negatives, a zero segments_ttl and bad checksums', () => {
    for (const extra of [
      '"size":1.0',
      '"size":1e3',
      '"size":-1',
      '"expire_at":-5',
      '"segments_ttl":0',
      '"size":true',
      `"checksum":"${HEX.slice(2)}"`,
      '"checksum":"' + 'z'.repeat(64) + '"',
      '"checksum":5',
    ]) {
      expect(decode(`{"name":"a",${extra}}`)).toEqual({ kind: 'error', reason: 'invalid_filemeta' });
    }
  });

  it('accepts numeric strings, drops unknown keys, treats top-level null as absent', () => {
    const result = decode('{"name":"a","size":"123","segments_ttl":" 5 ","other":1,"expire_at":null,"user_data":null}');
    expect(result).toEqual({ kind: 'ok', meta: { name: 'a', size: 123n, segmentsTtl: 5n } });
  });

  it('keeps any JSON as user_data, nested nulls included', () => {
    for (const ud of ['{"a":null}', '[true,{"b":[]}]', 'false', '1.5', '"text"']) {
      const result = decode(`{"name":"a","user_data":${ud}}`);
      expect(result.kind).toBe('ok');
    }
  });

  it('gives invalid_filemeta_json for unparsable text, and decodes a JSON string payload again', () => {
    for (const bad of ['', '{', '{"name":"a"} x', "{'name':'a'}", '"not json"', '\u00ff']) expect(decode(bad)).toEqual({ kind: 'error', reason: 'invalid_filemeta_json' });
    expect(decodeFilemetaPayload(Buffer.from([0x7b, 0xff, 0x7d]))).toEqual({ kind: 'error', reason: 'invalid_filemeta_json' });
    expect(decode(JSON.stringify(JSON.stringify({ name: 'a' })))).toEqual({ kind: 'ok', meta: { name: 'a' } });
  });

  it('marks JSON that is not an object as a handler crash', () => {
    for (const odd of ['[]', '1', 'true', 'null', '[{"name":"a"}]']) expect(decode(odd)).toEqual({ kind: 'crash' });
  });

  it('compares metas by exact term equality and round-trips the manifest', () => {
    const a = decode('{"name":"a","user_data":{"x":1,"y":[1.5]}}');
    const b = decode('{"user_data":{"y":[1.5],"x":1},"name":"a"}');
    const c = decode('{"name":"a","user_data":{"x":1.0,"y":[1.5]}}');
    if (a.kind !== 'ok' || b.kind !== 'ok' || c.kind !== 'ok') throw new Error('decode failed');
    expect(filemetaEquals(a.meta, b.meta)).toBe(true);
    expect(filemetaEquals(a.meta, c.meta)).toBe(false);
    const text = encodeManifest(c.meta);
    expect(text.startsWith('["filemeta",1,{')).toBe(true);
    expect(filemetaEquals(decodeManifest(text) as Filemeta, c.meta)).toBe(true);
    expect(decodeManifest('["filemeta",2,{"name":"a"}]')).toBeNull();
  });
});

describe('coverage (docs/emqx-ft.md §5)', () => {
  const seg = (offset: number, length: number) => ({ offset, length, path: `${offset}.${length}` });

  it('finds a chain from 0 to exactly the size, mixing lengths at one offset', () => {
    const chain = findCoverage([seg(0, 100), seg(0, 200), seg(100, 100), seg(200, 100)], 300n);
    expect(chain?.reduce((n, s) => n + s.length, 0)).toBe(300);
    expect(chain?.[0]?.offset).toBe(0);
  });

  it('treats misaligned overlaps and overshooting segments as incomplete', () => {
    expect(findCoverage([seg(0, 60), seg(50, 50)], 100n)).toBeNull();
    expect(findCoverage([seg(0, 60), seg(50, 50), seg(60, 40)], 100n)).not.toBeNull();
    expect(findCoverage([seg(0, 50), seg(50, 60)], 100n)).toBeNull();
    expect(findCoverage([seg(0, 50), seg(50, 0)], 100n)).toBeNull();
    expect(findCoverage([seg(0, 10)], -1n)).toBeNull();
  });

  it('covers size 0 with no segments', () => {
    expect(findCoverage([], 0n)).toEqual([]);
  });
});
