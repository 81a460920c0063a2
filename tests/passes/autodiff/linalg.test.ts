// Gradient rules for matrix products, reductions, softmax and normalization, checked
// against central finite differences in float64 (onnxruntime CPU runs every one of these
// ops in double, BatchNormalization and LayerNormalization included, and so every op their
// gradients emit: Einsum, CumSum, ReduceProd, EyeLike among them), on seeded random shapes
// and attribute combinations.

import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { attr, GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import type { Value } from '../../../src/ir/graph.js';
import { SplitcError } from '../../../src/ir/errors.js';
import { modelToBytes } from '../../../src/ir/serde/io.js';
import { assertValid } from '../../../src/ir/verify.js';
import { differentiate } from '../../../src/passes/autodiff/index.js';
import { upgradeOpset } from '../../../src/passes/opset.js';
import { xorshift32 } from '../../helpers/onnx-oracle.js';
import { describeFailures, gradCheck, type GradCheckCase } from './gradcheck.js';

const rnd = xorshift32(20240611);
/** A random integer in [lo, hi]. */
const int = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
const positive = (n: number): number[] => Array.from({ length: n }, () => 0.5 + rnd());
const count = (dims: number[]): number => dims.reduce((a, d) => a * d, 1);

/** A random reduction: rank 1–4, a random subset of axes (some negative), keepdims 0/1. */
function randomReduction(): { dims: number[]; axes: number[]; keepdims: number } {
  const rank = int(1, 4);
  const dims = Array.from({ length: rank }, () => int(1, 4));
  const axes = dims.map((_, i) => i).filter(() => rnd() < 0.5).map((a) => (rnd() < 0.5 ? a - rank : a));
  if (axes.length === 0) axes.push(int(-rank, rank - 1));
  return { dims, axes, keepdims: int(0, 1) };
}

async function expectGrads(c: GradCheckCase): Promise<void> {
  const r = await gradCheck(c);
  expect(r.ok, describeFailures(r)).toBe(true);
  expect(r.checks.length).toBeGreaterThan(0);
  // A rule that emitted zeros would pass against a flat function only: the loss is not flat here.
  expect(r.checks.some((x) => Math.abs(x.numeric) > 1e-3)).toBe(true);
}

/** Run `model` (already differentiated) on float64 feeds; every output as a float64 array. */
async function run(model: ReturnType<GraphBuilder['model']>, feeds: Record<string, { dims: number[]; data: number[] }>): Promise<Record<string, number[]>> {
  const s = await ort.InferenceSession.create(modelToBytes(model), { graphOptimizationLevel: 'disabled' });
  const f = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, new ort.Tensor('float64', Float64Array.from(v.data), v.dims)]));
  const out = await s.run(f);
  await s.release();
  return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, Array.from(t.data as Float64Array)]));
}

/** A model whose loss is ReduceSum(y) (so dL/dy = 1), differentiated with respect to `wrt`. */
function sumLossModel(build: (b: GraphBuilder) => Value, wrt: string[], opset = 17, inputShapes = {}): ReturnType<GraphBuilder['model']> {
  const b = new GraphBuilder('t');
  const y = build(b);
  b.output(b.op('ReduceSum', [y], { keepdims: 0 }, { outputNames: ['loss'] }));
  const m = b.model({ opset });
  differentiate(m, { wrt, loss: 'loss', inputShapes });
  assertValid(m);
  return m;
}

function close(actual: number[], expected: number[], tol = 1e-9): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, i) => expect(Math.abs(a - expected[i]!), `element ${i}: ${a} vs ${expected[i]}`).toBeLessThanOrEqual(tol * (1 + Math.abs(expected[i]!))));
}

describe('Gemm', () => {
  const cForms: [string, (m: number, n: number) => number[] | null][] = [
    ['no C', () => null],
    ['scalar C', () => []],
    ['C [1]', () => [1]],
    ['C [N]', (_m, n) => [n]],
    ['C [1,N]', (_m, n) => [1, n]],
    ['C [M,1]', (m) => [m, 1]],
    ['C [M,N]', (m, n) => [m, n]],
  ];
  for (const transA of [0, 1]) {
    for (const transB of [0, 1]) {
      it(`transA=${transA} transB=${transB}, alpha/beta ≠ 1, every C broadcast`, async () => {
        for (const [, cDims] of cForms) {
          const [M, K, N] = [int(2, 4), int(2, 4), int(2, 5)];
          const aDims = transA ? [K, M] : [M, K];
          const bDims = transB ? [N, K] : [K, N];
          const cd = cDims(M, N);
          await expectGrads({
            build(b, dt) {
              const A = b.input('A', dt, aDims);
              const B = b.input('B', dt, bDims);
              const C = cd ? b.input('C', dt, cd) : null;
              return b.op('Gemm', C ? [A, B, C] : [A, B], { transA, transB, alpha: attr.float('alpha', 0.7), beta: attr.float('beta', -1.3) });
            },
            inputs: { A: { dims: aDims }, B: { dims: bDims }, ...(cd ? { C: { dims: cd } } : {}) },
          });
        }
      });
    }
  }

  it('with default alpha and beta, at opset 13', async () => {
    await expectGrads({
      build: (b, dt) => b.op('Gemm', [b.input('A', dt, [3, 2]), b.input('B', dt, [2, 4]), b.input('C', dt, [4])]),
      inputs: { A: { dims: [3, 2] }, B: { dims: [2, 4] }, C: { dims: [4] } },
      opset: 13,
    });
  });
});

