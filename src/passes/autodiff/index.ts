// Reverse-mode automatic differentiation as a graph pass: the forward graph gains the ops
// that compute gradients of a scalar loss (or of seeded outputs) with respect to chosen
// values, as extra graph outputs named `grad:<value>`. Only standard ONNX operators are
// emitted, so onnxruntime (node or web) runs forward and backward in one session.
//
// The walk visits, in reverse topological order, only the nodes on a path from a chosen
// value to the loss; gradients arriving at a value from several consumers are summed;
// integer tensors (shapes, indices) carry none. Each op's gradient comes from the rule
// table (rules/index.ts); an op without a rule on the path is an E_AUTODIFF error naming
// the node.

import { DataType, dtypeName, isFloatDtype } from '../../ir/dtype.js';
import { SplitcError } from '../../ir/errors.js';
import { type Model, type Node, tensorType, Value } from '../../ir/graph.js';
import type { Tensor } from '../../ir/tensor.js';
import { constantNodeTensor } from '../../ir/constants.js';
import { isRecurrent, lowerRecurrent, RECURRENT_DIFFERENTIABLE_INPUTS } from '../lower-recurrent.js';
import { upgradeOpset } from '../opset.js';
import { inferShapes } from '../shape/index.js';
import type { Dim } from '../../ir/graph.js';
import { GradBuilder, infoOf } from './builder.js';
import { differentiableInputs, type GradContext, type GradRuleTable, isDifferentiableValue, ruleMinOpset } from './rule.js';
import { GRAD_RULES } from './rules/index.js';
import type { GradTuningOptions } from './tuning.js';
import { nameTaken, unknownValue } from '../diagnostics.js';

export { GradBuilder, infoOf, requireStaticShape, staticShape } from './builder.js';
export type { GradContext, GradRule, GradRuleTable } from './rule.js';
export { GRAD_RULES } from './rules/index.js';
export { STRAIGHT_THROUGH_OPS, stopGradientRules, straightThroughRules } from './rule-overrides.js';

export const GRAD_PREFIX = 'grad:';

/** Lowest opset the gradient ops are written for (axes as inputs, Clip/Pad/Slice bounds as inputs). */
export const MIN_GRAD_OPSET = 13;

export interface AutodiffOptions {
  /** Names of the values to differentiate with respect to (graph inputs, initializers, Constant outputs). */
  wrt: string[];
  /** Name of a scalar (one-element) floating-point value: the loss. */
  loss?: string;
  /**
   * Instead of a loss: output name → name of a new graph input carrying that output's
   * gradient (vector-Jacobian products). Either `loss` or `seeds` must be given.
   */
  seeds?: Record<string, string>;
  /** Shapes for graph inputs (shape inference needs ranks; some rules need static shapes). */
  inputShapes?: Record<string, Dim[]>;
  /** Rules to use (default GRAD_RULES). */
  rules?: GradRuleTable;
  /** What happens when a chosen value does not reach the loss: zeros (default) or an error. */
  unreachable?: 'zeros' | 'error';
  /** Where rules switch between formulations (default DEFAULT_GRAD_TUNING; tests and benchmarks force one side). */
  tuning?: GradTuningOptions;
}

export interface AutodiffResult {
  /** Chosen value name → the graph output carrying its gradient. */
  grads: Map<string, Value>;
  /** Chosen values that do not reach the loss (their gradient is zero). */
  unreachable: string[];
  /** Opset before and after (raised when a rule needed it). */
  opset: { from: number; to: number };
  /** Nodes differentiated. */
  nodes: number;
}

/**
 * Make initializers and Constant-node weights plain graph inputs, so they can be fed (a
 * training loop feeds its current parameters). Their stored values are returned, and
 * removed from the graph: onnxruntime ignores feeds for initializers that are also graph
 * inputs, so a value that is both would silently keep its stored value.
 */
