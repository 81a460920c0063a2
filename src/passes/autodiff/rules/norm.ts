// Gradient rules for the normalizations: BatchNormalization (inference and training mode),
// LayerNormalization and MeanVarianceNormalization.

import { attr } from '../../../ir/builder.js';
import { DataType } from '../../../ir/dtype.js';
import type { Dim, Value } from '../../../ir/graph.js';
import { type GradBuilder, infoOf, type OutInfo } from '../builder.js';
import type { GradContext, GradRuleTable } from '../rule.js';
import { normalizeAxes, dtypeOf } from './util.js';
import { reciprocalCount } from './reduce.js';

export const NORM_RULES: GradRuleTable = {
  BatchNormalization: {
    // In training mode Y depends on the batch statistics only; input_mean/input_var feed
    // the running-statistics outputs, which are state updates, not part of a loss.
    differentiable: (n) => (batchNormTraining(n) ? [0, 1, 2] : [0, 1, 2, 3, 4]),
    grad: batchNormGrad,
  },
  LayerNormalization: { differentiable: [0, 1, 2], grad: layerNormGrad },
  MeanVarianceNormalization: { differentiable: [0], grad: mvnGrad },
};

/**
 * The batch mean and variance of a training-mode BatchNormalization's input, as [1, C, 1, …],
 * recomputed from X. (Recovering them from the running-statistics outputs would save two
 * reductions, but under onnxruntime 1.30 a read of input_mean placed after the node saw the
 * updated running mean — the buffer is apparently reused in place — so it is not done.)
 */
function batchStatistics(c: GradContext, X: Value, axes: number[], keepInfo: OutInfo): [Value, Value] {
  const b = c.b;
  const mean = b.reduceMean(X, axes, true, keepInfo);
  const xc = b.sub(X, mean, X);
  return [mean, b.reduceMean(b.mul(xc, xc), axes, true, keepInfo)];
}

/** A [C] vector as [1, C, 1, …] (rank of X). */
function toChanKeep(b: GradBuilder, v: Value, X: Value, rank: number): Value {
  const shape = X.shape!.map((d, i) => (i === 1 ? d : 1));
  return b.reshape(v, b.ints(shape.map((d, i) => (i === 1 ? -1 : 1))), { dtype: v.dtype, shape: rank ? shape : null });
}

function batchNormTraining(n: GradContext['node']): boolean {
  return n.attrInt('training_mode', 0) !== 0;
}

/**
 * Y = scale·(X − mean)·invstd + B per channel (axis 1), invstd = 1/√(var + ε). In inference
 * mode mean/var are inputs; in training mode (opset ≥ 14) they are the batch statistics over
 * every axis but 1, recomputed here, and dX takes the closed form
 * scale·invstd·(dY − mean(dY) − x̂·mean(dY·x̂)).
 */
