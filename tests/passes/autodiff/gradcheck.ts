// Finite-difference checking of gradient graphs: builds a small model, appends the loss
// ⟨y, R⟩ for a fixed random R (so every output element matters, with its own weight),
// differentiates it with splitc's pass, runs the gradient graph in onnxruntime and compares
// ⟨∇f(x), v⟩ with the central difference (f(x + h·v) − f(x − h·v)) / 2h along random
// directions v, for every chosen input.

import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import type { Model, Value } from '../../../src/ir/graph.js';
import { assertValid } from '../../../src/ir/verify.js';
import { modelToBytes } from '../../../src/ir/serde/io.js';
import { SplitcError } from '../../../src/ir/errors.js';
import { type AutodiffOptions, differentiate, type AutodiffResult } from '../../../src/passes/autodiff/index.js';
import type { GradTuningOptions } from '../../../src/passes/autodiff/tuning.js';
import { expect } from 'vitest';
import { xorshift32 } from '../../helpers/onnx-oracle.js';

export type FloatKind = 'float32' | 'float64';

export interface GradCheckInput {
  dims: number[];
  /** Values (default: seeded uniform in [-1, 1)); integer inputs must give theirs. */
  data?: ArrayLike<number>;
  /** Element type (default: the case's dtype); 'int64' inputs are fed, never differentiated. */
  type?: FloatKind | 'int64' | 'int32';
}

export interface GradCheckCase {
  /** Build the forward graph from inputs made with `b.input(name, dtype, dims)`; return the output to check. */
  build(b: GraphBuilder, dtype: DataType): Value;
  inputs: Record<string, GradCheckInput>;
  /** Values to differentiate with respect to (default: every float input). May name initializers. */
  wrt?: string[];
  /** Float type of the check (default float64). */
  dtype?: FloatKind;
  opset?: number;
  seed?: number;
  /** Step (default 1e-6 in float64, 1e-2 in float32). */
  h?: number;
  /** Allowed |fd − analytic| ≤ atol + rtol·max(|fd|, |analytic|) (defaults 1e-6/1e-5 in float64, 1e-2/2e-2 in float32). */
  atol?: number;
  rtol?: number;
  /** Random directions per input (default 3). */
  directions?: number;
  /** Where the rules switch formulations (AutodiffOptions.tuning). */
  tuning?: GradTuningOptions;
}

export interface GradCheckReport {
  /** Per chosen value: analytic and finite-difference directional derivatives. */
  checks: { wrt: string; analytic: number; numeric: number; ok: boolean }[];
  worst: number;
  ok: boolean;
  autodiff: AutodiffResult;
  gradModel: Model;
  grads: Record<string, Float64Array>;
}

const ORT_TYPE = { float32: 'float32', float64: 'float64', int64: 'int64', int32: 'int32' } as const;
const DT = { float32: DataType.FLOAT, float64: DataType.DOUBLE, int64: DataType.INT64, int32: DataType.INT32 } as const;

function makeTensor(type: GradCheckInput['type'] & string, dims: number[], data: ArrayLike<number>): ort.Tensor {
  if (type === 'int64') return new ort.Tensor('int64', BigInt64Array.from(Array.from(data, (x) => BigInt(x))), dims);
  if (type === 'int32') return new ort.Tensor('int32', Int32Array.from(data), dims);
  return new ort.Tensor(type, type === 'float64' ? Float64Array.from(data) : Float32Array.from(data), dims);
}

function build(c: GradCheckCase, weights: Float64Array | null, yDims: number[] | null): { model: Model; out: Value } {
  const kind = c.dtype ?? 'float64';
  const dtype = DT[kind];
  const b = new GraphBuilder('gradcheck');
  const y = c.build(b, dtype);
  if (!weights) {
    b.output(y);
    return { model: b.model({ opset: c.opset ?? 17 }), out: y };
  }
  const r = b.init('gradcheck.R', dtype, yDims!, weights);
  const prod = b.op('Mul', [y, r]);
  const loss = b.op('ReduceSum', [prod], { keepdims: 0 }, { outputNames: ['gradcheck.loss'] });
  b.output(loss, { dtype, shape: [] });
  return { model: b.model({ opset: c.opset ?? 17 }), out: loss };
}

async function session(model: Model): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(modelToBytes(model), { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'disabled' });
}

function toF64(t: ort.Tensor): Float64Array {
  return Float64Array.from(t.data as Float32Array | Float64Array);
}

