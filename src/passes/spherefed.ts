// SphereFed's head (Dong et al., ECCV 2022): the classifier head of a model becomes
// L2-normalisation of its features followed by a FIXED matrix with orthonormal rows (seeded,
// never trained), and after the closed-form calibration the fixed matrix is replaced by the
// solved one (`calibratedHead`, the inference form for deployment).

import { DataType } from '../ir/dtype.js';
import { SplitcError } from '../ir/errors.js';
import type { Model, Node, Value } from '../ir/graph.js';
import { constantOf, dropWeightIfUnused } from '../ir/constants.js';
import { xorshift32 } from '../ir/random.js';
import { trainableParameters } from './autodiff/index.js';
import { Emitter, staticShape } from './emit.js';
import { checkPassOptions, registerPass, type Pass, type PassContext, type PassResult } from './pass.js';
import { cloneModel } from './training-graph.js';

/** Where the rewrite records what calibratedHead needs (survives serialization: clients get bytes). */
export const SPHEREFED_METADATA = 'splitc.spherefed';

export interface SphereFedOptions {
  /** Seeds the Gaussian matrix that is orthonormalised into the fixed classifier. */
  seed: number;
  /** Added to Σx² under the square root, so an all-zero feature row gives z = 0 (default 1e-12). */
  eps?: number;
}

export interface SphereFedHead {
  model: Model;
  /** The normalised features z [N, d] (also a graph output, for the calibration statistics). */
  features: string;
  /** z · Wᵀ [N, C], the model's first output (the MSE to one-hot labels is taken on it). */
  scores: string;
  /**
   * The fixed matrix Wᵀ [d, C] (an initializer, or a Constant node below IR 4). Both are
   * weights to `trainableParameters`, so callers train `params`, which leaves it out.
   */
  fixed: string;
  /** The model's trainable parameters without the fixed matrix: what a training graph should take. */
  params: string[];
  classes: number;
  dim: number;
}

/** The classifier head a model ends with: x [N, d] → linear → (Softmax | Identity | Flatten)* → output. */
export interface ClassifierHead {
  /** The features the head reads. */
  x: Value;
  /** The head's nodes, from the linear op to the one producing the output. */
  nodes: Node[];
  /** The weight and bias values the head reads (removed with it unless read elsewhere). */
  weights: Value[];
  output: Value;
  dim: number;
  classes: number;
}

const TRAILING = new Set(['Softmax', 'Identity', 'Flatten']);
const isStandard = (n: Node): boolean => n.domain === '' || n.domain === 'ai.onnx';

function headError(message: string, hint?: string): SplitcError {
  return new SplitcError('E_SPHEREFED', message, { hint: hint ?? 'SphereFed needs a model whose single output is a Gemm or MatMul(+Add) over [N, d] features, optionally followed by Softmax, Identity or Flatten' });
}

function dimsOf(v: Value): number[] | null {
  const t = constantOf(v);
  return t ? [...t.dims] : staticShape(v);
}

/** The value's only use is `node` (and it is no graph output): the head can be removed with it. */
function onlyFeeds(v: Value, node: Node): boolean {
  return !v.isGraphOutput() && v.uses().length === 1 && v.uses()[0]!.node === node;
}

