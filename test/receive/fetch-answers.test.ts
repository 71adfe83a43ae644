import { describe, expect, it } from 'vitest';
import { downloadTopic } from '../../src/cli/fetch';
import { exitCodeOf } from '../../src/cli/exit-codes';
import type { SniffResponse } from '../../src/protocol/file-sniffer';
import { FtError } from '../../src/errors';

function answer(fields: Partial<SniffResponse>): SniffResponse {
  return { verb: 'download', request_id: 'r1', fields: {}, ...fields };
}

/** The error downloadTopic refuses this answer with; fails the test if it accepts it. */
function refusal(r: SniffResponse): unknown {
  let error: unknown = undefined;
  expect(() => {
    try {
      downloadTopic('a/b.bin', r);
    } catch (err) {
      error = err;
      throw err;
    }
  }).toThrow(FtError);
  return error;
}

function codeOf(r: SniffResponse): string {
  return (refusal(r) as FtError).code;
}

describe('the answer to a download request', () => {
  it('gives the topic on ok', () => {
    const topic = `$file/${'ab'.repeat(16)}`;
    expect(downloadTopic('a/b.bin', answer({ ack: 'ok', ackText: 'ok', topic }))).toBe(topic);
  });

  it('maps NOT_EXIST, NOT_ALLOW, ERROR and WAIT to codes with exit status 4', () => {
    expect(codeOf(answer({ ack: 'NOT_EXIST', ackText: 'NOT_EXIST' }))).toBe('NOT_FOUND');
    expect(codeOf(answer({ ack: 'NOT_ALLOW', ackText: 'NOT_ALLOW' }))).toBe('NOT_ALLOWED');
    expect(codeOf(answer({ ack: 'ERROR', ackText: 'ERROR' }))).toBe('REMOTE_ERROR');
    expect(codeOf(answer({ ack: 'WAIT', ackText: 'WAIT', timeoutMs: 500 }))).toBe('REMOTE_ERROR');
    for (const ack of ['NOT_EXIST', 'NOT_ALLOW', 'ERROR', 'WAIT'] as const) {
      expect(exitCodeOf(refusal(answer({ ack, ackText: ack })))).toBe(4);
    }
  });

  it('treats ok without a topic as a failed start, and refuses a topic that is not $file/<suffix>', () => {
    expect(codeOf(answer({ ack: 'ok', ackText: 'ok' }))).toBe('REMOTE_ERROR');
    expect(codeOf(answer({ ack: 'ok', ackText: 'ok', topic: '$file_sniffer/v1/push/x' }))).toBe('PROTOCOL_ERROR');
    expect(codeOf(answer({ ack: 'ok', ackText: 'ok', topic: '$file/#' }))).toBe('PROTOCOL_ERROR');
  });
});
