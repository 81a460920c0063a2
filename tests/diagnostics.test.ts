// Error codes are declared once, by the lowest layer that raises them: ir/errors.ts holds the
// IR's codes and the generic ones, each layer above augments ErrorCodes in its diagnostics.ts
// (the wire codes live with the protocol, kserve/protocol.ts). Read from the sources as text.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect, it } from 'vitest';
import { repoRoot } from './helpers/fixtures.js';

const LAYER: Record<string, number> = { ir: 0, passes: 1, search: 2, codegen: 3, runtime: 3, audit: 4, pipeline: 5, cli: 6 };
const IR_ERRORS = 'ir/errors.ts';
const WIRE = 'runtime/kserve/protocol.ts';
/** Codes every layer raises, declared in the IR although raised above it too. */
const GENERIC = new Set(['E_BAD_ARGUMENT', 'E_IO']);

const src = path.join(repoRoot, 'src');

function* sources(dir: string): Iterable<string> {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* sources(p);
    else if (p.endsWith('.ts')) yield p;
  }
}

const files = [...sources(src)].map((file) => ({ rel: path.relative(src, file).split(path.sep).join('/'), text: fs.readFileSync(file, 'utf8') }));
const layerOf = (rel: string): string => rel.split('/')[0]!;

/** The body of each `interface ErrorCodes` / `WireErrorCodes` in a file, and its code keys. */
function declaredCodes(text: string): string[] {
  const codes: string[] = [];
  for (const m of text.matchAll(/interface (?:Wire)?ErrorCodes\b[^{]*\{([^}]*)\}/g)) {
    for (const k of m[1]!.matchAll(/^\s*(E_[A-Z0-9_]+)\s*:/gm)) codes.push(k[1]!);
  }
  return codes;
}

const declarations = new Map<string, string[]>(); // code → files declaring it
for (const { rel, text } of files) {
  for (const code of declaredCodes(text)) declarations.set(code, [...(declarations.get(code) ?? []), rel]);
}

it('codes are declared only in ir/errors.ts, a layer’s own diagnostics.ts, or the wire protocol', () => {
  const problems: string[] = [];
  for (const { rel, text } of files) {
    if (!/interface (?:Wire)?ErrorCodes\b/.test(text)) continue;
    if (rel === IR_ERRORS || rel === WIRE) continue;
    if (!/^[a-z]+\/diagnostics\.ts$/.test(rel)) {
      problems.push(`${rel} declares error codes; declare them in ${layerOf(rel)}/diagnostics.ts`);
      continue;
    }
    // A layer augments the IR's ErrorCodes, never another layer's module.
    for (const m of text.matchAll(/declare module ['"]([^'"]+)['"]/g)) {
      const target = path.relative(src, path.resolve(path.dirname(path.join(src, rel)), m[1]!.replace(/\.js$/, '.ts'))).split(path.sep).join('/');
      if (target !== IR_ERRORS) problems.push(`${rel} augments ${m[1]} (only ../ir/errors.js may be augmented)`);
    }
    if (!/declare module ['"]\.\.\/ir\/errors\.js['"]/.test(text)) problems.push(`${rel} declares ErrorCodes without augmenting ../ir/errors.js`);
  }
  expect(problems).toEqual([]);
});

it('every code is declared exactly once', () => {
  const twice = [...declarations].filter(([, where]) => where.length > 1).map(([code, where]) => `${code}: ${where.join(', ')}`);
  expect(twice).toEqual([]);
  expect(declarations.size).toBeGreaterThan(40);
});

it('every code used in src/ is declared, by the lowest layer that uses it', () => {
  const lowest = new Map<string, { layer: number; file: string }>();
  const problems: string[] = [];
  for (const { rel, text } of files) {
    const layer = LAYER[layerOf(rel)];
    if (layer === undefined) continue; // src/index.ts
    // Declarations are `E_X:` keys; uses are quoted codes (raised, compared, typed).
    for (const m of text.matchAll(/['"](E_[A-Z0-9_]+)['"]/g)) {
      const code = m[1]!;
      if (!declarations.has(code)) problems.push(`${rel} uses ${code}, which no module declares`);
      const seen = lowest.get(code);
      if (!seen || layer < seen.layer) lowest.set(code, { layer, file: rel });
    }
  }
  for (const [code, where] of declarations) {
    const declaredIn = LAYER[layerOf(where[0]!)]!;
    const used = lowest.get(code);
    if (!used) {
      problems.push(`${code} is declared in ${where[0]} but never used`);
      continue;
    }
    if (GENERIC.has(code)) continue;
    if (declaredIn > used.layer) problems.push(`${code} is declared in ${where[0]} but used lower, in ${used.file}`);
    if (declaredIn < used.layer) problems.push(`${code} is declared in ${where[0]}; its lowest user is ${used.file}: declare it in that layer`);
  }
  expect(problems).toEqual([]);
});
