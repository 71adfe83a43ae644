import { stringifyJson } from '../../src/protocol/json-ids';
import { describe, expect, it } from 'vitest';
import { FtError } from '../../src/errors';
import { decodeSnifferMessage, encodeSnifferResponse, newRequestId, parseSnifferTopic, snifferTopic } from '../../src/protocol/file-sniffer';

const topic = '$file_sniffer/v1/broadcast/gw-1';
const bytes = (o: unknown): Buffer => Buffer.from(JSON.stringify(o));

describe('$file_sniffer codec', () => {
  it('builds and parses topics for every verb and rejects others', () => {
    for (const verb of ['dir', 'download', 'upload', 'broadcast', 'push'] as const) {
      expect(parseSnifferTopic(snifferTopic(verb, 'gw-1'))).toEqual({ verb, clientId: 'gw-1' });
    }
    expect(parseSnifferTopic('$file_sniffer/v1/delete/gw-1')).toBeNull();
    expect(parseSnifferTopic('$file_sniffer/v1/push/a/b')).toBeNull();
    expect(() => snifferTopic('dir', 'a/b')).toThrow(FtError);
  });

  it('tells a request (no ack) from a response, keeping unknown fields for the echo', () => {
    const req = decodeSnifferMessage(topic, bytes({ request_id: 'r1', path: '/a', target_path: '/b', job_id: 7, task_id: 't', script_id: 's', groups: [1, 'g2'], x: 1 }));
    expect(req).toMatchObject({ kind: 'request', verb: 'broadcast' });
    if (req.kind !== 'request' || req.request.verb !== 'broadcast') throw new Error('unreachable');
    // Numeric ids stay numbers, kept as written.
    expect(stringifyJson({ job_id: req.request.job_id, groups: req.request.groups })).toBe('{"job_id":7,"groups":[1,"g2"]}');
    const echoed = JSON.parse(encodeSnifferResponse(req.fields, { ack: 'WAIT', timeout: 500 }).toString()) as Record<string, unknown>;
    expect(echoed).toMatchObject({ request_id: 'r1', x: 1, job_id: 7, ack: 'WAIT', timeout: 500 });
    const res = decodeSnifferMessage(topic, bytes(echoed));
    expect(res).toMatchObject({ kind: 'response', response: { request_id: 'r1', ack: 'WAIT', timeoutMs: 500 } });
  });

  it('normalises ack case and parses dir results', () => {
    expect(decodeSnifferMessage(topic, bytes({ request_id: 1, ack: 'OK', topic: '$file/ab', timeout: '20' }))).toMatchObject({
      response: { request_id: '1', ack: 'ok', topic: '$file/ab', timeoutMs: 20 },
    });
    const dir = decodeSnifferMessage('$file_sniffer/v1/dir/gw', bytes({ request_id: 'd', path: '/x', type: 'folder', result: 'OK', folder_include: [{ name: 'a', type: 'file' }] }));
    expect(dir).toMatchObject({ kind: 'response', response: { result: 'OK', type: 'folder', folder_include: [{ name: 'a', type: 'file' }] } });
  });

  it('fails only with PROTOCOL_ERROR on malformed input', () => {
    const cases: [string, Buffer][] = [
      [topic, Buffer.from('not json')],
      [topic, bytes([1, 2])],
      [topic, bytes({ path: '/a' })],
      [topic, bytes({ request_id: 'r', ack: 5 })],
      [topic, bytes({ request_id: 'r', ack: 'WAIT', timeout: -1 })],
      ['$file_sniffer/v1/dir/gw', bytes({ request_id: 'r', result: 'OK', folder_include: 'x' })],
      ['$file_sniffer/v1/push/gw', bytes({ request_id: 'r', path: '/a' })],
      ['other/topic', bytes({ request_id: 'r' })],
    ];
    for (const [tp, payload] of cases) {
      let err: unknown;
      try {
        decodeSnifferMessage(tp, payload);
      } catch (e) {
        err = e;
      }
      expect(err instanceof FtError && err.code === 'PROTOCOL_ERROR', `${tp} ${payload.toString()}`).toBe(true);
    }
  });

  it('generates distinct request ids', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newRequestId()));
    expect(ids.size).toBe(1000);
  });
});
