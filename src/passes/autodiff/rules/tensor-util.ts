// Helpers shared by the gradient rules of the ops that move data without arithmetic (layout,
// slice-pad, gather-scatter, resize): ranks, axes, known structural inputs, reshaping back,
// and the adjoint of a constant linear map along one axis.

import { DataType } from '../../../ir/dtype.js';
import type { Dim, Node, Value } from '../../../ir/graph.js';
import { knownValueOf } from '../../shape/index.js';
import { type GradBuilder, infoOf, staticShape } from '../builder.js';
import type { GradContext } from '../rule.js';
import { range, SHAPE_HINT } from './util.js';

/** A slice bound meaning "to the end": exact as a double and within int64. */
export const TO_END = 2 ** 62;

export function rankOf(c: GradContext, v: Value): number {
  const s = v.shape;
  if (!s) {
    throw c.fail(`the rank of '${v.name}' is unknown`, SHAPE_HINT);
  }
  return s.length;
}

export function normAxis(c: GradContext, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw c.fail(`axis ${axis} is out of range for rank ${rank}`);
  return a;
}

export function addAt(a: Float64Array, k: number, v: number): void {
  a[k] = a[k]! + v;
}

/** The elements of `v` when they are known before run time (constants, folded shape arithmetic). */
export function knownNumbers(v: Value | null): number[] | null {
  const kv = knownValueOf(v);
  if (!kv || !kv.data.every((e): e is number => typeof e === 'number')) return null;
  return kv.data as number[];
}

/** Elements of input i, which must be known; null when the input is absent. */
export function requireKnown(c: GradContext, i: number, what: string): number[] | null {
  const v = c.xOpt(i);
  if (!v) return null;
  const data = knownNumbers(v);
  if (!data) {
    throw c.fail(`its ${what} ('${v.name}') are only known at run time`, `only constant ${what} can be differentiated: make '${v.name}' a constant, or give static input shapes so it folds`);
  }
  return data;
}

/** The static size of axis `axis` of `v`, or a coded error saying what needs it. */
export function requireDim(c: GradContext, v: Value, axis: number, what: string): number {
  const d = v.shape?.[axis];
  if (typeof d !== 'number' || d < 0) {
    throw c.fail(`${what} needs the size of axis ${axis} of '${v.name}', which is ${d ?? 'unknown'}`, SHAPE_HINT);
  }
  return d;
}

export function partsShape(parts: (number | Value)[]): Dim[] {
  return parts.map((p) => (typeof p === 'number' ? p : null));
}

/** Reshape `v` to the shape of `like` (exact target, so zeros in it mean zero: allowzero where needed). */
export function reshapeTo(c: GradContext, v: Value, like: Value): Value {
  const b = c.b;
  const s = staticShape(like);
  if (s && !s.includes(0)) return b.reshape(v, b.ints(s), infoOf(like));
  const shape = s ? b.ints(s) : b.shapeOf(like);
  // A dynamic shape may hold a 0 at run time; Reshape-14 reads it as a size, not "copy".
  return c.opset >= 14 ? b.op('Reshape', [v, shape], { allowzero: 1 }, infoOf(like)) : b.reshape(v, shape, infoOf(like));
}

export function floatDtype(c: GradContext, v: Value): DataType {
  const dt = v.dtype;
  if (dt === undefined) throw c.fail(`the element type of '${v.name}' is unknown`, 'run shape inference with input shapes first');
  return dt;
}

/** True when every one of the node's inputs `from`… (the structural ones) is absent or known before run time. */
export function structureKnown(node: Node, from: number): boolean {
  return node.inputs.slice(from).every((v) => !v || v.name === '' || knownNumbers(v) !== null);
}

/**
 * The adjoint of a linear map along one axis. The forward computes
 * y[…, i, …] = Σₖ A[i][k]·x[…, k, …] with A (outLen × inLen, row-major); the gradient
 * dx = Aᵀ·dy along that axis is one MatMul by a constant (transposes bring other axes last).
 */
export function adjointAlongAxis(b: GradBuilder, dy: Value, axis: number, rank: number, a: Float64Array, outLen: number, inLen: number, dtype: DataType): Value {
  const withIn = (s: readonly Dim[] | null | undefined, at: number): Dim[] | null => (s ? s.map((d, i) => (i === at ? inLen : d)) : null);
  if (axis === rank - 1) return b.op('MatMul', [dy, b.constant(dtype, [outLen, inLen], a)], {}, { dtype, shape: withIn(dy.shape, axis) });
  if (axis === rank - 2) {
    const at = new Float64Array(inLen * outLen);
    for (let i = 0; i < outLen; i++) for (let k = 0; k < inLen; k++) at[k * outLen + i] = a[i * inLen + k]!;
    return b.op('MatMul', [b.constant(dtype, [inLen, outLen], at), dy], {}, { dtype, shape: withIn(dy.shape, axis) });
  }
  const perm = range(0, rank);
  perm[axis] = rank - 1;
  perm[rank - 1] = axis;
  const t = b.transpose(dy, perm);
  const m = b.op('MatMul', [t, b.constant(dtype, [outLen, inLen], a)], {}, { dtype, shape: withIn(t.shape, rank - 1) });
  return b.transpose(m, perm, { dtype, shape: withIn(dy.shape, axis) });
}
