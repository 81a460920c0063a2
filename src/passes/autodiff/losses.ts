// Losses and priors as graph builders: each appends standard ONNX ops to a model's graph
// and returns a one-element value the autodiff pass can differentiate. Extra inputs they
// need (targets, labels) become graph inputs. The loss grammar of `splitc grad` is parsed
// here too.

import { DataType, isFloatDtype } from '../../ir/dtype.js';
import { SplitcError } from '../../ir/errors.js';
import { type Model, type Node, tensorType, Value } from '../../ir/graph.js';
import { constantOf } from '../../ir/constants.js';
import { xorshift32 } from '../../ir/random.js';
import { GradBuilder } from './builder.js';
import { needsInputShapes, nameTaken, unknownValue } from '../diagnostics.js';

function valueNamed(model: Model, name: string, what: string): Value {
  const v = model.graph.valuesByName().get(name);
  if (!v) throw unknownValue(name, `(${what})`);
  return v;
}

function floatOf(v: Value): DataType {
  const dt = v.dtype ?? DataType.FLOAT;
  if (!isFloatDtype(dt)) throw new SplitcError('E_AUTODIFF', `'${v.name}' is not a floating-point tensor`);
  return dt;
}

function builder(model: Model, scope: string): GradBuilder {
  const b = new GradBuilder(model);
  b.scope = scope;
  return b;
}

/** Mean over every element, as a scalar. */
function meanAll(b: GradBuilder, x: Value): Value {
  return b.reduceMean(x, [], false, { dtype: x.dtype, shape: [] });
}
function sumAll(b: GradBuilder, x: Value): Value {
  return b.reduceSum(x, [], false, { dtype: x.dtype, shape: [] });
}

/** A new graph input with the type of `like` (or the given one). */
function addInput(model: Model, b: GradBuilder, name: string, dtype: DataType, shape: (number | string | null)[] | null): Value {
  if (b.taken(name)) throw nameTaken(`add the input '${name}'`, 'rename it with the loss option (e.g. mse:out=target2)');
  b.claim(name);
  return model.graph.addInput(new Value(name, tensorType(dtype, shape ? [...shape] : null)));
}

/** Sum of every floating-point graph output (each summed over all its elements). */
export function sumLoss(model: Model): Value {
  const b = builder(model, 'loss/sum');
  const outs = model.graph.outputs.filter((o) => o.dtype === undefined || isFloatDtype(o.dtype));
  if (outs.length === 0) throw new SplitcError('E_AUTODIFF', 'the model has no floating-point output to sum');
  const parts = outs.map((o) => sumAll(b, o));
  return parts.length === 1 ? parts[0]! : b.sum(parts);
}

/** mean((y − target)²); the target is a new input named `targetName` with y's type. */
export function mseLoss(model: Model, output: string, targetName = 'target'): { loss: Value; target: Value } {
  const y = valueNamed(model, output, 'mse loss');
  const b = builder(model, 'loss/mse');
  const target = addInput(model, b, targetName, floatOf(y), y.shape);
  const d = b.sub(y, target);
  return { loss: meanAll(b, b.mul(d, d)), target };
}

/** Mean squared distance between a tensor and a target (a new input, or an existing value). */
export function featureMatchingLoss(model: Model, tensor: string, target: string | Value): { loss: Value; target: Value } {
  const y = valueNamed(model, tensor, 'feature matching');
  const b = builder(model, 'loss/feature');
  const t = typeof target === 'string' ? (model.graph.valuesByName().get(target) ?? addInput(model, b, target, floatOf(y), y.shape)) : target;
  const d = b.sub(y, t);
  return { loss: meanAll(b, b.mul(d, d)), target: t };
}

/**
 * Softmax cross-entropy against integer class labels (a new int64 input [N] named
 * `labelsName`), averaged over the batch. Logits are [N, C] (or [N, C, ...] with labels
 * [N, ...]) along `axis` 1. When `output` is produced by a Softmax, its input is used as
 * the logits (the same loss, computed stably).
 */
export function softmaxCrossEntropyLoss(model: Model, output: string, labelsName = 'labels'): { loss: Value; labels: Value; logits: Value } {
  let logits = valueNamed(model, output, 'ce loss');
  const p = logits.producer();
  if (p && p.opType === 'Softmax' && p.inputs[0]) logits = p.inputs[0];
  const dt = floatOf(logits);
  const shape = logits.shape;
  if (!shape || shape.length < 2) throw needsInputShapes('E_AUTODIFF', `ce loss: '${logits.name}' must be logits of rank ≥ 2 ([N, C, ...]), its shape is ${shape ? `[${shape.join(',')}]` : 'unknown'}`);
  const classes = shape[1];
  if (typeof classes !== 'number') throw needsInputShapes('E_AUTODIFF', `ce loss: the class count (dim 1 of '${logits.name}') is not static`);
  const b = builder(model, 'loss/ce');
  const labels = addInput(model, b, labelsName, DataType.INT64, [shape[0]!, ...shape.slice(2)]);
  const logp = b.op('LogSoftmax', [logits], { axis: 1 }, { dtype: dt, shape });
  // One-hot along axis 1 as (class index == label): Equal of [1, C, 1, …] against the labels
  // unsqueezed at axis 1, cast to the logits' type (onnxruntime has no OneHot to double).
  const classIds = b.constant(DataType.INT64, [1, classes, ...shape.slice(2).map(() => 1)], Array.from({ length: classes }, (_, i) => i));
  const hit = b.op('Equal', [classIds, b.unsqueeze(labels, [1])], {}, { dtype: DataType.BOOL, shape });
  const onehot = b.cast(hit, dt);
  const picked = b.reduceSum(b.mul(onehot, logp), [1], false, { dtype: dt });
  return { loss: b.neg(meanAll(b, picked)), labels, logits };
}

