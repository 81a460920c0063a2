// shape-infer: shape and type inference over the main graph and its subgraphs, with
// symbolic dims and propagation of small known tensors (see infer.ts for the engine,
// rules/ for the per-op table).

import { SplitcError } from '../../ir/errors.js';
import type { Dim } from '../../ir/graph.js';
import { checkPassOptions, registerPass, type Pass } from '../pass.js';
import { inferShapes } from './infer.js';

export { inferShapes, type ShapeInferOptions, type ShapeInferResult } from './infer.js';
export { knownValueOf, KNOWN_KEY, MAX_FOLD_ELEMENTS, type KnownValue, type KnownElem } from './known.js';
export { RuleContext, type OutType, type ShapeRule } from './context.js';
export { SHAPE_RULES } from './rules/index.js';
export { dimEq, mulDim, divDim, addDim, subDim, prodDims, broadcastShapes, formatDims } from './dims.js';

const SYMBOL = /^[A-Za-z_][A-Za-z0-9_.]*$/;

/**
 * Parse `name=1x3x48x192` into `[name, dims]`. A dim is a non-negative integer, a symbol
 * (`N`, `batch`; letters, digits, `_` and `.`, no lowercase `x` since it separates dims)
 * or `?` for unknown. `sep` is the character between name and dims (the last one
 * counts, so names may contain it).
 */
export function parseShapeSpec(spec: string, sep = '='): [string, Dim[]] {
  const bad = (why: string): never => {
    throw new SplitcError('E_BAD_ARGUMENT', `bad shape '${spec}': ${why}`, {
      hint: `write name${sep}dims with dims separated by 'x', e.g. x${sep}1x3x224x224 or x${sep}Nx3x224x224`,
    });
  };
  const at = spec.lastIndexOf(sep);
  if (at < 0) bad(`missing '${sep}'`);
  const name = spec.slice(0, at).trim();
  const body = spec.slice(at + 1).trim();
  if (!name) bad('missing input name');
  if (!body) bad('missing dims');
  const dims = body.split('x').map((tok): Dim => {
    const t = tok.trim();
    if (t === '') return bad('empty dim');
    if (t === '?') return null;
    if (/^\d+$/.test(t)) {
      const n = Number(t);
      if (!Number.isSafeInteger(n)) bad(`dim ${t} is too large`);
      return n;
    }
    if (SYMBOL.test(t)) return t;
    return bad(`'${t}' is neither a size nor a symbol`);
  });
  return [name, dims];
}

/** Parse the pass option `x:1x3x48x192+y:Nx16`. */
export function parseShapeOption(text: string): Record<string, Dim[]> {
  const out: Record<string, Dim[]> = {};
  for (const part of text.split('+')) {
    if (!part.trim()) continue;
    const [name, dims] = parseShapeSpec(part.trim(), ':');
    out[name] = dims;
  }
  return out;
}

/** The pass option text of input shapes (parseShapeOption reads it back). */
export function formatShapeOption(shapes: Record<string, readonly Dim[]>): string {
  return Object.entries(shapes)
    .map(([name, dims]) => `${name}:${dims.map((d) => (d === null ? '?' : String(d))).join('x')}`)
    .join('+');
}

/** `shape-infer{shape=x:1x3x48x192}`; a caller holding parsed shapes passes them (the text is for printing). */
export function shapeInferPass(options: Record<string, string> = {}, shapes?: Record<string, Dim[]>): Pass {
  checkPassOptions('shape-infer', options, ['shape'], 'shape=x:1x3x48x192+y:...');
  const inputShapes = shapes ?? (options.shape ? parseShapeOption(options.shape) : {});
  return {
    name: 'shape-infer',
    options,
    inPlace: true,
    run: (model, ctx) => {
      const { modified } = inferShapes(model, { inputShapes, ctx });
      return { model, modified };
    },
  };
}

registerPass('shape-infer', (options) => shapeInferPass(options));

/** The shape-infer pass of parsed input shapes (none: no option). */
export const shapeInferPassOf = (shapes: Record<string, Dim[]>): Pass => shapeInferPass(Object.keys(shapes).length ? { shape: formatShapeOption(shapes) } : {}, shapes);
