// Calibration statistics of a split's cut tensors from seeded synthetic data instead of
// onnxruntime runs: golden tests need constants (ranges, PCA bases) that are the same on
// every machine, and onnxruntime's float results may differ in the last bits between CPUs.
// The targets, channel axes, seeds and the second (projected) pass mirror calibrateSplit
// (src/search/calibrate.ts).
import { xorshift32 } from '../../src/ir/random.js';
import { type CutTensorStats, type SplitStats } from '../../src/passes/bottleneck/compress.js';
import { initLearned, learnedForm, learnedOutDims, learnedReduce } from '../../src/passes/bottleneck/learned.js';
import { pcaBasis, projectChannels } from '../../src/passes/bottleneck/pca.js';
import { type CompressSpec, isReducer, specNeeds } from '../../src/passes/bottleneck/spec.js';
import { TensorStatsAccumulator } from '../../src/passes/bottleneck/stats.js';
import type { SplitResult } from '../../src/passes/cut.js';
import { statsTargets } from '../../src/search/calibrate.js';


/** One synthetic sample of a tensor: channel c is uniform around c/C with a spread growing with c, so PCA has a structure to find. */
function sample(dims: readonly number[], axis: number, next: () => number): Float32Array {
  const n = dims.reduce((a, b) => a * b, 1);
  const channels = dims[axis] ?? 1;
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const c = Math.floor(i / inner) % channels;
    out[i] = c / channels + (next() - 0.5) * (1 + c / 4);
  }
  return out;
}

export function syntheticSplitStats(split: SplitResult, spec: CompressSpec, opts: { samples?: number; seed?: number } = {}): SplitStats {
  const needs = specNeeds(spec);
  const count = opts.samples ?? 6;
  const next = xorshift32(opts.seed ?? 7);
  const targets = statsTargets(split, spec); // the tensors calibrateSplit would measure
  const statsOpts = (seed: number) => ({ seed: 1 + seed, ...(needs.covariance ? {} : { covariance: false }) });
  const samples = targets.map((t) => Array.from({ length: count }, () => sample(t.dims, t.axis, next)));
  const result: SplitStats = {};
  targets.forEach((t, i) => {
    const acc = new TensorStatsAccumulator(t.dims, t.axis, statsOpts(i));
    for (const s of samples[i]!) acc.add(s);
    result[t.name] = { raw: acc.result() } as CutTensorStats;
  });
  const pca = spec.stages.find(isReducer);
  if (!needs.projectedStats || !pca) return result;
  targets.forEach((t, i) => {
    if (pca.k > (t.dims[t.axis] ?? 0)) return;
    const basis = pcaBasis(result[t.name]!.raw, pca.k);
    const form = pca.kind === 'learned' ? learnedForm(t.axis, t.dims.length, pca.stride) : undefined;
    if (pca.kind === 'learned' && !form) return;
    const learned = pca.kind === 'learned' ? initLearned(basis, t.axis, t.dims.length, pca.stride, form!) : undefined;
    const d = pca.kind === 'learned' ? learnedOutDims(t.dims, t.axis, pca.k, pca.stride) : [...t.dims];
    d[t.axis] = pca.k;
    const acc = new TensorStatsAccumulator(d, t.axis, { ...statsOpts(1000 + i), covariance: false });
    for (const s of samples[i]!) acc.add(learned ? learnedReduce(s, t.dims, learned).data : projectChannels(s, t.dims, t.axis, basis).data);
    result[t.name]!.projected = acc.result();
  });
  return result;
}
