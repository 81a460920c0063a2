// The bottleneck transform: given a split and a compression spec with calibration
// statistics, append encoders to the end of the edge graph (before its wire outputs) and
// decoders to the start of the cloud graph (after its wire inputs). Defences (noise,
// channel dropout) run first on the edge and have no decoder. Every constant is
// baked into the graphs, so any ONNX runtime (Triton included) serves the cloud side.
// Statistics and constants are per sample; a batch dim stays the wire's dim 0 (sub-byte
// codes are packed per sample), so servers can still stack requests along it.

import { cloneModelShallow } from '../../ir/clone.js';
import { byteSizeOf, DataType, dtypeBits, dtypeName } from '../../ir/dtype.js';
import { SplitcError } from '../../ir/errors.js';
import { type Dim, Model, tensorType, Value } from '../../ir/graph.js';
import type { SplitResult } from '../cut.js';
import { Emitter } from '../emit.js';
import type { PassContext } from '../pass.js';
import { emitDecoder, emitEncoder, type StageConstants, type TensorPlan, wireTag } from './codec.js';
import { initLearned, learnedForm, learnedOutDims, type LearnedWeights, withLearnedWeights } from './learned.js';
import { type PcaBasis, pcaBasis } from './pca.js';
import { codesPerByte, packedBytes, type QuantParams, quantParams } from './quant.js';
import {
  type CompressSpec,
  type CompressStage,
  defaultChannelAxis,
  formatCompressSpec,
  isDefence,
  isReducer,
  normalizeAxis,
  type QuantBits,
  type QuantStage,
  specChannelAxis,
} from './spec.js';
import type { TensorStats } from './stats.js';
import { axisOutside, needsInputShapes } from '../diagnostics.js';

/**
 * Calibration statistics of one cut tensor: of the tensor itself, and of its reduced form
 * (the PCA projection, or learned's reduce with the weights in `learned`) when a quantizer
 * follows pca or learned.
 */
export interface CutTensorStats {
  raw: TensorStats;
  projected?: TensorStats;
  /**
   * Trained weights of a `learned` stage, replacing its PCA initialisation. `projected` must
   * have been measured with them: calibrateSplit's `learned` option records both together.
   */
  learned?: LearnedWeights;
}
export type SplitStats = Record<string, CutTensorStats>;

export type { StageConstants, TensorPlan } from './codec.js';

export interface TensorCompression {
  /** Cut tensor name (the cloud's decoded value keeps it). */
  source: string;
  /** Name on the wire: edge output = cloud input. */
  wire: string;
  dtype: string;
  dims: Dim[];
  /** Canonical spec text applied to this tensor ('none' when passed through). */
  spec: string;
  /** Why the tensor was passed through unchanged (non-float, already float16, …). */
  passthrough?: string;
  stages: StageConstants[];
}

export interface CompressionConstants {
  schemaVersion: 1;
  spec: string;
  tensors: TensorCompression[];
}

export interface WireTensor {
  /** Edge output = cloud input name. */
  name: string;
  /** The cut tensor it carries. */
  source: string;
  dtype: string;
  shape: Dim[];
  /** Exact bytes for one sample (a symbolic leading batch dim counted as 1); null when another dim is symbolic. */
  bytesPerSample: number | null;
  /** Bytes of the uncompressed cut tensor in its own dtype. */
  rawBytesPerSample: number | null;
  /** Human description, e.g. "pca=16 (93.1% variance) + int4 per-channel(axis 1) percentile 99.99". */
  stage: string;
}

export interface CompressedSplit {
  edge: Model;
  cloud: Model;
  /** The uncompressed split this was built from. */
  split: SplitResult;
  spec: string;
  /** In the order of the edge's outputs (= the cloud's inputs). */
  wire: WireTensor[];
  constants: CompressionConstants;
}

const NO_PCA = 'no pca';
const staticDims = (dims: Dim[] | null): dims is number[] => !!dims && dims.every((d) => typeof d === 'number');
const product = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

/**
 * The batch dim of a tensor: its leading dim when that is symbolic or 1 (the rule by which
 * the Triton config and splitc's server batch along dim 0), else null. Encoders keep it as
 * the wire's dim 0, so requests from many edges can still be stacked.
 */
