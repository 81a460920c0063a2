// The elementwise gradient rules (src/passes/autodiff/rules/elementwise.ts) against central
// finite differences: every op on seeded random shapes and broadcasting patterns, in
// float64 where onnxruntime's CPU kernels take double and in float32 where they do not
// (HardSigmoid, HardSwish, Erf, Elu, Selu, Softplus, Softsign, Celu, ThresholdedRelu,
// Mean, Gelu, Tan, the inverse/hyperbolic functions and Hardmax; Shrink's double kernel
// rounds to float32), with inputs kept away from kinks, jumps (Shrink, Mod), ties (Hardmax)
// and undefined points. The conventions at kinks and ties are checked exactly with a unit
// loss (Σ y), and an op without a rule is an E_AUTODIFF error naming it.

import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { type AttrInput, attr, GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import type { Value } from '../../../src/ir/graph.js';
import { modelToBytes } from '../../../src/ir/serde/io.js';
import { assertValid } from '../../../src/ir/verify.js';
import { differentiate } from '../../../src/passes/autodiff/index.js';
import { xorshift32 } from '../../helpers/onnx-oracle.js';
import { describeFailures, type FloatKind, gradCheck, type GradCheckCase, type GradCheckInput, differentiateError } from './gradcheck.js';

type Rnd = () => number;
const count = (dims: number[]): number => dims.reduce((a, d) => a * d, 1);
const dim = (rnd: Rnd): number => 2 + Math.floor(rnd() * 3); // 2..4

/** Uniform samples in [lo, hi) at least `margin` away from every point in `away`. */
function sample(rnd: Rnd, dims: number[], lo: number, hi: number, away: number[] = [], margin = 0.05): number[] {
  return Array.from({ length: count(dims) }, () => {
    for (;;) {
      const x = lo + (hi - lo) * rnd();
      if (away.every((p) => Math.abs(x - p) >= margin)) return x;
    }
  });
}

/** Random sign times a magnitude in [lo, hi) (denominators, |x| away from 0). */
function signedMagnitude(rnd: Rnd, dims: number[], lo: number, hi: number): number[] {
  return Array.from({ length: count(dims) }, () => (rnd() < 0.5 ? -1 : 1) * (lo + (hi - lo) * rnd()));
}

/** Binary broadcasting patterns with seeded random dims. */
function broadcastPatterns(seed: number): [string, number[], number[]][] {
  const rnd = xorshift32(seed);
  const [p, q, r] = [dim(rnd), dim(rnd), dim(rnd)];
  return [
    ['same shape', [p, q, r], [p, q, r]],
    ['scalar right', [p, q], []],
    ['scalar left', [], [q, r]],
    ['leading-rank right', [p, q, r], [q, r]],
    ['leading-rank left', [r], [p, q, r]],
    ['size-1 axes on both sides', [p, 1, r], [1, q, 1]],
    ['size-1 axes and rank difference', [q, 1], [p, 1, r]],
  ];
}

/** Graph inputs for every spec, in order. */
function declare(b: GraphBuilder, dt: DataType, inputs: Record<string, GradCheckInput>): Value[] {
  return Object.entries(inputs).map(([name, s]) => b.input(name, s.type === 'int64' ? DataType.INT64 : dt, s.dims));
}

/** Runs the check; returns the largest |directional derivative| seen. */
async function gradOk(c: GradCheckCase): Promise<number> {
  const r = await gradCheck(c);
  expect(r.ok, describeFailures(r)).toBe(true);
  expect(r.checks.length).toBeGreaterThan(0);
  return Math.max(...r.checks.map((x) => Math.abs(x.analytic)));
}

/** `gradOk`, guarding against a check that cannot fail: the derivatives are not all ~0. */
async function expectGradOk(c: GradCheckCase): Promise<void> {
  expect(await gradOk(c)).toBeGreaterThan(1e-3);
}

/**
 * Gradients of the unit loss Σ y (so dy = 1 everywhere), for checking conventions at
 * points where finite differences say nothing.
 */
async function unitLossGrads(
  build: (b: GraphBuilder) => Value,
  feeds: Record<string, { dims: number[]; data: number[] }>,
  wrt = Object.keys(feeds),
  opset = 17,
): Promise<Record<string, number[]>> {
  const b = new GraphBuilder('unit');
  const y = build(b);
  const loss = b.op('ReduceSum', [y], { keepdims: 0 }, { outputNames: ['loss'] });
  b.output(loss, { dtype: DataType.DOUBLE, shape: [] });
  const model = b.model({ opset });
  const shapes = Object.fromEntries(Object.entries(feeds).map(([n, f]) => [n, f.dims]));
  differentiate(model, { wrt, loss: 'loss', inputShapes: shapes });
  assertValid(model);
  const s = await ort.InferenceSession.create(modelToBytes(model), { graphOptimizationLevel: 'disabled' });
  const tensors = Object.fromEntries(Object.entries(feeds).map(([n, f]) => [n, new ort.Tensor('float64', Float64Array.from(f.data), f.dims)]));
  const out = await s.run(tensors);
  await s.release();
  return Object.fromEntries(wrt.map((w) => [w, Array.from(out[`grad:${w}`]!.data as Float64Array)]));
}

const BINARY: { op: string; dtype?: FloatKind; a?: (rnd: Rnd, d: number[]) => number[]; b?: (rnd: Rnd, d: number[]) => number[] }[] = [
  { op: 'Add' },
  { op: 'Sub' },
  { op: 'Mul' },
  { op: 'Div', b: (rnd, d) => signedMagnitude(rnd, d, 0.4, 1.5) },
  // Positive bases: the exponent's gradient uses ln(base).
  { op: 'Pow', a: (rnd, d) => sample(rnd, d, 0.3, 2), b: (rnd, d) => sample(rnd, d, -1.5, 1.5) },
  { op: 'Max' },
  { op: 'Min' },
  { op: 'Sum' },
  // onnxruntime's CPU Mean has no double kernel.
  { op: 'Mean', dtype: 'float32' },
];

describe('autodiff elementwise: binary ops with broadcasting', () => {
  BINARY.forEach((spec, k) => {
    for (const [pattern, da, db] of broadcastPatterns(100 + k)) {
      it(`${spec.op} (${spec.dtype ?? 'float64'}), ${pattern}: [${da}] ∘ [${db}]`, async () => {
        const rnd = xorshift32(7 + k);
        const inputs = {
          a: { dims: da, data: (spec.a ?? ((r, d) => sample(r, d, -1, 1)))(rnd, da) },
          b: { dims: db, data: (spec.b ?? ((r, d) => sample(r, d, -1, 1)))(rnd, db) },
        };
        await expectGradOk({ build: (b, dt) => b.op(spec.op, declare(b, dt, inputs)), inputs, dtype: spec.dtype ?? 'float64' });
      });
    }
  });

  for (const opset of [13, 18]) {
    it(`Add/Div/Pow/Max chain at opset ${opset}`, async () => {
      const rnd = xorshift32(opset);
      const inputs = {
        a: { dims: [3, 1, 4], data: sample(rnd, [3, 1, 4], 0.3, 2) },
        b: { dims: [2, 1], data: signedMagnitude(rnd, [2, 1], 0.5, 1.5) },
        c: { dims: [], data: [0.7] },
      };
      await expectGradOk({
        build(b, dt) {
          const [a, bb, cc] = declare(b, dt, inputs);
          const p = b.op('Pow', [a!, bb!]);
          const d = b.op('Div', [b.op('Add', [p, cc!]), bb!]);
          return b.op('Max', [d, a!, cc!]);
        },
        inputs,
        opset,
      });
    });
  }
});

describe('autodiff elementwise: variadic Max/Min/Sum/Mean', () => {
  const shapes: number[][] = [[3, 1, 4], [2, 1], []];
  for (const op of ['Max', 'Min', 'Sum', 'Mean']) {
    const dtype: FloatKind = op === 'Mean' ? 'float32' : 'float64';
    it(`${op} of three broadcast operands [${shapes.map((s) => `[${s}]`).join(', ')}] (${dtype})`, async () => {
      const rnd = xorshift32(op.length);
      const inputs = Object.fromEntries(shapes.map((d, i) => [`x${i}`, { dims: d, data: sample(rnd, d, -1, 1) }]));
      await expectGradOk({ build: (b, dt) => b.op(op, declare(b, dt, inputs)), inputs, dtype });
    });
    it(`${op} of one operand, and of the same value twice (${dtype})`, async () => {
      const rnd = xorshift32(3);
      const inputs = { x: { dims: [2, 3], data: sample(rnd, [2, 3], -1, 1) }, z: { dims: [3], data: sample(rnd, [3], -1, 1) } };
      await expectGradOk({
        build(b, dt) {
          const [x, z] = declare(b, dt, inputs);
          return b.op('Mul', [b.op(op, [x!]), b.op(op, [z!, z!])]);
        },
        inputs,
        dtype,
      });
    });
  }

  it('Max/Min ties split the gradient evenly among the tied operands', async () => {
    const a = { dims: [4], data: [1, 2, 3, 4] };
    const b2 = { dims: [4], data: [1, 5, 3, 0] };
    const max = await unitLossGrads((b) => b.op('Max', [b.input('a', DataType.DOUBLE, [4]), b.input('b', DataType.DOUBLE, [4])]), { a, b: b2 });
    expect(max).toEqual({ a: [0.5, 0, 0.5, 1], b: [0.5, 1, 0.5, 0] });
    const min = await unitLossGrads((b) => b.op('Min', [b.input('a', DataType.DOUBLE, [4]), b.input('b', DataType.DOUBLE, [4])]), { a, b: b2 });
    expect(min).toEqual({ a: [0.5, 1, 0.5, 0], b: [0.5, 0, 0.5, 1] });
    // Three-way tie and a broadcast scalar tied at two positions.
    const three = await unitLossGrads(
      (b) => b.op('Max', ['a', 'b', 'c'].map((n) => b.input(n, DataType.DOUBLE, [1]))),
      { a: { dims: [1], data: [2] }, b: { dims: [1], data: [2] }, c: { dims: [1], data: [2] } },
    );
    for (const g of Object.values(three)) expect(g[0]).toBeCloseTo(1 / 3, 15);
    const bcast = await unitLossGrads((b) => b.op('Max', [b.input('a', DataType.DOUBLE, [2, 2]), b.input('s', DataType.DOUBLE, [])]), {
      a: { dims: [2, 2], data: [1, 2, 2, 0] },
      s: { dims: [], data: [2] },
    });
    expect(bcast).toEqual({ a: [0, 0.5, 0.5, 0], s: [3] });
  });
});

describe('autodiff elementwise: Pow domains', () => {
  for (const opset of [13, 15]) {
    it(`integer (int64) exponent with negative bases, opset ${opset}`, async () => {
      const rnd = xorshift32(5);
      const inputs: Record<string, GradCheckInput> = {
        a: { dims: [2, 3], data: sample(rnd, [2, 3], -1.5, 1.5) },
        e: { dims: [3], data: [2, 3, 1], type: 'int64' },
      };
      await expectGradOk({ build: (b, dt) => b.op('Pow', declare(b, dt, inputs)), inputs, opset });
    });
  }

  it('integer-valued float exponent with negative bases (gradient to the base only)', async () => {
    const rnd = xorshift32(6);
    const inputs = { a: { dims: [4, 2], data: sample(rnd, [4, 2], -1.5, 1.5) }, e: { dims: [4, 1], data: [2, 3, 1, 4] } };
    await expectGradOk({ build: (b, dt) => b.op('Pow', declare(b, dt, inputs)), inputs, wrt: ['a'] });
  });

  it('the same value as base and exponent (x^x)', async () => {
    const rnd = xorshift32(8);
    const inputs = { x: { dims: [5], data: sample(rnd, [5], 0.2, 2) } };
    await expectGradOk({
      build(b, dt) {
        const [x] = declare(b, dt, inputs);
        return b.op('Pow', [x!, x!]);
      },
      inputs,
    });
  });

  it('the exponent gradient is 0 where the base is ≤ 0, and finite at a zero base', async () => {
    const g = await unitLossGrads((b) => b.op('Pow', [b.input('a', DataType.DOUBLE, [3]), b.input('e', DataType.DOUBLE, [3])]), {
      a: { dims: [3], data: [-2, 0, 2] },
      e: { dims: [3], data: [2, 2, 2] },
    });
    expect(g.a).toEqual([-4, 0, 4]);
    expect(g.e![0]).toBe(0);
    expect(g.e![1]).toBe(0);
    expect(g.e![2]).toBeCloseTo(4 * Math.log(2), 12);
  });
});

/** Unary ops: input sampler, and whether onnxruntime runs the op in double. */
interface UnarySpec {
  op: string;
  attrs?: Record<string, AttrInput>;
  dtype?: FloatKind;
  opset?: number;
  data?: (rnd: Rnd, d: number[]) => number[];
  /** True for ops whose own derivative is 0: checked through y · x so the check has a signal. */
  flat?: boolean;
}
const within = (lo: number, hi: number, away: number[] = [], margin = 0.05) => (rnd: Rnd, d: number[]) => sample(rnd, d, lo, hi, away, margin);
const f32: FloatKind = 'float32';
const UNARY: UnarySpec[] = [
  { op: 'Neg' },
  { op: 'Exp' },
  { op: 'Log', data: within(0.2, 2) },
  { op: 'Sqrt', data: within(0.2, 2) },
  { op: 'Reciprocal', data: (rnd, d) => signedMagnitude(rnd, d, 0.3, 1.5) },
  { op: 'Abs', data: within(-1, 1, [0]) },
  { op: 'Relu', data: within(-1, 1, [0]) },
  { op: 'LeakyRelu', data: within(-1, 1, [0]) },
  { op: 'LeakyRelu', attrs: { alpha: attr.float('alpha', 0.3) }, data: within(-1, 1, [0]) },
  { op: 'Sigmoid', data: within(-3, 3) },
  { op: 'Tanh', data: within(-2, 2) },
  { op: 'Sin', data: within(-3, 3) },
  { op: 'Cos', data: within(-3, 3) },
  { op: 'Sign', flat: true, data: within(-1, 1, [0]) },
  { op: 'Floor', flat: true, data: within(-2, 2, [-2, -1, 0, 1, 2]) },
  { op: 'Ceil', flat: true, data: within(-2, 2, [-2, -1, 0, 1, 2]) },
  { op: 'Round', flat: true, data: within(-2, 2, [-1.5, -0.5, 0.5, 1.5]) },
  // Shrink: jumps (kinks when bias = 0) at ±lambd; a negative lambd leaves one jump, at −lambd.
  // onnxruntime's double Shrink rounds its results to float32, so it is checked in float32.
  { op: 'Shrink', dtype: f32, data: within(-1.5, 1.5, [-0.5, 0.5]) },
  { op: 'Shrink', dtype: f32, attrs: { lambd: attr.float('lambd', 0.3), bias: attr.float('bias', 0.2) }, data: within(-1, 1, [-0.3, 0.3]) },
  { op: 'Shrink', dtype: f32, attrs: { lambd: attr.float('lambd', -0.2), bias: attr.float('bias', 0.1) }, data: within(-1, 1, [0.2]) },
  // float32 only in onnxruntime's CPU provider (default h = 1e-2, so kinks are kept ≥ 0.05 away):
  { op: 'HardSigmoid', dtype: f32, data: within(-4, 4, [-2.5, 2.5]) },
  { op: 'HardSigmoid', dtype: f32, attrs: { alpha: attr.float('alpha', 0.35), beta: attr.float('beta', 0.4) }, data: within(-3, 3, [-0.4 / 0.35, 0.6 / 0.35]) },
  { op: 'HardSwish', dtype: f32, opset: 14, data: within(-4.5, 4.5, [-3, 3], 0.1) },
  { op: 'Erf', dtype: f32, data: within(-2, 2) },
  { op: 'Elu', dtype: f32, data: within(-2, 2, [0]) },
  { op: 'Elu', dtype: f32, attrs: { alpha: attr.float('alpha', 0.6) }, data: within(-2, 2, [0]) },
  { op: 'Selu', dtype: f32, data: within(-2, 2, [0]) },
  { op: 'Selu', dtype: f32, attrs: { alpha: attr.float('alpha', 1.3), gamma: attr.float('gamma', 0.8) }, data: within(-2, 2, [0]) },
  { op: 'Softplus', dtype: f32, data: within(-3, 3) },
  { op: 'Softsign', dtype: f32, data: within(-2, 2, [0]) },
  { op: 'Celu', dtype: f32, data: within(-2, 2, [0]) },
  { op: 'Celu', dtype: f32, attrs: { alpha: attr.float('alpha', 1.7) }, data: within(-2, 2, [0]) },
  { op: 'ThresholdedRelu', dtype: f32, attrs: { alpha: attr.float('alpha', 0.3) }, data: within(-1, 1, [0.3]) },
  { op: 'ThresholdedRelu', dtype: f32, data: within(0, 2, [1]) },
  { op: 'Mish', opset: 18, data: within(-3, 3) },
  { op: 'Gelu', dtype: f32, opset: 20, data: within(-3, 3) },
  { op: 'Gelu', dtype: f32, opset: 20, attrs: { approximate: 'tanh' }, data: within(-3, 3) },
  { op: 'Tan', dtype: f32, data: within(-1.2, 1.2) },
  { op: 'Asin', dtype: f32, data: within(-0.8, 0.8) },
  { op: 'Acos', dtype: f32, data: within(-0.8, 0.8) },
  { op: 'Atan', dtype: f32, data: within(-2, 2) },
  { op: 'Sinh', dtype: f32, data: within(-2, 2) },
  { op: 'Cosh', dtype: f32, data: within(-2, 2) },
  { op: 'Asinh', dtype: f32, data: within(-2, 2) },
  { op: 'Acosh', dtype: f32, data: within(1.3, 3) },
  { op: 'Atanh', dtype: f32, data: within(-0.8, 0.8) },
];

describe('autodiff elementwise: unary ops and activations', () => {
  UNARY.forEach((spec, k) => {
    const attrs = Object.entries(spec.attrs ?? {})
      .map(([n, v]) => `${n}=${typeof v === 'object' && 'value' in v ? String(v.value) : String(v)}`)
      .join(',');
    it(`${spec.op}${attrs ? `{${attrs}}` : ''} (${spec.dtype ?? 'float64'}${spec.opset ? `, opset ${spec.opset}` : ''})`, async () => {
      const rnd = xorshift32(31 + k);
      // A scalar and a random rank-1..3 shape.
      const rank = 1 + Math.floor(rnd() * 3);
      let largest = 0;
      for (const dims of [[], Array.from({ length: rank }, () => dim(rnd))]) {
        const inputs = { x: { dims, data: (spec.data ?? within(-1, 1))(rnd, dims) } };
        const m = await gradOk({
          build(b, dt) {
            const [x] = declare(b, dt, inputs);
            const y = b.op(spec.op, [x!], spec.attrs ?? {});
            return spec.flat ? b.op('Mul', [y, x!]) : y;
          },
          inputs,
          dtype: spec.dtype ?? 'float64',
          ...(spec.opset ? { opset: spec.opset } : {}),
        });
        largest = Math.max(largest, m);
      }
      // (the scalar alone may sit where the derivative is 0, e.g. Relu at x < 0)
      expect(largest).toBeGreaterThan(1e-3);
    });
  });

  it('zero-gradient ops (Sign, Floor, Ceil, Round) emit zeros', async () => {
    for (const op of ['Sign', 'Floor', 'Ceil', 'Round']) {
      const g = await unitLossGrads((b) => b.op(op, [b.input('x', DataType.DOUBLE, [3])]), { x: { dims: [3], data: [-1.3, 0.2, 0.7] } });
      expect(g.x, op).toEqual([0, 0, 0]);
    }
  });

  it('Shrink passes no gradient at ±lambd (the forward\'s middle branch)', async () => {
    const g = await unitLossGrads((b) => b.op('Shrink', [b.input('x', DataType.DOUBLE, [4])], { lambd: attr.float('lambd', 0.5), bias: attr.float('bias', 0.1) }), {
      x: { dims: [4], data: [-0.5, 0.5, -0.75, 0.75] },
    });
    expect(g.x).toEqual([0, 0, 1, 1]);
  });

  it('kink conventions: Relu/Abs 0, LeakyRelu/PRelu the slope at 0; HardSigmoid/HardSwish closed at the clamps; Elu/Selu/ThresholdedRelu the forward branch', async () => {
    const x = { dims: [3], data: [0, 0, 0] };
    const at = (op: string, attrs: Record<string, AttrInput> = {}) => unitLossGrads((b) => b.op(op, [b.input('x', DataType.DOUBLE, [3])], attrs), { x });
    expect((await at('Relu')).x).toEqual([0, 0, 0]);
    expect((await at('Abs')).x).toEqual([0, 0, 0]);
    expect((await at('LeakyRelu', { alpha: attr.float('alpha', 0.25) })).x).toEqual([0.25, 0.25, 0.25]);
    // The gradient graph of a float32 op at a clamp boundary (run in float32 directly).
    const f32Grads = async (op: string, data: number[], opset: number): Promise<number[]> => {
      const b = new GraphBuilder('kink');
      const y = b.op(op, [b.input('x', DataType.FLOAT, [data.length])]);
      b.output(b.op('ReduceSum', [y], { keepdims: 0 }, { outputNames: ['loss'] }), { dtype: DataType.FLOAT, shape: [] });
      const model = b.model({ opset });
      differentiate(model, { wrt: ['x'], loss: 'loss', inputShapes: { x: [data.length] } });
      const s = await ort.InferenceSession.create(modelToBytes(model));
      const out = await s.run({ x: new ort.Tensor('float32', Float32Array.from(data), [data.length]) });
      await s.release();
      return Array.from(out['grad:x']!.data as Float32Array);
    };
    expect(await f32Grads('HardSigmoid', [-2.5, 2.5, -3, 3], 17)).toEqual([0.2, 0.2, 0, 0].map(Math.fround));
    expect(await f32Grads('HardSwish', [-3, 3, -4, 4], 14)).toEqual([-0.5, 1.5, 0, 1]);
    // Elu (x ≥ 0 branch) and ThresholdedRelu (x > alpha) follow the forward's branch at the kink; Selu too (x ≤ 0).
    expect(await f32Grads('Elu', [0, 0], 17)).toEqual([1, 1]);
    expect(await f32Grads('ThresholdedRelu', [1, 1], 17)).toEqual([0, 0]);
    const selu = await f32Grads('Selu', [0, 0], 17);
    expect(selu[0]).toBeCloseTo(1.67326319217681884765625 * 1.05070102214813232421875, 6);
    const prelu = await unitLossGrads((b) => b.op('PRelu', [b.input('x', DataType.DOUBLE, [2]), b.input('s', DataType.DOUBLE, [])]), {
      x: { dims: [2], data: [0, 0] },
      s: { dims: [], data: [0.25] },
    });
    expect(prelu).toEqual({ x: [0.25, 0.25], s: [0] });
  });
});

/** n distinct values in (-1, 1), 2/n apart, in a seeded random order (no ties for Hardmax). */
function distinctValues(rnd: Rnd, n: number): number[] {
  const v = Array.from({ length: n }, (_, i) => -1 + (2 * i + 1) / n);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [v[i], v[j]] = [v[j]!, v[i]!];
  }
  return v;
}

