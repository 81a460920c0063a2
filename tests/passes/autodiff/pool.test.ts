// Gradient rules for MaxPool, AveragePool and the global pools, checked against central
// finite differences through onnxruntime (float32; tolerances in window-helpers.ts) on
// hand-picked and seeded random window geometries.

import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import { type Model, tensorType, Value } from '../../../src/ir/graph.js';
import { modelToBytes } from '../../../src/ir/serde/io.js';
import { differentiate } from '../../../src/passes/autodiff/index.js';
import { describeFailures, type GradCheckCase, gradCheck } from './gradcheck.js';
import { type Attrs, distinct, expectGrad, LINEAR, mixedRandom, numel, PIECEWISE } from './window-helpers.js';

// ---------------------------------------------------------------- pools

interface PoolSpec {
  x: number[];
  attrs: Attrs;
  opset?: number;
}

function poolCase(op: string, s: PoolSpec, outputs = 1): GradCheckCase {
  const piecewise = op.includes('Max');
  return {
    build(b, dt) {
      return b.opMulti(op, [b.input('x', dt, s.x)], outputs, s.attrs)[0]!;
    },
    inputs: { x: { dims: s.x, ...(piecewise ? { data: distinct(numel(s.x), numel(s.x)) } : {}) } },
    ...(piecewise ? PIECEWISE : LINEAR),
    opset: s.opset ?? 17,
  };
}

const poolLabel = (s: PoolSpec): string => `x[${s.x}] ${JSON.stringify(s.attrs)}${s.opset ? ` opset ${s.opset}` : ''}`;

const MAXPOOL_CASES: PoolSpec[] = [
  // ResNet's stem pool: overlapping 3×3 windows, stride 2, pad 1
  { x: [2, 3, 8, 8], attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] } },
  // non-overlapping
  { x: [1, 2, 6, 4], attrs: { kernel_shape: [2, 2], strides: [2, 2] } },
  // stride 1 (heavy overlap), asymmetric pads
  { x: [1, 2, 5, 6], attrs: { kernel_shape: [3, 2], pads: [2, 0, 1, 1] } },
  // dilations, stride 3, ceil_mode
  { x: [1, 2, 9, 8], attrs: { kernel_shape: [2, 3], strides: [3, 2], dilations: [2, 1], ceil_mode: 1, pads: [1, 0, 0, 1] } },
  { x: [2, 2, 7, 7], attrs: { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 } },
  { x: [1, 3, 7, 6], attrs: { kernel_shape: [3, 2], strides: [2, 2], auto_pad: 'SAME_UPPER' } },
  { x: [1, 2, 7, 5], attrs: { kernel_shape: [2, 3], strides: [3, 2], auto_pad: 'SAME_LOWER' } },
  // 1D and 3D
  { x: [2, 3, 11], attrs: { kernel_shape: [3], strides: [2], dilations: [2], pads: [2, 1] } },
  { x: [1, 2, 5, 4, 6], attrs: { kernel_shape: [2, 2, 3], strides: [2, 1, 2], pads: [1, 0, 1, 0, 1, 1] } },
  { x: [1, 2, 6, 6], attrs: { kernel_shape: [3, 3], strides: [2, 2] }, opset: 16 },
  { x: [1, 2, 6, 6], attrs: { kernel_shape: [3, 3], strides: [1, 2], dilations: [2, 1] }, opset: 18 },
];

