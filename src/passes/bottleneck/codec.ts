// The ONNX ops of the bottleneck's stages, inserted with the graph Emitter: the edge's
// encoder (defences, pca, fp16, quantization and packing) and the cloud's decoder.

import { DataType } from '../../ir/dtype.js';
import type { Dim, Value } from '../../ir/graph.js';
import { type Emitter, floatAttr } from '../emit.js';
import { emitLearnedRecover, emitLearnedReduce, type LearnedConstants, learnedOutDims } from './learned.js';
import { codesPerByte, packedBytes } from './quant.js';
import type { QuantBits } from './spec.js';

/** The constants of one stage, JSON-serialisable (for the manifest and for JS clients). */
export type StageConstants =
  | {
      kind: 'noise';
      /** Absolute standard deviation of the added noise: one per channel along `axis`, or one (axis null). */
      sigma: number[];
      axis: number | null;
      /** The spec's S: sigma = S × the calibrated std. */
      relative: number;
      /** The RandomNormalLike seed when the spec was seeded (tests, measurements); absent = fresh noise every run. */
      seed?: number;
    }
  | {
      kind: 'dropout';
      /** Probability that a channel of a sample is zeroed; kept channels are scaled by 1/(1−p). */
      p: number;
      /** The channel axis: the mask is 1 on every other axis but the batch dim. */
      axis: number;
      seed?: number;
    }
  | {
      kind: 'pca';
      axis: number;
      k: number;
      channels: number;
      explainedVariance: number;
      /** Channel means (C). */
      mean: number[];
      /** k×C projection rows: y = components·(x − mean); the cloud computes x̂ = componentsᵀ·y + mean. */
      components: number[][];
      eigenvalues: number[];
    }
  | LearnedConstants
  | { kind: 'fp16' }
  | {
      kind: 'quant';
      bits: QuantBits;
      granularity: 'tensor' | 'channel';
      /** Channel axis of per-channel parameters (null per-tensor). */
      axis: number | null;
      range: string;
      scale: number[];
      zeroPoint: number[];
      lo: number[];
      hi: number[];
      approximate: boolean;
      /**
       * Codes per row of the wire: with a batch dim (see `leadingBatchDim`) the wire is
       * [N, ceil(elements/P)] and row r packs sample r's `elements` codes; without one it is
       * the flat [ceil(elements/P)]. P = `codesPerByte`; code i of a row sits in bits
       * (i mod P)·bits of its byte floor(i/P), the row's last byte padded with zero codes.
       */
      elements: number;
      codesPerByte: number;
    };

/** The planned compression of one cut tensor. */
export interface TensorPlan {
  source: string;
  dtype: DataType;
  dims: Dim[];
  /** The cut tensor's batch dim (symbolic or 1), kept as dim 0 of the wire; null when it has none. */
  batch: Dim | null;
  passthrough?: string;
  stages: StageConstants[];
  describe: string[];
  /** pca=K was asked for but the tensor has at most K channels. */
  pcaSkipped?: boolean;
}

/** The spec applies no stage to a tensor but defences: the cloud receives the defended tensor as it is. */
const defencesOnly = (plan: TensorPlan): boolean => plan.stages.every((s) => s.kind === 'noise' || s.kind === 'dropout');

/** Broadcast shape for per-channel constants: C on `axis`, 1 elsewhere. */
/** The shape of per-channel constants along `axis` of a rank-`rank` tensor: [1, …, c, …, 1]. */
export function channelShape(rank: number, axis: number, c: number): number[] {
  return Array.from({ length: rank }, (_, i) => (i === axis ? c : 1));
}

