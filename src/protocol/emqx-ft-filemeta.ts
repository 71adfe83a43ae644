/**
 * The `init` payload (docs/emqx-ft.md §2). EMQX refuses, never escapes, an unsafe `name`, and
 * refuses any re-init whose metadata differs in any field, so the payload is built once, in a fixed
 * key order, and its exact bytes are what a resumed transfer sends again.
 */

const maxNameBytes = 240;

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface FileMeta {
  name: string;
  size: number;
  /** SHA-256 of the whole file as 64 hex characters; usually left out (the fin topic carries it). */
  checksum?: string;
  /** Unix seconds. Stored by EMQX, not enforced. */
  expireAt?: number;
  /** Seconds; must be positive. EMQX clamps it to [5 min, 24 h]. */
  segmentsTtl?: number;
  userData?: JsonValue;
}

function isPrintable(cp: number): boolean {
  return (cp >= 32 && cp <= 126) || (cp >= 0xa0 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
}

/** Why EMQX would refuse this file name, or null when it accepts it. */
export function fileNameProblem(name: string): string | null {
  if (name === '') return 'the name is empty';
  if (name === '.' || name === '..') return `the name "${name}" is a special directory name`;
  if (/[/\\:]/.test(name)) return 'the name contains "/", "\\" or ":"';
  for (const ch of name) {
    const cp = ch.codePointAt(0) ?? 0;
    if (!isPrintable(cp)) return `the name contains the non-printable character U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  }
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > maxNameBytes) return `the name is ${bytes} bytes long (at most ${maxNameBytes} in UTF-8)`;
  return null;
}

function percentEncode(ch: string): string {
  return Array.from(Buffer.from(ch, 'utf8'), (b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');
}

/**
 * A name EMQX accepts, derived from a local base name: `%`, `/`, `\`, `:` and non-printable
 * characters become `%XX` per UTF-8 byte (as EMQX escapes ids), `.`/`..` are encoded whole, and an
 * over-long result is cut at a character boundary keeping a short extension.
 */
export function safeFileName(baseName: string): string {
  if (baseName === '') return 'file';
  if (baseName === '.' || baseName === '..') return percentEncode(baseName);
  let out = '';
  for (const ch of baseName) {
    const cp = ch.codePointAt(0) ?? 0;
    out += ch === '%' || ch === '/' || ch === '\\' || ch === ':' || !isPrintable(cp) ? percentEncode(ch) : ch;
  }
  return truncateName(out);
}

function truncateName(name: string): string {
  if (Buffer.byteLength(name, 'utf8') <= maxNameBytes) return name;
  const dot = name.lastIndexOf('.');
  const ext = dot > 0 && name.length - dot <= 16 ? name.slice(dot) : '';
  const budget = maxNameBytes - Buffer.byteLength(ext, 'utf8');
  let stem = '';
  let used = 0;
  for (const ch of name.slice(0, name.length - ext.length)) {
    const n = Buffer.byteLength(ch, 'utf8');
    if (used + n > budget) break;
    stem += ch;
    used += n;
  }
  // Never leave half of a %XX escape at the cut.
  return stem.replace(/%[0-9A-F]?$/, '') + ext;
}

/** The init payload bytes, keys in a fixed order. */
export function encodeInitPayload(meta: FileMeta): Buffer {
  const obj: Record<string, JsonValue> = { name: meta.name, size: meta.size };
  if (meta.checksum !== undefined) obj.checksum = meta.checksum;
  if (meta.expireAt !== undefined) obj.expire_at = meta.expireAt;
  if (meta.segmentsTtl !== undefined) obj.segments_ttl = meta.segmentsTtl;
  if (meta.userData !== undefined) obj.user_data = meta.userData;
  return Buffer.from(JSON.stringify(obj), 'utf8');
}

/** Reads back the name and size of an init payload (for logs and resume checks); null if malformed. */
export function decodeInitPayload(payload: Uint8Array): { name: string; size: number } | null {
  try {
    const v: unknown = JSON.parse(Buffer.from(payload).toString('utf8'));
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
    const { name, size } = v as Record<string, unknown>;
    if (typeof name !== 'string' || typeof size !== 'number') return null;
    return { name, size };
  } catch {
    return null;
  }
}
