// The distillation loss `kd` and its combination with feature matching against a graph value:
// values against a JS reference, gradients against central differences (float64 models), the
// teacher and the feature target getting no gradient, and the grammar of term options.

import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import { SplitcError } from '../../../src/ir/errors.js';
import type { Model } from '../../../src/ir/graph.js';
import { modelToBytes } from '../../../src/ir/serde/io.js';
import { assertValid } from '../../../src/ir/verify.js';
import { differentiate, stopGradientRules } from '../../../src/passes/autodiff/index.js';
import { buildLoss, parseLossSpec } from '../../../src/passes/autodiff/losses.js';
import { inferShapes } from '../../../src/passes/shape/index.js';
import { xorshift32 } from '../../helpers/onnx-oracle.js';

const N = 3;
const P = 3; // positions
const C = 4; // channels, the classes of the logits
const rnd = xorshift32(31);
const draw = (n: number, scale = 2, r = rnd) => Float64Array.from({ length: n }, () => (r() * 2 - 1) * scale);

/**
 * x [N,P,C] → MatMul 'we' (the frozen edge) → 'cut' → MatMul 'wr' (reduce, C→2) → MatMul 'wu'
 * (recover, 2→C) → 'cut_hat' → ReduceMean(P) → 'logits' [N,C] → Softmax → 'probs'. The same
 * weights every time.
 */
function model(opset = 17): Model {
  const b = new GraphBuilder('kd-test');
  const weights = xorshift32(5);
  const x = b.input('x', DataType.DOUBLE, [N, P, C]);
  const matmul = (v: ReturnType<typeof b.input>, w: string, ci: number, co: number, out: string) =>
    b.op('MatMul', [v, b.init(w, DataType.DOUBLE, [ci, co], draw(ci * co, 0.8, weights))], {}, { outputNames: [out] });
  const cut = matmul(x, 'we', C, C, 'cut');
  const hat = matmul(matmul(cut, 'wr', C, 2, 'reduced'), 'wu', 2, C, 'cut_hat');
  const logits = b.op('ReduceMean', [hat], { axes: [1], keepdims: 0 }, { outputNames: ['logits'] });
  b.output(b.op('Softmax', [logits], { axis: 1 }, { outputNames: ['probs'] }), { dtype: DataType.DOUBLE, shape: [N, C] });
  return b.model({ opset });
}
const X = draw(N * P * C);

interface Run {
  loss: number;
  grads: Record<string, Float64Array>;
  outputs: Record<string, Float64Array>;
  lossAt(x: Float64Array): Promise<number>;
  built: ReturnType<typeof buildLoss>;
  release(): Promise<void>;
}

/** Build the loss `spec`, differentiate w.r.t. x and 'wr' (stopping where the loss says, unless `noStop`), run at X. */
async function withLoss(spec: string, feeds: Record<string, ort.Tensor>, opts: { noStop?: boolean; fetch?: string[]; opset?: number } = {}): Promise<Run> {
  const m = model(opts.opset);
  inferShapes(m, { inputShapes: {} });
  const built = buildLoss(m, spec);
  m.graph.outputs.push(built.loss);
  for (const name of opts.fetch ?? []) m.graph.outputs.push(m.graph.valuesByName().get(name)!);
  differentiate(m, { wrt: ['x', 'wr'], loss: built.loss.name, inputShapes: {}, ...(opts.noStop ? {} : { rules: stopGradientRules(built.stopGradient) }) });
  assertValid(m);
  const s = await ort.InferenceSession.create(modelToBytes(m), { graphOptimizationLevel: 'disabled', logSeverityLevel: 3 });
  const run = (x: Float64Array) => s.run({ x: new ort.Tensor('float64', x, [N, P, C]), ...feeds });
  const out = await run(X);
  const f64 = (n: string) => out[n]!.data as Float64Array;
  return {
    loss: Number(f64(built.loss.name)[0]),
    grads: { x: f64('grad:x'), wr: f64('grad:wr') },
    outputs: Object.fromEntries((opts.fetch ?? []).map((n) => [n, f64(n)])),
    lossAt: async (x) => Number(((await run(x))[built.loss.name]!.data as Float64Array)[0]),
    built,
    release: () => s.release(),
  };
}

/** ⟨grad:x, v⟩ against the central difference along v, for three random directions. */
async function expectFdMatches(r: Run): Promise<void> {
  for (let k = 0; k < 3; k++) {
    const v = draw(X.length, 1);
    const h = 1e-6;
    const numeric = ((await r.lossAt(X.map((x, i) => x + h * v[i]!))) - (await r.lossAt(X.map((x, i) => x - h * v[i]!)))) / (2 * h);
    const analytic = r.grads.x!.reduce((a, g, i) => a + g * v[i]!, 0);
    expect(Math.abs(analytic)).toBeGreaterThan(1e-6);
    expect(Math.abs(numeric - analytic), `analytic ${analytic} vs numeric ${numeric}`).toBeLessThan(1e-7 + 1e-6 * Math.abs(numeric));
  }
}

/** T² · mean over rows of KL(softmax(t/T) ‖ softmax(s/T)); a row is `classes` values `stride` apart. */
function klReference(student: ArrayLike<number>, teacher: ArrayLike<number>, T: number, classes: number, stride: number): number {
  let total = 0;
  let rows = 0;
  const outer = student.length / (classes * stride);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < stride; i++) {
      const at = (c: number) => o * classes * stride + c * stride + i;
      const lse = (v: ArrayLike<number>) => Math.log(Array.from({ length: classes }, (_, c) => Math.exp(v[at(c)]! / T)).reduce((a, q) => a + q, 0));
      const zt = lse(teacher);
      const zs = lse(student);
      for (let c = 0; c < classes; c++) {
        const lpt = teacher[at(c)]! / T - zt;
        const lps = student[at(c)]! / T - zs;
        total += Math.exp(lpt) * (lpt - lps);
      }
      rows++;
    }
  }
  return (T * T * total) / rows;
}