describe('MatMul', () => {
  const cases: [string, number[], number[]][] = [
    ['1-D × 1-D', [4], [4]],
    ['1-D × 2-D', [3], [3, 4]],
    ['2-D × 1-D', [2, 3], [3]],
    ['2-D × 2-D', [2, 3], [3, 4]],
    ['linear layer: 3-D × 2-D', [2, 3, 4], [4, 5]],
    ['4-D × 2-D', [2, 2, 3, 4], [4, 2]],
    ['2-D × batched 3-D', [2, 3], [4, 3, 2]],
    ['1-D × batched 3-D', [3], [2, 3, 4]],
    ['batched 3-D × 1-D', [2, 4, 3], [3]],
    ['equal batch dims', [2, 3, 4], [2, 4, 3]],
    ['broadcast batch dims [2,1] × [3]', [2, 1, 3, 4], [3, 4, 2]],
    ['broadcast batch dims [1,3] × [2,1]', [1, 3, 2, 4], [2, 1, 4, 3]],
    ['batch dim 1 × batch dim 3', [1, 2, 3], [3, 3, 2]],
  ];
  for (const [name, aDims, bDims] of cases) {
    it(name, async () => {
      await expectGrads({
        build: (b, dt) => b.op('MatMul', [b.input('A', dt, aDims), b.input('B', dt, bDims)]),
        inputs: { A: { dims: aDims }, B: { dims: bDims } },
      });
    });
  }

  it('the linear-layer form computes the weight gradient with one Gemm', async () => {
    const r = await gradCheck({
      build: (b, dt) => b.op('MatMul', [b.input('A', dt, [2, 3, 4]), b.input('W', dt, [4, 5])]),
      inputs: { A: { dims: [2, 3, 4] }, W: { dims: [4, 5] } },
      wrt: ['W'],
    });
    expect(r.ok, describeFailures(r)).toBe(true);
    const ops = r.gradModel.graph.nodes.toArray().map((n) => n.opType);
    expect(ops).toContain('Gemm');
    expect(ops.filter((o) => o === 'MatMul').length).toBe(1); // the forward one
  });
});

describe('Reduce*', () => {
  // Ops, with the data they need (LogSum wants a positive sum).
  const ops: [string, boolean][] = [
    ['ReduceSum', false],
    ['ReduceMean', false],
    ['ReduceMax', false],
    ['ReduceMin', false],
    ['ReduceSumSquare', false],
    ['ReduceL2', false],
    ['ReduceL1', false],
    ['ReduceLogSum', true],
    ['ReduceLogSumExp', false],
  ];


  for (const [op, needsPositive] of ops) {
    for (const opset of [13, 18]) {
      // ReduceSum takes axes as an input from 13, the others from 18.
      const axesAsInput = op === 'ReduceSum' ? opset >= 13 : opset >= 18;
      it(`${op} at opset ${opset}: random axes (negative too), keepdims 0/1, all axes`, async () => {
        const cases = [randomReduction(), randomReduction(), randomReduction(), { dims: [2, 3], axes: [] as number[], keepdims: 0 }, { dims: [3, 2, 2], axes: [] as number[], keepdims: 1 }];
        for (const { dims, axes, keepdims } of cases) {
          await expectGrads({
            build(b, dt) {
              const x = b.input('x', dt, dims);
              if (axes.length === 0) return b.op(op, [x], { keepdims });
              if (axesAsInput) return b.op(op, [x, b.init('axes', DataType.INT64, [axes.length], axes)], { keepdims });
              return b.op(op, [x], { axes, keepdims });
            },
            inputs: { x: { dims, ...(needsPositive ? { data: positive(count(dims)) } : {}) } },
            opset,
          });
        }
      });
    }
    it(`${op} with noop_with_empty_axes=1 (opset 18) reduces nothing`, async () => {
      const dims = [2, 3];
      await expectGrads({
        build: (b, dt) => b.op(op, [b.input('x', dt, dims)], { keepdims: 0, noop_with_empty_axes: 1 }),
        inputs: { x: { dims, ...(needsPositive ? { data: positive(count(dims)) } : {}) } },
        opset: 18,
      });
    });
  }

  it('ReduceMax/ReduceMin share the gradient equally among tied extrema', async () => {
    // Rows [1, 3, 3] and [2, 2, 0]: the max ties twice in each row, the min once / once.
    const x = [1, 3, 3, 2, 2, 0];
    for (const [op, expected] of [
      ['ReduceMax', [0, 0.5, 0.5, 0.5, 0.5, 0]],
      ['ReduceMin', [1, 0, 0, 0, 0, 1]],
    ] as const) {
      const m = sumLossModel((b) => b.op(op, [b.input('x', DataType.DOUBLE, [2, 3])], { axes: [1], keepdims: 0 }), ['x'], 17);
      const out = await run(m, { x: { dims: [2, 3], data: x } });
      close(out['grad:x']!, [...expected]);
    }
  });

  it('ReduceL2 of an all-zero slice has gradient 0, not NaN', async () => {
    const m = sumLossModel((b) => b.op('ReduceL2', [b.input('x', DataType.DOUBLE, [2, 2])], { axes: [1], keepdims: 1 }), ['x'], 17);
    const out = await run(m, { x: { dims: [2, 2], data: [0, 0, 3, 4] } });
    close(out['grad:x']!, [0, 0, 0.6, 0.8]);
  });

  it('ReduceMean with a dynamic dim counts the reduced elements at run time', async () => {
    const m = sumLossModel((b) => b.op('ReduceMean', [b.input('x', DataType.DOUBLE, ['n', 3])], { axes: [0], keepdims: 0 }), ['x'], 17);
    const out = await run(m, { x: { dims: [4, 3], data: Array.from({ length: 12 }, (_, i) => i) } });
    close(out['grad:x']!, new Array(12).fill(0.25));
  });

  // Axes fed at run time (as the ONNX backend tests feed them): ReduceSum and ReduceMean
  // Unsqueeze dy at those axes and broadcast; empty axes reduce everything, or nothing with
  // noop_with_empty_axes.
  const runtimeAxes: [string, number[], number[], number, number][] = [
    // op, dims, axes, keepdims, noop_with_empty_axes
    ['ReduceSum', [2, 3, 4], [1], 0, 0],
    ['ReduceSum', [2, 3, 4], [-1, 0], 1, 0],
    ['ReduceSum', [3, 4], [], 0, 0],
    ['ReduceSum', [3, 4], [], 1, 1],
    ['ReduceMean', [2, 3, 4], [2, -3], 0, 0],
    ['ReduceMean', [4, 3], [0], 1, 0],
    ['ReduceMean', [3, 2], [], 0, 0],
  ];
  for (const [op, dims, axes, keepdims, noop] of runtimeAxes) {
    it(`${op} with axes [${axes}] fed at run time, keepdims ${keepdims}, noop_with_empty_axes ${noop}`, async () => {
      await expectGrads({
        build: (b, dt) => b.op(op, [b.input('x', dt, dims), b.input('axes', DataType.INT64, [axes.length])], { keepdims, noop_with_empty_axes: noop }),
        inputs: { x: { dims }, axes: { dims: [axes.length], type: 'int64', data: axes } },
        wrt: ['x'],
        opset: 18,
      });
    });
  }

  it('ReduceMax with axes fed at run time is an E_AUTODIFF error', () => {
    const b = new GraphBuilder('t');
    const x = b.input('x', DataType.DOUBLE, [2, 3]);
    const axes = b.input('axes', DataType.INT64, [1]);
    b.output(b.op('ReduceMax', [x, axes], { keepdims: 0 }, { outputNames: ['loss0'] }));
    const y = b.op('ReduceSum', [b.graph.outputs[0]!], { keepdims: 0 }, { outputNames: ['loss'] });
    b.output(y);
    const m = b.model({ opset: 18 });
    expect(() => differentiate(m, { wrt: ['x'], loss: 'loss', inputShapes: { axes: [1] } })).toThrow(/axes are not a constant/);
  });
});

