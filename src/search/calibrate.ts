// Calibration: run the edge model with onnxruntime-node over calibration samples and
// stream every cut tensor's activations into statistics accumulators (never keeping the
// activations). A spec that quantizes a PCA projection takes a second pass over the
// projected activations, with the basis the first pass determined.

import { halfToFloat } from '../ir/tensor.js';
import * as ort from 'onnxruntime-node';
import { DataType, dtypeName } from '../ir/dtype.js';
import { SplitcError } from '../ir/errors.js';
import type { Model } from '../ir/graph.js';
import { modelToBytes } from '../ir/serde/io.js';
import { type CompressedSplit, type CutTensorStats, leadingBatchDim, type SplitStats } from '../passes/bottleneck/compress.js';
import { bottleneckPass } from '../passes/bottleneck/pass.js';
import { initLearned, learnedForm, learnedOutDims, learnedReduce, type LearnedWeights, withLearnedWeights } from '../passes/bottleneck/learned.js';
import { pcaBasis, projectChannels } from '../passes/bottleneck/pca.js';
import { type CompressSpec, isReducer, NO_COMPRESSION, specChannelAxis, specNeeds } from '../passes/bottleneck/spec.js';
import { type StatsOptions, TensorStatsAccumulator } from '../passes/bottleneck/stats.js';
import type { SplitResult } from '../passes/cut.js';
import { CHECKED_RUN, type PassContext, PassManager } from '../passes/pass.js';
import type { CalibSample, FeedTensor, Feeds } from './calib-data.js';
import { createOrtSession } from './ort-session.js';
import { ortTensorType } from './ort-types.js';
import { axisOutside } from '../passes/diagnostics.js';

export function toOrtTensor(t: FeedTensor): ort.Tensor {
  const type = ortTensorType(t.dtype);
  if (!type) throw new SplitcError('E_CALIB', `cannot feed a ${dtypeName(t.dtype)} tensor to onnxruntime`);
  return new ort.Tensor(type, t.data as never, t.dims);
}

export function toOrtFeeds(feeds: Feeds): Record<string, ort.Tensor> {
  return Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, toOrtTensor(v)]));
}

export interface SessionOptions {
  /** onnxruntime graph optimizations (default 'disabled': the split halves then compute exactly what the whole model computes). */
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  intraOpNumThreads?: number;
}

export async function createSession(model: Model, opts: SessionOptions = {}): Promise<ort.InferenceSession> {
  return createOrtSession(ort, modelToBytes(model), {
    graphOptimizationLevel: opts.graphOptimizationLevel ?? 'disabled',
    intraOpNumThreads: opts.intraOpNumThreads ?? 1,
    interOpNumThreads: 1,
  });
}

/** Run a session on feeds, passing only the inputs it declares. */
export async function runSession(session: ort.InferenceSession, feeds: Record<string, ort.Tensor>, fetches?: string[]): Promise<Record<string, ort.Tensor>> {
  const names = new Set(session.inputNames);
  const own = Object.fromEntries(Object.entries(feeds).filter(([k]) => names.has(k)));
  const missing = session.inputNames.filter((n) => !(n in own));
  if (missing.length) throw new SplitcError('E_CALIB', `the samples do not provide input${missing.length > 1 ? 's' : ''} ${missing.map((n) => `'${n}'`).join(', ')}`);
  return fetches ? session.run(own, fetches) : session.run(own);
}

/** Activation as float numbers (float16 decoded). */
export function floatData(t: ort.Tensor): Float32Array | Float64Array {
  if (t.type === 'float32') return t.data as Float32Array;
  if (t.type === 'float64') return t.data as Float64Array;
  if (t.type === 'float16') {
    const raw = t.data as Uint16Array;
    return Float32Array.from(raw, halfToFloat);
  }
  return Float64Array.from(t.data as ArrayLike<number | bigint>, Number);
}

export interface CalibrateOptions extends SessionOptions {
  /** The spec the statistics are for: decides the channel axis, covariance and the projected pass. */
  spec?: CompressSpec;
  stats?: StatsOptions;
  ctx?: PassContext;
  /**
   * Trained weights of a `learned` stage per cut tensor: the second pass measures the coder's
   * ranges on reduce(x) with them (else with the PCA initialisation), and the statistics carry
   * them (`CutTensorStats.learned`) so compressSplit bakes in the same weights.
   */
  learned?: Record<string, LearnedWeights>;
  /** Called after each sample run: done of total runs (samples × passes, two with a PCA spec), ending at total. */
  onProgress?: (p: { done: number; total: number }) => void;
}

const FLOATS = new Set<number>([DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16]);

/** The cut tensors statistics are collected for, with their per-sample dims and channel axis: float tensors static past their batch dim; `skipped` hears of the others. */
export function statsTargets(split: SplitResult, spec: CompressSpec, skipped?: (name: string) => void): { name: string; dims: number[]; axis: number }[] {
  const outputs = new Map(split.edge.graph.outputs.map((v) => [v.name, v]));
  const targets: { name: string; dims: number[]; axis: number }[] = [];
  for (const name of split.cutTensors) {
    const t = outputs.get(name)?.tensorType;
    if (!t || !FLOATS.has(t.dtype)) continue;
    // samples are single (calib-data.ts feeds batch 1), so a symbolic batch dim is 1 here
    const dims = t.shape && leadingBatchDim(t.shape) !== null ? [1, ...t.shape.slice(1)] : t.shape;
    if (!dims || !dims.every((d): d is number => typeof d === 'number')) {
      skipped?.(name);
      continue;
    }
    targets.push({ name, dims, axis: dims.length ? specChannelAxis(spec, dims.length) : 0 });
  }
  return targets;
}