const AVGPOOL_CASES: PoolSpec[] = [
  { x: [2, 3, 8, 8], attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] } },
  { x: [2, 3, 8, 8], attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], count_include_pad: 1 } },
  { x: [1, 2, 6, 4], attrs: { kernel_shape: [2, 2], strides: [2, 2] } },
  { x: [1, 2, 5, 6], attrs: { kernel_shape: [3, 2], pads: [2, 0, 1, 1], count_include_pad: 1 } },
  // ceil_mode: the last window overhangs the tail pad
  { x: [1, 2, 6, 7], attrs: { kernel_shape: [3, 2], strides: [2, 2], pads: [1, 0, 1, 1], ceil_mode: 1, count_include_pad: 1 } },
  { x: [1, 2, 6, 7], attrs: { kernel_shape: [3, 2], strides: [2, 3], pads: [1, 0, 1, 1], ceil_mode: 1 } },
  { x: [1, 3, 7, 6], attrs: { kernel_shape: [3, 2], strides: [2, 2], auto_pad: 'SAME_UPPER', count_include_pad: 1 } },
  { x: [1, 2, 7, 5], attrs: { kernel_shape: [2, 3], strides: [3, 2], auto_pad: 'SAME_LOWER' } },
  { x: [1, 2, 7, 5], attrs: { kernel_shape: [2, 3], strides: [3, 2], auto_pad: 'VALID' } },
  // dilations (opset 19)
  { x: [1, 2, 9, 8], attrs: { kernel_shape: [2, 3], strides: [3, 2], dilations: [2, 1], ceil_mode: 1, pads: [1, 0, 0, 1], count_include_pad: 1 }, opset: 19 },
  { x: [1, 2, 9, 8], attrs: { kernel_shape: [3, 2], strides: [1, 2], dilations: [2, 2], pads: [2, 1, 1, 0] }, opset: 19 },
  // 1D and 3D
  { x: [2, 3, 11], attrs: { kernel_shape: [3], strides: [2], pads: [2, 1], count_include_pad: 1 } },
  { x: [1, 2, 5, 4, 6], attrs: { kernel_shape: [2, 2, 3], strides: [2, 1, 2], pads: [1, 0, 1, 0, 1, 1], ceil_mode: 1 } },
  { x: [1, 2, 6, 6], attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }, opset: 13 },
];

/** A random valid pool configuration (pads smaller than the kernel, as onnxruntime requires). */
function randomPool(seed: number, avg: boolean): PoolSpec {
  const rnd = mixedRandom(seed);
  const pick = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
  const nsp = pick(1, 3);
  const k: number[] = [];
  const s: number[] = [];
  const d: number[] = [];
  const head: number[] = [];
  const tail: number[] = [];
  const inSp: number[] = [];
  for (let i = 0; i < nsp; i++) {
    k.push(pick(1, 3));
    s.push(pick(1, 3));
    d.push(pick(1, 2));
    head.push(pick(0, k[i]! - 1));
    tail.push(pick(0, k[i]! - 1));
    inSp.push((k[i]! - 1) * d[i]! + 1 + pick(0, nsp === 3 ? 2 : 5));
  }
  // onnxruntime's kernel drops a ceil_mode window that would start in the tail pad, its
  // shape inference does not (the loss model would not load): keep ceil_mode off then.
  const drops = inSp.some((n, i) => {
    const span = n + head[i]! + tail[i]! - (k[i]! - 1) * d[i]! - 1;
    return Math.ceil(span / s[i]!) * s[i]! >= n + head[i]!;
  });
  const attrs: Attrs = { kernel_shape: k, strides: s, dilations: d, pads: [...head, ...tail], ceil_mode: drops ? 0 : pick(0, 1) };
  if (avg) attrs.count_include_pad = pick(0, 1);
  return { x: [pick(1, 2), pick(1, 3), ...inSp], attrs, opset: 19 };
}

