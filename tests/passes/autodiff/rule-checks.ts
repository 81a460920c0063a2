// Helpers of the gradient rule tests: seeded draws per test file, a non-vacuous gradient
// check, running a differentiated model, coded errors, dynamic-vs-static comparisons.

import * as ort from 'onnxruntime-node';
import { expect } from 'vitest';
import { GraphBuilder } from '../../../src/ir/builder.js';
import type { Dim, Value } from '../../../src/ir/graph.js';
import { SplitcError } from '../../../src/ir/errors.js';
import { modelToBytes } from '../../../src/ir/serde/io.js';
import { assertValid } from '../../../src/ir/verify.js';
import { differentiate } from '../../../src/passes/autodiff/index.js';
import { xorshift32 } from '../../helpers/onnx-oracle.js';
import { describeFailures, gradCheck, type GradCheckCase, type GradCheckReport, differentiateError } from './gradcheck.js';

/** Seeded random draws: each test file makes its own, so its cases do not depend on other files. */
export function seededDraws(seed: number): { rnd: () => number; int: (lo: number, hi: number) => number; positive: (n: number) => number[]; dimsOf: (rank: number, lo?: number, hi?: number) => number[] } {
  const rnd = xorshift32(seed);
  /** A random integer in [lo, hi]. */
  const int = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
  const positive = (n: number): number[] => Array.from({ length: n }, () => 0.5 + rnd());
  const dimsOf = (rank: number, lo = 2, hi = 4): number[] => Array.from({ length: rank }, () => int(lo, hi));
  return { rnd, int, positive, dimsOf };
}

export const count = (dims: readonly number[]): number => dims.reduce((a, d) => a * d, 1);

export async function expectGrads(c: GradCheckCase): Promise<GradCheckReport> {
  const r = await gradCheck(c);
  expect(r.ok, describeFailures(r)).toBe(true);
  expect(r.checks.length).toBeGreaterThan(0);
  // A rule that emitted zeros would pass against a flat function only: the loss is not flat here.
  expect(r.checks.some((x) => Math.abs(x.numeric) > 1e-3)).toBe(true);
  return r;
}

/** Run `model` (already differentiated) on float64 feeds; every output as a float64 array. */
export async function run(model: ReturnType<GraphBuilder['model']>, feeds: Record<string, { dims: number[]; data: number[] }>): Promise<Record<string, number[]>> {
  const s = await ort.InferenceSession.create(modelToBytes(model), { graphOptimizationLevel: 'disabled' });
  const f = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, new ort.Tensor('float64', Float64Array.from(v.data), v.dims)]));
  const out = await s.run(f);
  await s.release();
  return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, Array.from(t.data as Float64Array)]));
}

/** A model whose loss is ReduceSum(y) (so dL/dy = 1), differentiated with respect to `wrt`. */
export function sumLossModel(build: (b: GraphBuilder) => Value, wrt: string[], opset = 17, inputShapes = {}): ReturnType<GraphBuilder['model']> {
  const b = new GraphBuilder('t');
  const y = build(b);
  b.output(b.op('ReduceSum', [y], { keepdims: 0 }, { outputNames: ['loss'] }));
  const m = b.model({ opset });
  differentiate(m, { wrt, loss: 'loss', inputShapes });
  assertValid(m);
  return m;
}

export function close(actual: number[], expected: number[], tol = 1e-9): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, i) => expect(Math.abs(a - expected[i]!), `element ${i}: ${a} vs ${expected[i]}`).toBeLessThanOrEqual(tol * (1 + Math.abs(expected[i]!))));
}

/** The SplitcError `f` throws (fails the test when it throws nothing or something else). */
export function thrown(f: () => unknown): SplitcError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(SplitcError);
    return e as SplitcError;
  }
  throw new Error('expected an error');
}

/** A seeded integer generator of its own (the shared one's sequence stays as the older tests had it). */
export function ints(seed: number): (lo: number, hi: number) => number {
  const r = xorshift32(seed);
  return (lo, hi) => lo + Math.floor(r() * (hi - lo + 1));
}

/** The E_AUTODIFF error differentiate() throws for the model, with its message. */
export function autodiffError(build: (b: GraphBuilder) => Value, wrt: string[], opset = 17): SplitcError {
  const b = new GraphBuilder('t');
  const y = build(b);
  b.output(b.op('ReduceSum', [y], { keepdims: 0 }, { outputNames: ['loss'] }));
  const e = differentiateError(b.model({ opset }), { wrt, loss: 'loss' });
  expect(e.code).toBe('E_AUTODIFF');
  return e;
}

/**
 * Gradients of a model built with symbolic input dims (no input shapes given to the pass,
 * so the rules take their dynamic paths) must equal those built with static shapes. The
 * output gradient is seeded with a fixed random tensor.
 */
export async function expectDynamicMatchesStatic(spec: {
  build: (b: GraphBuilder, dims: Record<string, Dim[]>) => Value;
  inputs: Record<string, { dims: number[]; symbolic: Dim[]; int64?: number[] }>;
  wrt: string[];
  opset?: number;
}): Promise<void> {
  const feeds: Record<string, ort.Tensor> = {};
  const r = xorshift32(5);
  for (const [name, s] of Object.entries(spec.inputs)) {
    const n = s.dims.reduce((a, d) => a * d, 1);
    feeds[name] = s.int64 ? new ort.Tensor('int64', BigInt64Array.from(s.int64, BigInt), s.dims) : new ort.Tensor('float64', Float64Array.from({ length: n }, () => r() * 2 - 1), s.dims);
  }
  const results: Record<string, number[]>[] = [];
  for (const dynamic of [false, true]) {
    const b = new GraphBuilder('dyn');
    const dims = Object.fromEntries(Object.entries(spec.inputs).map(([k, s]) => [k, dynamic ? s.symbolic : s.dims]));
    const y = spec.build(b, dims);
    const m = b.model({ opset: spec.opset ?? 17 });
    differentiate(m, { wrt: spec.wrt, seeds: { [y.name]: 'dY' }, inputShapes: dynamic ? {} : dims });
    assertValid(m);
    const s = await ort.InferenceSession.create(modelToBytes(m), { graphOptimizationLevel: 'disabled' });
    if (!feeds.dY) {
      // The seed's shape is the output's: run the forward once through the gradient model's inputs.
      const fwd = new GraphBuilder('fwd');
      const yf = spec.build(fwd, dims);
      fwd.output(yf);
      const sf = await ort.InferenceSession.create(modelToBytes(fwd.model({ opset: spec.opset ?? 17 })));
      const out = (await sf.run(Object.fromEntries(Object.keys(spec.inputs).map((k) => [k, feeds[k]!]))))[yf.name]!;
      await sf.release();
      feeds.dY = new ort.Tensor('float64', Float64Array.from({ length: out.size }, () => r() * 2 - 1), out.dims);
    }
    const out = await s.run(feeds);
    await s.release();
    results.push(Object.fromEntries(spec.wrt.map((w) => [w, Array.from(out[`grad:${w}`]!.data as Float64Array)])));
  }
  for (const w of spec.wrt) {
    const [st, dy] = [results[0]![w]!, results[1]![w]!];
    expect(dy.length).toBe(st.length);
    expect(st.some((v) => v !== 0)).toBe(true);
    dy.forEach((v, i) => expect(Math.abs(v - st[i]!), `${w}[${i}]`).toBeLessThanOrEqual(1e-12));
  }
}
