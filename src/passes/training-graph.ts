// The training graph of a forward model, as a pass: BatchNormalization switched to batch
// statistics (running statistics updated and returned as extra outputs; or left in inference
// mode), parameters exposed as graph inputs, a loss and `grad:<param>` outputs from the
// autodiff pass. The trainer runs it.

import { toAttribute } from '../ir/builder.js';
import { DataType } from '../ir/dtype.js';
import { SplitcError } from '../ir/errors.js';
import { type Dim, type Model, Node, tensorType, Value } from '../ir/graph.js';
import { NameScope } from '../ir/names.js';
import { deserializeModel } from '../ir/serde/read.js';
import { modelToBytes } from '../ir/serde/io.js';
import type { Tensor } from '../ir/tensor.js';
import { differentiate, exposeAsInputs, GRAD_RULES, type GradRuleTable, stopGradientRules, trainableParameters } from './autodiff/index.js';
import { buildLoss, type LossTerm } from './autodiff/losses.js';
import { batchAsDepth } from './batch-as-depth.js';
import { upgradeOpset } from './opset.js';
import { registerPass, type Pass, type PassContext, type PassResult } from './pass.js';
import { inferShapes } from './shape/index.js';

/** BatchNormalization with training_mode needs opset 15 (14 introduced it; 15 fixed its types). */
const TRAIN_OPSET = 15;

export interface BatchNormStats {
  node: string;
  mean: string;
  variance: string;
  meanOut: string;
  varianceOut: string;
}

export interface TrainingGraph {
  model: Model;
  /** Initial values of the parameters and running statistics (now graph inputs). */
  initial: Map<string, Tensor>;
  params: string[];
  stats: BatchNormStats[];
  /** The loss value's name ('' with `forwardOnly`). */
  loss: string;
  /** Inputs the loss added (e.g. 'labels', 'teacher'). */
  extraInputs: string[];
  /** kd teacher input → the value of the forward model whose teacher counterpart to feed (the student's logits). */
  teachers: Record<string, string>;
}

export function cloneModel(model: Model): Model {
  return deserializeModel(modelToBytes(model));
}

/**
 * Turn every inference-mode BatchNormalization into its training form (training_mode=1:
 * normalize with the batch statistics; running statistics updated with the node's momentum
 * and returned as two extra outputs). The running statistics become graph inputs.
 */
export function batchNormToTraining(model: Model, initial: Map<string, Tensor> = new Map()): BatchNormStats[] {
  const g = model.graph;
  const stats: BatchNormStats[] = [];
  // fresh names against the graph's values (BatchNorm keeps its node name)
  const names = new NameScope(g.valuesByName().keys());
  for (const n of [...g.nodes]) {
    if (n.opType !== 'BatchNormalization' || n.outputs.length > 1 || n.attrInt('training_mode', 0) !== 0) continue;
    const exposed = exposeAsInputs(model, [n.inputs[3]!.name, n.inputs[4]!.name]);
    for (const e of exposed) if (e.initial) initial.set(e.value.name, e.initial);
    const [mean, variance] = exposed.map((e) => e.value);
    const y = n.outputs[0]!;
    const base = n.name || y.name;
    const trained = new Value(names.fresh(`${y.name}.train`), y.type);
    const meanOut = new Value(names.fresh(`${base}.updated_mean`), tensorType(mean!.dtype ?? DataType.FLOAT, mean!.shape ? [...mean!.shape] : null));
    const varOut = new Value(names.fresh(`${base}.updated_var`), tensorType(variance!.dtype ?? DataType.FLOAT, variance!.shape ? [...variance!.shape] : null));
    const attributes = [...n.attributes.values()].filter((a) => a.name !== 'training_mode');
    attributes.push(toAttribute('training_mode', 1));
    const t = new Node(n.domain, 'BatchNormalization', n.inputs, [trained, meanOut, varOut], { name: n.name, attributes });
    g.nodes.insertBefore(n, t);
    y.replaceAllUsesWith(trained);
    g.removeNode(n, false);
    trained.name = y.name;
    g.outputs.push(meanOut, varOut);
    stats.push({ node: base, mean: mean!.name, variance: variance!.name, meanOut: meanOut.name, varianceOut: varOut.name });
  }
  return stats;
}

