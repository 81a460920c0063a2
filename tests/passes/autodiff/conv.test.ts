// Gradient rules for Conv and ConvTranspose, checked against central finite differences
// through onnxruntime (float32; tolerances in window-helpers.ts) on hand-picked and seeded
// random window geometries, in every formulation the tuning selects; and a small residual
// network through Conv, MaxPool and GlobalAveragePool.

import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import type { Model } from '../../../src/ir/graph.js';
import { modelToBytes } from '../../../src/ir/serde/io.js';
import { differentiate } from '../../../src/passes/autodiff/index.js';
import { describeFailures, type GradCheckCase, gradCheck, differentiateError } from './gradcheck.js';
import { type Attrs, expectGrad, LINEAR, mixedRandom, numel, PIECEWISE } from './window-helpers.js';

// ---------------------------------------------------------------- Conv / ConvTranspose

interface ConvSpec {
  x: number[];
  w: number[];
  bias?: boolean;
  attrs: Attrs;
  opset?: number;
}

function convCase(op: 'Conv' | 'ConvTranspose', s: ConvSpec): GradCheckCase {
  const group = typeof s.attrs.group === 'number' ? s.attrs.group : 1;
  const biasLen = op === 'Conv' ? s.w[0]! : s.w[1]! * group;
  return {
    build(b, dt) {
      const inputs = [b.input('x', dt, s.x), b.input('w', dt, s.w)];
      if (s.bias) inputs.push(b.input('b', dt, [biasLen]));
      return b.op(op, inputs, s.attrs);
    },
    inputs: { x: { dims: s.x }, w: { dims: s.w }, ...(s.bias ? { b: { dims: [biasLen] } } : {}) },
    ...LINEAR,
    ...(s.opset ? { opset: s.opset } : {}),
  };
}

const label = (s: ConvSpec): string => `x[${s.x}] w[${s.w}]${s.bias ? ' +b' : ''} ${JSON.stringify(s.attrs)}${s.opset ? ` opset ${s.opset}` : ''}`;

const CONV_CASES: ConvSpec[] = [
  // strides, asymmetric pads, dilations, bias
  { x: [2, 3, 7, 6], w: [4, 3, 3, 3], bias: true, attrs: { strides: [2, 1], pads: [1, 0, 2, 1], dilations: [1, 2] } },
  // stride 3 leaving a remainder on both axes (dX needs output_padding)
  { x: [1, 2, 8, 9], w: [3, 2, 2, 3], bias: true, attrs: { strides: [3, 2], pads: [0, 1, 1, 0] } },
  // two groups with two input channels each
  { x: [2, 4, 6, 5], w: [6, 2, 3, 2], bias: true, attrs: { group: 2, strides: [2, 2], pads: [1, 1, 0, 1] } },
  // depthwise
  { x: [2, 3, 7, 7], w: [3, 1, 3, 3], bias: true, attrs: { group: 3, strides: [2, 2], pads: [1, 1, 1, 1] } },
  // depthwise with a channel multiplier, dilated
  { x: [1, 2, 7, 6], w: [4, 1, 3, 2], attrs: { group: 2, dilations: [2, 2], pads: [2, 0, 1, 1] } },
  // three groups, stride 3, dilation 2, kernel_shape given
  { x: [1, 6, 9, 8], w: [3, 2, 2, 2], bias: true, attrs: { group: 3, kernel_shape: [2, 2], strides: [3, 2], dilations: [2, 1], pads: [0, 2, 1, 0] } },
  // auto_pad
  { x: [2, 2, 7, 6], w: [3, 2, 3, 2], bias: true, attrs: { auto_pad: 'SAME_UPPER', strides: [2, 2] } },
  { x: [1, 2, 7, 5], w: [2, 2, 2, 3], attrs: { auto_pad: 'SAME_LOWER', strides: [2, 3] } },
  { x: [1, 3, 8, 7], w: [2, 3, 3, 3], bias: true, attrs: { auto_pad: 'VALID', strides: [3, 2], dilations: [2, 1] } },
  { x: [2, 2, 9], w: [3, 2, 4], attrs: { auto_pad: 'SAME_UPPER', strides: [2] } },
  // 1D and 3D
  { x: [2, 3, 11], w: [2, 3, 4], bias: true, attrs: { strides: [3], dilations: [2], pads: [2, 1] } },
  { x: [1, 2, 5, 4, 6], w: [2, 2, 2, 3, 2], bias: true, attrs: { strides: [2, 1, 2], dilations: [1, 2, 1], pads: [1, 0, 0, 0, 1, 1] } },
  { x: [1, 4, 4, 5, 3], w: [4, 1, 3, 2, 2], attrs: { group: 4, strides: [1, 2, 1], pads: [1, 1, 0, 1, 0, 1] } },
  // the model's own opset at the minimum
  { x: [1, 2, 6, 6], w: [2, 1, 3, 3], bias: true, attrs: { group: 2, strides: [2, 2], pads: [1, 1, 1, 1] }, opset: 13 },
];

