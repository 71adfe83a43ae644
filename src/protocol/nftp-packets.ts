/**
 * nftp v1.1 packet model (docs/nftp.md §2). Every packet is `type u8 · Length u32 · body`, big-endian,
 * where Length is the whole packet including the 5-byte header; one packet per MQTT message.
 */

export const nftpTypes = { hello: 0x01, ack: 0x02, file: 0x03, end: 0x04, giveme: 0x05 } as const;

/**
 * Width of the FILE/END content-length field. 'u16' is the store system's own chapter and nftp-codec
 * 2022-11 → 2024-05 (the default); 'u32' is nftp-codec since 2024-05-31 (docs/nftp.md §1).
 */
export type NftpWidth = 'u16' | 'u32';
export const defaultNftpWidth: NftpWidth = 'u16';

export interface NftpHello {
  kind: 'hello';
  /** Chosen by the sender (u8), echoed in the ACK; the only way to match them. */
  id: number;
  /** Block count, u16, `floor(size / blocksize) + 1`. */
  blocks: number;
  /** The name as text (invalid UTF-8 is replaced when decoding). */
  name: string;
  /**
   * The name's exact bytes. Decoding always sets it; encoding uses it when present, else UTF-8 of `name`.
   * The fileid is the CRC-32C of these bytes, so they must survive a round trip untouched.
   */
  nameBytes?: Uint8Array;
  /** CRC-32C of the whole content. */
  filehash: number;
}

export interface NftpAck {
  kind: 'ack';
  id: number;
  fileid: number;
}

/** FILE and END share a layout; END is sent for the last block only (blockseq = blocks − 1). */
export interface NftpBlock {
  kind: 'file' | 'end';
  fileid: number;
  seq: number;
  content: Uint8Array;
}

/** One missing block per packet (layout since nftp-codec 02695d5, 2023-03-21; docs/nftp.md §1). */
export interface NftpGiveme {
  kind: 'giveme';
  fileid: number;
  seq: number;
}

export type NftpPacket = NftpHello | NftpAck | NftpBlock | NftpGiveme;

export const headerLength = 5;
/** HELLO Length = 14 + namelen. */
export const helloFixedLength = 14;
export const ackLength = 10;
export const givemeLength = 11;

/** FILE/END Length = this + ctlen: 15 with a u32 content length, 13 with u16. */
export function blockFixedLength(width: NftpWidth): number {
  return width === 'u32' ? 15 : 13;
}

export function maxContentLength(width: NftpWidth): number {
  return width === 'u32' ? 0xffffffff - 15 : 0xffff;
}