/** Finds the classifier head (throws E_SPHEREFED when the model does not end in one); the model is not changed. */
export function findClassifierHead(model: Model): ClassifierHead {
  const g = model.graph;
  if (g.outputs.length !== 1) throw headError(`the model has ${g.outputs.length} outputs; SphereFed rewrites the head of a model with one`);
  const output = g.outputs[0]!;
  const nodes: Node[] = [];
  let v = output;
  let p = v.producer();
  while (p && isStandard(p) && TRAILING.has(p.opType)) {
    nodes.unshift(p);
    v = p.inputs[0]!;
    if (!onlyFeeds(v, p)) throw headError(`'${v.name}' before the head's ${p.opType} is read elsewhere`);
    p = v.producer();
  }
  if (!p || !isStandard(p)) throw headError(`the output '${output.name}' is not computed by a Gemm or MatMul(+Add)`);
  let linear = p;
  const weights: Value[] = [];
  if (p.opType === 'Add') {
    const [a, b] = p.inputs as Value[];
    const mm = [a, b].findIndex((u) => u?.producer()?.opType === 'MatMul' && !constantOf(u));
    const bias = mm === 0 ? b : a;
    if (mm < 0 || !bias || !constantOf(bias)) throw headError(`the output's Add '${p.name}' is not MatMul + constant bias`);
    const mmOut = (mm === 0 ? a : b)!;
    if (!onlyFeeds(mmOut, p)) throw headError(`the head's MatMul output '${mmOut.name}' is read elsewhere`);
    nodes.unshift(p);
    weights.push(bias);
    linear = mmOut.producer()!;
  }
  if (linear.opType !== 'Gemm' && linear.opType !== 'MatMul') throw headError(`the output '${output.name}' comes from ${linear.opType} '${linear.name}', not a Gemm or MatMul`);
  nodes.unshift(linear);
  const x = linear.inputs[0]!;
  const w = linear.inputs[1]!;
  const wDims = dimsOf(w);
  if (!wDims || wDims.length !== 2) throw headError(`the head's weight '${w.name}' is not a 2-D tensor of known shape`);
  if (linear.opType === 'Gemm' && linear.attrInt('transA', 0) !== 0) throw headError(`the head's Gemm '${linear.name}' has transA=1`, 'export the classifier as x · Wᵀ (transA=0)');
  const transB = linear.opType === 'Gemm' && linear.attrInt('transB', 0) !== 0;
  const [dim, classes] = transB ? [wDims[1]!, wDims[0]!] : [wDims[0]!, wDims[1]!];
  if (x.shape && x.shape.length !== 2) throw headError(`the head's features '${x.name}' have rank ${x.shape.length}, not [N, d]`);
  const xd = x.shape?.[1];
  if (typeof xd === 'number' && xd >= 0 && xd !== dim) throw headError(`the head's features '${x.name}' have ${xd} channels, its weight ${dim}`);
  weights.unshift(w);
  if (linear.opType === 'Gemm' && linear.inputs[2]) weights.push(linear.inputs[2]);
  if (classes > dim) {
    throw headError(`the head maps ${dim} features to ${classes} classes; SphereFed's fixed classifier needs ${classes} orthonormal rows in ${dim} dimensions`, 'SphereFed needs at least as many features as classes (d ≥ C)');
  }
  return { x, nodes, weights, output, dim, classes };
}

/**
 * A [d, C] float32 matrix (row-major) whose C columns are orthonormal: a seeded Gaussian C×d
 * matrix, its rows orthonormalised by modified Gram–Schmidt in float64 (two passes, so the
 * rows stay orthogonal to rounding even for nearly dependent draws), stored transposed.
 */
export function orthonormalRows(classes: number, dim: number, seed: number): Float32Array {
  if (classes > dim) throw headError(`${classes} orthonormal rows do not fit in ${dim} dimensions`, 'SphereFed needs at least as many features as classes (d ≥ C)');
  const r = xorshift32(seed);
  const gauss = (): number => Math.sqrt(-2 * Math.log(Math.max(r(), 1e-300))) * Math.cos(2 * Math.PI * r());
  const rows = Array.from({ length: classes }, () => Float64Array.from({ length: dim }, gauss));
  for (let i = 0; i < classes; i++) {
    const ri = rows[i]!;
    for (let pass = 0; pass < 2; pass++) {
      for (let j = 0; j < i; j++) {
        const rj = rows[j]!;
        let dot = 0;
        for (let k = 0; k < dim; k++) dot += ri[k]! * rj[k]!;
        for (let k = 0; k < dim; k++) ri[k] = ri[k]! - dot * rj[k]!;
      }
    }
    let norm = 0;
    for (let k = 0; k < dim; k++) norm += ri[k]! * ri[k]!;
    norm = Math.sqrt(norm);
    for (let k = 0; k < dim; k++) ri[k] = ri[k]! / norm;
  }
  const wT = new Float32Array(dim * classes);
  for (let c = 0; c < classes; c++) for (let k = 0; k < dim; k++) wT[k * classes + c] = rows[c]![k]!;
  return wT;
}

interface SphereFedRecord {
  /** The original output's name (calibratedHead gives it back). */
  output: string;
  features: string;
  scores: string;
  fixed: string;
}

/**
 * Rewrites the classifier head in place: z = x / √(Σx² + eps) over the feature axis, then
 * scores = z · Wᵀ with the fixed orthonormal Wᵀ [d, C]. `scores` replaces the original
 * output (Softmax and the like go: SphereFed's loss is the MSE to one-hot labels on the
 * scores); `features` (z) becomes a second output. Checks everything before changing the graph.
 */
