/**
 * The two ways EMQX turns text into integers on the file-transfer path. They differ, and clients
 * can tell: a topic level goes through `string:to_integer`, a numeric string inside the init JSON
 * goes through hocon's builtin converter, which parses an Erlang term.
 */

/**
 * Erlang `string:to_integer/1` on a topic level, requiring the whole level to be consumed
 * (docs/emqx-ft.md §1, "Token rules"): one optional `+`/`-`, then ASCII digits, nothing else. Leading zeros
 * are fine. Returns the value (`+007` → 7n, `-0` → 0n) or null.
 */
export function parseTopicInteger(token: string): bigint | null {
  if (!/^[+-]?[0-9]+$/.test(token)) return null;
  return BigInt(token);
}

// erl_scan skips these between tokens (latin-1 control and space characters, and 128..160).
const erlWhitespace = /^[\u0000-\u0020\u0080-\u00a0]*|[\u0000-\u0020\u0080-\u00a0]*$/g;

/**
 * An integer written as Erlang source text, as typerefl's `string_to_term` reads it when a JSON
 * string is given for `size`, `expire_at` or `segments_ttl` (docs/emqx-ft.md §2, "Lenient coercions").
 * Covers what a client plausibly sends: surrounding whitespace, a sign, `1_000`, `16#ff`, `$a`.
 * Anything else (floats, expressions, comments) is rejected.
 */
export function parseErlangTermInteger(text: string): bigint | null {
  let s = text.replace(erlWhitespace, '');
  let negative = false;
  const sign = /^([+-])[\u0000-\u0020\u0080-\u00a0]*/.exec(s);
  if (sign) {
    negative = sign[1] === '-';
    s = s.slice(sign[0].length);
  }
  const value = parseErlangIntegerLiteral(s);
  if (value === null) return null;
  return negative ? -value : value;
}

function parseErlangIntegerLiteral(s: string): bigint | null {
  if (/^\$.$/u.test(s)) return BigInt(s.codePointAt(1) ?? 0);
  const decimal = /^[0-9]+(?:_[0-9]+)*$/;
  if (decimal.test(s)) return BigInt(s.replace(/_/g, ''));
  const based = /^([0-9]+)#([0-9a-zA-Z]+(?:_[0-9a-zA-Z]+)*)$/.exec(s);
  if (!based || based[1] === undefined || based[2] === undefined) return null;
  const base = Number(based[1]);
  if (base < 2 || base > 36) return null;
  let value = 0n;
  for (const ch of based[2].replace(/_/g, '')) {
    const digit = parseInt(ch, 36);
    if (Number.isNaN(digit) || digit >= base) return null;
    value = value * BigInt(base) + BigInt(digit);
  }
  return value;
}