function batchNormGrad(c: GradContext): void {
  const b = c.b;
  const n = c.node;
  const X = c.x(0);
  const rank = X.shape?.length;
  if (rank === undefined) throw c.fail('the rank of the input is unknown', 'give the input shapes (--shape)');
  if (rank < 2) throw c.fail(`the input has rank ${rank}; BatchNormalization needs [N, C, ...]`);
  const training = c.opset >= 14 && batchNormTraining(n);
  if (!training && n.outputs.length > 1) {
    throw c.fail('training-mode BatchNormalization before opset 14 (extra outputs) cannot be differentiated', 'use training_mode=1 at opset ≥ 14');
  }
  if (training && (c.dy(1) || c.dy(2))) {
    throw c.fail('the loss depends on the running statistics outputs, which have no gradient here', 'use only Y in the loss; running_mean/running_var are state updates');
  }
  const dt = dtypeOf(X);
  const eps = n.attrFloat('epsilon', 1e-5);
  const axes = [0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2)];
  const chanShape: Dim[] = X.shape!.map((d, i) => (i === 1 ? d : 1));
  // A per-channel [C] vector as [C, 1, …] (broadcasts against X from axis 1), in X's type.
  const toChan = (v: Value): Value => {
    const u = asType(b, v, dt);
    return rank > 2 ? b.unsqueeze(u, axes.slice(1).map((a) => a - 1), { dtype: dt, shape: chanShape.slice(1) }) : u;
  };
  // A keepdims [1, C, 1, …] channel tensor back to the [C] shape and type of `like`.
  const toVector = (v: Value, like: Value): Value => asType(b, b.reshapeLike(v, like), dtypeOf(like));
  const dy = c.dyOrZeros(0);
  const scale = c.x(1);
  const invstdOf = (variance: Value): Value =>
    b.op('Reciprocal', [b.op('Sqrt', [b.add(variance, b.scalar(eps, dt))], {}, infoOf(variance))], {}, infoOf(variance));

  if (training) {
    // With n the count per channel, μ and σ² the batch statistics, k = scale·invstd:
    //   dX = k·dY − k·ΣdY/n − k·invstd²·m₂·(X − μ),  m₂ = Σ dY·(X − μ) / n
    //      = k·dY + c₁ + c₂·X  with per-channel c₂ = −k·invstd²·m₂, c₁ = −k·ΣdY/n − c₂·μ,
    // so the full-size work is dY·X, two reductions, one per-channel affine (a
    // BatchNormalization with mean 0, variance 1, ε 0) and one multiply-add.
    const keepInfo = { dtype: dt, shape: chanShape };
    const C = X.shape![1];
    if (typeof C !== 'number') throw c.fail('the channel count of the input is not static', 'give the input shapes (--shape)');
    const vecInfo = { dtype: dt, shape: [C] };
    const sumDy = b.reduceSum(dy, axes, true, keepInfo);
    const sumDyX = b.reduceSum(b.mul(dy, X, X), axes, true, keepInfo);
    const perCount = reciprocalCount(c, X, sumDy, axes);
    const [mean, variance] = batchStatistics(c, X, axes, keepInfo);
    const invstd = invstdOf(variance);
    const dyMean = b.mul(sumDy, perCount);
    const m2 = b.sub(b.mul(sumDyX, perCount), b.mul(mean, dyMean));
    if (c.wants(0)) {
      const k = b.mul(toChanKeep(b, asType(b, scale, dt), X, rank), invstd);
      const c2 = b.neg(b.mul(b.mul(k, b.mul(invstd, invstd)), m2));
      const c1 = b.neg(b.add(b.mul(k, dyMean), b.mul(c2, mean)));
      const vec = (v: Value): Value => b.reshape(v, b.ints([-1]), vecInfo);
      const affine = b.op('BatchNormalization', [dy, vec(k), vec(c1), b.constant(dt, [C], new Array<number>(C).fill(0)), b.constant(dt, [C], new Array<number>(C).fill(1))], { epsilon: attr.float('epsilon', 0) }, infoOf(X));
      c.setGrad(0, b.add(affine, b.mul(X, c2, X), X));
    }
    if (c.wants(1)) c.setGrad(1, toVector(b.mul(b.sub(sumDyX, b.mul(mean, sumDy)), invstd), scale));
    if (c.wants(2)) c.setGrad(2, toVector(sumDy, c.x(2)));
    return;
  }

  // Inference mode: per-channel constants k = scale·invstd; everything is [C]-sized but dX.
  const mean = c.x(3);
  const variance = c.x(4);
  const vecInfo = { dtype: dt, shape: [X.shape![1]!] };
  const invstd = invstdOf(asType(b, variance, dt));
  const k = b.mul(asType(b, scale, dt), invstd, invstd);
  if (c.wants(0)) c.setGrad(0, b.mul(dy, toChan(k), X));
  let sumDyXc: Value | null = null;
  if (c.wants(1) || c.wants(4)) {
    const xc = b.sub(X, toChan(mean), X);
    sumDyXc = b.reduceSum(b.mul(dy, xc, X), axes, false, vecInfo);
  }
  const sumDy = c.wants(2) || c.wants(3) ? b.reduceSum(dy, axes, false, vecInfo) : null;
  if (c.wants(1)) c.setGrad(1, asType(b, b.mul(sumDyXc!, invstd), dtypeOf(scale)));
  if (c.wants(2)) c.setGrad(2, asType(b, sumDy!, dtypeOf(c.x(2))));
  if (c.wants(3)) c.setGrad(3, asType(b, b.mul(b.neg(k), sumDy!), dtypeOf(mean))); // −k folds to a constant with constant statistics
  if (c.wants(4)) {
    // ∂Y/∂var = −½·scale·(X − mean)·invstd³
    const coef = b.mul(b.mul(k, b.mul(invstd, invstd)), b.scalar(-0.5, dt));
    c.setGrad(4, asType(b, b.mul(coef, sumDyXc!), dtypeOf(variance)));
  }
}

/**
 * Y = x̂·Scale + B with x̂ normalized over the axes from `axis` on. With g = dY·Scale:
 * dX = invstd·(g − mean(g) − x̂·mean(g·x̂)); Scale and B get dY·x̂ and dY summed to their
 * shapes. The statistics are recomputed in X's type.
 */
