// The weight gradient of Conv and ConvTranspose: a correlation of the input with dY, by im2col
// (Convs with constant one-hot kernels, full or separable along a stride-1 axis) and one
// MatMul per group summed over the batch; for small batched layers and huge im2cols, one
// grouped Conv with batch and channels swapped.

import { DataType } from '../../../ir/dtype.js';
import type { Value } from '../../../ir/graph.js';
import { type TypedArray, typedArrayCtor } from '../../../ir/tensor.js';
import type { OutInfo } from '../builder.js';
import type { GradContext } from '../rule.js';
import { range, arrayConstant } from './util.js';
import { type Geometry, extent } from './window-geometry.js';

/**
 * Σ over batch and positions of a correlation, as one grouped Conv: for `a` [N, A, *aSp]
 * (read at o·stride + j·dilation − head) and `bv` [N, B, *bSp], the result [B, A/group, *k]
 * holds R[b, a', j] = Σ_{n,o} bv[n, b, o] · a[n, group(b)·A/group + a', o·stride + j·dilation − head].
 * This is the weight gradient of Conv (a = X, bv = dY) and of ConvTranspose (a = dY, bv = X).
 * The batch becomes the channel axis (group-major, so one grouped Conv serves every group),
 * `bv` the weights, and stride and dilation swap roles. The A/group channels become an extra
 * leading spatial axis of a batch-1 Conv (1–2 spatial axes: onnxruntime then runs one large
 * GEMM per group, 1–2× the forward Conv's time) or, for 3 spatial axes, the batch (one
 * skinny GEMM per channel: 3–5× slower on ResNet shapes, but no 4-D convolution).
 */
export function weightCorrelation(c: GradContext, a: Value, aSp: number[], bv: Value, bSp: number[], g: Geometry, group: number, perGroup: number, out: OutInfo): Value {
  const b = c.b;
  const n = g.kernel.length;
  const sp = range(2, n + 2);
  const dtype = out.dtype;
  // With one channel per group (depthwise) both layouts are batch 1: skip the extra axis.
  const channelsAsAxis = n <= 2 && (group === 1 ? a.shape?.[1] : perGroup) !== 1;
  // bt: [B, N, (1,) *bSp]
  const bt = b.transpose(bv, [1, 0, ...sp], { dtype });
  const weights = channelsAsAxis ? b.unsqueeze(bt, [2], { dtype }) : bt;
  // ag: [1, group·N, A/group, *aSp] or [A/group, group·N, *aSp]
  let ag: Value;
  if (group === 1) ag = channelsAsAxis ? b.unsqueeze(a, [0], { dtype }) : b.transpose(a, [1, 0, ...sp], { dtype });
  else {
    const split = b.reshape(a, b.ints([0, group, perGroup, ...aSp]), { dtype });
    const moved = b.transpose(split, channelsAsAxis ? [1, 0, 2, ...sp.map((i) => i + 1)] : [2, 1, 0, ...sp.map((i) => i + 1)], { dtype });
    ag = b.reshape(moved, b.ints(channelsAsAxis ? [1, -1, perGroup, ...aSp] : [perGroup, -1, ...aSp]), { dtype });
  }
  const after: number[] = [];
  const got: number[] = [];
  for (let i = 0; i < n; i++) {
    const reach = (bSp[i]! - 1) * g.strides[i]! + 1;
    const pad = Math.max(0, (g.kernel[i]! - 1) * g.dilations[i]! + reach - aSp[i]! - g.head[i]!);
    after.push(pad);
    got.push(Math.floor((aSp[i]! + g.head[i]! + pad - reach) / g.dilations[i]!) + 1);
  }
  const trim = got.some((d, i) => d !== g.kernel[i]);
  if (channelsAsAxis) {
    const attrs = { kernel_shape: [1, ...bSp], strides: [1, ...g.dilations], dilations: [1, ...g.strides], pads: [0, ...g.head, 0, ...after], group };
    let r = b.op('Conv', [ag, weights], attrs, { dtype });
    if (trim) r = b.slice(r, new Array<number>(n).fill(0), g.kernel, sp.map((i) => i + 1), undefined, { dtype });
    return b.squeeze(r, [0], out);
  }
  let r = b.op('Conv', [ag, weights], { kernel_shape: bSp, strides: g.dilations, dilations: g.strides, pads: [...g.head, ...after], group }, { dtype });
  if (trim) r = b.slice(r, new Array<number>(n).fill(0), g.kernel, sp, undefined, { dtype });
  return b.transpose(r, [1, 0, ...sp], out);
}

