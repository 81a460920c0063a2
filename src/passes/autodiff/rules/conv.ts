// Gradient rules for Conv and ConvTranspose: each one's data gradient is the other's forward
// window over the same geometry (window-geometry.ts; a Conv's data gradient in conv-data.ts),
// the weight gradient a correlation of x and dY (conv-weight.ts), the bias gradient a sum.

import type { Value } from '../../../ir/graph.js';
import { infoOf } from '../builder.js';
import type { GradContext, GradRule, GradRuleTable } from '../rule.js';
import { convDataGrad } from './conv-data.js';
import { weightCorrelation, im2colCorrelation } from './conv-weight.js';
import { range } from './util.js';
import { staticSpatial, staticDim, convKernel, windowGeometry, convTransposeGeometry, windowConv } from './window-geometry.js';

function biasGrad(c: GradContext, dy: Value, bias: Value, nsp: number): Value {
  return c.b.reduceSum(dy, [0, ...range(2, nsp + 2)], false, infoOf(bias));
}

/**
 * Conv and ConvTranspose: the same three gradients over their own geometry. The data
 * gradient of one is the other's forward window (a Conv's is a transposed window, a
 * ConvTranspose's a Conv); the weight gradient correlates x with dY for a Conv and dY with x
 * for a ConvTranspose.
 */
function convFamilyRule(transposed: boolean): GradRule {
  return {
    differentiable: [0, 1, 2],
    grad(c) {
      const dy = c.dy(0);
      if (!dy) return;
      const x = c.x(0);
      const w = c.x(1);
      const group = c.node.attrInt('group', 1);
      const inSp = staticSpatial(c, x);
      const kernel = convKernel(c, w, inSp.length);
      const g = transposed ? convTransposeGeometry(c, inSp, kernel) : windowGeometry(c, 'conv', inSp, kernel);
      if (c.wants(0)) c.setGrad(0, (transposed ? windowConv : convDataGrad)(c, dy, w, g, group, infoOf(x)));
      if (c.wants(1)) {
        const [a, aSp, bv, bSp] = transposed ? [dy, g.outSp, x, inSp] : [x, inSp, dy, g.outSp];
        const fast = im2colCorrelation(c, a, aSp, bv, bSp, g, group, infoOf(w));
        const perGroup = group === 1 ? 0 : staticDim(c, w, 1);
        c.setGrad(1, fast ?? weightCorrelation(c, a, aSp, bv, bSp, g, group, perGroup, infoOf(w)));
      }
      const bias = c.xOpt(2);
      if (bias && c.wants(2)) c.setGrad(2, biasGrad(c, dy, bias, inSp.length));
    },
  };
}

export const CONV_RULES: GradRuleTable = {
  Conv: convFamilyRule(false),
  ConvTranspose: convFamilyRule(true),
};
