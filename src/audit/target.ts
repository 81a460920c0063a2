// What an attacker attacks: the edge part of a split, from the private input to the values the
// cloud decodes from the wire. For an uncompressed cut those are the cut tensors; for a
// compressed one they are the dequantized wire values (after pca, in the projected space: the
// cloud's back-projection is an isometry on it, so nothing is gained by undoing it). The wire's
// bytes are not rebuilt here: the encoder's stages are written out without bit packing (packing
// is lossless), and rounding is a Floor node that the white-box attack differentiates straight
// through.

import { DataType, isFloatDtype } from '../ir/dtype.js';
import { SplitcError } from '../ir/errors.js';
import { type Dim, type Model, tensorType, type Value } from '../ir/graph.js';
import type { CompressionConstants, StageConstants } from '../passes/bottleneck/compress.js';
import { Emitter } from '../passes/emit.js';
import { channelShape, emitDropout, emitNoise } from '../passes/bottleneck/codec.js';
import { emitLearnedReduce, learnedOutDims } from '../passes/bottleneck/learned.js';
import { splitModel } from '../passes/cut.js';
import { MIN_GRAD_OPSET } from '../passes/autodiff/index.js';
import { upgradeOpset } from '../passes/opset.js';
import { inferShapes } from '../passes/shape/index.js';
import { cloneModel } from '../passes/training-graph.js';
import type { AttackTarget, InputRange } from './types.js';
import { needsInputShapes } from '../passes/diagnostics.js';

/** The batch dim every attack graph gets, so that probes and restarts run as one batch. */
export const BATCH_DIM = 'N';

export interface TargetOptions {
  /** Cut tensors of `model`. */
  cut: readonly string[];
  /** The bundle's compression constants (null or absent: the cut tensors cross as they are). */
  compression?: CompressionConstants | null;
  range: InputRange;
  /** Seed of the defences' random draws in `observer` (default 1). */
  seed?: number;
}

/** The image-like input an audit reconstructs: the model's only input, [N, C, H, W] with static C, H, W. */
export function privateInput(model: Model): { name: string; dims: number[]; batchable: boolean } {
  const inputs = model.graph.inputs.filter((v) => !v.isInitializer());
  if (inputs.length !== 1) {
    throw new SplitcError('E_AUDIT', `the audit reconstructs one image input; the model has ${inputs.length} inputs (${inputs.map((v) => v.name).join(', ')})`, {
      hint: 'audit a model with a single [N, C, H, W] input',
    });
  }
  const v = inputs[0]!;
  const s = v.shape;
  if (!s || s.length !== 4 || !s.slice(1).every((d) => typeof d === 'number' && d > 0)) {
    throw needsInputShapes('E_AUDIT', `input '${v.name}' has shape [${s?.map(String).join(',') ?? '?'}]; the audit needs an image batch [N, C, H, W] with static C, H, W`);
  }
  if (v.dtype !== undefined && !isFloatDtype(v.dtype)) throw new SplitcError('E_AUDIT', `input '${v.name}' is not floating point: there is no gradient to follow`);
  return { name: v.name, dims: s.slice(1) as number[], batchable: typeof s[0] === 'string' || s[0] === null };
}

/**
 * Append one cut tensor's compression stages to `em`'s graph, as the cloud sees the result:
 * pca projects, quantisation rounds (a Floor, named in `floors`) and dequantizes, fp16 rounds
 * through float16. Returns the observed value.
 */
