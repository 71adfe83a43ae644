import { describe, expect, it } from 'vitest';
import { CheckpointWriter, decodeCheckpoint, encodeCheckpoint, readCheckpoint, type Checkpoint } from '../../src/storage/checkpoint';
import { encodeRecord } from '../../src/storage/record-codec';
import { CrashFs } from '../helpers/crash-fs';
import { isFtError } from '../../src/errors';

const MiB = 1024 * 1024;

function checkpoint(over: Partial<Checkpoint> = {}): Checkpoint {
  return {
    jobId: 'lx2k9a1b00-3f9a1c0d',
    fileId: 'f-1',
    initPayload: '{"name":"a.bin","size":10485760}',
    source: { path: '/data/a.bin', size: 10 * MiB, mtimeMs: 1700000000123.5, ino: 42 },
    chunkSize: 65536,
    confirmed: [],
    stage: 'init',
    attempts: 1,
    createdAt: '2024-01-01T00:00:00.000Z',
    updatedAt: '2024-01-01T00:00:00.000Z',
    ...over,
  };
}

describe('checkpoint codec', () => {
  it('round-trips every field, keeping the init payload byte for byte', () => {
    const cp = checkpoint({
      confirmed: [
        [0, 65536],
        [131072, 196608],
      ],
      stage: 'segments',
    });
    expect(decodeCheckpoint(encodeCheckpoint(cp), '/c')).toEqual(cp);
  });

  it('round-trips which broker node confirmed which ranges', () => {
    const cp = checkpoint({
      confirmed: [[0, 196608]],
      nodes: { 'mqtt://10.0.0.5:1883': [[0, 65536]], 'mqtt://10.0.0.6:1883': [[65536, 196608]] },
      stage: 'segments',
    });
    expect(decodeCheckpoint(encodeCheckpoint(cp), '/c')).toEqual(cp);
  });

  it.each([
    [
      'nodes.mqtt://a:1',
      {
        nodes: {
          'mqtt://a:1': [
            [0, 10],
            [5, 20],
          ],
        },
      },
    ],
    ['nodes.mqtt://a:1', { nodes: { 'mqtt://a:1': [[0, 11 * MiB]] } }],
    ['nodes', { nodes: [[0, 1]] }],
    ['confirmed', { confirmed: [[10, 5]] }],
    [
      'confirmed',
      {
        confirmed: [
          [0, 10],
          [10, 20],
        ],
      },
    ],
    ['confirmed', { confirmed: [[0, 11 * MiB]] }],
    ['stage', { stage: 'done' }],
    ['chunkSize', { chunkSize: 0 }],
    ['attempts', { attempts: -1 }],
    ['source.ino', { source: { path: '/a', size: 1, mtimeMs: 1, ino: 'x' } }],
    ['initPayload', { initPayload: 7 }],
  ])('rejects a well-formed record with a bad %s field', (field, over) => {
    const bytes = encodeRecord('checkpoint', 1, { ...checkpoint(), ...over });
    expect(() => decodeCheckpoint(bytes, '/c')).toThrow(`checkpoint field "${field}"`);
  });

  it('reads a missing checkpoint as undefined', async () => {
    expect(await readCheckpoint(new CrashFs().durableFs, '/nope')).toBeUndefined();
  });
});

describe('CheckpointWriter', () => {
  function setup(): { fs: CrashFs; clock: { t: number }; writer: CheckpointWriter } {
    const fs = new CrashFs();
    const clock = { t: 0 };
    const writer = new CheckpointWriter({ fs: fs.durableFs, path: '/cp', now: () => clock.t });
    return { fs, clock, writer };
  }

  it('writes the first checkpoint and every stage change at once', async () => {
    const { writer } = setup();
    expect(await writer.update(checkpoint())).toBe(true);
    expect(await writer.update(checkpoint({ stage: 'segments' }))).toBe(true);
    expect(await writer.update(checkpoint({ stage: 'fin', confirmed: [[0, 10 * MiB]] }))).toBe(true);
    expect(writer.writeCount).toBe(3);
  });

  it('holds back small progress until 1 MiB more is confirmed', async () => {
    const { writer, fs } = setup();
    await writer.update(checkpoint({ stage: 'segments' }));
    expect(await writer.update(checkpoint({ stage: 'segments', confirmed: [[0, MiB - 1]] }))).toBe(false);
    expect(await writer.update(checkpoint({ stage: 'segments', confirmed: [[0, MiB]] }))).toBe(true);
    expect((await readCheckpoint(fs.durableFs, '/cp'))?.confirmed).toEqual([[0, MiB]]);
  });

  it('writes slow progress once 2 s have passed, and nothing when nothing changed', async () => {
    const { writer, clock } = setup();
    await writer.update(checkpoint({ stage: 'segments' }));
    clock.t = 1999;
    expect(await writer.update(checkpoint({ stage: 'segments', confirmed: [[0, 100]] }))).toBe(false);
    clock.t = 2000;
    expect(await writer.update(checkpoint({ stage: 'segments', confirmed: [[0, 100]] }))).toBe(true);
    clock.t = 10_000;
    expect(await writer.update(checkpoint({ stage: 'segments', confirmed: [[0, 100]], updatedAt: 'later' }))).toBe(false);
  });

  it('flush writes what was held back, and only that', async () => {
    const { writer, fs } = setup();
    await writer.update(checkpoint({ stage: 'segments' }));
    await writer.update(checkpoint({ stage: 'segments', confirmed: [[0, 100]] }));
    await writer.flush();
    expect(writer.writeCount).toBe(2);
    await writer.flush();
    expect(writer.writeCount).toBe(2);
    expect((await readCheckpoint(fs.durableFs, '/cp'))?.confirmed).toEqual([[0, 100]]);
  });

  it('reports a full disk as DISK_FULL and retries the write on the next flush', async () => {
    const { writer, fs } = setup();
    fs.limitSpace(10);
    const err = await writer.update(checkpoint()).catch((e: unknown) => e);
    expect(isFtError(err, 'DISK_FULL')).toBe(true);
    fs.limitSpace(1e9);
    await writer.flush();
    expect(writer.writeCount).toBe(1);
    expect(await readCheckpoint(fs.durableFs, '/cp')).toEqual(checkpoint());
  });
});