/**
 * Statistics of every float cut tensor of `split` over the samples. Integer cut tensors
 * (passed through uncompressed) get none.
 */
export async function calibrateSplit(split: SplitResult, samples: readonly CalibSample[], opts: CalibrateOptions = {}): Promise<SplitStats> {
  if (samples.length === 0) throw new SplitcError('E_CALIB', 'no calibration samples', { hint: 'give images, .npy files or --calib random' });
  const spec = opts.spec ?? NO_COMPRESSION;
  const needs = specNeeds(spec);
  const targets = statsTargets(split, spec, (name) => opts.ctx?.warn('W_CALIB_SHAPE', `cut tensor '${name}' has no static shape past its batch dim; no statistics collected for it`));
  const statsOpts = (seedOffset: number): StatsOptions => ({
    ...opts.stats,
    seed: (opts.stats?.seed ?? 1) + seedOffset,
    ...(needs.covariance ? {} : { covariance: opts.stats?.covariance ?? false }),
  });
  const raw = targets.map((t, i) => {
    if (t.axis < 0 || t.axis >= Math.max(1, t.dims.length)) {
      throw axisOutside("the spec's channel axis", t.dims.length, t.name);
    }
    return new TensorStatsAccumulator(t.dims, t.axis, statsOpts(i));
  });
  const session = await createSession(split.edge, opts);
  const fetches = targets.map((t) => t.name);
  const pca = spec.stages.find(isReducer);
  const passes = needs.projectedStats && pca ? 2 : 1;
  const runs = { done: 0, total: fetches.length ? passes * samples.length : 0 };
  const ran = (): void => {
    runs.done++;
    opts.onProgress?.({ ...runs });
  };
  try {
    if (fetches.length) {
      for (const s of samples) {
        const out = await runSession(session, toOrtFeeds(s.load()), fetches);
        targets.forEach((t, i) => raw[i]!.add(floatData(out[t.name]!)));
        ran();
      }
    }
    const result: SplitStats = {};
    targets.forEach((t, i) => (result[t.name] = { raw: raw[i]!.result() } as CutTensorStats));
    for (const t of targets) if (pca?.kind === 'learned' && opts.learned?.[t.name]) result[t.name]!.learned = opts.learned[t.name];
    if (!needs.projectedStats || targets.length === 0) return result;

    // second pass: statistics of the reduced tensor the edge will send (of the clean tensor:
    // defences before it are random) — the PCA projection, or learned's reduce with the
    // weights compressSplit will bake in (the given trained ones, else the PCA initialisation)
    if (!pca) return result;
    const bases = targets.map((t) => (pca.k <= (t.dims[t.axis] ?? 0) ? pcaBasis(result[t.name]!.raw, pca.k) : undefined));
    const reducers = targets.map((t, i) => {
      const b = bases[i];
      if (!b) return undefined;
      if (pca.kind === 'pca') return (x: ArrayLike<number>) => projectChannels(x, t.dims, t.axis, b).data;
      const form = learnedForm(t.axis, t.dims.length, pca.stride);
      if (!form) return undefined; // compressSplit reports the unsupported axis
      const init = initLearned(b, t.axis, t.dims.length, pca.stride, form);
      const given = opts.learned?.[t.name];
      const stage = given ? withLearnedWeights(init, given, t.name) : init;
      return (x: ArrayLike<number>) => learnedReduce(x, t.dims, stage).data;
    });
    const projected = targets.map((t, i) => {
      const d = pca.kind === 'learned' ? learnedOutDims(t.dims, t.axis, pca.k, pca.stride) : [...t.dims];
      d[t.axis] = pca.k;
      return reducers[i] ? new TensorStatsAccumulator(d, t.axis, { ...statsOpts(1000 + i), covariance: false }) : undefined;
    });
    for (const s of samples) {
      const out = await runSession(session, toOrtFeeds(s.load()), fetches);
      targets.forEach((t, i) => {
        const r = reducers[i];
        if (r) projected[i]!.add(r(floatData(out[t.name]!)));
      });
      ran();
    }
    targets.forEach((t, i) => {
      const p = projected[i];
      if (p) result[t.name]!.projected = p.result();
    });
    return result;
  } finally {
    await session.release();
  }
}

/**
 * Calibrate on `samples` and insert the bottleneck: the one call the CLI and the search need.
 * `opts.onProgress` counts the calibration runs (none for a spec that needs no statistics: fp16, dropout).
 */
export async function calibrateAndCompress(
  split: SplitResult,
  spec: CompressSpec,
  samples: readonly CalibSample[],
  opts: Omit<CalibrateOptions, 'spec'> = {},
): Promise<{ compressed: CompressedSplit; stats: SplitStats }> {
  const stats = spec.stages.some((s) => s.kind !== 'fp16' && s.kind !== 'dropout') ? await calibrateSplit(split, samples, { ...opts, spec }) : {};
  const bottleneck = new PassManager<SplitResult, CompressedSplit>([bottleneckPass(spec, stats)], CHECKED_RUN);
  return { compressed: bottleneck.run(split, opts.ctx).model, stats };
}