describe('Softmax / LogSoftmax', () => {
  for (const op of ['Softmax', 'LogSoftmax']) {
    for (const opset of [13, 17]) {
      it(`${op} at opset ${opset}: every axis, positive and negative, ranks 1–4`, async () => {
        for (let k = 0; k < 4; k++) {
          const rank = k + 1;
          const dims = Array.from({ length: rank }, () => int(2, 4));
          const axis = int(-rank, rank - 1);
          await expectGrads({
            build: (b, dt) => b.op(op, [b.input('x', dt, dims)], { axis }),
            inputs: { x: { dims } },
            opset,
          });
        }
        // default axis (-1)
        await expectGrads({ build: (b, dt) => b.op(op, [b.input('x', dt, [3, 4])]), inputs: { x: { dims: [3, 4] } }, opset });
      });
    }
  }
});

describe('Softmax below opset 13', () => {
  it('an opset-11 Softmax over the last axis, raised to 13 first, has the opset-13 gradient', async () => {
    // (The pass does this raise itself; here upgradeOpset is called directly. Over another
    // axis the upgrade wraps the op in Flatten/Reshape, whose rules live in rules/tensor.ts.)
    const grads = async (opset: number): Promise<number[]> => {
      const b = new GraphBuilder('t');
      const y = b.op('Softmax', [b.input('x', DataType.DOUBLE, [2, 3, 4])], { axis: 2 });
      b.output(b.op('ReduceSum', [b.op('Mul', [y, b.init('w', DataType.DOUBLE, [4], [1, -2, 3, 0.5])])], { keepdims: 0 }, { outputNames: ['loss'] }));
      const m = b.model({ opset });
      if (opset < 13) upgradeOpset(m, 13);
      differentiate(m, { wrt: ['x'], loss: 'loss' });
      const out = await run(m, { x: { dims: [2, 3, 4], data: Array.from({ length: 24 }, (_, i) => Math.sin(i)) } });
      return out['grad:x']!;
    };
    const old = await grads(11);
    close(old, await grads(13));
    expect(old.some((v) => Math.abs(v) > 1e-3)).toBe(true);
  });
});