const CONV_TRANSPOSE_CASES: ConvSpec[] = [
  { x: [2, 3, 4, 3], w: [3, 2, 3, 3], bias: true, attrs: { strides: [2, 1], pads: [1, 0, 0, 1] } },
  { x: [1, 2, 3, 4], w: [2, 3, 3, 2], bias: true, attrs: { strides: [3, 2], output_padding: [2, 1], dilations: [1, 2], pads: [0, 1, 2, 0] } },
  // groups: 4 input channels in 2 groups, 2 outputs per group; depthwise
  { x: [2, 4, 3, 3], w: [4, 2, 2, 3], bias: true, attrs: { group: 2, strides: [2, 2], pads: [1, 0, 0, 1] } },
  { x: [1, 3, 4, 4], w: [3, 1, 3, 3], attrs: { group: 3, strides: [2, 2], dilations: [2, 1], output_padding: [1, 1] } },
  // output_shape decides the crop (odd totals: the split side depends on auto_pad)
  { x: [1, 2, 3, 3], w: [2, 2, 3, 3], bias: true, attrs: { strides: [2, 2], output_shape: [6, 8] } },
  { x: [1, 2, 3, 3], w: [2, 2, 3, 2], attrs: { strides: [2, 2], output_shape: [6, 5], auto_pad: 'SAME_UPPER' } },
  { x: [1, 2, 3, 3], w: [2, 2, 3, 2], attrs: { strides: [2, 3], auto_pad: 'SAME_LOWER' } },
  { x: [1, 2, 3, 4], w: [2, 1, 2, 3], attrs: { strides: [3, 2], auto_pad: 'SAME_UPPER', dilations: [2, 1] } },
  { x: [1, 2, 3], w: [2, 2, 3], bias: true, attrs: { strides: [2], auto_pad: 'VALID', output_padding: [1] } },
  // 1D and 3D
  { x: [2, 3, 5], w: [3, 2, 3], bias: true, attrs: { strides: [3], dilations: [2], pads: [2, 1], output_padding: [1] } },
  { x: [1, 2, 2, 3, 2], w: [2, 2, 2, 2, 3], bias: true, attrs: { strides: [2, 1, 2], pads: [1, 0, 0, 0, 1, 1] } },
];

