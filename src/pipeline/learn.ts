// Training a learned bottleneck (`learned=K…`) by distillation: the uncut model with the
// bottleneck's round trip written out in float (reduce, fake quantisation with straight-through
// Floors, recover) is the student, the original model is the teacher. Only unlabelled inputs
// are needed: the loss is the KL divergence of the teacher's class scores (of its Bernoulli
// probabilities for Sigmoid outputs, MSE for other outputs) plus the MSE between the recovered
// and the original cut tensor. The rest of the model is frozen (but for the first `tuneCloud`
// cloud nodes' weights, when asked) and BatchNorm stays in inference mode; afterwards the
// coder's ranges are calibrated again on the trained reduce, and the weights go into an
// ordinary bundle.

import * as ort from 'onnxruntime-node';
import { toAttribute } from '../ir/builder.js';
import { constantOf, constantPredicate, isConstantNode } from '../ir/constants.js';
import { DataType, isFloatDtype } from '../ir/dtype.js';
import { SplitcError } from '../ir/errors.js';
import { type Model, tensorType, type Value } from '../ir/graph.js';
import { MemoryStorage, Tensor } from '../ir/tensor.js';
import { concatTyped } from '../ir/bytes.js';
import { straightThroughRules, trainableParameters } from '../passes/autodiff/index.js';
import type { LossTerm } from '../passes/autodiff/losses.js';
import { planCompression } from '../passes/bottleneck/compress.js';
import type { LearnedWeights } from '../passes/bottleneck/learned.js';
import { type CompressSpec, isReducer } from '../passes/bottleneck/spec.js';
import { bottleneckTrainingForm, learnedWeightsFrom } from '../passes/bottleneck/training-form.js';
import type { SplitResult } from '../passes/cut.js';
import { cloneModel } from '../passes/training-graph.js';
import { epochOrder } from '../runtime/train/fit.js';
import { Trainer } from '../runtime/train/trainer.js';
import type { CalibSample, Feeds } from '../search/calib-data.js';
import { calibrateSplit, createSession, floatData, runSession, toOrtFeeds, toOrtTensor } from '../search/calibrate.js';
import { classifierOutputs, OutputAccumulator } from '../search/fidelity.js';

export interface LearnOptions {
  epochs: number;
  seed: number;
  /** Samples per step (default 32, at most the number of training samples). */
  batchSize?: number;
  /** Adam's learning rate (default 1e-3). */
  lr?: number;
  /** Softmax temperature of the distillation term (default 2). */
  temperature?: number;
  /** Weight of the cut-tensor MSE term next to the output terms (default 1). */
  featureWeight?: number;
  /**
   * Weight of the cross-entropy against the training samples' labels, used when every training
   * sample has one and the model has one rank-2 class-score output (default 1; 0: labels unused).
   */
  labelWeight?: number;
  /** onnxruntime intra-op threads of the training session (default 2). */
  threads?: number;
  /**
   * Also fine-tune the weights (not BatchNorm running statistics) of the first N nodes of the
   * cloud part, in graph order, counting every node but constant ones (default 0: the cloud frozen).
   */
  tuneCloud?: number;
  /** Called after each step and after each epoch's held-back evaluation. */
  onProgress?: (p: LearnProgress) => void;
}

export interface LearnProgress {
  epoch: number;
  epochs: number;
  step: number;
  steps: number;
  /** Mean training loss of the epoch so far. */
  loss: number;
  /** After an epoch: held-back agreement with the teacher (top-1 for class scores, else cosine; the least over outputs). */
  heldOutAgreement?: number;
}

export interface EpochRecord {
  epoch: number;
  loss: number;
  heldOutAgreement: number;
}

export interface LearnResult {
  /** Trained weights per cut tensor (CutTensorStats.learned / calibrateSplit's `learned`). */
  weights: Record<string, LearnedWeights>;
  /** Held-back agreement of the PCA initialisation, before any step. */
  initialAgreement: number;
  /** The loss of the PCA initialisation on the first batch (the first step's loss, taken before its update). */
  initialLoss: number;
  history: EpochRecord[];
  batchSize: number;
  steps: number;
  /** Whether the loss had a cross-entropy term on the samples' labels (`labelWeight`). */
  usedLabels: boolean;
  /** The fine-tuned cloud parameters by name (empty unless `tuneCloud`): they belong in the cloud model (`withTunedCloud`). */
  tuned: Record<string, Float32Array>;
}

