/**
 * CRC-32C (Castagnoli): reflected polynomial 0x82F63B78, init 0xFFFFFFFF, final xor 0xFFFFFFFF.
 * nftp uses it for the fileid (CRC of the base name) and the filehash (CRC of the content), docs/nftp.md §4.
 *
 * Incremental so a whole file can be hashed while streaming it block by block:
 *   let s = crc32cInit(); s = crc32cUpdate(s, a); s = crc32cUpdate(s, b); crc32cFinish(s)
 * Slicing-by-8: eight 256-entry tables let the inner loop consume 8 bytes per step, several times
 * faster than the byte-wise loop on the multi-megabyte files a gateway sends.
 */

/** The running register between updates (not yet final-xored). Opaque to callers. */
export type Crc32cState = number;

const POLY = 0x82f63b78;

const tables: Uint32Array[] = buildTables();

function buildTables(): Uint32Array[] {
  const t0 = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t0[n] = c >>> 0;
  }
  const all = [t0];
  for (let k = 1; k < 8; k++) {
    const prev = all[k - 1] as Uint32Array;
    const next = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      const p = prev[n] as number;
      next[n] = ((p >>> 8) ^ (t0[p & 0xff] as number)) >>> 0;
    }
    all.push(next);
  }
  return all;
}

const [T0, T1, T2, T3, T4, T5, T6, T7] = tables as [Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array];

export function crc32cInit(): Crc32cState {
  return 0xffffffff;
}

/** Feeds `bytes` into the running state and returns the new state. */
export function crc32cUpdate(state: Crc32cState, bytes: Uint8Array): Crc32cState {
  let crc = state >>> 0;
  let i = 0;
  const n = bytes.length;
  const end8 = n - (n % 8);
  // Indexed reads below are always in range (i < end8 ≤ n; table indices are masked to 0..255);
  // the `as number` only satisfies noUncheckedIndexedAccess without a per-byte branch.
  while (i < end8) {
    const lo = (crc ^ ((bytes[i] as number) | ((bytes[i + 1] as number) << 8) | ((bytes[i + 2] as number) << 16) | ((bytes[i + 3] as number) << 24))) >>> 0;
    crc =
      (T7[lo & 0xff] as number) ^
      (T6[(lo >>> 8) & 0xff] as number) ^
      (T5[(lo >>> 16) & 0xff] as number) ^
      (T4[lo >>> 24] as number) ^
      (T3[bytes[i + 4] as number] as number) ^
      (T2[bytes[i + 5] as number] as number) ^
      (T1[bytes[i + 6] as number] as number) ^
      (T0[bytes[i + 7] as number] as number);
    i += 8;
  }
  while (i < n) {
    crc = (crc >>> 8) ^ (T0[(crc ^ (bytes[i] as number)) & 0xff] as number);
    i++;
  }
  return crc >>> 0;
}

export function crc32cFinish(state: Crc32cState): number {
  return (state ^ 0xffffffff) >>> 0;
}

/** One-shot CRC-32C; a string is hashed as its UTF-8 bytes. */
export function crc32c(data: Uint8Array | string): number {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  return crc32cFinish(crc32cUpdate(crc32cInit(), bytes));
}
