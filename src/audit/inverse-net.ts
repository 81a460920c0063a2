// What the learned attackers share: a generator of small inverse networks (features → input,
// shaped after the edge part's resolution changes), the edge part embedded in a training graph
// with its BatchNorm frozen, a training loop over in-memory pairs with the project's Trainer,
// and running the target on a batch of inputs (features for training, feature distances).

import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../ir/builder.js';
import { cloneNode, cloneValue } from '../ir/clone.js';
import { constantOf } from '../ir/constants.js';
import { DataType } from '../ir/dtype.js';
import { SplitcError } from '../ir/errors.js';
import { type Model, Value } from '../ir/graph.js';
import { NameScope } from '../ir/names.js';
import { xorshift32 } from '../ir/random.js';
import { modelToBytes } from '../ir/serde/io.js';
import { Emitter, infoOf } from '../passes/emit.js';
import { foldBatchNorm } from '../passes/fold-batchnorm.js';
import { upgradeOpset } from '../passes/opset.js';
import { inferShapes } from '../passes/shape/index.js';
import { createOrtSession } from '../search/ort-session.js';
import { epochOrder } from '../runtime/train/fit.js';
import type { OptimizerConfig } from '../runtime/train/optimizer.js';
import { cloneModel } from '../passes/training-graph.js';
import { Trainer } from '../runtime/train/trainer.js';
import { BATCH_DIM, isBatchable } from './target.js';
import type { AttackTarget, InputRange, Probe } from './types.js';

/** The lowest opset of the generated graphs (DepthToSpace, Resize with optional roi, BatchNorm training mode). */
export const INVERSE_OPSET = 17;

/** How an inverse module bounds what it outputs. */
export type InverseActivation = { kind: 'range'; range: InputRange } | { kind: 'relu' } | { kind: 'none' };

export interface InverseSpec {
  /** Per-sample dims of each tensor the module reads (rank 3: [C, H, W] maps; other ranks are flattened). */
  inputs: number[][];
  /** Per-sample dims of what it reconstructs: [C, H, W]. */
  output: number[];
  activation: InverseActivation;
  /** Widest layer (default 64); the layers narrow by half per ×2 upsampling, to no fewer than 16 channels. */
  maxWidth?: number;
}

/**
 * The weights of one or more inverse modules in a graph being built: created on first use
 * (from `trained` when it holds the name, else seeded Kaiming-normal draws), shared by every
 * later use of the same name, so a module emitted twice runs with one set of parameters.
 */
export class InverseParams {
  private readonly values = new Map<string, Value>();
  private readonly constants = new Map<string, Value>();
  private readonly emitted = new Map<string, number>();
  private readonly rand: () => number;

  constructor(
    private readonly b: GraphBuilder,
    private readonly trained: ReadonlyMap<string, Float32Array>,
    seed: number,
  ) {
    this.rand = xorshift32(seed);
  }