export function exposeAsInputs(model: Model, names: string[]): { value: Value; initial: Tensor | null }[] {
  const g = model.graph;
  const byName = g.valuesByName();
  const out: { value: Value; initial: Tensor | null }[] = [];
  for (const name of names) {
    const v = byName.get(name);
    if (!v) throw unknownValue(name, 'in the graph');
    if (v.isInitializer()) {
      const t = v.constValue!;
      g.initializers.delete(v.name);
      v.constValue = null;
      if (!g.inputs.includes(v)) g.addInput(v);
      if (!v.type) v.type = tensorType(t.dtype, [...t.dims]);
      out.push({ value: v, initial: t });
      continue;
    }
    if (g.inputs.includes(v)) {
      out.push({ value: v, initial: null });
      continue;
    }
    const p = v.producer();
    const t = p && p.opType === 'Constant' ? constantNodeTensor(p) : null;
    if (!p || !t) throw new SplitcError('E_AUTODIFF', `'${name}' is computed by the graph; only inputs, initializers and Constant outputs can become inputs`);
    const param = new Value(v.name, v.type ?? tensorType(t.dtype, [...t.dims]));
    v.replaceAllUsesWith(param);
    g.removeNode(p, false);
    g.addInput(param);
    out.push({ value: param, initial: t });
  }
  return out;
}

/**
 * Names of the floating-point weights (initializers and Constant outputs with more than one
 * element) that feed differentiable inputs, running statistics included: what can have a
 * gradient. What should be trained is `trainableParameters`.
 */
export function parameterNames(model: Model, rules: GradRuleTable = GRAD_RULES): string[] {
  const g = model.graph;
  const names = new Set<string>();
  const isWeight = (v: Value): boolean => {
    if (g.inputs.includes(v) && !v.isInitializer()) return false;
    const t = v.isInitializer() ? v.constValue : v.producer()?.opType === 'Constant' ? constantNodeTensor(v.producer()!) : null;
    // Scalars, also stored as one-element tensors, are constants of the formula (the 6 of
    // HardSwish, Clip bounds), not weights.
    return !!t && isFloatDtype(t.dtype) && t.dims.length >= 1 && t.elementCount > 1;
  };
  for (const n of g.nodes) {
    const rule = rules[n.opType];
    // RNN/GRU/LSTM have no rule but are lowered by differentiate: all but sequence_lens count.
    const diff = new Set(rule ? differentiableInputs(rule, n) : isRecurrent(n) ? RECURRENT_DIFFERENTIABLE_INPUTS : []);
    n.inputs.forEach((v, i) => {
      if (v && diff.has(i) && isWeight(v)) names.add(v.name);
    });
  }
  return [...names];
}

/**
 * Op inputs that carry running statistics: state a training step replaces by a running
 * average of batch statistics, not a weight to follow a gradient. (InstanceNormalization,
 * LayerNormalization and GroupNormalization keep none: their inputs are scale and bias.)
 */
const STATISTIC_INPUTS: Readonly<Record<string, readonly number[]>> = {
  BatchNormalization: [3, 4], // input_mean, input_var
};

/**
 * Whether every use of `v` is a statistic input, directly or through Identity nodes
 * (PyTorch exports feed weights through `Identity(initializer)`).
 */
function isStatistic(v: Value): boolean {
  const uses = v.uses();
  if (uses.length === 0 || v.isGraphOutput()) return false;
  return uses.every(({ node, index }) => {
    if (index < 0 || (node.domain !== '' && node.domain !== 'ai.onnx')) return false;
    if (STATISTIC_INPUTS[node.opType]?.includes(index)) return true;
    return node.opType === 'Identity' && isStatistic(node.outputs[0]!);
  });
}

export interface TrainableParameters {
  /** The weights a gradient step should move, in `parameterNames` order. */
  params: string[];
  /** Weights left out because they are running statistics (BatchNorm's mean and variance). */
  statistics: string[];
}

/**
 * The model's trainable parameters: `parameterNames` without running statistics. What
 * `--wrt params` and the trainer both differentiate; a statistic can still be named
 * explicitly.
 */
export function trainableParameters(model: Model, rules: GradRuleTable = GRAD_RULES): TrainableParameters {
  const byName = model.graph.valuesByName();
  const params: string[] = [];
  const statistics: string[] = [];
  for (const name of parameterNames(model, rules)) (isStatistic(byName.get(name)!) ? statistics : params).push(name);
  return { params, statistics };
}

