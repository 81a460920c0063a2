// Small helpers shared by the gradient rules.

import { DataType } from '../../../ir/dtype.js';
import { type Attribute, Node, type TensorType, tensorType, Value } from '../../../ir/graph.js';
import type { TypedArray } from '../../../ir/tensor.js';
import { dimPart, shapeFromParts } from '../../emit.js';
import { type GradBuilder, infoOf } from '../builder.js';
import type { GradContext } from '../rule.js';

// The shape helpers live with the emitter (lower-recurrent uses them too).
export { dimPart, shapeFromParts };

// The hint of a gradient that needs static shapes it does not have (a passes/ diagnostic).
export { SHAPE_HINT } from '../../diagnostics.js';

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

/** The integers from, from + 1, …, to − 1. */
export const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

/** A constant from a typed array, uncached (GradBuilder.constant keys its cache by content). */
export function arrayConstant(b: GradBuilder, dtype: DataType, dims: number[], data: TypedArray, base: string): Value {
  return b.namedConstant(`${b.scope}/${base}`, dtype, dims, data);
}

/** A copy of a value type (a new Value must not share its shape array). */
export function copyType(v: Value): TensorType | null {
  const t = v.tensorType;
  return t ? tensorType(t.dtype, t.shape ? [...t.shape] : null) : null;
}

/**
 * A second output for the forward node, which has none: `replaceForward` (to be called after
 * `setGrad`) puts in its place a node with the same name and inputs, `attributes`, and the
 * outputs [its output, the new value] — the IR has no way to add an output in place.
 */
export function addSecondOutput(c: GradContext, what: string, dtype: DataType, attributes: Attribute[]): { value: Value; replaceForward: () => void } {
  const n = c.node;
  const g = n.graph;
  if (!g) throw c.fail('the node is not in a graph');
  const y = n.outputs[0]!;
  const y2 = new Value(c.b.fresh(`${y.name}/with_${what}`), copyType(y));
  const value = new Value(c.b.fresh(`${y.name}/${what}`), tensorType(dtype, y.shape ? [...y.shape] : null));
  const replaceForward = (): void => {
    const replacement = new Node(n.domain, n.opType, [...n.inputs], [y2, value], { name: n.name, attributes });
    g.nodes.insertAfter(n, replacement);
    y.replaceAllUsesWith(y2);
    g.removeNode(n, false);
    y2.name = y.name;
  };
  return { value, replaceForward };
}

/** The element type of `v` (float when unknown). */
export function dtypeOf(v: Value): DataType {
  return v.dtype ?? DataType.FLOAT;
}

/** Broadcast `v` to the shape of `x`. */
export function expandTo(b: GradBuilder, v: Value, x: Value): Value {
  return b.op('Expand', [v, b.shapeValue(x)], {}, infoOf(x));
}
