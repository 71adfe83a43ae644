/**
 * The layer rules of ARCHITECTURE.md, checked: every relative import in src/ goes to a folder its
 * own folder may import, so a newcomer's shortcut across layers fails here rather than in review.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const src = join(__dirname, '..', '..', 'src');

/** Folder (or top-level file) → what it may import besides itself. Mirrors ARCHITECTURE.md's table. */
const base = ['errors', 'log', 'version'];
const allowed: Record<string, string[]> = {
  cli: ['config', 'daemon', 'fleet', 'jobs', 'transfer', 'transfer/emqx-ft', 'transfer/nftp', 'transfer/store', 'mqtt', 'storage', 'protocol', 'time', ...base],
  daemon: ['config', 'fleet', 'jobs', 'transfer', 'transfer/emqx-ft', 'transfer/nftp', 'transfer/store', 'mqtt', 'storage', 'protocol', 'time', ...base],
  fleet: ['config', 'jobs', 'transfer', 'transfer/emqx-ft', 'transfer/store', 'mqtt', 'storage', 'protocol', 'time', ...base],
  jobs: ['config', 'transfer', 'transfer/emqx-ft', 'transfer/nftp', 'transfer/store', 'mqtt', 'storage', 'protocol', 'time', ...base],
  transfer: ['errors', 'log'],
  'transfer/emqx-ft': ['transfer', 'config', 'mqtt', 'storage', 'protocol', 'time', 'errors', 'log'],
  'transfer/nftp': ['transfer', 'storage', 'protocol', 'time', 'errors', 'log'],
  'transfer/store': ['transfer', 'transfer/nftp', 'mqtt', 'storage', 'protocol', 'time', 'errors', 'log'],
  mqtt: ['protocol', 'time', 'errors', 'log'],
  storage: ['errors', 'log'],
  protocol: ['errors'],
  config: ['protocol', 'time', 'errors', 'log'],
  time: [],
  devbroker: ['protocol', 'time', ...base],
  errors: [],
  log: [],
  version: [],
};

function layerOf(file: string): string {
  const parts = relative(src, file).split('/');
  const top = parts.length === 1 ? (parts[0] ?? '').replace(/\.ts$/, '') : (parts[0] ?? '');
  if (top === 'transfer' && parts.length > 2) return `transfer/${parts[1] ?? ''}`;
  return top;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

/** Every `from '…'` / `import('…')` with a relative specifier, as [importing file, imported path]. */
function relativeImports(): Array<[string, string]> {
  const found: Array<[string, string]> = [];
  for (const file of sourceFiles(src)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*)'(\.{1,2}\/[^']+)'/g)) {
      found.push([file, normalize(join(dirname(file), m[1] ?? ''))]);
    }
  }
  return found;
}

describe('layers', () => {
  const imports = relativeImports();

  it('finds the imports it checks', () => {
    expect(imports.length).toBeGreaterThan(300);
    expect(Object.keys(allowed).sort()).toEqual([...new Set(sourceFiles(src).map(layerOf))].sort());
  });

  it('every import goes to a layer its folder may import', () => {
    const broken = imports
      .map(([from, to]) => ({ from: layerOf(from), to: layerOf(to), file: relative(src, from) }))
      .filter(({ from, to }) => from !== to && !(allowed[from] ?? []).includes(to))
      .map(({ file, to }) => `${file} imports ${to}/`);
    expect(broken).toEqual([]);
  });

  it('the table has no cycle', () => {
    const visiting = new Set<string>();
    const done = new Set<string>();
    const cycles: string[] = [];
    const visit = (layer: string, path: string[]): void => {
      if (done.has(layer)) return;
      if (visiting.has(layer)) {
        cycles.push([...path, layer].join(' → '));
        return;
      }
      visiting.add(layer);
      for (const next of allowed[layer] ?? []) visit(next, [...path, layer]);
      visiting.delete(layer);
      done.add(layer);
    };
    for (const layer of Object.keys(allowed)) visit(layer, []);
    expect(cycles).toEqual([]);
  });
});