/** Build the gradient graph in place. */
export function differentiate(model: Model, opts: AutodiffOptions): AutodiffResult {
  const rules = opts.rules ?? GRAD_RULES;
  if (!opts.loss && !opts.seeds) throw new SplitcError('E_AUTODIFF', 'no loss and no seeds: nothing to differentiate', { hint: 'give a scalar loss value, or seed gradients for chosen outputs' });
  if (opts.wrt.length === 0) throw new SplitcError('E_AUTODIFF', 'no values to differentiate with respect to', { hint: 'name graph inputs or parameters (--wrt inputs, --wrt params, --wrt name1,name2)' });
  const g = model.graph;
  const all = g.valuesByName();
  const existing = new Set(all.values());
  const wrt = opts.wrt.map((name) => {
    const v = all.get(name);
    if (!v) throw unknownValue(name, 'to differentiate with respect to');
    return v;
  });
  for (const v of wrt) {
    if (v.dtype !== undefined && !isFloatDtype(v.dtype)) {
      throw new SplitcError('E_AUTODIFF', `'${v.name}' is ${dtypeName(v.dtype)}: only floating-point values have gradients`);
    }
  }

  const from = model.opset;
  inferShapes(model, { inputShapes: opts.inputShapes ?? {} });

  const byName0 = g.valuesByName();
  const seedValue = (name: string, what: string): Value => {
    const v = byName0.get(name);
    if (!v) throw unknownValue(name, what);
    return v;
  };
  const seeded = [...(opts.loss ? [seedValue(opts.loss, 'to use as the loss')] : []), ...Object.keys(opts.seeds ?? {}).map((n) => seedValue(n, 'to seed'))];

  // Raise the opset to what the rules on the path need; the forward ops are rewritten to
  // match, keeping their values, so the analysis below sees the final graph.
  let path = pathNodes(model, wrt, seeded, rules);
  // Ops of other domains are never rewritten by the upgrade: report them before it (a model
  // of only such ops may import no standard opset at all, which the upgrade would reject).
  checkRules(path, rules, { domainsOnly: true });
  const raiseTo = (target: number): void => {
    if (target <= model.opset) return;
    upgradeOpset(model, target);
    inferShapes(model, { inputShapes: opts.inputShapes ?? {} });
    path = pathNodes(model, wrt, seeded, rules);
  };
  raiseTo(Math.max(from, MIN_GRAD_OPSET, neededOpset(path, rules)));
  // RNN, GRU and LSTM have no rule: those on the path are unrolled into ops that have one
  // (lower-recurrent, which needs opset 13), and the path is taken again over the lowered
  // graph. Every other op on the path must have a rule before the graph is touched.
  const recurrent = new Set(path.active.filter((n) => isRecurrent(n) && !rules[n.opType] && n.inputs.some((v) => v && path.needed.has(v))));
  if (recurrent.size) {
    checkRules(path, rules, { skip: recurrent });
    // Lowered outputs are new values under the old names: look the chosen and seeded ones up again.
    const names = [...wrt, ...seeded].map((v) => v.name);
    lowerRecurrent(model, { nodes: recurrent });
    inferShapes(model, { inputShapes: opts.inputShapes ?? {} });
    const byName = g.valuesByName();
    [...wrt, ...seeded].forEach((v, i) => {
      const now = byName.get(names[i]!) ?? v;
      if (i < wrt.length) wrt[i] = now;
      else seeded[i - wrt.length] = now;
    });
    for (const [name, v] of byName) {
      byName0.set(name, v);
      existing.add(v);
    }
    path = pathNodes(model, wrt, seeded, rules);
    raiseTo(neededOpset(path, rules)); // what the rules of the lowered ops need
  }
  const { reach, needed, active } = path;
  // Every op on the path needs a rule: check them all before emitting anything.
  checkRules(path, rules);

  // Seeds: the loss, or one new input per seeded output.
  const b = new GradBuilder(model, opts.tuning);
  const seedGrads = new Map<Value, Value>();
  if (opts.loss) {
    const loss = seeded[0]!;
    if (loss.dtype !== undefined && !isFloatDtype(loss.dtype)) throw new SplitcError('E_AUTODIFF', `the loss '${loss.name}' is ${dtypeName(loss.dtype)}, not floating point`);
    const shape = loss.shape;
    if (shape && shape.some((d) => d !== 1)) {
      throw new SplitcError('E_AUTODIFF', `the loss '${loss.name}' has shape [${shape.map((d) => d ?? '?').join(',')}]; it must have one element`, {
        hint: 'reduce it first (ReduceSum / ReduceMean), or seed the output gradients instead',
      });
    }
    b.scope = 'grad/seed';
    const one = b.scalar(1, loss.dtype ?? DataType.FLOAT);
    seedGrads.set(loss, shape && shape.length > 0 ? b.op('Expand', [one, b.shapeValue(loss)], {}, infoOf(loss)) : one);
  }
  for (const [outName, seedName] of Object.entries(opts.seeds ?? {})) {
    const out = byName0.get(outName)!;
    if (b.taken(seedName)) throw nameTaken(`name the seed input '${seedName}'`);
    b.claim(seedName);
    const seed = g.addInput(new Value(seedName, out.type && out.type.kind === 'tensor' ? tensorType(out.type.dtype, out.type.shape ? [...out.type.shape] : null) : null));
    seedGrads.set(out, seed);
  }

  const contributions = new Map<Value, Value[]>();
  for (const [v, s] of seedGrads) contributions.set(v, [s]);
  const accumulated = new Map<Value, Value | null>();
  const gradOf = (v: Value): Value | null => {
    if (accumulated.has(v)) return accumulated.get(v)!;
    const parts = contributions.get(v);
    const gv = parts && parts.length ? b.sum(parts, v) : null;
    accumulated.set(v, gv);
    return gv;
  };

  // `active` is in reverse topological order; the check above guarantees every node with a
  // needed input a standard-domain rule.
  let count = 0;
  for (const n of active) {
    const dys = n.outputs.map((o) => gradOf(o));
    if (dys.every((d) => d === null)) continue;
    const rule = rules[n.opType];
    if (!rule) continue;
    const diff = new Set(differentiableInputs(rule, n));
    const wanted = n.inputs.map((v, i) => !!v && v.name !== '' && reach.has(v) && needed.has(v) && diff.has(i) && isDifferentiableValue(v));
    if (!wanted.some(Boolean)) continue;
    b.scope = `grad/${n.name || n.opType}`;
    // The inputs as they are now: a rule may replace its node (MaxPool adds an Indices output).
    const inputs = [...n.inputs];
    const ctx: GradContext = {
      node: n,
      b,
      opset: model.opset,
      x: (i) => {
        const v = inputs[i];
        if (!v || v.name === '') throw ctx.fail(`input ${i} is missing`);
        return v;
      },
      xOpt: (i) => {
        const v = inputs[i];
        return v && v.name !== '' ? v : null;
      },
      y: (i) => n.outputs[i]!,
      dy: (i) => dys[i] ?? null,
      dyOrZeros: (i) => dys[i] ?? b.zerosLike(n.outputs[i]!),
      wants: (i) => wanted[i] ?? false,
      setGrad: (i, gv) => {
        if (!wanted[i]) return;
        const x = inputs[i]!;
        if (!gv.type && x.type) gv.type = x.type.kind === 'tensor' ? tensorType(x.type.dtype, x.type.shape ? [...x.type.shape] : null) : null;
        const list = contributions.get(x) ?? [];
        list.push(gv);
        contributions.set(x, list);
      },
      fail: (message, hint) => new SplitcError('E_AUTODIFF', `${n.describe()}: ${message}`, hint ? { hint } : {}),
    };
    rule.grad(ctx);
    count++;
  }

  // One output per chosen value.
  const grads = new Map<string, Value>();
  const unreachable: string[] = [];
  b.scope = 'grad/out';
  for (const v of wrt) {
    let gv = gradOf(v);
    if (!gv) {
      if (opts.unreachable === 'error') throw new SplitcError('E_AUTODIFF', `'${v.name}' does not reach the loss: its gradient is zero`);
      unreachable.push(v.name);
      gv = b.zerosLike(v);
    }
    const name = `${GRAD_PREFIX}${v.name}`;
    if (b.taken(name)) throw nameTaken(`name the gradient output '${name}'`);
    let out: Value;
    if (gv.producer() && !existing.has(gv) && !g.outputs.includes(gv) && !g.inputs.includes(gv)) {
      // A value this pass made, not yet an output: it becomes the output under the gradient's
      // name (no Identity node: a copy per gradient, hundreds in a parameter gradient graph).
      b.claim(name);
      gv.name = name;
      gv.type ??= v.type;
      out = gv;
    } else {
      // A model value, an input (a seed), or one value serving two gradients: copy it out.
      out = b.op('Identity', [gv], {}, { ...infoOf(v), name });
    }
    g.outputs.push(out);
    grads.set(v.name, out);
  }
  return { grads, unreachable, opset: { from, to: model.opset }, nodes: count };
}