describe('MaxPool gradient', () => {
  it.each(MAXPOOL_CASES.map((s) => [poolLabel(s), s] as const))('%s', async (_, s) => {
    await expectGrad(poolCase('MaxPool', s));
  });
  it.each(Array.from({ length: 10 }, (_, i) => randomPool(301 + i, false)).map((s) => [poolLabel(s), s] as const))('random %s', async (_, s) => {
    await expectGrad(poolCase('MaxPool', s));
  });

  it('raises an opset-13 model to 16 for ScatterElements with reduction add', async () => {
    const r = await gradCheck(poolCase('MaxPool', { x: [1, 2, 7, 6], attrs: { kernel_shape: [3, 3], strides: [2, 1], pads: [1, 1, 0, 1] }, opset: 13 }));
    expect(r.ok, describeFailures(r)).toBe(true);
    expect(r.autodiff.opset).toEqual({ from: 13, to: 16 });
  });

  it('adds an Indices output to the forward MaxPool instead of a second pool', async () => {
    const r = await gradCheck(poolCase('MaxPool', MAXPOOL_CASES[0]!));
    const pools = [...r.gradModel.graph.nodes].filter((n) => n.opType === 'MaxPool');
    expect(pools).toHaveLength(1);
    const [y, indices] = pools[0]!.outputs;
    expect(indices!.dtype).toBe(DataType.INT64);
    // Y keeps its name and its consumers (the loss's Mul)
    expect(y!.name).toBe('maxpool_0');
    expect(y!.consumers().map((n) => n.opType)).toContain('Mul');
  });

  it('uses an existing row-major Indices output', async () => {
    const r = await gradCheck(poolCase('MaxPool', MAXPOOL_CASES[2]!, 2));
    expect(r.ok, describeFailures(r)).toBe(true);
    expect([...r.gradModel.graph.nodes].filter((n) => n.opType === 'MaxPool')).toHaveLength(1);
  });

  it('makes row-major indices when the forward pool has column-major ones', async () => {
    const r = await gradCheck(poolCase('MaxPool', { x: [1, 2, 5, 7], attrs: { kernel_shape: [3, 2], strides: [1, 2], pads: [1, 0, 1, 1], storage_order: 1 } }, 2));
    expect(r.ok, describeFailures(r)).toBe(true);
    expect([...r.gradModel.graph.nodes].filter((n) => n.opType === 'MaxPool')).toHaveLength(2);
  });
});

describe('AveragePool gradient', () => {
  it.each(AVGPOOL_CASES.map((s) => [poolLabel(s), s] as const))('%s', async (_, s) => {
    await expectGrad(poolCase('AveragePool', s));
  });
  it.each(Array.from({ length: 10 }, (_, i) => randomPool(401 + i, true)).map((s) => [poolLabel(s), s] as const))('random %s', async (_, s) => {
    await expectGrad(poolCase('AveragePool', s));
  });
});

/**
 * ⟨Jᵀr, v⟩ and ⟨Jv, r⟩ for a linear op y = J x, with the gradient seeded from a graph input
 * (no loss on y). For geometries where onnxruntime's kernel and its ONNX shape inference
 * disagree on y's size (a ceil_mode window dropped because it would start in the tail
 * pad; SAME pools with dilations, padded for the undilated kernel), a loss model on y does
 * not load, but the op and its gradient run.
 */
async function adjointSides(op: string, s: PoolSpec): Promise<{ lhs: number; rhs: number }> {
  const build = (): { model: Model; y: Value } => {
    const b = new GraphBuilder('adjoint');
    const y = b.op(op, [b.input('x', DataType.FLOAT, s.x)], s.attrs);
    b.output(y);
    return { model: b.model({ opset: s.opset ?? 19 }), y };
  };
  const session = (m: Model): Promise<ort.InferenceSession> => ort.InferenceSession.create(modelToBytes(m), { graphOptimizationLevel: 'disabled' });
  const v = distinct(numel(s.x), 5);
  const x = new ort.Tensor('float32', Float32Array.from(v), s.x);
  const fwd = build();
  const jv = (await (await session(fwd.model)).run({ x }))[fwd.y.name]!;
  const r = Float32Array.from(distinct(jv.size, 6));
  const grad = build();
  differentiate(grad.model, { wrt: ['x'], seeds: { [grad.y.name]: 'seed' }, inputShapes: { x: s.x } });
  const seed = grad.model.graph.inputs.find((i) => i.name === 'seed')!;
  seed.type = tensorType(DataType.FLOAT, null); // splitc's inferred size is the kernel's; onnxruntime's inference may differ
  const out = await (await session(grad.model)).run({ x, seed: new ort.Tensor('float32', r, jv.dims) });
  const jtr = out['grad:x']!.data as Float32Array;
  let lhs = 0;
  let rhs = 0;
  for (let i = 0; i < v.length; i++) lhs += jtr[i]! * v[i]!;
  for (let i = 0; i < r.length; i++) rhs += (jv.data as Float32Array)[i]! * r[i]!;
  return { lhs, rhs };
}

