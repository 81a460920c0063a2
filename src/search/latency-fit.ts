// Fitting: per-node features (MACs, bytes moved), a per-op-class non-negative least-squares
// regression of measured node latencies on them (no intercept), and how well it predicts the latency of
// graph segments (what a cut decision actually sums), in-sample and leave-one-model-out.
// Pure numbers: no runtime here, so the search can load it without onnxruntime. Op classes and
// the prediction formula are profiles.ts's, so the fit is judged the way the search predicts.

import { constantPredicate, isConstantNode } from '../ir/constants.js';
import { notAnInteger, SplitcError } from '../ir/errors.js';
import { byteSizeOf } from '../ir/dtype.js';
import type { Dim, Model, Node, Value } from '../ir/graph.js';
import { annotateCost } from '../passes/cost.js';
import { inferShapes } from '../passes/shape/index.js';
import { OP_CLASSES, type DeviceLatencyModel, type DeviceProfile, type NodeFeatures, type OpClass, type OpClassCoefficients } from './profiles/types.js';
import { opClassOf } from './profiles/op-classes.js';
import { predictNodeMs } from './profiles/predict.js';

// ---------------------------------------------------------------- statistics

/** Quantile with linear interpolation between order statistics (q in [0, 1]); NaN for no data. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * Math.min(1, Math.max(0, q));
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

/** Median (the mean of the two middle values for an even count); NaN for no data. */
export function median(xs: readonly number[]): number {
  return quantile(xs, 0.5);
}

// ---------------------------------------------------------------- features

/**
 * Features of every compute node (Constant nodes hold weights and are not run), in graph
 * order: MACs from the cost pass, bytes = input activations + weights + outputs. Infers
 * shapes first (in place; give the shapes the measurement used).
 */
export function nodeFeatures(model: Model, opts: { inputShapes?: Record<string, Dim[]> } = {}): NodeFeatures[] {
  inferShapes(model, { inputShapes: opts.inputShapes ?? {} });
  const cost = annotateCost(model);
  const out: NodeFeatures[] = [];
  const isConst = constantPredicate();
  for (const n of model.graph.nodes) {
    if (isConstantNode(n, isConst)) continue;
    const c = cost.nodes.get(n)!;
    out.push({ name: n.name, opType: n.opType, macs: c.macs, bytes: activationInputBytes(n, isConst) + c.paramBytes + c.outputBytes });
  }
  return out;
}

/** Bytes of the node's non-constant tensor inputs (each value once); unknown shapes count 0, symbols 1. */
function activationInputBytes(n: Node, isConst: (v: Value) => boolean): number {
  let total = 0;
  const seen = new Set<Value>();
  for (const v of n.inputs) {
    if (!v || seen.has(v) || isConst(v)) continue;
    seen.add(v);
    const shape = v.shape;
    const dt = v.dtype;
    if (!shape || dt === undefined || shape.some((d) => d === null)) continue;
    const count = shape.reduce<number>((a, d) => a * (typeof d === 'number' ? d : 1), 1);
    total += byteSizeOf(dt, count);
  }
  return total;
}

// ---------------------------------------------------------------- regression

export interface LatencySample {
  features: NodeFeatures;
  /** Measured latency of the node, ms. */
  ms: number;
  /** Weight of its squared error (default 1). */
  weight?: number;
}

/** The regression's prediction for one node (never a measured table), ms: what the search would predict for an unprofiled model. */
export function regressionMs(latency: DeviceLatencyModel, f: NodeFeatures): number {
  const { measured: _measured, ...regression } = latency;
  const device: DeviceProfile = { kind: 'device', schemaVersion: 1, name: 'fit', latency: regression };
  return predictNodeMs(device, f);
}

/**
 * Non-negative least squares: argmin ‖A·x − y‖ subject to x ≥ 0, for a few columns. Exact by
 * enumeration: the optimum is the unconstrained least-squares solution on its support, so the
 * best feasible support solution over all 2^k supports is it. Columns are scaled to unit RMS
 * first (GMACs and MB differ by orders of magnitude); all-zero columns get 0.
 */
