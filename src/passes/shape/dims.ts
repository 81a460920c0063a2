// Dimension arithmetic with symbols. A dim is a size, a symbol ('N'), a product of an
// integer and symbols written canonically ('3*H*W', symbols sorted), or null (unknown).
// Products are enough for what exporters compute from shapes (Flatten, Reshape with -1,
// Shape→Mul→Reshape); sums of unlike symbols and non-exact quotients become unknown.

import type { Dim, Shape } from '../../ir/graph.js';

interface Mono {
  coef: number;
  /** Sorted symbol names, repeated for powers. */
  syms: readonly string[];
}

/** Symbolic expressions longer than this become unknown (bounds work on pathological graphs). */
const MAX_SYMBOL_LENGTH = 256;

const monoCache = new Map<string, Mono>();

function monoOf(d: number | string): Mono {
  if (typeof d === 'number') return { coef: d, syms: [] };
  let m = monoCache.get(d);
  if (m) return m;
  if (d.includes('*')) {
    let coef = 1;
    const syms: string[] = [];
    for (const tok of d.split('*')) {
      if (tok === '') continue;
      if (/^\d+$/.test(tok)) coef *= Number(tok);
      else syms.push(tok);
    }
    syms.sort();
    m = syms.length || coef !== 1 ? { coef, syms } : { coef: 1, syms: [d] };
  } else {
    m = { coef: 1, syms: [d] };
  }
  if (monoCache.size < 100_000) monoCache.set(d, m);
  return m;
}

function fromMono(coef: number, syms: readonly string[]): Dim {
  if (!Number.isSafeInteger(coef)) return null;
  if (coef === 0) return 0;
  if (syms.length === 0) return coef;
  if (coef === 1 && syms.length === 1) return syms[0]!;
  const s = (coef === 1 ? '' : `${coef}*`) + syms.join('*');
  return s.length > MAX_SYMBOL_LENGTH ? null : s;
}

