// The gradient rule for LRN: sums over the mirrored channel window with a Pad and shifted Slices.

import { DataType } from '../../../ir/dtype.js';
import type { Value } from '../../../ir/graph.js';
import { infoOf } from '../builder.js';
import type { GradContext, GradRuleTable } from '../rule.js';
import { range, SHAPE_HINT } from './util.js';

/**
 * The sum over a channel window (axis 1) of each position: out[:, c] = Σ v[:, c−before … c+after]
 * (zero outside the channels), as a Pad and before + after + 1 shifted Slices. Exact in any
 * type, and needs only the rank.
 */
function channelWindowSum(c: GradContext, v: Value, rank: number, before: number, after: number): Value {
  const b = c.b;
  const info = infoOf(v);
  if (before === 0 && after === 0) return v;
  const pads = new Array<number>(2 * rank).fill(0);
  pads[1] = before;
  pads[rank + 1] = after;
  const padded = b.pad(v, pads, { dtype: v.dtype });
  const width = before + after + 1;
  // Shift k reads padded channels k … k + C − 1; its end counts from the padded end.
  const shifts = range(0, width).map((k) => b.slice(padded, [k], [k === width - 1 ? Number.MAX_SAFE_INTEGER : k - (width - 1)], [1], undefined, info));
  return b.sum(shifts, v);
}

export const LRN_RULES: GradRuleTable = {
  LRN: {
    // y_c = x_c · s_c^(−β), s_c = bias + α/size · Σ_{k ∈ W(c)} x_k², over the channel window
    // W(c) = [c − ⌊(size−1)/2⌋, c + ⌈(size−1)/2⌉] (clipped to the channels). Then
    // dx_i = dy_i · s_i^(−β) − (2αβ/size) · x_i · Σ_{j : i ∈ W(j)} dy_j · x_j · s_j^(−β−1),
    // where x_j · s_j^(−β−1) = y_j / s_j and {j : i ∈ W(j)} = [i − ⌈(size−1)/2⌉, i + ⌊(size−1)/2⌋]
    // is the mirrored window (they differ for even sizes).
    differentiable: [0],
    grad(c) {
      const dy = c.dy(0);
      if (!dy) return;
      const b = c.b;
      const x = c.x(0);
      const y = c.y(0);
      const rank = x.shape?.length;
      if (rank === undefined) throw c.fail(`the gradient needs the rank of '${x.name}', which is unknown`, SHAPE_HINT);
      if (rank < 2) throw c.fail(`'${x.name}' has rank ${rank}; LRN normalizes over axis 1`);
      const size = c.node.attrInt('size', 0);
      if (!Number.isInteger(size) || size < 1) throw c.fail(`size ${size} is not a positive integer`);
      const alpha = c.node.attrFloat('alpha', 1e-4);
      const beta = c.node.attrFloat('beta', 0.75);
      const bias = c.node.attrFloat('bias', 1);
      const dtype = x.dtype ?? DataType.FLOAT;
      const info = infoOf(x);
      const k = (v: number): Value => b.scalar(v, dtype);
      const mul = (p: Value, q: Value): Value => b.op('Mul', [p, q], {}, info);
      const before = Math.floor((size - 1) / 2);
      const after = size - 1 - before;
      const squares = channelWindowSum(c, mul(x, x), rank, before, after);
      const s = b.op('Add', [mul(squares, k(alpha / size)), k(bias)], {}, info);
      const direct = mul(dy, b.op('Pow', [s, k(-beta)], {}, info));
      const t = b.op('Div', [mul(dy, y), s], {}, info);
      const spread = channelWindowSum(c, t, rank, after, before);
      c.setGrad(0, b.op('Sub', [direct, mul(mul(x, spread), k((2 * alpha * beta) / size))], {}, info));
    },
  },
};
