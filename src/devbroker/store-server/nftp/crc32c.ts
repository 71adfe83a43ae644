/**
 * CRC-32C (Castagnoli: reflected polynomial 0x82F63B78, init and final xor 0xFFFFFFFF), the store
 * server's own copy: nftp's fileid (of the name) and filehash (of the content) are both this
 * (docs/nftp.md). Kept apart from the agent's, so a bug in one shows up against the other.
 */
const table = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** A running CRC: start with `crcStart`, feed chunks with `crcAdd`, end with `crcEnd`. */
export const crcStart = 0xffffffff;

export function crcAdd(crc: number, bytes: Uint8Array): number {
  let c = crc;
  for (let i = 0; i < bytes.length; i++) c = (table[(c ^ (bytes[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return c >>> 0;
}

export function crcEnd(crc: number): number {
  return (crc ^ 0xffffffff) >>> 0;
}

export function crc32c(bytes: Uint8Array | string): number {
  return crcEnd(crcAdd(crcStart, typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes));
}
