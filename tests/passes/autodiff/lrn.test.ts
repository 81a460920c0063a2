// Gradient rule for LRN, checked against central finite differences through onnxruntime
// (float32, the sizes it runs) and against the spec's formula (float64, every size).

import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { attr, GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import { tensorType, Value } from '../../../src/ir/graph.js';
import { modelToBytes } from '../../../src/ir/serde/io.js';
import { assertValid } from '../../../src/ir/verify.js';
import { differentiate } from '../../../src/passes/autodiff/index.js';
import { type Attrs, expectGrad, mixedRandom, numel } from './window-helpers.js';

// ---------------------------------------------------------------- LRN

interface LrnAttrs {
  size: number;
  alpha: number;
  beta: number;
  bias: number;
}

/** LRN as the spec defines it, in float64: the window of channel c is [c − ⌊(size−1)/2⌋, c + ⌈(size−1)/2⌉]. */
function lrnReference(x: number[], dims: number[], a: LrnAttrs): number[] {
  const C = dims[1]!;
  const inner = numel(dims.slice(2));
  const y = new Array<number>(x.length);
  for (let i = 0; i < x.length; i++) {
    const c = Math.floor(i / inner) % C;
    const base = i - c * inner;
    let sum = 0;
    for (let j = Math.max(0, c - Math.floor((a.size - 1) / 2)); j <= Math.min(C - 1, c + Math.ceil((a.size - 1) / 2)); j++) sum += x[base + j * inner]! ** 2;
    y[i] = x[i]! / (a.bias + (a.alpha / a.size) * sum) ** a.beta;
  }
  return y;
}

const lrnAttrs = (a: LrnAttrs): Attrs => ({ size: a.size, alpha: attr.float('alpha', a.alpha), beta: attr.float('beta', a.beta), bias: attr.float('bias', a.bias) });

/** Random LRN attributes with a strong normalization (large alpha), so the cross-channel term matters. */
function randomLrn(rnd: () => number, size: number): LrnAttrs {
  const f32 = Math.fround; // the attributes are stored as float32
  return { size, alpha: f32(0.5 + 1.5 * rnd()), beta: f32(0.5 + 0.5 * rnd()), bias: f32(1 + rnd()) };
}

// onnxruntime's LRN is float32-only, 4-D only and odd sizes only: checked against it by
// finite differences with a float32 step of 1e-2 (the loss is smooth; truncation and
// rounding errors stay below 1e-3 relative here), atol = rtol = 5e-3.
describe('LRN gradient against onnxruntime (float32, 4-D, odd sizes)', () => {
  const cases = Array.from({ length: 8 }, (_, i) => {
    const rnd = mixedRandom(500 + i);
    const size = [1, 3, 5, 3, 5, 7, 3, 5][i]!;
    const C = 2 + Math.floor(rnd() * 6); // 2..7: windows wider than the channels too
    return { x: [1 + Math.floor(rnd() * 2), C, 2 + Math.floor(rnd() * 2), 3], a: randomLrn(rnd, size) };
  });
  it.each(cases.map((c) => [`x[${c.x}] ${JSON.stringify(c.a)}`, c] as const))('%s', async (_, c) => {
    await expectGrad({
      build: (b, dt) => b.op('LRN', [b.input('x', dt, c.x)], lrnAttrs(c.a)),
      inputs: { x: { dims: c.x, data: Array.from({ length: numel(c.x) }, (_, k) => 1.5 * Math.sin(1.3 * k + c.a.size)) } },
      dtype: 'float32',
      h: 1e-2,
      atol: 5e-3,
      rtol: 5e-3,
    });
  });
});

/**
 * Every size (even ones too) and ranks 2–5, in float64 against the spec: the gradient graph
 * is built for a float64 LRN; the forward node is then removed and its output fed from the
 * reference implementation (onnxruntime cannot run it), and dx is compared per element
 * with central differences of ⟨LRN(x), dY⟩ computed on the reference.
 */
describe('LRN gradient against the spec (float64, every size, ranks 2–5)', () => {
  const shapes = [[3, 5], [2, 4, 3], [1, 6, 2, 2], [1, 3, 2, 1, 2]];
  const cases = [1, 2, 3, 4, 5, 6].flatMap((size) => shapes.map((shape, k) => ({ size, shape, seed: 10 * size + k })));
  it.each(cases.map((c) => [`size ${c.size}, x[${c.shape}]`, c] as const))('%s', async (_, c) => {
    const rnd = mixedRandom(c.seed);
    const a = randomLrn(rnd, c.size);
    const n = numel(c.shape);
    const xs = Array.from({ length: n }, () => rnd() * 3 - 1.5);
    const dys = Array.from({ length: n }, () => rnd() * 2 - 1);

    const b = new GraphBuilder('lrn');
    const y = b.op('LRN', [b.input('x', DataType.DOUBLE, c.shape)], lrnAttrs(a), { outputNames: ['y'] });
    b.output(y);
    const model = b.model({ opset: 13 });
    differentiate(model, { wrt: ['x'], seeds: { y: 'dY' }, inputShapes: { x: c.shape } });
    const g = model.graph;
    const lrn = [...g.nodes].find((nd) => nd.opType === 'LRN')!;
    const fed = g.addInput(new Value('y_reference', tensorType(DataType.DOUBLE, c.shape)));
    y.replaceAllUsesWith(fed);
    g.outputs.splice(g.outputs.indexOf(fed), 1);
    g.removeNode(lrn, false);
    assertValid(model);
    const t = (data: number[]) => new ort.Tensor('float64', Float64Array.from(data), c.shape);
    const sess = await ort.InferenceSession.create(modelToBytes(model));
    const out = await sess.run({ x: t(xs), dY: t(dys), y_reference: t(lrnReference(xs, c.shape, a)) });
    await sess.release();
    const dx = out['grad:x']!.data as Float64Array;

    const loss = (v: number[]): number => lrnReference(v, c.shape, a).reduce((acc, yi, i) => acc + yi * dys[i]!, 0);
    const h = 1e-6;
    let largest = 0;
    for (let i = 0; i < n; i++) {
      const plus = [...xs];
      const minus = [...xs];
      plus[i] = plus[i]! + h;
      minus[i] = minus[i]! - h;
      const fd = (loss(plus) - loss(minus)) / (2 * h);
      expect(Math.abs(dx[i]! - fd), `dx[${i}]: ${dx[i]} vs ${fd}`).toBeLessThanOrEqual(1e-7 + 1e-6 * Math.abs(fd));
      largest = Math.max(largest, Math.abs(fd));
    }
    expect(largest).toBeGreaterThan(0.05);
  });
});
