// Losses as graph builders: values against the formulas computed here in JS, gradients
// against central differences (float64 model), and the loss grammar.

import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import { SplitcError } from '../../../src/ir/errors.js';
import type { Model } from '../../../src/ir/graph.js';
import { modelToBytes } from '../../../src/ir/serde/io.js';
import { assertValid } from '../../../src/ir/verify.js';
import { differentiate } from '../../../src/passes/autodiff/index.js';
import { buildLoss, parseLossSpec, projectionLoss } from '../../../src/passes/autodiff/losses.js';
import { inferShapes } from '../../../src/passes/shape/index.js';
import { xorshift32 } from '../../helpers/onnx-oracle.js';

const N = 2;
const C = 3;
const H = 4;
const W = 4;
const rnd = xorshift32(17);
const X = Float64Array.from({ length: N * C * H * W }, () => rnd() * 2 - 1);
const RUN_MEAN = [0.1, -0.2, 0.3];
const RUN_VAR = [0.5, 1.5, 0.8];

/** x [N,C,H,W] → BatchNormalization (inference) → Relu → 'feat'; → ReduceMean(H,W) → 'logits' [N,C]; → Softmax → 'probs'. */
function model(): Model {
  const b = new GraphBuilder('loss-test');
  const x = b.input('x', DataType.DOUBLE, [N, C, H, W]);
  const bn = b.op('BatchNormalization', [x, b.init('s', DataType.DOUBLE, [C], [1, 2, 0.5]), b.init('bias', DataType.DOUBLE, [C], [0, 0.1, -0.1]), b.init('m', DataType.DOUBLE, [C], RUN_MEAN), b.init('v', DataType.DOUBLE, [C], RUN_VAR)]);
  const feat = b.op('Relu', [bn], {}, { outputNames: ['feat'] });
  const logits = b.op('ReduceMean', [feat], { axes: [2, 3], keepdims: 0 }, { outputNames: ['logits'] });
  const probs = b.op('Softmax', [logits], { axis: 1 }, { outputNames: ['probs'] });
  b.output(probs, { dtype: DataType.DOUBLE, shape: [N, C] });
  return b.model({ opset: 17 });
}

/** Build the loss, differentiate w.r.t. x, run; returns loss, grad and a loss-at(x) function for finite differences. */
async function withLoss(spec: string, extra: Record<string, ort.Tensor> = {}) {
  const m = model();
  inferShapes(m, { inputShapes: {} });
  const built = buildLoss(m, spec, ['s']);
  m.graph.outputs.push(built.loss);
  differentiate(m, { wrt: ['x'], loss: built.loss.name, inputShapes: {} });
  assertValid(m);
  const s = await ort.InferenceSession.create(modelToBytes(m), { graphOptimizationLevel: 'disabled', logSeverityLevel: 3 });
  const run = async (x: Float64Array) => s.run({ x: new ort.Tensor('float64', x, [N, C, H, W]), ...extra });
  const out = await run(X);
  const lossAt = async (x: Float64Array) => Number((await run(x))[built.loss.name]!.data[0]);
  return { loss: Number(out[built.loss.name]!.data[0]), grad: out['grad:x']!.data as Float64Array, lossAt, built, release: () => s.release() };
}

/** JS reference: the forward pass up to 'feat' and 'logits'. */
function reference(x: Float64Array) {
  const s = [1, 2, 0.5];
  const bias = [0, 0.1, -0.1];
  const feat = new Float64Array(x.length);
  const logits = new Float64Array(N * C);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      for (let k = 0; k < H * W; k++) {
        const i = (n * C + c) * H * W + k;
        feat[i] = Math.max(0, (s[c]! * (x[i]! - RUN_MEAN[c]!)) / Math.sqrt(RUN_VAR[c]! + 1e-5) + bias[c]!);
        logits[n * C + c] = logits[n * C + c]! + feat[i]! / (H * W);
      }
    }
  }
  return { feat, logits };
}

async function expectFdMatches(r: Awaited<ReturnType<typeof withLoss>>): Promise<void> {
  const v = Float64Array.from(X, () => rnd() * 2 - 1);
  const h = 1e-6;
  const numeric = ((await r.lossAt(X.map((x, i) => x + h * v[i]!))) - (await r.lossAt(X.map((x, i) => x - h * v[i]!)))) / (2 * h);
  const analytic = r.grad.reduce((a, g, i) => a + g * v[i]!, 0);
  expect(Math.abs(analytic)).toBeGreaterThan(1e-6);
  expect(Math.abs(numeric - analytic)).toBeLessThan(1e-6 + 1e-5 * Math.abs(numeric));
}