/** A random valid Conv (or ConvTranspose) configuration: 1–3 spatial axes, groups 1 / 2 / depthwise. */
function randomConv(op: 'Conv' | 'ConvTranspose', seed: number): ConvSpec {
  const rnd = mixedRandom(seed);
  const pick = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
  const nsp = pick(1, 3);
  const kind = pick(0, 2);
  const perGroupIn = kind === 2 ? 1 : pick(1, 2);
  const group = kind === 0 ? 1 : kind === 1 ? 2 : pick(2, 3);
  const perGroupOut = pick(1, 2);
  const cin = group * perGroupIn;
  const k: number[] = [];
  const s: number[] = [];
  const d: number[] = [];
  const head: number[] = [];
  const tail: number[] = [];
  const inSp: number[] = [];
  const op_: number[] = [];
  for (let i = 0; i < nsp; i++) {
    k.push(pick(1, nsp === 3 ? 2 : 3));
    s.push(pick(1, 3));
    d.push(pick(1, 2));
    const ext = (k[i]! - 1) * d[i]! + 1;
    head.push(pick(0, ext - 1));
    tail.push(pick(0, ext - 1));
    op_.push(pick(0, s[i]! - 1)); // onnxruntime: output_padding < stride
    inSp.push(op === 'Conv' ? Math.max(1, ext - head[i]! - tail[i]! + pick(0, nsp === 3 ? 3 : 6)) : pick(nsp === 3 ? 1 : 2, nsp === 3 ? 3 : 5));
  }
  const attrs: Attrs = { strides: s, dilations: d, group };
  if (op === 'Conv') {
    const mode = pick(0, 5);
    if (mode === 0 && d.every((v) => v === 1)) attrs.auto_pad = pick(0, 1) ? 'SAME_UPPER' : 'SAME_LOWER'; // onnxruntime rejects dilated SAME
    else if (mode === 1) attrs.auto_pad = 'VALID';
    else attrs.pads = [...head, ...tail];
    const x = [pick(1, 2), cin, ...inSp];
    if (attrs.auto_pad === 'VALID') for (let i = 0; i < nsp; i++) x[i + 2] = Math.max(x[i + 2]!, (k[i]! - 1) * d[i]! + 1);
    return { x, w: [group * perGroupOut, perGroupIn, ...k], bias: pick(0, 1) === 1, attrs };
  }
  attrs.pads = [...head, ...tail];
  attrs.output_padding = op_;
  return { x: [pick(1, 2), cin, ...inSp], w: [cin, perGroupOut, ...k], bias: pick(0, 1) === 1, attrs };
}

describe('Conv gradient', () => {
  it.each(CONV_CASES.map((s) => [label(s), s] as const))('%s', async (_, s) => {
    await expectGrad(convCase('Conv', s));
  });
  it.each(Array.from({ length: 12 }, (_, i) => randomConv('Conv', 101 + i)).map((s) => [label(s), s] as const))('random %s', async (_, s) => {
    await expectGrad(convCase('Conv', s));
  });

  // Strided data gradients by phases (group 1 or 2, ≥ 4 input channels per group; by default
  // only from 64k elements of dY, so the threshold is lifted here).
  const PHASE_CASES: ConvSpec[] = [
    { x: [2, 4, 13], w: [3, 4, 4], bias: true, attrs: { strides: [3], pads: [2, 1] } },
    { x: [1, 5, 10, 11], w: [4, 5, 2, 3], attrs: { strides: [3, 2], pads: [1, 0, 0, 2] } },
    { x: [2, 4, 9, 9], w: [6, 4, 2, 2], attrs: { strides: [3, 3] } },
    { x: [1, 4, 12, 7], w: [4, 4, 3, 3], attrs: { strides: [2, 1], auto_pad: 'SAME_UPPER' } },
    { x: [2, 8, 9, 8], w: [6, 4, 3, 3], attrs: { group: 2, strides: [2, 2], pads: [0, 1, 1, 0] } },
  ];
  it.each(PHASE_CASES.map((s) => [label(s), s] as const))('strided by phases %s', async (_, s) => {
    const r = await gradCheck({ ...convCase('Conv', s), tuning: { conv: { polyphaseMinElements: 0 } } });
    expect(r.ok, describeFailures(r)).toBe(true);
    expect(gradOps(r)).not.toContain('ConvTranspose');
  });

  it('emits one Conv for the weight gradient, whatever the group count (swapped-Conv fallback)', async () => {
    const r = await gradCheck({ ...convCase('Conv', CONV_CASES[5]!), tuning: { conv: { force: 'fallback' } } });
    const ops = [...r.gradModel.graph.nodes].filter((n) => n.name.startsWith('grad/')).map((n) => n.opType);
    expect(ops.filter((o) => o === 'Conv')).toHaveLength(1);
    expect(ops.filter((o) => o === 'ConvTranspose')).toHaveLength(1);
  });

  it('needs static spatial shapes', () => {
    const b = new GraphBuilder('t');
    const x = b.input('x', DataType.FLOAT, [1, 2, 'h', 'w']);
    const y = b.op('Conv', [x, b.init('w', DataType.FLOAT, [2, 2, 3, 3], new Array(36).fill(0.1))]);
    b.output(b.op('ReduceSum', [y], { keepdims: 0 }, { outputNames: ['loss'] }));
    const m = b.model();
    const err = differentiateError(m, { wrt: ['x'], loss: 'loss' });
    expect(err.code).toBe('E_AUTODIFF');
    expect(err.message).toContain('static spatial shape');
  });
});