export function leadingBatchDim(dims: readonly Dim[]): Dim | null {
  const d0 = dims[0];
  return d0 === 1 || typeof d0 === 'string' ? d0 : null;
}

/** One sample's dims: a batch dim becomes 1 (calibration statistics and constants are per sample). */
function sampleDims(dims: readonly Dim[]): Dim[] {
  return leadingBatchDim(dims) === null ? [...dims] : [1, ...dims.slice(1)];
}

function bytesPerSampleOf(dtype: DataType, dims: Dim[] | null): number | null {
  const sample = dims && sampleDims(dims);
  if (!staticDims(sample) || dtypeBits(dtype) === 0) return null;
  return byteSizeOf(dtype, product(sample));
}

function rangeText(q: QuantStage): string {
  return q.range.kind === 'percentile' ? `percentile=${q.range.percentile}` : 'minmax';
}

function checkStats(source: string, stats: TensorStats | undefined, dims: number[], axis: number, what: string): TensorStats {
  if (!stats) {
    throw new SplitcError('E_COMPRESS', `no calibration statistics for ${what} of cut tensor '${source}'`, {
      hint: 'calibrate the split with the same spec first (splitc collects them from --calib samples)',
    });
  }
  if (stats.dims.join(',') !== dims.join(',')) {
    throw new SplitcError('E_COMPRESS', `calibration statistics for '${source}' are for shape [${stats.dims}], the tensor is [${dims}]`, {
      hint: 'recalibrate with the shapes the split was made for',
    });
  }
  if (stats.channelAxis !== axis) {
    throw new SplitcError('E_COMPRESS', `calibration statistics for '${source}' run along axis ${stats.channelAxis}, the spec needs axis ${axis}`, {
      hint: 'recalibrate with the same spec (its channel axis decides the per-channel statistics)',
    });
  }
  return stats;
}