describe('BatchNormalization', () => {
  const bnInputs = (dims: number[]) => {
    const C = dims[1]!;
    return { x: { dims }, scale: { dims: [C] }, bias: { dims: [C] }, mean: { dims: [C] }, var: { dims: [C], data: positive(C) } };
  };
  const bnBuild = (dims: number[], attrs: Record<string, ReturnType<typeof attr.float> | number>) => (b: GraphBuilder, dt: DataType) => {
    const C = dims[1]!;
    const ins = [b.input('x', dt, dims), b.input('scale', dt, [C]), b.input('bias', dt, [C]), b.input('mean', dt, [C]), b.input('var', dt, [C])];
    return attrs.training_mode ? b.opMulti('BatchNormalization', ins, 3, attrs)[0]! : b.op('BatchNormalization', ins, attrs);
  };

  for (const opset of [13, 15]) {
    it(`inference mode at opset ${opset}, w.r.t. X, scale, B, input_mean and input_var, ranks 2–5`, async () => {
      for (const dims of [[3, 2], [2, 3, 4], [2, 2, 3, 2], [1, 2, 2, 2, 2]]) {
        await expectGrads({
          build: bnBuild(dims, { epsilon: attr.float('epsilon', 0.01) }),
          inputs: bnInputs(dims),
          opset,
        });
      }
    });
  }

  for (const opset of [14, 15]) {
    it(`training mode (opset ${opset}): w.r.t. X, scale and B with the batch statistics, ranks 2–4`, async () => {
      for (const dims of [[4, 3], [3, 2, 4], [2, 3, 2, 2]]) {
        await expectGrads({
          build: bnBuild(dims, { training_mode: 1, epsilon: attr.float('epsilon', 0.01), momentum: attr.float('momentum', 0.8) }),
          inputs: bnInputs(dims),
          wrt: ['x', 'scale', 'bias'],
          opset,
        });
      }
    });
  }

  it('training mode in float32 (the ResNet case), gradCheck float32 tolerances', async () => {
    // float32: the type models are trained in; a step of 1e-2 and atol 1e-2 / rtol 2e-2 cover
    // float32 rounding of the loss (~1e-7 relative, divided by 2h) and the O(h²) truncation.
    const dims = [4, 3, 3, 3];
    await expectGrads({
      build: bnBuild(dims, { training_mode: 1 }),
      inputs: bnInputs(dims),
      wrt: ['x', 'scale', 'bias'],
      dtype: 'float32',
      opset: 15,
    });
  });

  it('training mode: the running statistics outputs are unchanged by the gradient graph, input_mean/var get zeros', async () => {
    const dims = [3, 2, 2, 2];
    const C = 2;
    const momentum = 0.75;
    const b = new GraphBuilder('t');
    const ins = [b.input('x', DataType.DOUBLE, dims), b.input('scale', DataType.DOUBLE, [C]), b.input('bias', DataType.DOUBLE, [C]), b.input('mean', DataType.DOUBLE, [C]), b.input('var', DataType.DOUBLE, [C])];
    const [y, runMean, runVar] = b.opMulti('BatchNormalization', ins, 3, { training_mode: 1, momentum: attr.float('momentum', momentum) }, { outputNames: ['y', 'running_mean', 'running_var'] });
    b.output(runMean!);
    b.output(runVar!);
    b.output(b.op('ReduceSum', [b.op('Mul', [y!, y!])], { keepdims: 0 }, { outputNames: ['loss'] }));
    const m = b.model({ opset: 15 });
    const feeds = {
      x: { dims, data: Array.from({ length: count(dims) }, () => rnd() * 4 - 2) },
      scale: { dims: [C], data: [0.5, 1.5] },
      bias: { dims: [C], data: [0.1, -0.2] },
      mean: { dims: [C], data: [0.3, -0.4] },
      var: { dims: [C], data: [1.2, 0.7] },
    };
    const before = await run(m, feeds);
    differentiate(m, { wrt: ['x', 'scale', 'bias', 'mean', 'var'], loss: 'loss' });
    assertValid(m);
    const after = await run(m, feeds);
    close(after['running_mean']!, before['running_mean']!, 0);
    close(after['running_var']!, before['running_var']!, 0);
    // And they are the documented update with the population variance.
    for (let ch = 0; ch < C; ch++) {
      const xs = feeds.x.data.filter((_, i) => Math.floor(i / 4) % C === ch);
      const mu = xs.reduce((a, v) => a + v, 0) / xs.length;
      const v = xs.reduce((a, x) => a + (x - mu) ** 2, 0) / xs.length;
      close([after['running_mean']![ch]!], [feeds.mean.data[ch]! * momentum + mu * (1 - momentum)]);
      close([after['running_var']![ch]!], [feeds.var.data[ch]! * momentum + v * (1 - momentum)]);
    }
    close(after['grad:mean']!, [0, 0]);
    close(after['grad:var']!, [0, 0]);
    // Σ dX = 0 per channel for a batch-normalized input (the mean is subtracted).
    for (let ch = 0; ch < C; ch++) {
      const s = after['grad:x']!.filter((_, i) => Math.floor(i / 4) % C === ch).reduce((a, v) => a + v, 0);
      expect(Math.abs(s)).toBeLessThan(1e-9);
    }
  });

  it('training mode with a dynamic batch dim matches the static-shape gradient', async () => {
    const dims = [3, 2, 2];
    const feeds = {
      x: { dims, data: Array.from({ length: 12 }, () => rnd() * 2 - 1) },
      scale: { dims: [2], data: [0.5, 1.5] },
      bias: { dims: [2], data: [0.1, -0.2] },
      mean: { dims: [2], data: [0, 0] },
      var: { dims: [2], data: [1, 1] },
    };
    const grads = async (xDims: (number | string)[]): Promise<Record<string, number[]>> => {
      const m = sumLossModel((b) => {
        const ins = [b.input('x', DataType.DOUBLE, xDims), ...['scale', 'bias', 'mean', 'var'].map((n) => b.input(n, DataType.DOUBLE, [2]))];
        const y = b.opMulti('BatchNormalization', ins, 3, { training_mode: 1 })[0]!;
        return b.op('Mul', [y, b.init('w', DataType.DOUBLE, [2, 1], [1, -2])]);
      }, ['x', 'scale'], 15);
      return run(m, feeds);
    };
    const fixed = await grads(dims);
    const dynamic = await grads(['n', 2, 'w']);
    close(dynamic['grad:x']!, fixed['grad:x']!);
    close(dynamic['grad:scale']!, fixed['grad:scale']!);
  });

  it('a loss on the running statistics is an E_AUTODIFF error', () => {
    const b = new GraphBuilder('t');
    const ins = [b.input('x', DataType.DOUBLE, [2, 2]), ...['scale', 'bias', 'mean', 'var'].map((n) => b.input(n, DataType.DOUBLE, [2]))];
    const [, runMean] = b.opMulti('BatchNormalization', ins, 3, { training_mode: 1 });
    b.output(b.op('ReduceSum', [runMean!], { keepdims: 0 }, { outputNames: ['loss'] }));
    expect(() => differentiate(b.model({ opset: 15 }), { wrt: ['x'], loss: 'loss' })).toThrow(/running statistics/);
  });
});