/** Edge side: encode `x` (the cut value) through the plan's stages; returns the wire value. */
export function emitEncoder(em: Emitter, x: Value, plan: TensorPlan, wireName: string): Value {
  const base = plan.source;
  let cur = x;
  let dims = [...plan.dims];
  // packed codes keep the batch dim: Reshape's 0 copies it, whatever its runtime size
  const lead: Dim[] = plan.batch === null ? [] : [plan.batch];
  const keep = lead.map(() => 0);
  const needsF32 = plan.stages.some((s) => s.kind !== 'fp16');
  if (plan.dtype !== DataType.FLOAT && needsF32) cur = em.cast(cur, DataType.FLOAT, { name: `${base}.f32`, shape: dims });
  const rank = dims.length;
  plan.stages.forEach((s, i) => {
    const last = i === plan.stages.length - 1;
    const outName = last ? wireName : `${base}.${wireTag({ ...plan, stages: plan.stages.slice(0, i + 1) })}`;
    if (s.kind === 'noise' || s.kind === 'dropout') {
      // a defended float16/double tensor with no coder after it goes back to its own dtype: defences add no bytes
      const restore = last && plan.dtype !== DataType.FLOAT;
      const name = restore ? `${outName}.f32` : outName;
      cur = s.kind === 'noise' ? emitNoise(em, cur, s, dims, name) : emitDropout(em, cur, s, dims, plan.batch !== null, name);
      if (restore) cur = em.cast(cur, plan.dtype, { name: outName, shape: dims });
    } else if (s.kind === 'pca') {
      const C = s.channels;
      const K = s.k;
      const outDims = [...dims];
      outDims[s.axis] = K;
      // y = V·x − V·mean
      const bias = s.components.map((row) => -row.reduce((acc, v, c) => acc + v * s.mean[c]!, 0));
      if (s.axis === rank - 1 && !(s.axis === 1 && rank >= 3)) {
        const w = em.namedConstant(`${base}.pca.w`, DataType.FLOAT, [C, K], transposeFlat(s.components, K, C));
        const b = em.namedConstant(`${base}.pca.b`, DataType.FLOAT, [K], bias);
        const mm = em.op('MatMul', [cur, w], {}, { name: `${outName}.mm`, dtype: DataType.FLOAT, shape: outDims });
        cur = em.op('Add', [mm, b], {}, { name: outName, dtype: DataType.FLOAT, shape: outDims });
      } else {
        const spatial = rank - 2;
        const w = em.namedConstant(`${base}.pca.w`, DataType.FLOAT, [K, C, ...Array<number>(spatial).fill(1)], s.components.flat());
        const b = em.namedConstant(`${base}.pca.b`, DataType.FLOAT, [K], bias);
        cur = em.op('Conv', [cur, w, b], { kernel_shape: Array<number>(spatial).fill(1) }, { name: outName, dtype: DataType.FLOAT, shape: outDims });
      }
      dims = outDims;
    } else if (s.kind === 'learned') {
      cur = emitLearnedReduce(em, cur, s, base, dims, outName);
      dims = learnedOutDims(dims, s.axis, s.k, s.stride);
    } else if (s.kind === 'fp16') {
      const clipped = em.clip(cur, -65504, 65504, { name: `${outName}.clip`, dtype: cur.dtype ?? DataType.FLOAT, shape: dims });
      cur = em.cast(clipped, DataType.FLOAT16, { name: outName, shape: dims });
    } else {
      const qmax = 2 ** s.bits - 1;
      const pshape = s.axis === null ? [] : channelShape(rank, s.axis, s.scale.length);
      const inv = em.namedConstant(`${outName}.inv_scale`, DataType.FLOAT, pshape, s.scale.map((v) => Math.fround(1 / v)));
      const zph = em.namedConstant(`${outName}.zp_half`, DataType.FLOAT, pshape, s.zeroPoint.map((z) => z + 0.5));
      const scaled = em.op('Mul', [cur, inv], {}, { name: `${outName}.scaled`, dtype: DataType.FLOAT, shape: dims });
      const shifted = em.op('Add', [scaled, zph], {}, { name: `${outName}.shifted`, dtype: DataType.FLOAT, shape: dims });
      const floored = em.op('Floor', [shifted], {}, { name: `${outName}.floor`, dtype: DataType.FLOAT, shape: dims });
      const codes = em.clip(floored, 0, qmax, { name: `${outName}.codes`, dtype: DataType.FLOAT, shape: dims });
      if (s.bits === 8) {
        cur = em.cast(codes, DataType.UINT8, { name: outName, shape: dims });
      } else {
        // per sample: [N, n] codes → pad to [N, M·P] → [N, M, P] → weights 2^(j·b) → [N, M] bytes
        const P = codesPerByte(s.bits);
        const n = s.elements;
        const M = packedBytes(n, s.bits);
        let flat = em.reshape(codes, [...keep, n], { name: `${outName}.flat`, dtype: DataType.FLOAT, shape: [...lead, n] });
        if (M * P > n) flat = em.pad(flat, [...keep, 0, ...keep, M * P - n], { name: `${outName}.padded`, dtype: DataType.FLOAT, shape: [...lead, M * P] });
        const groups = em.reshape(flat, [...keep, M, P], { name: `${outName}.groups`, dtype: DataType.FLOAT, shape: [...lead, M, P] });
        const weights = em.namedConstant(`${outName}.weights`, DataType.FLOAT, [P], Array.from({ length: P }, (_, j) => 2 ** (j * s.bits)));
        const bytes = em.op('MatMul', [groups, weights], {}, { name: `${outName}.bytes`, dtype: DataType.FLOAT, shape: [...lead, M] });
        cur = em.cast(bytes, DataType.UINT8, { name: outName, shape: [...lead, M] });
      }
    }
  });
  return cur;
}