/** Decide constants for one cut tensor, the `index`-th (pure; throws before any graph is touched). */
function planTensor(source: string, value: Value, spec: CompressSpec, stats: CutTensorStats | undefined, index: number): TensorPlan {
  const t = value.tensorType;
  const dtype = t?.dtype ?? DataType.UNDEFINED;
  const dims = t?.shape ? [...t.shape] : [];
  const plan: TensorPlan = { source, dtype, dims, batch: leadingBatchDim(dims), stages: [], describe: [] };
  if (spec.stages.length === 0) return { ...plan, passthrough: 'no compression' };
  if (dtype !== DataType.FLOAT && dtype !== DataType.FLOAT16 && dtype !== DataType.DOUBLE) {
    return { ...plan, passthrough: `${dtypeName(dtype)} tensors are sent as they are` };
  }
  if (spec.stages.length === 1 && spec.stages[0]!.kind === 'fp16' && dtype === DataType.FLOAT16) {
    return { ...plan, passthrough: 'already float16' };
  }
  const needsStatic = spec.stages.some((s) => s.kind !== 'fp16' && s.kind !== 'dropout');
  const sample = sampleDims(dims);
  if (needsStatic && !(t?.shape && staticDims(sample))) {
    throw new SplitcError('E_COMPRESS', `cut tensor '${source}' has shape [${t?.shape?.map(String).join(',') ?? '?'}]; quantization, pca and noise need static dims past a leading batch dim`, {
      hint: 'fix the input shapes (--shape x=Nx3x224x224 or x=1x3x224x224) so every cut tensor has static dims, or use fp16',
    });
  }
  if (!t?.shape && spec.stages.some((s) => s.kind === 'dropout')) {
    throw needsInputShapes('E_COMPRESS', `cut tensor '${source}' has no known rank; channel dropout needs one`);
  }
  // per sample from here on: statistics are gathered and constants computed for batch 1
  // (dropout alone allows symbolic dims: it only needs the rank)
  let curDims = sample as number[];
  const rank = curDims.length;
  let pcaAxis: number | undefined;
  // the axis the raw statistics run along: pca's, else the quantizer's, else the default
  const statsAxis = (what: string): number => {
    const a = specChannelAxis(spec, rank);
    if (a < 0) throw axisOutside(`the spec's channel axis (for ${what})`, rank, source);
    return a;
  };
  for (const stage of spec.stages) {
    if (stage.kind === 'noise') {
      const perChannel = stage.granularity !== 'tensor' && rank > 0;
      const axis = perChannel ? statsAxis('noise') : null;
      const raw = checkStats(source, stats?.raw, curDims, axis ?? stats?.raw.channelAxis ?? defaultChannelAxis(rank), 'noise');
      const std = perChannel ? raw.channels.map((c) => c.std) : [raw.whole.std];
      plan.stages.push({
        kind: 'noise',
        sigma: std.map((v) => stage.sigma * v),
        axis,
        relative: stage.sigma,
        ...(spec.seed !== undefined ? { seed: spec.seed + 2 * index } : {}),
      });
      plan.describe.push(`noise σ=${stage.sigma}×std ${axis === null ? 'per-tensor' : `per-channel(axis ${axis})`}`);
    } else if (stage.kind === 'dropout') {
      const axis = statsAxis('dropout');
      plan.stages.push({ kind: 'dropout', p: stage.p, axis, ...(spec.seed !== undefined ? { seed: spec.seed + 2 * index + 1 } : {}) });
      plan.describe.push(`dropout p=${stage.p} per-channel(axis ${axis})`);
    } else if (stage.kind === 'pca') {
      const axis = stage.axis === undefined ? defaultChannelAxis(rank) : normalizeAxis(stage.axis, rank);
      if (axis === undefined || rank === 0) {
        throw axisOutside(`pca axis ${stage.axis}`, rank, source);
      }
      if (!(axis === rank - 1 || (axis === 1 && rank >= 3))) {
        throw new SplitcError('E_COMPRESS', `pca over axis ${axis} of rank-${rank} tensor '${source}' is not supported`, {
          hint: 'pca projects axis 1 of NC… tensors (a 1×1 Conv) or the last axis (MatMul)',
        });
      }
      const C = curDims[axis]!;
      if (stage.k > C) {
        // multi-tensor cuts mix channel counts: pca=K means "at most K channels"
        plan.describe.push(`${NO_PCA} (${C} ≤ ${stage.k} channels)`);
        plan.pcaSkipped = true;
        continue;
      }
      const raw = checkStats(source, stats?.raw, curDims, axis, 'pca');
      const basis: PcaBasis = pcaBasis(raw, stage.k);
      pcaAxis = axis;
      plan.stages.push({
        kind: 'pca',
        axis,
        k: stage.k,
        channels: C,
        explainedVariance: basis.explainedVariance,
        mean: basis.mean,
        components: basis.components,
        eigenvalues: basis.eigenvalues,
      });
      plan.describe.push(`pca=${stage.k} (${(basis.explainedVariance * 100).toFixed(1)}% variance)`);
      curDims = [...curDims];
      curDims[axis] = stage.k;
    } else if (stage.kind === 'learned') {
      const axis = stage.axis === undefined ? defaultChannelAxis(rank) : normalizeAxis(stage.axis, rank);
      if (axis === undefined || rank === 0) throw axisOutside(`learned axis ${stage.axis}`, rank, source);
      const form = learnedForm(axis, rank, stage.stride);
      if (!form) {
        throw new SplitcError('E_COMPRESS', `learned=${stage.k}${stage.stride === 2 ? '/s2' : ''} over axis ${axis} of rank-${rank} tensor '${source}' is not supported`, {
          hint: stage.stride === 2 ? 'learned=K/s2 needs an NCHW tensor (rank 4, channels on axis 1); use learned=K' : 'learned reduces axis 1 of NC… tensors (a 1×1 Conv) or the last axis (MatMul)',
        });
      }
      const C = curDims[axis]!;
      if (stage.k > C) {
        plan.describe.push(`${NO_PCA} (${C} ≤ ${stage.k} channels)`);
        plan.pcaSkipped = true;
        continue;
      }
      const raw = checkStats(source, stats?.raw, curDims, axis, 'learned');
      const init = initLearned(pcaBasis(raw, stage.k), axis, rank, stage.stride, form);
      const learned = stats?.learned ? withLearnedWeights(init, stats.learned, source) : init;
      pcaAxis = axis;
      plan.stages.push(learned);
      plan.describe.push(`learned=${stage.k}${stage.stride === 2 ? '/s2' : ''} (${learned.trained ? 'trained' : `pca init, ${(init.explainedVariance * 100).toFixed(1)}% variance`})`);
      curDims = learnedOutDims(curDims, axis, stage.k, stage.stride);
    } else if (stage.kind === 'fp16') {
      plan.stages.push({ kind: 'fp16' });
      plan.describe.push('fp16');
    } else {
      // Per-tensor by default: per-channel ranges from a small calibration set clip unseen
      // data more often (measured: detector int8 cosine 0.9999 per-tensor vs 0.9956 per-channel
      // with 8 calibration tiles); ask for `:channel` when the set is large.
      const granularity = stage.granularity ?? (pcaAxis !== undefined ? 'channel' : 'tensor');
      let axis: number | null = null;
      if (granularity === 'channel') {
        const a = pcaAxis ?? (stage.axis === undefined ? defaultChannelAxis(rank) : normalizeAxis(stage.axis, rank));
        if (a === undefined || rank === 0) {
          throw axisOutside(`quantization axis ${stage.axis}`, rank, source);
        }
        axis = a;
      }
      const statAxis = axis ?? pcaAxis ?? (stats?.raw.channelAxis ?? defaultChannelAxis(rank));
      const s = checkStats(source, pcaAxis !== undefined ? stats?.projected : stats?.raw, curDims, statAxis, pcaAxis !== undefined ? 'the reduced (pca or learned) tensor' : 'quantization');
      const params: QuantParams = quantParams(granularity === 'channel' ? s.channels : [s.whole], stage.bits, stage.range);
      const elements = product(curDims);
      plan.stages.push({
        kind: 'quant',
        bits: stage.bits,
        granularity,
        axis,
        range: rangeText(stage),
        scale: params.scale,
        zeroPoint: params.zeroPoint,
        lo: params.lo,
        hi: params.hi,
        approximate: params.approximate,
        elements,
        codesPerByte: codesPerByte(stage.bits),
      });
      plan.describe.push(`int${stage.bits} ${granularity === 'channel' ? `per-channel(axis ${axis})` : 'per-tensor'} ${rangeText(stage)}`);
    }
  }
  if (plan.stages.length === 0) return { ...plan, passthrough: plan.describe.join(', ') };
  return plan;
}

