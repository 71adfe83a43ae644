/**
 * Cuts a TCP byte stream into whole MQTT packets and enforces the Maximum Packet Size from the
 * fixed header alone: the remaining length is known after at most 5 bytes, so an oversized packet
 * is refused before a single byte of its body is kept. Only whole packets reach the codec, which
 * means the codec never buffers more than one permitted packet either.
 */
export type FramerEvent = { kind: 'packet'; bytes: Buffer } | { kind: 'too-large'; size: number } | { kind: 'malformed'; reason: string };

export class PacketFramer {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Total size of the packet being collected, once its fixed header has been read. */
  private expected: number | null = null;
  private stopped = false;

  constructor(private readonly maximumPacketSize: number) {}

  /** Feed bytes; returns the packets completed (in order), stopping at the first refusal. */
  push(data: Buffer): FramerEvent[] {
    if (this.stopped) return [];
    this.chunks.push(data);
    this.buffered += data.length;
    const events: FramerEvent[] = [];
    for (;;) {
      if (this.expected === null) {
        const header = this.readFixedHeader();
        if (header === 'incomplete') break;
        if (header.kind !== 'ok') {
          events.push(header.kind === 'too-large' ? { kind: 'too-large', size: header.size } : { kind: 'malformed', reason: header.reason });
          this.stop();
          break;
        }
        this.expected = header.size;
      }
      if (this.buffered < this.expected) break;
      events.push({ kind: 'packet', bytes: this.take(this.expected) });
      this.expected = null;
    }
    return events;
  }

  /** Drop everything buffered and ignore later input (the connection is going away). */
  stop(): void {
    this.stopped = true;
    this.chunks = [];
    this.buffered = 0;
  }

  private readFixedHeader(): 'incomplete' | { kind: 'ok'; size: number } | { kind: 'too-large'; size: number } | { kind: 'malformed'; reason: string } {
    // Byte 0 is the type and flags; then the remaining length, 1–4 bytes of 7 bits each.
    let remaining = 0;
    let multiplier = 1;
    for (let i = 1; i <= 4; i++) {
      if (this.buffered <= i) return 'incomplete';
      const byte = this.byteAt(i);
      remaining += (byte & 0x7f) * multiplier;
      if ((byte & 0x80) === 0) {
        const size = 1 + i + remaining;
        return size > this.maximumPacketSize ? { kind: 'too-large', size } : { kind: 'ok', size };
      }
      multiplier *= 128;
    }
    return { kind: 'malformed', reason: 'remaining length longer than 4 bytes' };
  }

  private byteAt(index: number): number {
    let offset = index;
    for (const chunk of this.chunks) {
      if (offset < chunk.length) return chunk[offset] as number;
      offset -= chunk.length;
    }
    throw new RangeError('byteAt past the buffered data');
  }

  private take(size: number): Buffer {
    const first = this.chunks[0] as Buffer;
    let out: Buffer;
    if (first.length >= size) {
      // The common case for small packets: no copy.
      out = first.subarray(0, size);
      if (first.length === size) this.chunks.shift();
      else this.chunks[0] = first.subarray(size);
    } else {
      out = Buffer.allocUnsafe(size);
      let filled = 0;
      while (filled < size) {
        const chunk = this.chunks[0] as Buffer;
        const n = Math.min(chunk.length, size - filled);
        chunk.copy(out, filled, 0, n);
        filled += n;
        if (n === chunk.length) this.chunks.shift();
        else this.chunks[0] = chunk.subarray(n);
      }
    }
    this.buffered -= size;
    return out;
  }
}
