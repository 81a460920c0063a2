// Gradient rules for the ONNX loss operators NegativeLogLikelihoodLoss and
// SoftmaxCrossEntropyLoss, checked against central finite differences in float64
// (onnxruntime CPU has double kernels for both, and for every op their gradients emit), with
// respect to the input / scores and the class weights, on seeded random shapes ([N, C] and
// [N, C, d1, …, dk]), every reduction, with and without weights, and ignore_index absent,
// hitting some targets (a class, a negative value, a value above C). SoftmaxCrossEntropyLoss
// is also checked with its log_prob output in the loss, alone or with the loss output. A
// mean over no targets is NaN in onnxruntime, and so is its gradient.
//
// splitc has no shape rule for these ops, so the tests declare their output types, as a
// model file does.

import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import { type Dim, type Model, tensorType, type Value } from '../../../src/ir/graph.js';
import { modelToBytes } from '../../../src/ir/serde/io.js';
import { assertValid } from '../../../src/ir/verify.js';
import { differentiate } from '../../../src/passes/autodiff/index.js';
import { xorshift32 } from '../../helpers/onnx-oracle.js';
import { describeFailures, gradCheck, type GradCheckCase, type GradCheckInput, differentiateError } from './gradcheck.js';

const rnd = xorshift32(20261124);
/** A random integer in [lo, hi]. */
const int = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
const count = (dims: number[]): number => dims.reduce((a, d) => a * d, 1);

type LossOp = 'NegativeLogLikelihoodLoss' | 'SoftmaxCrossEntropyLoss';
type Reduction = 'none' | 'sum' | 'mean' | 'default';
/** Which SoftmaxCrossEntropyLoss outputs the checked value is made of. */
type Use = 'loss' | 'log_prob' | 'both';

/** ignore_index variants: none, a class (in range), a negative value, a value above every class. */
const IGNORES = ['none', 'class', 'negative', 'high'] as const;
type Ignore = (typeof IGNORES)[number];

interface LossSpec {
  op: LossOp;
  /** [N, C, d1, …, dk] */
  dims: number[];
  reduction: Reduction;
  weighted: boolean;
  ignore: Ignore;
  use?: Use;
  opset?: number;
  targetType?: 'int64' | 'int32';
}

/** Random [N, C, d1…dk] with k extra dims. */
function randomDims(k: number): number[] {
  return [int(2, 4), int(2, 5), ...Array.from({ length: k }, () => int(1, 3))];
}

function ignoreValue(spec: LossSpec): number | undefined {
  const C = spec.dims[1]!;
  switch (spec.ignore) {
    case 'none':
      return undefined;
    case 'class':
      return int(0, C - 1);
    case 'negative':
      return -int(1, 100);
    case 'high':
      return C + int(0, 5);
  }
}

/**
 * Random classes in [0, C); with an ignore_index, about a quarter of the positions (at least
 * one) are set to it and at least one is not.
 */
function randomTargets(n: number, C: number, ignore: number | undefined): number[] {
  const t = Array.from({ length: n }, () => int(0, C - 1));
  if (ignore === undefined) return t;
  for (let i = 0; i < n; i++) if (i === 0 || rnd() < 0.25) t[i] = ignore;
  if (n > 1) {
    do t[n - 1] = int(0, C - 1);
    while (t[n - 1] === ignore);
  }
  return t;
}

/** The loss node with declared output types; returns [output, log_prob | undefined]. */
function lossNode(b: GraphBuilder, dt: DataType, spec: LossSpec, ignore: number | undefined): [Value, Value | undefined] {
  const [N, C, ...d] = spec.dims as [number, number, ...number[]];
  const x = b.input('x', dt, spec.dims);
  const t = b.input('t', spec.targetType === 'int32' ? DataType.INT32 : DataType.INT64, [N, ...d]);
  const inputs = [x, t];
  if (spec.weighted) inputs.push(b.input('w', dt, [C]));
  const attrs: Record<string, string | number> = {};
  if (spec.reduction !== 'default') attrs.reduction = spec.reduction;
  if (ignore !== undefined) attrs.ignore_index = ignore;
  const withLogProb = spec.op === 'SoftmaxCrossEntropyLoss' && spec.use !== undefined && spec.use !== 'loss';
  const outs = b.opMulti(spec.op, inputs, withLogProb ? 2 : 1, attrs);
  outs[0]!.type = tensorType(dt, spec.reduction === 'none' ? [N, ...d] : []);
  if (withLogProb) outs[1]!.type = tensorType(dt, [...spec.dims]);
  return [outs[0]!, outs[1]];
}