describe('ConvTranspose gradient', () => {
  it.each(CONV_TRANSPOSE_CASES.map((s) => [label(s), s] as const))('%s', async (_, s) => {
    await expectGrad(convCase('ConvTranspose', s));
  });
  it.each(Array.from({ length: 10 }, (_, i) => randomConv('ConvTranspose', 201 + i)).map((s) => [label(s), s] as const))('random %s', async (_, s) => {
    await expectGrad(convCase('ConvTranspose', s));
  });
});

/** The op types a case's gradient graph uses (nodes emitted by the pass). */
function gradOps(r: { gradModel: Model }): string[] {
  return [...r.gradModel.graph.nodes].filter((n) => n.name.startsWith('grad/')).map((n) => n.opType);
}

/** A Conv case with the weights stored in the graph (initializer, or a Constant node like PaddleOCR's): only x moves. */
function constWeightCase(s: ConvSpec, store: 'initializer' | 'Constant'): GradCheckCase {
  const rnd = mixedRandom(numel(s.w));
  const data = Array.from({ length: numel(s.w) }, () => rnd() * 2 - 1);
  return {
    build(b, dt) {
      const w = store === 'initializer' ? b.init('w', dt, s.w, data) : b.constant('w', dt, s.w, data);
      return b.op('Conv', [b.input('x', dt, s.x), w], s.attrs);
    },
    inputs: { x: { dims: s.x } },
    ...LINEAR,
  };
}

