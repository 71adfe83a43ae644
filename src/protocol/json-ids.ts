/**
 * JSON that keeps the store system's ids exactly as they were written. The server's job, task, script,
 * group and server ids may be numbers too large for a double (`"job_id": 12345678901234567890`
 * would come back from JSON.parse as 12345678901234567000), and whatever type an id has must be
 * echoed unchanged. So numbers under the id keys below are kept as their source text (JsonNumberText)
 * and written back verbatim; every other value parses as JSON.parse would. Pure, no I/O.
 */

/** A number kept as written, e.g. an id beyond 2^53. `String(x)` gives its digits. */
export class JsonNumberText {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
  /** Plain JSON.stringify (logs, records) writes the digits as a string; requests use stringifyJson. */
  toJSON(): string {
    return this.text;
  }
}

/** Keys whose numbers (or list of numbers) are ids. */
const idKeys = new Set(['job_id', 'id', 'task_id', 'script_id', 'request_id', 'groups', 'servers']);

export class JsonSyntaxError extends Error {}

/** JSON.parse, except that numbers under id keys become JsonNumberText. Throws JsonSyntaxError. */
export function parseJsonKeepingIds(text: string): unknown {
  let i = 0;
  const fail = (what: string): never => {
    throw new JsonSyntaxError(`${what} at position ${i}`);
  };
  const space = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i] as string)) i++;
  };
  const value = (keepNumbers: boolean, depth: number): unknown => {
    if (depth > 64) fail('nesting deeper than 64 levels');
    space();
    const ch = text[i];
    if (ch === '{') {
      i++;
      const out: Record<string, unknown> = {};
      space();
      if (text[i] === '}') return (i++, out);
      for (;;) {
        space();
        if (text[i] !== '"') fail('expected a key in double quotes');
        const key = string();
        space();
        if (text[i++] !== ':') fail(`expected ":" after "${key}"`);
        const v = value(idKeys.has(key), depth + 1);
        // Like JSON.parse: "__proto__" is an own key, never the prototype.
        Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
        space();
        if (text[i] === ',') i++;
        else if (text[i] === '}') return (i++, out);
        else fail('expected "," or "}"');
      }
    }
    if (ch === '[') {
      i++;
      const out: unknown[] = [];
      space();
      if (text[i] === ']') return (i++, out);
      for (;;) {
        out.push(value(keepNumbers, depth + 1));
        space();
        if (text[i] === ',') i++;
        else if (text[i] === ']') return (i++, out);
        else fail('expected "," or "]"');
      }
    }
    if (ch === '"') return string();
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (m) {
      i += m[0].length;
      return keepNumbers ? new JsonNumberText(m[0]) : Number(m[0]);
    }
    for (const [word, v] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ] as const) {
      if (text.startsWith(word, i)) return ((i += word.length), v);
    }
    return fail(ch === undefined ? 'unexpected end of the text' : `unexpected ${JSON.stringify(ch)}`);
  };
  const string = (): string => {
    const start = i;
    i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    if (i >= text.length) fail('a string that never ends');
    i++;
    try {
      return JSON.parse(text.slice(start, i)) as string;
    } catch {
      return fail('a malformed string');
    }
  };
  const out = value(false, 0);
  space();
  if (i < text.length) fail('unexpected text after the JSON value');
  return out;
}

/** JSON.stringify, except that JsonNumberText is written as its text. */
export function stringifyJson(v: unknown): string {
  if (v instanceof JsonNumberText) return v.text;
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined || typeof x === 'function' ? 'null' : stringifyJson(x))).join(',')}]`;
  if (typeof v === 'object' && v !== null && typeof (v as { toJSON?: unknown }).toJSON !== 'function') {
    const parts: string[] = [];
    for (const [k, x] of Object.entries(v)) {
      if (x === undefined || typeof x === 'function') continue;
      parts.push(`${JSON.stringify(k)}:${stringifyJson(x)}`);
    }
    return `{${parts.join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}
