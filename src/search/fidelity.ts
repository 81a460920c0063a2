// Fidelity of a compressed split: run the original model and edge → wire → cloud on the
// calibration samples and on held-back ones, and compare the final outputs (max/mean
// absolute error, cosine similarity, top-1 agreement for outputs that are class scores), next
// to the exact bytes per sample on the wire. The report is plain JSON for the manifest.

import type * as ort from 'onnxruntime-node';
import { constantOf, constantPredicate } from '../ir/constants.js';
import { byteSizeOf, isFloatDtype } from '../ir/dtype.js';
import type { Model, Node, Value } from '../ir/graph.js';
import { formatBytes } from '../ir/units.js';
import { type CompressedSplit, wireBytesPerSample, type WireTensor } from '../passes/bottleneck/compress.js';
import type { CalibSample } from './calib-data.js';
import { createSession, floatData, runSession, type SessionOptions, toOrtFeeds } from './calibrate.js';

export interface OutputFidelity {
  name: string;
  maxAbsErr: number;
  meanAbsErr: number;
  /** Mean over samples of the cosine similarity of the flattened outputs. */
  cosine: number;
  minCosine: number;
  /** Fraction of rows (argmax over the last axis) where compressed and original agree; null when not classifier-like. */
  top1Agreement: number | null;
  /** Rows compared for top-1 (samples × rows per sample). */
  top1Rows: number;
  /** With labelled samples and one row per sample: accuracy of the original and of the compressed split. */
  accuracy?: { original: number; compressed: number; labelled: number };
}

export interface SetFidelity {
  samples: number;
  outputs: OutputFidelity[];
}

export interface FidelityReport {
  spec: string;
  cutTensors: string[];
  wire: {
    tensors: WireTensor[];
    /** Exact bytes per sample on the wire (null with symbolic dims). */
    bytesPerSample: number | null;
    /** The uncompressed cut tensors in their own dtypes. */
    rawCutBytesPerSample: number | null;
    /** The cut tensors as float32 (4 bytes per element). */
    float32CutBytesPerSample: number | null;
    /** The model inputs the edge reads, in their dtypes. */
    rawInputBytesPerSample: number | null;
    /** float32 cut bytes / wire bytes. */
    compressionRatio: number | null;
  };
  calibration: SetFidelity;
  heldOut: SetFidelity;
}

export interface FidelityOptions extends SessionOptions {
  /** Outputs to score top-1 on; default: the model's class scores (`classifierOutputs`). */
  top1Outputs?: string[];
  /** Called after each sample: done of total (calibration + held-back samples), ending at total. */
  onProgress?: (p: { done: number; total: number }) => void;
}

/** Ops that move class scores without changing them: the last axis stays the class axis if its size does. */
const PASS_THROUGH: ReadonlySet<string> = new Set(['Identity', 'Reshape', 'Transpose', 'Flatten', 'Squeeze', 'Unsqueeze']);

const isStandard = (n: Node): boolean => n.domain === '' || n.domain === 'ai.onnx';

/**
 * The outputs of `model` that are class scores, where top-1 agreement (argmax over the last
 * axis) means something: a Softmax / LogSoftmax over the classes, or a classifier head's logits
 * — rank 2 `[N, C]`, C ≥ 2, from an affine layer with a bias (Gemm with C, or MatMul + Add of a
 * constant) — possibly through Identity, Reshape, Transpose, Flatten, (Un)Squeeze that keep the
 * classes on the last axis. Everything else (box coordinates, probability maps, embeddings,
 * reconstructions) gets errors and cosine only. A bias-free MatMul is not taken for a head:
 * that is how projections are exported (embeddings, attention, a decoder tied to its encoder's
 * weight like fixtures/exporters/torch_tied_op13.onnx), while classifier heads carry a bias;
 * name such an output in `top1Outputs` to score it anyway. Uses the shapes the model has
 * (run shape inference first); where the class axis cannot be followed, no top-1.
 */
export function classifierOutputs(model: Model): string[] {
  const isConst = constantPredicate();
  const out: string[] = [];
  for (const v of model.graph.outputs) {
    if (v.dtype !== undefined && !isFloatDtype(v.dtype)) continue;
    // Back through the ops that only move the scores around.
    let src = v;
    let moved = false;
    for (let p = src.producer(); p && isStandard(p) && PASS_THROUGH.has(p.opType) && p.inputs[0]; p = src.producer()) {
      if (p.opType !== 'Identity') moved = true;
      src = p.inputs[0];
    }
    const p = src.producer();
    if (!p || !isStandard(p)) continue;
    const head = scoreHead(p, model.opset, isConst);
    if (!head) continue;
    const last = lastDim(v);
    const rank = v.shape?.length ?? (moved ? undefined : head.rank);
    if (head.logits && rank !== 2) continue;
    // the output's last axis must be the class axis: the same size, or, unknown, not moved
    const classes = head.classes ?? (moved ? undefined : last);
    if (typeof last === 'number' && typeof classes === 'number' ? last === classes && classes >= 2 : !moved && head.onLastAxis && (classes === undefined || classes >= 2)) out.push(v.name);
  }
  return out;
}