export function sphereFedHead(model: Model, opts: SphereFedOptions): SphereFedHead {
  const head = findClassifierHead(model);
  const { x, dim, classes } = head;
  const wT = orthonormalRows(classes, dim, opts.seed);
  const eps = opts.eps ?? 1e-12;
  if (!(eps >= 0)) throw new SplitcError('E_BAD_ARGUMENT', `SphereFed's eps must be ≥ 0, got ${eps}`);
  const g = model.graph;
  const original = head.output.name;
  const batch = x.shape?.[0] ?? head.output.shape?.[0] ?? null;
  const em = Emitter.forModel(model, { scope: 'spherefed' });
  const f = DataType.FLOAT;
  const squares = em.mul(x, x, x);
  const sum = em.reduceSum(squares, [1], true, { dtype: f, shape: [batch, 1] });
  const norm = em.op('Sqrt', [em.add(sum, em.scalar(eps, f))], {}, { dtype: f, shape: [batch, 1] });
  const z = em.op('Div', [x, norm], {}, { name: 'features', dtype: f, shape: [batch, dim] });
  const fixed = em.namedConstant('spherefed.fixed', f, [dim, classes], wT);
  const scores = em.op('MatMul', [z, fixed], {}, { name: 'scores', dtype: f, shape: [batch, classes] });
  g.outputs = [scores, z];
  for (const n of [...head.nodes].reverse()) g.removeNode(n);
  for (const w of head.weights) dropWeightIfUnused(model.graph, w);
  const record: SphereFedRecord = { output: original, features: z.name, scores: scores.name, fixed: fixed.name };
  model.metadataProps = [...model.metadataProps.filter(([k]) => k !== SPHEREFED_METADATA), [SPHEREFED_METADATA, JSON.stringify(record)]];
  const params = trainableParameters(model).params.filter((p) => p !== fixed.name);
  return { model, features: z.name, scores: scores.name, fixed: fixed.name, params, classes, dim };
}

function sphereRecord(model: Model): SphereFedRecord {
  const entry = model.metadataProps.find(([k]) => k === SPHEREFED_METADATA);
  if (!entry) throw new SplitcError('E_SPHEREFED', 'the model has no SphereFed head', { hint: 'rewrite its head with sphereFedHead (pass spherefed-head) first' });
  return JSON.parse(entry[1]) as SphereFedRecord;
}

/**
 * The inference form of a SphereFed model after calibration: a copy whose fixed matrix is
 * replaced by `w` (the solved [d, C], row-major float32), with the features no longer an
 * output and the scores named as the original model's output. `sphereModel` is not changed.
 */
export function calibratedHead(sphereModel: Model, w: Float32Array): Model {
  const record = sphereRecord(sphereModel);
  const model = cloneModel(sphereModel);
  const g = model.graph;
  const values = g.valuesByName();
  const fixed = values.get(record.fixed);
  const scores = values.get(record.scores);
  const matmul = scores?.producer();
  const dims = fixed ? dimsOf(fixed) : null;
  if (!fixed || !scores || !dims || matmul?.opType !== 'MatMul' || matmul.inputs[1] !== fixed) {
    throw new SplitcError('E_SPHEREFED', `the SphereFed head recorded in the model (${record.scores} = ${record.features} · ${record.fixed}) is not in its graph`);
  }
  const [dim, classes] = dims as [number, number];
  if (w.length !== dim * classes) throw new SplitcError('E_SPHEREFED', `the calibrated matrix has ${w.length} elements; the head needs [${dim}, ${classes}] = ${dim * classes}`);
  if (values.has(record.output) && values.get(record.output) !== scores) throw new SplitcError('E_SPHEREFED', `cannot name the scores '${record.output}': the name is taken`);
  const em = Emitter.forModel(model, { scope: 'spherefed' });
  matmul.setInput(1, em.namedConstant('spherefed.calibrated', DataType.FLOAT, [dim, classes], w));
  dropWeightIfUnused(model.graph, fixed);
  g.outputs = g.outputs.filter((o) => o.name !== record.features);
  scores.name = record.output;
  model.metadataProps = model.metadataProps.filter(([k]) => k !== SPHEREFED_METADATA);
  return model;
}

/** The rewrite as a pass, `spherefed-head{seed=N;eps=E}` (in place). */
export function sphereFedHeadPass(options: Record<string, string> = {}): Pass {
  checkPassOptions('spherefed-head', options, ['seed', 'eps'], 'seed=N (default 0) and eps=E (default 1e-12)');
  const seed = Number(options.seed ?? 0);
  const eps = Number(options.eps ?? 1e-12);
  if (!Number.isInteger(seed) || !(eps >= 0)) throw new SplitcError('E_BAD_ARGUMENT', `pass 'spherefed-head' takes an integer seed and eps ≥ 0, got seed=${options.seed ?? ''} eps=${options.eps ?? ''}`, { hint: 'e.g. spherefed-head{seed=1}' });
  return {
    name: 'spherefed-head',
    options,
    inPlace: true,
    run: (model: Model, ctx?: PassContext): PassResult => {
      const r = sphereFedHead(model, { seed, eps });
      ctx?.info('I_SPHEREFED', `classifier head: ${r.dim} features → ${r.classes} classes through the fixed orthonormal '${r.fixed}' (not a training parameter)`);
      return { model, modified: true };
    },
  };
}

registerPass('spherefed-head', sphereFedHeadPass);