/**
 * Σ over `outputs` of ⟨output, R⟩ (summed in `dtype`), R seeded uniform in [−1, 1) with each
 * output's static shape: a loss whose gradient is a random vector-Jacobian product, for
 * gradient checks and benchmarks.
 */
export function projectionLoss(model: Model, outputs: Value[], opts: { seed: number; dtype?: DataType }): Value {
  const b = builder(model, 'loss/projection');
  const dt = opts.dtype ?? DataType.FLOAT;
  const r = xorshift32(opts.seed);
  const parts = outputs.map((o) => {
    const dims = o.shape?.map((d) => (typeof d === 'number' ? d : NaN));
    if (!dims || dims.some(Number.isNaN)) throw needsInputShapes('E_AUTODIFF', `projection loss: '${o.name}' has no static shape`);
    const weights = b.constant(dt, dims, Array.from({ length: dims.reduce((a, d) => a * d, 1) }, () => r() * 2 - 1));
    const y = o.dtype === dt ? o : b.cast(o, dt);
    return b.reduceSum(b.mul(y, weights), [], false, { dtype: dt, shape: [] });
  });
  return b.sum(parts);
}

/** Σ‖w‖² over the given values (weight decay as a loss term). */
export function l2Loss(model: Model, names: string[]): Value {
  if (names.length === 0) throw new SplitcError('E_AUTODIFF', 'l2: no values to penalize');
  const b = builder(model, 'loss/l2');
  const parts = names.map((n) => {
    const v = valueNamed(model, n, 'l2');
    return sumAll(b, b.mul(v, v));
  });
  return b.sum(parts);
}

/**
 * Total variation of an image batch [N, C, H, W]: mean of |Δ|^p over vertical and
 * horizontal neighbour differences (p = 2 by default: smooth; p = 1: anisotropic TV).
 */
export function totalVariationLoss(model: Model, image: string, p: 1 | 2 = 2): Value {
  const x = valueNamed(model, image, 'tv');
  const s = x.shape;
  if (!s || s.length !== 4) throw new SplitcError('E_AUTODIFF', `tv: '${image}' must be an image batch [N, C, H, W]`);
  const b = builder(model, 'loss/tv');
  const big = 2 ** 31 - 1;
  const diff = (axis: number): Value => {
    const hi = b.slice(x, [1], [big], [axis]);
    const lo = b.slice(x, [0], [-1], [axis]);
    const d = b.sub(hi, lo);
    return meanAll(b, p === 2 ? b.mul(d, d) : b.op('Abs', [d], {}, { dtype: x.dtype }));
  };
  return b.add(diff(2), diff(3));
}

/**
 * The BatchNorm-statistics prior (data-free inversion): for every BatchNormalization node
 * in inference mode, ‖mean(x) − running_mean‖₂ + ‖var(x) − running_var‖₂ with the batch
 * statistics of its input over all axes but the channel axis, summed over the nodes.
 */
export function bnStatisticsPrior(model: Model): { loss: Value; nodes: number } {
  const bns: Node[] = [...model.graph.nodes].filter((n) => n.opType === 'BatchNormalization' && n.inputs.length >= 5);
  if (bns.length === 0) throw new SplitcError('E_AUTODIFF', 'bn-prior: the model has no BatchNormalization node', { hint: 'models with BatchNorm folded into Conv carry no running statistics' });
  const b = builder(model, 'loss/bn-prior');
  const parts: Value[] = [];
  for (const n of bns) {
    const x = n.inputs[0]!;
    const rank = x.shape?.length;
    if (rank === undefined) throw needsInputShapes('E_AUTODIFF', `bn-prior: the rank of '${x.name}' (input of ${n.describe()}) is unknown`);
    const axes = [0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2)];
    const mean = b.reduceMean(x, axes, false, { dtype: x.dtype });
    const centered = b.sub(x, b.reduceMean(x, axes, true, { dtype: x.dtype }));
    const variance = b.reduceMean(b.mul(centered, centered), axes, false, { dtype: x.dtype });
    for (const [stat, i] of [[mean, 3], [variance, 4]] as const) {
      const running = n.inputs[i]!;
      if (!constantOf(running) && !running.isInitializer()) continue;
      const d = b.sub(stat, running);
      parts.push(b.op('Sqrt', [sumAll(b, b.mul(d, d))], {}, { dtype: x.dtype, shape: [] }));
    }
  }
  return { loss: b.sum(parts), nodes: bns.length };
}

