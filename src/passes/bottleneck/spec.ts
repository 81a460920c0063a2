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
export type CompressStage = PcaStage | Fp16Stage | QuantStage;

/** Stages applied in order on the edge and undone in reverse order on the cloud. `[]` = none. */
export interface CompressSpec {
  stages: CompressStage[];
}

export const NO_COMPRESSION: CompressSpec = { stages: [] };

const GRAMMAR_HINT =
  "write 'none', 'fp16', 'int8', 'int4:channel', 'int8:percentile=99.99', 'pca=16', 'pca=16+int4' " +
  '(stages joined by +: an optional pca=K first, then at most one of fp16/int8/int4/int2; options after ":")';

function bad(message: string, hint = GRAMMAR_HINT): SplitcError {
  return new SplitcError('E_BAD_ARGUMENT', `compression spec: ${message}`, { hint });
}

function parseAxis(v: string, where: string): number {
  if (!/^-?\d+$/.test(v)) throw bad(`axis '${v}' in '${where}' is not an integer`, 'axis=1 for NCHW channels, axis=-1 for the last axis');
  return Number(v);
}

function parseStage(text: string): CompressStage {
  const [head = '', ...opts] = text.split(':').map((s) => s.trim());
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

/** Parse `none`, `fp16`, `int8`, `int4:channel`, `int8:percentile=99.99`, `pca=16+int4`, … */
export function parseCompressSpec(text: string): CompressSpec {
  const t = text.trim();
  if (t === '' || t === 'none') return { stages: [] };
  const stages = t.split('+').map((s) => parseStage(s.trim()));
  // pca first (at most once), then at most one element-wise coder (fp16 / intN), last.
  const pcas = stages.filter((s) => s.kind === 'pca');
  const coders = stages.filter((s) => s.kind !== 'pca');
  if (stages.some((s, i) => i > 0 && s.kind === 'pca') || pcas.length > 1) throw bad(`'${t}': pca must come first and only once`);
  if (coders.length > 1) throw bad(`'${t}' has ${coders.length} element coders; use at most one of fp16, int8, int4, int2`);
  const pca = pcas[0];
  const coder = coders[0];
  if (pca && coder?.kind === 'quant' && coder.axis !== undefined && pca.axis !== undefined && coder.axis !== pca.axis) {
    throw bad(`'${t}': the quantizer's axis=${coder.axis} differs from the pca axis=${pca.axis}`, 'after pca the channel axis is the pca axis; drop one of the axis= options');
  }
  return { stages };
}

function formatStage(s: CompressStage): string {
  switch (s.kind) {
    case 'fp16':
      return 'fp16';
    case 'pca':
      return `pca=${s.k}${s.axis !== undefined ? `:axis=${s.axis}` : ''}`;
    case 'quant': {
      let out = `int${s.bits}`;
      if (s.granularity && s.axis === undefined) out += `:${s.granularity}`;
      if (s.axis !== undefined) out += `:channel:axis=${s.axis}`;
      if (s.range.kind === 'percentile') out += `:percentile=${s.range.percentile}`;
      return out;
    }
  }
}

/** The canonical text of a spec; `parseCompressSpec(formatCompressSpec(s))` gives `s` back. */
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
  for (const s of spec.stages) if ((s.kind === 'pca' || s.kind === 'quant') && s.axis !== undefined) return normalizeAxis(s.axis, rank) ?? -1;
  return defaultChannelAxis(rank);
}

/** Whether the spec needs the channel covariance (pca) and statistics of the projected tensor (pca then intN). */
export function specNeeds(spec: CompressSpec): { covariance: boolean; projectedStats: boolean } {
  const pca = spec.stages[0]?.kind === 'pca';
  return { covariance: pca, projectedStats: pca && spec.stages.some((s) => s.kind === 'quant') };
}
