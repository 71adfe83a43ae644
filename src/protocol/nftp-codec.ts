/**
 * Encoder and decoder for nftp v1.1 packets (docs/nftp.md §2). Pure, no I/O.
 *
 * `decode` is the trust boundary: anything arriving on the topic goes through it. It checks every
 * length before reading (the C reference does not, docs/nftp.md §7) and fails only with
 * FtError('NFTP_DECODE'), never with anything else and never by reading out of bounds.
 */
import { FtError } from '../errors';
import {
  ackLength,
  blockFixedLength,
  givemeLength,
  headerLength,
  helloFixedLength,
  maxContentLength,
  nftpTypes,
  type NftpBlock,
  type NftpPacket,
  type NftpWidth,
  defaultNftpWidth,
} from './nftp-packets';

export interface NftpCodecOptions {
  width?: NftpWidth;
}

export interface NftpDecodeOptions extends NftpCodecOptions {
  /** When known (after HELLO), FILE/END/GIVEME with blockseq ≥ blocks are rejected. */
  blocks?: number;
}

const utf8 = new TextEncoder();
// fatal: false → invalid UTF-8 becomes U+FFFD instead of throwing; the exact bytes are kept in nameBytes.
const utf8Lenient = new TextDecoder('utf-8', { fatal: false });

export function encode(packet: NftpPacket, options: NftpCodecOptions = {}): Uint8Array {
  const width = options.width ?? defaultNftpWidth;
  switch (packet.kind) {
    case 'hello': {
      const name = packet.nameBytes ?? utf8.encode(packet.name);
      checkRange('HELLO id', packet.id, 0xff);
      checkRange('HELLO blocks', packet.blocks, 0xffff);
      checkRange('HELLO name length', name.length, 0xffff);
      checkRange('HELLO filehash', packet.filehash, 0xffffffff);
      const out = header(nftpTypes.hello, helloFixedLength + name.length);
      const v = view(out);
      v.setUint8(5, packet.id);
      v.setUint16(6, packet.blocks);
      v.setUint16(8, name.length);
      out.set(name, 10);
      v.setUint32(10 + name.length, packet.filehash);
      return out;
    }
    case 'ack': {
      checkRange('ACK id', packet.id, 0xff);
      checkRange('ACK fileid', packet.fileid, 0xffffffff);
      const out = header(nftpTypes.ack, ackLength);
      const v = view(out);
      v.setUint8(5, packet.id);
      v.setUint32(6, packet.fileid);
      return out;
    }
    case 'file':
    case 'end':
      return encodeBlock(packet, width);
    case 'giveme': {
      checkRange('GIVEME fileid', packet.fileid, 0xffffffff);
      checkRange('GIVEME blockseq', packet.seq, 0xffff);
      const out = header(nftpTypes.giveme, givemeLength);
      const v = view(out);
      v.setUint32(5, packet.fileid);
      v.setUint16(9, packet.seq);
      return out;
    }
  }
}

function encodeBlock(packet: NftpBlock, width: NftpWidth): Uint8Array {
  const name = packet.kind === 'end' ? 'END' : 'FILE';
  checkRange(`${name} fileid`, packet.fileid, 0xffffffff);
  checkRange(`${name} blockseq`, packet.seq, 0xffff);
  checkRange(`${name} content length (${width} width)`, packet.content.length, maxContentLength(width));
  const fixed = blockFixedLength(width);
  const out = header(packet.kind === 'end' ? nftpTypes.end : nftpTypes.file, fixed + packet.content.length);
  const v = view(out);
  v.setUint32(5, packet.fileid);
  v.setUint16(9, packet.seq);
  if (width === 'u32') v.setUint32(11, packet.content.length);
  else v.setUint16(11, packet.content.length);
  out.set(packet.content, fixed);
  return out;
}

function header(type: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  out[0] = type;
  view(out).setUint32(1, length);
  return out;
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** Encoding a value that does not fit its field is a caller bug (block planning prevents it). */
function checkRange(what: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new FtError('PROTOCOL_ERROR', `cannot encode nftp packet: ${what} ${value} is outside 0..${max}`);
  }
}

