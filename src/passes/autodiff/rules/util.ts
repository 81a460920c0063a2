// Small helpers shared by the gradient rules.

import { DataType } from '../../../ir/dtype.js';
import type { Value } from '../../../ir/graph.js';
import { type GradBuilder, infoOf } from '../builder.js';
import { dimPart, shapeFromParts } from '../../emit.js';

// The shape helpers live with the emitter (lower-recurrent uses them too).
export { dimPart, shapeFromParts };

/** Axes made non-negative and sorted. */
export function normalizeAxes(axes: readonly number[], rank: number): number[] {
  return [...new Set(axes.map((a) => (a < 0 ? a + rank : a)))].sort((a, b) => a - b);
}

/** An n × n identity matrix of `dt`, n the size of axis `axis` of `x` (static or read at run time). */
export function identityOfAxis(b: GradBuilder, x: Value, axis: number, dt: DataType): Value {
  const n = dimPart(b, x, axis);
  const size = typeof n === 'number' ? n : null;
  const zeros = b.filled(shapeFromParts(b, [n, n]), 0, dt, [size, size]);
  return b.op('EyeLike', [zeros], {}, { dtype: dt, shape: [size, size] });
}

/**
 * The product of the other elements of each element's group, exact with zeros (x/y would give
 * 0/0): from the element's zero test `isZero`, its value with zeros made 1 (`nonZero`), and its
 * group's product of non-zero elements `product` and zero count `zeros` (both broadcasting to
 * the element). No zero in the group: product/x; one: product at the zero, 0 elsewhere; more:
 * 0. The division is by a non-zero element only.
 */
export function productOfOthersFrom(b: GradBuilder, isZero: Value, nonZero: Value, product: Value, zeros: Value): Value {
  const dt = nonZero.dtype ?? DataType.FLOAT;
  const zero = b.scalar(0, dt);
  const ifZeros = (k: number): Value => b.op('Where', [b.op('Equal', [zeros, b.scalar(k, dt)], {}, { dtype: DataType.BOOL, shape: zeros.shape }), product, zero], {}, infoOf(product));
  return b.op('Where', [isZero, ifZeros(1), b.div(ifZeros(0), nonZero, nonZero)], {}, infoOf(nonZero));
}
