/**
 * Reusable chunk buffers. `take` never fails (it allocates when the pool is empty) and `give` keeps
 * at most `capacity` buffers, so a buffer that had to be abandoned (still referenced by a socket
 * write) is simply left to the garbage collector and memory stays bounded.
 */
export class BufferPool {
  private readonly free: Buffer[] = [];
  allocated = 0;

  constructor(
    readonly bufferSize: number,
    readonly capacity: number,
  ) {}

  take(): Buffer {
    const b = this.free.pop();
    if (b) return b;
    this.allocated += 1;
    return Buffer.allocUnsafe(this.bufferSize);
  }

  give(buffer: Buffer): void {
    if (this.free.length < this.capacity && buffer.length === this.bufferSize) this.free.push(buffer);
  }
}