describe('AveragePool gradient where onnxruntime shape inference and kernel disagree', () => {
  it.each(
    ([
      // ceil_mode: the last window on both axes would start in the tail pad and is dropped
      { x: [1, 2, 6, 5], attrs: { kernel_shape: [2, 2], strides: [2, 2], pads: [0, 1, 1, 1], ceil_mode: 1, count_include_pad: 1 } },
      { x: [2, 1, 6, 5], attrs: { kernel_shape: [2, 3], strides: [2, 2], pads: [0, 1, 1, 1], ceil_mode: 1 } },
      // SAME with dilations: padded for the undilated kernel
      { x: [1, 2, 7, 8], attrs: { kernel_shape: [3, 2], strides: [2, 2], dilations: [2, 1], auto_pad: 'SAME_UPPER', count_include_pad: 1 } },
      { x: [1, 2, 7, 8], attrs: { kernel_shape: [3, 3], strides: [2, 1], dilations: [2, 2], auto_pad: 'SAME_LOWER', count_include_pad: 1 } },
    ] as PoolSpec[]).map((s) => [poolLabel(s), s] as const),
  )('%s', async (_, s) => {
    const { lhs, rhs } = await adjointSides('AveragePool', s);
    expect(Math.abs(rhs)).toBeGreaterThan(0.05);
    expect(Math.abs(lhs - rhs)).toBeLessThan(1e-4 * (1 + Math.abs(rhs)));
  });
});

describe('global pools', () => {
  it.each([[[2, 3, 4, 5]], [[1, 4, 7]], [[2, 2, 3, 2, 4]]])('GlobalAveragePool x[%s]', async (x) => {
    await expectGrad(poolCase('GlobalAveragePool', { x, attrs: {} }));
  });
  it.each([[[2, 3, 4, 5]], [[1, 4, 7]], [[2, 2, 3, 2, 4]]])('GlobalMaxPool x[%s]', async (x) => {
    await expectGrad(poolCase('GlobalMaxPool', { x, attrs: {} }));
  });

  it('GlobalAveragePool with dynamic spatial dims', async () => {
    const b = new GraphBuilder('t');
    const x = b.input('x', DataType.FLOAT, [2, 3, 'h', 'w']);
    const y = b.op('GlobalAveragePool', [x]);
    b.output(b.op('ReduceSum', [b.op('Mul', [y, y])], { keepdims: 0 }, { outputNames: ['loss'] }));
    const m = b.model();
    differentiate(m, { wrt: ['x'], loss: 'loss' });
    expect([...m.graph.nodes].map((n) => n.opType)).toContain('ReduceProd');
    // loss = Σ mean², so grad = 2·mean / (h·w) everywhere in the channel
    const dims = [2, 3, 4, 5];
    const data = Float32Array.from(distinct(numel(dims), 3));
    const sess = await ort.InferenceSession.create(modelToBytes(m));
    const grad = (await sess.run({ x: new ort.Tensor('float32', data, dims) }))['grad:x']!.data as Float32Array;
    for (let ch = 0; ch < 6; ch++) {
      const block = data.subarray(ch * 20, ch * 20 + 20);
      const mean = block.reduce((a, v) => a + v, 0) / 20;
      for (let i = 0; i < 20; i++) expect(grad[ch * 20 + i]).toBeCloseTo((2 * mean) / 20, 6);
    }
  });
});