/** Whether a spec has a stage that is trained. */
export function specIsLearned(spec: CompressSpec): boolean {
  return spec.stages.some((s) => isReducer(s) && s.kind === 'learned');
}

type Outputs = Record<string, ort.Tensor>;

/**
 * The parameters `tuneCloud` trains: the trainable weights of `form` (a copy of the uncut model,
 * same names) read by the first `n` non-constant nodes of the cloud part, directly or through
 * Identity (PyTorch's shared weights). A weight the edge also reads stays frozen: the edge
 * model must not change with cloud tuning.
 */
export function cloudTuneParameters(form: Model, split: Pick<SplitResult, 'edge' | 'cloud'>, n: number): string[] {
  if (n <= 0) return [];
  const trainable = new Set(trainableParameters(form).params);
  const onEdge = split.edge.graph.valuesByName();
  const isConst = constantPredicate();
  const nodes = split.cloud.graph.nodes.toArray().filter((node) => !isConstantNode(node, isConst)).slice(0, n);
  const names: string[] = [];
  const add = (v: Value | null): void => {
    // the Identity chain from the node's input back to the stored weight: any link may be the parameter
    for (let guard = 0; v && guard < 10_000; guard++) {
      if (trainable.has(v.name) && !onEdge.has(v.name) && !names.includes(v.name)) names.push(v.name);
      const p = v.producer();
      v = p && p.opType === 'Identity' && (p.domain === '' || p.domain === 'ai.onnx') ? (p.inputs[0] ?? null) : null;
    }
  };
  for (const node of nodes) for (const v of node.inputs) add(v);
  return names;
}

/** A copy of `split` whose cloud model holds the `tuned` parameter values (the edge is shared, unchanged). */
export function withTunedCloud<S extends SplitResult>(split: S, tuned: Record<string, Float32Array>): S {
  const names = Object.keys(tuned);
  if (names.length === 0) return split;
  const cloud = cloneModel(split.cloud);
  const byName = cloud.graph.valuesByName();
  const values = names.map((name) => {
    const v = byName.get(name);
    const old = v && constantOf(v);
    if (!v || !old || old.elementCount !== tuned[name]!.length) throw new SplitcError('E_COMPRESS', `the tuned cloud parameter '${name}' is not a weight of the cloud model`, { hint: 'tune the cloud of the split the training ran on' });
    return { v, t: new Tensor(name, DataType.FLOAT, [...old.dims], new MemoryStorage(new Uint8Array(Float32Array.from(tuned[name]!).buffer))) };
  });
  for (const { v, t } of values) {
    if (v.isInitializer()) v.constValue = t;
    else v.producer()!.setAttr(toAttribute('value', t));
  }
  return { ...split, cloud };
}

/**
 * The values `names` of a model for each sample, in one session; values that are not graph
 * outputs (a Softmax's logits) are made outputs of a copy first.
 */
async function outputsOf(model: Model, samples: readonly CalibSample[], names: string[]): Promise<Outputs[]> {
  const missing = names.filter((n) => !model.graph.outputs.some((v) => v.name === n));
  if (missing.length > 0) {
    model = cloneModel(model);
    const byName = model.graph.valuesByName();
    for (const n of missing) model.graph.outputs.push(byName.get(n)!);
  }
  const session = await createSession(model);
  try {
    const out: Outputs[] = [];
    for (const s of samples) out.push(await runSession(session, toOrtFeeds(s.load()), names));
    return out;
  } finally {
    await session.release();
  }
}

/** Samples `idx` as one batch: each input's rows concatenated along the leading (batch) axis. */
function batchFeeds(feeds: readonly Feeds[], idx: ArrayLike<number>): Record<string, ort.Tensor> {
  const out: Record<string, ort.Tensor> = {};
  for (const [name, first] of Object.entries(feeds[0]!)) {
    // one kind of typed array per input (the samples' loader made them all alike)
    type Rows = Float32Array;
    const data = concatTyped(first.data.constructor as new (n: number) => Rows, Array.from(idx, (i) => feeds[i]![name]!.data as Rows));
    out[name] = toOrtTensor({ ...first, data, dims: [idx.length, ...first.dims.slice(1)] });
  }
  return out;
}

