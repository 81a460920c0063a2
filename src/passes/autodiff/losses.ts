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
import { upgradeOpset } from '../opset.js';

/** The opset from which Softmax and LogSoftmax normalise along one axis. */
const MIN_SOFTMAX_AXIS_OPSET = 13;

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

/**
 * A value of the graph used as a loss target, copied through an Identity node that the
 * autodiff pass must be told to stop at (`stopGradientRules([node])`): the target is what
 * the loss pulls towards, never pulled itself, and its other uses keep their gradients.
 */
function detached(b: GradBuilder, v: Value): { value: Value; node: string } {
  const value = b.op('Identity', [v], {}, { dtype: v.dtype, shape: v.shape ? [...v.shape] : null }, b.fresh(`${b.scope}/stop_gradient`));
  return { value, node: value.producer()!.name };
}

/**
 * Mean squared distance between a tensor and a target: a new input, a graph input, or a value
 * of the graph (then through a stop-gradient copy, named in `stopGradient`).
 */
export function featureMatchingLoss(model: Model, tensor: string, target: string | Value): { loss: Value; target: Value; stopGradient: string[] } {
  const y = valueNamed(model, tensor, 'feature matching');
  const b = builder(model, 'loss/feature');
  const t = typeof target === 'string' ? (model.graph.valuesByName().get(target) ?? addInput(model, b, target, floatOf(y), y.shape)) : target;
  const stop = t.isGraphInput() ? null : detached(b, t);
  const d = b.sub(y, stop ? stop.value : t);
  return { loss: meanAll(b, b.mul(d, d)), target: t, stopGradient: stop ? [stop.node] : [] };
}

export interface DistillationOptions {
  /** Softmax temperature T (default 1); the loss is scaled by T² so its gradient keeps its size. */
  temperature?: number;
  /** The class axis (default −1, the last). */
  axis?: number;
  /** The teacher's logits: a new input of this name (default 'teacher'), or a value of the graph (used through a stop-gradient copy). */
  teacher?: string;
}

/** What both distillation terms start with: the temperature, the teacher's logits (a new input, or a graph value behind a stop-gradient copy) and scaling by 1/T. */
function distillationSetup(model: Model, logits: Value, opts: DistillationOptions) {
  const T = opts.temperature ?? 1;
  if (!(T > 0) || !Number.isFinite(T)) throw new SplitcError('E_BAD_ARGUMENT', `kd loss: the temperature must be a positive number, not ${T}`);
  const dt = floatOf(logits);
  const info = { dtype: dt, shape: logits.shape ? [...logits.shape] : null };
  const b = builder(model, 'loss/kd');
  const name = opts.teacher ?? 'teacher';
  const existing = model.graph.valuesByName().get(name);
  const teacher = existing ?? addInput(model, b, name, dt, logits.shape);
  const stop = existing && !existing.isGraphInput() ? detached(b, existing) : null;
  const scaled = (v: Value): Value => (T === 1 ? v : b.mul(v, b.scalar(1 / T, dt), v));
  return { T, dt, info, b, teacher, stop, scaled };
}

/**
 * Knowledge distillation (Hinton et al. 2015): T² · mean over every position but the class
 * axis of KL(softmax(teacher/T) ‖ softmax(student/T)), the KL summed over the class axis (for
 * logits [N, C]: the mean over the batch). The student's logits are `output`, or its input
 * when `output` is produced by a Softmax over the same axis (as for ce); the teacher's logits
 * have their type and shape.
 */