// onnxruntime's CPU Hardmax is float32-only. Its values are 2/n ≥ 0.03 apart (n ≤ 64), so
// the default float32 step (1e-2, |v| ≤ 1) changes no argmax.
describe('autodiff elementwise: Hardmax (float32)', () => {
  const cases: { dims: number[]; axis?: number; opset: number }[] = [
    { dims: [3, 5], opset: 13 },
    { dims: [2, 3, 4], axis: 1, opset: 13 },
    { dims: [4, 2, 3], axis: -3, opset: 17 },
    // opset < 13: the input is coerced to 2-D at the axis
    { dims: [2, 3, 4], axis: 1, opset: 11 },
  ];
  for (const { dims, axis, opset } of cases) {
    it(`Hardmax [${dims}]${axis === undefined ? '' : ` axis ${axis}`}, opset ${opset}: zero gradient (checked through y · x)`, async () => {
      const rnd = xorshift32(40 + dims.length + (axis ?? 0));
      const inputs = { x: { dims, data: distinctValues(rnd, count(dims)) } };
      await expectGradOk({
        build(b, dt) {
          const [x] = declare(b, dt, inputs);
          return b.op('Mul', [b.op('Hardmax', [x!], axis === undefined ? {} : { axis }), x!]);
        },
        inputs,
        dtype: 'float32',
        opset,
      });
    });
  }

  it('Hardmax alone gives zeros', async () => {
    const b = new GraphBuilder('hardmax');
    const y = b.op('Hardmax', [b.input('x', DataType.FLOAT, [2, 3])], { axis: -1 });
    b.output(b.op('ReduceSum', [b.op('Mul', [y, b.init('r', DataType.FLOAT, [2, 3], [1, 2, 3, 4, 5, 6])])], { keepdims: 0 }, { outputNames: ['loss'] }), { dtype: DataType.FLOAT, shape: [] });
    const model = b.model({ opset: 13 });
    differentiate(model, { wrt: ['x'], loss: 'loss', inputShapes: { x: [2, 3] } });
    const s = await ort.InferenceSession.create(modelToBytes(model));
    const out = await s.run({ x: new ort.Tensor('float32', Float32Array.from([0.1, 0.5, -0.2, 0.3, -0.4, 0.2]), [2, 3]) });
    await s.release();
    expect(Array.from(out['grad:x']!.data as Float32Array)).toEqual([0, 0, 0, 0, 0, 0]);
  });
});

