// Gradient rules for the reductions (Reduce*) and CumSum: each dx written against the keepdims
// forms of y and dy, broadcast back to x.

import { constantOf } from '../../../ir/constants.js';
import { DataType } from '../../../ir/dtype.js';
import type { Value } from '../../../ir/graph.js';
import { knownValueOf } from '../../shape/index.js';
import { type GradBuilder, infoOf, type OutInfo, staticShape } from '../builder.js';
import type { GradContext, GradRule, GradRuleTable } from '../rule.js';
import { normalizeAxes, productOfOthersFrom, dtypeOf, expandTo } from './util.js';

export const REDUCE_RULES: GradRuleTable = {
  // Reductions. Each formula is written against the keepdims forms of y and dy (which
  // broadcast against x); with noop_with_empty_axes and no axes, onnxruntime applies the
  // op's elementwise part (|x| for L1/L2, x² for SumSquare, log x for LogSum), which the
  // same formulas differentiate correctly.
  ReduceSum: reduceRule(
    (c, k) => expandTo(c.b, k.dy, k.x),
    (c, dy) => expandTo(c.b, dy, c.x(0)),
  ),
  ReduceMean: reduceRule(
    (c, k) => {
      if (k.axes.length === 0) return k.dy;
      const b = c.b;
      return expandTo(b, b.mul(k.dy, reciprocalCount(c, k.x, c.y(0), k.axes)), k.x);
    },
    (c, dy) => expandTo(c.b, c.b.mul(dy, reciprocalCount(c, c.x(0), c.y(0), null)), c.x(0)),
  ),
  // The gradient goes to the elements equal to the extremum; ties share it equally (each of
  // t tied elements gets dy/t), so the gradient summed over a slice is dy, as in TensorFlow
  // and PyTorch's amax/amin.
  ReduceMax: reduceRule(extremumGrad),
  ReduceMin: reduceRule(extremumGrad),
  ReduceSumSquare: reduceRule((c, k) => {
    const b = c.b;
    return b.mul(k.x, b.mul(k.dy, b.scalar(2, dtypeOf(k.x))), k.x);
  }),
  // dy·x/y; where y = 0 the whole slice is 0, so any finite divisor gives the subgradient 0.
  ReduceL2: reduceRule((c, k) => {
    const b = c.b;
    const dt = dtypeOf(k.x);
    const isZero = b.op('Equal', [k.y, b.scalar(0, dt)], {}, { dtype: DataType.BOOL, shape: k.y.shape });
    const safeY = b.op('Where', [isZero, b.scalar(1, dt), k.y], {}, infoOf(k.y));
    return b.mul(k.x, b.div(k.dy, safeY), k.x);
  }),
  // dy·sign(x) (subgradient 0 at 0).
  ReduceL1: reduceRule((c, k) => c.b.mul(c.b.op('Sign', [k.x], {}, infoOf(k.x)), k.dy, k.x)),
  // y = log Σx: dy/Σx = dy·exp(−y).
  ReduceLogSum: reduceRule((c, k) => {
    const b = c.b;
    return expandTo(b, b.mul(k.dy, b.op('Exp', [b.neg(k.y)], {}, infoOf(k.y))), k.x);
  }),
  // y = log Σ exp x: dy·exp(x − y).
  ReduceLogSumExp: reduceRule((c, k) => {
    const b = c.b;
    return b.mul(b.op('Exp', [b.sub(k.x, k.y, k.x)], {}, infoOf(k.x)), k.dy, k.x);
  }),
  ReduceProd: reduceRule((c, k) => (k.axes.length === 0 ? k.dy : c.b.mul(productOfOthers(c, k.x, k.axes), k.dy, k.x))),

  // A linear map along one axis: its adjoint sums the other way (reverse flipped), and an
  // exclusive sum stays exclusive (dx_j = Σ_{i>j} dy_i for the forward Σ_{j<i} x_j).
  CumSum: { differentiable: [0], grad: cumSumGrad },
};

interface ReduceParts {
  x: Value;
  /** y and dy with the reduced axes kept (size 1), so they broadcast against x. */
  y: Value;
  dy: Value;
  /** The reduced axes, normalized; empty when the node reduces nothing (noop_with_empty_axes). */
  axes: number[];
}

/**
 * A Reduce* rule from a formula for dx (x's shape) in terms of x and the keepdims forms of y
 * and dy. `runtimeAxes`, for axes fed at run
 * time: the gradient from dy in keepdims form (Unsqueezed at those axes; with no axes left at
 * run time it is already x-shaped or one element, and broadcasts either way).
 */
function reduceRule(formula: (c: GradContext, k: ReduceParts) => Value, runtimeAxes?: (c: GradContext, dyKept: Value) => Value): GradRule {
  return {
    differentiable: [0],
    grad(c) {
      const b = c.b;
      const x = c.x(0);
      const rank = x.shape?.length;
      if (rank === undefined) throw c.fail('the rank of the input is unknown', 'give the input shapes (--shape)');
      const keep = c.node.attrInt('keepdims', 1) !== 0;
      const axesInput = c.xOpt(1);
      if (runtimeAxes && axesInput && !constantOf(axesInput)) {
        const dy = c.dyOrZeros(0);
        c.setGrad(0, runtimeAxes(c, keep ? dy : b.op('Unsqueeze', [dy, axesInput], {}, { dtype: dy.dtype, shape: null })));
        return;
      }
      const axes = reduceAxes(c, rank);
      const kept = x.shape!.map((d, i) => (axes.includes(i) ? 1 : d));
      const keepForm = (v: Value): Value => (keep || axes.length === 0 ? v : b.unsqueeze(v, axes, { dtype: v.dtype, shape: kept }));
      let y: Value | null = null; // only some formulas need y: unsqueeze it on first use
      const parts: ReduceParts = {
        x,
        axes,
        get y() {
          return (y ??= keepForm(c.y(0)));
        },
        dy: keepForm(c.dyOrZeros(0)),
      };
      c.setGrad(0, formula(c, parts));
    },
  };
}