export async function gradCheck(c: GradCheckCase): Promise<GradCheckReport> {
  const kind = c.dtype ?? 'float64';
  const rnd = xorshift32(c.seed ?? 7);
  const values: Record<string, number[]> = {};
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, spec] of Object.entries(c.inputs)) {
    const n = spec.dims.reduce((a, d) => a * d, 1);
    const data = spec.data ? Array.from(spec.data) : Array.from({ length: n }, () => rnd() * 2 - 1);
    values[name] = data;
    feeds[name] = makeTensor(ORT_TYPE[spec.type ?? kind], spec.dims, data);
  }
  // Forward once for the output's dims, then the loss model ⟨y, R⟩.
  const fwd = build(c, null, null);
  const s0 = await session(fwd.model);
  const y0 = (await s0.run(feeds))[fwd.out.name]!;
  await s0.release();
  const yDims = [...y0.dims];
  const weights = Float64Array.from({ length: y0.size }, () => rnd() * 2 - 1);

  const lossModel = build(c, weights, yDims).model;
  const lossSession = await session(lossModel);
  const gradModel = build(c, weights, yDims).model;
  const wrt = c.wrt ?? Object.entries(c.inputs).filter(([, s]) => !s.type || s.type.startsWith('float')).map(([n]) => n);
  const inputShapes = Object.fromEntries(Object.entries(c.inputs).map(([n, s]) => [n, s.dims]));
  const autodiff = differentiate(gradModel, { wrt, loss: 'gradcheck.loss', inputShapes, ...(c.tuning ? { tuning: c.tuning } : {}) });
  assertValid(gradModel);
  const gradSession = await session(gradModel);
  const gout = await gradSession.run(feeds);
  await gradSession.release();
  const grads: Record<string, Float64Array> = {};
  for (const w of wrt) grads[w] = toF64(gout[`grad:${w}`]!);

  const h = c.h ?? (kind === 'float64' ? 1e-6 : 1e-2);
  const atol = c.atol ?? (kind === 'float64' ? 1e-6 : 1e-2);
  const rtol = c.rtol ?? (kind === 'float64' ? 1e-5 : 2e-2);
  const lossAt = async (name: string, v: Float64Array, step: number): Promise<number> => {
    const base = values[name] ?? [];
    const moved = base.map((x, i) => x + step * v[i]!);
    const f = { ...feeds, [name]: makeTensor(ORT_TYPE[c.inputs[name]?.type ?? kind], c.inputs[name]!.dims, moved) };
    const out = await lossSession.run(f);
    return Number((out['gradcheck.loss']!.data as Float64Array)[0]);
  };
  const checks: GradCheckReport['checks'] = [];
  let worst = 0;
  for (const w of wrt) {
    if (!(w in values)) continue; // initializers: analytic only (checked by callers)
    const g = grads[w]!;
    for (let k = 0; k < (c.directions ?? 3); k++) {
      const v = Float64Array.from({ length: g.length }, () => rnd() * 2 - 1);
      const numeric = ((await lossAt(w, v, h)) - (await lossAt(w, v, -h))) / (2 * h);
      let analytic = 0;
      for (let i = 0; i < g.length; i++) analytic += g[i]! * v[i]!;
      const err = Math.abs(numeric - analytic);
      const allowed = atol + rtol * Math.max(Math.abs(numeric), Math.abs(analytic));
      worst = Math.max(worst, err / allowed);
      checks.push({ wrt: w, analytic, numeric, ok: err <= allowed });
    }
  }
  await lossSession.release();
  return { checks, worst, ok: checks.every((x) => x.ok), autodiff, gradModel, grads };
}

/** A one-line summary of the failing checks, for assertion messages. */
export function describeFailures(r: GradCheckReport): string {
  return r.checks
    .filter((x) => !x.ok)
    .map((x) => `${x.wrt}: analytic ${x.analytic.toPrecision(8)} vs numeric ${x.numeric.toPrecision(8)}`)
    .join('; ');
}

/** The SplitcError `differentiate` throws for `model` (fails the test when it throws nothing or something else). */
export function differentiateError(model: Model, opts: AutodiffOptions): SplitcError {
  try {
    differentiate(model, opts);
  } catch (e) {
    expect(e).toBeInstanceOf(SplitcError);
    return e as SplitcError;
  }
  throw new Error('differentiate did not fail');
}