export function nnls(rows: readonly (readonly number[])[], y: readonly number[]): number[] {
  const k = rows[0]?.length ?? 0;
  if (k > 8) throw new Error('nnls: enumeration is for a handful of columns');
  const m = rows.length;
  const scale = Array.from({ length: k }, (_, j) => Math.sqrt(rows.reduce((a, r) => a + r[j]! * r[j]!, 0) / Math.max(1, m)));
  const usable = scale.map((s) => s > 0 && Number.isFinite(s));
  let best = new Array<number>(k).fill(0);
  let bestResidual = y.reduce((a, v) => a + v * v, 0);
  for (let mask = 1; mask < 1 << k; mask++) {
    const cols: number[] = [];
    for (let j = 0; j < k; j++) if (mask & (1 << j)) cols.push(j);
    if (cols.some((j) => !usable[j])) continue;
    const ata = cols.map(() => new Array<number>(cols.length).fill(0));
    const aty = new Array<number>(cols.length).fill(0);
    for (let i = 0; i < m; i++) {
      const r = rows[i]!;
      for (let a = 0; a < cols.length; a++) {
        const xa = r[cols[a]!]! / scale[cols[a]!]!;
        aty[a]! += xa * y[i]!;
        for (let b = 0; b < cols.length; b++) ata[a]![b]! += xa * (r[cols[b]!]! / scale[cols[b]!]!);
      }
    }
    const z = solveSymmetric(ata, aty);
    if (!z || z.some((v) => v < 0)) continue;
    const x = new Array<number>(k).fill(0);
    cols.forEach((j, a) => (x[j] = z[a]! / scale[j]!));
    let residual = 0;
    for (let i = 0; i < m; i++) {
      const d = rows[i]!.reduce((acc, v, j) => acc + v * x[j]!, 0) - y[i]!;
      residual += d * d;
    }
    if (residual < bestResidual) {
      best = x;
      bestResidual = residual;
    }
  }
  return best;
}

/** Gaussian elimination with partial pivoting; null when (numerically) singular. */
function solveSymmetric(a: number[][], b: number[]): number[] | null {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i]!]);
  const tol = 1e-10 * Math.max(1e-300, ...a.map((row, i) => Math.abs(row[i]!)));
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r]![c]!) > Math.abs(m[p]![c]!)) p = r;
    if (Math.abs(m[p]![c]!) <= tol) return null;
    [m[c], m[p]] = [m[p]!, m[c]!];
    for (let r = c + 1; r < n; r++) {
      const f = m[r]![c]! / m[c]![c]!;
      for (let j = c; j <= n; j++) m[r]![j]! -= f * m[c]![j]!;
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = m[r]![n]!;
    for (let j = r + 1; j < n; j++) s -= m[r]![j]! * x[j]!;
    x[r] = s / m[r]![r]!;
  }
  return x;
}

/**
 * One class's coefficients: NNLS of node ms on (GMACs, MB), through the origin (`msFixed` 0).
 * A fitted intercept does not transfer between models: on the large nodes of the detector and
 * recognizer it absorbs the curvature of the latency (small convs are relatively slower), and a
 * model of tiny nodes then pays it per node. Held out (`leaveOneModelOut`, one profile each on
 * node and wasm), the classifier (221 nodes of ~4 µs) was predicted at 2.1–2.4× its measured
 * segment times; through the origin it is 9–16 % off, the other fixtures and the in-sample
 * errors about unchanged. One intercept shared by all classes, fitted jointly, came out in
 * between (68–75 % off): what a kernel launch costs on a tiny node is already in its bytes term.
 */
function fitCoefficients(samples: readonly LatencySample[]): OpClassCoefficients {
  // Weighted least squares = ordinary least squares on rows and targets scaled by √weight.
  const sw = samples.map((s) => Math.sqrt(s.weight ?? 1));
  const rows = samples.map((s, i) => [(sw[i]! * s.features.macs) / 1e9, (sw[i]! * s.features.bytes) / 1e6]);
  const [msPerGMac, msPerMB] = nnls(
    rows,
    samples.map((s, i) => sw[i]! * s.ms),
  );
  return { msPerGMac: msPerGMac!, msPerMB: msPerMB!, msFixed: 0 };
}

