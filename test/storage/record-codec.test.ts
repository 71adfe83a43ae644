import { describe, expect, it } from 'vitest';
import { decodeRecord, encodeRecord } from '../../src/storage/record-codec';
import { FtError } from '../../src/errors';

const expectJob = { kind: 'job', versions: [1], file: '/s/jobs/x.job' } as const;
const record = encodeRecord('job', 1, { id: 'x', note: 'über', n: [1, 2, 3] });

function corruption(bytes: Uint8Array, expect = expectJob): FtError | undefined {
  try {
    decodeRecord(bytes, expect);
    return undefined;
  } catch (err) {
    if (err instanceof FtError) return err;
    throw err;
  }
}

describe('record codec', () => {
  it('round-trips a body and reports its version', () => {
    expect(decodeRecord(record, expectJob)).toEqual({ version: 1, body: { id: 'x', note: 'über', n: [1, 2, 3] } });
  });

  it('writes a readable header line', () => {
    const header = new TextDecoder().decode(record).split('\n')[0];
    expect(header).toMatch(/^ftagent-record v1 job\/1 \d+ [0-9a-f]{64}$/);
  });

  it('detects every truncation', () => {
    for (let n = 0; n < record.length; n++) {
      const err = corruption(record.subarray(0, n));
      expect(err?.code, `truncated to ${n} bytes`).toBe('STATE_CORRUPT');
    }
  });

  it('detects every single-byte change', () => {
    for (let i = 0; i < record.length; i++) {
      for (const mask of [0x01, 0x20, 0x80, 0xff]) {
        const bad = new Uint8Array(record);
        bad[i] = (bad[i] as number) ^ mask;
        expect(corruption(bad)?.code, `byte ${i} ^ ${mask}`).toBe('STATE_CORRUPT');
      }
    }
  });

  it('detects appended bytes', () => {
    expect(corruption(new Uint8Array([...record, 0x0a]))?.message).toContain('truncated or padded');
  });

  it('names the file and the problem', () => {
    expect(corruption(new Uint8Array(0))?.message).toBe('state file /s/jobs/x.job is empty (its write was probably cut short)');
    expect(corruption(new TextEncoder().encode('{"id":"x"}'))?.message).toContain('no header line');
    expect(corruption(record, { kind: 'checkpoint', versions: [1], file: '/c' } as never)?.message).toBe('state file /c holds a job record where a checkpoint record was expected');
  });

  it('refuses a newer record version by name', () => {
    const v2 = encodeRecord('job', 2, {});
    expect(corruption(v2)?.message).toContain('job version 2; this ftagent reads version 1');
  });

  it('refuses an unknown envelope format', () => {
    const text = new TextDecoder().decode(record).replace('ftagent-record v1', 'ftagent-record v9');
    expect(corruption(new TextEncoder().encode(text))?.message).toContain('record format v9');
  });
});