/** The highest opset the rules of the path's nodes need (0 when none needs one). */
function neededOpset(path: ReturnType<typeof pathNodes>, rules: GradRuleTable): number {
  let target = 0;
  for (const n of path.active) {
    const rule = rules[n.opType];
    if (rule) target = Math.max(target, ruleMinOpset(rule, n));
  }
  return target;
}

/** Every node on the path that passes a gradient on needs a rule (`domainsOnly`: only non-standard ops are reported; `skip`: nodes handled otherwise). */
function checkRules(path: ReturnType<typeof pathNodes>, rules: GradRuleTable, opts: { domainsOnly?: boolean; skip?: ReadonlySet<Node> } = {}): void {
  for (const n of path.active) {
    if (opts.skip?.has(n) || !n.inputs.some((v) => v && path.needed.has(v))) continue;
    if (n.domain !== '' && n.domain !== 'ai.onnx') {
      throw new SplitcError('E_AUTODIFF', `no gradient rule for ${n.domain}::${n.opType} (${n.describe()}), which lies between a chosen value and the loss`, {
        hint: 'only standard ONNX operators can be differentiated',
      });
    }
    if (!opts.domainsOnly && !rules[n.opType]) {
      throw new SplitcError('E_AUTODIFF', `no gradient rule for ${n.opType} (${n.describe()}), which lies between a chosen value and the loss`, {
        hint: `ops with rules: ${Object.keys(rules).sort().join(', ')}`,
      });
    }
  }
}