describe('LayerNormalization', () => {
  const cases: [number[], number, number[]][] = [
    // X dims, axis, Scale/B dims
    [[3, 4], -1, [4]],
    [[2, 3, 4], -1, [4]],
    [[2, 3, 4], 1, [3, 4]],
    [[2, 3, 4], -2, [3, 4]],
    [[2, 3, 4], 0, [2, 3, 4]],
    [[2, 2, 3, 2], 2, [3, 2]],
    [[2, 3, 4], 1, [4]], // Scale/B broadcast over the normalized shape
    [[2, 3, 4], 1, [1, 4]],
  ];
  for (const [dims, axis, sDims] of cases) {
    it(`X ${JSON.stringify(dims)}, axis ${axis}, Scale/B ${JSON.stringify(sDims)}`, async () => {
      await expectGrads({
        build: (b, dt) => b.op('LayerNormalization', [b.input('x', dt, dims), b.input('scale', dt, sDims), b.input('bias', dt, sDims)], { axis, epsilon: attr.float('epsilon', 0.01) }),
        inputs: { x: { dims }, scale: { dims: sDims }, bias: { dims: sDims } },
      });
    });
  }

  it('in float32 (gradCheck float32 tolerances: step 1e-2, atol 1e-2, rtol 2e-2)', async () => {
    await expectGrads({
      build: (b, dt) => b.op('LayerNormalization', [b.input('x', dt, [2, 3, 8]), b.input('scale', dt, [8]), b.input('bias', dt, [8])]),
      inputs: { x: { dims: [2, 3, 8] }, scale: { dims: [8] }, bias: { dims: [8] } },
      dtype: 'float32',
    });
  });

  // The Mean and InvStdDev outputs in the loss as well as Y, or alone. They are float32 (the
  // stash type; onnxruntime has no double one), so the check runs in float32: under float64
  // differences their rounding would be noise.
  for (const [uses, axis] of [['Y, Mean and InvStdDev', 1], ['Mean', -1], ['InvStdDev', 2]] as const) {
    it(`a loss on ${uses} (axis ${axis})`, async () => {
      await expectGrads({
        build: (b, dt) => {
          const [y, mean, invstd] = b.opMulti('LayerNormalization', [b.input('x', dt, [2, 3, 4]), b.input('scale', dt, [...[2, 3, 4].slice(axis < 0 ? 3 + axis : axis)])], 3, { axis, epsilon: attr.float('epsilon', 0.05) });
          const stat = (v: Value, k: number) => b.op('Mul', [b.op('Cast', [v], { to: dt }), b.init(`k${k}`, dt, [], [k])]);
          if (uses === 'Mean') return stat(mean!, 1);
          if (uses === 'InvStdDev') return stat(invstd!, 1);
          return b.op('Add', [y!, b.op('Add', [stat(mean!, 0.7), stat(invstd!, -0.3)])]);
        },
        inputs: { x: { dims: [2, 3, 4] }, scale: { dims: [...[2, 3, 4].slice(axis < 0 ? 3 + axis : axis)] } },
        wrt: ['x'],
        dtype: 'float32',
      });
    });
  }

  it('without B, at opset 18', async () => {
    await expectGrads({
      build: (b, dt) => b.op('LayerNormalization', [b.input('x', dt, [3, 5]), b.input('scale', dt, [5])]),
      inputs: { x: { dims: [3, 5] }, scale: { dims: [5] } },
      opset: 18,
    });
  });
});

/** The SplitcError `f` throws (fails the test when it throws nothing or something else). */
function thrown(f: () => unknown): SplitcError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(SplitcError);
    return e as SplitcError;
  }
  throw new Error('expected an error');
}