  private gauss(): number {
    const u = Math.max(this.rand(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.rand());
  }

  tensor(name: string, dims: number[], std: number): Value {
    const had = this.values.get(name);
    if (had) return had;
    const n = dims.reduce((a, d) => a * d, 1);
    const stored = this.trained.get(name);
    if (stored && stored.length !== n) throw new SplitcError('E_AUDIT', `internal: trained weight '${name}' has ${stored.length} elements, the module ${n}`);
    const data = stored ? Float32Array.from(stored) : Float32Array.from({ length: n }, () => (std === 0 ? 0 : this.gauss() * std));
    const v = this.b.init(name, DataType.FLOAT, dims, data);
    this.values.set(name, v);
    return v;
  }

  /** A constant (not a parameter), shared by every use of the name. */
  constant(name: string, dtype: DataType, dims: number[], data: ArrayLike<number>): Value {
    let v = this.constants.get(name);
    if (!v) {
      v = this.b.init(name, dtype, dims, data);
      this.constants.set(name, v);
    }
    return v;
  }

  /** Suffix for node names of a module's n-th emission ('' for the first): emitted twice, it shares weights, not node names. */
  emission(prefix: string): string {
    const n = this.emitted.get(prefix) ?? 0;
    this.emitted.set(prefix, n + 1);
    return n === 0 ? '' : `#${n + 1}`;
  }

  /** Names of every parameter created so far, in creation order. */
  names(): string[] {
    return [...this.values.keys()];
  }
}

function prod(dims: readonly number[]): number {
  return dims.reduce((a, d) => a * d, 1);
}

/** Resize factor whose floor(in·scale) is exactly `to` in float32 (ONNX: out = floor(in·scale)). */
function resizeScale(from: number, to: number): number {
  return to % from === 0 ? to / from : (to + 0.25) / from;
}

/**
 * The layers of an inverse module, read from `spec`:
 *   inputs → (flattened ones: Gemm → Reshape to a map at a quarter of the output's size)
 *   → every map resized to the largest one's H×W (nearest, or linear for non-integer ratios)
 *   → Concat → Conv3×3+ReLU ×2 at that resolution
 *   → per ×2 upsampling: Conv3×3 to 4× the channels → DepthToSpace(2) → ReLU (sub-pixel
 *     convolution: no checkerboard from strided transposed kernels, and a cheap gradient)
 *   → a final resize when the ratio is not a power of two → Conv3×3+ReLU → Conv3×3 to C
 *   → the activation (range: lo + (hi − lo)·sigmoid, per channel).
 * No BatchNorm: the modules are trained with batches of a few dozen samples and applied to
 * one probe at a time; without batch statistics training and application compute the same
 * function.
 */
export function emitInverse(b: GraphBuilder, p: InverseParams, prefix: string, spec: InverseSpec, inputs: readonly Value[]): Value {
  const [C, H, W] = spec.output as [number, number, number];
  if (spec.output.length !== 3) throw new SplitcError('E_AUDIT', `an inverse module reconstructs [C, H, W] maps, not [${spec.output.join(', ')}]`);
  const maxWidth = spec.maxWidth ?? 64;
  const suffix = p.emission(prefix);
  const conv = (name: string, x: Value, cin: number, cout: number, k: number, gain = 2): Value => {
    const w = p.tensor(`${prefix}.${name}.weight`, [cout, cin, k, k], Math.sqrt(gain / (cin * k * k)));
    const bias = p.tensor(`${prefix}.${name}.bias`, [cout], 0);
    const pad = (k - 1) / 2;
    return b.op('Conv', [x, w, bias], { kernel_shape: [k, k], pads: [pad, pad, pad, pad] }, { name: `${prefix}.${name}${suffix}` });
  };
  const relu = (x: Value): Value => b.op('Relu', [x]);
  const resize = (x: Value, from: [number, number], to: [number, number]): Value => {
    const integral = to[0] % from[0] === 0 && to[1] % from[1] === 0;
    const scales = p.constant(`${prefix}.resize${from[0]}x${from[1]}to${to[0]}x${to[1]}.scales`, DataType.FLOAT, [4], [1, 1, resizeScale(from[0], to[0]), resizeScale(from[1], to[1])]);
    return b.op('Resize', [x, null, scales], integral ? { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' } : { mode: 'linear' });
  };

  // every input as a map [c, h, w]
  const maps: { v: Value; c: number; h: number; w: number }[] = inputs.map((v, i) => {
    const dims = spec.inputs[i]!;
    if (dims.length === 3) return { v, c: dims[0]!, h: dims[1]!, w: dims[2]! };
    const h0 = Math.max(1, Math.ceil(H / 4));
    const w0 = Math.max(1, Math.ceil(W / 4));
    const features = prod(dims);
    // at most ~4M weights in the projection
    const c0 = Math.max(1, Math.min(16, Math.floor(4_000_000 / (features * h0 * w0))));
    const flat = b.op('Flatten', [v], { axis: 1 });
    const wt = p.tensor(`${prefix}.in${i}.fc.weight`, [c0 * h0 * w0, features], Math.sqrt(2 / features));
    const bias = p.tensor(`${prefix}.in${i}.fc.bias`, [c0 * h0 * w0], 0);
    const fc = b.op('Gemm', [flat, wt, bias], { transB: 1 });
    const shape = p.constant(`${prefix}.in${i}.shape`, DataType.INT64, [4], [-1, c0, h0, w0]);
    return { v: relu(b.op('Reshape', [fc, shape])), c: c0, h: h0, w: w0 };
  });
  const base = maps.reduce((a, m) => (m.h * m.w > a.h * a.w ? m : a));
  const aligned = maps.map((m) => (m.h === base.h && m.w === base.w ? m.v : resize(m.v, [m.h, m.w], [base.h, base.w])));
  const cz = maps.reduce((a, m) => a + m.c, 0);
  let x = aligned.length === 1 ? aligned[0]! : b.op('Concat', aligned, { axis: 1 });

  let width = Math.min(maxWidth, Math.max(16, cz));
  x = relu(conv('head1', x, cz, width, 3));
  x = relu(conv('head2', x, width, width, 3));
  let [h, w] = [base.h, base.w];
  const stages = Math.max(0, Math.round(Math.log2(Math.min(H / h, W / w))));
  for (let s = 0; s < stages; s++) {
    const next = Math.max(16, Math.floor(width / 2));
    x = relu(b.op('DepthToSpace', [conv(`up${s}`, x, width, 4 * next, 3)], { blocksize: 2, mode: 'DCR' }));
    width = next;
    h *= 2;
    w *= 2;
  }
  if (h !== H || w !== W) x = resize(x, [h, w], [H, W]);
  x = relu(conv('refine', x, width, width, 3));
  let y = conv('out', x, width, C, 3, 1);
  const act = spec.activation;
  if (act.kind === 'relu') y = relu(y);
  else if (act.kind === 'range') {
    const lo = p.constant(`${prefix}.range.lo`, DataType.FLOAT, [1, C, 1, 1], act.range.lo);
    const span = p.constant(`${prefix}.range.span`, DataType.FLOAT, [1, C, 1, 1], act.range.hi.map((hi, c) => hi - act.range.lo[c]!));
    y = b.op('Add', [b.op('Mul', [b.op('Sigmoid', [y]), span]), lo]);
  }
  return y;
}

/** One inverse module as a model: inputs `names` ([N, …dims]) → output `out`. */
export function inverseModel(spec: InverseSpec, opts: { prefix: string; inputNames: string[]; output: string; trained?: ReadonlyMap<string, Float32Array>; seed: number }): { model: Model; params: string[] } {
  const b = new GraphBuilder(`${opts.prefix}_inverse`);
  const p = new InverseParams(b, opts.trained ?? new Map(), opts.seed);
  const inputs = opts.inputNames.map((n, i) => b.input(n, DataType.FLOAT, [BATCH_DIM, ...spec.inputs[i]!]));
  const y = emitInverse(b, p, opts.prefix, spec, inputs);
  b.output(b.op('Identity', [y], {}, { outputNames: [opts.output] }), { dtype: DataType.FLOAT, shape: [BATCH_DIM, ...spec.output] });
  return { model: b.model({ opset: INVERSE_OPSET }), params: p.names() };
}

// ---- the edge part inside a training graph ----

/**
 * The target's edge part for a training graph at `opset` (raised to it): every inference-mode
 * BatchNorm made constant arithmetic — folded into the Conv before it where possible, else
 * x·s + t with s = γ/√(σ² + ε), t = β − μ·s (the trainer turns BatchNorm nodes into their
 * training form; the target's must stay as deployed) — and the quantiser's rounding (the
 * target's straight-through Floors) made Identity: the trainer differentiates with the
 * standard rules, under which a Floor passes no gradient, so the rounding is dropped instead
 * (the re-encoded value is then off by less than one quantisation step).
 */
export function frozenEdge(target: AttackTarget, opset: number): Model {
  const m = cloneModel(target.model);
  if (m.opset < opset) upgradeOpset(m, opset);
  foldBatchNorm(m);
  const floors = new Set(target.straightThrough);
  for (const n of m.graph.nodes) if (n.opType === 'Floor' && floors.has(n.name)) n.opType = 'Identity';
  const g = m.graph;
  // Names drawn against the graph's values only, and constants always initializers, as before
  // the emitter built these (the trained inverse networks' graphs stay the same).
  const em = new Emitter(g, { opset: m.opset, initializers: true, names: new NameScope(g.valuesByName().keys()) });
  for (const n of [...g.nodes]) {
    if (n.opType !== 'BatchNormalization') continue;
    if (n.attrInt('training_mode', 0) !== 0) throw new SplitcError('E_AUDIT', `${n.describe()} is in training mode; the audit attacks the deployed (inference-mode) edge part`);
    const k = [1, 2, 3, 4].map((i) => constantOf(n.inputs[i])?.toTypedArray() as Float32Array | undefined);
    if (k.some((a) => !a)) throw new SplitcError('E_AUDIT', `${n.describe()} has statistics or scales computed at run time; cannot freeze it`);
    const [gamma, beta, mean, variance] = k as Float32Array[];
    const eps = n.attrFloat('epsilon', 1e-5)!;
    const channels = gamma!.length;
    const rank = n.inputs[0]!.shape?.length ?? 4;
    const dims = [channels, ...new Array<number>(Math.max(0, rank - 2)).fill(1)];
    const s = new Float32Array(channels);
    const t = new Float32Array(channels);
    for (let c = 0; c < channels; c++) {
      s[c] = gamma![c]! / Math.sqrt(variance![c]! + eps);
      t[c] = beta![c]! - mean![c]! * s[c]!;
    }
    const x = n.inputs[0]!;
    const y = n.outputs[0]!;
    em.before(n);
    const scale = em.namedConstant(`${n.name || y.name}.frozen_scale`, DataType.FLOAT, dims, s);
    const scaled = em.op('Mul', [x, scale], {}, { name: `${y.name}.scaled`, ...infoOf(x) }, em.fresh(`${n.name}.frozen_mul`));
    const shift = em.namedConstant(`${n.name || y.name}.frozen_shift`, DataType.FLOAT, dims, t);
    const shifted = em.op('Add', [scaled, shift], {}, { name: `${y.name}.frozen`, ...infoOf(y) }, em.fresh(`${n.name}.frozen_add`));
    y.replaceAllUsesWith(shifted);
    g.removeNode(n, false);
    shifted.name = y.name;
  }
  return m;
}

/**
 * Append a copy of `part` (a standalone model) to the graph being built, its input `input`
 * reading `from`; every name gets `prefix`. Returns the copies of its outputs.
 */
export function appendPart(b: GraphBuilder, part: Model, input: string, from: Value, prefix: string): Value[] {
  const g = part.graph;
  const map = new Map<Value, Value>();
  const x = g.inputs.find((v) => v.name === input);
  if (!x) throw new SplitcError('E_AUDIT', `internal: the edge part has no input '${input}'`);
  map.set(x, from);
  for (const v of g.initializers.values()) {
    if (map.has(v)) continue;
    const c = cloneValue(v);
    c.name = `${prefix}${v.name}`;
    map.set(v, c);
    b.graph.addInitializer(c, v.constValue!);
  }
  for (const n of g.nodes) {
    for (const d of n.dependencies()) if (!map.has(d)) throw new SplitcError('E_AUDIT', `internal: ${n.describe()} reads '${d.name}', which is neither the input nor a constant`);
    const c = cloneNode(n, map);
    c.name = `${prefix}${n.name}`;
    for (const o of c.outputs) if (o.name) o.name = `${prefix}${o.name}`;
    b.graph.appendNode(c);
  }
  return g.outputs.map((o) => map.get(o)!);
}

// ---- running models ----

export async function createSession(model: Model, threads: number): Promise<ort.InferenceSession> {
  const options: ort.InferenceSession.SessionOptions = { graphOptimizationLevel: 'all', ...(threads > 0 ? { intraOpNumThreads: threads, interOpNumThreads: 1 } : {}) };
  return createOrtSession(ort, modelToBytes(model), options);
}

/** Samples stacked: `data` is [n, …dims]. */
export interface Stack {
  n: number;
  dims: number[];
  data: Float32Array;
}

export function stack(samples: readonly Float32Array[], dims: number[]): Stack {
  const per = prod(dims);
  const data = new Float32Array(samples.length * per);
  samples.forEach((s, i) => {
    if (s.length !== per) throw new SplitcError('E_AUDIT', `a sample has ${s.length} values, expected ${per} ([${dims.join(', ')}])`);
    data.set(s, i * per);
  });
  return { n: samples.length, dims, data };
}

export function rows(s: Stack): Float32Array[] {
  const per = prod(s.dims);
  return Array.from({ length: s.n }, (_, i) => s.data.slice(i * per, (i + 1) * per));
}

function toFloat32(t: ort.Tensor): Float32Array {
  const d = t.data;
  if (d instanceof Float32Array) return d;
  if (d instanceof BigInt64Array || d instanceof BigUint64Array) return Float32Array.from(d, (v) => Number(v));
  return Float32Array.from(d as ArrayLike<number>);
}

/**
 * Run a model with one batched input over `x` in batches of at most `batch` (1 when its batch
 * dim is fixed), collecting the named outputs (each [n, …], converted to float32).
 */
export async function runStacked(session: ort.InferenceSession, input: string, x: Stack, outputs: string[], batch: number, onBatch?: (done: number) => void): Promise<Stack[]> {
  const per = prod(x.dims);
  const parts: Float32Array[][] = outputs.map(() => []);
  const dims: number[][] = outputs.map(() => []);
  for (let start = 0; start < x.n; start += batch) {
    const m = Math.min(batch, x.n - start);
    const feed = new ort.Tensor('float32', x.data.subarray(start * per, (start + m) * per), [m, ...x.dims]);
    const out = await session.run({ [input]: feed }, outputs);
    outputs.forEach((name, k) => {
      parts[k]!.push(toFloat32(out[name]!));
      dims[k] = [...out[name]!.dims.slice(1)];
    });
    onBatch?.(start + m);
  }
  return outputs.map((_, k) => {
    const per2 = prod(dims[k]!);
    const data = new Float32Array(x.n * per2);
    let off = 0;
    for (const p of parts[k]!) {
      data.set(p, off);
      off += p.length;
    }
    return { n: x.n, dims: dims[k]!, data };
  });
}

/** Largest batch the target's model runs (1 when its batch dim is fixed). */
export function targetBatch(target: AttackTarget, wanted: number): number {
  return isBatchable(target) ? wanted : 1;
}

/** A copy of the target's model that also outputs the named intermediate values. */
export function withOutputs(target: AttackTarget, extra: readonly string[]): Model {
  const m = cloneModel(target.model);
  const byName = m.graph.valuesByName();
  for (const name of extra) {
    const v = byName.get(name);
    if (!v) throw new SplitcError('E_AUDIT', `internal: the edge part has no value '${name}'`);
    if (!m.graph.outputs.includes(v)) m.graph.outputs.push(v);
  }
  if (extra.some((n) => !byName.get(n)!.type)) {
    const input = m.graph.inputs.find((v) => v.name === target.input)!;
    inferShapes(m, { inputShapes: { [target.input]: [...(input.shape ?? [BATCH_DIM, ...target.inputDims])] } });
  }
  return m;
}

/** E(x̂) for every reconstruction, and its distance to the probe's z: mean over observed tensors of Σ(E(x̂) − z)² / Σz². */
export async function featureDistances(target: AttackTarget, reconstructions: readonly Float32Array[], probes: readonly Probe[], threads: number): Promise<number[]> {
  const session = await createSession(target.model, threads);
  try {
    const names = target.observed.map((o) => o.name);
    const out = await runStacked(session, target.input, stack(reconstructions, target.inputDims), names, targetBatch(target, 64));
    return probes.map((p, i) =>
      out.reduce((acc, o, k) => {
        const per = prod(o.dims);
        const e = o.data.subarray(i * per, (i + 1) * per);
        const z = p.z[k]!;
        let num = 0;
        let den = 0;
        for (let j = 0; j < per; j++) {
          const d = e[j]! - z[j]!;
          num += d * d;
          den += z[j]! * z[j]!;
        }
        return acc + num / Math.max(den, 1e-12) / out.length;
      }, 0),
    );
  } finally {
    await session.release();
  }
}

// ---- training on in-memory data ----

/** Inputs drawn together: every named stack has the same n; a batch takes the same rows of each. */
export interface Stream {
  feeds: Record<string, Stack>;
  batch: number;
}

export interface TrainPlan {
  /** The model and its loss (a loss spec over its values). */
  model: Model;
  loss: string;
  params: string[];
  optimizer: OptimizerConfig;
  /** The first stream sets the epochs; the others cycle along with it. */
  streams: Stream[];
  epochs: number;
  seed: number;
  threads: number;
  onStep?: (step: number, total: number) => void;
}

export interface Trained {
  params: Map<string, Float32Array>;
  steps: number;
  /** Mean loss over the last epoch. */
  loss: number;
}

/** Train `plan.params` with the project's Trainer (Adam, cosine decay) on batches drawn from the streams, seeded shuffles. */
export async function trainOnStreams(plan: TrainPlan): Promise<Trained> {
  const first = plan.streams[0]!;
  const n0 = Object.values(first.feeds)[0]!.n;
  const batchesPerEpoch = Math.floor(n0 / first.batch);
  if (batchesPerEpoch < 1) throw new SplitcError('E_AUDIT', `internal: ${n0} samples for batches of ${first.batch}`);
  const total = batchesPerEpoch * plan.epochs;
  // shapes of the model's own inputs (the loss's target inputs take their values' shapes)
  const modelInputs = new Set(plan.model.graph.inputs.map((v) => v.name));
  const inputShapes: Record<string, number[]> = {};
  for (const s of plan.streams) for (const [name, st] of Object.entries(s.feeds)) if (modelInputs.has(name)) inputShapes[name] = [s.batch, ...st.dims];
  const trainer = await Trainer.create({
    ort,
    model: plan.model,
    loss: plan.loss,
    params: plan.params,
    inputShapes,
    optimizer: plan.optimizer,
    schedule: { kind: 'cosine', total, warmup: Math.min(20, Math.floor(total / 10)) },
    ...(plan.threads > 0 ? { sessionOptions: { intraOpNumThreads: plan.threads, interOpNumThreads: 1 } } : {}),
  });
  try {
    const buffers = plan.streams.map((s) => Object.fromEntries(Object.entries(s.feeds).map(([name, st]) => [name, new Float32Array(s.batch * prod(st.dims))])));
    const tensors = plan.streams.map((s, k) => Object.fromEntries(Object.entries(s.feeds).map(([name, st]) => [name, new ort.Tensor('float32', buffers[k]![name]!, [s.batch, ...st.dims])])));
    // each stream: its own seeded order, renewed whenever it runs out
    const cursors = plan.streams.map((s, k) => ({ n: Object.values(s.feeds)[0]!.n, pos: 0, round: 0, order: epochOrder(Object.values(s.feeds)[0]!.n, plan.seed + 7919 * k, 0) }));
    let steps = 0;
    let sum = 0;
    let count = 0;
    for (let epoch = 0; epoch < plan.epochs; epoch++) {
      sum = 0;
      count = 0;
      for (let bi = 0; bi < batchesPerEpoch; bi++) {
        plan.streams.forEach((s, k) => {
          const cur = cursors[k]!;
          if (cur.pos + s.batch > cur.n) {
            cur.round++;
            cur.pos = 0;
            cur.order = epochOrder(cur.n, plan.seed + 7919 * k, cur.round);
          }
          for (const [name, st] of Object.entries(s.feeds)) {
            const per = prod(st.dims);
            const buf = buffers[k]![name]!;
            for (let j = 0; j < s.batch; j++) {
              const i = cur.order[cur.pos + j]!;
              buf.set(st.data.subarray(i * per, (i + 1) * per), j * per);
            }
          }
          cur.pos += s.batch;
        });
        const r = await trainer.trainStep(Object.assign({}, ...tensors));
        if (!Number.isFinite(r.loss)) throw new SplitcError('E_AUDIT', `training an inverse network diverged (loss ${r.loss} at step ${steps + 1})`);
        sum += r.loss;
        count++;
        steps++;
        plan.onStep?.(steps, total);
      }
    }
    return { params: new Map([...trainer.params].map(([k, v]) => [k, Float32Array.from(v)])), steps, loss: sum / Math.max(count, 1) };
  } finally {
    await trainer.release();
  }
}

/** Run an inverse model (inputs named as in `feeds`, one output) over stacked inputs in batches. */
export async function applyInverse(model: Model, feeds: Record<string, Stack>, output: string, threads: number, batch = 64): Promise<Stack> {
  const session = await createSession(model, threads);
  try {
    const entries = Object.entries(feeds);
    const n = entries[0]![1].n;
    const parts: Float32Array[] = [];
    let dims: number[] = [];
    for (let start = 0; start < n; start += batch) {
      const m = Math.min(batch, n - start);
      const feed: Record<string, ort.Tensor> = {};
      for (const [name, st] of entries) {
        const per = prod(st.dims);
        feed[name] = new ort.Tensor('float32', st.data.subarray(start * per, (start + m) * per), [m, ...st.dims]);
      }
      const out = (await session.run(feed, [output]))[output]!;
      parts.push(Float32Array.from(out.data as Float32Array));
      dims = [...out.dims.slice(1)];
    }
    const data = new Float32Array(n * prod(dims));
    let off = 0;
    for (const p of parts) {
      data.set(p, off);
      off += p.length;
    }
    return { n, dims, data };
  } finally {
    await session.release();
  }
}
