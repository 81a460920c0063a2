// Small helpers shared by the gradient rules.

import { toAttribute } from '../../../ir/builder.js';
import { DataType } from '../../../ir/dtype.js';
import { type Attribute, Node, type TensorType, tensorType, Value } from '../../../ir/graph.js';
import { Tensor, type TypedArray } from '../../../ir/tensor.js';
import { type GradBuilder, infoOf } from '../builder.js';
import type { GradContext } from '../rule.js';

/** The hint of a gradient that needs static shapes it does not have. */
export const SHAPE_HINT = 'give every input a static shape (--shape name=1x3x224x224) before differentiating';

/** Axes made non-negative and sorted. */
export function normalizeAxes(axes: readonly number[], rank: number): number[] {
  return [...new Set(axes.map((a) => (a < 0 ? a + rank : a)))].sort((a, b) => a - b);
}

/** Dim i of `v`: a number when static, else a 1-D int64 value sliced from Shape(v). */
export function dimPart(b: GradBuilder, v: Value, i: number): number | Value {
  const d = v.shape?.[i];
  if (typeof d === 'number' && d >= 0) return d;
  return b.slice(b.shapeOf(v), [i], [i + 1], [0], undefined, { dtype: DataType.INT64, shape: [1] });
}

/** A 1-D int64 shape from numbers and 1-D int64 values; a constant when every part is a number. */
export function shapeFromParts(b: GradBuilder, parts: (number | Value)[]): Value {
  if (parts.every((p): p is number => typeof p === 'number')) return b.ints(parts);
  const pieces: Value[] = [];
  let run: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') {
      run.push(p);
      continue;
    }
    if (run.length) pieces.push(b.ints(run));
    run = [];
    pieces.push(p);
  }
  if (run.length) pieces.push(b.ints(run));
  return pieces.length === 1 ? pieces[0]! : b.op('Concat', pieces, { axis: 0 }, { dtype: DataType.INT64, shape: [parts.length] });
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
  const name = b.fresh(`${b.scope}/${base}`);
  const t = Tensor.fromArray(name, dtype, dims, data);
  const v = new Value(name, tensorType(dtype, [...dims]));
  if (b.model.irVersion >= 4) return b.graph.addInitializer(v, t);
  b.graph.nodes.insertAfter(null, new Node('', 'Constant', [], [v], { name: b.fresh(`${name}/Constant`), attributes: [toAttribute('value', t)] }));
  return v;
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