// Sizes where the default heuristics pick the fast formulations: ≥ 4 input channels and
// ≥ 64 input positions (flipped Conv per image with graph-input weights), ≥ 32 output
// positions with a batch (im2col). Stride 1 covers groups, dilations and asymmetric pads.
const FAST_CASES: ConvSpec[] = [
  // flipped Conv: two groups (2 in, 3 out each), dilation, asymmetric pads; im2col with a batch
  { x: [2, 4, 9, 8], w: [6, 2, 3, 2], bias: true, attrs: { group: 2, dilations: [2, 1], pads: [2, 0, 1, 1] } },
  // group 1, pads on one side only, kernel_shape given
  { x: [2, 4, 8, 9], w: [3, 4, 3, 3], attrs: { kernel_shape: [3, 3], pads: [0, 2, 2, 0] } },
  // depthwise with a channel multiplier, dilated both ways, batch 1 (im2col in the other order)
  { x: [1, 4, 9, 10], w: [8, 1, 3, 3], attrs: { group: 4, dilations: [2, 2], pads: [1, 2, 2, 1] } },
  // SAME_LOWER (odd pad before) and SAME_UPPER
  { x: [2, 5, 8, 8], w: [4, 5, 2, 3], attrs: { auto_pad: 'SAME_LOWER' } },
  { x: [1, 4, 8, 8], w: [4, 4, 4, 1], bias: true, attrs: { auto_pad: 'SAME_UPPER' } },
  // strided depthwise: zero insertion; strides leaving a remainder, asymmetric pads
  { x: [1, 4, 9, 8], w: [4, 1, 3, 3], bias: true, attrs: { group: 4, strides: [2, 3], pads: [1, 0, 0, 2] } },
  { x: [2, 3, 11, 9], w: [6, 1, 3, 2], attrs: { group: 3, strides: [3, 2], dilations: [2, 1], pads: [2, 1, 1, 0] } },
  // strided two-group Conv (zero insertion), strided group-1 Conv (ConvTranspose) with im2col
  { x: [2, 4, 10, 9], w: [4, 2, 3, 3], attrs: { group: 2, strides: [2, 2], pads: [1, 1, 1, 1] } },
  { x: [2, 3, 16, 15], w: [4, 3, 3, 3], bias: true, attrs: { strides: [2, 2], pads: [1, 1, 1, 1] } },
  // im2col reading part of the input only (no tail pad, the last row and column unread)
  { x: [2, 3, 16, 16], w: [2, 3, 3, 3], attrs: { strides: [2, 2] } },
  // 1×1: stride 1 (the input is its own im2col), strided (a 1×1 AveragePool), strided with a head pad (one-hot Conv)
  { x: [2, 4, 8, 8], w: [6, 4, 1, 1], bias: true, attrs: {} },
  { x: [2, 4, 15, 14], w: [6, 4, 1, 1], attrs: { strides: [2, 2] } },
  { x: [1, 4, 15, 14], w: [6, 4, 1, 1], attrs: { strides: [2, 3], pads: [1, 0, 0, 1] } },
  // 5×5 depthwise, separable im2col along the stride-1 axis (the other strided, dilated), batch 2
  { x: [2, 3, 13, 12], w: [3, 1, 5, 5], bias: true, attrs: { group: 3, strides: [2, 1], dilations: [1, 2], pads: [2, 3, 1, 5] } },
  { x: [1, 2, 9, 14], w: [4, 1, 5, 3], attrs: { group: 2, strides: [1, 2], pads: [2, 0, 3, 1] } },
  // 1D and 3D
  { x: [2, 4, 70], w: [4, 2, 5], bias: true, attrs: { group: 2, dilations: [3], pads: [4, 7] } },
  { x: [2, 4, 5, 4, 4], w: [4, 4, 3, 2, 3], attrs: { pads: [1, 0, 2, 1, 1, 0], dilations: [1, 2, 1] } },
];