export interface FitOptions {
  /** A class with fewer measured nodes uses `default` (fitted over all nodes). Default 8, at least 2. */
  minSamplesPerClass?: number;
  /** Whole runs: wall-clock median and the sum of its node medians, for `runOverheadMs`. */
  runs?: readonly { totalMs: number; nodeSumMs: number }[];
}

/**
 * Fit a device latency model: per op class NNLS of node ms on (GMACs, MB), `msFixed` 0 (see
 * `fitCoefficients`); `default` over all samples; `slowdown` 1; `runOverheadMs` the median over
 * runs of what the node times do not account for (never negative): the fixed cost is per run,
 * not per node.
 */
export function fitLatencyModel(samples: readonly LatencySample[], opts: FitOptions = {}): DeviceLatencyModel {
  const minSamples = opts.minSamplesPerClass ?? 8;
  if (!Number.isInteger(minSamples) || minSamples < 2) {
    throw notAnInteger('minSamplesPerClass', 2, minSamples, 'each op class fits two coefficients');
  }
  const usable = samples.filter(
    (s) => Number.isFinite(s.ms) && s.ms >= 0 && Number.isFinite(s.features.macs) && Number.isFinite(s.features.bytes) && (s.weight === undefined || (Number.isFinite(s.weight) && s.weight > 0)),
  );
  if (usable.length === 0) throw new SplitcError('E_PROFILER', 'no measured node latencies to fit', { hint: 'profile at least one model' });
  const byClass = new Map<OpClass, LatencySample[]>();
  for (const s of usable) {
    const c = opClassOf(s.features.opType);
    const list = byClass.get(c) ?? [];
    list.push(s);
    byClass.set(c, list);
  }
  const opClasses: Partial<Record<OpClass, OpClassCoefficients>> = {};
  for (const c of OP_CLASSES) {
    const list = byClass.get(c);
    if (list && list.length >= minSamples) opClasses[c] = fitCoefficients(list);
  }
  const overheads = (opts.runs ?? []).filter((r) => Number.isFinite(r.totalMs) && Number.isFinite(r.nodeSumMs)).map((r) => Math.max(0, r.totalMs - r.nodeSumMs));
  return {
    opClasses,
    default: fitCoefficients(usable),
    slowdown: 1,
    runOverheadMs: overheads.length ? median(overheads) : 0,
  };
}

// ---------------------------------------------------------------- fit report

/** One profiled model, as the fit and its report need it. */
export interface ProfiledModelData {
  /** Model name for the report. */
  name: string;
  /** Compute nodes in graph order. */
  features: readonly NodeFeatures[];
  /** Measured median ms by node name (nodes missing here are left out of samples and segments). */
  nodesMs: Readonly<Record<string, number>>;
  /** Whole-run median (ms), for `runOverheadMs`. */
  totalMs?: number;
}

export interface SegmentErrors {
  /** Segments compared (prefixes and suffixes at each cut fraction, and the whole model). */
  segments: number;
  /** Median and 90th percentile of |predicted − measured| / measured over those segments. */
  medianRelErr: number;
  p90RelErr: number;
}

export interface FitReport {
  perModel: ({ model: string } & SegmentErrors)[];
  overall: SegmentErrors;
}

/** Where segments are cut, as fractions of a model's measured nodes in graph order. */
export const SEGMENT_CUT_FRACTIONS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9] as const;

/**
 * The fit's samples: every measured node, weighted 1/T² with T its model's node-time sum, so
 * each model counts the same (the report judges errors relative to each model's segments).
 * Unweighted, the largest model decides every coefficient: on the fixtures (1 thread) the
 * smallest model's in-sample segment error went from 54–89 % median to 14 %, the overall p90
 * from 60–96 % to 23–26 %.
 */
export function samplesOf(models: readonly ProfiledModelData[]): LatencySample[] {
  const out: LatencySample[] = [];
  for (const m of models) {
    const measured = m.features.filter((f) => m.nodesMs[f.name] !== undefined);
    const total = measured.reduce((a, f) => a + m.nodesMs[f.name]!, 0);
    const weight = total > 0 ? 1 / (total * total) : 1;
    for (const f of measured) out.push({ features: f, ms: m.nodesMs[f.name]!, weight });
  }
  return out;
}

