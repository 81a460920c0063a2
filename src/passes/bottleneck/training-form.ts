// The training form of a bottleneck: the uncut model with, at each cut tensor x, the wire's
// round trip written out in float — reduce, fake quantisation (the coder's arithmetic without
// byte packing), recover — so a trainer can optimise the learned weights end to end.
// Defence stages are left out: they have no parameters, and their fresh random draws would
// make training runs unrepeatable (a seed fixed in the graph would train against one draw).

import { cloneModelShallow } from '../../ir/clone.js';
import { DataType } from '../../ir/dtype.js';
import { SplitcError } from '../../ir/errors.js';
import { type Dim, Model, type Node, type Value } from '../../ir/graph.js';
import type { SplitResult } from '../cut.js';
import { assertValid } from '../../ir/verify.js';
import { Emitter } from '../emit.js';
import { channelShape, type StageConstants, type TensorPlan } from './codec.js';
import { emitLearnedRecover, emitLearnedReduce, learnedOutDims, type LearnedWeights } from './learned.js';

/** One cut tensor in the training form. */
export interface TrainingFormTensor {
  /** The cut tensor x (still computed, now read only by the reduce). */
  source: string;
  /** x̂, the recovered tensor every former consumer of x now reads. */
  recovered: string;
  /** The trainable initializers of its learned stage (absent without one). */
  learned?: { reduce: { weight: string; bias: string }; recover: { weight: string; bias: string } };
}

export interface TrainingForm {
  model: Model;
  /** Initializer names the trainer optimises: every learned stage's reduce/recover weight and bias. */
  trainable: string[];
  /** Floor nodes of the fake quantisers (the trainer gives them straight-through gradients). */
  floors: string[];
  /** Per cut tensor, in the plans' order: x and x̂ (for a feature-MSE term) and its parameters. */
  tensors: TrainingFormTensor[];
}

/**
 * A copy of the uncut `model` with each plan's stages inserted at its cut tensor (plans from
 * `planCompression(split, …)`, the constants compressSplit bakes into the bundle): the
 * cloud-side consumers of x read x̂, the edge-side ones (those the cut tensors or the edge's
 * own outputs depend on) keep reading x, as in the split. Passed-through tensors are left as
 * they are. Its outputs equal running the compressed edge then cloud (up to float rounding):
 * the same ops, less the byte packing, which is lossless.
 */
export function bottleneckTrainingForm(model: Model, split: Pick<SplitResult, 'cutTensors' | 'edgeOutputs'>, plans: readonly TensorPlan[]): TrainingForm {
  const copy = cloneModelShallow(model);
  const g = copy.graph;
  const byName = g.valuesByName();
  const active = plans.filter((p) => p.passthrough === undefined);
  // check everything first: the copy is only touched once every plan can apply
  for (const p of active) {
    const x = byName.get(p.source);
    if (!x) throw new SplitcError('E_COMPRESS', `cut tensor '${p.source}' is not a value of the model`, { hint: 'build the training form from the model the split was made of' });
    if (x.uses().some((u) => u.index < 0)) throw new SplitcError('E_COMPRESS', `cut tensor '${p.source}' is read inside a subgraph; the training form cannot rewire it`);
    const pca = p.stages.find((s) => s.kind === 'pca');
    if (pca) throw new SplitcError('E_COMPRESS', `cut tensor '${p.source}' has a pca stage; the training form trains learned=K stages`, { hint: "write 'learned=K' in place of 'pca=K'" });
  }
  const form: TrainingForm = { model: copy, trainable: [], floors: [], tensors: [] };
  const edge = edgeNodes([...split.cutTensors, ...split.edgeOutputs].map((n) => byName.get(n)).filter((v) => v !== undefined));
  for (const p of active) {
    const x = byName.get(p.source)!;
    const uses = x.uses().filter((u) => !edge.has(u.node));
    // the chain goes just before x's first consumer (in graph order), so it is after x's producer
    const consumers = new Set(uses.map((u) => u.node));
    const first = g.nodes.toArray().find((n) => consumers.has(n));
    const em = Emitter.forModel(copy, { naming: 'output' });
    if (first) em.before(first);
    const t: TrainingFormTensor = { source: p.source, recovered: '' };
    const xhat = emitRoundTrip(em, x, p, form, t);
    for (const u of uses) u.node.setInput(u.index, xhat);
    t.recovered = xhat.name;
    form.tensors.push(t);
  }
  assertValid(copy);
  return form;
}

/** The nodes the given values depend on: the edge side of the split, in the uncut model. */
function edgeNodes(roots: Value[]): Set<Node> {
  const out = new Set<Node>();
  const stack = roots.map((v) => v.producer()).filter((n) => n !== null);
  while (stack.length) {
    const n = stack.pop()!;
    if (out.has(n)) continue;
    out.add(n);
    for (const v of [...n.inputs, ...n.implicitInputs()]) {
      const q = v?.producer();
      if (q && !out.has(q)) stack.push(q);
    }
  }
  return out;
}

