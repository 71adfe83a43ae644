import { describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/log';

function capture(): { stream: Writable; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(String(chunk));
      cb();
    },
  });
  return {
    stream,
    lines: () =>
      chunks
        .join('')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('logger', () => {
  it('writes one JSON object per line with level and message', () => {
    const sink = capture();
    createLogger({ stream: sink.stream }).info({ job: 'j1' }, 'queued');
    const [line] = sink.lines();
    expect(line).toMatchObject({ level: 30, msg: 'queued', job: 'j1' });
  });

  it('redacts passwords and keys at any of the first three levels', () => {
    const sink = capture();
    createLogger({ stream: sink.stream }).info({ password: 'p1', broker: { password: 'p2', key: 'k' }, config: { tls: { passphrase: 'x' } } }, 'connecting');
    const text = JSON.stringify(sink.lines()[0]);
    expect(text).not.toMatch(/p1|p2|"k"|"x"/);
    expect(text).toContain('[redacted]');
  });

  it('drops lines below the configured level', () => {
    const sink = capture();
    const log = createLogger({ stream: sink.stream, level: 'warn' });
    log.info('hidden');
    log.warn('shown');
    expect(sink.lines().map((l) => l.msg)).toEqual(['shown']);
  });
});
