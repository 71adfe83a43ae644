/**
 * JSON as EMQX's decoder (jiffy) sees it. `JSON.parse` cannot be used: it turns `1.0` and `1e3`
 * into integers, while jiffy keeps them floats, which the filemeta schema then rejects for
 * `size`; and re-init equality (docs/emqx-ft.md §2) is exact term equality, where `1` and `1.0` differ.
 */

/** A JSON number written with a fraction or an exponent. */
export class JsonFloat {
  constructor(readonly value: number) {}
}

export type JsonObject = Map<string, JsonValue>;
/** Integers are bigints (jiffy has arbitrary precision); objects are Maps. */
export type JsonValue = null | boolean | string | bigint | JsonFloat | JsonValue[] | JsonObject;

export class JsonSyntaxError extends Error {}

/** Strict RFC 8259 parse of a whole text. Throws JsonSyntaxError. */
export function parseJson(text: string): JsonValue {
  const parser = new Parser(text);
  parser.skipWhitespace();
  const value = parser.value();
  parser.skipWhitespace();
  if (!parser.atEnd()) throw new JsonSyntaxError('trailing data');
  return value;
}

class Parser {
  private pos = 0;
  constructor(private readonly text: string) {}

  atEnd(): boolean {
    return this.pos >= this.text.length;
  }

  skipWhitespace(): void {
    while (this.pos < this.text.length && ' \t\n\r'.includes(this.text.charAt(this.pos))) this.pos++;
  }

  value(): JsonValue {
    const ch = this.text.charAt(this.pos);
    if (ch === '{') return this.object();
    if (ch === '[') return this.array();
    if (ch === '"') return this.string();
    if (ch === '-' || (ch >= '0' && ch <= '9')) return this.number();
    for (const [word, value] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ] as const) {
      if (this.text.startsWith(word, this.pos)) {
        this.pos += word.length;
        return value;
      }
    }
    throw new JsonSyntaxError(`unexpected ${ch === '' ? 'end' : JSON.stringify(ch)} at ${this.pos}`);
  }

  private expect(ch: string): void {
    if (this.text.charAt(this.pos) !== ch) throw new JsonSyntaxError(`expected ${ch} at ${this.pos}`);
    this.pos++;
  }

  private object(): JsonObject {
    this.expect('{');
    const result: JsonObject = new Map();
    this.skipWhitespace();
    if (this.text.charAt(this.pos) === '}') {
      this.pos++;
      return result;
    }
    for (;;) {
      this.skipWhitespace();
      const key = this.string();
      this.skipWhitespace();
      this.expect(':');
      this.skipWhitespace();
      result.set(key, this.value());
      this.skipWhitespace();
      if (this.text.charAt(this.pos) === ',') {
        this.pos++;
        continue;
      }
      this.expect('}');
      return result;
    }
  }

  private array(): JsonValue[] {
    this.expect('[');
    const result: JsonValue[] = [];
    this.skipWhitespace();
    if (this.text.charAt(this.pos) === ']') {
      this.pos++;
      return result;
    }
    for (;;) {
      this.skipWhitespace();
      result.push(this.value());
      this.skipWhitespace();
      if (this.text.charAt(this.pos) === ',') {
        this.pos++;
        continue;
      }
      this.expect(']');
      return result;
    }
  }

  private number(): bigint | JsonFloat {
    const match = /^-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(this.text.slice(this.pos));
    if (!match) throw new JsonSyntaxError(`bad number at ${this.pos}`);
    this.pos += match[0].length;
    if (match[1] === undefined && match[2] === undefined) return BigInt(match[0]);
    return new JsonFloat(Number(match[0]));
  }

  private string(): string {
    this.expect('"');
    let out = '';
    for (;;) {
      const ch = this.text.charAt(this.pos);
      if (ch === '') throw new JsonSyntaxError('unterminated string');
      this.pos++;
      if (ch === '"') return out;
      if (ch < ' ') throw new JsonSyntaxError('control character in string');
      if (ch !== '\\') {
        out += ch;
        continue;
      }
      const esc = this.text.charAt(this.pos++);
      const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
      const mapped = simple[esc];
      if (mapped !== undefined) {
        out += mapped;
        continue;
      }
      if (esc !== 'u') throw new JsonSyntaxError(`bad escape at ${this.pos}`);
      const unit = this.hex4();
      if (unit >= 0xd800 && unit <= 0xdbff) {
        // A high surrogate must be followed by an escaped low one; a lone half is not UTF-8.
        if (this.text.slice(this.pos, this.pos + 2) !== '\\u') throw new JsonSyntaxError('lone surrogate');
        this.pos += 2;
        const low = this.hex4();
        if (low < 0xdc00 || low > 0xdfff) throw new JsonSyntaxError('lone surrogate');
        out += String.fromCharCode(unit, low);
      } else if (unit >= 0xdc00 && unit <= 0xdfff) {
        throw new JsonSyntaxError('lone surrogate');
      } else {
        out += String.fromCharCode(unit);
      }
    }
  }

  private hex4(): number {
    const digits = this.text.slice(this.pos, this.pos + 4);
    if (!/^[0-9a-fA-F]{4}$/.test(digits)) throw new JsonSyntaxError(`bad \\u escape at ${this.pos}`);
    this.pos += 4;
    return parseInt(digits, 16);
  }
}

/** Serialises so that `parseJson` gives back an equal value (floats stay floats). */
export function stringifyJson(value: JsonValue): string {
  if (value === null) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof JsonFloat) return stringifyFloat(value.value);
  if (Array.isArray(value)) return `[${value.map(stringifyJson).join(',')}]`;
  const keys = [...value.keys()].sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${stringifyJson(value.get(k) ?? null)}`).join(',')}}`;
}

function stringifyFloat(n: number): string {
  const text = JSON.stringify(n); // finite by construction: it came from JSON text
  if (/[.]/.test(text)) return text;
  const e = text.search(/e/i);
  return e < 0 ? `${text}.0` : `${text.slice(0, e)}.0${text.slice(e)}`;
}

/** Erlang exact term equality on decoded JSON: `1` ≠ `1.0`, object key order ignored. */
export function jsonEquals(a: JsonValue, b: JsonValue): boolean {
  if (a === null || typeof a !== 'object') return a === b;
  if (a instanceof JsonFloat) return b instanceof JsonFloat && Object.is(a.value, b.value);
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => jsonEquals(x, b[i] ?? null));
  if (!(b instanceof Map) || a.size !== b.size) return false;
  for (const [k, v] of a) {
    if (!b.has(k) || !jsonEquals(v, b.get(k) ?? null)) return false;
  }
  return true;
}