/**
 * A channel-wise Conv of `v` ([N, ch, *sp]) with a constant one-hot kernel: output channel
 * i·T + t holds input channel i read at tap t of `kernel` (T taps; tap T−1−t when
 * `flipped`), with the given strides, dilations and pads. The kernel is shared per builder.
 */
function oneHotConv(c: GradContext, v: Value, ch: number, kernel: number[], attrs: { strides: number[]; dilations: number[]; pads: number[] }, flipped: boolean, dtype: DataType): Value {
  const b = c.b;
  const kt = kernel.reduce((p, x) => p * x, 1);
  const onehot = b.memo(`onehot|${dtype}|${ch}|${kernel.join('x')}|${flipped}`, () => {
    const data = new (typedArrayCtor(dtype)!)(ch * kt * kt) as TypedArray;
    for (let r = 0; r < ch * kt; r++) data[r * kt + (flipped ? kt - 1 - (r % kt) : r % kt)] = 1;
    return arrayConstant(b, dtype, [ch * kt, 1, ...kernel], data, 'im2col_kernel');
  });
  return b.op('Conv', [v, onehot], { kernel_shape: kernel, ...attrs, group: ch }, { dtype });
}

/** `v` cut to `len` on the spatial axes where it is longer. */
function trimSpatial(c: GradContext, v: Value, sp: number[], len: number[], dtype: DataType): Value {
  const axes = range(0, sp.length).filter((i) => len[i]! < sp[i]!);
  if (!axes.length) return v;
  return c.b.slice(v, axes.map(() => 0), axes.map((i) => len[i]!), axes.map((i) => i + 2), undefined, { dtype });
}

/**
 * Σ over the batch of per-group products lhs·rhsᵀ, for lhs [N, G·ml, …] and rhs [N, G·mr, …]
 * whose trailing dims hold `len` elements: a [1, G, ml, mr] tensor (or [ml, mr] with one
 * group and batch 1, from a Gemm, which onnxruntime runs 1.5× faster than the MatMul).
 */
function batchProduct(c: GradContext, lhs: Value, rhs: Value, group: number, ml: number, mr: number, len: number, batch: number | null, dtype: DataType): Value {
  const b = c.b;
  if (group === 1 && batch === 1) {
    const flat = (v: Value): Value => b.op('Flatten', [v], { axis: 2 }, { dtype });
    return b.op('Gemm', [flat(lhs), flat(rhs)], { transB: 1 }, { dtype, shape: [ml, mr] });
  }
  const l = b.reshape(lhs, b.ints([0, group, ml, len]), { dtype });
  const r = b.reshape(rhs, b.ints([0, group, mr, len]), { dtype });
  const prod = b.op('MatMul', [l, b.transpose(r, [0, 1, 3, 2], { dtype })], {}, { dtype });
  return batch === 1 ? prod : b.reduceSum(prod, [0], true, { dtype });
}