export function distillationLoss(model: Model, output: string, opts: DistillationOptions = {}): { loss: Value; teacher: Value; logits: Value; stopGradient: string[] } {
  const sigmoid = valueNamed(model, output, 'kd loss').producer();
  if (sigmoid && sigmoid.opType === 'Sigmoid' && (sigmoid.domain === '' || sigmoid.domain === 'ai.onnx') && sigmoid.inputs[0]) return binaryDistillationLoss(model, sigmoid.inputs[0], opts);
  // Before opset 13 (Log)Softmax coerced its input to 2-D at 'axis' instead of taking one axis:
  // raise the model first (the autodiff pass raises it to 13 anyway), so every op here and the
  // student's Softmax mean one axis.
  if (model.opset < MIN_SOFTMAX_AXIS_OPSET) upgradeOpset(model, MIN_SOFTMAX_AXIS_OPSET);
  let logits = valueNamed(model, output, 'kd loss');
  const rank = logits.shape?.length;
  if (rank === undefined) throw needsInputShapes('E_AUTODIFF', `kd loss: the rank of '${logits.name}' is unknown`);
  const axis = opts.axis ?? -1;
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) throw new SplitcError('E_AUTODIFF', `kd loss: axis ${axis} is outside the rank-${rank} tensor '${logits.name}'`, { hint: 'kd(axis=1) for [N, C, …] logits; the default is the last axis' });
  const classAxis = axis < 0 ? axis + rank : axis;
  const p = logits.producer();
  if (p && p.opType === 'Softmax' && p.inputs[0]) {
    const softmaxAxis = p.attrInt('axis', -1);
    if ((softmaxAxis < 0 ? softmaxAxis + rank : softmaxAxis) === classAxis) logits = p.inputs[0];
  }
  const { T, dt, info, b, teacher, stop, scaled } = distillationSetup(model, logits, opts);
  const logPt = b.op('LogSoftmax', [scaled(stop ? stop.value : teacher)], { axis: classAxis }, info);
  const logPs = b.op('LogSoftmax', [scaled(logits)], { axis: classAxis }, info);
  const pt = b.op('Exp', [logPt], {}, info);
  const kl = b.reduceSum(b.mul(pt, b.sub(logPt, logPs)), [classAxis], false, { dtype: dt });
  const loss = b.mul(meanAll(b, kl), b.scalar(T * T, dt));
  return { loss, teacher, logits, stopGradient: stop ? [stop.node] : [] };
}

/**
 * Distillation of independent probabilities (a Sigmoid's outputs: a detector's probability
 * map, multi-label scores): T² · mean over every element of the Bernoulli KL divergence
 * KL(σ(t/T) ‖ σ(s/T)) between teacher logits t and student logits s (the Sigmoid's input),
 * written with softplus so that saturated units stay exact: with log σ(z) = −softplus(−z) and
 * log(1 − σ(z)) = −softplus(z), KL = p·(softplus(−s) − softplus(−t)) + (1 − p)·(softplus(s) −
 * softplus(t)), p = σ(t). It is 0 where s = t and its gradient in s is σ(s) − σ(t) (over T), which
 * a mean squared error of the probabilities would scale down by σ′ where the map saturates.
 */
function binaryDistillationLoss(model: Model, logits: Value, opts: DistillationOptions): { loss: Value; teacher: Value; logits: Value; stopGradient: string[] } {
  const { T, dt, info, b, teacher, stop, scaled } = distillationSetup(model, logits, opts);
  const t = scaled(stop ? stop.value : teacher);
  const s = scaled(logits);
  const softplus = (v: Value): Value => b.op('Softplus', [v], {}, info);
  const p = b.op('Sigmoid', [t], {}, info);
  const q = b.sub(b.scalar(1, dt), p);
  const kl = b.add(b.mul(p, b.sub(softplus(b.neg(s)), softplus(b.neg(t)))), b.mul(q, b.sub(softplus(s), softplus(t))));
  const loss = b.mul(meanAll(b, kl), b.scalar(T * T, dt));
  return { loss, teacher, logits, stopGradient: stop ? [stop.node] : [] };
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
  kind: 'sum' | 'mse' | 'ce' | 'l2' | 'tv' | 'bn-prior' | 'feature' | 'kd';
  weight: number;
  /** The output / value the term applies to (default: the model's first output). */
  target?: string;
  /** Name of the extra input (mse target, ce labels, feature target, kd teacher). */
  input?: string;
  /** kd: the softmax temperature (`kd(T=4)`). */
  temperature?: number;
  /** kd: the class axis (`kd(axis=1)`). */
  axis?: number;
}

