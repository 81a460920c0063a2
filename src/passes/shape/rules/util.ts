// Helpers shared by the rule tables.

import type { DataType } from '../../../ir/dtype.js';
import type { Dim, Shape } from '../../../ir/graph.js';
import type { OutType, RuleContext } from '../context.js';
import type { KnownElem, KnownValue } from '../known.js';
import { normAxis } from '../dims.js';

export function out(dtype: DataType, shape: Shape | null, value?: KnownValue | null): OutType {
  return value ? { dtype, shape, value } : { dtype, shape };
}

/** The type of input i, unchanged (shape-preserving ops). */
export function same(c: RuleContext, i = 0): OutType | null {
  const t = c.type(i);
  return t ? { dtype: t.dtype, shape: t.shape ? [...t.shape] : null } : null;
}

/** Input i's shape with another element type. */
export function sameShape(c: RuleContext, dtype: DataType, i = 0): OutType {
  const s = c.shape(i);
  return { dtype, shape: s ? [...s] : null };
}

/** Ranks beyond this come from corrupted data (a shape tensor claiming 1e15 entries). */
export const MAX_RANK = 1024;

/** A rank-r shape of unknown dims; null (unknown rank) when r is not a plausible rank. */
export function unknownDims(rank: number | null): Shape | null {
  if (rank === null || !Number.isInteger(rank) || rank < 0 || rank > MAX_RANK) return null;
  return new Array<Dim>(rank).fill(null);
}

/** Normalize axes against a rank; a malformed axis fails the rule. */
export function normAxes(c: RuleContext, axes: readonly number[], rank: number): number[] {
  return axes.map((a) => {
    const n = normAxis(a, rank);
    if (n === null) c.fail(`axis ${a} is out of range for rank ${rank}`);
    return n;
  });
}

export function normOneAxis(c: RuleContext, axis: number, rank: number): number {
  const n = normAxis(axis, rank);
  if (n === null) c.fail(`axis ${axis} is out of range for rank ${rank}`);
  return n;
}

/**
 * Axes given as an attribute (older opsets) or as input `index` (newer ones): the
 * numbers when known, `undefined` when not given at all, null when given but unknown.
 */
export function axesArg(c: RuleContext, index: number, fromInput: boolean, attr = 'axes'): number[] | null | undefined {
  if (!fromInput) return c.attrInts(attr);
  if (!c.has(index)) return undefined;
  return c.numbers(index);
}

/** A known tensor's elements as dims: non-negative numbers and symbols; others unknown. */
export function elemsAsDims(xs: readonly KnownElem[]): Dim[] {
  return xs.map((x) => (typeof x === 'string' ? x : typeof x === 'number' && Number.isSafeInteger(x) && x >= 0 ? x : null));
}

/** Clamp helper for Slice-like index arithmetic. */
export function clamp(x: number, lo: number, hi: number): number {
  return x < lo ? lo : x > hi ? hi : x;
}

export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** A shape tensor's rank when its own shape is a static 1-D [k]. */
export function rankFromShapeInput(c: RuleContext, i: number): number | null {
  const s = c.shape(i);
  return s && s.length === 1 && typeof s[0] === 'number' ? s[0] : null;
}