/**
 * The correlation of `weightCorrelation` (same contract) by im2col and MatMul, as
 * onnxruntime runs a MatMul with the forward's shapes far better than the swapped Conv
 * (whose GEMM per output has a K-row im2col: 2–3× faster on ResNet layers, 3–10× on
 * depthwise ones). Two forms:
 * - full: `a`'s windows [N, A·K, *bSp] (K taps; a channel-wise Conv with a constant one-hot
 *   kernel, or for 1×1 kernels without head pad the input, subsampled), times `bv` per group;
 * - separable, along a stride-1 axis h: `a`'s windows on the other axes only, every row of
 *   the padded input along h ([N, A·K/k_h, rows, …]), times `bv` shifted by each tap of h
 *   ([N, B·k_h, rows, …]; one-hot Conv again). It writes (A·K/k_h + B·k_h)·rows instead of
 *   A·K·out_h per position, taken when that is ≤ the tuning's separableMaxRatio of it
 *   (5×5 depthwise 3–4×, ResNet's first stage 1.3× faster).
 * With a batch, the products per image are summed. Null (use the swapped Conv) for
 * non-float types, a negative head pad, unknown channel counts, a huge im2col, or with a
 * batch and few output positions (≲ 5×5), where the swapped Conv is as fast.
 */