const randomSeed = (seed: number | undefined): Record<string, ReturnType<typeof floatAttr>> => (seed === undefined ? {} : { seed: floatAttr('seed', seed) });

/** x + σ·z, z ~ N(0, 1) drawn afresh on every run (RandomNormalLike: x's shape, batch dim included). */
export function emitNoise(em: Emitter, x: Value, s: StageConstants & { kind: 'noise' }, dims: Dim[], outName: string): Value {
  const f = DataType.FLOAT;
  const sigma = em.namedConstant(`${outName}.sigma`, f, s.axis === null ? [] : channelShape(dims.length, s.axis, s.sigma.length), s.sigma);
  const z = em.op('RandomNormalLike', [x], randomSeed(s.seed), { name: `${outName}.z`, dtype: f, shape: dims });
  const scaled = em.op('Mul', [z, sigma], {}, { name: `${outName}.scaled`, dtype: f, shape: dims });
  return em.op('Add', [x, scaled], {}, { name: outName, dtype: f, shape: dims });
}

/**
 * x · mask, one mask value per sample and channel: floor(u) with u uniform in [1−p, 2−p) is 1
 * with probability 1−p, else 0, then × 1/(1−p) so the expected value is x. The mask's shape
 * comes from a 1-element Slice of x on every other axis (batch and channel kept), so a
 * symbolic batch dim needs no Shape arithmetic.
 */
export function emitDropout(em: Emitter, x: Value, s: StageConstants & { kind: 'dropout' }, dims: Dim[], hasBatch: boolean, outName: string): Value {
  const f = DataType.FLOAT;
  const axes = dims.map((_, i) => i).filter((i) => i !== s.axis && !(i === 0 && hasBatch) && dims[i] !== 1);
  const maskDims = dims.map((d, i) => (axes.includes(i) ? 1 : d));
  const template = axes.length
    ? em.slice(x, axes.map(() => 0), axes.map(() => 1), axes, undefined, { name: `${outName}.template`, dtype: f, shape: maskDims })
    : x;
  const u = em.op('RandomUniformLike', [template], { low: floatAttr('low', 1 - s.p), high: floatAttr('high', 2 - s.p), ...randomSeed(s.seed) }, { name: `${outName}.u`, dtype: f, shape: maskDims });
  const keep = em.op('Floor', [u], {}, { name: `${outName}.keep`, dtype: f, shape: maskDims });
  const gain = em.namedConstant(`${outName}.gain`, f, [], [1 / (1 - s.p)]);
  const mask = em.op('Mul', [keep, gain], {}, { name: `${outName}.mask`, dtype: f, shape: maskDims });
  return em.op('Mul', [x, mask], {}, { name: outName, dtype: f, shape: dims });
}

