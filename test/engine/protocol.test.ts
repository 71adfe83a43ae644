import { describe, expect, it } from 'vitest';
import { commandTopic, parseCommandTopic, responseTopic } from '../../src/protocol/emqx-ft-topics';
import { encodeInitPayload, fileNameProblem, safeFileName } from '../../src/protocol/emqx-ft-filemeta';
import { parseFileResponse } from '../../src/protocol/emqx-ft-response';
import { actionFor } from '../../src/protocol/reason-codes';
import { RangeSet } from '../../src/transfer/emqx-ft/range-set';
import { backoffDelay } from '../../src/time/backoff';

const sum = 'ab'.repeat(32);

describe('EMQX file-transfer topics', () => {
  it('builds every command topic in both modes', () => {
    expect(commandTopic('sync', 'f1', { kind: 'init' })).toBe('$file/f1/init');
    expect(commandTopic('async', 'f1', { kind: 'segment', offset: 4294967296 })).toBe('$file-async/f1/4294967296');
    expect(commandTopic('sync', 'f1', { kind: 'segment', offset: 0, checksum: sum })).toBe(`$file/f1/0/${sum}`);
    expect(commandTopic('sync', 'f1', { kind: 'fin', size: 0, checksum: sum })).toBe(`$file/f1/fin/0/${sum}`);
    expect(commandTopic('async', 'f1', { kind: 'abort' })).toBe('$file-async/f1/abort');
    expect(responseTopic('gw-1')).toBe('$file-response/gw-1');
  });

  it('parses what it builds and refuses anything else', () => {
    expect(parseCommandTopic(`$file/f1/fin/12/${sum}`)).toEqual({ mode: 'sync', fileId: 'f1', command: { kind: 'fin', size: 12, checksum: sum } });
    expect(parseCommandTopic('$file-async/f1/65536')).toEqual({ mode: 'async', fileId: 'f1', command: { kind: 'segment', offset: 65536 } });
    for (const bad of ['$file/f1', '$file//init', '$file/f1/fin', '$file/f1/-1', '$file/f1/0/xyz', 'x/f1/init', '$file/f1/fin/1/x/y']) {
      expect(parseCommandTopic(bad), bad).toBeNull();
    }
  });

  it('refuses negative or fractional offsets and short checksums', () => {
    expect(() => commandTopic('sync', 'f', { kind: 'segment', offset: -1 })).toThrow(RangeError);
    expect(() => commandTopic('sync', 'f', { kind: 'segment', offset: 1.5 })).toThrow(RangeError);
    expect(() => commandTopic('sync', 'f', { kind: 'fin', size: 1, checksum: 'abc' })).toThrow(RangeError);
  });
});

describe('init metadata', () => {
  it('encodes fields in a fixed order with EMQX key names', () => {
    expect(encodeInitPayload({ name: 'a.bin', size: 3, expireAt: 10, segmentsTtl: 600, userData: { k: 'v' } }).toString()).toBe(
      '{"name":"a.bin","size":3,"expire_at":10,"segments_ttl":600,"user_data":{"k":"v"}}',
    );
  });

  it('applies the EMQX name rules', () => {
    for (const ok of ['.safe.100%', '中文.txt', '🌚', 'x'.repeat(240)]) expect(fileNameProblem(ok), ok).toBeNull();
    for (const bad of ['', '.', '..', 'a/b', 'a\\b', 'c:d', 'tab\there', 'del\u007f', 'x'.repeat(241), '\uffff']) {
      expect(fileNameProblem(bad), JSON.stringify(bad)).not.toBeNull();
    }
  });

  it('makes a default name safe by percent-encoding, within 240 bytes', () => {
    expect(safeFileName('100%.file')).toBe('100%25.file');
    expect(safeFileName('a:b\\c')).toBe('a%3Ab%5Cc');
    expect(safeFileName('..')).toBe('%2E%2E');
    expect(safeFileName('bell\u0007')).toBe('bell%07');
    const long = safeFileName(`${'é'.repeat(200)}.tar.gz`);
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(240);
    expect(long.endsWith('.gz')).toBe(true);
    for (const s of ['100%.file', 'a:b\\c', '..', 'bell\u0007']) expect(fileNameProblem(safeFileName(s))).toBeNull();
    expect(fileNameProblem(long)).toBeNull();
  });
});

describe('$file-response parsing', () => {
  it('reads a well-formed response', () => {
    const r = parseFileResponse(Buffer.from('{"vsn":"0.1","topic":"$file-async/f1/fin/1234","packet_id":7,"reason_code":0,"reason_description":"success"}'));
    expect(r).toEqual({ ok: true, response: { topic: '$file-async/f1/fin/1234', packetId: 7, reasonCode: 0, reasonDescription: 'success' } });
  });

  it('never throws on garbage', () => {
    for (const bad of ['', 'nope', '[]', '1', '{"topic":5}', '{"topic":"t","packet_id":"1","reason_code":0}', '{"topic":"t","packet_id":1,"reason_code":999}']) {
      expect(parseFileResponse(Buffer.from(bad)).ok, bad).toBe(false);
    }
  });
});

describe('reason-code policy', () => {
  it.each([
    ['segment', 0x00, '', 'done'],
    ['segment', 0x80, '', 'resend'],
    ['segment', 0x80, 'checksum_mismatch', 'resend'],
    ['fin', 0x80, 'incomplete', 'resend-all'],
    ['fin', 0x80, '', 'resend-all'],
    ['fin', 0x80, 'internal_error', 'resend-all'],
    ['fin', 0x80, 'timeout', 'resend'],
    ['init', 0x80, 'filemeta_conflict', 'reject'],
    ['init', 0x80, 'invalid_filemeta', 'reject'],
    ['segment', 0x80, 'invalid_offset', 'reject'],
    ['fin', 0x80, 'inconsistent', 'reject'],
    ['segment', 0x83, '', 'cancel'],
    ['segment', 0x97, '', 'pause'],
    ['init', 0x10, '', 'restart'],
    ['init', 0x87, '', 'reject'],
  ] as const)('%s answered 0x%s "%s" → %s', (kind, code, reason, action) => {
    expect(actionFor(kind, code, reason)).toBe(action);
  });
});

describe('byte ranges and backoff', () => {
  it('merges ranges and lists gaps', () => {
    const r = new RangeSet([
      [10, 20],
      [0, 5],
      [5, 10],
      [30, 40],
    ]);
    expect(r.toArray()).toEqual([
      [0, 20],
      [30, 40],
    ]);
    expect(r.gaps(0, 50)).toEqual([
      [20, 30],
      [40, 50],
    ]);
    expect(r.covers(0, 20)).toBe(true);
    expect(r.total()).toBe(30);
  });

  it('draws full-jitter delays under an exponential cap', () => {
    expect(backoffDelay(0, { baseMs: 100, capMs: 1000 }, () => 0.999)).toBe(99);
    expect(backoffDelay(3, { baseMs: 100, capMs: 1000 }, () => 0.5)).toBe(400);
    expect(backoffDelay(20, { baseMs: 100, capMs: 1000 }, () => 0.999)).toBe(999);
    expect(backoffDelay(5, { baseMs: 100, capMs: 1000 }, () => 0)).toBe(0);
  });
});