/** The element of a tensor of `dims` that broadcasting reads for output index `flat` of `out`. */
function broadcastIndex(flat: number, out: number[], dims: number[]): number {
  let idx = 0;
  let stride = 1;
  let rest = flat;
  for (let i = out.length - 1; i >= 0; i--) {
    const o = rest % out[i]!;
    rest = Math.floor(rest / out[i]!);
    const j = i - (out.length - dims.length);
    if (j < 0) continue;
    idx += (dims[j] === 1 ? 0 : o) * stride;
    stride *= dims[j]!;
  }
  return idx;
}

describe('autodiff elementwise: Mod with fmod=1', () => {
  // a / b is kept ≥ 0.02 away from integers at every broadcast pair (there y jumps along b).
  const modInputs = (seed: number, da: number[], db: number[]) => {
    const rank = Math.max(da.length, db.length);
    const pad = (d: number[]) => [...new Array<number>(rank - d.length).fill(1), ...d];
    const out = pad(da).map((d, i) => Math.max(d, pad(db)[i]!));
    const rnd = xorshift32(seed);
    for (;;) {
      const a = sample(rnd, da, -3, 3);
      const bv = signedMagnitude(rnd, db, 0.4, 1.5);
      const ok = Array.from({ length: count(out) }, (_, k) => a[broadcastIndex(k, out, da)]! / bv[broadcastIndex(k, out, db)]!).every((q) => Math.abs(q - Math.round(q)) >= 0.02);
      if (ok) return { a: { dims: da, data: a }, b: { dims: db, data: bv } };
    }
  };
  for (const dtype of ['float64', 'float32'] as FloatKind[]) {
    for (const [pattern, da, db] of broadcastPatterns(dtype === 'float64' ? 210 : 211)) {
      it(`Mod (${dtype}), ${pattern}: [${da}] mod [${db}]`, async () => {
        const inputs = modInputs(da.length * 7 + db.length, da, db);
        // float32: the quotient's jumps are ≥ 0.02·|b| ≥ 0.008 away; the step 1e-3 (|v| ≤ 1) stays clear.
        await expectGradOk({ build: (b, dt) => b.op('Mod', declare(b, dt, inputs), { fmod: 1 }), inputs, dtype, ...(dtype === 'float32' ? { h: 1e-3 } : {}) });
      });
    }
  }

  it('negative operands and quotients beyond 1 (db = −dy · trunc(a/b))', async () => {
    const g = await unitLossGrads((b) => b.op('Mod', [b.input('a', DataType.DOUBLE, [4]), b.input('b', DataType.DOUBLE, [4])], { fmod: 1 }), {
      a: { dims: [4], data: [7.5, -7.5, 7.5, -0.3] },
      b: { dims: [4], data: [2, 2, -2, 0.7] },
    });
    expect(g.a).toEqual([1, 1, 1, 1]);
    expect(g.b!.map((v) => v + 0)).toEqual([-3, 3, 3, 0]); // (+ 0: −0 is 0)
  });

  it('fmod=0 on floating-point inputs is an E_AUTODIFF error', () => {
    const b = new GraphBuilder('mod');
    const y = b.op('Mod', [b.input('x', DataType.DOUBLE, [3]), b.init('m', DataType.DOUBLE, [], [0.7])], {}, { name: 'int_style_mod' });
    b.output(b.op('ReduceSum', [y], { keepdims: 0 }, { outputNames: ['loss'] }), { dtype: DataType.DOUBLE, shape: [] });
    const err = differentiateError(b.model(), { wrt: ['x'], loss: 'loss', inputShapes: { x: [3] } });
    expect(err.code).toBe('E_AUTODIFF');
    expect(err.message).toMatch(/int_style_mod.*fmod=0/);
  });
});

