// Where Conv, ConvTranspose and the pools read: their window geometry (auto_pad, ceil_mode,
// output_shape) resolved from static spatial shapes with onnxruntime's arithmetic, and the two
// transposed-window ops (a ConvTranspose for a window sum, a Conv for a ConvTranspose) that
// their adjoints share.

import type { AttrInput } from '../../../ir/builder.js';
import type { Value } from '../../../ir/graph.js';
import type { OutInfo } from '../builder.js';
import type { GradContext } from '../rule.js';
import { range, SHAPE_HINT } from './util.js';

/** Where a window op reads: everything the adjoints need, per spatial axis. */
export interface Geometry {
  inSp: number[];
  outSp: number[];
  kernel: number[];
  strides: number[];
  dilations: number[];
  /** Padding before each axis (window o starts at o·stride − head). */
  head: number[];
  /** Padding after each axis as onnxruntime applies it (may be negative after SAME arithmetic). */
  tail: number[];
}

export const extent = (g: Geometry, i: number): number => (g.kernel[i]! - 1) * g.dilations[i]! + 1;

/** The spatial dims of `v` (rank ≥ 3), which must be static. */
export function staticSpatial(c: GradContext, v: Value): number[] {
  const s = v.shape;
  if (!s) throw c.fail(`the gradient needs the rank of '${v.name}', which is unknown`, SHAPE_HINT);
  if (s.length < 3) throw c.fail(`'${v.name}' has rank ${s.length}; a window op needs rank ≥ 3`);
  const sp = s.slice(2);
  if (!sp.every((d): d is number => typeof d === 'number' && d >= 0)) {
    throw c.fail(`the gradient needs the static spatial shape of '${v.name}', which is [${s.map((d) => d ?? '?').join(',')}]`, SHAPE_HINT);
  }
  return sp;
}

export function staticDim(c: GradContext, v: Value, axis: number): number {
  const d = v.shape?.[axis];
  if (typeof d !== 'number' || d < 0) throw c.fail(`the gradient needs dim ${axis} of '${v.name}' to be static`, SHAPE_HINT);
  return d;
}

function intsAttr(c: GradContext, name: string, length: number, fill: number): number[] {
  const v = c.node.attrInts(name) ?? new Array<number>(length).fill(fill);
  if (v.length !== length) throw c.fail(`${name} has ${v.length} entries, expected ${length}`);
  return v;
}

/** Kernel size from kernel_shape, else from the weights' static spatial dims. */
export function convKernel(c: GradContext, w: Value, nsp: number): number[] {
  const k = c.node.attrInts('kernel_shape');
  if (k) {
    if (k.length !== nsp) throw c.fail(`kernel_shape has ${k.length} entries for ${nsp} spatial axes`);
    return k;
  }
  return staticSpatial(c, w);
}

/** Head and tail pads of a SAME window: onnxruntime puts the odd pad after (SAME_UPPER) or before (SAME_LOWER). */
function samePads(autoPad: string, needed: number): [number, number] {
  const head = autoPad === 'SAME_UPPER' ? Math.trunc(needed / 2) : Math.trunc((needed + 1) / 2);
  return [head, needed - head];
}

/**
 * Windows of Conv (kind 'conv') and of the pools (kind 'pool') as onnxruntime computes
 * them: SAME pads reach ceil(in/stride) outputs, sized with the dilated kernel for Conv
 * and the undilated one for pools; with ceil_mode (pools) the last window must start
 * inside the input or its head pad.
 */
export function windowGeometry(c: GradContext, kind: 'conv' | 'pool', inSp: number[], kernel: number[]): Geometry {
  const n = inSp.length;
  const strides = intsAttr(c, 'strides', n, 1);
  const dilations = intsAttr(c, 'dilations', n, 1);
  const pads = intsAttr(c, 'pads', 2 * n, 0);
  const autoPad = c.node.attrString('auto_pad', 'NOTSET');
  const ceil = kind === 'pool' && c.node.attrInt('ceil_mode', 0) !== 0;
  const g: Geometry = { inSp, outSp: [], kernel, strides, dilations, head: [], tail: [] };
  for (let i = 0; i < n; i++) {
    const ext = extent(g, i);
    const s = strides[i]!;
    let head = pads[i]!;
    let tail = pads[i + n]!;
    if (autoPad === 'VALID') head = tail = 0;
    else if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
      [head, tail] = samePads(autoPad, (Math.ceil(inSp[i]! / s) - 1) * s + (kind === 'conv' ? ext : kernel[i]!) - inSp[i]!);
    } else if (autoPad !== 'NOTSET') throw c.fail(`unknown auto_pad '${autoPad}'`);
    const span = inSp[i]! + head + tail - ext;
    if (span < 0) throw c.fail(`the window (${ext}) is larger than the padded input (${inSp[i]! + head + tail}) on spatial axis ${i}`);
    let out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
    if (ceil && (out - 1) * s >= inSp[i]! + head) out--;
    g.head.push(head);
    g.tail.push(tail);
    g.outSp.push(out);
  }
  return g;
}