function flat(b: GraphBuilder, v: Value): Value {
  return b.op('Reshape', [v, b.init(`${v.name}_flat_shape`, DataType.INT64, [1], [-1])]);
}

function lossCase(spec: LossSpec): GradCheckCase {
  const [N, C, ...d] = spec.dims as [number, number, ...number[]];
  const ignore = ignoreValue(spec);
  const positions = N * count(d);
  const inputs: Record<string, GradCheckInput> = {
    x: { dims: spec.dims },
    t: { dims: [N, ...d], type: spec.targetType ?? 'int64', data: randomTargets(positions, C, ignore) },
  };
  // Positive weights keep a mean's denominator away from 0.
  if (spec.weighted) inputs.w = { dims: [C], data: Array.from({ length: C }, () => 0.5 + rnd()) };
  return {
    opset: spec.opset ?? 13,
    inputs,
    build(b, dt) {
      const [y, logp] = lossNode(b, dt, spec, ignore);
      if (spec.use === 'log_prob') return logp!;
      if (spec.use === 'both') return b.op('Concat', [flat(b, y), flat(b, logp!)], { axis: 0 });
      return y;
    },
  };
}

function describeSpec(s: LossSpec): string {
  return `${s.op} [${s.dims.join(',')}] reduction=${s.reduction} ${s.weighted ? 'weighted' : 'unweighted'} ignore=${s.ignore}${s.use ? ` use=${s.use}` : ''}`;
}

async function expectGrads(spec: LossSpec): Promise<void> {
  const r = await gradCheck(lossCase(spec));
  const what = describeSpec(spec);
  expect(r.ok, `${what}: ${describeFailures(r)}`).toBe(true);
  expect(r.checks.length, what).toBe(spec.weighted ? 6 : 3);
  // A rule emitting zeros would pass against a flat function only: these losses are not flat.
  expect(
    r.checks.some((x) => Math.abs(x.numeric) > 1e-3),
    what,
  ).toBe(true);
}

const REDUCTIONS: Reduction[] = ['none', 'sum', 'mean', 'default'];

describe('NegativeLogLikelihoodLoss', () => {
  for (const reduction of REDUCTIONS) {
    for (const weighted of [false, true]) {
      it(`reduction=${reduction}, ${weighted ? 'with' : 'without'} weights: every ignore_index variant, k = 0…3 extra dims`, async () => {
        for (const ignore of IGNORES) {
          for (const k of [0, 1, int(2, 3)]) await expectGrads({ op: 'NegativeLogLikelihoodLoss', dims: randomDims(k), reduction, weighted, ignore });
        }
      });
    }
  }

  it('opsets 12 (raised to 13) and 22, int32 targets', async () => {
    for (const opset of [12, 22]) {
      await expectGrads({ op: 'NegativeLogLikelihoodLoss', dims: randomDims(2), reduction: 'mean', weighted: true, ignore: 'class', opset });
    }
    await expectGrads({ op: 'NegativeLogLikelihoodLoss', dims: randomDims(1), reduction: 'mean', weighted: true, ignore: 'negative', targetType: 'int32' });
    await expectGrads({ op: 'NegativeLogLikelihoodLoss', dims: randomDims(0), reduction: 'none', weighted: false, ignore: 'class', targetType: 'int32' });
  });
});

describe('SoftmaxCrossEntropyLoss', () => {
  for (const reduction of REDUCTIONS) {
    for (const weighted of [false, true]) {
      it(`reduction=${reduction}, ${weighted ? 'with' : 'without'} weights: every ignore_index variant, the loss and/or log_prob in the loss`, async () => {
        for (const ignore of IGNORES) {
          for (const use of ['loss', 'log_prob', 'both'] as const) {
            await expectGrads({ op: 'SoftmaxCrossEntropyLoss', dims: randomDims(int(0, 3)), reduction, weighted, ignore, use });
          }
        }
      });
    }
  }

  it('opset 12 (raised to 13), int32 labels', async () => {
    await expectGrads({ op: 'SoftmaxCrossEntropyLoss', dims: randomDims(2), reduction: 'mean', weighted: true, ignore: 'class', use: 'both', opset: 12 });
    await expectGrads({ op: 'SoftmaxCrossEntropyLoss', dims: randomDims(1), reduction: 'sum', weighted: true, ignore: 'negative', use: 'loss', targetType: 'int32' });
  });
});

