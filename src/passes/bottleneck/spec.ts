// The compression spec: what happens to each cut tensor between the edge and the cloud,
// written as text (`pca=16+int4:channel`) so the CLI, manifests and search share one form.

import { SplitcError } from '../../ir/errors.js';

export type QuantBits = 8 | 4 | 2;
export const QUANT_BITS: readonly QuantBits[] = [8, 4, 2];

/** How the quantization range is chosen from calibration statistics. */
export type RangeMode = { kind: 'minmax' } | { kind: 'percentile'; percentile: number };

export interface PcaStage {
  kind: 'pca';
  /** Channels kept. */
  k: number;
  /** Channel axis; undefined = default for the tensor's rank (see defaultChannelAxis). */
  axis?: number;
}
/**
 * A learned bottleneck: a reduce module on the edge to K channels (a 1×1 convolution, or with
 * stride 2 a 3×3 convolution that also halves each spatial dim) and a recover module on the
 * cloud, initialised from the pca=K solution and trained outside the spec (see learned.ts).
 */
export interface LearnedStage {
  kind: 'learned';
  k: number;
  /** 1 (default) or 2 (`/s2`: NCHW only). */
  stride: 1 | 2;
  axis?: number;
}
export interface Fp16Stage {
  kind: 'fp16';
}
export interface QuantStage {
  kind: 'quant';
  bits: QuantBits;
  /** undefined = default: per-tensor, or per-channel right after `pca` (each component has its own range). */
  granularity?: 'tensor' | 'channel';
  /** Channel axis for per-channel ranges; undefined = default for the rank (or the pca axis). */
  axis?: number;
  range: RangeMode;
}
/**
 * A defence against inversion: Gaussian noise added on the edge, its standard deviation
 * `sigma` × the calibrated standard deviation of the cut tensor (per channel, or of the
 * whole tensor with `:tensor`).
 */
export interface NoiseStage {
  kind: 'noise';
  /** Relative to the calibrated std (> 0). */
  sigma: number;
  /** undefined = per channel along the statistics' channel axis (see specChannelAxis). */
  granularity?: 'tensor' | 'channel';
}
/** A defence: each channel of each sample zeroed with probability `p`, the rest scaled by 1/(1−p). */
export interface DropoutStage {
  kind: 'dropout';
  p: number;
}
export type DefenceStage = NoiseStage | DropoutStage;
export type CompressStage = DefenceStage | PcaStage | LearnedStage | Fp16Stage | QuantStage;

/** The channel-reducing stages (pca, learned): at most one, after the defences, before the coder. */
export const isReducer = (s: CompressStage): s is PcaStage | LearnedStage => s.kind === 'pca' || s.kind === 'learned';

export const isDefence = (s: CompressStage): s is DefenceStage => s.kind === 'noise' || s.kind === 'dropout';

/** Stages applied in order on the edge and undone in reverse order on the cloud. `[]` = none. */
export interface CompressSpec {
  stages: CompressStage[];
  /**
   * Seeds the defences' random ops (noise: seed + 2·i, dropout: seed + 2·i + 1 for the i-th
   * cut tensor) so that tests and measurements are reproducible. Not part of the text form:
   * a shipped edge graph is never seeded (a fixed seed would let anyone who has the model
   * replay the noise), so only code sets it.
   */
  seed?: number;
}

export const NO_COMPRESSION: CompressSpec = { stages: [] };

const GRAMMAR_HINT =
  "write 'none', 'fp16', 'int8', 'int4:channel', 'int8:percentile=99.99', 'pca=16', 'pca=16+int4', 'noise=0.5+int8', 'dropout=0.25+pca=8+int4', 'learned=8+int4', 'learned=8/s2+int4' " +
  '(stages joined by +: optional defences noise=S and dropout=P first, then an optional pca=K or learned=K[/s2], then at most one of fp16/int8/int4/int2; options after ":")';

function bad(message: string, hint = GRAMMAR_HINT): SplitcError {
  return new SplitcError('E_BAD_ARGUMENT', `compression spec: ${message}`, { hint });
}

function parseAxis(v: string, where: string): number {
  if (!/^-?\d+$/.test(v)) throw bad(`axis '${v}' in '${where}' is not an integer`, 'axis=1 for NCHW channels, axis=-1 for the last axis');
  return Number(v);
}

/** An unsigned decimal number, exponent allowed (how JS prints small ones back): the defences' parameters. */
function parseDecimal(v: string): number | undefined {
  return /^(\d+(\.\d*)?|\.\d+)(e[-+]?\d+)?$/i.test(v) ? Number(v) : undefined;
}