/** Cloud side: decode the wire value back to a tensor of the cut's dtype and dims. */
export function emitDecoder(em: Emitter, wire: Value, plan: TensorPlan): Value {
  const base = plan.source;
  const rank = plan.dims.length;
  // dims entering each stage on the edge
  const stageDims: Dim[][] = [];
  let d = [...plan.dims];
  for (const s of plan.stages) {
    stageDims.push(d);
    if (s.kind === 'pca') {
      d = [...d];
      d[s.axis] = s.k;
    } else if (s.kind === 'learned') {
      d = learnedOutDims(d, s.axis, s.k, s.stride);
    }
  }
  const lead: Dim[] = plan.batch === null ? [] : [plan.batch];
  const keep = lead.map(() => 0);
  let cur = wire;
  // defences only: the cloud takes the wire tensor as the cut tensor (an Identity gives it the cut's name back)
  if (defencesOnly(plan) && cur.dtype === plan.dtype) return em.op('Identity', [cur], {}, { name: `${base}.received`, dtype: plan.dtype, shape: plan.dims });
  for (let i = plan.stages.length - 1; i >= 0; i--) {
    const s = plan.stages[i]!;
    const dims = stageDims[i]!;
    const name = `${base}.dec${i}`;
    if (s.kind === 'noise' || s.kind === 'dropout') {
      continue; // nothing to undo
    } else if (s.kind === 'quant') {
      let codes: Value;
      if (s.bits === 8) {
        codes = em.cast(cur, DataType.FLOAT, { name: `${name}.codes`, shape: dims });
      } else {
        const P = codesPerByte(s.bits);
        const n = s.elements;
        const M = packedBytes(n, s.bits);
        const bytes = em.cast(cur, DataType.FLOAT, { name: `${name}.bytes`, shape: [...lead, M] });
        const col = em.reshape(bytes, [...keep, M, 1], { name: `${name}.col`, dtype: DataType.FLOAT, shape: [...lead, M, 1] });
        // F[…, j] = floor(byte / 2^(j·b)); code j = F[…, j] − 2^b·F[…, j+1]  (exact in float32: integers < 256)
        const pow = em.namedConstant(`${name}.pow`, DataType.FLOAT, [1, P], Array.from({ length: P }, (_, j) => 2 ** (-j * s.bits)));
        const shifted = em.op('Mul', [col, pow], {}, { name: `${name}.shifted`, dtype: DataType.FLOAT, shape: [...lead, M, P] });
        const floors = em.op('Floor', [shifted], {}, { name: `${name}.floors`, dtype: DataType.FLOAT, shape: [...lead, M, P] });
        const diff = new Float32Array(P * P);
        for (let j = 0; j < P; j++) {
          diff[j * P + j] = 1;
          if (j > 0) diff[j * P + (j - 1)] = -(2 ** s.bits);
        }
        const D = em.namedConstant(`${name}.digits`, DataType.FLOAT, [P, P], diff);
        const digits = em.op('MatMul', [floors, D], {}, { name: `${name}.digits`, dtype: DataType.FLOAT, shape: [...lead, M, P] });
        let flat = em.reshape(digits, [...keep, M * P], { name: `${name}.flat`, dtype: DataType.FLOAT, shape: [...lead, M * P] });
        if (M * P > n) flat = em.slice(flat, [0], [n], [lead.length], undefined, { name: `${name}.unpadded`, dtype: DataType.FLOAT, shape: [...lead, n] });
        const target = (lead.length ? [0, ...dims.slice(1)] : dims) as number[];
        codes = em.reshape(flat, target, { name: `${name}.codes`, dtype: DataType.FLOAT, shape: dims });
      }
      const pshape = s.axis === null ? [] : channelShape(rank, s.axis, s.scale.length);
      const zp = em.namedConstant(`${name}.zero_point`, DataType.FLOAT, pshape, s.zeroPoint);
      const scale = em.namedConstant(`${name}.scale`, DataType.FLOAT, pshape, s.scale);
      const centred = em.op('Sub', [codes, zp], {}, { name: `${name}.centred`, dtype: DataType.FLOAT, shape: dims });
      cur = em.op('Mul', [centred, scale], {}, { name: `${name}.value`, dtype: DataType.FLOAT, shape: dims });
    } else if (s.kind === 'fp16') {
      cur = em.cast(cur, DataType.FLOAT, { name: `${name}.f32`, shape: dims });
    } else if (s.kind === 'learned') {
      cur = emitLearnedRecover(em, cur, s, base, dims, `${name}.value`);
    } else {
      const C = s.channels;
      const K = s.k;
      if (s.axis === rank - 1 && !(s.axis === 1 && rank >= 3)) {
        const w = em.namedConstant(`${name}.w`, DataType.FLOAT, [K, C], s.components.flat());
        const b = em.namedConstant(`${name}.b`, DataType.FLOAT, [C], s.mean);
        const mm = em.op('MatMul', [cur, w], {}, { name: `${name}.mm`, dtype: DataType.FLOAT, shape: dims });
        cur = em.op('Add', [mm, b], {}, { name: `${name}.value`, dtype: DataType.FLOAT, shape: dims });
      } else {
        const spatial = rank - 2;
        const w = em.namedConstant(`${name}.w`, DataType.FLOAT, [C, K, ...Array<number>(spatial).fill(1)], transposeFlat(s.components, K, C));
        const b = em.namedConstant(`${name}.b`, DataType.FLOAT, [C], s.mean);
        cur = em.op('Conv', [cur, w, b], { kernel_shape: Array<number>(spatial).fill(1) }, { name: `${name}.value`, dtype: DataType.FLOAT, shape: dims });
      }
    }
  }
  if ((cur.dtype ?? DataType.FLOAT) !== plan.dtype) cur = em.cast(cur, plan.dtype, { name: `${base}.restored`, shape: plan.dims });
  return cur;
}

/** rows (R×Cc) → column-major flat of its transpose (Cc×R). */
function transposeFlat(rows: number[][], r: number, c: number): number[] {
  const out = new Array<number>(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = rows[i]![j]!;
  return out;
}

/** The wire value's name tag: its stages, e.g. `pca16.q4`. */
export function wireTag(plan: TensorPlan): string {
  const tag = (s: StageConstants): string => (s.kind === 'pca' ? `pca${s.k}` : s.kind === 'learned' ? `learned${s.k}${s.stride === 2 ? 's2' : ''}` : s.kind === 'fp16' ? 'fp16' : s.kind === 'noise' ? 'noise' : s.kind === 'dropout' ? 'drop' : `q${s.bits}`);
  return plan.stages.map(tag).join('.');
}