/** The axes a Reduce* node reduces (attribute or input form; all when none and noop_with_empty_axes=0). */
export function reduceAxes(c: GradContext, rank: number): number[] {
  const n = c.node;
  let axes = n.attrInts('axes');
  const axesInput = c.xOpt(1);
  if (axesInput) {
    const t = constantOf(axesInput);
    if (!t) throw c.fail('its axes are not a constant', 'only constant reduction axes can be differentiated');
    axes = Array.from(t.toNumbers());
  }
  if (!axes || axes.length === 0) {
    if (n.attrInt('noop_with_empty_axes', 0) !== 0) return [];
    return Array.from({ length: rank }, (_, i) => i);
  }
  return normalizeAxes(axes, rank);
}

function extremumGrad(c: GradContext, k: ReduceParts): Value {
  if (k.axes.length === 0) return k.dy;
  const b = c.b;
  const dt = dtypeOf(k.x);
  const hit = b.op('Equal', [k.x, k.y], {}, { dtype: DataType.BOOL, shape: k.x.shape });
  const mask = b.cast(hit, dt);
  const ties = b.reduceSum(mask, k.axes, true, { dtype: dt, shape: k.y.shape });
  return b.mul(mask, b.div(k.dy, ties), k.x);
}

/** ∂(Π x)/∂x_i over the slices `axes`: the product of the other elements, exact with zeros (`productOfOthersFrom`). */
function productOfOthers(c: GradContext, x: Value, axes: number[]): Value {
  const b = c.b;
  const dt = dtypeOf(x);
  const keepShape = x.shape ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : null;
  const keepInfo = { dtype: dt, shape: keepShape };
  const zero = b.scalar(0, dt);
  const isZero = b.op('Equal', [x, zero], {}, { dtype: DataType.BOOL, shape: x.shape });
  const nonZero = b.op('Where', [isZero, b.scalar(1, dt), x], {}, infoOf(x));
  const product = reduceProd(b, nonZero, axes, keepInfo);
  const zeros = b.reduceSum(b.cast(isZero, dt), axes, true, keepInfo);
  return productOfOthersFrom(b, isZero, nonZero, product, zeros);
}

/** ReduceProd with keepdims in the form the opset takes (axes as an input from 18). */
function reduceProd(b: GradBuilder, x: Value, axes: number[], out: OutInfo): Value {
  if (b.opset >= 18) return b.op('ReduceProd', [x, b.ints(axes)], { keepdims: 1 }, out);
  return b.op('ReduceProd', [x], { axes, keepdims: 1 }, out);
}

/**
 * The adjoint CumSum runs along the same axis, so it takes the forward's axis tensor as it
 * is: unlike Slice bounds or pads, the value need not be known before run time (the ONNX
 * backend tests feed it as an input). A known axis is still checked against the rank.
 */
function cumSumGrad(c: GradContext): void {
  const n = c.node;
  const x = c.x(0);
  const axis = c.x(1);
  const known = knownValueOf(axis)?.data;
  const rank = x.shape?.length;
  if (known && rank !== undefined) {
    const a = known[0];
    if (known.length !== 1 || typeof a !== 'number' || !Number.isInteger(a) || a < -rank || a >= rank) {
      throw c.fail(`its axis ${JSON.stringify(known)} is not one axis in [-${rank}, ${rank - 1}]`);
    }
  }
  const reverse = n.attrInt('reverse', 0) !== 0 ? 0 : 1;
  const exclusive = n.attrInt('exclusive', 0) !== 0 ? 1 : 0;
  c.setGrad(0, c.b.op('CumSum', [c.dyOrZeros(0), axis], { exclusive, reverse }, infoOf(x)));
}

/** 1 / the number of elements reduced into each of y's, a scalar of x's type (`axes` null: known at run time only). */
export function reciprocalCount(c: GradContext, x: Value, y: Value, axes: number[] | null): Value {
  const b = c.b;
  const dt = dtypeOf(x);
  const xs = staticShape(x);
  if (xs && axes) return b.scalar(1 / axes.reduce((p, a) => p * xs[a]!, 1), dt);
  // Dynamic dims: Size(x) / Size(y) counts the reduced elements whatever keepdims is.
  const sx = b.op('Size', [x], {}, { dtype: DataType.INT64, shape: [] });
  const sy = b.op('Size', [y], {}, { dtype: DataType.INT64, shape: [] });
  return b.op('Reciprocal', [b.cast(b.op('Div', [sx, sy], {}, { dtype: DataType.INT64, shape: [] }), dt)], {}, { dtype: dt, shape: [] });
}