function parseStage(text: string): CompressStage {
  const [head = '', ...opts] = text.split(':').map((s) => s.trim());
  const noise = /^noise=(.*)$/.exec(head);
  if (noise) {
    const sigma = parseDecimal(noise[1]!);
    if (sigma === undefined || !(sigma > 0) || !Number.isFinite(sigma)) {
      throw bad(`noise needs a positive standard deviation, got '${head}'`, "e.g. 'noise=0.5' adds Gaussian noise of 0.5 × the calibrated standard deviation of each channel");
    }
    const stage: NoiseStage = { kind: 'noise', sigma };
    for (const o of opts) {
      if (o !== 'tensor' && o !== 'channel') throw bad(`unknown noise option '${o}'`, "noise takes 'tensor' (one std for the whole tensor) or 'channel' (the default)");
      if (stage.granularity && stage.granularity !== o) throw bad(`'${text}' asks for both per-tensor and per-channel noise`);
      stage.granularity = o;
    }
    return stage;
  }
  const dropout = /^dropout=(.*)$/.exec(head);
  if (dropout) {
    const p = parseDecimal(dropout[1]!);
    if (p === undefined || !(p > 0 && p < 1)) throw bad(`dropout needs a probability strictly between 0 and 1, got '${head}'`, "e.g. 'dropout=0.25' zeroes each channel with probability 0.25");
    if (opts.length) throw bad(`'dropout' takes no options (got '${opts.join(':')}')`);
    return { kind: 'dropout', p };
  }
  if (head === 'fp16' || head === 'float16') {
    if (opts.length) throw bad(`'fp16' takes no options (got '${opts.join(':')}')`);
    return { kind: 'fp16' };
  }
  const pca = /^pca=(.*)$/.exec(head);
  if (pca) {
    const kText = pca[1]!;
    if (!/^\d+$/.test(kText) || Number(kText) < 1) throw bad(`pca needs a positive channel count, got 'pca=${kText}'`, "e.g. 'pca=16' keeps 16 principal components");
    const stage: PcaStage = { kind: 'pca', k: Number(kText) };
    for (const o of opts) {
      const m = /^axis=(.*)$/.exec(o);
      if (!m) throw bad(`unknown pca option '${o}'`, "pca takes only 'axis=N' (the channel axis)");
      stage.axis = parseAxis(m[1]!, text);
    }
    return stage;
  }
  const learned = /^learned=(.*)$/.exec(head);
  if (learned) {
    const m = /^(\d+)(\/s(\d+))?$/.exec(learned[1]!);
    if (!m || Number(m[1]) < 1) throw bad(`learned needs a positive channel count, optionally /s2, got '${head}'`, "e.g. 'learned=8' (a 1×1 reduce to 8 channels) or 'learned=8/s2' (3×3 stride 2: also halves height and width)");
    if (m[3] !== undefined && m[3] !== '2') throw bad(`learned supports stride 2 only, got '/s${m[3]}'`, "write 'learned=K/s2' or 'learned=K'");
    const stage: LearnedStage = { kind: 'learned', k: Number(m[1]), stride: m[3] === '2' ? 2 : 1 };
    for (const o of opts) {
      const a = /^axis=(.*)$/.exec(o);
      if (!a) throw bad(`unknown learned option '${o}'`, "learned takes only 'axis=N' (the channel axis)");
      stage.axis = parseAxis(a[1]!, text);
    }
    return stage;
  }
  const q = /^int(\d+)$/.exec(head);
  if (q) {
    const bits = Number(q[1]);
    if (!QUANT_BITS.includes(bits as QuantBits)) {
      throw bad(`'${head}' is not supported`, 'quantization widths are int8, int4 and int2 (codes packed 1, 2 or 4 per byte)');
    }
    const stage: QuantStage = { kind: 'quant', bits: bits as QuantBits, range: { kind: 'minmax' } };
    for (const o of opts) {
      if (o === 'channel' || o === 'tensor') {
        if (stage.granularity && stage.granularity !== o) throw bad(`'${text}' asks for both per-tensor and per-channel ranges`);
        stage.granularity = o;
      } else if (o === 'minmax') {
        stage.range = { kind: 'minmax' };
      } else if (o.startsWith('percentile=')) {
        const v = o.slice('percentile='.length);
        const p = Number(v);
        if (!/^\d+(\.\d+)?$/.test(v) || !(p > 50 && p <= 100)) {
          throw bad(`percentile '${v}' must be a number in (50, 100]`, "e.g. 'int8:percentile=99.99' clips the 0.01% most extreme values on each side");
        }
        stage.range = p === 100 ? { kind: 'minmax' } : { kind: 'percentile', percentile: p };
      } else if (o.startsWith('axis=')) {
        stage.axis = parseAxis(o.slice('axis='.length), text);
      } else {
        throw bad(`unknown option '${o}' in '${text}'`, "int options: 'tensor', 'channel', 'axis=N', 'minmax', 'percentile=P'");
      }
    }
    if (stage.axis !== undefined && stage.granularity === 'tensor') throw bad(`'${text}': axis= only applies to per-channel ranges`, "add ':channel' or drop 'axis='");
    if (stage.axis !== undefined) stage.granularity = 'channel';
    return stage;
  }
  if (head === '') throw bad('empty stage');
  throw bad(`unknown stage '${head}'`);
}