/** Spec text of the stages actually applied to one tensor. */
function stageText(s: StageConstants): string {
  if (s.kind === 'noise') return `noise=${s.relative}${s.axis === null ? ':tensor' : ''}`;
  if (s.kind === 'dropout') return `dropout=${s.p}`;
  if (s.kind === 'pca') return `pca=${s.k}:axis=${s.axis}`;
  if (s.kind === 'learned') return `learned=${s.k}${s.stride === 2 ? '/s2' : ''}:axis=${s.axis}`;
  if (s.kind === 'fp16') return 'fp16';
  return `int${s.bits}${s.granularity === 'channel' ? `:channel:axis=${s.axis}` : ':tensor'}${s.range === 'minmax' ? '' : `:${s.range}`}`;
}

/**
 * Insert the bottleneck into copies of the split's edge and cloud models. Every cut tensor
 * is compressed independently; non-float tensors pass through. Throws (E_COMPRESS) before
 * building anything when a stage cannot apply or statistics are missing.
 */
export function compressSplit(split: SplitResult, spec: CompressSpec, stats: SplitStats = {}, ctx?: PassContext): CompressedSplit {
  const specText = formatCompressSpec(spec);
  const plans = planCompression(split, spec, stats, ctx);
  return buildCompressed(split, specText, plans);
}

/**
 * The constants compressSplit would bake in for each cut tensor (in `split.cutTensors` order),
 * without building graphs: what the training form (training-form.ts) is made from. Pure;
 * warnings go to `ctx`.
 */