describe('Conv gradient: fast formulations at the default thresholds', () => {
  it.each(FAST_CASES.map((s) => [label(s), s] as const))('%s', async (_, s) => {
    await expectGrad(convCase('Conv', s));
  });

  it('stride 1: a Conv with flipped weights for dX (Transpose + negative-step Slice for graph-input weights), im2col + MatMul for dW', async () => {
    const r = await gradCheck(convCase('Conv', FAST_CASES[0]!));
    expect(r.ok, describeFailures(r)).toBe(true);
    const ops = gradOps(r);
    expect(ops).not.toContain('ConvTranspose');
    // dX Conv, one-hot im2col Conv
    expect(ops.filter((o) => o === 'Conv')).toHaveLength(2);
    expect(ops).toContain('MatMul');
    const flip = [...r.gradModel.graph.nodes].find((n) => n.opType === 'Slice' && n.name.startsWith('grad/'))!;
    expect(flip.inputs[0]!.producer()!.opType).toBe('Reshape');
    expect([...r.gradModel.graph.initializers.keys()].some((k) => k.includes('im2col_kernel'))).toBe(true);
  });

  it('strided depthwise: zeros inserted into dY, then the flipped Conv (no ConvTranspose)', async () => {
    const r = await gradCheck(convCase('Conv', FAST_CASES[5]!));
    const ops = gradOps(r);
    expect(ops).not.toContain('ConvTranspose');
    expect(ops).toContain('ConstantOfShape');
    expect(ops.filter((o) => o === 'Concat')).toHaveLength(2);
  });

  it('strided group-1 Conv: ConvTranspose below 4 input channels, phases from 4; 1×1 weight gradients need no im2col Conv', async () => {
    const strided = gradOps(await gradCheck(convCase('Conv', FAST_CASES[8]!)));
    expect(strided).toContain('ConvTranspose'); // 3 input channels: a one-row GEMM per phase would not pay
    // 3×3, stride 2, 8 input channels, dY of 64k+ elements: four phase Convs (sub-kernels 2×2, 2×1, 1×2, 1×1) interleaved
    const phased = await gradCheck(convCase('Conv', { x: [2, 8, 130, 128], w: [8, 8, 3, 3], bias: true, attrs: { strides: [2, 2], pads: [1, 1, 1, 1] } }));
    expect(phased.ok, describeFailures(phased)).toBe(true);
    const convs = [...phased.gradModel.graph.nodes].filter((n) => n.opType === 'Conv' && n.name.startsWith('grad/') && n.inputs[0]!.name.startsWith('grad'));
    expect(gradOps(phased)).not.toContain('ConvTranspose');
    expect(convs.map((n) => n.attrInts('kernel_shape')).filter((k) => k!.join() !== '3,3')).toEqual(expect.arrayContaining([[2, 2], [2, 1], [1, 2], [1, 1]]));
    const pointwise = gradOps(await gradCheck(convCase('Conv', FAST_CASES[10]!)));
    expect(pointwise.filter((o) => o === 'Conv')).toHaveLength(1); // dX only
    const stridedPointwise = gradOps(await gradCheck(convCase('Conv', FAST_CASES[11]!)));
    expect(stridedPointwise).toContain('AveragePool');
    expect(stridedPointwise.filter((o) => o === 'Conv')).toHaveLength(0); // small: dX by ConvTranspose, dW by AveragePool + MatMul
  });

  it('separable im2col for a 5×5 depthwise Conv: one-hot Convs on x (1×5) and dY (5×1), one MatMul', async () => {
    const s: ConvSpec = { x: [1, 4, 12, 10], w: [4, 1, 5, 5], attrs: { group: 4, pads: [2, 2, 2, 2] } };
    const r = await gradCheck({ ...convCase('Conv', s), wrt: ['w'] });
    expect(r.ok, describeFailures(r)).toBe(true);
    const convs = [...r.gradModel.graph.nodes].filter((n) => n.opType === 'Conv' && n.name.startsWith('grad/'));
    expect(convs.map((n) => n.attrInts('kernel_shape'))).toEqual([
      [1, 5],
      [5, 1],
    ]);
    expect(gradOps(r).filter((o) => o === 'MatMul')).toHaveLength(1);
  });

  it('few positions with graph-input weights: dX by one Conv over the batch as a depth axis, dW by the swapped Conv', async () => {
    const r = await gradCheck(convCase('Conv', { x: [3, 4, 5, 5], w: [6, 4, 3, 3], bias: true, attrs: { pads: [1, 0, 2, 1] } }));
    expect(r.ok, describeFailures(r)).toBe(true);
    const ops = gradOps(r);
    expect(ops).not.toContain('ConvTranspose');
    expect(ops).not.toContain('MatMul');
    const convs = [...r.gradModel.graph.nodes].filter((n) => n.opType === 'Conv' && n.name.startsWith('grad/'));
    expect(convs.map((n) => n.attrInts('kernel_shape'))).toContainEqual([1, 3, 3]);
  });

  it('an input with fewer than 4 channels keeps ConvTranspose', async () => {
    const ops = gradOps(await gradCheck(convCase('Conv', { x: [2, 3, 9, 9], w: [4, 3, 3, 3], attrs: { pads: [1, 1, 1, 1] } })));
    expect(ops).toContain('ConvTranspose');
  });
});