export function im2colCorrelation(c: GradContext, a: Value, aSp: number[], bv: Value, bSp: number[], g: Geometry, group: number, out: OutInfo): Value | null {
  const b = c.b;
  const n = g.kernel.length;
  const dtype = out.dtype ?? a.dtype;
  if (dtype !== DataType.FLOAT && dtype !== DataType.DOUBLE) return null;
  const ch = a.shape?.[1];
  const bch = bv.shape?.[1];
  if (typeof ch !== 'number' || typeof bch !== 'number' || ch % group !== 0 || bch % group !== 0) return null;
  if (g.head.some((h) => h < 0)) return null;
  const batch = typeof a.shape?.[0] === 'number' ? (a.shape[0] as number) : null;
  const kt = g.kernel.reduce((p, v) => p * v, 1);
  const positions = bSp.reduce((p, v) => p * v, 1);
  const t = c.b.tuning.conv;
  if (t.force === 'fallback' || (batch ?? 1) * ch * kt * positions > t.im2colMaxElements) return null;
  if (t.force !== 'fast' && batch !== 1 && positions < t.im2colMinPositions) return null;
  const ag = ch / group;
  const bg = bch / group;
  // The pad after each axis that makes exactly bSp windows; a negative one leaves input unread.
  const after = range(0, n).map((i) => (bSp[i]! - 1) * g.strides[i]! + extent(g, i) - aSp[i]! - g.head[i]!);

  // The separable form along the cheapest stride-1 axis with more than one tap. Its product
  // comes out as [B, k_h, ag, *rest] or [ag, *rest, B, k_h] per group: in the weights' order
  // for h first and one channel per group in a, or h last and one in bv; else a Transpose,
  // which onnxruntime runs slowly block by block (~1 µs per block; 0.8 ms for 480 5×5
  // blocks): taken with one group only, when its elements are few against the savings.
  const fullCost = ch * kt * positions;
  let sep: { h: number; rows: number; cost: number; order: 'bFirst' | 'aFirst' | 'transpose' } | null = null;
  for (let h = 0; h < n; h++) {
    if (g.strides[h] !== 1 || g.kernel[h]! < 2) continue;
    const kh = g.kernel[h]!;
    const rows = bSp[h]! + (kh - 1) * g.dilations[h]!;
    const cost = (ch * (kt / kh) + bch * kh) * rows * (positions / bSp[h]!);
    const order = ag === 1 && h === 0 ? 'bFirst' : bg === 1 && h === n - 1 ? 'aFirst' : 'transpose';
    if (order === 'transpose' && t.separableMaxRatio !== Infinity && (group > 1 || 16 * bch * ag * kt > (batch ?? 1) * (fullCost - cost))) continue;
    if (cost <= t.separableMaxRatio * fullCost && (!sep || cost < sep.cost)) sep = { h, rows, cost, order };
  }
  if (sep) {
    const { h, rows, order } = sep;
    const kh = g.kernel[h]!;
    const rest = g.kernel.filter((_, i) => i !== h);
    const ktRest = kt / kh;
    const len = rows * (positions / bSp[h]!);
    // a's windows on the other axes, every padded row along h
    const aAfter = after.map((p, i) => (i === h ? rows - aSp[h]! - g.head[h]! : p));
    const aSrc = trimSpatial(c, a, aSp, aSp.map((d, i) => d + Math.min(0, aAfter[i]!)), dtype);
    const aCols = oneHotConv(
      c,
      aSrc,
      ch,
      g.kernel.map((k, i) => (i === h ? 1 : k)),
      { strides: g.strides, dilations: g.dilations.map((d, i) => (i === h ? 1 : d)), pads: [...g.head, ...aAfter.map((p) => Math.max(0, p))] },
      false,
      dtype,
    );
    // bv shifted down by each tap of h: channel j·k_h + s holds bv[j] at row r − s·dilation
    const reach = (kh - 1) * g.dilations[h]!;
    const bShift = oneHotConv(
      c,
      bv,
      bch,
      g.kernel.map((k, i) => (i === h ? k : 1)),
      { strides: new Array<number>(n).fill(1), dilations: g.dilations.map((d, i) => (i === h ? d : 1)), pads: [...range(0, n).map((i) => (i === h ? reach : 0)), ...range(0, n).map((i) => (i === h ? reach : 0))] },
      true,
      dtype,
    );
    // [N, G, bg·k_h, L] · [N, G, L, ag·K/k_h] → [G, bg·k_h, ag·K/k_h] (or the other order)
    const summed = order === 'aFirst' ? batchProduct(c, aCols, bShift, group, ag * ktRest, bg * kh, len, batch, dtype) : batchProduct(c, bShift, aCols, group, bg * kh, ag * ktRest, len, batch, dtype);
    if (order !== 'transpose') return b.reshape(summed, b.ints([bch, ag, ...g.kernel]), out);
    // [B, k_h, ag, *rest] → [B, ag, *kernel]
    const split = b.reshape(summed, b.ints([bch, kh, ag, ...rest]), { dtype });
    return b.transpose(split, [0, 2, ...range(0, n).map((i) => (i === h ? 1 : i < h ? i + 3 : i + 2))], out);
  }

  let cols: Value;
  if (kt === 1 && g.head.every((h) => h === 0) && after.every((p) => p <= 0)) {
    // 1×1 windows inside the input: the input itself, strided (a 1×1 AveragePool, exact and
    // 2× faster than a strided Slice in onnxruntime) and trimmed.
    const strided = g.strides.some((s) => s > 1);
    const pooled = strided ? b.op('AveragePool', [a], { kernel_shape: g.kernel, strides: g.strides }, { dtype }) : a;
    const pooledSp = aSp.map((d, i) => Math.floor((d - 1) / g.strides[i]!) + 1);
    cols = trimSpatial(c, pooled, pooledSp, bSp, dtype);
  } else {
    const src = trimSpatial(c, a, aSp, aSp.map((d, i) => d + Math.min(0, after[i]!)), dtype);
    cols = oneHotConv(c, src, ch, g.kernel, { strides: g.strides, dilations: g.dilations, pads: [...g.head, ...after.map((p) => Math.max(0, p))] }, false, dtype);
  }
  if (batch === 1 || (group > 1 && bg > 1)) {
    // bv [N, G, bg, P] · colsᵀ [N, G, P, ag·K] → [G, bg, ag·K], the weights' order
    return b.reshape(batchProduct(c, bv, cols, group, bg, ag * kt, positions, batch, dtype), b.ints([bch, ag, ...g.kernel]), out);
  }
  // cols [N, G, ag·K, P] · bvᵀ [N, G, P, bg] → [G, ag·K, bg]: faster than the other order with a batch; the
  // transpose at the end is one block with one group.
  const summed = batchProduct(c, cols, bv, group, ag * kt, bg, positions, batch, dtype);
  const moved = bg === 1 ? summed : b.transpose(summed, [0, 1, 3, 2], { dtype });
  return b.reshape(moved, b.ints([bch, ag, ...g.kernel]), out);
}