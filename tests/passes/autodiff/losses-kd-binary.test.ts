// `kd` on a Sigmoid's output (a detector's probability map): the Bernoulli KL divergence of
// teacher and student probabilities on their logits, against a JS reference, zero when the
// logits agree, and its gradient σ(s) − σ(t) (per element, over the count), which an MSE of the
// probabilities would scale down by σ′ where the map saturates. float32: onnxruntime's Softplus
// has no float64 kernel.

import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import { modelToBytes } from '../../../src/ir/serde/io.js';
import { assertValid } from '../../../src/ir/verify.js';
import { differentiate, stopGradientRules } from '../../../src/passes/autodiff/index.js';
import { buildLoss } from '../../../src/passes/autodiff/losses.js';
import { inferShapes } from '../../../src/passes/shape/index.js';
import { xorshift32 } from '../../helpers/onnx-oracle.js';

const N = 2;
const H = 5;
const rnd = xorshift32(17);
const draw = (n: number, scale: number) => Float32Array.from({ length: n }, () => (rnd() * 2 - 1) * scale);
const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));
const softplus = (z: number) => Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)));

/** z = x + b (b a parameter, [H]), 'map' = Sigmoid(z): the student's logits are z. */
async function run(teacherLogits: Float32Array, x: Float32Array, T = 1) {
  const g = new GraphBuilder('kd-binary');
  const xi = g.input('x', DataType.FLOAT, [N, H]);
  const z = g.op('Add', [xi, g.init('b', DataType.FLOAT, [H], new Float32Array(H))], {}, { outputNames: ['z'] });
  g.output(g.op('Sigmoid', [z], {}, { outputNames: ['map'] }), { dtype: DataType.FLOAT, shape: [N, H] });
  const m = g.model({ opset: 17 });
  inferShapes(m, { inputShapes: {} });
  const built = buildLoss(m, `kd(T=${T}):map=teacher`);
  expect(built.teachers).toEqual({ teacher: 'z' });
  m.graph.outputs.push(built.loss);
  differentiate(m, { wrt: ['x'], loss: built.loss.name, inputShapes: {}, rules: stopGradientRules(built.stopGradient) });
  assertValid(m);
  const s = await ort.InferenceSession.create(modelToBytes(m), { logSeverityLevel: 3 });
  try {
    const out = await s.run({ x: new ort.Tensor('float32', x, [N, H]), teacher: new ort.Tensor('float32', teacherLogits, [N, H]) });
    return { loss: (out[built.loss.name]!.data as Float32Array)[0]!, grad: out['grad:x']!.data as Float32Array };
  } finally {
    await s.release();
  }
}

describe('kd on a Sigmoid output (Bernoulli distillation)', () => {
  const x = draw(N * H, 8); // saturated units included (|z| up to 8)
  const t = draw(N * H, 8);

  it('is the mean Bernoulli KL of the probabilities, computed on logits, and 0 where they agree', async () => {
    const r = await run(t, x);
    let ref = 0;
    x.forEach((s, i) => {
      const p = sigmoid(t[i]!);
      ref += p * (softplus(-s) - softplus(-t[i]!)) + (1 - p) * (softplus(s) - softplus(t[i]!));
    });
    expect(r.loss).toBeCloseTo(ref / x.length, 5);
    expect((await run(x, x)).loss).toBeCloseTo(0, 6);
  });

  it('has the gradient (σ(s) − σ(t)) / count, undamped where the map saturates; T scales as T·(σ(s/T) − σ(t/T))', async () => {
    const r = await run(t, x);
    r.grad.forEach((gi, i) => expect(gi).toBeCloseTo((sigmoid(x[i]!) - sigmoid(t[i]!)) / x.length, 6));
    const r2 = await run(t, x, 2);
    r2.grad.forEach((gi, i) => expect(gi).toBeCloseTo((2 * (sigmoid(x[i]! / 2) - sigmoid(t[i]! / 2))) / x.length, 6));
  });
});