function sameSyms(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Canonical spelling of a dim (so 'W*H' and 'H*W' compare equal). */
export function canonDim(d: Dim): Dim {
  if (typeof d !== 'string' || !d.includes('*')) return d;
  const m = monoOf(d);
  return fromMono(m.coef, m.syms);
}

export function dimEq(a: Dim, b: Dim): boolean {
  if (a === b) return a !== null;
  if (typeof a === 'string' && typeof b === 'string') return canonDim(a) === canonDim(b);
  return false;
}

/** A size that is a plain non-negative integer. */
export function isStatic(d: Dim): d is number {
  return typeof d === 'number';
}

export function isStaticShape(s: Shape | null): s is number[] {
  return s !== null && s.every((d) => typeof d === 'number');
}

export function mulDim(a: Dim, b: Dim): Dim {
  if (a === 0 || b === 0) return 0;
  if (a === null || b === null) return null;
  if (typeof a === 'number' && typeof b === 'number') return Number.isSafeInteger(a * b) ? a * b : null;
  if (a === 1) return b;
  if (b === 1) return a;
  const ma = monoOf(a);
  const mb = monoOf(b);
  const syms = [...ma.syms, ...mb.syms].sort();
  return fromMono(ma.coef * mb.coef, syms);
}

/** Exact quotient a / b, or null when it is not a whole monomial. */
export function divDim(a: Dim, b: Dim): Dim {
  if (a === null || b === null || b === 0) return null;
  if (a === 0) return 0;
  if (typeof a === 'number' && typeof b === 'number') return a % b === 0 ? a / b : null;
  if (b === 1) return a;
  const ma = monoOf(a);
  const mb = monoOf(b);
  if (mb.coef === 0 || ma.coef % mb.coef !== 0) return null;
  const rest = [...ma.syms];
  for (const s of mb.syms) {
    const i = rest.indexOf(s);
    if (i < 0) return null;
    rest.splice(i, 1);
  }
  return fromMono(ma.coef / mb.coef, rest);
}

export function addDim(a: Dim, b: Dim): Dim {
  if (a === 0) return b;
  if (b === 0) return a;
  if (a === null || b === null) return null;
  if (typeof a === 'number' && typeof b === 'number') return Number.isSafeInteger(a + b) ? a + b : null;
  const ma = monoOf(a);
  const mb = monoOf(b);
  if (!sameSyms(ma.syms, mb.syms)) return null;
  return fromMono(ma.coef + mb.coef, ma.syms);
}

export function subDim(a: Dim, b: Dim): Dim {
  if (b === 0) return a;
  if (a === null || b === null) return null;
  if (typeof a === 'number' && typeof b === 'number') return Number.isSafeInteger(a - b) ? a - b : null;
  const ma = monoOf(a);
  const mb = monoOf(b);
  if (!sameSyms(ma.syms, mb.syms)) return null;
  return fromMono(ma.coef - mb.coef, ma.syms);
}

export function prodDims(dims: readonly Dim[]): Dim {
  let p: Dim = 1;
  for (const d of dims) {
    p = mulDim(p, d);
    if (p === 0) return 0;
  }
  return p;
}

export function sumDims(dims: readonly Dim[]): Dim {
  let s: Dim = 0;
  for (const d of dims) s = addDim(s, d);
  return s;
}

/** Product of static dims, or null when one is not static. */
export function staticSize(dims: readonly Dim[]): number | null {
  let n = 1;
  for (const d of dims) {
    if (typeof d !== 'number') return null;
    n *= d;
  }
  return n;
}

/**
 * numpy broadcasting of several shapes. A pair of different static dims (neither 1) is
 * a conflict: it is reported and the dim becomes unknown.
 */
export function broadcastShapes(shapes: readonly (Shape | null)[], conflict: (msg: string) => void): Shape | null {
  let rank = 0;
  for (const s of shapes) {
    if (s === null) return null;
    rank = Math.max(rank, s.length);
  }
  const out: Dim[] = new Array<Dim>(rank).fill(1);
  for (let k = 0; k < rank; k++) {
    let acc: Dim = 1;
    let first = true;
    for (const s of shapes) {
      const i = s!.length - rank + k;
      const d = i >= 0 ? s![i]! : 1;
      if (first) {
        acc = d;
        first = false;
        continue;
      }
      acc = broadcastDim(acc, d, conflict, k, rank);
    }
    out[k] = acc;
  }
  return out;
}

function broadcastDim(a: Dim, b: Dim, conflict: (msg: string) => void, axis: number, rank: number): Dim {
  if (a === 1) return b;
  if (b === 1) return a;
  if (dimEq(a, b)) return a;
  if (typeof a === 'number' && typeof b === 'number') {
    conflict(`cannot broadcast dim ${a} with dim ${b} (axis ${axis - rank})`);
    return null;
  }
  // The other side is unknown or a symbol: it must equal this size or be 1.
  if (typeof a === 'number') return a;
  if (typeof b === 'number') return b;
  return null;
}

/** Merge two descriptions of the same dim (e.g. If branches): equal, else unknown. */
export function unifyDim(a: Dim, b: Dim): Dim {
  return dimEq(a, b) ? a : null;
}

export function unifyShapes(a: Shape | null, b: Shape | null): Shape | null {
  if (!a || !b || a.length !== b.length) return null;
  return a.map((d, i) => unifyDim(d, b[i]!));
}

/** Normalize a possibly negative axis; null when out of range. */
export function normAxis(axis: number, rank: number): number | null {
  const a = axis < 0 ? axis + rank : axis;
  return Number.isInteger(a) && a >= 0 && a < rank ? a : null;
}

export function formatDims(s: Shape | null): string {
  return s ? `[${s.map((d) => (d === null ? '?' : String(d))).join(',')}]` : '[?]';
}
