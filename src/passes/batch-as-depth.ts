// batch-as-depth: a Conv whose weights are computed at run time (graph inputs — a trainer's
// parameters — or values of the graph, such as flipped weights in a gradient graph) and
// whose output has few positions becomes one Conv over the batch as an extra depth axis:
//
//   X [N, C, *sp] → Transpose [C, N, *sp] → Unsqueeze [1, C, N, *sp]
//   → Conv with W [M, C, 1, *k] (kernel, strides, dilations and pads with a leading 1 / 0)
//   → [1, M, N, *out] → Squeeze → Transpose → Y [N, M, *out]
//
// The function is the same (a depth kernel of 1 never mixes images). Why: onnxruntime runs a
// Conv with non-constant weights as one im2col + GEMM per image, and with few output positions
// (a 7×7 map at the end of a ResNet) each GEMM is too narrow to use the cores; over the batch
// as depth it is one GEMM with N times the columns. In the Fashion-MNIST ResNet's training
// step (batch 64, 2 threads) the forward of its last stage's three Convs (7×7 outputs) takes
// 5.7 → 3.3 ms (onnxruntime's profiler), the whole forward 18.1 → 14.6 ms (`npx tsx
// bench/autodiff.ts` with and without --no-batch-as-depth; docs/benchmarks.md). With the
// 14×14 ones (196 positions) rewritten too, the step got slower (56.5 → 59.3 ms in a scratch
// A/B), hence the threshold.
// Constant weights are left alone (onnxruntime prepacks them into faster kernels), as are
// grouped Convs, auto_pad other than NOTSET/VALID, and more than two spatial axes.
//
// The gradient pass builds its own data gradients this way (see convDataGrad); this pass is
// for forward Convs, and the trainer runs it over its training graph.

import { constantOf } from '../ir/constants.js';
import { DataType } from '../ir/dtype.js';
import type { Model, Node, Value } from '../ir/graph.js';
import { Emitter, type OutInfo, staticShape } from './emit.js';
import { registerPass, type Pass, type PassContext, type PassResult } from './pass.js';

/** Fewer output positions than this (per image) make a run-time-weight Conv go over the batch as depth. */
export const BATCH_AS_DEPTH_MAX_POSITIONS = 64;

/** Geometry of a Conv over n ≤ 2 spatial axes; pads as [begin…, end…]. */
export interface DepthConvGeometry {
  kernel: number[];
  strides: number[];
  dilations: number[];
  pads: number[];
}

/**
 * Conv(x, w[, bias]) with group 1 as one Conv over the batch as a depth axis (see the file
 * comment), built with `b`. x is [N, C, *sp], w [M, C, *k]; the result is [N, M, *out].
 */
export function convOverBatchAsDepth(b: Emitter, x: Value, w: Value, bias: Value | null, g: DepthConvGeometry, out: OutInfo): Value {
  const n = g.kernel.length;
  const sp = Array.from({ length: n }, (_, i) => i + 2);
  const dtype = out.dtype ?? x.dtype ?? DataType.FLOAT;
  const deep = b.unsqueeze(b.transpose(x, [1, 0, ...sp], { dtype }), [0], { dtype });
  const attrs = {
    kernel_shape: [1, ...g.kernel],
    strides: [1, ...g.strides],
    dilations: [1, ...g.dilations],
    pads: [0, ...g.pads.slice(0, n), 0, ...g.pads.slice(n)],
  };
  const r = b.op('Conv', [deep, b.unsqueeze(w, [2], { dtype }), ...(bias ? [bias] : [])], attrs, { dtype });
  return b.transpose(b.squeeze(r, [0], { dtype }), [1, 0, ...sp], out);
}

/** The geometry and output positions of a Conv this pass rewrites, or null. */
function candidate(node: Node, maxPositions: number): { geometry: DepthConvGeometry; positions: number } | null {
  if (node.opType !== 'Conv' || (node.domain !== '' && node.domain !== 'ai.onnx')) return null;
  const [x, w] = node.inputs;
  if (!x || !w || constantOf(w) !== null) return null;
  if ((node.attrInt('group', 1) ?? 1) !== 1) return null;
  const autoPad = node.attrString('auto_pad', 'NOTSET');
  if (autoPad !== 'NOTSET' && autoPad !== 'VALID') return null;
  const xs = x.shape;
  const ws = staticShape(w);
  if (!xs || !ws || ws.length !== xs.length || xs.length < 3 || xs.length > 4) return null;
  const n = xs.length - 2;
  const inSp = xs.slice(2);
  if (!inSp.every((d): d is number => typeof d === 'number')) return null;
  const kernel = node.attrInts('kernel_shape') ?? ws.slice(2);
  const strides = node.attrInts('strides') ?? new Array<number>(n).fill(1);
  const dilations = node.attrInts('dilations') ?? new Array<number>(n).fill(1);
  const pads = autoPad === 'VALID' ? new Array<number>(2 * n).fill(0) : node.attrInts('pads') ?? new Array<number>(2 * n).fill(0);
  if (kernel.length !== n || strides.length !== n || dilations.length !== n || pads.length !== 2 * n) return null;
  const outSp = inSp.map((d, i) => Math.floor((d + pads[i]! + pads[i + n]! - ((kernel[i]! - 1) * dilations[i]! + 1)) / strides[i]!) + 1);
  if (outSp.some((d) => d < 1)) return null;
  const positions = outSp.reduce((p, d) => p * d, 1);
  if (positions >= maxPositions) return null;
  return { geometry: { kernel, strides, dilations, pads }, positions };
}

/** Rewrites every candidate Conv in place; `rewritten` counts them. */
export function batchAsDepth(model: Model, opts: { maxPositions?: number } = {}, ctx?: PassContext): PassResult & { rewritten: number } {
  const g = model.graph;
  const maxPositions = opts.maxPositions ?? BATCH_AS_DEPTH_MAX_POSITIONS;
  const todo = [...g.nodes].map((node) => ({ node, c: candidate(node, maxPositions) })).filter((t) => t.c !== null);
  if (!todo.length) return { model, modified: false, rewritten: 0 };
  const b = Emitter.forModel(model);
  for (const { node, c } of todo) {
    const [x, w, bias] = node.inputs as [Value, Value, Value | null | undefined];
    const y = node.outputs[0]!;
    b.scope = node.name || y.name;
    const y2 = convOverBatchAsDepth(b, x, w, bias ?? null, c!.geometry, { dtype: y.dtype, shape: y.shape ? [...y.shape] : null });
    b.hoist([y2], node);
    const name = y.name;
    y.replaceAllUsesWith(y2);
    g.removeNode(node, false);
    y.name = '';
    y2.name = name;
  }
  ctx?.info('I_BATCH_AS_DEPTH', `${todo.length} Conv${todo.length === 1 ? '' : 's'} with run-time weights and < ${maxPositions} output positions now run over the batch as a depth axis`);
  return { model, modified: true, rewritten: todo.length };
}

export const batchAsDepthPass = (options: Record<string, string> = {}): Pass => ({
  name: 'batch-as-depth',
  options,
  inPlace: true,
  run: (model, ctx) => batchAsDepth(model, options['max-positions'] !== undefined ? { maxPositions: Number(options['max-positions']) } : {}, ctx),
});

registerPass('batch-as-depth', batchAsDepthPass);
