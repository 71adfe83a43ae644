/**
 * nftp v1.1 packets as the store server reads and writes them, written from the wire format
 * (docs/nftp.md) and checked against the same golden vectors as the agent's codec, with which it
 * shares no code. One packet per MQTT message; big-endian; byte 0 the type, bytes 1-4 the whole
 * packet's length including those five bytes.
 *
 *   HELLO  1 | len | id u8 | blocks u16 | namelen u16 | name | filehash u32      len = 14 + namelen
 *   ACK    2 | len | id u8 | fileid u32                                         len = 10
 *   FILE   3 | len | fileid u32 | seq u16 | ctlen u16|u32 | content            len = 13|15 + ctlen
 *   END    4 | same as FILE, for the last block only
 *   GIVEME 5 | len | fileid u32 | seq u16                                       len = 11
 *
 * The content-length width is 'u16' ("version 1.0" of the store system's chapter, nftp-codec
 * 2022-11 to 2024-05) or 'u32' (nftp-codec since 2024-05); both sides must agree.
 */

export type Width = 'u16' | 'u32';

export type Packet =
  | { type: 'HELLO'; id: number; blocks: number; name: Buffer; filehash: number }
  | { type: 'ACK'; id: number; fileid: number }
  | { type: 'FILE' | 'END'; fileid: number; seq: number; content: Buffer }
  | { type: 'GIVEME'; fileid: number; seq: number };

const code = { HELLO: 1, ACK: 2, FILE: 3, END: 4, GIVEME: 5 } as const;

export function write(p: Packet, width: Width): Buffer {
  switch (p.type) {
    case 'HELLO': {
      const b = frame(code.HELLO, 14 + p.name.length);
      b.writeUInt8(p.id, 5);
      b.writeUInt16BE(p.blocks, 6);
      b.writeUInt16BE(p.name.length, 8);
      p.name.copy(b, 10);
      b.writeUInt32BE(p.filehash, 10 + p.name.length);
      return b;
    }
    case 'ACK': {
      const b = frame(code.ACK, 10);
      b.writeUInt8(p.id, 5);
      b.writeUInt32BE(p.fileid, 6);
      return b;
    }
    case 'GIVEME': {
      const b = frame(code.GIVEME, 11);
      b.writeUInt32BE(p.fileid, 5);
      b.writeUInt16BE(p.seq, 9);
      return b;
    }
    default: {
      const head = width === 'u32' ? 15 : 13;
      if (width === 'u16' && p.content.length > 0xffff) throw new RangeError(`a block of ${p.content.length} bytes does not fit a u16 content length`);
      const b = frame(code[p.type], head + p.content.length);
      b.writeUInt32BE(p.fileid, 5);
      b.writeUInt16BE(p.seq, 9);
      if (width === 'u32') b.writeUInt32BE(p.content.length, 11);
      else b.writeUInt16BE(p.content.length, 11);
      p.content.copy(b, head);
      return b;
    }
  }
}

/** The packet, or a sentence saying why these bytes are not one. Never reads outside `b`. */
export function read(b: Buffer, width: Width): Packet | string {
  if (b.length < 5) return `${b.length} bytes: shorter than the 5-byte header`;
  const len = b.readUInt32BE(1);
  if (len !== b.length) return `the header says ${len} bytes, the message has ${b.length}`;
  switch (b[0]) {
    case code.HELLO: {
      if (len < 14) return `HELLO of ${len} bytes is shorter than 14`;
      const namelen = b.readUInt16BE(8);
      if (len !== 14 + namelen) return `HELLO of ${len} bytes does not match its name length ${namelen}`;
      return { type: 'HELLO', id: b.readUInt8(5), blocks: b.readUInt16BE(6), name: Buffer.from(b.subarray(10, 10 + namelen)), filehash: b.readUInt32BE(10 + namelen) };
    }
    case code.ACK:
      return len === 10 ? { type: 'ACK', id: b.readUInt8(5), fileid: b.readUInt32BE(6) } : `ACK of ${len} bytes, not 10`;
    case code.GIVEME:
      return len === 11 ? { type: 'GIVEME', fileid: b.readUInt32BE(5), seq: b.readUInt16BE(9) } : `GIVEME of ${len} bytes, not 11`;
    case code.FILE:
    case code.END: {
      const head = width === 'u32' ? 15 : 13;
      if (len < head) return `a block packet of ${len} bytes is shorter than its ${head}-byte head`;
      const ctlen = width === 'u32' ? b.readUInt32BE(11) : b.readUInt16BE(11);
      if (len !== head + ctlen) return `a block packet of ${len} bytes does not match its content length ${ctlen} (${width})`;
      return { type: b[0] === code.END ? 'END' : 'FILE', fileid: b.readUInt32BE(5), seq: b.readUInt16BE(9), content: Buffer.from(b.subarray(head)) };
    }
    default:
      return `unknown packet type ${String(b[0])}`;
  }
}

function frame(type: number, length: number): Buffer {
  const b = Buffer.alloc(length);
  b.writeUInt8(type, 0);
  b.writeUInt32BE(length, 1);
  return b;
}

/** Blocks of a file: floor(size / blockSize) + 1, so an exact multiple ends with an empty END. */
export function blockCount(size: number, blockSize: number): number {
  return Math.floor(size / blockSize) + 1;
}
