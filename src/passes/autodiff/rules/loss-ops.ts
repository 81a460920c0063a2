// Gradient rules for the ONNX loss operators. NegativeLogLikelihoodLoss picks one
// log-probability per position (the target's class along axis 1), so its gradient scatters a
// per-position coefficient back to that class; SoftmaxCrossEntropyLoss is the same loss on
// LogSoftmax(scores, axis 1), followed by the LogSoftmax adjoint, which also carries the
// gradient of its optional log_prob output. Both differentiate the class weights as well.

import { DataType } from '../../../ir/dtype.js';
import type { Dim, Value } from '../../../ir/graph.js';
import { infoOf, type OutInfo, staticShape } from '../builder.js';
import type { GradContext, GradRuleTable } from '../rule.js';

export const LOSS_OP_RULES: GradRuleTable = {
  // Input 1 (the target) is integer; input 2 (the class weights) gets its gradient too.
  NegativeLogLikelihoodLoss: {
    differentiable: [0, 2],
    grad(c) {
      const parts = lossParts(c, c.dyOrZeros(0));
      if (c.wants(0)) c.setGrad(0, scatterToClasses(c, parts, parts.coefficient));
      if (c.wants(2)) c.setGrad(2, weightGrad(c, parts, c.x(0)));
    },
  },
  // LogSoftmax along axis 1 takes the opset-13 form (one axis, not a 2-D coercion).
  SoftmaxCrossEntropyLoss: { differentiable: [0, 2], minOpset: 13, grad: softmaxCrossEntropyGrad },
};

/** What the gradients of both losses share: the picked class per position and the reduction's factor. */
interface LossParts {
  /** Rank of the input [N, C, d1, …, dk]. */
  rank: number;
  dtype: DataType;
  /** The target with ignored positions sent to class 0, as [N, 1, d1, …] (the index along axis 1). */
  index: Value;
  /** dy times ∂output/∂(per-position loss): dy for 'none' and 'sum', dy / W for 'mean'; [N, d1, …] or a scalar. */
  scale: Value;
  /** `v` ([N, d1, …]) with ignored positions set to 0 (for 'mean' to 0·scale, NaN when W = 0: see `base`). */
  mask(v: Value): Value;
  /** The gradient of the picked input elements, −scale·weight[target] (0 where ignored), [N, d1, …]. */
  coefficient: Value;
  /**
   * What the gradient is scattered into: zeros of the input's shape, or for 'mean' 0·scale
   * broadcast to it, which is NaN everywhere when W = 0 — all targets ignored, or weights
   * summing to 0 — as onnxruntime's loss then is (0/0 or ±∞; it does not guard the division).
   */
  base: Value;
  reduction: 'none' | 'sum' | 'mean';
}

/**
 * loss[n, d…] = −input[n, t, d…]·w[t] with t = target[n, d…] (w ≡ 1 without weights, 0 where
 * t = ignore_index); 'sum' adds them, 'mean' divides the sum by W = Σ w[t] over the positions
 * not ignored (their count without weights).
 */
function lossParts(c: GradContext, dy: Value): LossParts {
  const b = c.b;
  const n = c.node;
  const x = c.x(0);
  const target = c.x(1);
  const weight = c.xOpt(2);
  const rank = x.shape?.length;
  if (rank === undefined) throw c.fail(`the rank of the input '${x.name}' is unknown`, 'give the input shapes (--shape) so shape inference can type the graph');
  if (rank < 2) throw c.fail(`the input '${x.name}' has rank ${rank}; the loss needs [N, C, d1, …]`);
  const reduction = n.attrString('reduction', 'mean');
  if (reduction !== 'none' && reduction !== 'sum' && reduction !== 'mean') throw c.fail(`its reduction '${reduction}' is not one of none, sum, mean`);
  const dtype = x.dtype ?? DataType.FLOAT;
  const indexType = target.dtype ?? DataType.INT64;
  const posShape: Dim[] = target.shape ? [...target.shape] : x.shape!.filter((_, i) => i !== 1);
  const posInfo: OutInfo = { dtype, shape: posShape };
  const boolInfo: OutInfo = { dtype: DataType.BOOL, shape: posShape };

  // Ignored positions read and write class 0 (their values are masked), so every index is valid.
  const ignore = n.attrInt('ignore_index');
  let kept: Value | null = null;
  let safe = target;
  if (ignore !== undefined) {
    kept = b.op('Not', [b.op('Equal', [target, b.scalar(ignore, indexType)], {}, boolInfo)], {}, boolInfo);
    safe = b.op('Where', [kept, target, b.scalar(0, indexType)], {}, infoOf(target));
  }
  const index = b.unsqueeze(safe, [1], { dtype: indexType, shape: [posShape[0]!, 1, ...posShape.slice(1)] });
  const picked = weight ? b.op('Gather', [weight, safe], { axis: 0 }, posInfo) : null;
  const where = (v: Value, ignored: Value): Value => b.op('Where', [kept!, v, ignored], {}, posInfo);

  let scale = dy;
  let ignored: Value | null = null; // what ignored positions get
  let base: Value;
  if (reduction === 'mean') {
    let total: Value;
    if (picked) total = b.reduceSum(kept ? where(picked, b.scalar(0, dtype)) : picked, [], false, { dtype, shape: [] });
    else if (kept) total = b.reduceSum(b.cast(kept, dtype), [], false, { dtype, shape: [] });
    else {
      const ts = staticShape(target);
      total = ts
        ? b.scalar(ts.reduce((p, d) => p * d, 1), dtype)
        : b.cast(b.op('Size', [target], {}, { dtype: DataType.INT64, shape: [] }), dtype);
    }
    scale = b.div(dy, total, dy);
    ignored = b.mul(scale, b.scalar(0, dtype), scale);
    base = b.op('Expand', [ignored, b.shapeValue(x)], {}, infoOf(x));
  } else {
    if (kept) ignored = b.scalar(0, dtype);
    base = b.zerosLike(x);
  }
  const mask = (v: Value): Value => (kept ? where(v, ignored!) : v);

  let coefficient = mask(b.neg(picked ? b.op('Mul', [scale, picked], {}, posInfo) : scale));
  if (!kept && !picked && reduction !== 'none') coefficient = b.op('Expand', [coefficient, b.shapeValue(target)], {}, posInfo);
  return { rank, dtype, index, scale, mask, coefficient, base, reduction };
}

