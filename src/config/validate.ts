import { isAbsolute, resolve } from 'node:path';
import type { ArrayField, Field, ObjectField } from './schema';

/**
 * Walks a parsed JSON value against a schema Field, filling defaults and resolving paths.
 * Stops at the first problem and reports it as one sentence naming the key path, what is wrong and
 * the fix: a person reading a journal line at a store must be able to act on it.
 */
export class ConfigProblem extends Error {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(message);
  }
}

export interface ValidateContext {
  /** Relative `path` fields are resolved against this directory (the config file's). */
  baseDir: string;
  /** The whole schema, to suggest a key that exists elsewhere ("chunkSize" → "upload.chunkSize"). */
  root: ObjectField;
}

export function validate(field: Field, value: unknown, key: string, ctx: ValidateContext): unknown {
  switch (field.type) {
    case 'string': {
      if (typeof value !== 'string') throw wrongType(key, field, value);
      const problem = field.check?.(value);
      if (problem) throw new ConfigProblem(key, `${quote(key)} ${problem} (got ${show(value)})`);
      if (field.path && value === '') throw new ConfigProblem(key, `${quote(key)} is empty: give a path, or remove the key`);
      return field.path && !isAbsolute(value) ? resolve(ctx.baseDir, value) : value;
    }
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value) || value < field.min || value > field.max) throw wrongType(key, field, value);
      return value;
    case 'boolean':
      if (typeof value !== 'boolean') throw wrongType(key, field, value);
      return value;
    case 'enum':
      if (typeof value !== 'string' || !field.values.includes(value)) throw wrongType(key, field, value);
      return value;
    case 'array':
      return validateArray(field, value, key, ctx);
    case 'object':
      return validateObject(field, value, key, ctx);
  }
}

function validateArray(field: ArrayField, value: unknown, key: string, ctx: ValidateContext): unknown[] {
  if (!Array.isArray(value)) throw wrongType(key, field, value);
  if (value.length < (field.minItems ?? 0)) {
    throw new ConfigProblem(key, `${quote(key)} needs at least ${field.minItems} entr${field.minItems === 1 ? 'y' : 'ies'}: add one, or remove the key to use the default`);
  }
  return value.map((item, i) => validate(field.items, item, `${key}[${i}]`, ctx));
}

function validateObject(field: ObjectField, value: unknown, key: string, ctx: ValidateContext): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw wrongType(key, field, value);
  const input = value as Record<string, unknown>;
  // Unknown keys first: a misspelt key would otherwise surface as a confusing "missing" error.
  for (const k of Object.keys(input)) {
    // Own keys only: `in` would accept "constructor", "toString" or "__proto__" from Object.prototype.
    if (Object.hasOwn(field.fields, k)) continue;
    const path = join(key, k);
    const refused = field.refused && Object.hasOwn(field.refused, k) ? field.refused[k] : undefined;
    if (refused) throw new ConfigProblem(path, `${quote(path)} ${refused}`);
    throw new ConfigProblem(path, `unknown key ${quote(path)}: ${suggest(k, key, field, ctx.root)}`);
  }
  const out: Record<string, unknown> = {};
  for (const [k, f] of Object.entries(field.fields)) {
    const path = join(key, k);
    if (input[k] !== undefined) out[k] = validate(f, input[k], path, ctx);
    else if (f.type === 'object') out[k] = validate(f, {}, path, ctx);
    else if (f.optional) continue;
    else if (f.default !== undefined) out[k] = validate(f, typeof f.default === 'function' ? f.default() : f.default, path, ctx);
    else throw new ConfigProblem(path, `${quote(path)} is missing: add it (${lowerFirst(f.description.replace(/\.$/, ''))})`);
  }
  const problem = field.check?.(out);
  if (problem) throw new ConfigProblem(join(key, problem.key), `${quote(join(key, problem.key))} ${problem.message}`);
  return out;
}

function wrongType(key: string, field: Field, value: unknown): ConfigProblem {
  const example = exampleOf(field);
  const fix = example === undefined ? '' : `, e.g. ${example}`;
  return new ConfigProblem(key, `${quote(key)} must be ${expected(field)}, got ${show(value)}: fix the value${fix}`);
}

function expected(field: Field): string {
  switch (field.type) {
    case 'string':
      return field.path ? 'a path (a string)' : 'a string';
    case 'integer':
      return `a whole number from ${field.min} to ${field.max}${field.unit ? ` (${field.unit})` : ''}`;
    case 'boolean':
      return 'true or false';
    case 'enum':
      return `one of ${field.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'array':
      return 'a list [ … ]';
    case 'object':
      return 'an object { … }';
  }
}

function exampleOf(field: Field): string | undefined {
  if (field.type === 'object' || field.type === 'array' || field.type === 'boolean') return undefined;
  if (field.type === 'enum') return undefined;
  const d = field.default;
  if (d === undefined || typeof d === 'function') return undefined;
  return `${JSON.stringify(d)} (the default)`;
}

function show(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value)}`;
  return JSON.stringify(value);
}

function join(parent: string, k: string): string {
  return parent === '' ? k : `${parent}.${k}`;
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}

function quote(key: string): string {
  return `"${key}"`;
}

/** "did you mean …?" from the keys beside it, or from the same name elsewhere in the schema. */
function suggest(unknown: string, parent: string, here: ObjectField, root: ObjectField): string {
  const siblings = Object.keys(here.fields);
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const s of siblings) {
    const d = editDistance(unknown.toLowerCase(), s.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [s, d];
  }
  if (best !== undefined && bestDistance <= Math.max(1, Math.floor(best.length / 3))) {
    return `did you mean ${quote(join(parent, best))}? Rename it, or remove it`;
  }
  const elsewhere = findKey(root, '', unknown.toLowerCase());
  if (elsewhere) return `did you mean ${quote(elsewhere)}? It belongs there: move it, or remove it`;
  return `remove it (keys allowed here: ${siblings.join(', ')})`;
}

function findKey(field: ObjectField, prefix: string, wanted: string): string | undefined {
  for (const [k, f] of Object.entries(field.fields)) {
    const path = join(prefix, k);
    if (k.toLowerCase() === wanted) return path;
    const inner = f.type === 'object' ? f : f.type === 'array' && f.items.type === 'object' ? f.items : undefined;
    const found = inner && findKey(inner, f.type === 'array' ? `${path}[]` : path, wanted);
    if (found) return found;
  }
  return undefined;
}

/** Levenshtein distance; keys are short, so the quadratic table is fine. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length] as number;
}