describe('ReduceProd', () => {
  // Values away from 0 and of magnitude ~1, so products of up to 64 elements stay O(1).
  const data = (dims: number[]): number[] => Array.from({ length: count(dims) }, () => (rnd() < 0.5 ? -1 : 1) * (0.7 + 0.6 * rnd()));

  for (const opset of [13, 18]) {
    it(`opset ${opset} (axes ${opset >= 18 ? 'input' : 'attribute'}): random axes (negative too), keepdims 0/1, all axes`, async () => {
      const cases = [randomReduction(), randomReduction(), randomReduction(), randomReduction(), { dims: [2, 3], axes: [] as number[], keepdims: 0 }, { dims: [3, 2, 2], axes: [] as number[], keepdims: 1 }];
      for (const { dims, axes, keepdims } of cases) {
        await expectGrads({
          build(b, dt) {
            const x = b.input('x', dt, dims);
            if (axes.length === 0) return b.op('ReduceProd', [x], { keepdims });
            if (opset >= 18) return b.op('ReduceProd', [x, b.init('axes', DataType.INT64, [axes.length], axes)], { keepdims });
            return b.op('ReduceProd', [x], { axes, keepdims });
          },
          inputs: { x: { dims, data: data(dims) } },
          opset,
        });
      }
    });
  }

  it('noop_with_empty_axes=1 (opset 18) reduces nothing', async () => {
    await expectGrads({
      build: (b, dt) => b.op('ReduceProd', [b.input('x', dt, [2, 3])], { keepdims: 0, noop_with_empty_axes: 1 }),
      inputs: { x: { dims: [2, 3] } },
      opset: 18,
    });
  });

  it('is exact with zeros: one zero in a slice gets the product of the others, two zeros give 0', async () => {
    // Rows: no zero, one zero, two zeros, all zeros.
    const x = [1.5, -2, 3, 2, 0, 3, 0, 4, 0, 0, 0, 0];
    const expected = [-6, 4.5, -3, 0, 6, 0, 0, 0, 0, 0, 0, 0];
    for (const opset of [13, 18]) {
      for (const keepdims of [0, 1]) {
        const m = sumLossModel((b) => {
          const xv = b.input('x', DataType.DOUBLE, [4, 3]);
          return opset >= 18 ? b.op('ReduceProd', [xv, b.init('axes', DataType.INT64, [1], [-1])], { keepdims }) : b.op('ReduceProd', [xv], { axes: [-1], keepdims });
        }, ['x'], opset);
        const out = await run(m, { x: { dims: [4, 3], data: x } });
        close(out['grad:x']!, expected);
      }
    }
    // Columns of a [3, 2] (axis 0): [0, 2, 5] has one zero, [3, 0, 0] two.
    const cols = sumLossModel((b) => b.op('ReduceProd', [b.input('x', DataType.DOUBLE, [3, 2])], { axes: [0], keepdims: 1 }), ['x'], 17);
    close((await run(cols, { x: { dims: [3, 2], data: [0, 3, 2, 0, 5, 0] } }))['grad:x']!, [10, 0, 0, 0, 0, 0]);
    // Every axis, one zero in the whole tensor.
    const all = sumLossModel((b) => b.op('ReduceProd', [b.input('x', DataType.DOUBLE, [2, 3])], { keepdims: 0 }), ['x'], 17);
    close((await run(all, { x: { dims: [2, 3], data: [1, 2, 0, 4, 5, 6] } }))['grad:x']!, [0, 0, 240, 0, 0, 0]);
  });

  it('with a dynamic dim', async () => {
    const m = sumLossModel((b) => b.op('ReduceProd', [b.input('x', DataType.DOUBLE, ['n', 3])], { axes: [0], keepdims: 0 }), ['x'], 17);
    close((await run(m, { x: { dims: [2, 3], data: [2, 0, 0, 5, 7, 0] } }))['grad:x']!, [5, 7, 0, 2, 0, 0]);
  });

  it('matches finite differences at points with zeros (one and two per slice)', async () => {
    // The product is multilinear, so central differences are exact up to rounding even at
    // the kinks of the zero-count formula.
    await expectGrads({
      build: (b, dt) => b.op('ReduceProd', [b.input('x', dt, [4, 3])], { axes: [1], keepdims: 0 }),
      inputs: { x: { dims: [4, 3], data: [0.5, 0, 2, 0, 1.5, 0, -1, 2, 0.7, 0, 0, 0] } },
      directions: 5,
    });
  });
});

describe('CumSum', () => {
  for (const opset of [11, 14]) {
    it(`opset ${opset}: random ranks and axes (negative too), exclusive × reverse, int32/int64 scalar/[1] axis`, async () => {
      for (const exclusive of [0, 1]) {
        for (const reverse of [0, 1]) {
          const rank = int(1, 4);
          const dims = Array.from({ length: rank }, () => int(1, 4));
          const axis = int(-rank, rank - 1);
          dims[axis < 0 ? axis + rank : axis] = int(3, 5); // long enough for the four forms to differ
          const axisType = rnd() < 0.5 ? DataType.INT32 : DataType.INT64;
          const axisDims = rnd() < 0.5 ? [] : [1];
          await expectGrads({
            build: (b, dt) => b.op('CumSum', [b.input('x', dt, dims), b.init('axis', axisType, axisDims, [axis])], { exclusive, reverse }),
            inputs: { x: { dims } },
            opset,
          });
        }
      }
    });
  }

  it('the gradient is the flipped cumulative sum of dy (documented examples)', async () => {
    // ∂(Σ_j y_j)/∂x_i is the number of outputs x_i feeds: 1-D x of 4 elements.
    const expected: Record<string, number[]> = {
      '0,0': [4, 3, 2, 1],
      '1,0': [3, 2, 1, 0],
      '0,1': [1, 2, 3, 4],
      '1,1': [0, 1, 2, 3],
    };
    for (const [key, grad] of Object.entries(expected)) {
      const [exclusive, reverse] = key.split(',').map(Number) as [number, number];
      const m = sumLossModel((b) => b.op('CumSum', [b.input('x', DataType.DOUBLE, [4]), b.init('axis', DataType.INT64, [], [0])], { exclusive, reverse }), ['x'], 14);
      close((await run(m, { x: { dims: [4], data: [1, 2, 3, 4] } }))['grad:x']!, grad);
    }
  });

  it('an axis from a Constant node or from folded shape arithmetic is known', async () => {
    await expectGrads({
      build: (b, dt) => b.op('CumSum', [b.input('x', dt, [3, 4]), b.constant('axis', DataType.INT64, [], [-2])], { reverse: 1 }),
      inputs: { x: { dims: [3, 4] } },
    });
    // axis = rank(x) − 1 = Shape(Shape(x)) − 1
    await expectGrads({
      build(b, dt) {
        const x = b.input('x', dt, [2, 4]);
        const rank = b.op('Shape', [b.op('Shape', [x])]);
        return b.op('CumSum', [x, b.op('Sub', [rank, b.init('one', DataType.INT64, [1], [1])])]);
      },
      inputs: { x: { dims: [2, 4] } },
    });
  });

  it('an axis known only at run time (a graph input) is passed through to the gradient', async () => {
    for (const axis of [0, -1, 1]) {
      await expectGrads({
        build: (b, dt) => b.op('CumSum', [b.input('x', dt, [3, 4]), b.input('axis', DataType.INT64, [])], { exclusive: 1 }),
        inputs: { x: { dims: [3, 4] }, axis: { dims: [], type: 'int64', data: [axis] } },
        wrt: ['x'],
      });
    }
  });

  it('a known axis out of range is an E_AUTODIFF error', () => {
    const b = new GraphBuilder('t');
    const y = b.op('CumSum', [b.input('x', DataType.DOUBLE, [2, 3]), b.init('axis', DataType.INT64, [], [2])]);
    b.output(b.op('ReduceSum', [y], { keepdims: 0 }, { outputNames: ['loss'] }));
    const err = thrown(() => differentiate(b.model({ opset: 14 }), { wrt: ['x'], loss: 'loss' }));
    expect(err.code).toBe('E_AUTODIFF');
    expect(err.message).toMatch(/axis \[2\] is not one axis/);
  });
});