/** A [N, d1, …] tensor placed at each position's class along axis 1, on `parts.base`. */
function scatterToClasses(c: GradContext, parts: LossParts, v: Value): Value {
  const b = c.b;
  const x = c.x(0);
  const updates = b.unsqueeze(v, [1], { dtype: parts.dtype, shape: parts.index.shape });
  return b.op('ScatterElements', [parts.base, parts.index, updates], { axis: 1 }, infoOf(x));
}

/**
 * ∂output/∂w[c] with p = logp[n, t, d…] the picked log-probabilities: Σ over positions of class
 * c of −p·scale for 'none' and 'sum'; for 'mean' (output L = Σ −w[t]·p / W) it is
 * Σ (−p − L)·scale, since W depends on the weights too.
 */
function weightGrad(c: GradContext, parts: LossParts, logp: Value): Value {
  const b = c.b;
  const x = c.x(0);
  const weight = c.x(2);
  const posInfo: OutInfo = { dtype: parts.dtype, shape: parts.coefficient.shape };
  const pickedLogp = b.squeeze(b.op('GatherElements', [logp, parts.index], { axis: 1 }, { dtype: parts.dtype, shape: parts.index.shape }), [1], posInfo);
  const minusP = b.neg(pickedLogp);
  const perPosition = parts.reduction === 'mean' ? b.sub(minusP, c.y(0), minusP) : minusP;
  const perClass = scatterToClasses(c, parts, parts.mask(b.mul(perPosition, parts.scale, perPosition)));
  const axes = Array.from({ length: parts.rank }, (_, i) => i).filter((i) => i !== 1);
  return b.reduceSum(perClass, axes, false, { dtype: parts.dtype, shape: weight.shape ?? [x.shape![1]!] });
}

/**
 * logp = LogSoftmax(scores, axis 1); output = NLL(logp, labels, weights). With g the total
 * gradient of logp (the loss's scatter plus dy of the log_prob output), the scores get
 * g − softmax·Σ_c g, where the loss part of Σ_c g is its per-position coefficient.
 */
function softmaxCrossEntropyGrad(c: GradContext): void {
  const b = c.b;
  const n = c.node;
  const scores = c.x(0);
  const dyLoss = c.dy(0);
  const dyLogp = c.dy(1);
  const logpOut = n.outputs.length > 1 && n.outputs[1]!.name !== '' ? n.outputs[1]! : null;
  if (!scores.shape) throw c.fail(`the rank of the scores '${scores.name}' is unknown`, 'give the input shapes (--shape) so shape inference can type the graph');
  const parts = dyLoss ? lossParts(c, dyLoss) : null;
  const dtype = scores.dtype ?? DataType.FLOAT;
  const classSumInfo: OutInfo = { dtype, shape: scores.shape.map((d, i) => (i === 1 ? 1 : d)) };

  if (c.wants(0)) {
    const terms: Value[] = [];
    const sums: Value[] = [];
    if (parts) {
      terms.push(scatterToClasses(c, parts, parts.coefficient));
      sums.push(b.unsqueeze(parts.coefficient, [1], classSumInfo));
    }
    if (dyLogp) {
      terms.push(dyLogp);
      sums.push(b.reduceSum(dyLogp, [1], true, classSumInfo));
    }
    const g = b.sum(terms, scores);
    const classSum = b.sum(sums, sums[0]);
    const prob = logpOut ? b.op('Exp', [logpOut], {}, infoOf(scores)) : b.op('Softmax', [scores], { axis: 1 }, infoOf(scores));
    c.setGrad(0, b.sub(g, b.mul(prob, classSum, scores), scores));
  }
  if (c.wants(2) && parts) {
    const logp = logpOut ?? b.op('LogSoftmax', [scores], { axis: 1 }, infoOf(scores));
    c.setGrad(2, weightGrad(c, parts, logp));
  }
}
