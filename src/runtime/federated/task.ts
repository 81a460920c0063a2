// The coordinator's side of a training task (Node; uses the passes): the training graph a
// client runs, built once from the global model and the loss, and the global model in
// inference form with the round's weights written in.

import { DataType } from '../../ir/dtype.js';
import { SplitcError } from '../../ir/errors.js';
import type { Model } from '../../ir/graph.js';
import { modelToBytes } from '../../ir/serde/io.js';
import type { Tensor } from '../../ir/tensor.js';
import { constantOf } from '../../ir/constants.js';
import { buildTrainingGraph, type TrainingGraph } from '../../passes/training-graph.js';
import { modelWithWeights } from '../train/weights.js';
import type { TrainingTask, Weights } from './types.js';
import { taskTensors } from './weights.js';

export interface TrainingTaskOptions {
  /** 'ce' (default): softmax cross-entropy against int64 labels; 'mse-onehot': mean squared error to float32 one-hot rows (SphereFed). */
  loss?: 'ce' | 'mse-onehot';
  /** The training graph's static batch size. */
  batchSize: number;
  /** The image input (default: the model's first input that is not a weight). */
  inputName?: string;
  /** The classifier output, [batch, classes] (default: the model's first output). */
  outputName?: string;
  /** Parameters to train (default: every float weight but BatchNorm running statistics). */
  params?: string[];
}

/** The names the loss gives its target input (passes/autodiff/losses.ts). */
const TARGET = { ce: { name: 'labels', kind: 'labels' }, 'mse-onehot': { name: 'onehot', kind: 'onehot' } } as const;

/**
 * The training task of a forward model: `buildTrainingGraph` (BatchNorm in training mode) with
 * the loss on `outputName`, serialised as the Trainer serialises it, and the tensors a client
 * feeds and sends back. The model is not changed.
 */
export function buildTrainingTask(model: Model, opts: TrainingTaskOptions): TrainingTask {
  return trainingTaskOf(model, opts).task;
}

/** `buildTrainingTask`, with the training graph it came from (its `initial` values, for `initialWeights`). */
export function trainingTaskOf(model: Model, opts: TrainingTaskOptions): { task: TrainingTask; graph: TrainingGraph } {
  const badArg = (why: string, hint: string): SplitcError => new SplitcError('E_BAD_ARGUMENT', why, { hint });
  if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) throw badArg(`batch size must be a whole number ≥ 1, got ${opts.batchSize}`, 'e.g. batchSize: 32');
  const g = model.graph;
  const input = opts.inputName !== undefined ? g.inputs.find((v) => v.name === opts.inputName) : g.inputs.find((v) => !v.isInitializer());
  if (!input) throw badArg(`the model has no input ${opts.inputName !== undefined ? `'${opts.inputName}'` : 'to feed images to'}`, `inputs: ${g.inputs.map((v) => v.name).join(', ')}`);
  const shape = input.shape?.slice(1) ?? null;
  if (!shape || !shape.every((d): d is number => typeof d === 'number' && d > 0)) {
    throw badArg(`input '${input.name}' needs a static sample shape (all but the batch axis), got [${input.shape?.join(', ') ?? 'unknown'}]`, 'give the model an input with fixed dimensions after the batch axis');
  }
  const output = opts.outputName ?? g.outputs[0]?.name;
  if (!output || !g.outputs.some((v) => v.name === output)) throw badArg(`the model has no output '${output ?? ''}'`, `outputs: ${g.outputs.map((v) => v.name).join(', ')}`);
  const lossKind = opts.loss ?? 'ce';
  const target = TARGET[lossKind];
  // SphereFed's loss is the squared distance ‖s − y‖² per sample, averaged over the batch; the
  // mse term averages over classes too, so it is weighted by the class count (else its
  // gradients are C times smaller and the fixed head learns C times slower).
  const declaredClasses = g.outputs.find((v) => v.name === output)?.shape?.[1];
  const mseWeight = typeof declaredClasses === 'number' ? declaredClasses : 1;
  const graph = buildTrainingGraph(model, {
    loss: lossKind === 'ce' ? `ce:${output}` : `${mseWeight}*mse:${output}=${target.name}`,
    inputShapes: { [input.name]: [opts.batchSize, ...shape] },
    ...(opts.params ? { params: opts.params } : {}),
  });
  const outShape = graph.model.graph.valuesByName().get(output)?.shape;
  const classes = outShape?.[1];
  if (outShape?.length !== 2 || typeof classes !== 'number' || (lossKind === 'mse-onehot' && classes !== mseWeight)) throw badArg(`output '${output}' is not [batch, classes] with a known class count (shape [${outShape?.join(', ') ?? 'unknown'}])`, 'name the classifier output with outputName');
  const initialOf = (name: string): Tensor => {
    const t = graph.initial.get(name)!;
    if (t.dtype !== DataType.FLOAT) throw new SplitcError('E_AUTODIFF', `parameter '${name}' is not float32; federated clients train float32 weights`);
    return t;
  };
  const task: TrainingTask = {
    graph: modelToBytes(graph.model, { intermediateTypes: false }),
    params: graph.params.map((name) => ({ name, dims: [...initialOf(name).dims] })),
    stats: graph.stats.map((s) => ({ mean: s.mean, variance: s.variance, meanOut: s.meanOut, varianceOut: s.varianceOut, dims: [...initialOf(s.mean).dims] })),
    loss: graph.loss,
    input: { name: input.name, shape },
    target: { name: target.name, kind: target.kind },
    classes,
    batchSize: opts.batchSize,
  };
  return { task, graph };
}

/**
 * Copies of the weights a task starts from: the training graph's initial values, or the
 * forward model's stored values of the task's tensors (the task's bytes carry none: the
 * weights are graph inputs, fed each step).
 */
export function initialWeights(graph: TrainingGraph): Weights;
export function initialWeights(model: Model, task: TrainingTask): Weights;
export function initialWeights(from: TrainingGraph | Model, task?: TrainingTask): Weights {
  const weights: Weights = new Map();
  if (task === undefined) {
    const graph = from as TrainingGraph;
    for (const name of [...graph.params, ...graph.stats.flatMap((s) => [s.mean, s.variance])]) weights.set(name, floatCopy(graph.initial.get(name), name));
    return weights;
  }
  const byName = (from as Model).graph.valuesByName();
  for (const spec of taskTensors(task)) weights.set(spec.name, floatCopy(constantOf(byName.get(spec.name)), spec.name));
  return weights;
}

function floatCopy(t: Tensor | null | undefined, name: string): Float32Array {
  if (!t) throw new SplitcError('E_FED_UPDATE', `the model has no stored value '${name}' the task trains`, { hint: 'build the task from this model' });
  if (t.dtype !== DataType.FLOAT) throw new SplitcError('E_AUTODIFF', `'${name}' is not float32; federated clients train float32 weights`);
  return Float32Array.from(t.toTypedArray() as Float32Array);
}

/** The forward (inference) model with `weights` written into a copy of it (BatchNorm statistics too). */
export function applyWeights(model: Model, weights: Weights): Model {
  const out = modelWithWeights(model, weights);
  out.producerName = 'splitc-federated';
  return out;
}
