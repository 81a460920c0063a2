// Gradient rules for ops that rearrange data along a fixed pattern: reshapes, transposes,
// concatenation and splitting, reversing, broadcasting (Expand, Tile) and the block
// rearrangements. Each gradient is the adjoint pattern: a reshape back, the inverse
// permutation, a split for a concat, a sum over the broadcast or tiled copies.

import { DataType } from '../../../ir/dtype.js';
import type { Value } from '../../../ir/graph.js';
import { infoOf, staticShape } from '../builder.js';
import type { GradRule, GradRuleTable } from '../rule.js';
import { dimPart, shapeFromParts } from './util.js';
import { rankOf, normAxis, knownNumbers, partsShape, reshapeTo, floatDtype } from './tensor-util.js';

/** Ops that only change the shape: the gradient is reshaped back to the input's shape. */
const RESHAPE_RULE: GradRule = {
  differentiable: [0],
  grad(c) {
    c.setGrad(0, reshapeTo(c, c.dyOrZeros(0), c.x(0)));
  },
};

export const LAYOUT_RULES: GradRuleTable = {
  Identity: {
    grad(c) {
      c.setGrad(0, c.dyOrZeros(0));
    },
  },

  // ---- reshapes: the gradient takes the input's shape back ----
  Reshape: RESHAPE_RULE,
  Flatten: RESHAPE_RULE,
  Squeeze: RESHAPE_RULE,
  Unsqueeze: RESHAPE_RULE,

  Transpose: {
    differentiable: [0],
    grad(c) {
      const x = c.x(0);
      const perm = c.node.attrInts('perm');
      const dy = c.dyOrZeros(0);
      // No perm: the axes are reversed, which is its own inverse.
      if (!perm) {
        c.setGrad(0, c.b.op('Transpose', [dy], {}, infoOf(x)));
        return;
      }
      const inv = new Array<number>(perm.length);
      perm.forEach((p, i) => (inv[p] = i));
      c.setGrad(0, c.b.transpose(dy, inv, infoOf(x)));
    },
  },

  // ---- concatenation and splitting are each other's adjoints ----
  Concat: {
    grad(c) {
      const b = c.b;
      const n = c.node;
      const y = c.y(0);
      const dy = c.dyOrZeros(0);
      const xs = n.inputs.map((_, i) => c.x(i));
      if (xs.length === 1) {
        c.setGrad(0, dy);
        return;
      }
      const axis = normAxis(c, n.attrInt('axis', 0), rankOf(c, y));
      const sizes = shapeFromParts(b, xs.map((v) => dimPart(b, v, axis)));
      const parts = b.opMulti('Split', [dy, sizes], xs.length, { axis }, xs.map((v) => infoOf(v)));
      parts.forEach((p, i) => c.setGrad(i, p));
    },
  },
  Split: {
    differentiable: [0],
    grad(c) {
      const x = c.x(0);
      const axis = normAxis(c, c.node.attrInt('axis', 0), rankOf(c, x));
      const dys = c.node.outputs.map((_, i) => c.dyOrZeros(i));
      c.setGrad(0, dys.length === 1 ? dys[0]! : c.b.op('Concat', dys, { axis }, infoOf(x)));
    },
  },

  ReverseSequence: {
    // Reversing the first seq_lens[b] steps of each batch entry is its own inverse, and a
    // permutation, so its adjoint is itself.
    differentiable: [0],
    grad(c) {
      const n = c.node;
      const attrs = { batch_axis: n.attrInt('batch_axis', 1), time_axis: n.attrInt('time_axis', 0) };
      c.setGrad(0, c.b.op('ReverseSequence', [c.dyOrZeros(0), c.x(1)], attrs, infoOf(c.x(0))));
    },
  },

  // ---- broadcasts: sum the copies ----
  Expand: {
    differentiable: [0],
    grad(c) {
      c.setGrad(0, c.b.sumToShape(c.dyOrZeros(0), c.x(0), c.y(0)));
    },
  },
  Tile: {
    differentiable: [0],
    grad(c) {
      // dy viewed as [r0, d0, r1, d1, …], summed over the r axes.
      const b = c.b;
      const x = c.x(0);
      const rank = rankOf(c, x);
      const reps = knownNumbers(c.x(1));
      const parts: (number | Value)[] = [];
      const sumAxes: number[] = [];
      for (let i = 0; i < rank; i++) {
        const rep = reps ? reps[i]! : b.slice(c.x(1), [i], [i + 1], [0], undefined, { dtype: DataType.INT64, shape: [1] });
        if (rep !== 1) {
          sumAxes.push(parts.length);
          parts.push(rep);
        }
        parts.push(dimPart(b, x, i));
      }
      const dy = c.dyOrZeros(0);
      if (sumAxes.length === 0) {
        c.setGrad(0, dy);
        return;
      }
      const split = b.reshape(dy, shapeFromParts(b, parts), { dtype: x.dtype, shape: partsShape(parts) });
      c.setGrad(0, b.reduceSum(split, sumAxes, false, infoOf(x)));
    },
  },

  // ---- block rearrangements: permutations, so the adjoint is the inverse ----
  DepthToSpace: {
    differentiable: [0],
    grad(c) {
      const b = c.b;
      const x = c.x(0);
      const bs = c.node.attrInt('blocksize', 0);
      const mode = c.node.attrString('mode', 'DCR');
      const dy = c.dyOrZeros(0);
      if (mode === 'DCR') {
        // SpaceToDepth is exactly the inverse of DepthToSpace in DCR order.
        c.setGrad(0, b.op('SpaceToDepth', [dy], { blocksize: bs }, infoOf(x)));
        return;
      }
      // CRD: x[n, c·bs² + i·bs + j, h, w] = y[n, c, h·bs + i, w·bs + j].
      const shape = staticShape(x);
      if (!shape || shape.length !== 4) throw c.fail('the gradient of DepthToSpace (CRD) needs the static 4-D shape of its input', 'give every input a static shape before differentiating');
      const dtype = floatDtype(c, x);
      const [N, C, H, W] = shape as [number, number, number, number];
      const cOut = C / (bs * bs);
      const v6 = b.reshape(dy, b.ints([N, cOut, H, bs, W, bs]), { dtype, shape: [N, cOut, H, bs, W, bs] });
      const t = b.transpose(v6, [0, 1, 3, 5, 2, 4]);
      c.setGrad(0, reshapeTo(c, t, x));
    },
  },
  SpaceToDepth: {
    differentiable: [0],
    grad(c) {
      const bs = c.node.attrInt('blocksize', 0);
      c.setGrad(0, c.b.op('DepthToSpace', [c.dyOrZeros(0)], { blocksize: bs, mode: 'DCR' }, infoOf(c.x(0))));
    },
  },
};