export function planCompression(split: SplitResult, spec: CompressSpec, stats: SplitStats = {}, ctx?: PassContext): TensorPlan[] {
  const edgeValues = new Map(split.edge.graph.outputs.map((v) => [v.name, v]));
  if (spec.seed !== undefined && !(Number.isInteger(spec.seed) && spec.seed >= 0 && spec.seed + 2 * split.cutTensors.length <= 2 ** 24)) {
    // the Random ops' seed is a float attribute: keep every derived seed an exact float32 integer
    throw new SplitcError('E_BAD_ARGUMENT', `compression seed ${spec.seed} is not an integer in [0, 2^24 − 2·tensors]`, { hint: 'seed the defences with a small non-negative integer' });
  }
  const plans = split.cutTensors.map((name, i) => {
    const v = edgeValues.get(name);
    if (!v) throw new SplitcError('E_COMPRESS', `cut tensor '${name}' is not an output of the edge model`, { hint: 'compress the SplitResult that splitModel returned, unmodified' });
    return planTensor(name, v, spec, stats[name], i);
  });
  const pcaStage = spec.stages.find(isReducer);
  if (pcaStage && plans.some((p) => p.pcaSkipped) && !plans.some((p) => p.stages.some((s) => s.kind === pcaStage.kind))) {
    throw new SplitcError('E_COMPRESS', `${pcaStage.kind}=${pcaStage.k} reduces none of the cut tensors (${plans.map((p) => `'${p.source}' [${p.dims.join(',')}]`).join(', ')})`, {
      hint: `${pcaStage.kind}=K keeps K channels: pick K below the channel count`,
    });
  }

  for (const p of plans) {
    if (p.pcaSkipped) ctx?.warn('W_PCA_SKIPPED', `cut tensor '${p.source}' is not projected: ${p.describe.find((d) => d.startsWith(NO_PCA))}`, p.source);
    for (const st of p.stages) {
      if (st.kind === 'quant' && st.approximate) {
        ctx?.warn('W_PERCENTILE_APPROX', `the ${st.range} range of '${p.source}' is estimated from a sample (the tail is deeper than the exact extremes kept)`, p.source);
      }
    }
  }
  return plans;
}

function buildCompressed(split: SplitResult, specText: string, plans: TensorPlan[]): CompressedSplit {
  const edge = cloneModelShallow(split.edge);
  const cloud = cloneModelShallow(split.cloud);
  const edgeEm = Emitter.forModel(edge, { at: 'end', naming: 'output' });
  const cloudEm = Emitter.forModel(cloud, { at: 'start', naming: 'output' });
  const wire: WireTensor[] = [];
  const tensors: TensorCompression[] = [];
  const rawOutputsToKeep: Value[] = [];

  plans.forEach((plan, i) => {
    const edgeValue = edge.graph.outputs[i]!;
    const cloudIndex = cloud.graph.inputs.findIndex((v) => v.name === plan.source);
    if (edgeValue.name !== plan.source || cloudIndex < 0) {
      throw new SplitcError('E_COMPRESS', `internal: wire tensor '${plan.source}' is not at the expected edge output / cloud input`);
    }
    const rawBytes = bytesPerSampleOf(plan.dtype, plan.dims);
    if (plan.passthrough !== undefined) {
      wire.push({ name: plan.source, source: plan.source, dtype: dtypeName(plan.dtype), shape: plan.dims, bytesPerSample: rawBytes, rawBytesPerSample: rawBytes, stage: `none (${plan.passthrough})` });
      tensors.push({ source: plan.source, wire: plan.source, dtype: dtypeName(plan.dtype), dims: plan.dims, spec: 'none', passthrough: plan.passthrough, stages: [] });
      return;
    }
    // the wire name must be new in both graphs
    let wireName = `${plan.source}.${wireTag(plan)}`;
    for (let k = 1; edgeEm.names.has(wireName) || cloudEm.names.has(wireName); k++) wireName = `${plan.source}.${wireTag(plan)}_${k}`;
    cloudEm.names.reserve(wireName);
    const encoded = emitEncoder(edgeEm, edgeValue, plan, wireName);
    edge.graph.outputs[i] = encoded;
    if (split.edgeOutputs.includes(plan.source)) rawOutputsToKeep.push(edgeValue);

    const oldInput = cloud.graph.inputs[cloudIndex]!;
    const wireInput = new Value(encoded.name, tensorType(encoded.dtype!, encoded.shape ? [...encoded.shape] : null));
    cloud.graph.inputs[cloudIndex] = wireInput;
    wireInput.graph = cloud.graph;
    const decoded = emitDecoder(cloudEm, wireInput, plan);
    oldInput.replaceAllUsesWith(decoded);
    oldInput.graph = null;
    decoded.name = plan.source; // the old input is gone: the decoded tensor takes the cut's name back

    const et = encoded.tensorType!;
    wire.push({
      name: encoded.name,
      source: plan.source,
      dtype: dtypeName(et.dtype),
      shape: et.shape ? [...et.shape] : [],
      bytesPerSample: bytesPerSampleOf(et.dtype, et.shape),
      rawBytesPerSample: rawBytes,
      stage: plan.describe.join(' + '),
    });
    tensors.push({
      source: plan.source,
      wire: encoded.name,
      dtype: dtypeName(plan.dtype),
      dims: plan.dims,
      spec: plan.stages.map(stageText).join('+'),
      stages: plan.stages,
    });
  });
  // a cut tensor that is also a model output computed on the edge is still returned raw
  for (const v of rawOutputsToKeep) edge.graph.outputs.push(v);
  edge.metadataProps = [...edge.metadataProps, ['splitc.compression', specText]];
  cloud.metadataProps = [...cloud.metadataProps, ['splitc.compression', specText]];
  return { edge, cloud, split, spec: specText, wire, constants: { schemaVersion: 1, spec: specText, tensors } };
}