interface ScoreHead {
  /** Size of the class axis, when known. */
  classes: number | undefined;
  /** Whether the classes are the producer's last axis. */
  onLastAxis: boolean;
  /** Rank of the producer's output, when known. */
  rank: number | undefined;
  /** Logits of an affine layer (need rank 2), not a normalization over an axis. */
  logits: boolean;
}

function lastDim(v: Value): number | undefined {
  const d = v.shape?.[v.shape.length - 1];
  return typeof d === 'number' ? d : undefined;
}

/** What `p` says about its output as class scores, or null when it does not make class scores. */
function scoreHead(p: Node, opset: number, isConst: (v: Value) => boolean): ScoreHead | null {
  const y = p.outputs[0]!;
  const rank = y.shape?.length ?? p.inputs[0]?.shape?.length;
  if (p.opType === 'Softmax' || p.opType === 'LogSoftmax') {
    // Before opset 13 the input is taken as 2-D, [prod(dims[:axis]), prod(dims[axis:])].
    const axisAttr = p.attrInt('axis', opset < 13 ? 1 : -1);
    if (rank === undefined) return axisAttr === -1 ? { classes: undefined, onLastAxis: true, rank, logits: false } : null;
    const axis = axisAttr < 0 ? axisAttr + rank : axisAttr;
    const dims = y.shape ?? p.inputs[0]!.shape!;
    const span = opset < 13 ? dims.slice(axis) : dims.slice(axis, axis + 1);
    const classes = span.every((d): d is number => typeof d === 'number') ? span.reduce((a, b) => a * b, 1) : undefined;
    return { classes, onLastAxis: axis === rank - 1, rank, logits: false };
  }
  const affine = (mm: Node): ScoreHead | null => {
    const w = constantOf(mm.inputs[1]);
    const wDims = w?.dims ?? mm.inputs[1]?.shape;
    const cols = mm.opType === 'Gemm' ? wDims?.[mm.attrInt('transB', 0) ? 0 : 1] : wDims?.[wDims.length - 1];
    return { classes: lastDim(y) ?? (typeof cols === 'number' ? cols : undefined), onLastAxis: true, rank: mm.opType === 'Gemm' ? 2 : rank, logits: true };
  };
  if (p.opType === 'Gemm') return p.inputs[2] ? affine(p) : null;
  if (p.opType === 'Add') {
    const [a, b] = p.inputs;
    const mm = [a, b].map((x) => x?.producer()).find((n, i) => n && isStandard(n) && n.opType === 'MatMul' && isConst([b, a][i]!));
    return mm ? affine(mm) : null;
  }
  return null;
}

/** Running fidelity of one output: errors, cosine, and top-1 agreement where it holds class scores. */
export class OutputAccumulator {
  maxAbsErr = 0;
  sumAbsErr = 0;
  elements = 0;
  cosSum = 0;
  minCos = 1;
  samples = 0;
  agree = 0;
  rows = 0;
  labelled = 0;
  rightOriginal = 0;
  rightCompressed = 0;
  constructor(
    readonly name: string,
    readonly top1: boolean,
  ) {}

  add(ref: ort.Tensor, got: ort.Tensor, label: number | undefined): void {
    const a = floatData(ref);
    const b = floatData(got);
    let dot = 0;
    let na = 0;
    let nb = 0;
    for (let i = 0; i < a.length; i++) {
      const x = a[i]!;
      const y = b[i]!;
      const e = Math.abs(x - y);
      if (e > this.maxAbsErr || Number.isNaN(e)) this.maxAbsErr = Number.isNaN(e) ? Infinity : e;
      this.sumAbsErr += e;
      dot += x * y;
      na += x * x;
      nb += y * y;
    }
    this.elements += a.length;
    const cos = na === 0 && nb === 0 ? 1 : na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
    this.cosSum += cos;
    this.minCos = Math.min(this.minCos, cos);
    this.samples++;
    if (!this.top1) return;
    const last = ref.dims[ref.dims.length - 1]!;
    const rows = a.length / last;
    for (let r = 0; r < rows; r++) {
      const ia = argmax(a, r * last, last);
      const ib = argmax(b, r * last, last);
      if (ia === ib) this.agree++;
      this.rows++;
      if (rows === 1 && label !== undefined) {
        this.labelled++;
        if (ia === label) this.rightOriginal++;
        if (ib === label) this.rightCompressed++;
      }
    }
  }

  result(): OutputFidelity {
    return {
      name: this.name,
      maxAbsErr: this.maxAbsErr,
      meanAbsErr: this.elements ? this.sumAbsErr / this.elements : 0,
      cosine: this.samples ? this.cosSum / this.samples : 1,
      minCosine: this.samples ? this.minCos : 1,
      top1Agreement: this.top1 && this.rows ? this.agree / this.rows : null,
      top1Rows: this.rows,
      ...(this.labelled ? { accuracy: { original: this.rightOriginal / this.labelled, compressed: this.rightCompressed / this.labelled, labelled: this.labelled } } : {}),
    };
  }
}

function argmax(a: ArrayLike<number>, start: number, n: number): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (a[start + i]! > a[start + best]!) best = i;
  return best;
}