/** Parse `none`, `fp16`, `int8`, `int4:channel`, `int8:percentile=99.99`, `pca=16+int4`, `noise=0.5+int8`, … */
export function parseCompressSpec(text: string): CompressSpec {
  const t = text.trim();
  if (t === '' || t === 'none') return { stages: [] };
  const all = t.split('+').map((s) => parseStage(s.trim()));
  // defences first (each at most once), then pca (at most once), then at most one element-wise coder (fp16 / intN), last.
  const defences = all.filter(isDefence);
  if (all.some((s, i) => isDefence(s) && i >= defences.length)) throw bad(`'${t}': defences (noise=, dropout=) must come before pca and the coders`, "e.g. 'noise=0.5+int8', 'dropout=0.25+pca=8+int4'");
  for (const kind of ['noise', 'dropout'] as const) {
    if (defences.filter((s) => s.kind === kind).length > 1) throw bad(`'${t}' has more than one ${kind} stage`, `use at most one ${kind}= stage`);
  }
  const stages = all.slice(defences.length);
  const pcas = stages.filter(isReducer);
  const coders = stages.filter((s) => !isReducer(s));
  if (pcas.length > 1 && new Set(pcas.map((s) => s.kind)).size > 1) throw bad(`'${t}': pca and learned are exclusive`, 'use one channel reduction: pca=K (training-free) or learned=K (trained)');
  if (stages.some((s, i) => i > 0 && isReducer(s)) || pcas.length > 1) throw bad(`'${t}': ${pcas[0]!.kind} must come first (after any defences) and only once`);
  if (coders.length > 1) throw bad(`'${t}' has ${coders.length} element coders; use at most one of fp16, int8, int4, int2`);
  const pca = pcas[0];
  const coder = coders[0];
  if (pca && coder?.kind === 'quant' && coder.axis !== undefined && pca.axis !== undefined && coder.axis !== pca.axis) {
    throw bad(`'${t}': the quantizer's axis=${coder.axis} differs from the ${pca.kind} axis=${pca.axis}`, `after ${pca.kind} the channel axis is its axis; drop one of the axis= options`);
  }
  return { stages: all };
}

function formatStage(s: CompressStage): string {
  switch (s.kind) {
    case 'noise':
      return `noise=${s.sigma}${s.granularity ? `:${s.granularity}` : ''}`;
    case 'dropout':
      return `dropout=${s.p}`;
    case 'fp16':
      return 'fp16';
    case 'pca':
      return `pca=${s.k}${s.axis !== undefined ? `:axis=${s.axis}` : ''}`;
    case 'learned':
      return `learned=${s.k}${s.stride === 2 ? '/s2' : ''}${s.axis !== undefined ? `:axis=${s.axis}` : ''}`;
    case 'quant': {
      let out = `int${s.bits}`;
      if (s.granularity && s.axis === undefined) out += `:${s.granularity}`;
      if (s.axis !== undefined) out += `:channel:axis=${s.axis}`;
      if (s.range.kind === 'percentile') out += `:percentile=${s.range.percentile}`;
      return out;
    }
  }
}

/** The canonical text of a spec; `parseCompressSpec(formatCompressSpec(s))` gives `s` back (but for `seed`, which has no text form). */
export function formatCompressSpec(spec: CompressSpec): string {
  return spec.stages.length ? spec.stages.map(formatStage).join('+') : 'none';
}

/** The default channel axis for a tensor of this rank: 1 (NCHW / NCL) for rank 4 and above, else the last axis. */
export function defaultChannelAxis(rank: number): number {
  return rank >= 4 ? 1 : Math.max(0, rank - 1);
}

/** Normalize a possibly negative axis; undefined when out of range. */
export function normalizeAxis(axis: number, rank: number): number | undefined {
  const a = axis < 0 ? axis + rank : axis;
  return a >= 0 && a < rank ? a : undefined;
}

/** The channel axis the spec asks for on a tensor of this rank (pca's, else the quantizer's, else the default). */
export function specChannelAxis(spec: CompressSpec, rank: number): number {
  for (const s of spec.stages) if ((isReducer(s) || s.kind === 'quant') && s.axis !== undefined) return normalizeAxis(s.axis, rank) ?? -1;
  return defaultChannelAxis(rank);
}

/**
 * Whether the spec needs the channel covariance (pca, learned: its initialisation is pca's) and
 * statistics of the reduced tensor (pca or learned, then intN).
 */
export function specNeeds(spec: CompressSpec): { covariance: boolean; projectedStats: boolean } {
  const first = spec.stages.find((s) => !isDefence(s));
  const pca = first !== undefined && isReducer(first);
  return { covariance: pca, projectedStats: pca && spec.stages.some((s) => s.kind === 'quant') };
}