const KINDS = new Set(['sum', 'mse', 'ce', 'l2', 'tv', 'bn-prior', 'feature', 'kd']);
const GRAMMAR_HINT = 'terms are [weight*]kind[(options)][:value][=input] joined by +, kinds: sum, mse, ce, l2, tv, bn-prior, feature, kd (options T=<temperature>,axis=<n>); e.g. --loss ce+1e-4*l2, --loss "kd(T=4):logits+0.5*feature:xhat=x"';

/** The options of a kd term, `T=4,axis=1`. */
function kdOptions(text: string, term: string): Pick<LossTerm, 'temperature' | 'axis'> {
  const out: Pick<LossTerm, 'temperature' | 'axis'> = {};
  for (const part of text.split(',').map((x) => x.trim()).filter(Boolean)) {
    const m = /^(T|t|axis)\s*=\s*(\S+)$/.exec(part);
    const n = m ? Number(m[2]) : NaN;
    if (m && (m[1] === 'axis' ? Number.isInteger(n) : n > 0 && Number.isFinite(n))) {
      if (m[1] === 'axis') out.axis = n;
      else out.temperature = n;
      continue;
    }
    throw new SplitcError('E_BAD_ARGUMENT', `cannot read the option '${part}' of the loss term '${term}'`, { hint: 'kd takes T=<temperature > 0> and axis=<integer>, e.g. kd(T=4,axis=1)' });
  }
  return out;
}

/**
 * Parse `term (+ term)*` where a term is `[weight*]kind[(options)][:value][=input]`, e.g. `ce`,
 * `mse:logits=target`, `ce+1e-4*l2`, `0.01*tv:x+bn-prior`, `kd(T=4):logits+0.5*feature:xhat=x`.
 */
export function parseLossSpec(spec: string): LossTerm[] {
  const terms: LossTerm[] = [];
  for (const raw of spec.split('+')) {
    const text = raw.trim();
    const m = /^(?:([0-9.eE-]+)\s*\*\s*)?([a-z][a-z0-9-]*)(?:\(([^)]*)\))?(?::([^=]+))?(?:=(.+))?$/.exec(text);
    const weight = m?.[1] !== undefined ? Number(m[1]) : 1;
    if (!m || !KINDS.has(m[2]!) || !Number.isFinite(weight) || (m[3] !== undefined && m[2] !== 'kd')) {
      throw new SplitcError('E_BAD_ARGUMENT', `cannot read the loss term '${text}' in '${spec}'`, { hint: GRAMMAR_HINT });
    }
    const options = m[3] !== undefined ? kdOptions(m[3], text) : {};
    terms.push({ kind: m[2] as LossTerm['kind'], weight, ...(m[4] ? { target: m[4].trim() } : {}), ...(m[5] ? { input: m[5].trim() } : {}), ...options });
  }
  return terms;
}

export interface BuiltLoss {
  loss: Value;
  /** Inputs the loss added (targets, labels, teachers), by name. */
  extraInputs: Value[];
  /** kd teacher input → the model value whose teacher counterpart it takes (the student's logits). */
  teachers: Record<string, string>;
  /** Identity nodes the gradient must stop at (targets that are graph values): give them to `stopGradientRules`. */
  stopGradient: string[];
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
  const teachers: Record<string, string> = {};
  const stopGradient: string[] = [];
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
        stopGradient.push(...r.stopGradient);
        return { loss: r.loss, weight: t.weight };
      }
      case 'kd': {
        const r = distillationLoss(model, t.target ?? firstOutput(), {
          ...(t.input ? { teacher: t.input } : {}),
          ...(t.temperature !== undefined ? { temperature: t.temperature } : {}),
          ...(t.axis !== undefined ? { axis: t.axis } : {}),
        });
        if (r.teacher.isGraphInput()) {
          extra.push(r.teacher);
          teachers[r.teacher.name] = r.logits.name;
        }
        stopGradient.push(...r.stopGradient);
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
  return { loss, extraInputs: extra, teachers, stopGradient };
}