// ---------------------------------------------------------------- exact values

interface Feed {
  dims: number[];
  data: number[];
  type: 'float64' | 'int64';
}

async function run(model: Model, feeds: Record<string, Feed>): Promise<Record<string, number[]>> {
  const s = await ort.InferenceSession.create(modelToBytes(model), { graphOptimizationLevel: 'disabled' });
  const f = Object.fromEntries(
    Object.entries(feeds).map(([k, v]) => [
      k,
      v.type === 'int64' ? new ort.Tensor('int64', BigInt64Array.from(v.data.map(BigInt)), v.dims) : new ort.Tensor('float64', Float64Array.from(v.data), v.dims),
    ]),
  );
  const out = await s.run(f);
  await s.release();
  return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, Array.from(t.data as Float64Array)]));
}

/** loss = ReduceSum(op(x, t, w)), differentiated w.r.t. x and w; the forward output stays an output. */
function sumLossModel(op: LossOp, xDims: Dim[], tDims: Dim[], attrs: Record<string, string | number>, inputShapes: Record<string, number[]> = {}): Model {
  const b = new GraphBuilder('t');
  const dt = DataType.DOUBLE;
  const x = b.input('x', dt, xDims);
  const t = b.input('t', DataType.INT64, tDims);
  const w = b.input('w', dt, [xDims[1]!]);
  const y = b.op(op, [x, t, w], attrs, { outputNames: ['y'] });
  y.type = tensorType(dt, attrs.reduction === 'none' ? tDims : []);
  b.output(b.op('ReduceSum', [y], { keepdims: 0 }, { outputNames: ['loss'] }));
  b.output(y);
  const m = b.model({ opset: 13 });
  differentiate(m, { wrt: ['x', 'w'], loss: 'loss', inputShapes });
  assertValid(m);
  return m;
}

describe('exact values', () => {
  const dims = [3, 4, 2];
  const x = Array.from({ length: count(dims) }, () => rnd() * 2 - 1);
  const w = [0.5, 1.5, 2, 1];
  const feeds = (t: number[]): Record<string, Feed> => ({
    x: { dims, data: x, type: 'float64' },
    t: { dims: [3, 2], data: t, type: 'int64' },
    w: { dims: [4], data: w, type: 'float64' },
  });

  for (const op of ['NegativeLogLikelihoodLoss', 'SoftmaxCrossEntropyLoss'] as const) {
    it(`${op}: a mean over no targets is NaN, and so is every element of its gradient`, async () => {
      const out = await run(sumLossModel(op, dims, [3, 2], { reduction: 'mean', ignore_index: -1 }), feeds([-1, -1, -1, -1, -1, -1]));
      expect(out.y![0]).toBeNaN();
      expect(out['grad:x']!.every(Number.isNaN)).toBe(true);
      expect(out['grad:w']!.every(Number.isNaN)).toBe(true);
    });

    it(`${op}: a sum over no targets has gradient 0`, async () => {
      const out = await run(sumLossModel(op, dims, [3, 2], { reduction: 'sum', ignore_index: 2 }), feeds([2, 2, 2, 2, 2, 2]));
      expect(out['grad:x']).toEqual(new Array(count(dims)).fill(0));
      expect(out['grad:w']).toEqual([0, 0, 0, 0]);
    });

    it(`${op}: ignored positions get exactly 0 in every class`, async () => {
      const t = [1, 3, 3, 0, 2, 3];
      const out = await run(sumLossModel(op, dims, [3, 2], { reduction: 'none', ignore_index: 3 }), feeds(t));
      const g = out['grad:x']!;
      for (let n = 0; n < 3; n++) {
        for (let j = 0; j < 2; j++) {
          const column = [0, 1, 2, 3].map((c) => g[(n * 4 + c) * 2 + j]!);
          if (t[n * 2 + j] === 3) expect(column).toEqual([0, 0, 0, 0]);
          else expect(column.some((v) => v !== 0)).toBe(true);
        }
      }
      expect(out['grad:w']![3]).toBe(0); // class 3 is only ever ignored
    });
  }

  it('NegativeLogLikelihoodLoss, mean with weights: closed form −w[t]/Σw[t] at each target, (−x[t] − L)/Σw[t] per weight', async () => {
    const t = [0, 2, 1, 1, 3, 0];
    const out = await run(sumLossModel('NegativeLogLikelihoodLoss', dims, [3, 2], { reduction: 'mean', ignore_index: 3 }), feeds(t));
    const kept = t.map((c, i) => ({ c, i })).filter((p) => p.c !== 3);
    const total = kept.reduce((a, p) => a + w[p.c]!, 0);
    const picked = (p: { c: number; i: number }): number => x[(Math.floor(p.i / 2) * 4 + p.c) * 2 + (p.i % 2)]!;
    const L = kept.reduce((a, p) => a - w[p.c]! * picked(p), 0) / total;
    expect(out.y![0]).toBeCloseTo(L, 12);
    const gx = new Array<number>(count(dims)).fill(0);
    const gw = [0, 0, 0, 0];
    for (const p of kept) {
      gx[(Math.floor(p.i / 2) * 4 + p.c) * 2 + (p.i % 2)] = -w[p.c]! / total;
      gw[p.c] = gw[p.c]! + (-picked(p) - L) / total;
    }
    out['grad:x']!.forEach((g, i) => expect(g).toBeCloseTo(gx[i]!, 12));
    out['grad:w']!.forEach((g, i) => expect(g).toBeCloseTo(gw[i]!, 12));
  });
});