/** Total bytes per sample on the wire (null when a wire tensor has symbolic dims). */
export function wireBytesPerSample(wire: readonly WireTensor[]): number | null {
  let total = 0;
  for (const w of wire) {
    if (w.bytesPerSample === null) return null;
    total += w.bytesPerSample;
  }
  return total;
}

export type { CompressStage };

/**
 * Bytes a tensor of this dtype and static shape takes on the wire under `spec`, without
 * calibration: the same rules as `compressSplit` (non-float tensors and pca=K with ≤ K
 * channels pass through; intN packs ceil(N·elements/8) bytes; scales are constants). For the
 * search, which prices every candidate cut before any statistics exist. Null when the
 * spec cannot apply (pca over an unsupported axis) or the shape is not static.
 */
export function estimateWireBytes(spec: CompressSpec, dtype: DataType, dims: readonly number[]): number | null {
  if (dims.some((d) => !Number.isInteger(d) || d < 0)) return null;
  const elementsOf = (ds: readonly number[]): number => ds.reduce((a, b) => a * b, 1);
  const raw = Math.ceil((elementsOf(dims) * dtypeBits(dtype)) / 8);
  if (spec.stages.length === 0) return raw;
  if (dtype !== DataType.FLOAT && dtype !== DataType.FLOAT16 && dtype !== DataType.DOUBLE) return raw;
  let cur = [...dims];
  let bits = dtypeBits(dtype);
  const rank = cur.length;
  for (const stage of spec.stages) {
    if (isDefence(stage)) continue; // defences change values, not sizes
    if (stage.kind === 'pca') {
      const axis = stage.axis === undefined ? defaultChannelAxis(rank) : normalizeAxis(stage.axis, rank);
      if (axis === undefined || rank === 0 || !(axis === rank - 1 || (axis === 1 && rank >= 3))) return null;
      if (stage.k < cur[axis]!) cur[axis] = stage.k;
    } else if (stage.kind === 'learned') {
      const axis = stage.axis === undefined ? defaultChannelAxis(rank) : normalizeAxis(stage.axis, rank);
      if (axis === undefined || rank === 0 || !learnedForm(axis, rank, stage.stride)) return null;
      // a tensor with ≤ K channels passes through, as compressSplit does
      if (stage.k <= cur[axis]!) cur = learnedOutDims(cur, axis, stage.k, stage.stride);
    } else if (stage.kind === 'fp16') {
      bits = 16;
    } else {
      bits = stage.bits;
    }
  }
  return bits < 8 ? packedBytes(elementsOf(cur), bits as QuantBits) : Math.ceil((elementsOf(cur) * bits) / 8);
}