describe('autodiff elementwise: PRelu, Clip, Where', () => {
  const rnd0 = xorshift32(77);
  const [p, q, r] = [dim(rnd0), dim(rnd0), dim(rnd0)];
  for (const slopeDims of [[], [r], [q, 1], [1, q, 1], [p, q, r]]) {
    it(`PRelu with slope [${slopeDims}] broadcast to x [${[p, q, r]}]`, async () => {
      const rnd = xorshift32(slopeDims.length + 1);
      const inputs = {
        x: { dims: [p, q, r], data: sample(rnd, [p, q, r], -1, 1, [0]) },
        slope: { dims: slopeDims, data: sample(rnd, slopeDims, -1, 1) },
      };
      await expectGradOk({ build: (b, dt) => b.op('PRelu', declare(b, dt, inputs)), inputs });
    });
  }

  const lo = -0.3;
  const hi = 0.4;
  const clipCases: { name: string; bounds: ('lo' | 'hi' | null)[]; lo?: number; hi?: number; opset?: number }[] = [
    { name: 'no bounds', bounds: [] },
    { name: 'min only', bounds: ['lo'] },
    { name: 'max only (min empty)', bounds: [null, 'hi'] },
    { name: 'min and max', bounds: ['lo', 'hi'] },
    { name: 'min and max, opset 13', bounds: ['lo', 'hi'], opset: 13 },
    { name: 'min > max (output is max everywhere)', bounds: ['lo', 'hi'], lo: 0.5, hi: -0.2 },
  ];
  for (const cc of clipCases) {
    it(`Clip, ${cc.name}, gradients to x and the bounds`, async () => {
      const rnd = xorshift32(cc.bounds.length + (cc.opset ?? 0));
      const l = cc.lo ?? lo;
      const h = cc.hi ?? hi;
      const inputs: Record<string, GradCheckInput> = { x: { dims: [3, 4], data: sample(rnd, [3, 4], -1, 1, [l, h], 0.02) } };
      for (const bnd of cc.bounds) if (bnd) inputs[bnd] = { dims: [], data: [bnd === 'lo' ? l : h] };
      await expectGradOk({
        build(b, dt) {
          const vs = declare(b, dt, inputs);
          const x = vs[0]!;
          const byName = new Map(vs.map((v) => [v.name, v]));
          return b.op('Clip', [x, ...cc.bounds.map((n) => (n ? byName.get(n)! : null))]);
        },
        inputs,
        ...(cc.opset ? { opset: cc.opset } : {}),
      });
    });
  }

  it('Clip passes the gradient on the closed interval [min, max]', async () => {
    const build = (b: GraphBuilder) => b.op('Clip', ['x', 'lo', 'hi'].map((n) => b.input(n, DataType.DOUBLE, n === 'x' ? [5] : [])));
    const g = await unitLossGrads(build, { x: { dims: [5], data: [-0.3, 0.4, 0, -1, 1] }, lo: { dims: [], data: [-0.3] }, hi: { dims: [], data: [0.4] } });
    expect(g).toEqual({ x: [1, 1, 1, 0, 0], lo: [1], hi: [1] });
    const crossed = await unitLossGrads(build, { x: { dims: [5], data: [-0.3, 0.4, 0, -1, 1] }, lo: { dims: [], data: [0.5] }, hi: { dims: [], data: [-0.5] } });
    expect(crossed).toEqual({ x: [0, 0, 0, 0, 0], lo: [0], hi: [5] });
  });

  it('Clip with constant bounds (the x == y fast path) keeps the closed-interval convention and matches finite differences', async () => {
    for (const [lo, hi] of [[-0.3, 0.4], [null, 0.2], [-0.1, null]] as const) {
      const build = (b: GraphBuilder, n = 5) => {
        const x = b.input('x', DataType.DOUBLE, [n]);
        const bound = (name: string, v: number | null) => (v === null ? null : b.init(name, DataType.DOUBLE, [], [v]));
        return b.op('Clip', [x, bound('lo', lo), bound('hi', hi)]);
      };
      const g = await unitLossGrads(build, { x: { dims: [5], data: [-0.3, 0.4, 0, -1, 1] } });
      const inside = (v: number) => (lo === null || v >= lo) && (hi === null || v <= hi);
      expect(g, `[${lo}, ${hi}]`).toEqual({ x: [-0.3, 0.4, 0, -1, 1].map((v) => (inside(v) ? 1 : 0)) });
      await expectGradOk({ build: (b) => build(b, 7), inputs: { x: { dims: [7], data: [-0.9, -0.5, -0.05, 0.1, 0.25, 0.6, 1.2] } } });
    }
  });

  const whereCases: [string, number[], number[], number[]][] = [
    ['all broadcast', [p, 1, r], [q, 1], []],
    ['scalar condition', [], [p, q], [p, q]],
    ['size-1 axes on the values', [p, q], [1, q], [p, 1]],
  ];
  for (const [name, dc, dx, dy] of whereCases) {
    it(`Where, ${name}: cond [${dc}], x [${dx}], y [${dy}]`, async () => {
      const rnd = xorshift32(dc.length * 10 + dx.length);
      const inputs = { c: { dims: dc, data: sample(rnd, dc, -1, 1, [0]) }, x: { dims: dx, data: sample(rnd, dx, -1, 1) }, y: { dims: dy, data: sample(rnd, dy, -1, 1) } };
      await expectGradOk({
        build(b, dt) {
          const [c, x, y] = declare(b, dt, inputs);
          return b.op('Where', [b.op('Greater', [c!, b.init('zero', dt, [], [0])]), x!, y!]);
        },
        inputs,
        wrt: ['x', 'y'],
      });
    });
  }

  it('Where gives the condition no gradient (its source differentiates to zero, no error)', async () => {
    const rnd = xorshift32(12);
    const inputs = { c: { dims: [2, 3], data: sample(rnd, [2, 3], -1, 1, [0]) }, x: { dims: [2, 3], data: sample(rnd, [2, 3], -1, 1) } };
    const r = await gradCheck({
      build(b, dt) {
        const [c, x] = declare(b, dt, inputs);
        return b.op('Where', [b.op('Greater', [c!, x!]), x!, c!]);
      },
      inputs,
    });
    expect(r.ok, describeFailures(r)).toBe(true);
    expect(r.checks.length).toBe(6);
  });
});