function sum(xs: (number | null)[]): number | null {
  let t = 0;
  for (const x of xs) {
    if (x === null) return null;
    t += x;
  }
  return t;
}

/** Run original and compressed split on both sample sets and compare every original output. */
export async function measureFidelity(
  original: Model,
  compressed: CompressedSplit,
  sets: { calibration: readonly CalibSample[]; heldOut: readonly CalibSample[] },
  opts: FidelityOptions = {},
): Promise<FidelityReport> {
  const [whole, edge, cloud] = await Promise.all([createSession(original, opts), createSession(compressed.edge, opts), createSession(compressed.cloud, opts)]);
  const outputNames = original.graph.outputs.map((v) => v.name);
  const progress = { done: 0, total: sets.calibration.length + sets.heldOut.length };
  try {
    const classScores = new Set(opts.top1Outputs ?? classifierOutputs(original));
    const measure = async (samples: readonly CalibSample[]): Promise<SetFidelity> => {
      const accs = new Map<string, OutputAccumulator>();
      for (const s of samples) {
        const feeds = toOrtFeeds(s.load());
        const ref = await runSession(whole, feeds);
        const e = await runSession(edge, feeds);
        const c = await runSession(cloud, e);
        const got = { ...e, ...c };
        for (const name of outputNames) {
          const r = ref[name]!;
          let acc = accs.get(name);
          if (!acc) {
            const top1 = classScores.has(name) && (opts.top1Outputs !== undefined || r.type.startsWith('float'));
            acc = new OutputAccumulator(name, top1);
            accs.set(name, acc);
          }
          acc.add(r, got[name]!, s.label);
        }
        progress.done++;
        opts.onProgress?.({ ...progress });
      }
      return { samples: samples.length, outputs: outputNames.filter((n) => accs.has(n)).map((n) => accs.get(n)!.result()) };
    };
    const calibration = await measure(sets.calibration);
    const heldOut = await measure(sets.heldOut);

    const wireBytes = wireBytesPerSample(compressed.wire);
    const rawCut = sum(compressed.wire.map((w) => w.rawBytesPerSample));
    const edgeValues = new Map(compressed.split.edge.graph.outputs.map((v) => [v.name, v]));
    const f32Cut = sum(
      compressed.split.cutTensors.map((n) => {
        const s = edgeValues.get(n)?.shape;
        return s && s.every((d) => typeof d === 'number') ? 4 * (s as number[]).reduce((a, b) => a * b, 1) : null;
      }),
    );
    const rawInput = sum(
      compressed.split.edge.graph.inputs.map((v) => {
        const t = v.tensorType;
        return t?.shape && t.shape.every((d) => typeof d === 'number') ? byteSizeOf(t.dtype, (t.shape as number[]).reduce((a, b) => a * b, 1)) : null;
      }),
    );
    return {
      spec: compressed.spec,
      cutTensors: [...compressed.split.cutTensors],
      wire: {
        tensors: compressed.wire,
        bytesPerSample: wireBytes,
        rawCutBytesPerSample: rawCut,
        float32CutBytesPerSample: f32Cut,
        rawInputBytesPerSample: rawInput,
        compressionRatio: wireBytes && f32Cut !== null ? f32Cut / wireBytes : null,
      },
      calibration,
      heldOut,
    };
  } finally {
    await Promise.all([whole.release(), edge.release(), cloud.release()]);
  }
}

function fmt(x: number): string {
  if (x === 0) return '0';
  if (!Number.isFinite(x)) return String(x);
  return Math.abs(x) >= 0.01 && Math.abs(x) < 1e4 ? x.toFixed(4) : x.toExponential(2);
}
const pct = (x: number): string => `${(x * 100).toFixed(x === 1 ? 0 : 2)}%`;

const size = (n: number | null): string => (n === null ? '?' : formatBytes(n));

/** A few lines for a terminal. */
export function formatFidelity(r: FidelityReport): string {
  const w = r.wire;
  const lines = [
    `compression ${r.spec} at [${r.cutTensors.join(', ')}]: ${size(w.bytesPerSample)} per sample on the wire` +
      ` (float32 cut ${size(w.float32CutBytesPerSample)}${w.compressionRatio ? `, ${w.compressionRatio.toFixed(1)}× smaller` : ''}; raw input ${size(w.rawInputBytesPerSample)})`,
  ];
  for (const [label, set] of [
    ['calibration', r.calibration],
    ['held-back', r.heldOut],
  ] as const) {
    for (const o of set.outputs) {
      let line = `  ${label} (${set.samples}) ${o.name}: max|Δ| ${fmt(o.maxAbsErr)}, mean|Δ| ${fmt(o.meanAbsErr)}, cosine ${o.cosine.toFixed(6)}`;
      if (o.top1Agreement !== null) line += `, top-1 agreement ${pct(o.top1Agreement)} of ${o.top1Rows}`;
      if (o.accuracy) line += `, accuracy ${pct(o.accuracy.original)} → ${pct(o.accuracy.compressed)}`;
      lines.push(line);
    }
  }
  return lines.join('\n');
}