function emitObserved(em: Emitter, x: Value, stages: readonly StageConstants[], floors: string[], random: { seed: number } | null = null): Value {
  let cur = x;
  let dims = [...(x.shape ?? [])];
  const rank = dims.length;
  const base = x.name;
  const f = DataType.FLOAT;
  if (x.dtype !== undefined && x.dtype !== f) cur = em.cast(cur, f, { name: `${base}.f32`, shape: dims });
  for (const s of stages) {
    if (s.kind === 'noise' || s.kind === 'dropout') {
      // the attacker's model of E is the defence's expectation (x itself); what it observes
      // went through one draw of it (seeded, so an audit is repeatable)
      if (!random) continue;
      cur =
        s.kind === 'noise'
          ? emitNoise(em, cur, { ...s, seed: s.seed ?? random.seed }, dims, `${base}.noise`)
          : emitDropout(em, cur, { ...s, seed: s.seed ?? random.seed + 1 }, dims, typeof dims[0] === 'string' || dims[0] === 1, `${base}.dropout`);
      continue;
    }
    if (s.kind === 'pca') {
      const out = [...dims];
      out[s.axis] = s.k;
      const bias = s.components.map((row) => -row.reduce((acc, v, c) => acc + v * s.mean[c]!, 0));
      if (s.axis === rank - 1 && !(s.axis === 1 && rank >= 3)) {
        const wT = new Array<number>(s.channels * s.k);
        for (let k = 0; k < s.k; k++) for (let c = 0; c < s.channels; c++) wT[c * s.k + k] = s.components[k]![c]!;
        const w = em.namedConstant(`${base}.pca.w`, f, [s.channels, s.k], wT);
        const mm = em.op('MatMul', [cur, w], {}, { name: `${base}.pca.mm`, dtype: f, shape: out });
        cur = em.op('Add', [mm, em.namedConstant(`${base}.pca.b`, f, [s.k], bias)], {}, { name: `${base}.pca`, dtype: f, shape: out });
      } else {
        const spatial = rank - 2;
        const w = em.namedConstant(`${base}.pca.w`, f, [s.k, s.channels, ...new Array<number>(spatial).fill(1)], s.components.flat());
        cur = em.op('Conv', [cur, w, em.namedConstant(`${base}.pca.b`, f, [s.k], bias)], { kernel_shape: new Array<number>(spatial).fill(1) }, { name: `${base}.pca`, dtype: f, shape: out });
      }
      dims = out;
    } else if (s.kind === 'learned') {
      // the attacker observes the reduced tensor z (what crosses the wire, dequantized)
      cur = emitLearnedReduce(em, cur, s, base, dims, `${base}.learned`);
      dims = learnedOutDims(dims, s.axis, s.k, s.stride);
    } else if (s.kind === 'fp16') {
      const half = em.cast(cur, DataType.FLOAT16, { name: `${base}.f16`, shape: dims });
      cur = em.cast(half, f, { name: `${base}.f16.f32`, shape: dims });
    } else {
      // the encoder's arithmetic exactly (floor(x/scale + zp + 0.5), clipped), then the decoder's
      const pshape = s.axis === null ? [] : channelShape(rank, s.axis, s.scale.length);
      const inv = em.namedConstant(`${base}.q.inv_scale`, f, pshape, s.scale.map((v) => Math.fround(1 / v)));
      const zph = em.namedConstant(`${base}.q.zp_half`, f, pshape, s.zeroPoint.map((z) => z + 0.5));
      const scaled = em.op('Mul', [cur, inv], {}, { name: `${base}.q.scaled`, dtype: f, shape: dims });
      const shifted = em.op('Add', [scaled, zph], {}, { name: `${base}.q.shifted`, dtype: f, shape: dims });
      const floored = em.op('Floor', [shifted], {}, { name: `${base}.q.floor`, dtype: f, shape: dims });
      floors.push(floored.producer()!.name);
      const codes = em.clip(floored, 0, 2 ** s.bits - 1, { name: `${base}.q.codes`, dtype: f, shape: dims });
      const centred = em.op('Sub', [codes, em.namedConstant(`${base}.q.zero_point`, f, pshape, s.zeroPoint)], {}, { name: `${base}.q.centred`, dtype: f, shape: dims });
      cur = em.op('Mul', [centred, em.namedConstant(`${base}.q.scale`, f, pshape, s.scale)], {}, { name: `${base}.q.value`, dtype: f, shape: dims });
    }
  }
  return cur;
}

/** Per-sample dims of a value whose dim 0 is the batch. */
function sampleDimsOf(v: Value): number[] {
  const s = v.shape;
  if (!s || !s.slice(1).every((d): d is number => typeof d === 'number')) {
    throw needsInputShapes('E_AUDIT', `cut tensor '${v.name}' has shape [${s?.map(String).join(',') ?? '?'}]; the audit needs static dims past the batch dim`);
  }
  return s.slice(1) as number[];
}