/** The rows `idx` of one output of `rows` (one sample each) as a float32 batch. */
function batchRows(rows: readonly Outputs[], idx: ArrayLike<number>, name: string): ort.Tensor {
  const parts = Array.from(idx, (i) => Float32Array.from(floatData(rows[i]![name]!)));
  return new ort.Tensor('float32', concatTyped(Float32Array, parts), [idx.length, ...rows[0]![name]!.dims.slice(1)]);
}

/**
 * Train the learned stages of `spec` for `split` of `model` on `train` samples (unlabelled),
 * reporting held-back agreement on `heldOut` after each epoch. Deterministic for a seed.
 */
export async function learnBottleneck(model: Model, split: SplitResult, spec: CompressSpec, train: readonly CalibSample[], heldOut: readonly CalibSample[], opts: LearnOptions): Promise<LearnResult> {
  if (!specIsLearned(spec)) throw new SplitcError('E_BAD_ARGUMENT', 'learnBottleneck needs a spec with a learned stage', { hint: "e.g. 'learned=8+int4'" });
  if (train.length === 0) throw new SplitcError('E_CALIB', 'no training samples for the learned bottleneck', { hint: 'give inputs with --train (a folder of images or a .npy batch)' });
  const tuneCloud = opts.tuneCloud ?? 0;
  if (!Number.isInteger(tuneCloud) || tuneCloud < 0) throw new SplitcError('E_BAD_ARGUMENT', `--tune-cloud takes a count of cloud nodes, not ${tuneCloud}`, { hint: 'e.g. --tune-cloud 2 (0: the cloud stays frozen)' });
  const batchSize = Math.min(opts.batchSize ?? 32, train.length);
  const T = opts.temperature ?? 2;
  const featureWeight = opts.featureWeight ?? 1;

  // the PCA initialisation and the coder's ranges for it, from the training inputs
  const stats = await calibrateSplit(split, train, { spec });
  const form = bottleneckTrainingForm(model, split, planCompression(split, spec, stats));
  // the inputs' batch dim may have been fixed at 1 for the split (--shape): training feeds batches
  for (const v of form.model.graph.inputs) {
    const t = v.tensorType;
    if (t?.shape && t.shape.length > 0 && !v.isInitializer()) v.type = tensorType(t.dtype, ['batch', ...t.shape.slice(1)]);
  }
  if (form.trainable.length === 0) throw new SplitcError('E_COMPRESS', 'the learned stage applies to no cut tensor (each is passed through)', { hint: 'cut where a float tensor with more channels than K crosses' });

  const floatOutputs = model.graph.outputs.filter((v) => v.dtype === undefined || isFloatDtype(v.dtype));
  const outputs = floatOutputs.map((v) => v.name);
  const classScores = new Set(classifierOutputs(model));
  const sigmoidOutputs = new Set(floatOutputs.filter((v) => v.producer()?.opType === 'Sigmoid').map((v) => v.name));
  const teacherName = (i: number): string => `splitc.teacher.${i}`;
  // labels train too when every sample has one and there is one class-score output they belong to
  const labelled = classScores.size === 1 && model.graph.outputs.find((v) => classScores.has(v.name))!.shape?.length === 2 && train.every((s) => typeof s.label === 'number');
  const labelWeight = labelled ? (opts.labelWeight ?? 1) : 0;
  const LABELS = 'splitc.labels';
  const terms: LossTerm[] = [
    ...outputs.map((o, i): LossTerm => {
      if (classScores.has(o)) return { kind: 'kd', weight: 1, target: o, input: teacherName(i), temperature: T };
      // independent probabilities (a detector's map): Bernoulli distillation on the Sigmoid's logits
      if (sigmoidOutputs.has(o)) return { kind: 'kd', weight: 1, target: o, input: teacherName(i), temperature: 1 };
      return { kind: 'mse', weight: 1, target: o, input: teacherName(i) };
    }),
    ...form.tensors.map((t): LossTerm => ({ kind: 'feature', weight: featureWeight / form.tensors.length, target: t.recovered, input: t.source })),
    ...(labelWeight > 0 ? [{ kind: 'ce', weight: labelWeight, target: [...classScores][0]!, input: LABELS } satisfies LossTerm] : []),
  ];

  const trainFeeds = train.map((s) => s.load());
  const inputDims = Object.fromEntries(Object.entries(trainFeeds[0]!).map(([n, t]) => [n, [batchSize, ...t.dims.slice(1)]]));

  const tunedNames = cloudTuneParameters(form.model, split, tuneCloud);
  const trainer = await Trainer.create({
    ort,
    model: form.model,
    loss: terms,
    inputShapes: inputDims,
    params: [...form.trainable, ...tunedNames],
    rules: straightThroughRules(form.floors),
    batchNorm: 'inference',
    optimizer: { kind: 'adam', lr: opts.lr ?? 1e-3, weightDecay: 0, decoupled: true },
    sessionOptions: { intraOpNumThreads: opts.threads ?? 2 },
  });
  // What each teacher input takes: the teacher's value of the student's term target, which for
  // a Softmax output is its logits (the kd term compares logits at temperature T), else the output.
  const teacherValues = outputs.map((o, i) => trainer.graph.teachers[teacherName(i)] ?? o);
  const [teachTrain, teachHeld] = [await outputsOf(model, train, teacherValues), await outputsOf(model, heldOut, outputs)];
  const labels = labelWeight > 0 ? BigInt64Array.from(train, (s) => BigInt(s.label!)) : undefined;
  const evaluate = async (): Promise<number> => {
    if (heldOut.length === 0) return 1;
    // measured as the fidelity report measures: top-1 agreement for class scores, else mean cosine
    const got = await outputsOf(trainer.exportModel(), heldOut, outputs);
    return Math.min(
      ...outputs.map((o) => {
        const acc = new OutputAccumulator(o, classScores.has(o));
        got.forEach((g, i) => acc.add(teachHeld[i]![o]!, g[o]!, undefined));
        const r = acc.result();
        return r.top1Agreement ?? r.cosine;
      }),
    );
  };

  try {
    const initialAgreement = await evaluate();
    const stepsPerEpoch = Math.floor(train.length / batchSize);
    const history: EpochRecord[] = [];
    let initialLoss = NaN;
    for (let epoch = 0; epoch < opts.epochs; epoch++) {
      const order = epochOrder(train.length, opts.seed, epoch);
      let sum = 0;
      for (let step = 0; step < stepsPerEpoch; step++) {
        const idx = order.subarray(step * batchSize, (step + 1) * batchSize);
        const feeds = batchFeeds(trainFeeds, idx);
        teacherValues.forEach((v, i) => (feeds[teacherName(i)] = batchRows(teachTrain, idx, v)));
        if (labels) feeds[LABELS] = new ort.Tensor('int64', BigInt64Array.from(idx, (i) => labels[i]!), [idx.length]);
        const r = await trainer.trainStep(feeds);
        if (!Number.isFinite(r.loss)) throw new SplitcError('E_AUTODIFF', `the bottleneck's training loss became ${r.loss} in epoch ${epoch + 1}`, { hint: 'lower the learning rate' });
        if (epoch === 0 && step === 0) initialLoss = r.loss;
        sum += r.loss;
        opts.onProgress?.({ epoch: epoch + 1, epochs: opts.epochs, step: step + 1, steps: stepsPerEpoch, loss: sum / (step + 1) });
      }
      const heldOutAgreement = await evaluate();
      history.push({ epoch: epoch + 1, loss: sum / stepsPerEpoch, heldOutAgreement });
      opts.onProgress?.({ epoch: epoch + 1, epochs: opts.epochs, step: stepsPerEpoch, steps: stepsPerEpoch, loss: sum / stepsPerEpoch, heldOutAgreement });
    }
    const weights = learnedWeightsFrom(form, (name) => trainer.params.get(name));
    const tuned = Object.fromEntries(tunedNames.map((n) => [n, Float32Array.from(trainer.params.get(n)!)]));
    return { weights, initialAgreement, initialLoss, history, batchSize, steps: stepsPerEpoch * opts.epochs, usedLabels: labelWeight > 0, tuned };
  } finally {
    await trainer.release();
  }
}