describe('autodiff elementwise: Cast and CastLike', () => {
  it('float32 → float64 → float32 casts the gradient back (float32 case)', async () => {
    const rnd = xorshift32(21);
    const inputs = { x: { dims: [2, 3], data: sample(rnd, [2, 3], -1, 1) } };
    await expectGradOk({
      build(b, dt) {
        const [x] = declare(b, dt, inputs);
        const wide = b.op('Cast', [x!], { to: DataType.DOUBLE });
        return b.op('Cast', [b.op('Exp', [wide])], { to: DataType.FLOAT });
      },
      inputs,
      dtype: 'float32',
    });
  });

  it('float64 → float32 → float64 (a linear function, so a large step sees past the rounding)', async () => {
    const rnd = xorshift32(22);
    const inputs = { x: { dims: [4], data: sample(rnd, [4], -1, 1) } };
    await expectGradOk({
      build(b, dt) {
        const [x] = declare(b, dt, inputs);
        const narrow = b.op('Mul', [b.op('Cast', [x!], { to: DataType.FLOAT }), b.init('three', DataType.FLOAT, [], [3])]);
        return b.op('Cast', [narrow], { to: DataType.DOUBLE });
      },
      inputs,
      h: 1e-2,
      atol: 1e-4,
      rtol: 1e-4,
    });
  });

  it('a cast to int64 carries no gradient (the other path still does)', async () => {
    const rnd = xorshift32(23);
    const data = sample(rnd, [5], 0.1, 0.9).map((v, i) => v + i - 2);
    const inputs = { x: { dims: [5], data } };
    await expectGradOk({
      build(b, dt) {
        const [x] = declare(b, dt, inputs);
        const back = b.op('Cast', [b.op('Cast', [x!], { to: DataType.INT64 })], { to: DataType.DOUBLE });
        return b.op('Add', [b.op('Mul', [back, x!]), x!]);
      },
      inputs,
    });
  });

  it('CastLike float32 → float64 → float32, opset 15', async () => {
    const rnd = xorshift32(24);
    const inputs = { x: { dims: [3, 2], data: sample(rnd, [3, 2], -1, 1) } };
    await expectGradOk({
      build(b, dt) {
        const [x] = declare(b, dt, inputs);
        const wide = b.op('CastLike', [x!, b.init('like64', DataType.DOUBLE, [], [0])]);
        return b.op('CastLike', [b.op('Sin', [wide]), x!]);
      },
      inputs,
      dtype: 'float32',
      opset: 15,
    });
  });
});