describe('kd: knowledge distillation', () => {
  it('T² · batch mean of KL(softmax(teacher/T) ‖ softmax(student/T)), the student read under its Softmax', async () => {
    const teacher = draw(N * C);
    const r = await withLoss('kd(T=2.5):probs', { teacher: new ort.Tensor('float64', teacher, [N, C]) }, { fetch: ['logits'] });
    expect(r.built.extraInputs.map((v) => v.name)).toEqual(['teacher']);
    expect(r.built.teachers).toEqual({ teacher: 'logits' });
    expect(r.loss).toBeGreaterThan(0);
    expect(r.loss).toBeCloseTo(klReference(r.outputs.logits!, teacher, 2.5, C, 1), 12);
    await expectFdMatches(r);
    await r.release();
    // the teacher equal to the student: zero loss and zero gradient
    const same = await withLoss('kd(T=2.5):logits', { teacher: new ort.Tensor('float64', r.outputs.logits!, [N, C]) });
    expect(Math.abs(same.loss)).toBeLessThan(1e-12);
    expect(same.grads.x!.every((g) => Math.abs(g) < 1e-12)).toBe(true);
    await same.release();
  });

  it('another class axis: kd(axis=1) over [N, P, C] means over N and C', async () => {
    const teacher = draw(N * P * C);
    const r = await withLoss('kd(axis=1):cut_hat=t', { t: new ort.Tensor('float64', teacher, [N, P, C]) }, { fetch: ['cut_hat'] });
    expect(r.built.teachers).toEqual({ t: 'cut_hat' });
    expect(r.loss).toBeCloseTo(klReference(r.outputs.cut_hat!, teacher, 1, P, C), 12);
    await expectFdMatches(r);
    await r.release();
    // an opset-11 model (where LogSoftmax coerced to 2-D at its axis) is raised first: the same value
    const old = await withLoss('kd(axis=1):cut_hat=t', { t: new ort.Tensor('float64', teacher, [N, P, C]) }, { opset: 11 });
    expect(old.loss).toBeCloseTo(r.loss, 12);
    await old.release();
  });

  it('kd + feature against a graph value: the target gets no gradient, the same as if it were fed', async () => {
    const teacher = new ort.Tensor('float64', draw(N * C), [N, C]);
    const spec = 'kd(T=2):logits+0.5*feature:cut_hat=cut';
    const r = await withLoss(spec, { teacher }, { fetch: ['cut', 'cut_hat', 'logits'] });
    expect(r.built.extraInputs.map((v) => v.name)).toEqual(['teacher']);
    expect(r.built.stopGradient).toHaveLength(1);
    // the value: kd plus half the mean squared distance between x̂ and x
    const { cut, cut_hat: hat, logits } = r.outputs;
    const mse = hat!.reduce((a, q, i) => a + (q - cut![i]!) ** 2, 0) / hat!.length;
    expect(r.loss).toBeCloseTo(klReference(logits!, teacher.data as Float64Array, 2, C, 1) + 0.5 * mse, 12);
    // the same loss with the target fed as a constant input: the same gradients, checked by finite differences
    const fed = await withLoss('kd(T=2):logits+0.5*feature:cut_hat=cut_target', { teacher, cut_target: new ort.Tensor('float64', cut!, [N, P, C]) });
    expect(fed.loss).toBeCloseTo(r.loss, 12);
    for (const w of ['x', 'wr']) Array.from(r.grads[w]!).forEach((g, i) => expect(g, `${w}[${i}]`).toBeCloseTo(fed.grads[w]![i]!, 12));
    await expectFdMatches(fed);
    // without the stop the target is pulled too: x's gradient differs (wr, after the cut, does not)
    const pulled = await withLoss(spec, { teacher }, { noStop: true });
    expect(Array.from(pulled.grads.x!).some((g, i) => Math.abs(g - r.grads.x![i]!) > 1e-6)).toBe(true);
    Array.from(pulled.grads.wr!).forEach((g, i) => expect(g).toBeCloseTo(r.grads.wr![i]!, 12));
    await Promise.all([r.release(), fed.release(), pulled.release()]);
  });

  it('parses term options and refuses bad ones', () => {
    expect(parseLossSpec('kd(T=4):logits')).toEqual([{ kind: 'kd', weight: 1, target: 'logits', temperature: 4 }]);
    expect(parseLossSpec('0.9*kd(T=2, axis=1):out=teach + 0.1*feature:xhat=x')).toEqual([
      { kind: 'kd', weight: 0.9, target: 'out', input: 'teach', temperature: 2, axis: 1 },
      { kind: 'feature', weight: 0.1, target: 'xhat', input: 'x' },
    ]);
    expect(parseLossSpec('kd')).toEqual([{ kind: 'kd', weight: 1 }]);
    for (const bad of ['kd(T=0)', 'kd(T=-1)', 'kd(axis=1.5)', 'kd(temp=2)', 'ce(T=2)', 'kd(T=2']) expect(() => parseLossSpec(bad), bad).toThrow(SplitcError);
  });

  it('an axis outside the logits is a coded error', () => {
    const m = model();
    inferShapes(m, { inputShapes: {} });
    try {
      buildLoss(m, 'kd(axis=2):logits');
      expect.unreachable();
    } catch (e) {
      expect((e as SplitcError).code).toBe('E_AUTODIFF');
    }
  });
});
