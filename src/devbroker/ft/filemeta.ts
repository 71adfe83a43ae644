import { isFilenameSafe } from './escape';
import { parseErlangTermInteger } from './erlang-integer';
import { JsonFloat, type JsonObject, type JsonValue, JsonSyntaxError, jsonEquals, parseJson, stringifyJson } from './json-value';

/**
 * The init payload (docs/emqx-ft.md §2): decoding, validation, the on-disk manifest and exact equality.
 * Numbers are bigints because EMQX integers are unbounded.
 */
export interface Filemeta {
  name: string;
  size?: bigint;
  expireAt?: bigint;
  /** Upper-case hex SHA-256, as EMQX stores and echoes it. */
  checksum?: string;
  segmentsTtl?: bigint;
  userData?: JsonValue;
}

export type FilemetaDecodeResult =
  | { kind: 'ok'; meta: Filemeta }
  | { kind: 'error'; reason: 'invalid_filemeta_json' | 'invalid_filemeta' }
  /**
   * JSON that parses to something other than an object or a string: `emqx_ft_schema:decode/2`
   * has no clause for it, the hook crashes and EMQX answers 0x10 with no response (docs/emqx-ft.md §2, inferred).
   */
  | { kind: 'crash' };

const MAX_NAME_BYTES = 240;

class InvalidFilemeta extends Error {}

export function decodeFilemetaPayload(payload: Buffer): FilemetaDecodeResult {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(payload);
  } catch {
    return { kind: 'error', reason: 'invalid_filemeta_json' };
  }
  return decodeFilemetaText(text);
}

function decodeFilemetaText(text: string): FilemetaDecodeResult {
  let value: JsonValue;
  try {
    value = parseJson(text);
  } catch (err) {
    if (err instanceof JsonSyntaxError) return { kind: 'error', reason: 'invalid_filemeta_json' };
    throw err;
  }
  // A JSON string is decoded once more (`decode/2` recurses on binaries), so `"{\"name\":…}"` works.
  if (typeof value === 'string') return decodeFilemetaText(value);
  if (!(value instanceof Map)) return { kind: 'crash' };
  try {
    return { kind: 'ok', meta: checkFilemeta(value) };
  } catch (err) {
    if (err instanceof InvalidFilemeta) return { kind: 'error', reason: 'invalid_filemeta' };
    throw err;
  }
}

/** hocon `check_plain` with the filemeta schema: unknown top-level keys dropped, nulls = absent. */
function checkFilemeta(obj: JsonObject): Filemeta {
  const field = (key: string): JsonValue | undefined => {
    const v = obj.get(key);
    return v === null ? undefined : v;
  };
  const name = field('name');
  if (typeof name !== 'string') throw new InvalidFilemeta('name');
  if (Buffer.byteLength(name, 'utf8') > MAX_NAME_BYTES || !isFilenameSafe(name)) throw new InvalidFilemeta('name');
  const meta: Filemeta = { name };
  const size = field('size');
  if (size !== undefined) meta.size = coerceInteger(size, 0n);
  const expireAt = field('expire_at');
  if (expireAt !== undefined) meta.expireAt = coerceInteger(expireAt, 0n);
  const segmentsTtl = field('segments_ttl');
  if (segmentsTtl !== undefined) meta.segmentsTtl = coerceInteger(segmentsTtl, 1n);
  const checksum = field('checksum');
  if (checksum !== undefined) {
    if (typeof checksum !== 'string' || Buffer.byteLength(checksum, 'utf8') !== 64 || !/^[0-9a-fA-F]{64}$/.test(checksum)) {
      throw new InvalidFilemeta('checksum');
    }
    meta.checksum = checksum.toUpperCase();
  }
  const userData = field('user_data');
  if (userData !== undefined) meta.userData = coerceUserData(userData);
  return meta;
}

/** io_lib:printable_unicode_list/1, which gates hocon's string conversions. */
function isPrintableUnicodeList(codepoints: number[]): boolean {
  return codepoints.every((c) => (c >= 32 && c <= 126) || (c >= 0xa0 && c < 0xd800) || (c > 0xdfff && c < 0xfffe) || (c > 0xffff && c <= 0x10ffff) || [8, 9, 10, 11, 12, 13, 27].includes(c));
}

/** hocon's builtin converter sees JSON strings and arrays of integers alike as Erlang strings. */
function asErlangString(v: JsonValue): string | null {
  if (typeof v === 'string') return isPrintableUnicodeList([...v].map((c) => c.codePointAt(0) ?? 0)) ? v : null;
  if (Array.isArray(v) && v.every((e): e is bigint => typeof e === 'bigint' && e >= 0n && e <= 0x10ffffn)) {
    const cps = v.map(Number);
    return isPrintableUnicodeList(cps) ? String.fromCodePoint(...cps) : null;
  }
  return null;
}

/** `non_neg_integer()` / `pos_integer()` with hocon's lenient string coercion; floats rejected. */
function coerceInteger(v: JsonValue, min: bigint): bigint {
  let n: bigint | null = null;
  if (typeof v === 'bigint') n = v;
  else {
    const s = asErlangString(v);
    if (s !== null) n = parseErlangTermInteger(s);
  }
  if (n === null || n < min) throw new InvalidFilemeta('integer');
  return n;
}

/**
 * `user_data` is `json_value()`, a union. hocon first tries to read a printable string as a number
 * (typerefl union order: map, list, number, binary, …), so `"42"` is stored as 42 and `[]` as "".
 * Erlang map/list literals inside strings are not emulated.
 */
function coerceUserData(v: JsonValue): JsonValue {
  const s = asErlangString(v);
  if (s === null) return v;
  const trimmed = s.trim();
  if (/^[+-]?[0-9]+$/.test(trimmed)) return BigInt(trimmed);
  if (/^[+-]?[0-9]+\.[0-9]+(?:[eE][+-]?[0-9]+)?$/.test(trimmed)) return new JsonFloat(Number(trimmed));
  return s;
}

export function filemetaEquals(a: Filemeta, b: Filemeta): boolean {
  return jsonEquals(filemetaToJson(a), filemetaToJson(b));
}

/** The meta as EMQX serialises it (keys sorted, checksum upper-case hex). */
function filemetaToJson(meta: Filemeta): JsonObject {
  const obj: JsonObject = new Map();
  if (meta.checksum !== undefined) obj.set('checksum', meta.checksum);
  if (meta.expireAt !== undefined) obj.set('expire_at', meta.expireAt);
  obj.set('name', meta.name);
  if (meta.segmentsTtl !== undefined) obj.set('segments_ttl', meta.segmentsTtl);
  if (meta.size !== undefined) obj.set('size', meta.size);
  if (meta.userData !== undefined) obj.set('user_data', meta.userData);
  return obj;
}

/** `MANIFEST.json`: `["filemeta",1,{…}]` (docs/emqx-ft.md §6). */
export function encodeManifest(meta: Filemeta): string {
  return stringifyJson(['filemeta', 1n, filemetaToJson(meta)]);
}

/** null for anything EMQX would call `corrupted`. */
export function decodeManifest(text: string): Filemeta | null {
  let value: JsonValue;
  try {
    value = parseJson(text);
  } catch {
    return null;
  }
  if (!Array.isArray(value) || value.length !== 3 || value[0] !== 'filemeta' || value[1] !== 1n) return null;
  const obj = value[2];
  if (!(obj instanceof Map)) return null;
  try {
    return checkFilemeta(obj);
  } catch {
    return null;
  }
}