describe('Einsum', () => {
  /** Operand dims for `equation`: a random size in [2, 4] per label, `ell` for each '...'. */
  function dimsFor(equation: string, ell: number[][] = []): number[][] {
    const size = new Map<string, number>();
    const lhs = equation.replace(/\s+/g, '').split('->')[0]!;
    return lhs.split(',').map((term, i) => {
      const [before, after] = term.includes('...') ? term.split('...') : [term, null];
      const dimsOf = (s: string): number[] => [...s].map((l) => size.get(l) ?? (size.set(l, int(2, 4)), size.get(l)!));
      return after === null ? dimsOf(before!) : [...dimsOf(before!), ...ell[i]!, ...dimsOf(after)];
    });
  }

  async function checkEinsum(equation: string, dims: number[][]): Promise<void> {
    const names = dims.map((_, i) => `x${i}`);
    await expectGrads({
      build: (b, dt) => b.op('Einsum', names.map((nm, i) => b.input(nm, dt, dims[i]!)), { equation }),
      inputs: Object.fromEntries(names.map((nm, i) => [nm, { dims: dims[i]! }])),
    });
  }

  const plain = [
    'ij,jk->ik', // matmul
    'bij,bjk->bik', // batched matmul
    'ij->', // sum of everything
    'ij->ji', // transpose
    'ij,jk,kl->il', // three operands
    'i,j->ij', // outer product
    'bn,anm,bm->ba', // bilinear
    'ij,jk', // implicit output (ik)
    'ij,k->i', // j and k summed away, each in one operand only
    'i,i->', // inner product
    'ij->j', // column sums
    'iJ,Jk->ki', // upper-case labels
    'ij, jk -> ik', // spaces
    ',ij->ji', // a scalar operand
    'ijk->kij',
  ];
  for (const equation of plain) {
    it(`'${equation}'`, async () => {
      await checkEinsum(equation, dimsFor(equation));
    });
  }

  const diagonals = [
    'ii->i', // diagonal
    'ii', // trace (implicit)
    'ii->', // trace
    'iii->i',
    'jii->ij',
    'ii,ij->j', // a diagonal in one operand of two
    'bii->bi',
    'iij,jk->ik',
  ];
  for (const equation of diagonals) {
    it(`repeated labels: '${equation}'`, async () => {
      await checkEinsum(equation, dimsFor(equation));
    });
  }

  const ellipses: [string, number[][]][] = [
    ['...ij,...jk->...ik', [[2], [2]]],
    ['...ij,...jk', [[2, 3], [2, 3]]], // implicit: ellipsis dims first
    ['...ij,...jk->...ik', [[1], [3]]], // a broadcast ellipsis dim
    ['...ij,...jk->...ik', [[2, 1], [1, 3]]],
    ['i...j,j->i...', [[3, 2], []]],
    ['...ii->...i', [[2]]], // batch diagonal
    ['...i,...i->...', [[2, 3], [1, 3]]],
    ['...i->i...', [[2, 3]]],
  ];
  for (const [equation, ell] of ellipses) {
    it(`ellipsis: '${equation}' with ellipsis dims ${JSON.stringify(ell)}`, async () => {
      await checkEinsum(equation, dimsFor(equation, ell));
    });
  }

  it('a lettered dim of size 1 broadcast against a larger one', async () => {
    await checkEinsum('ij,ij->ij', [[1, 3], [2, 3]]);
    await checkEinsum('ij,jk->ik', [[2, 1], [4, 3]]);
  });

  it('with dynamic dims: the identity of a diagonal and the Expand of a summed-away label are sized at run time', async () => {
    const diag = sumLossModel((b) => b.op('Einsum', [b.input('x', DataType.DOUBLE, ['n', 'n'])], { equation: 'ii->i' }), ['x']);
    close((await run(diag, { x: { dims: [3, 3], data: Array.from({ length: 9 }, (_, i) => i) } }))['grad:x']!, [1, 0, 0, 0, 1, 0, 0, 0, 1]);
    // Σ_ijk x_ij·w_k: each x_ij gets Σw, each w_k gets Σx.
    const m = sumLossModel((b) => b.op('Einsum', [b.input('x', DataType.DOUBLE, ['n', 'm']), b.input('w', DataType.DOUBLE, ['p'])], { equation: 'ij,k->i' }), ['x', 'w']);
    const out = await run(m, { x: { dims: [2, 3], data: [1, 2, 3, 4, 5, 6] }, w: { dims: [4], data: [0.5, -1, 2, 0.25] } });
    close(out['grad:x']!, new Array(6).fill(1.75));
    close(out['grad:w']!, new Array(4).fill(21));
  });

  it('the same value as two operands gets both contributions', async () => {
    const r = await gradCheck({
      build(b, dt) {
        const x = b.input('x', dt, [3, 4]);
        return b.op('Einsum', [x, x], { equation: 'ij,ik->jk' });
      },
      inputs: { x: { dims: [3, 4] } },
    });
    expect(r.ok, describeFailures(r)).toBe(true);
  });

  it('emits one Einsum per operand, with the rearranged equations', async () => {
    const r = await gradCheck({
      build: (b, dt) => b.op('Einsum', [b.input('a', dt, [2, 3]), b.input('b', dt, [3, 4])], { equation: 'ij,jk->ik' }),
      inputs: { a: { dims: [2, 3] }, b: { dims: [3, 4] } },
    });
    expect(r.ok, describeFailures(r)).toBe(true);
    const ops = r.gradModel.graph.nodes.toArray().map((n) => n.opType);
    expect(ops.filter((o) => o === 'Einsum').length).toBe(3);
    const equations = r.gradModel.graph.nodes
      .toArray()
      .filter((n) => n.opType === 'Einsum')
      .map((n) => n.attrString('equation'));
    expect(equations).toEqual(['ij,jk->ik', 'ik,jk->ij', 'ik,ij->jk']);
  });

  it('an implicit equation with upper-case output labels is an E_AUTODIFF error', () => {
    const b = new GraphBuilder('t');
    b.op('Einsum', [b.input('x', DataType.DOUBLE, [2, 3])], { equation: 'iJ' }, { outputNames: ['y'] });
    b.output(b.graph.valuesByName().get('y')!);
    const err = thrown(() => differentiate(b.model({ opset: 17 }), { wrt: ['x'], seeds: { y: 'dy' } }));
    expect(err.code).toBe('E_AUTODIFF');
    expect(err.message).toMatch(/upper-case output labels/);
  });

  it('an ellipsis operand of unknown rank is an E_AUTODIFF error naming the equation', () => {
    const b = new GraphBuilder('t');
    b.op('Einsum', [b.input('x', DataType.DOUBLE, null), b.input('w', DataType.DOUBLE, [3])], { equation: '...i,i->...' }, { outputNames: ['y'] });
    b.output(b.graph.valuesByName().get('y')!);
    const err = thrown(() => differentiate(b.model({ opset: 17 }), { wrt: ['x', 'w'], seeds: { y: 'dy' } }));
    expect(err.code).toBe('E_AUTODIFF');
    expect(err.message).toMatch(/'\.\.\.i,i->\.\.\.'/);
  });
});