/** reduce → fake-quantise → recover on x; records trainables and Floor nodes. */
function emitRoundTrip(em: Emitter, x: Value, plan: TensorPlan, form: TrainingForm, t: TrainingFormTensor): Value {
  const f = DataType.FLOAT;
  const base = plan.source;
  const stages = plan.stages.filter((s) => s.kind !== 'noise' && s.kind !== 'dropout');
  let dims: Dim[] = [...plan.dims];
  const rank = dims.length;
  let cur = x;
  if (stages.length === 0) return em.op('Identity', [x], {}, { name: `${base}.recovered`, dtype: plan.dtype, shape: plan.dims });
  if (plan.dtype !== f) cur = em.cast(cur, f, { name: `${base}.train.f32`, shape: dims });
  const undo: ((v: Value) => Value)[] = [];
  for (const s of stages) {
    if (s.kind === 'learned') {
      const inDims = dims;
      const z = emitLearnedReduce(em, cur, s, base, inDims, `${base}.train.z`);
      dims = learnedOutDims(inDims, s.axis, s.k, s.stride);
      // initializers may have been renamed to stay unique: read the names back from the graph
      const reduceNames = moduleParams(z, s);
      cur = z;
      undo.push((v) => {
        const r = emitLearnedRecover(em, v, s, base, inDims, `${base}.train.xhat`);
        const params = moduleParams(r, s);
        t.learned = { reduce: reduceNames, recover: params };
        form.trainable.push(reduceNames.weight, reduceNames.bias, params.weight, params.bias);
        return r;
      });
    } else if (s.kind === 'fp16') {
      const clipped = em.clip(cur, -65504, 65504, { name: `${base}.train.fp16.clip`, dtype: f, shape: dims });
      const half = em.cast(clipped, DataType.FLOAT16, { name: `${base}.train.fp16`, shape: dims });
      cur = em.cast(half, f, { name: `${base}.train.fp16.f32`, shape: dims });
    } else if (s.kind === 'quant') {
      cur = emitFakeQuant(em, cur, s, dims, rank, `${base}.train.q${s.bits}`, form.floors);
    }
  }
  for (let i = undo.length - 1; i >= 0; i--) cur = undo[i]!(cur);
  if (plan.dtype !== f) cur = em.cast(cur, plan.dtype, { name: `${base}.train.restored`, shape: plan.dims });
  // a final Identity gives x̂ a stable name, whichever stage came last
  return em.op('Identity', [cur], {}, { name: `${base}.recovered`, dtype: plan.dtype, shape: plan.dims });
}

/** A module's weight and bias initializers, found from its output (Conv / ConvTranspose [→ Slice] / MatMul → Add). */
function moduleParams(r: Value, s: StageConstants & { kind: 'learned' }): { weight: string; bias: string } {
  let n = r.producer()!;
  if (n.opType === 'Slice') n = n.inputs[0]!.producer()!;
  if (s.form === 'matmul') return { weight: n.inputs[0]!.producer()!.inputs[1]!.name, bias: n.inputs[1]!.name };
  return { weight: n.inputs[1]!.name, bias: n.inputs[2]!.name };
}

/** The encoder's quantisation then the decoder's dequantisation, in float: codes = clip(floor(x/scale + zp + 0.5), 0, qmax); x̃ = (codes − zp)·scale. */
function emitFakeQuant(em: Emitter, x: Value, s: StageConstants & { kind: 'quant' }, dims: Dim[], rank: number, name: string, floors: string[]): Value {
  const f = DataType.FLOAT;
  const pshape = s.axis === null ? [] : channelShape(rank, s.axis, s.scale.length);
  const inv = em.namedConstant(`${name}.inv_scale`, f, pshape, s.scale.map((v) => Math.fround(1 / v)));
  const zph = em.namedConstant(`${name}.zp_half`, f, pshape, s.zeroPoint.map((z) => z + 0.5));
  const scaled = em.op('Mul', [x, inv], {}, { name: `${name}.scaled`, dtype: f, shape: dims });
  const shifted = em.op('Add', [scaled, zph], {}, { name: `${name}.shifted`, dtype: f, shape: dims });
  const floored = em.op('Floor', [shifted], {}, { name: `${name}.floor`, dtype: f, shape: dims });
  floors.push(floored.producer()!.name);
  const codes = em.clip(floored, 0, 2 ** s.bits - 1, { name: `${name}.codes`, dtype: f, shape: dims });
  const zp = em.namedConstant(`${name}.zero_point`, f, pshape, s.zeroPoint);
  const scale = em.namedConstant(`${name}.scale`, f, pshape, s.scale);
  const centred = em.op('Sub', [codes, zp], {}, { name: `${name}.centred`, dtype: f, shape: dims });
  return em.op('Mul', [centred, scale], {}, { name: `${name}.value`, dtype: f, shape: dims });
}

/**
 * The trained weights of every learned stage of `form`, read by initializer name through
 * `lookup` (e.g. the trainer's parameters, or `initializerLookup(trainedModel)`): what
 * `CutTensorStats.learned` / calibrateSplit's `learned` option take.
 */
export function learnedWeightsFrom(form: TrainingForm, lookup: (initializer: string) => ArrayLike<number> | undefined): Record<string, LearnedWeights> {
  const out: Record<string, LearnedWeights> = {};
  for (const t of form.tensors) {
    if (!t.learned) continue;
    const get = (name: string): ArrayLike<number> => {
      const v = lookup(name);
      if (!v) throw new SplitcError('E_COMPRESS', `no trained value for '${name}' (learned stage of '${t.source}')`, { hint: 'look the values up in the model or parameters the trainer returned' });
      return v;
    };
    out[t.source] = {
      reduce: { weight: get(t.learned.reduce.weight), bias: get(t.learned.reduce.bias) },
      recover: { weight: get(t.learned.recover.weight), bias: get(t.learned.recover.bias) },
    };
  }
  return out;
}

/** A lookup of a model's float initializers by name (for learnedWeightsFrom). */
export function initializerLookup(model: Model): (name: string) => ArrayLike<number> | undefined {
  return (name) => {
    const t = model.graph.initializers.get(name)?.constValue;
    return t ? (t.toTypedArray() as ArrayLike<number>) : undefined;
  };
}