/**
 * ConvTranspose windows as onnxruntime computes them. Output o of input i receives taps
 * at o = i·stride + j·dilation − head; the full result is cropped by head and tail, or
 * sized by output_shape (the crop split evenly, the odd element at the start unless
 * SAME_UPPER), or by SAME (min(in·stride, full), same split rule).
 */
export function convTransposeGeometry(c: GradContext, inSp: number[], kernel: number[]): Geometry {
  const n = inSp.length;
  const strides = intsAttr(c, 'strides', n, 1);
  const dilations = intsAttr(c, 'dilations', n, 1);
  const pads = intsAttr(c, 'pads', 2 * n, 0);
  const outputPadding = intsAttr(c, 'output_padding', n, 0);
  const outputShape = c.node.attrInts('output_shape');
  const autoPad = c.node.attrString('auto_pad', 'NOTSET');
  if (outputShape && outputShape.length !== n && outputShape.length !== n + 2) throw c.fail(`output_shape has ${outputShape.length} entries for ${n} spatial axes`);
  const g: Geometry = { inSp, outSp: [], kernel, strides, dilations, head: [], tail: [] };
  for (let i = 0; i < n; i++) {
    const full = (inSp[i]! - 1) * strides[i]! + extent(g, i) + outputPadding[i]!;
    const split = (total: number): number => (autoPad === 'SAME_UPPER' ? Math.floor(total / 2) : total - Math.floor(total / 2));
    let head: number;
    let out: number;
    if (outputShape) {
      out = outputShape[outputShape.length - n + i]!;
      head = split(Math.max(0, full - out));
    } else if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
      const total = Math.max(0, full - inSp[i]! * strides[i]!);
      head = split(total);
      out = full - total;
    } else if (autoPad === 'VALID') {
      head = 0;
      out = full;
    } else if (autoPad === 'NOTSET') {
      head = pads[i]!;
      out = full - pads[i]! - pads[i + n]!;
    } else throw c.fail(`unknown auto_pad '${autoPad}'`);
    if (out <= 0) throw c.fail(`output size ${out} on spatial axis ${i} is not positive`);
    g.head.push(head);
    g.tail.push(full - head - out);
    g.outSp.push(out);
  }
  return g;
}

/**
 * The adjoint of a strided window sum read from an input of size g.inSp: ConvTranspose of
 * `dy` (spatial g.outSp) with `w`, cropped by the head pad and trimmed or zero-extended at
 * the end to exactly g.inSp (output_padding where onnxruntime accepts it, else a Pad).
 */
export function transposedWindow(c: GradContext, dy: Value, w: Value, g: Geometry, group: number, out: OutInfo): Value {
  const n = g.inSp.length;
  const tailCrop: number[] = [];
  const outputPadding: number[] = [];
  const extra: number[] = [];
  for (let i = 0; i < n; i++) {
    const full = (g.outSp[i]! - 1) * g.strides[i]! + extent(g, i);
    const crop = Math.max(0, full - g.head[i]! - g.inSp[i]!);
    const missing = g.inSp[i]! - (full - g.head[i]! - crop);
    tailCrop.push(crop);
    // onnxruntime checks that a Conv over the result would give back dy's size: output_padding < stride.
    const fits = missing < g.strides[i]!;
    outputPadding.push(fits ? missing : 0);
    extra.push(fits ? 0 : missing);
  }
  const attrs: Record<string, AttrInput> = { kernel_shape: g.kernel, strides: g.strides, dilations: g.dilations, pads: [...g.head, ...tailCrop], group };
  if (outputPadding.some((p) => p > 0)) attrs.output_padding = outputPadding;
  const needsPad = extra.some((p) => p > 0);
  const t = c.b.op('ConvTranspose', [dy, w], attrs, needsPad ? { dtype: out.dtype } : out);
  return needsPad ? c.b.pad(t, [...new Array<number>(n + 2).fill(0), 0, 0, ...extra], out) : t;
}

/**
 * The adjoint of a ConvTranspose with geometry g (input g.inSp, output g.outSp): a Conv of
 * `dy` with the same weights, padded by head before and as much as needed after, sliced
 * to g.inSp.
 */
export function windowConv(c: GradContext, dy: Value, w: Value, g: Geometry, group: number, out: OutInfo): Value {
  const n = g.inSp.length;
  const after: number[] = [];
  const got: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = g.strides[i]!;
    const pad = Math.max(0, (g.inSp[i]! - 1) * s + extent(g, i) - g.head[i]! - g.outSp[i]!);
    after.push(pad);
    got.push(Math.floor((g.outSp[i]! + g.head[i]! + pad - extent(g, i)) / s) + 1);
  }
  const attrs = { kernel_shape: g.kernel, strides: g.strides, dilations: g.dilations, pads: [...g.head, ...after], group };
  const trim = got.some((d, i) => d !== g.inSp[i]);
  const r = c.b.op('Conv', [dy, w], attrs, trim ? { dtype: out.dtype } : out);
  return trim ? c.b.slice(r, new Array<number>(n).fill(0), g.inSp, range(2, n + 2), undefined, out) : r;
}