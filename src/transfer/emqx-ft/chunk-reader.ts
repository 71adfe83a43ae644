/**
 * Reads the source in fixed-size chunks, in order, into pooled buffers and feeds the same bytes to
 * the whole-file SHA-256, so the file is read once. A chunk is reference-counted: its buffer goes
 * back to the pool only when no command and no socket write uses it any more.
 */
import { createHash, type Hash } from 'node:crypto';
import { FtError } from '../../errors';
import type { BufferPool } from './buffer-pool';
import type { SourceFile } from '../source-file';

export class Chunk {
  private refs = 1;

  constructor(
    readonly offset: number,
    readonly length: number,
    readonly buffer: Buffer,
    private readonly pool: BufferPool,
  ) {}

  get end(): number {
    return this.offset + this.length;
  }

  /** The bytes [start, end) of the file, which must lie inside this chunk. */
  slice(start: number, end: number): Buffer {
    return this.buffer.subarray(start - this.offset, end - this.offset);
  }

  ref(): void {
    this.refs += 1;
  }

  unref(): void {
    this.refs -= 1;
    if (this.refs === 0) this.pool.give(this.buffer);
  }
}

export class ChunkReader {
  private position = 0;
  private hash: Hash = createHash('sha256');
  private digestHex: string | null = null;
  private readonly probe = Buffer.alloc(1);

  constructor(
    private readonly file: SourceFile,
    readonly size: number,
    readonly chunkSize: number,
    private readonly pool: BufferPool,
  ) {}

  done(): boolean {
    return this.position >= this.size;
  }

  /** Bytes read (and hashed) in this pass. */
  get offset(): number {
    return this.position;
  }

  /** Starts a new pass from offset 0 (after the broker asked for everything again). */
  restart(): void {
    this.position = 0;
    this.hash = createHash('sha256');
    this.digestHex = null;
  }

  async next(): Promise<Chunk | null> {
    if (this.done()) return null;
    const offset = this.position;
    const length = Math.min(this.chunkSize, this.size - offset);
    const buffer = this.pool.take();
    let got = 0;
    try {
      while (got < length) {
        const n = await this.file.read(buffer.subarray(got), length - got, offset + got);
        if (n === 0) {
          throw new FtError('SOURCE_CHANGED', `${this.file.path} became shorter while it was being sent (expected ${this.size} bytes, ended at ${offset + got})`, {
            details: { path: this.file.path },
          });
        }
        got += n;
      }
      // At the announced end the file must end too: `fin/{size}` promises exactly these bytes.
      if (offset + length === this.size && (await this.file.read(this.probe, 1, this.size)) > 0) {
        throw new FtError('SOURCE_CHANGED', `${this.file.path} has more than the ${this.size} bytes it had when the upload started (it grew, or it is a generated file)`, {
          details: { path: this.file.path },
        });
      }
    } catch (err) {
      this.pool.give(buffer);
      throw err;
    }
    this.hash.update(buffer.subarray(0, length));
    this.position += length;
    return new Chunk(offset, length, buffer, this.pool);
  }

  /** Hex SHA-256 of the whole file; only once the pass is complete. */
  sha256(): string {
    if (!this.done()) throw new Error('the file has not been read to the end yet');
    this.digestHex ??= this.hash.digest('hex');
    return this.digestHex;
  }
}