describe('Conv gradient with weights stored in the graph (flipped at build time)', () => {
  const cases: [string, ConvSpec][] = [
    ['three groups with a channel multiplier, asymmetric pads', { x: [1, 6, 5, 6], w: [9, 2, 3, 3], attrs: { group: 3, pads: [0, 1, 2, 1] } }],
    ['depthwise 5×5 dilated', { x: [1, 3, 9, 9], w: [3, 1, 5, 5], attrs: { group: 3, dilations: [1, 2], pads: [2, 4, 2, 4] } }],
    ['strided depthwise', { x: [1, 3, 9, 10], w: [3, 1, 3, 3], attrs: { group: 3, strides: [2, 1], pads: [1, 1, 1, 1] } }],
    ['group 1 (few positions: constant weights still flip)', { x: [1, 4, 3, 3], w: [2, 4, 2, 2], attrs: { pads: [1, 0, 0, 1] } }],
    ['1D', { x: [1, 4, 9], w: [5, 4, 3], attrs: { pads: [2, 0] } }],
  ];
  it.each(cases.flatMap(([name, s]) => (['initializer', 'Constant'] as const).map((store) => [`${name} (${store})`, s, store] as const)))('%s', async (_, s, store) => {
    const r = await gradCheck(constWeightCase(s, store));
    expect(r.ok, describeFailures(r)).toBe(true);
    const ops = gradOps(r);
    expect(ops).not.toContain('ConvTranspose');
    // the flipped weights are a new initializer: no Transpose or Slice of the weights in the graph
    expect(ops).not.toContain('Transpose');
    expect([...r.gradModel.graph.initializers.keys()].some((k) => k.includes('flipped_weights'))).toBe(true);
  });
});

describe('Conv gradients in optimized onnxruntime sessions', () => {
  // The fast formulations are chosen for onnxruntime's optimized graphs (NCHWc Convs for
  // constant weights with 16-channel blocks, MatMul + Transpose fusion, folded constants):
  // with every optimization on they give the unoptimized session's gradients.
  const cases: [string, ConvSpec, 'input' | 'initializer'][] = [
    ['16 channels, constant weights', { x: [1, 16, 12, 12], w: [16, 16, 3, 3], bias: true, attrs: { pads: [1, 1, 1, 1] } }, 'initializer'],
    ['depthwise 5×5 and strided depthwise, constant weights', { x: [1, 32, 12, 10], w: [32, 1, 5, 5], attrs: { group: 32, strides: [2, 1], pads: [2, 2, 2, 2] } }, 'initializer'],
    ['16 channels, graph-input weights, batch 4', { x: [4, 16, 12, 12], w: [32, 16, 3, 3], bias: true, attrs: { pads: [1, 1, 1, 1] } }, 'input'],
    ['pointwise, batch 1', { x: [1, 32, 8, 10], w: [16, 32, 1, 1], attrs: {} }, 'input'],
  ];
  it.each(cases)('%s', async (_, s, store) => {
    const b = new GraphBuilder('opt');
    const rnd = mixedRandom(3);
    const values = (dims: number[]): number[] => Array.from({ length: numel(dims) }, () => rnd() * 2 - 1);
    const x = b.input('x', DataType.FLOAT, s.x);
    const w = store === 'input' ? b.input('w', DataType.FLOAT, s.w) : b.init('w', DataType.FLOAT, s.w, values(s.w));
    const inputs = [x, w];
    if (s.bias) inputs.push(b.init('bias', DataType.FLOAT, [s.w[0]!], values([s.w[0]!])));
    const y = b.op('Conv', inputs, s.attrs);
    // explicit pads and strides: out = ⌊(in + pads − kernel) / stride⌋ + 1
    const pads = (s.attrs.pads as number[] | undefined) ?? [0, 0, 0, 0];
    const strides = (s.attrs.strides as number[] | undefined) ?? [1, 1];
    const dims = [s.x[0]!, s.w[0]!, ...[0, 1].map((i) => Math.floor((s.x[i + 2]! + pads[i]! + pads[i + 2]! - s.w[i + 2]!) / strides[i]!) + 1)];
    const loss = b.op('ReduceSum', [b.op('Mul', [y, b.init('r', DataType.FLOAT, dims, values(dims))])], { keepdims: 0 }, { outputNames: ['loss'] });
    b.output(loss, { dtype: DataType.FLOAT, shape: [] });
    const m = b.model();
    const wrt = store === 'input' ? ['x', 'w'] : ['x', 'w', ...(s.bias ? ['bias'] : [])];
    differentiate(m, { wrt, loss: 'loss', inputShapes: { x: s.x, ...(store === 'input' ? { w: s.w } : {}) } });
    const feeds: Record<string, ort.Tensor> = { x: new ort.Tensor('float32', Float32Array.from(values(s.x)), s.x) };
    if (store === 'input') feeds.w = new ort.Tensor('float32', Float32Array.from(values(s.w)), s.w);
    const outs = wrt.map((n) => `grad:${n}`);
    const run = async (level: 'all' | 'disabled'): Promise<Record<string, ort.Tensor>> =>
      (await ort.InferenceSession.create(modelToBytes(m), { graphOptimizationLevel: level })).run(feeds, outs);
    const [opt, plain] = [await run('all'), await run('disabled')];
    for (const o of outs) {
      const a = opt[o]!.data as Float32Array;
      const e = plain[o]!.data as Float32Array;
      const scale = Math.max(...Array.from(e, Math.abs));
      expect(scale).toBeGreaterThan(0);
      for (let i = 0; i < e.length; i++) expect(Math.abs(a[i]! - e[i]!), `${o}[${i}]`).toBeLessThan(1e-5 * scale + 1e-6);
    }
  });
});