function layerNormGrad(c: GradContext): void {
  const b = c.b;
  const n = c.node;
  const X = c.x(0);
  const Y = c.y(0);
  const xs = X.shape;
  if (!xs) throw c.fail('the rank of the input is unknown', 'give the input shapes (--shape)');
  const rank = xs.length;
  const a = n.attrInt('axis', -1);
  const axis = a < 0 ? a + rank : a;
  const axes = Array.from({ length: rank - axis }, (_, i) => axis + i);
  const eps = n.attrFloat('epsilon', 1e-5);
  const dt = dtypeOf(X);
  const statInfo = { dtype: dt, shape: xs.map((d, i) => (i < axis ? d : 1)) };
  const mean = b.reduceMean(X, axes, true, statInfo);
  const xc = b.sub(X, mean, X);
  const variance = b.reduceMean(b.mul(xc, xc), axes, true, statInfo);
  const invstd = b.op('Reciprocal', [b.op('Sqrt', [b.add(variance, b.scalar(eps, dt))], {}, statInfo)], {}, statInfo);
  const xhat = b.mul(xc, invstd, X);
  const dy = c.dyOrZeros(0);
  if (c.wants(0)) {
    let dx = b.mul(centeredGrad(b, b.mul(dy, c.x(1), X), xhat, axes, statInfo), invstd, X);
    // The Mean and InvStdDev outputs (stash type): ∂mean/∂x = 1/N, ∂σ⁻¹/∂x = −σ⁻³·(x − mean)/N.
    const dMean = c.dy(1);
    const dInvStd = c.dy(2);
    if (dMean || dInvStd) {
      const inDt = (v: Value): Value => (v.dtype === dt ? v : b.cast(v, dt));
      const perElement = reciprocalCount(c, X, mean, axes);
      if (dMean) dx = b.add(dx, b.mul(inDt(dMean), perElement, mean), X);
      if (dInvStd) {
        const cube = b.mul(b.mul(invstd, invstd, mean), invstd, mean);
        dx = b.sub(dx, b.mul(xc, b.mul(b.mul(inDt(dInvStd), cube, mean), perElement, mean), X), X);
      }
    }
    c.setGrad(0, dx);
  }
  if (c.wants(1)) c.setGrad(1, b.sumToShape(b.mul(dy, xhat, X), c.x(1), Y));
  const bias = c.xOpt(2);
  if (bias && c.wants(2)) c.setGrad(2, b.sumToShape(dy, bias, Y));
}

/**
 * g − mean(g) − x̂·mean(g·x̂) over `axes`: the gradient of x̂ = (x − mean)/σ (σ over the same
 * axes) times σ, for the gradient g of x̂. `statInfo` types the keepdims means.
 */
function centeredGrad(b: GradBuilder, g: Value, xhat: Value, axes: number[], statInfo: OutInfo): Value {
  const meanG = b.reduceMean(g, axes, true, statInfo);
  const meanGXhat = b.reduceMean(b.mul(g, xhat, xhat), axes, true, statInfo);
  return b.sub(b.sub(g, meanG, xhat), b.mul(xhat, meanGXhat, xhat), xhat);
}

/**
 * Y = (X − mean)/σ with mean and σ² = mean((X − mean)²) over `axes` (default [0, 2, 3]),
 * as onnxruntime computes it: no epsilon. (The spec's function body adds 1e-9 to σ, a
 * difference of ~1e-9/σ relative; onnxruntime's CPU kernel, float only, adds nothing.) The
 * gradient is LayerNormalization's without scale: dX = (dY − mean(dY) − Y·mean(dY·Y))/σ,
 * with the forward's own Y and σ recomputed.
 */
function mvnGrad(c: GradContext): void {
  const b = c.b;
  const X = c.x(0);
  const xs = X.shape;
  if (!xs) throw c.fail('the rank of the input is unknown', 'give the input shapes (--shape)');
  const rank = xs.length;
  const given = c.node.attrInts('axes');
  const raw = given ?? [0, 2, 3];
  const bad = raw.find((a) => !Number.isInteger(a) || a < -rank || a >= rank);
  if (bad !== undefined) throw c.fail(`axis ${bad} is out of range for rank ${rank}`, given ? undefined : 'the default axes [0, 2, 3] need a 4-D input: give the axes');
  const axes = normalizeAxes(raw, rank);
  const statInfo = { dtype: dtypeOf(X), shape: xs.map((d, i) => (axes.includes(i) ? 1 : d)) };
  const mean = b.reduceMean(X, axes, true, statInfo);
  const xc = b.sub(X, mean, X);
  const sigma = b.op('Sqrt', [b.reduceMean(b.mul(xc, xc), axes, true, statInfo)], {}, statInfo);
  c.setGrad(0, b.div(centeredGrad(b, c.dyOrZeros(0), c.y(0), axes, statInfo), sigma, X));
}

/** `v` cast to `dt` when its type differs (opset 15 BatchNormalization allows mixed types). */
function asType(b: GradBuilder, v: Value, dt: DataType): Value {
  return v.dtype !== undefined && v.dtype !== dt ? b.cast(v, dt) : v;
}
