// `splitc grad`: write a model's gradient graph (forward + backward in one ONNX file) so it
// can be inspected (Netron) and run by any onnxruntime.

import { isFloatDtype, dtypeName } from '../ir/dtype.js';
import { SplitcError } from '../ir/errors.js';
import type { Dim, Model, Value } from '../ir/graph.js';
import { loadModel, saveModel } from '../ir/serde/io.js';
import { assertValid } from '../ir/verify.js';
import { trainableParameters } from '../passes/autodiff/index.js';
import { autodiffPass, lossPass } from '../passes/autodiff/pass.js';
import { foldBatchNormPass } from '../passes/fold-batchnorm.js';
import { parseLossSpec } from '../passes/autodiff/losses.js';
import { CHECKED_RUN, formatListOption, PassManager } from '../passes/pass.js';
import { shapeInferPassOf } from '../passes/shape/index.js';
import { bytes } from './format.js';

export interface GradOptions {
  model: string;
  /** 'inputs', 'params', or value names (may be mixed: ['inputs', 'conv1.weight']). */
  wrt: string[];
  loss: string;
  shapes: Record<string, Dim[]>;
  out: string;
  /** Make the chosen weights plain graph inputs (to be fed), instead of keeping their stored values. */
  feedParams?: boolean;
}

export interface GradTensorInfo {
  name: string;
  dtype: string;
  shape: Dim[] | null;
}

export interface GradReport {
  output: string;
  bytes: number;
  loss: string;
  opset: { from: number; to: number };
  /** Inputs the loss added (targets, labels). */
  extraInputs: GradTensorInfo[];
  /** Gradient outputs, `grad:<value>`. */
  gradients: GradTensorInfo[];
  /** Chosen values that do not reach the loss (their gradient is zero). */
  unreachable: string[];
  nodes: { forward: number; total: number };
  /** BatchNormalizations folded into the Convs before them (gradients w.r.t. inputs only). */
  foldedBatchNorms: number;
  /** Running statistics (BatchNorm mean/variance) `params` left out and --wrt did not name. */
  excludedStatistics: number;
}

function info(v: Value): GradTensorInfo {
  return { name: v.name, dtype: v.dtype !== undefined ? dtypeName(v.dtype).toLowerCase() : '?', shape: v.shape ? [...v.shape] : null };
}

/**
 * Expand `inputs` / `params` and comma lists into value names. `params` are the trainable
 * parameters: running statistics are left out (`excludedStatistics`) unless named.
 */
export function resolveWrt(model: Model, wrt: string[]): { names: string[]; excludedStatistics: string[] } {
  const names: string[] = [];
  let statistics: string[] = [];
  const add = (n: string): void => {
    if (!names.includes(n)) names.push(n);
  };
  for (const item of wrt.flatMap((w) => w.split(',')).map((w) => w.trim()).filter(Boolean)) {
    if (item === 'inputs') {
      const inits = model.graph.initializers;
      for (const v of model.graph.inputs) if (!inits.has(v.name) && (v.dtype === undefined || isFloatDtype(v.dtype))) add(v.name);
    } else if (item === 'params') {
      const t = trainableParameters(model);
      for (const n of t.params) add(n);
      statistics = t.statistics;
    } else {
      add(item);
    }
  }
  if (names.length === 0) throw new SplitcError('E_BAD_ARGUMENT', `--wrt ${wrt.join(',')} names no floating-point value`, { hint: 'use inputs, params, or value names' });
  return { names, excludedStatistics: statistics.filter((n) => !names.includes(n)) };
}

export function runGrad(opts: GradOptions): GradReport {
  const model = loadModel(opts.model);
  assertValid(model);
  const forwardNodes = model.graph.nodes.length;
  const terms = parseLossSpec(opts.loss);
  const { names: wrt, excludedStatistics } = resolveWrt(model, opts.wrt);
  const params = terms.some((t) => t.kind === 'l2' && !t.target) ? trainableParameters(model).params : [];
  // With respect to inputs alone, Conv → BatchNorm pairs fold into the Conv first (the same
  // function; the gradient graph loses a per-channel multiply per pair) — unless the loss
  // reads BatchNorm statistics, parameters, or a value that folding would replace.
  const g = model.graph;
  const inputNames = new Set(g.inputs.filter((v) => !v.isInitializer()).map((v) => v.name));
  const kept = new Set([...inputNames, ...g.outputs.map((v) => v.name)]);
  const fold =
    wrt.every((n) => inputNames.has(n)) &&
    params.length === 0 &&
    terms.every((t) => t.kind !== 'bn-prior' && (t.target === undefined || kept.has(t.target)));
  const folding = foldBatchNormPass();
  const loss = lossPass({ spec: opts.loss, ...(params.length ? { params: formatListOption(params) } : {}) });
  const diff = autodiffPass({ wrt, inputShapes: opts.shapes, ...(opts.feedParams ? { feedParams: true } : {}) });
  const graded = new PassManager([...(fold ? [folding] : []), shapeInferPassOf(opts.shapes), loss, diff], CHECKED_RUN).run(model).model;
  const built = loss.built!;
  const result = diff.result!;
  const foldedBatchNorms = folding.folded;
  const saved = saveModel(graded, opts.out);
  return {
    output: opts.out,
    bytes: saved.modelBytes,
    loss: built.loss.name,
    opset: result.opset,
    extraInputs: built.extraInputs.map(info),
    gradients: [...result.grads.values()].map(info),
    unreachable: result.unreachable,
    nodes: { forward: forwardNodes, total: graded.graph.nodes.length },
    foldedBatchNorms,
    excludedStatistics: excludedStatistics.length,
  };
}

export function formatGrad(r: GradReport): string {
  const dims = (s: Dim[] | null): string => (s ? `[${s.map((d) => d ?? '?').join(',')}]` : '[?]');
  const lines = [
    `wrote ${r.output} (${bytes(r.bytes)}): ${r.nodes.forward} forward nodes → ${r.nodes.total} with the gradient`,
    `loss output: ${r.loss}${r.opset.to !== r.opset.from ? `; opset raised ${r.opset.from} → ${r.opset.to}` : ''}`,
  ];
  if (r.excludedStatistics) lines.push(`params: left out ${r.excludedStatistics} BatchNorm running statistic(s) (not trained by gradients; name one in --wrt to include it)`);
  if (r.foldedBatchNorms) lines.push(`folded ${r.foldedBatchNorms} BatchNormalization node(s) into the Convs before them (gradients w.r.t. inputs only)`);
  if (r.extraInputs.length) lines.push(`extra inputs: ${r.extraInputs.map((i) => `${i.name} ${i.dtype}${dims(i.shape)}`).join(', ')}`);
  lines.push(`gradients (${r.gradients.length}):`);
  const shown = r.gradients.slice(0, 20);
  for (const g of shown) lines.push(`  ${g.name} ${g.dtype}${dims(g.shape)}`);
  if (r.gradients.length > shown.length) lines.push(`  … and ${r.gradients.length - shown.length} more (--json lists all)`);
  if (r.unreachable.length) lines.push(`warning: ${r.unreachable.length} value(s) do not reach the loss; their gradient is zero: ${r.unreachable.slice(0, 5).join(', ')}${r.unreachable.length > 5 ? ', …' : ''}`);
  return lines.join('\n');
}