describe.each([
  ['fast (full im2col)', 'fast', 0, 0],
  ['fast (separable im2col wherever an axis has stride 1; dX over the batch as depth)', 'fast', Infinity, Infinity],
  ['fallback', 'fallback', 0.72, 64],
] as const)('Conv and ConvTranspose gradients, every geometry, forced %s formulations', (_, force, separableMaxRatio, flipMinPositions) => {
  const tuned = (c: GradCheckCase): GradCheckCase => ({ ...c, tuning: { conv: { force, separableMaxRatio, flipMinPositions } } });
  it.each([...CONV_CASES, ...FAST_CASES].map((s) => [label(s), s] as const))('Conv %s', async (_, s) => {
    await expectGrad(tuned(convCase('Conv', s)));
  });
  it.each(Array.from({ length: 12 }, (_, i) => randomConv('Conv', 501 + i)).map((s) => [label(s), s] as const))('Conv random %s', async (_, s) => {
    await expectGrad(tuned(convCase('Conv', s)));
  });
  it.each(CONV_TRANSPOSE_CASES.map((s) => [label(s), s] as const))('ConvTranspose %s', async (_, s) => {
    await expectGrad(tuned(convCase('ConvTranspose', s)));
  });
  it.each(Array.from({ length: 8 }, (_, i) => randomConv('ConvTranspose', 601 + i)).map((s) => [label(s), s] as const))('ConvTranspose random %s', async (_, s) => {
    await expectGrad(tuned(convCase('ConvTranspose', s)));
  });
});

describe('a small residual network', () => {
  it('differentiates Conv → Relu → MaxPool → grouped Conv + skip → GlobalAveragePool', async () => {
    const dims = { x: [2, 3, 10, 10], w1: [8, 3, 3, 3], b1: [8], w2: [8, 4, 3, 3] };
    await expectGrad({
      build(b, dt) {
        const x = b.input('x', dt, dims.x);
        const c1 = b.op('Conv', [x, b.input('w1', dt, dims.w1), b.input('b1', dt, dims.b1)], { strides: [2, 2], pads: [1, 1, 1, 1] });
        const p = b.op('MaxPool', [b.op('Relu', [c1])], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] });
        const c2 = b.op('Conv', [p, b.input('w2', dt, dims.w2)], { group: 2, pads: [1, 1, 1, 1] });
        return b.op('GlobalAveragePool', [b.op('Add', [c2, p])]);
      },
      inputs: { x: { dims: dims.x }, w1: { dims: dims.w1 }, b1: { dims: dims.b1 }, w2: { dims: dims.w2 } },
      ...PIECEWISE,
      atol: 5e-3,
      rtol: 5e-3,
    });
  });
});