function runsOf(models: readonly ProfiledModelData[]): { totalMs: number; nodeSumMs: number }[] {
  return models
    .filter((m) => m.totalMs !== undefined)
    .map((m) => ({ totalMs: m.totalMs!, nodeSumMs: m.features.reduce((a, f) => a + (m.nodesMs[f.name] ?? 0), 0) }));
}

/**
 * Relative errors of predicted vs measured segment latencies of one model. A segment is a run
 * of consecutive measured nodes (prefix or suffix at each cut fraction, and the whole model);
 * both sides are node sums, without `runOverheadMs` (equal on both sides, it would only
 * dilute the error). Per-node errors are not used: tiny nodes make them large and irrelevant.
 */
export function segmentRelativeErrors(latency: DeviceLatencyModel, m: ProfiledModelData): number[] {
  const measured: number[] = [];
  const predicted: number[] = [];
  for (const f of m.features) {
    const ms = m.nodesMs[f.name];
    if (ms === undefined) continue;
    measured.push(ms);
    predicted.push(regressionMs(latency, f));
  }
  const n = measured.length;
  if (n === 0) return [];
  const prefix = (xs: number[]): number[] => xs.reduce<number[]>((acc, x) => (acc.push(acc[acc.length - 1]! + x), acc), [0]);
  const pm = prefix(measured);
  const pp = prefix(predicted);
  const ranges = new Map<string, [number, number]>([[`0:${n}`, [0, n]]]);
  for (const frac of SEGMENT_CUT_FRACTIONS) {
    const k = Math.round(frac * n);
    if (k <= 0 || k >= n) continue;
    ranges.set(`0:${k}`, [0, k]);
    ranges.set(`${k}:${n}`, [k, n]);
  }
  const errs: number[] = [];
  for (const [a, b] of ranges.values()) {
    const meas = pm[b]! - pm[a]!;
    if (meas <= 0) continue;
    errs.push(Math.abs(pp[b]! - pp[a]! - meas) / meas);
  }
  return errs;
}

function stats(errs: readonly number[]): SegmentErrors {
  return { segments: errs.length, medianRelErr: median(errs), p90RelErr: quantile(errs, 0.9) };
}

/** Segment errors of `latency` on each model and over all their segments together. */
export function fitReport(latency: DeviceLatencyModel, models: readonly ProfiledModelData[]): FitReport {
  const all: number[] = [];
  const perModel = models.map((m) => {
    const errs = segmentRelativeErrors(latency, m);
    all.push(...errs);
    return { model: m.name, ...stats(errs) };
  });
  return { perModel, overall: stats(all) };
}

/** Fit over several profiled models: the latency model, and its in-sample segment errors. */
export function fitProfiledModels(models: readonly ProfiledModelData[], opts: Omit<FitOptions, 'runs'> = {}): { latency: DeviceLatencyModel; report: FitReport } {
  const latency = fitLatencyModel(samplesOf(models), { ...opts, runs: runsOf(models) });
  return { latency, report: fitReport(latency, models) };
}

/**
 * Leave-one-model-out: for each model, fit on all the others and measure the segment errors
 * on it, the error to expect on a model that was never profiled. Needs two models or more.
 */
export function leaveOneModelOut(models: readonly ProfiledModelData[], opts: Omit<FitOptions, 'runs'> = {}): FitReport {
  if (models.length < 2) throw new SplitcError('E_BAD_ARGUMENT', 'leave-one-model-out needs at least two profiled models');
  const all: number[] = [];
  const perModel = models.map((held, i) => {
    const rest = models.filter((_, j) => j !== i);
    const latency = fitLatencyModel(samplesOf(rest), { ...opts, runs: runsOf(rest) });
    const errs = segmentRelativeErrors(latency, held);
    all.push(...errs);
    return { model: held.name, ...stats(errs) };
  });
  return { perModel, overall: stats(all) };
}