export interface TrainingGraphOptions {
  loss: string | LossTerm[];
  inputShapes: Record<string, Dim[]>;
  /** Parameters to train (default: every float weight except BatchNorm running statistics). */
  params?: string[];
  /** Run the batch-as-depth pass over the training graph (default true; false for comparisons). */
  batchAsDepth?: boolean;
  /** Stop after the forward (batch statistics, parameters as inputs; no loss, no gradients): for measuring what the backward adds. */
  forwardOnly?: boolean;
  /** Gradient rules (default GRAD_RULES); e.g. `straightThroughRules(floors)` for quantisation-aware training. */
  rules?: GradRuleTable;
  /**
   * 'training' (default): BatchNormalization on batch statistics, running statistics updated
   * and returned. 'inference': BatchNormalization nodes left as they are, their running
   * statistics frozen constants (no statistics outputs, `stats` empty): for fine-tuning a part
   * of a trained model, where batch statistics of a few samples would shift the rest.
   */
  batchNorm?: 'training' | 'inference';
}

/**
 * The training graph of a forward model (which is not changed). Only `params` become graph
 * inputs; every other weight stays an initializer (frozen).
 */
export function buildTrainingGraph(forward: Model, opts: TrainingGraphOptions): TrainingGraph {
  const model = cloneModel(forward);
  const bnTraining = (opts.batchNorm ?? 'training') === 'training';
  if (bnTraining && model.opset < TRAIN_OPSET) upgradeOpset(model, TRAIN_OPSET);
  const rules = opts.rules ?? GRAD_RULES;
  // the running statistics are not trained by gradients: batchNormToTraining updates them
  const params = opts.params ?? trainableParameters(model, rules).params;
  const initial = new Map<string, Tensor>();
  const stats = bnTraining ? batchNormToTraining(model, initial) : [];
  for (const e of exposeAsInputs(model, params)) {
    if (!e.initial) throw new SplitcError('E_AUTODIFF', `parameter '${e.value.name}' has no stored value to start from`);
    initial.set(e.value.name, e.initial);
  }
  inferShapes(model, { inputShapes: opts.inputShapes });
  if (opts.forwardOnly) {
    if (opts.batchAsDepth !== false) batchAsDepth(model);
    return { model, initial, params, stats, loss: '', extraInputs: [], teachers: {} };
  }
  const built = buildLoss(model, opts.loss, params);
  built.loss.name = model.graph.valuesByName().has('loss') ? built.loss.name : 'loss';
  model.graph.outputs.push(built.loss);
  differentiate(model, { wrt: params, loss: built.loss.name, inputShapes: opts.inputShapes, unreachable: 'error', rules: stopGradientRules(built.stopGradient, rules) });
  // The parameters are graph inputs, so onnxruntime cannot prepack the Convs' weights; the
  // ones with few output positions run faster over the batch as a depth axis.
  if (opts.batchAsDepth !== false) batchAsDepth(model);
  return { model, initial, params, stats, loss: built.loss.name, extraInputs: built.extraInputs.map((v) => v.name), teachers: built.teachers };
}

/** The BatchNorm-to-training rewrite as a pass (in place; the running statistics become graph inputs). */
export const batchNormTrainingPass = (): Pass => ({
  name: 'batchnorm-training',
  options: {},
  inPlace: true,
  run: (model: Model, ctx?: PassContext): PassResult => {
    const stats = batchNormToTraining(model);
    if (stats.length) ctx?.info('I_BN_TRAINING', `${stats.length} BatchNormalization node${stats.length === 1 ? '' : 's'} now normalize with batch statistics`);
    return { model, modified: stats.length > 0 };
  },
});

registerPass('batchnorm-training', batchNormTrainingPass);
