/** Which blocks of an nftp transfer are stored: one bit per block, LSB-first within each byte. */
export class NftpBitmap {
  private readonly bits: Uint8Array;
  private present = 0;

  constructor(
    readonly size: number,
    bytes?: Uint8Array,
  ) {
    this.bits = new Uint8Array(Math.ceil(size / 8));
    if (bytes) {
      this.bits.set(bytes.subarray(0, this.bits.length));
      // Bits past `size` in the last byte are not blocks; clear them so `count` stays honest.
      const spare = this.bits.length * 8 - size;
      if (spare > 0) this.bits[this.bits.length - 1] = (this.bits[this.bits.length - 1] as number) & (0xff >>> spare);
      for (let i = 0; i < size; i++) if (this.has(i)) this.present++;
    }
  }

  get count(): number {
    return this.present;
  }

  get complete(): boolean {
    return this.present === this.size;
  }

  has(index: number): boolean {
    if (index < 0 || index >= this.size) return false;
    return (((this.bits[index >>> 3] as number) >>> (index & 7)) & 1) === 1;
  }

  /** Returns false if the bit was already set. */
  set(index: number): boolean {
    if (index < 0 || index >= this.size || this.has(index)) return false;
    this.bits[index >>> 3] = (this.bits[index >>> 3] as number) | (1 << (index & 7));
    this.present++;
    return true;
  }

  /** The first missing block at or after `from`, wrapping around; -1 when complete. */
  nextMissing(from = 0): number {
    if (this.complete) return -1;
    for (let k = 0; k < this.size; k++) {
      const i = (from + k) % this.size;
      if (!this.has(i)) return i;
    }
    return -1;
  }

  toBytes(): Uint8Array {
    return this.bits.slice();
  }
}