// onnxruntime's MeanVarianceNormalization kernel is float-only (and it runs no function body
// for double), so these checks are float32. Slices of a few random elements can have a small
// σ, where the curvature is large: a step of 2e-3 keeps the O(h²) truncation small, and the
// float32 rounding of the loss (~1e-6 absolute, divided by 2h) stays below atol 2e-3 /
// rtol 2e-3, ten times tighter than the float32 defaults. (Against float64 differences of
// the formula the gradient agrees to ~4e-5.)
describe('MeanVarianceNormalization (float32)', () => {
  // Its own generator, so the cases above keep their random draws.
  const rnd = xorshift32(1789);
  const int = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
  const F = { dtype: 'float32' as const, h: 2e-3, atol: 2e-3, rtol: 2e-3, directions: 4 };
  it('default axes [0, 2, 3] on a random 4-D input, at opsets 13 and 9 (raised to 13)', async () => {
    for (const opset of [13, 9]) {
      const dims = [int(1, 3), int(1, 3), int(2, 3), int(1, 3)];
      await expectGrads({ ...F, build: (b, dt) => b.op('MeanVarianceNormalization', [b.input('x', dt, dims)]), inputs: { x: { dims } }, opset });
    }
  });

  for (let k = 0; k < 4; k++) {
    const rank = int(2, 4);
    const dims = Array.from({ length: rank }, () => int(2, 4));
    // A random non-empty subset of the axes, each negative half the time.
    const axes = Array.from({ length: rank }, (_, a) => a).filter(() => rnd() < 0.6);
    if (axes.length === 0) axes.push(int(0, rank - 1));
    const given = axes.map((a) => (rnd() < 0.5 ? a - rank : a));
    it(`x [${dims}], axes [${given}]`, async () => {
      await expectGrads({ ...F, build: (b, dt) => b.op('MeanVarianceNormalization', [b.input('x', dt, dims)], { axes: given }), inputs: { x: { dims } } });
    });
  }

  it('the default axes on a 3-D input are an E_AUTODIFF error', () => {
    const b = new GraphBuilder('t');
    const y = b.op('MeanVarianceNormalization', [b.input('x', DataType.FLOAT, [2, 3, 4])]);
    b.output(b.op('ReduceSum', [y], { keepdims: 0 }, { outputNames: ['loss'] }));
    const err = thrown(() => differentiate(b.model({ opset: 13 }), { wrt: ['x'], loss: 'loss' }));
    expect(err.code).toBe('E_AUTODIFF');
    expect(err.message).toMatch(/axis 3 is out of range for rank 3/);
  });
});
