// Imports point downward only: ir ← passes ← search ← codegen/runtime ← audit ← pipeline ← cli.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect, it } from 'vitest';
import { repoRoot } from './helpers/fixtures.js';

const LAYER: Record<string, number> = { ir: 0, passes: 1, search: 2, codegen: 3, runtime: 3, audit: 4, pipeline: 5, cli: 6 };
const FORBIDDEN_IN_IR = ['onnxruntime-node', 'onnxruntime-web', 'ts-morph', 'protobufjs', 'onnx-proto'];

function* sources(dir: string): Iterable<string> {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* sources(p);
    else if (p.endsWith('.ts')) yield p;
  }
}

it('src/ modules import only from their own or lower layers', () => {
  const src = path.join(repoRoot, 'src');
  const problems: string[] = [];
  for (const file of sources(src)) {
    const rel = path.relative(src, file);
    const layer = rel.split(path.sep)[0]!;
    const own = LAYER[layer];
    if (own === undefined) continue; // src/index.ts re-exports everything
    const text = fs.readFileSync(file, 'utf8');
    for (const m of text.matchAll(/^\s*(?:import|export)[^'"]*from\s+['"]([^'"]+)['"]/gm)) {
      const spec = m[1]!;
      if (spec.startsWith('.')) {
        const target = path.relative(src, path.resolve(path.dirname(file), spec)).split(path.sep)[0]!;
        const tl = LAYER[target];
        if (tl !== undefined && tl > own) problems.push(`${rel} imports ${spec} (${target} is above ${layer})`);
      } else if (layer === 'ir' && FORBIDDEN_IN_IR.some((f) => spec === f || spec.startsWith(f + '/'))) {
        problems.push(`${rel} imports ${spec}: the IR must not depend on runtimes or codegen libraries`);
      }
    }
  }
  expect(problems).toEqual([]);
});

// Inside passes/ and search/, each direct subfolder and each top-level file is one node; an
// import from one node into another is an edge. A loop (passes/autodiff → batch-as-depth.ts
// → passes/autodiff) means neither can be read, tested or moved without the other.
it.each(['passes', 'search'])('no import loop between the folders and files of src/%s', (folder) => {
  const root = path.join(repoRoot, 'src', folder);
  const nodeOf = (file: string): string => path.relative(root, file).split(path.sep)[0]!;
  const edges = new Map<string, Set<string>>();
  for (const file of sources(root)) {
    const from = nodeOf(file);
    if (!edges.has(from)) edges.set(from, new Set());
    const text = fs.readFileSync(file, 'utf8');
    for (const m of text.matchAll(/^\s*(?:import|export)[^'"]*from\s+['"](\.[^'"]+)['"]/gm)) {
      const target = path.resolve(path.dirname(file), m[1]!.replace(/\.js$/, '.ts'));
      if (path.relative(root, target).startsWith('..')) continue;
      const to = nodeOf(target);
      if (to !== from) edges.get(from)!.add(to);
    }
  }
  // Depth-first search; a back edge closes a loop, reported as the path around it.
  const loops: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string): void => {
    state.set(n, 'open');
    stack.push(n);
    for (const m of [...(edges.get(n) ?? [])].sort()) {
      if (state.get(m) === 'open') loops.push([...stack.slice(stack.indexOf(m)), m].join(' → '));
      else if (!state.has(m)) visit(m);
    }
    stack.pop();
    state.set(n, 'done');
  };
  for (const n of [...edges.keys()].sort()) if (!state.has(n)) visit(n);
  expect(loops).toEqual([]);
});
