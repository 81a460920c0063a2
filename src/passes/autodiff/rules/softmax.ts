// Gradient rules for Softmax and LogSoftmax (opset ≥ 13: one axis).

import { infoOf } from '../builder.js';
import type { GradContext, GradRuleTable } from '../rule.js';

export const SOFTMAX_RULES: GradRuleTable = {
  // Opset ≥ 13 semantics (one axis; the pass raises older models to 13 first).
  Softmax: {
    grad(c) {
      // dx = y·(dy − Σ_axis dy·y)
      const b = c.b;
      const y = c.y(0);
      const dy = c.dyOrZeros(0);
      const axis = softmaxAxis(c);
      const s = b.reduceSum(b.mul(dy, y, y), [axis], true);
      c.setGrad(0, b.mul(y, b.sub(dy, s, y), y));
    },
  },
  LogSoftmax: {
    grad(c) {
      // dx = dy − exp(y)·Σ_axis dy
      const b = c.b;
      const y = c.y(0);
      const dy = c.dyOrZeros(0);
      const axis = softmaxAxis(c);
      const s = b.reduceSum(dy, [axis], true);
      c.setGrad(0, b.sub(dy, b.mul(b.op('Exp', [y], {}, infoOf(y)), s, y), y));
    },
  },
};

function softmaxAxis(c: GradContext): number {
  if (c.opset < 13) throw c.fail(`Softmax before opset 13 (this model: ${c.opset}) flattens around its axis`, 'raise the model to opset 13 first');
  const rank = c.x(0).shape?.length;
  if (rank === undefined) throw c.fail('the rank of the input is unknown', 'give the input shapes (--shape)');
  const axis = c.node.attrInt('axis', -1);
  return axis < 0 ? axis + rank : axis;
}