/** weight · loss, summed over terms. */
export function combineLosses(model: Model, terms: { loss: Value; weight: number }[]): Value {
  const b = builder(model, 'loss/total');
  const parts = terms.map((t) => (t.weight === 1 ? t.loss : b.mul(t.loss, b.scalar(t.weight, t.loss.dtype ?? DataType.FLOAT))));
  return b.sum(parts);
}

// ---- the loss grammar ----

export interface LossTerm {
  kind: 'sum' | 'mse' | 'ce' | 'l2' | 'tv' | 'bn-prior' | 'feature';
  weight: number;
  /** The output / value the term applies to (default: the model's first output). */
  target?: string;
  /** Name of the extra input (mse target, ce labels, feature target). */
  input?: string;
}

const KINDS = new Set(['sum', 'mse', 'ce', 'l2', 'tv', 'bn-prior', 'feature']);

/**
 * Parse `term (+ term)*` where a term is `[weight*]kind[:value][=input]`, e.g. `ce`,
 * `mse:logits=target`, `ce+1e-4*l2`, `0.01*tv:x+bn-prior`.
 */
export function parseLossSpec(spec: string): LossTerm[] {
  const terms: LossTerm[] = [];
  for (const raw of spec.split('+')) {
    const text = raw.trim();
    const m = /^(?:([0-9.eE-]+)\s*\*\s*)?([a-z][a-z0-9-]*)(?::([^=]+))?(?:=(.+))?$/.exec(text);
    const weight = m?.[1] !== undefined ? Number(m[1]) : 1;
    if (!m || !KINDS.has(m[2]!) || !Number.isFinite(weight)) {
      throw new SplitcError('E_BAD_ARGUMENT', `cannot read the loss term '${text}' in '${spec}'`, {
        hint: 'terms are [weight*]kind[:value][=input] joined by +, kinds: sum, mse, ce, l2, tv, bn-prior, feature; e.g. --loss ce+1e-4*l2',
      });
    }
    terms.push({ kind: m[2] as LossTerm['kind'], weight, ...(m[3] ? { target: m[3].trim() } : {}), ...(m[4] ? { input: m[4].trim() } : {}) });
  }
  return terms;
}

export interface BuiltLoss {
  loss: Value;
  /** Inputs the loss added (targets, labels), by name. */
  extraInputs: Value[];
}

/** Build the loss a spec describes; `params` are the l2 term's values when it names none. */
export function buildLoss(model: Model, spec: string | LossTerm[], params: string[] = []): BuiltLoss {
  const terms = typeof spec === 'string' ? parseLossSpec(spec) : spec;
  const firstOutput = (): string => {
    const o = model.graph.outputs.find((v) => v.dtype === undefined || isFloatDtype(v.dtype));
    if (!o) throw new SplitcError('E_AUTODIFF', 'the model has no floating-point output');
    return o.name;
  };
  const extra: Value[] = [];
  const built = terms.map((t) => {
    switch (t.kind) {
      case 'sum':
        return { loss: t.target ? sumAll(builder(model, 'loss/sum'), valueNamed(model, t.target, 'sum')) : sumLoss(model), weight: t.weight };
      case 'mse': {
        const r = mseLoss(model, t.target ?? firstOutput(), t.input ?? 'target');
        extra.push(r.target);
        return { loss: r.loss, weight: t.weight };
      }
      case 'feature': {
        if (!t.target) throw new SplitcError('E_BAD_ARGUMENT', 'feature needs the tensor to match: feature:<value>[=<target input>]');
        const r = featureMatchingLoss(model, t.target, t.input ?? `${t.target}:target`);
        if (r.target.isGraphInput()) extra.push(r.target);
        return { loss: r.loss, weight: t.weight };
      }
      case 'ce': {
        const r = softmaxCrossEntropyLoss(model, t.target ?? firstOutput(), t.input ?? 'labels');
        extra.push(r.labels);
        return { loss: r.loss, weight: t.weight };
      }
      case 'l2':
        return { loss: l2Loss(model, t.target ? t.target.split(',') : params), weight: t.weight };
      case 'tv':
        return { loss: totalVariationLoss(model, t.target ?? model.graph.inputs[0]!.name), weight: t.weight };
      case 'bn-prior':
        return { loss: bnStatisticsPrior(model).loss, weight: t.weight };
    }
  });
  const loss = built.length === 1 && built[0]!.weight === 1 ? built[0]!.loss : combineLosses(model, built);
  return { loss, extraInputs: extra };
}