describe('symbolic shapes', () => {
  it('a mean over a batch of unknown size divides by its run-time count', async () => {
    const dims = [3, 4, 2];
    const x = Array.from({ length: count(dims) }, () => rnd() * 2 - 1);
    const t = [0, 1, 2, 3, 1, 2];
    const feeds: Record<string, Feed> = { x: { dims, data: x, type: 'float64' }, t: { dims: [3, 2], data: t, type: 'int64' } };
    for (const op of ['NegativeLogLikelihoodLoss', 'SoftmaxCrossEntropyLoss'] as const) {
      // Without weights or ignore_index, the mean's denominator is the target's size.
      const build = (xDims: Dim[], tDims: Dim[], shapes: Record<string, number[]>): Model => {
        const b = new GraphBuilder('t');
        const xv = b.input('x', DataType.DOUBLE, xDims);
        const tv = b.input('t', DataType.INT64, tDims);
        const y = b.op(op, [xv, tv], {}, { outputNames: ['y'] });
        y.type = tensorType(DataType.DOUBLE, []);
        b.output(y);
        const m = b.model({ opset: 13 });
        differentiate(m, { wrt: ['x'], loss: 'y', inputShapes: shapes });
        assertValid(m);
        return m;
      };
      const dynamic = await run(build(['N', 4, 'D'], ['N', 'D'], {}), feeds);
      const fixed = await run(build(dims, [3, 2], {}), feeds);
      expect(dynamic['grad:x']!.length).toBe(count(dims));
      dynamic['grad:x']!.forEach((g, i) => expect(g).toBeCloseTo(fixed['grad:x']![i]!, 14));
      expect(fixed['grad:x']!.some((g) => Math.abs(g) > 1e-3)).toBe(true);
    }
  });
});

describe('errors', () => {
  it('an unknown reduction is a coded error', () => {
    const b = new GraphBuilder('t');
    const x = b.input('x', DataType.DOUBLE, [2, 3]);
    const t = b.input('t', DataType.INT64, [2]);
    const y = b.op('NegativeLogLikelihoodLoss', [x, t], { reduction: 'average' }, { outputNames: ['y'] });
    y.type = tensorType(DataType.DOUBLE, []);
    b.output(y);
    const err = differentiateError(b.model({ opset: 13 }), { wrt: ['x'], loss: 'y' });
    expect(err.code).toBe('E_AUTODIFF');
    expect(err.message).toMatch(/reduction 'average'/);
  });
});