/**
 * The attack target for a cut of `model` (not modified): its edge part with a symbolic batch,
 * ending at what the cloud decodes. Non-float cut tensors (indices, masks) are observed as
 * they are but carry no gradient; a cut with only such tensors cannot be attacked by
 * optimisation (the white-box attack says so).
 */
export function attackTarget(model: Model, opts: TargetOptions): AttackTarget {
  const input = privateInput(model);
  const m = cloneModel(model);
  // every attack differentiates or trains through E: raise old models to the gradient ops'
  // opset once, here (a model that cannot be raised keeps its opset; a gradient then says why)
  if (m.opset < MIN_GRAD_OPSET) {
    try {
      upgradeOpset(m, MIN_GRAD_OPSET);
    } catch (e) {
      if (!(e instanceof SplitcError)) throw e;
    }
  }
  const shapes: Record<string, Dim[]> = { [input.name]: [BATCH_DIM, ...input.dims] };
  if (input.batchable) inferShapes(m, { inputShapes: shapes });
  else inferShapes(m, { inputShapes: { [input.name]: [1, ...input.dims] } });
  const split = splitModel(m, opts.cut);
  const byTensor = new Map((opts.compression?.tensors ?? []).map((t) => [t.source, t]));
  const floors: string[] = [];
  /** The edge part ending at what the cloud decodes; with `random`, the defences' draws included. */
  const build = (edge: Model, random: { seed: number } | null): Value[] => {
    const em = Emitter.forModel(edge, { at: 'end', naming: 'output' });
    const edgeOut = new Map(edge.graph.outputs.map((v) => [v.name, v]));
    const out = split.cutTensors.map((name) => {
      const v = edgeOut.get(name)!;
      const stages = byTensor.get(name)?.stages ?? [];
      return stages.length ? emitObserved(em, v, stages, random ? [] : floors, random) : v;
    });
    edge.graph.outputs.length = 0;
    edge.graph.outputs.push(...out);
    return out;
  };
  const defended = [...byTensor.values()].some((t) => t.stages.some((s) => s.kind === 'noise' || s.kind === 'dropout'));
  const observer = defended ? cloneModel(split.edge) : null;
  if (observer) build(observer, { seed: opts.seed ?? 1 });
  const edge = split.edge;
  const observed = build(edge, null);
  if (opts.range.lo.length !== input.dims[0] || opts.range.hi.length !== input.dims[0]) {
    throw new SplitcError('E_AUDIT', `the input range has ${opts.range.lo.length} channels, the input ${input.dims[0]}`);
  }
  return {
    model: edge,
    input: input.name,
    inputDims: input.dims,
    observed: observed.map((v) => ({ name: v.name, dims: sampleDimsOf(v) })),
    range: opts.range,
    straightThrough: floors,
    cut: [...split.cutTensors],
    compress: opts.compression?.spec ?? 'none',
    ...(observer ? { observer } : {}),
  };
}

/** Whether the target's batch dim is symbolic (probes and restarts can run as one batch). */
export function isBatchable(target: AttackTarget): boolean {
  const v = target.model.graph.inputs.find((i) => i.name === target.input);
  const d0 = v?.shape?.[0];
  return typeof d0 === 'string' || d0 === null;
}

/**
 * The target with a batch of 1 fixed in every shape (its observer too): for gradients whose
 * rules need static shapes (Resize), at the price of attacking one sample at a time.
 */
export function withStaticBatch(target: AttackTarget): AttackTarget {
  const fix = (model: Model): Model => {
    const m = cloneModel(model);
    const input = m.graph.inputs.find((v) => v.name === target.input)!;
    input.type = tensorType(input.dtype ?? DataType.FLOAT, [1, ...target.inputDims]);
    inferShapes(m, { inputShapes: { [target.input]: [1, ...target.inputDims] } });
    return m;
  };
  return { ...target, model: fix(target.model), ...(target.observer ? { observer: fix(target.observer) } : {}) };
}
