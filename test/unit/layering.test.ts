import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The layering of the tree, checked on the TypeScript sources: api/ is the contract and
 * imports nothing of ours but itself; src/ is the runtime and imports no controller, no
 * composition root and no tool; a controller imports no other controller; lab/ (a tool)
 * builds on the runtime only; cli/, the composition root, assembles processes from all of
 * them; and no module imports itself through a cycle.
 */

// dist/test/unit/layering.test.js -> the repository root.
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) return name === 'node_modules' || name === 'native' ? [] : sources(path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Relative imports of a file (static and dynamic, type-only included), as repository paths of .ts files. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const specs = [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)].map((m) => m[1]!);
  return specs.map((s) => relative(ROOT, resolve(ROOT, dirname(file), s)).replace(/\.js$/, '.ts'));
}

const TREES = ['api', 'src', 'controllers', 'lab', 'cli'];
const files = TREES.flatMap(sources);
const graph = new Map(files.map((f) => [f, importsOf(f)]));
const top = (f: string) => f.split('/')[0]!;
const controllerOf = (f: string) => (f.startsWith('controllers/') ? f.split('/')[1] : undefined);

describe('layering', () => {
  it('api/ imports only api/', () => {
    const bad = [...graph].flatMap(([f, deps]) => (top(f) === 'api' ? deps.filter((d) => top(d) !== 'api').map((d) => `${f} -> ${d}`) : []));
    assert.deepEqual(bad, []);
  });

  it('src/ (the runtime) imports only src/ and api/', () => {
    const bad = [...graph].flatMap(([f, deps]) => (top(f) === 'src' ? deps.filter((d) => !['src', 'api'].includes(top(d))).map((d) => `${f} -> ${d}`) : []));
    assert.deepEqual(bad, []);
  });

  it('lab/ imports only lab/, src/ and api/', () => {
    const bad = [...graph].flatMap(([f, deps]) => (top(f) === 'lab' ? deps.filter((d) => !['lab', 'src', 'api'].includes(top(d))).map((d) => `${f} -> ${d}`) : []));
    assert.deepEqual(bad, []);
  });

  it('controllers/ import only their own folder, src/ and api/', () => {
    const bad = [...graph].flatMap(([f, deps]) => (top(f) === 'controllers' ? deps.filter((d) => !['controllers', 'src', 'api'].includes(top(d))).map((d) => `${f} -> ${d}`) : []));
    assert.deepEqual(bad, []);
  });

  it('no controller imports another controller', () => {
    const bad = [...graph].flatMap(([f, deps]) => {
      const mine = controllerOf(f);
      return mine ? deps.filter((d) => controllerOf(d) !== undefined && controllerOf(d) !== mine).map((d) => `${f} -> ${d}`) : [];
    });
    assert.deepEqual(bad, []);
  });

  it('has no import cycles', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const visit = (f: string, path: string[]) => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'open') {
        cycles.push([...path.slice(path.indexOf(f)), f].join(' -> '));
        return;
      }
      state.set(f, 'open');
      for (const d of graph.get(f) ?? []) if (graph.has(d)) visit(d, [...path, f]);
      state.set(f, 'done');
    };
    for (const f of files) visit(f, []);
    assert.deepEqual(cycles, []);
  });
});