export function decode(bytes: Uint8Array, options: NftpDecodeOptions = {}): NftpPacket {
  try {
    return decodeChecked(bytes, options.width ?? defaultNftpWidth, options.blocks);
  } catch (err) {
    if (err instanceof FtError && err.code === 'NFTP_DECODE') throw err;
    // Belt and braces: the checks below should leave nothing else reachable.
    throw new FtError('NFTP_DECODE', `nftp packet does not parse: ${String(err)}`, { cause: err });
  }
}

function fail(message: string, details: Record<string, unknown> = {}): never {
  throw new FtError('NFTP_DECODE', `nftp packet does not parse: ${message}`, { details });
}

function decodeChecked(bytes: Uint8Array, width: NftpWidth, blocks: number | undefined): NftpPacket {
  if (!(bytes instanceof Uint8Array)) fail('payload is not a byte array');
  const size = bytes.length;
  if (size < headerLength) fail(`${size} bytes is shorter than the 5-byte header`, { size });
  const v = view(bytes);
  const type = v.getUint8(0);
  const length = v.getUint32(1);
  // One packet per MQTT message: Length must be exactly the payload size (as nftp_decode requires).
  if (length !== size) fail(`Length field says ${length} bytes but the payload has ${size}`, { length, size });

  switch (type) {
    case nftpTypes.hello: {
      if (size < helloFixedLength) fail(`HELLO of ${size} bytes is shorter than the minimum ${helloFixedLength}`, { size });
      const id = v.getUint8(5);
      const count = v.getUint16(6);
      const namelen = v.getUint16(8);
      if (helloFixedLength + namelen !== size) {
        fail(`HELLO name length ${namelen} does not fit a ${size}-byte packet (expected Length ${helloFixedLength + namelen})`, {
          namelen,
          size,
        });
      }
      const nameBytes = bytes.slice(10, 10 + namelen);
      return { kind: 'hello', id, blocks: count, name: utf8Lenient.decode(nameBytes), nameBytes, filehash: v.getUint32(10 + namelen) };
    }
    case nftpTypes.ack:
      if (size !== ackLength) fail(`ACK must be ${ackLength} bytes, got ${size}`, { size });
      return { kind: 'ack', id: v.getUint8(5), fileid: v.getUint32(6) };
    case nftpTypes.file:
    case nftpTypes.end: {
      const kind = type === nftpTypes.end ? 'end' : 'file';
      const fixed = blockFixedLength(width);
      const label = kind.toUpperCase();
      if (size < fixed) fail(`${label} of ${size} bytes is shorter than the minimum ${fixed} (${width} content length)`, { size, width });
      const fileid = v.getUint32(5);
      const seq = v.getUint16(9);
      const ctlen = width === 'u32' ? v.getUint32(11) : v.getUint16(11);
      if (fixed + ctlen !== size) {
        fail(`${label} content length ${ctlen} does not fit a ${size}-byte packet (expected Length ${fixed + ctlen}; ` + `is the peer using the other content-length width than '${width}'?)`, {
          ctlen,
          size,
          width,
        });
      }
      checkSeq(label, seq, blocks);
      return { kind, fileid, seq, content: bytes.slice(fixed, fixed + ctlen) };
    }
    case nftpTypes.giveme: {
      if (size !== givemeLength) fail(`GIVEME must be ${givemeLength} bytes, got ${size}`, { size });
      const seq = v.getUint16(9);
      checkSeq('GIVEME', seq, blocks);
      return { kind: 'giveme', fileid: v.getUint32(5), seq };
    }
    default:
      return fail(`unknown packet type 0x${type.toString(16).padStart(2, '0')}`, { type });
  }
}

function checkSeq(label: string, seq: number, blocks: number | undefined): void {
  if (blocks !== undefined && seq >= blocks) {
    fail(`${label} blockseq ${seq} is past the block count ${blocks}`, { seq, blocks });
  }
}