describe('autodiff elementwise: ops without a rule', () => {
  /** `build` returns the scalar loss; differentiating w.r.t. x must fail on `op` / `node`. */
  const expectNoRule = (build: (b: GraphBuilder, x: Value) => Value, op: string, node: string): void => {
    const b = new GraphBuilder('norule');
    const loss = build(b, b.input('x', DataType.FLOAT, [2, 3]));
    b.output(loss, { dtype: DataType.FLOAT, shape: [] });
    const model = b.model();
    const se = differentiateError(model, { wrt: ['x'], loss: loss.name, inputShapes: { x: [2, 3] } });
    expect(se.code).toBe('E_AUTODIFF');
    expect(se.message).toContain(op);
    expect(se.message).toContain(node);
  };
  const sum = (b: GraphBuilder, v: Value): Value => b.op('ReduceSum', [v], { keepdims: 0 });

  it('a made-up op on the path is E_AUTODIFF naming the op and the node', () => {
    // The unknown op comes last: shape inference cannot see through it, and the loss keeps its declared type.
    expectNoRule((b, x) => b.op('Frobnicate', [sum(b, b.op('Exp', [x]))], {}, { name: 'frob_1' }), 'Frobnicate', 'frob_1');
  });

  it('a standard op without a rule (Det) is E_AUTODIFF naming the node', () => {
    expectNoRule((b, x) => b.op('Det', [b.op('MatMul', [x, b.op('Transpose', [x])])], {}, { name: 'gram_det' }), 'Det', 'gram_det');
  });
});
