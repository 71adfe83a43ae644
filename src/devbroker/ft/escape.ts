/**
 * EMQX's filename rules (docs/emqx-ft.md §2 `name`, docs/emqx-ft.md §6 "esc()"): which exported names are safe, and how a
 * clientId or fileId becomes a directory name.
 */

/** EMQX `?IS_PRINTABLE`: 32-126, U+00A0-U+D7FF, U+E000-U+FFFD, U+10000-U+10FFFF. */
function isPrintable(cp: number): boolean {
  return (cp >= 32 && cp <= 126) || (cp >= 0xa0 && cp < 0xd800) || (cp > 0xdfff && cp < 0xfffe) || (cp > 0xffff && cp <= 0x10ffff);
}

function isUnsafe(cp: number): boolean {
  return cp === 0x25 /* % */ || cp === 0x3a /* : */ || cp === 0x5c /* \ */ || cp === 0x2f; /* / */
}

function percentEncode(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

/** `esc()`: `%`, `:`, `\`, `/` and non-printable characters become `%XX` per UTF-8 byte; `.`/`..` entirely. */
export function escapeFilename(name: string): string {
  if (name === '.' || name === '..') return percentEncode(name);
  let out = '';
  for (const ch of name) {
    const cp = ch.codePointAt(0) ?? 0;
    out += isUnsafe(cp) || !isPrintable(cp) ? percentEncode(ch) : ch;
  }
  return out;
}

/**
 * `emqx_ft_fs_util:is_filename_safe/1` for the init `name`. Unlike esc(), `%` is allowed here:
 * the exported name is used as given, never encoded (docs/emqx-ft.md §7.5).
 */
export function isFilenameSafe(name: string): boolean {
  if (name === '' || name === '.' || name === '..') return false;
  for (const ch of name) {
    const cp = ch.codePointAt(0) ?? 0;
    if (cp === 0x25) continue;
    if (isUnsafe(cp) || !isPrintable(cp)) return false;
  }
  return true;
}