/**
 * The values reached from `wrt` (forward), the values on a path from `wrt` to a seeded
 * value (backward from the seeds), and the nodes on such paths in reverse order.
 */
function pathNodes(model: Model, wrt: Value[], seeded: Value[], rules: GradRuleTable): { reach: Set<Value>; needed: Set<Value>; active: Node[] } {
  const g = model.graph;
  const reach = new Set<Value>(wrt);
  for (const n of g.nodes) {
    if (n.inputs.some((v) => v && reach.has(v)) || n.implicitInputs().some((v) => reach.has(v))) for (const o of n.outputs) reach.add(o);
  }
  const needed = new Set<Value>(seeded);
  const active: Node[] = [];
  for (const n of g.nodes.reversed()) {
    if (!n.outputs.some((o) => needed.has(o))) continue;
    if (!n.inputs.some((v) => v && reach.has(v))) continue;
    active.push(n);
    // Only inputs a gradient can flow through: floating-point values at the rule's
    // differentiable positions (all positions for an op without a rule, so it is reported).
    const rule = rules[n.opType];
    const positions = new Set(rule ? differentiableInputs(rule, n) : n.inputs.map((_, i) => i));
    n.inputs.forEach((v, i) => {
      if (v && positions.has(i) && reach.has(v) && isDifferentiableValue(v)) needed.add(v);
    });
  }
  return { reach, needed, active };
}