describe('losses', () => {
  it('ce: −mean log softmax(logits)[label], read from the logits under the Softmax output', async () => {
    const labels = [2, 0];
    const r = await withLoss('ce', { labels: new ort.Tensor('int64', BigInt64Array.from(labels.map(BigInt)), [N]) });
    expect(r.built.extraInputs.map((v) => v.name)).toEqual(['labels']);
    const { logits } = reference(X);
    let ce = 0;
    for (let n = 0; n < N; n++) {
      const row = Array.from(logits.subarray(n * C, n * C + C));
      const lse = Math.log(row.reduce((a, z) => a + Math.exp(z), 0));
      ce += lse - row[labels[n]!]!;
    }
    expect(r.loss).toBeCloseTo(ce / N, 12);
    await expectFdMatches(r);
    await r.release();
  });

  it('mse and feature matching: mean squared distance to a target input', async () => {
    const target = Float64Array.from({ length: N * C }, () => rnd());
    const r = await withLoss('mse', { target: new ort.Tensor('float64', target, [N, C]) });
    const p = reference(X).logits.map((z, i, all) => {
      const row = Array.from(all.subarray(Math.floor(i / C) * C, Math.floor(i / C) * C + C));
      return Math.exp(z) / row.reduce((a, q) => a + Math.exp(q), 0);
    });
    expect(r.loss).toBeCloseTo(p.reduce((a, q, i) => a + (q - target[i]!) ** 2, 0) / (N * C), 12);
    await expectFdMatches(r);
    await r.release();
    const ft = Float64Array.from({ length: N * C * H * W }, () => rnd());
    const f = await withLoss('feature:feat=want', { want: new ort.Tensor('float64', ft, [N, C, H, W]) });
    const { feat } = reference(X);
    expect(f.loss).toBeCloseTo(feat.reduce((a, q, i) => a + (q - ft[i]!) ** 2, 0) / feat.length, 12);
    await expectFdMatches(f);
    await f.release();
  });

  it('tv and weighted sums: 0.5*tv:x + sum', async () => {
    const r = await withLoss('0.5*tv:x+sum');
    let dv = 0;
    let dh = 0;
    for (let n = 0; n < N; n++)
      for (let c = 0; c < C; c++)
        for (let y = 0; y < H; y++)
          for (let x = 0; x < W; x++) {
            const i = ((n * C + c) * H + y) * W + x;
            if (y + 1 < H) dv += (X[i + W]! - X[i]!) ** 2;
            if (x + 1 < W) dh += (X[i + 1]! - X[i]!) ** 2;
          }
    const tv = dv / (N * C * (H - 1) * W) + dh / (N * C * H * (W - 1));
    expect(r.loss).toBeCloseTo(0.5 * tv + N, 12); // the softmax rows sum to 1 each
    await expectFdMatches(r);
    await r.release();
  });

  it('bn-prior: ‖batch mean − running mean‖ + ‖batch variance − running variance‖ of each BatchNorm input', async () => {
    const r = await withLoss('bn-prior');
    let dm = 0;
    let dv = 0;
    for (let c = 0; c < C; c++) {
      const vals: number[] = [];
      for (let n = 0; n < N; n++) for (let k = 0; k < H * W; k++) vals.push(X[(n * C + c) * H * W + k]!);
      const mean = vals.reduce((a, q) => a + q, 0) / vals.length;
      const variance = vals.reduce((a, q) => a + (q - mean) ** 2, 0) / vals.length;
      dm += (mean - RUN_MEAN[c]!) ** 2;
      dv += (variance - RUN_VAR[c]!) ** 2;
    }
    expect(r.loss).toBeCloseTo(Math.sqrt(dm) + Math.sqrt(dv), 12);
    await expectFdMatches(r);
    await r.release();
  });

  it('l2 over named values: Σ w² (the parameters by default)', async () => {
    const m = model();
    inferShapes(m, { inputShapes: {} });
    const built = buildLoss(m, 'l2:s,bias', []);
    m.graph.outputs.push(built.loss);
    const s = await ort.InferenceSession.create(modelToBytes(m));
    const out = await s.run({ x: new ort.Tensor('float64', X, [N, C, H, W]) });
    expect(Number(out[built.loss.name]!.data[0])).toBeCloseTo(1 + 4 + 0.25 + 0 + 0.01 + 0.01, 12);
    await s.release();
  });

  it('projection: Σ⟨output, R⟩ with R drawn from the seed, in the requested type', async () => {
    const m = model();
    inferShapes(m, { inputShapes: {} });
    const probs = m.graph.outputs[0]!;
    const loss = projectionLoss(m, [probs], { seed: 5, dtype: DataType.DOUBLE });
    m.graph.outputs.push(loss);
    const s = await ort.InferenceSession.create(modelToBytes(m));
    const out = await s.run({ x: new ort.Tensor('float64', X, [N, C, H, W]) });
    await s.release();
    const p = out[probs.name]!.data as Float64Array;
    const r = xorshift32(5);
    expect(Number(out[loss.name]!.data[0])).toBeCloseTo(Array.from(p).reduce((a, v) => a + v * (r() * 2 - 1), 0), 12);
  });

  it('parses the grammar and refuses what it cannot read', () => {
    expect(parseLossSpec('ce+1e-4*l2')).toEqual([{ kind: 'ce', weight: 1 }, { kind: 'l2', weight: 1e-4 }]);
    expect(parseLossSpec('mse:out=t')).toEqual([{ kind: 'mse', weight: 1, target: 'out', input: 't' }]);
    expect(parseLossSpec('0.01*tv:x + bn-prior')).toEqual([{ kind: 'tv', weight: 0.01, target: 'x' }, { kind: 'bn-prior', weight: 1 }]);
    for (const bad of ['hinge', 'ce+', '2*', 'x*ce']) expect(() => parseLossSpec(bad), bad).toThrow(SplitcError);
  });

  it('a model without BatchNorm has no bn-prior; a missing value is named', () => {
    const b = new GraphBuilder();
    b.output(b.op('Relu', [b.input('x', DataType.FLOAT, [2])]), { dtype: DataType.FLOAT, shape: [2] });
    expect(() => buildLoss(b.model(), 'bn-prior')).toThrow(/no BatchNormalization/);
    expect(() => buildLoss(model(), 'mse:nope')).toThrow(/nope/);
  });
});
