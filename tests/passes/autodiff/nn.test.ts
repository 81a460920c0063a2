// Gradient rules for Conv, ConvTranspose, the pools, Dropout and LRN, checked against
// central finite differences through onnxruntime on hand-picked and seeded random window
// geometries (Dropout in training mode and LRN of sizes onnxruntime lacks: see there).
//
// onnxruntime's CPU provider runs Conv, ConvTranspose, the pools and LRN in float32 only, so
// those checks are float32 (Dropout's run in double). Conv, ConvTranspose, AveragePool and
// GlobalAveragePool are linear in each argument (gradCheck moves one input at a time), so
// the central difference with a unit step is exact up to float32 rounding of the loss (~1e-6
// relative): atol = rtol = 1e-4 (all pass at 1e-5; a wrong rule misplaces whole window taps,
// errors O(0.1–1)).
// MaxPool and GlobalMaxPool are piecewise linear: their inputs are distinct values 2/n
// apart and the step is 1e-3 (|v| ≤ 1), so no argmax changes inside the difference and it
// is again exact up to rounding, now of the float32 inputs x ± h·v and divided by 2h
// (observed errors up to ~3e-4): atol = rtol = 2e-3.

import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { type AttrInput, attr, GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import { type Model, tensorType, Value } from '../../../src/ir/graph.js';
import { modelToBytes } from '../../../src/ir/serde/io.js';
import { assertValid } from '../../../src/ir/verify.js';
import { differentiate } from '../../../src/passes/autodiff/index.js';
import { xorshift32 } from '../../helpers/onnx-oracle.js';
import { describeFailures, type GradCheckCase, gradCheck, differentiateError } from './gradcheck.js';

const LINEAR = { dtype: 'float32', h: 1, atol: 1e-4, rtol: 1e-4 } as const;
const PIECEWISE = { dtype: 'float32', h: 1e-3, atol: 2e-3, rtol: 2e-3 } as const;

type Attrs = Record<string, AttrInput>;

async function expectGrad(c: GradCheckCase): Promise<void> {
  const r = await gradCheck(c);
  expect(r.ok, describeFailures(r)).toBe(true);
  expect(r.checks.length).toBeGreaterThan(0);
  // the check cannot pass vacuously: some directional derivative is clearly non-zero
  expect(Math.max(...r.checks.map((x) => Math.abs(x.analytic)))).toBeGreaterThan(0.05);
}

/** n distinct values in (-1, 1), 2/n apart, in a seeded random order (no MaxPool ties). */
function distinct(n: number, seed: number): number[] {
  const rnd = xorshift32(seed);
  const v = Array.from({ length: n }, (_, i) => -1 + (2 * i + 1) / n);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [v[i], v[j]] = [v[j]!, v[i]!];
  }
  return v;
}

/** A seeded generator whose streams for nearby seeds are unrelated (xorshift32 of consecutive seeds starts alike). */
function mixedRandom(seed: number): () => number {
  const rnd = xorshift32(Math.imul(seed, 0x9e3779b1) >>> 0);
  for (let i = 0; i < 8; i++) rnd();
  return rnd;
}

const numel = (dims: number[]): number => dims.reduce((a, b) => a * b, 1);

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

// ---------------------------------------------------------------- pools

interface PoolSpec {
  x: number[];
  attrs: Attrs;
  opset?: number;
}

function poolCase(op: string, s: PoolSpec, outputs = 1): GradCheckCase {
  const piecewise = op.includes('Max');
  return {
    build(b, dt) {
      return b.opMulti(op, [b.input('x', dt, s.x)], outputs, s.attrs)[0]!;
    },
    inputs: { x: { dims: s.x, ...(piecewise ? { data: distinct(numel(s.x), numel(s.x)) } : {}) } },
    ...(piecewise ? PIECEWISE : LINEAR),
    opset: s.opset ?? 17,
  };
}

const poolLabel = (s: PoolSpec): string => `x[${s.x}] ${JSON.stringify(s.attrs)}${s.opset ? ` opset ${s.opset}` : ''}`;

const MAXPOOL_CASES: PoolSpec[] = [
  // ResNet's stem pool: overlapping 3×3 windows, stride 2, pad 1
  { x: [2, 3, 8, 8], attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] } },
  // non-overlapping
  { x: [1, 2, 6, 4], attrs: { kernel_shape: [2, 2], strides: [2, 2] } },
  // stride 1 (heavy overlap), asymmetric pads
  { x: [1, 2, 5, 6], attrs: { kernel_shape: [3, 2], pads: [2, 0, 1, 1] } },
  // dilations, stride 3, ceil_mode
  { x: [1, 2, 9, 8], attrs: { kernel_shape: [2, 3], strides: [3, 2], dilations: [2, 1], ceil_mode: 1, pads: [1, 0, 0, 1] } },
  { x: [2, 2, 7, 7], attrs: { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 } },
  { x: [1, 3, 7, 6], attrs: { kernel_shape: [3, 2], strides: [2, 2], auto_pad: 'SAME_UPPER' } },
  { x: [1, 2, 7, 5], attrs: { kernel_shape: [2, 3], strides: [3, 2], auto_pad: 'SAME_LOWER' } },
  // 1D and 3D
  { x: [2, 3, 11], attrs: { kernel_shape: [3], strides: [2], dilations: [2], pads: [2, 1] } },
  { x: [1, 2, 5, 4, 6], attrs: { kernel_shape: [2, 2, 3], strides: [2, 1, 2], pads: [1, 0, 1, 0, 1, 1] } },
  { x: [1, 2, 6, 6], attrs: { kernel_shape: [3, 3], strides: [2, 2] }, opset: 16 },
  { x: [1, 2, 6, 6], attrs: { kernel_shape: [3, 3], strides: [1, 2], dilations: [2, 1] }, opset: 18 },
];

const AVGPOOL_CASES: PoolSpec[] = [
  { x: [2, 3, 8, 8], attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] } },
  { x: [2, 3, 8, 8], attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], count_include_pad: 1 } },
  { x: [1, 2, 6, 4], attrs: { kernel_shape: [2, 2], strides: [2, 2] } },
  { x: [1, 2, 5, 6], attrs: { kernel_shape: [3, 2], pads: [2, 0, 1, 1], count_include_pad: 1 } },
  // ceil_mode: the last window overhangs the tail pad
  { x: [1, 2, 6, 7], attrs: { kernel_shape: [3, 2], strides: [2, 2], pads: [1, 0, 1, 1], ceil_mode: 1, count_include_pad: 1 } },
  { x: [1, 2, 6, 7], attrs: { kernel_shape: [3, 2], strides: [2, 3], pads: [1, 0, 1, 1], ceil_mode: 1 } },
  { x: [1, 3, 7, 6], attrs: { kernel_shape: [3, 2], strides: [2, 2], auto_pad: 'SAME_UPPER', count_include_pad: 1 } },
  { x: [1, 2, 7, 5], attrs: { kernel_shape: [2, 3], strides: [3, 2], auto_pad: 'SAME_LOWER' } },
  { x: [1, 2, 7, 5], attrs: { kernel_shape: [2, 3], strides: [3, 2], auto_pad: 'VALID' } },
  // dilations (opset 19)
  { x: [1, 2, 9, 8], attrs: { kernel_shape: [2, 3], strides: [3, 2], dilations: [2, 1], ceil_mode: 1, pads: [1, 0, 0, 1], count_include_pad: 1 }, opset: 19 },
  { x: [1, 2, 9, 8], attrs: { kernel_shape: [3, 2], strides: [1, 2], dilations: [2, 2], pads: [2, 1, 1, 0] }, opset: 19 },
  // 1D and 3D
  { x: [2, 3, 11], attrs: { kernel_shape: [3], strides: [2], pads: [2, 1], count_include_pad: 1 } },
  { x: [1, 2, 5, 4, 6], attrs: { kernel_shape: [2, 2, 3], strides: [2, 1, 2], pads: [1, 0, 1, 0, 1, 1], ceil_mode: 1 } },
  { x: [1, 2, 6, 6], attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }, opset: 13 },
];

/** A random valid pool configuration (pads smaller than the kernel, as onnxruntime requires). */
function randomPool(seed: number, avg: boolean): PoolSpec {
  const rnd = mixedRandom(seed);
  const pick = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
  const nsp = pick(1, 3);
  const k: number[] = [];
  const s: number[] = [];
  const d: number[] = [];
  const head: number[] = [];
  const tail: number[] = [];
  const inSp: number[] = [];
  for (let i = 0; i < nsp; i++) {
    k.push(pick(1, 3));
    s.push(pick(1, 3));
    d.push(pick(1, 2));
    head.push(pick(0, k[i]! - 1));
    tail.push(pick(0, k[i]! - 1));
    inSp.push((k[i]! - 1) * d[i]! + 1 + pick(0, nsp === 3 ? 2 : 5));
  }
  // onnxruntime's kernel drops a ceil_mode window that would start in the tail pad, its
  // shape inference does not (the loss model would not load): keep ceil_mode off then.
  const drops = inSp.some((n, i) => {
    const span = n + head[i]! + tail[i]! - (k[i]! - 1) * d[i]! - 1;
    return Math.ceil(span / s[i]!) * s[i]! >= n + head[i]!;
  });
  const attrs: Attrs = { kernel_shape: k, strides: s, dilations: d, pads: [...head, ...tail], ceil_mode: drops ? 0 : pick(0, 1) };
  if (avg) attrs.count_include_pad = pick(0, 1);
  return { x: [pick(1, 2), pick(1, 3), ...inSp], attrs, opset: 19 };
}

describe('MaxPool gradient', () => {
  it.each(MAXPOOL_CASES.map((s) => [poolLabel(s), s] as const))('%s', async (_, s) => {
    await expectGrad(poolCase('MaxPool', s));
  });
  it.each(Array.from({ length: 10 }, (_, i) => randomPool(301 + i, false)).map((s) => [poolLabel(s), s] as const))('random %s', async (_, s) => {
    await expectGrad(poolCase('MaxPool', s));
  });

  it('raises an opset-13 model to 16 for ScatterElements with reduction add', async () => {
    const r = await gradCheck(poolCase('MaxPool', { x: [1, 2, 7, 6], attrs: { kernel_shape: [3, 3], strides: [2, 1], pads: [1, 1, 0, 1] }, opset: 13 }));
    expect(r.ok, describeFailures(r)).toBe(true);
    expect(r.autodiff.opset).toEqual({ from: 13, to: 16 });
  });

  it('adds an Indices output to the forward MaxPool instead of a second pool', async () => {
    const r = await gradCheck(poolCase('MaxPool', MAXPOOL_CASES[0]!));
    const pools = [...r.gradModel.graph.nodes].filter((n) => n.opType === 'MaxPool');
    expect(pools).toHaveLength(1);
    const [y, indices] = pools[0]!.outputs;
    expect(indices!.dtype).toBe(DataType.INT64);
    // Y keeps its name and its consumers (the loss's Mul)
    expect(y!.name).toBe('maxpool_0');
    expect(y!.consumers().map((n) => n.opType)).toContain('Mul');
  });

  it('uses an existing row-major Indices output', async () => {
    const r = await gradCheck(poolCase('MaxPool', MAXPOOL_CASES[2]!, 2));
    expect(r.ok, describeFailures(r)).toBe(true);
    expect([...r.gradModel.graph.nodes].filter((n) => n.opType === 'MaxPool')).toHaveLength(1);
  });

  it('makes row-major indices when the forward pool has column-major ones', async () => {
    const r = await gradCheck(poolCase('MaxPool', { x: [1, 2, 5, 7], attrs: { kernel_shape: [3, 2], strides: [1, 2], pads: [1, 0, 1, 1], storage_order: 1 } }, 2));
    expect(r.ok, describeFailures(r)).toBe(true);
    expect([...r.gradModel.graph.nodes].filter((n) => n.opType === 'MaxPool')).toHaveLength(2);
  });
});

describe('AveragePool gradient', () => {
  it.each(AVGPOOL_CASES.map((s) => [poolLabel(s), s] as const))('%s', async (_, s) => {
    await expectGrad(poolCase('AveragePool', s));
  });
  it.each(Array.from({ length: 10 }, (_, i) => randomPool(401 + i, true)).map((s) => [poolLabel(s), s] as const))('random %s', async (_, s) => {
    await expectGrad(poolCase('AveragePool', s));
  });
});

/**
 * ⟨Jᵀr, v⟩ and ⟨Jv, r⟩ for a linear op y = J x, with the gradient seeded from a graph input
 * (no loss on y). For geometries where onnxruntime's kernel and its ONNX shape inference
 * disagree on y's size (a ceil_mode window dropped because it would start in the tail
 * pad; SAME pools with dilations, padded for the undilated kernel), a loss model on y does
 * not load, but the op and its gradient run.
 */
async function adjointSides(op: string, s: PoolSpec): Promise<{ lhs: number; rhs: number }> {
  const build = (): { model: Model; y: Value } => {
    const b = new GraphBuilder('adjoint');
    const y = b.op(op, [b.input('x', DataType.FLOAT, s.x)], s.attrs);
    b.output(y);
    return { model: b.model({ opset: s.opset ?? 19 }), y };
  };
  const session = (m: Model): Promise<ort.InferenceSession> => ort.InferenceSession.create(modelToBytes(m), { graphOptimizationLevel: 'disabled' });
  const v = distinct(numel(s.x), 5);
  const x = new ort.Tensor('float32', Float32Array.from(v), s.x);
  const fwd = build();
  const jv = (await (await session(fwd.model)).run({ x }))[fwd.y.name]!;
  const r = Float32Array.from(distinct(jv.size, 6));
  const grad = build();
  differentiate(grad.model, { wrt: ['x'], seeds: { [grad.y.name]: 'seed' }, inputShapes: { x: s.x } });
  const seed = grad.model.graph.inputs.find((i) => i.name === 'seed')!;
  seed.type = tensorType(DataType.FLOAT, null); // splitc's inferred size is the kernel's; onnxruntime's inference may differ
  const out = await (await session(grad.model)).run({ x, seed: new ort.Tensor('float32', r, jv.dims) });
  const jtr = out['grad:x']!.data as Float32Array;
  let lhs = 0;
  let rhs = 0;
  for (let i = 0; i < v.length; i++) lhs += jtr[i]! * v[i]!;
  for (let i = 0; i < r.length; i++) rhs += (jv.data as Float32Array)[i]! * r[i]!;
  return { lhs, rhs };
}

describe('AveragePool gradient where onnxruntime shape inference and kernel disagree', () => {
  it.each(
    ([
      // ceil_mode: the last window on both axes would start in the tail pad and is dropped
      { x: [1, 2, 6, 5], attrs: { kernel_shape: [2, 2], strides: [2, 2], pads: [0, 1, 1, 1], ceil_mode: 1, count_include_pad: 1 } },
      { x: [2, 1, 6, 5], attrs: { kernel_shape: [2, 3], strides: [2, 2], pads: [0, 1, 1, 1], ceil_mode: 1 } },
      // SAME with dilations: padded for the undilated kernel
      { x: [1, 2, 7, 8], attrs: { kernel_shape: [3, 2], strides: [2, 2], dilations: [2, 1], auto_pad: 'SAME_UPPER', count_include_pad: 1 } },
      { x: [1, 2, 7, 8], attrs: { kernel_shape: [3, 3], strides: [2, 1], dilations: [2, 2], auto_pad: 'SAME_LOWER', count_include_pad: 1 } },
    ] as PoolSpec[]).map((s) => [poolLabel(s), s] as const),
  )('%s', async (_, s) => {
    const { lhs, rhs } = await adjointSides('AveragePool', s);
    expect(Math.abs(rhs)).toBeGreaterThan(0.05);
    expect(Math.abs(lhs - rhs)).toBeLessThan(1e-4 * (1 + Math.abs(rhs)));
  });
});

describe('global pools', () => {
  it.each([[[2, 3, 4, 5]], [[1, 4, 7]], [[2, 2, 3, 2, 4]]])('GlobalAveragePool x[%s]', async (x) => {
    await expectGrad(poolCase('GlobalAveragePool', { x, attrs: {} }));
  });
  it.each([[[2, 3, 4, 5]], [[1, 4, 7]], [[2, 2, 3, 2, 4]]])('GlobalMaxPool x[%s]', async (x) => {
    await expectGrad(poolCase('GlobalMaxPool', { x, attrs: {} }));
  });

  it('GlobalAveragePool with dynamic spatial dims', async () => {
    const b = new GraphBuilder('t');
    const x = b.input('x', DataType.FLOAT, [2, 3, 'h', 'w']);
    const y = b.op('GlobalAveragePool', [x]);
    b.output(b.op('ReduceSum', [b.op('Mul', [y, y])], { keepdims: 0 }, { outputNames: ['loss'] }));
    const m = b.model();
    differentiate(m, { wrt: ['x'], loss: 'loss' });
    expect([...m.graph.nodes].map((n) => n.opType)).toContain('ReduceProd');
    // loss = Σ mean², so grad = 2·mean / (h·w) everywhere in the channel
    const dims = [2, 3, 4, 5];
    const data = Float32Array.from(distinct(numel(dims), 3));
    const sess = await ort.InferenceSession.create(modelToBytes(m));
    const grad = (await sess.run({ x: new ort.Tensor('float32', data, dims) }))['grad:x']!.data as Float32Array;
    for (let ch = 0; ch < 6; ch++) {
      const block = data.subarray(ch * 20, ch * 20 + 20);
      const mean = block.reduce((a, v) => a + v, 0) / 20;
      for (let i = 0; i < 20; i++) expect(grad[ch * 20 + i]).toBeCloseTo((2 * mean) / 20, 6);
    }
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

// ---------------------------------------------------------------- Dropout

/** The E_AUTODIFF (or other coded) error differentiate() throws for the model. */

// Dropout runs in double too, so the inference checks are float64 (default step and tolerance).
describe('Dropout gradient in inference mode: the identity', () => {
  it('no training_mode input (opset 13), ratio given', async () => {
    const r = await gradCheck({ build: (b, dt) => b.op('Dropout', [b.input('x', dt, [2, 3, 4]), b.init('ratio', DataType.FLOAT, [], [0.3])]), inputs: { x: { dims: [2, 3, 4] } }, opset: 13 });
    expect(r.ok, describeFailures(r)).toBe(true);
    expect([...r.gradModel.graph.nodes].map((n) => n.opType)).not.toContain('Where');
  });

  it('training_mode a constant false, with a mask output (opset 12)', async () => {
    await expectGrad({
      build: (b, dt) => b.opMulti('Dropout', [b.input('x', dt, [3, 5]), b.init('ratio', dt, [], [0.6]), b.init('t', DataType.BOOL, [], [0])], 2, { seed: 1 })[0]!,
      inputs: { x: { dims: [3, 5] } },
      opset: 12,
    });
  });

  it('an opset-7 Dropout (ratio attribute, mask unused) is upgraded to opset 13 and passes dy through', async () => {
    const r = await gradCheck({
      build: (b, dt) => b.opMulti('Dropout', [b.input('x', dt, [2, 5])], 2, { ratio: attr.float('ratio', 0.3) })[0]!,
      inputs: { x: { dims: [2, 5] } },
      opset: 7,
    });
    expect(r.ok, describeFailures(r)).toBe(true);
    expect(r.autodiff.opset).toEqual({ from: 7, to: 13 });
    const dropout = [...r.gradModel.graph.nodes].find((n) => n.opType === 'Dropout')!;
    expect(dropout.attr('ratio')).toBeUndefined(); // became an input
  });

  it('an opset-7 Dropout whose (float) mask is used cannot be upgraded: a coded E_OPSET error', () => {
    const b = new GraphBuilder('t');
    const [y, mask] = b.opMulti('Dropout', [b.input('x', DataType.FLOAT, [4])], 2, {});
    b.output(b.op('ReduceSum', [b.op('Mul', [y!, mask!])], { keepdims: 1 }, { outputNames: ['loss'] }));
    const e = differentiateError(b.model({ opset: 7 }), { wrt: ['x'], loss: 'loss' });
    expect(e.code).toBe('E_OPSET');
    expect(e.message).toMatch(/mask/);
  });
});

interface TrainingCase {
  dtype: 'float32' | 'float64';
  /** A constant ratio (of the given element type), 'input' for one fed at run time, or null for none (0.5). */
  ratio: { value: number; type: 'float32' | 'float64' } | 'input' | null;
  /** Whether the forward node declares its mask output (as a graph output). */
  withMask: boolean;
  opset: number;
  /** training_mode fed at run time with this value (default: a constant true). */
  trainingFed?: boolean;
}

/**
 * Training mode: the forward draws a new mask every run, so finite differences cannot see
 * the gradient. Instead one run of the gradient graph returns y, the mask and dx, and
 * dx must be dY / (1 − ratio) where the mask is set and 0 elsewhere, divided the way
 * onnxruntime computes y (checked from y = x / (1 − ratio) · mask in the same run): 1 −
 * ratio taken in float32, the division in the data's type. Both sides are one rounded
 * division of the same two numbers, so equality is exact.
 */
async function dropoutTraining(c: TrainingCase): Promise<{ model: Model; mask: boolean[] }> {
  const dims = [3, 4, 5];
  const n = numel(dims);
  const dt = c.dtype === 'float32' ? DataType.FLOAT : DataType.DOUBLE;
  const b = new GraphBuilder('dropout');
  const x = b.input('x', dt, dims);
  const ratioIn =
    c.ratio === null ? null : c.ratio === 'input' ? b.input('ratio', DataType.FLOAT, []) : b.init('ratio', c.ratio.type === 'float32' ? DataType.FLOAT : DataType.DOUBLE, [], [c.ratio.value]);
  const training = c.trainingFed === undefined ? b.init('training', DataType.BOOL, [], [1]) : b.input('training', DataType.BOOL, []);
  const outs = b.opMulti('Dropout', [x, ratioIn, training], c.withMask ? 2 : 1, { seed: 11 }, { outputNames: c.withMask ? ['y', 'mask'] : ['y'] });
  for (const o of outs) b.output(o);
  const model = b.model({ opset: c.opset });
  differentiate(model, { wrt: ['x'], seeds: { y: 'dY' }, inputShapes: { x: dims } });
  assertValid(model);
  const g = model.graph;
  const dropouts = [...g.nodes].filter((nd) => nd.opType === 'Dropout');
  expect(dropouts).toHaveLength(1);
  const [y, maskValue] = dropouts[0]!.outputs;
  expect(y!.name).toBe('y');
  expect(maskValue?.name).toBeTruthy();
  if (!c.withMask) g.outputs.push(maskValue!); // the mask the rule added, exposed to compare with

  const ratio = c.ratio === null ? 0.5 : c.ratio === 'input' ? 0.3 : c.ratio.value;
  const kept = Math.fround(1 - Math.fround(ratio));
  const round = c.dtype === 'float32' ? Math.fround : (v: number) => v;
  const rnd = xorshift32(31);
  const xs = Array.from({ length: n }, () => round(rnd() * 2 - 1));
  const dys = Array.from({ length: n }, () => round(rnd() * 2 - 1));
  const tensor = (data: number[], shape: number[]) => new ort.Tensor(c.dtype, c.dtype === 'float32' ? Float32Array.from(data) : Float64Array.from(data), shape);
  const feeds: Record<string, ort.Tensor> = { x: tensor(xs, dims), dY: tensor(dys, dims) };
  if (c.ratio === 'input') feeds.ratio = new ort.Tensor('float32', Float32Array.from([ratio]), []);
  if (c.trainingFed !== undefined) feeds.training = new ort.Tensor('bool', Uint8Array.from([c.trainingFed ? 1 : 0]), []);
  const sess = await ort.InferenceSession.create(modelToBytes(model));
  const out = await sess.run(feeds);
  await sess.release();
  const mask = Array.from(out[maskValue!.name]!.data as Uint8Array, (v) => v !== 0);
  const yv = Array.from(out.y!.data as Float32Array | Float64Array);
  const dx = Array.from(out['grad:x']!.data as Float32Array | Float64Array);
  const inference = c.trainingFed === false;
  for (let i = 0; i < n; i++) {
    // (+ 0: a dropped negative element may be −0)
    expect(yv[i]! + 0, `y[${i}]`).toBe(inference ? xs[i] : mask[i] ? round(xs[i]! / kept) : 0);
    expect(dx[i]! + 0, `dx[${i}]`).toBe(inference ? dys[i] : mask[i] ? round(dys[i]! / kept) : 0);
  }
  return { model, mask };
}

describe('Dropout gradient in training mode (the forward\'s own mask)', () => {
  const cases: [string, TrainingCase][] = [
    ['float64, mask output declared, float32 ratio 0.3', { dtype: 'float64', ratio: { value: 0.3, type: 'float32' }, withMask: true, opset: 13 }],
    ['float64, no mask output (the rule adds one), float64 ratio 0.25', { dtype: 'float64', ratio: { value: 0.25, type: 'float64' }, withMask: false, opset: 13 }],
    ['float32, no mask output, ratio fed at run time', { dtype: 'float32', ratio: 'input', withMask: false, opset: 13 }],
    ['float32, mask output declared, default ratio (0.5), opset 12', { dtype: 'float32', ratio: null, withMask: true, opset: 12 }],
  ];
  it.each(cases)('%s', async (_, c) => {
    const { mask } = await dropoutTraining(c);
    // both kept and dropped elements, so the check covers both branches
    expect(mask.some((m) => m)).toBe(true);
    expect(mask.some((m) => !m)).toBe(true);
  });

  it('ratio 0 keeps everything: dx = dy', async () => {
    const { mask } = await dropoutTraining({ dtype: 'float64', ratio: { value: 0, type: 'float32' }, withMask: false, opset: 13 });
    expect(mask.every((m) => m)).toBe(true);
  });

  it('training_mode fed at run time: true masks the gradient', async () => {
    const { mask } = await dropoutTraining({ dtype: 'float64', ratio: { value: 0.4, type: 'float32' }, withMask: false, opset: 13, trainingFed: true });
    expect(mask.some((m) => m)).toBe(true);
    expect(mask.some((m) => !m)).toBe(true);
  });

  it('training_mode fed at run time: false passes the gradient through', async () => {
    await dropoutTraining({ dtype: 'float32', ratio: 'input', withMask: true, opset: 13, trainingFed: false });
  });
});

// ---------------------------------------------------------------- LRN

interface LrnAttrs {
  size: number;
  alpha: number;
  beta: number;
  bias: number;
}

/** LRN as the spec defines it, in float64: the window of channel c is [c − ⌊(size−1)/2⌋, c + ⌈(size−1)/2⌉]. */
function lrnReference(x: number[], dims: number[], a: LrnAttrs): number[] {
  const C = dims[1]!;
  const inner = numel(dims.slice(2));
  const y = new Array<number>(x.length);
  for (let i = 0; i < x.length; i++) {
    const c = Math.floor(i / inner) % C;
    const base = i - c * inner;
    let sum = 0;
    for (let j = Math.max(0, c - Math.floor((a.size - 1) / 2)); j <= Math.min(C - 1, c + Math.ceil((a.size - 1) / 2)); j++) sum += x[base + j * inner]! ** 2;
    y[i] = x[i]! / (a.bias + (a.alpha / a.size) * sum) ** a.beta;
  }
  return y;
}

const lrnAttrs = (a: LrnAttrs): Attrs => ({ size: a.size, alpha: attr.float('alpha', a.alpha), beta: attr.float('beta', a.beta), bias: attr.float('bias', a.bias) });

/** Random LRN attributes with a strong normalization (large alpha), so the cross-channel term matters. */
function randomLrn(rnd: () => number, size: number): LrnAttrs {
  const f32 = Math.fround; // the attributes are stored as float32
  return { size, alpha: f32(0.5 + 1.5 * rnd()), beta: f32(0.5 + 0.5 * rnd()), bias: f32(1 + rnd()) };
}

// onnxruntime's LRN is float32-only, 4-D only and odd sizes only: checked against it by
// finite differences with a float32 step of 1e-2 (the loss is smooth; truncation and
// rounding errors stay below 1e-3 relative here), atol = rtol = 5e-3.
describe('LRN gradient against onnxruntime (float32, 4-D, odd sizes)', () => {
  const cases = Array.from({ length: 8 }, (_, i) => {
    const rnd = mixedRandom(500 + i);
    const size = [1, 3, 5, 3, 5, 7, 3, 5][i]!;
    const C = 2 + Math.floor(rnd() * 6); // 2..7: windows wider than the channels too
    return { x: [1 + Math.floor(rnd() * 2), C, 2 + Math.floor(rnd() * 2), 3], a: randomLrn(rnd, size) };
  });
  it.each(cases.map((c) => [`x[${c.x}] ${JSON.stringify(c.a)}`, c] as const))('%s', async (_, c) => {
    await expectGrad({
      build: (b, dt) => b.op('LRN', [b.input('x', dt, c.x)], lrnAttrs(c.a)),
      inputs: { x: { dims: c.x, data: Array.from({ length: numel(c.x) }, (_, k) => 1.5 * Math.sin(1.3 * k + c.a.size)) } },
      dtype: 'float32',
      h: 1e-2,
      atol: 5e-3,
      rtol: 5e-3,
    });
  });
});

/**
 * Every size (even ones too) and ranks 2–5, in float64 against the spec: the gradient graph
 * is built for a float64 LRN; the forward node is then removed and its output fed from the
 * reference implementation (onnxruntime cannot run it), and dx is compared per element
 * with central differences of ⟨LRN(x), dY⟩ computed on the reference.
 */
describe('LRN gradient against the spec (float64, every size, ranks 2–5)', () => {
  const shapes = [[3, 5], [2, 4, 3], [1, 6, 2, 2], [1, 3, 2, 1, 2]];
  const cases = [1, 2, 3, 4, 5, 6].flatMap((size) => shapes.map((shape, k) => ({ size, shape, seed: 10 * size + k })));
  it.each(cases.map((c) => [`size ${c.size}, x[${c.shape}]`, c] as const))('%s', async (_, c) => {
    const rnd = mixedRandom(c.seed);
    const a = randomLrn(rnd, c.size);
    const n = numel(c.shape);
    const xs = Array.from({ length: n }, () => rnd() * 3 - 1.5);
    const dys = Array.from({ length: n }, () => rnd() * 2 - 1);

    const b = new GraphBuilder('lrn');
    const y = b.op('LRN', [b.input('x', DataType.DOUBLE, c.shape)], lrnAttrs(a), { outputNames: ['y'] });
    b.output(y);
    const model = b.model({ opset: 13 });
    differentiate(model, { wrt: ['x'], seeds: { y: 'dY' }, inputShapes: { x: c.shape } });
    const g = model.graph;
    const lrn = [...g.nodes].find((nd) => nd.opType === 'LRN')!;
    const fed = g.addInput(new Value('y_reference', tensorType(DataType.DOUBLE, c.shape)));
    y.replaceAllUsesWith(fed);
    g.outputs.splice(g.outputs.indexOf(fed), 1);
    g.removeNode(lrn, false);
    assertValid(model);
    const t = (data: number[]) => new ort.Tensor('float64', Float64Array.from(data), c.shape);
    const sess = await ort.InferenceSession.create(modelToBytes(model));
    const out = await sess.run({ x: t(xs), dY: t(dys), y_reference: t(lrnReference(xs, c.shape, a)) });
    await sess.release();
    const dx = out['grad:x']!.data as Float64Array;

    const loss = (v: number[]): number => lrnReference(v, c.shape, a).reduce((acc, yi, i) => acc + yi * dys[i]!, 0);
    const h = 1e-6;
    let largest = 0;
    for (let i = 0; i < n; i++) {
      const plus = [...xs];
      const minus = [...xs];
      plus[i] = plus[i]! + h;
      minus[i] = minus[i]! - h;
      const fd = (loss(plus) - loss(minus)) / (2 * h);
      expect(Math.abs(dx[i]! - fd), `dx[${i}]: ${dx[i]} vs ${fd}`).toBeLessThanOrEqual(1e-7 + 1e-6 * Math.abs(fd));
      largest = Math.max(largest, Math.abs(fd));
    }
    expect(largest).toBeGreaterThan(0.05);
  });
});

// ---------------------------------------------------------------- GridSample

// GridSample's value is piecewise polynomial in the grid, with breaks where a coordinate
// unnormalized to pixel units crosses an integer (linear, cubic: the taps change) or a
// half-integer (nearest: the rounding changes). The grids below are built in pixel units,
// every coordinate an integer plus a fraction in [0.15, 0.85] (nearest: in ±[0, 0.35]), so a
// difference step never crosses a break; the integer lies in [−2, S] (inside, and just
// outside on both sides) or, for reflection, in [−S−1, 2S] (reflected up to twice).
// onnxruntime runs GridSample in double only from opset 20 (4-D and 5-D; cubic 4-D only):
// those checks are float64 with gradCheck's defaults. Opset 16 runs in float32 only: there the
// step is 3e-3 in normalized units (≤ 0.01 pixels, well inside the breaks' margin) and the
// observed errors stay below 5% of atol = rtol = 2e-3 (float32 rounding of the loss, and the
// cubic's truncation error). The X gradient is also compared exactly with gridSampleTaps,
// grids on the breaks included.

type GridMode = 'linear' | 'cubic' | 'nearest';
type GridPadding = 'zeros' | 'border' | 'reflection';
const GRID_PADDINGS: GridPadding[] = ['zeros', 'border', 'reflection'];

/** A grid [N, O…, r] whose coordinates sit away from the breaks of `mode` (see above). */
function designedGrid(seed: number, xDims: number[], gridDims: number[], mode: GridMode, padding: GridPadding, alignCorners: boolean): number[] {
  const rnd = mixedRandom(seed);
  const sp = xDims.slice(2);
  const r = sp.length;
  return Array.from({ length: numel(gridDims) }, (_, i) => {
    const size = sp[r - 1 - (i % r)]!; // component 0 is the last spatial axis
    const whole = padding === 'reflection' ? -size - 1 + Math.floor(rnd() * (3 * size + 2)) : -2 + Math.floor(rnd() * (size + 3));
    const frac = mode === 'nearest' ? (rnd() * 2 - 1) * 0.35 : 0.15 + 0.7 * rnd();
    const u = whole + frac;
    return alignCorners ? (2 * u) / (size - 1) - 1 : (2 * u + 1) / size - 1;
  });
}

/**
 * The reading pattern of GridSample as onnxruntime 1.30 computes it, written independently of
 * the rule: for each batch entry and output position, the (pixel offset, weight) pairs with
 * y[n, c, o] = Σ weight · x[n, c, offset]. Padding acts on each tap's pixel index, never on
 * the coordinate.
 */
function gridSampleTaps(xDims: number[], grid: number[], gridDims: number[], mode: GridMode, padding: GridPadding, alignCorners: boolean): { offset: number; weight: number }[][] {
  const sp = xDims.slice(2);
  const r = sp.length;
  const positions = numel(gridDims.slice(0, -1));
  const A = -0.75;
  const kernel = (s: number): number => {
    const d = Math.abs(s);
    if (d <= 1) return ((A + 2) * d - (A + 3)) * d * d + 1;
    if (d < 2) return ((A * d - 5 * A) * d + 8 * A) * d - 4 * A;
    return 0;
  };
  const roundHalfEven = (v: number): number => {
    const fl = Math.floor(v);
    const diff = v - fl;
    return diff > 0.5 || (diff === 0.5 && fl % 2 !== 0) ? fl + 1 : fl;
  };
  const pixel = (i: number, size: number): number | null => {
    if (padding === 'zeros') return i >= 0 && i < size ? i : null;
    if (padding === 'border' || size === 1) return Math.min(Math.max(i, 0), size - 1);
    // Mirror about the edges (pixel centres with align_corners, pixel borders without) until inside.
    const lo = alignCorners ? 0 : -0.5;
    const hi = alignCorners ? size - 1 : size - 0.5;
    let v = i;
    while (v < lo || v > hi) v = v < lo ? 2 * lo - v : 2 * hi - v;
    return Math.trunc(v);
  };
  const out: { offset: number; weight: number }[][] = [];
  for (let p = 0; p < positions; p++) {
    let combos = [{ offset: 0, weight: 1 }];
    for (let a = 0; a < r; a++) {
      const size = sp[a]!;
      const g = grid[p * r + (r - 1 - a)]!;
      const u = alignCorners ? ((g + 1) / 2) * (size - 1) : ((g + 1) * size - 1) / 2;
      let taps: { i: number; w: number }[];
      if (mode === 'nearest') taps = [{ i: roundHalfEven(u), w: 1 }];
      else if (mode === 'linear') taps = [0, 1].map((k) => ({ i: Math.floor(u) + k, w: 1 - Math.abs(u - Math.floor(u) - k) }));
      else taps = [-1, 0, 1, 2].map((k) => ({ i: Math.floor(u) + k, w: kernel(u - Math.floor(u) - k) }));
      const stride = numel(sp.slice(a + 1));
      combos = combos.flatMap((cmb) =>
        taps.flatMap((t) => {
          const i = pixel(t.i, size);
          return i === null ? [] : [{ offset: cmb.offset + i * stride, weight: cmb.weight * t.w }];
        }),
      );
    }
    out.push(combos);
  }
  return out;
}

interface GridSampleSpec {
  x: number[];
  grid: number[];
  mode: GridMode;
  padding: GridPadding;
  alignCorners: boolean;
  opset: number;
}

const gridLabel = (s: GridSampleSpec): string => `${s.mode} ${s.padding} align_corners=${Number(s.alignCorners)} x[${s.x}] grid[${s.grid}] opset ${s.opset}`;
const gridModeName = (s: GridSampleSpec): string => (s.opset >= 20 || s.mode === 'nearest' ? s.mode : s.mode === 'linear' ? 'bilinear' : 'bicubic');
const gridAttrs = (s: GridSampleSpec): Attrs => ({ mode: gridModeName(s), padding_mode: s.padding, align_corners: Number(s.alignCorners) });

function gridSampleCase(s: GridSampleSpec, seed: number): GradCheckCase {
  const float32 = s.opset < 20;
  return {
    build: (b, dt) => b.op('GridSample', [b.input('x', dt, s.x), b.input('grid', dt, s.grid)], gridAttrs(s)),
    inputs: { x: { dims: s.x }, grid: { dims: s.grid, data: designedGrid(seed, s.x, s.grid, s.mode, s.padding, s.alignCorners) } },
    opset: s.opset,
    seed,
    ...(float32 ? { dtype: 'float32', h: 3e-3, atol: 2e-3, rtol: 2e-3 } : {}),
  };
}

async function expectGridSampleGrad(s: GridSampleSpec, seed: number): Promise<void> {
  const r = await gradCheck(gridSampleCase(s, seed));
  expect(r.ok, describeFailures(r)).toBe(true);
  const largest = (wrt: string): number => Math.max(...r.checks.filter((x) => x.wrt === wrt).map((x) => Math.abs(x.analytic)));
  expect(largest('x')).toBeGreaterThan(0.05);
  if (s.mode === 'nearest') expect(r.grads.grid!.every((v) => v === 0)).toBe(true);
  else expect(largest('grid')).toBeGreaterThan(0.05);
}

const gridCombos = (modes: GridMode[], x: number[], grid: number[], opset: number): GridSampleSpec[] =>
  modes.flatMap((mode) => GRID_PADDINGS.flatMap((padding) => [false, true].map((alignCorners) => ({ x, grid, mode, padding, alignCorners, opset }))));

describe('GridSample gradient, 4-D, opset 20 (float64)', () => {
  const cases = gridCombos(['linear', 'cubic', 'nearest'], [2, 3, 4, 5], [2, 3, 4, 2], 20);
  it.each(cases.map((s, i) => [gridLabel(s), s, i] as const))('%s', async (_, s, i) => {
    await expectGridSampleGrad(s, 900 + i);
  });
});

describe('GridSample gradient, 5-D, opset 20 (float64)', () => {
  const cases = gridCombos(['linear', 'nearest'], [1, 2, 3, 4, 5], [1, 2, 3, 2, 3], 20);
  it.each(cases.map((s, i) => [gridLabel(s), s, i] as const))('%s', async (_, s, i) => {
    await expectGridSampleGrad(s, 950 + i);
  });
});

describe('GridSample gradient, opset 16 (float32; bilinear/bicubic)', () => {
  const cases = gridCombos(['linear', 'cubic', 'nearest'], [2, 2, 5, 4], [2, 3, 3, 2], 16);
  it.each(cases.map((s, i) => [gridLabel(s), s, i] as const))('%s', async (_, s, i) => {
    await expectGridSampleGrad(s, 980 + i);
  });
});

/**
 * dX exactly against gridSampleTaps (whose forward is first checked against onnxruntime's),
 * on grids that hit pixel centres, half-pixels and the image edges exactly (the breaks,
 * where X's gradient is still well defined) as well as random points; with a batch size
 * known only at run time.
 */
describe('GridSample X gradient against the reading pattern (float64, exact)', () => {
  const specs = [...gridCombos(['linear', 'cubic', 'nearest'], [2, 2, 4, 5], [2, 3, 5, 2], 20), ...gridCombos(['linear', 'nearest'], [2, 1, 3, 2, 4], [2, 2, 3, 4, 3], 20)];
  it.each(specs.map((s, i) => [gridLabel(s), s, i] as const))('%s', async (_, s, i) => {
    const rnd = mixedRandom(1200 + i);
    const sp = s.x.slice(2);
    const r = sp.length;
    // Every other coordinate on a break: an integer or a half-integer in pixel units, some outside.
    const grid = Array.from({ length: numel(s.grid) }, (_, k) => {
      const size = sp[r - 1 - (k % r)]!;
      const [lo, hi] = s.padding === 'reflection' ? [-size - 1, 2 * size] : [-2, size + 1];
      const u = k % 2 === 0 ? lo + Math.floor(rnd() * (hi - lo) * 2) / 2 : lo + rnd() * (hi - lo);
      return s.alignCorners ? (2 * u) / (size - 1) - 1 : (2 * u + 1) / size - 1;
    });
    const xs = Array.from({ length: numel(s.x) }, () => rnd() * 2 - 1);
    const b = new GraphBuilder('gridsample');
    const y = b.op('GridSample', [b.input('x', DataType.DOUBLE, ['n', ...s.x.slice(1)]), b.input('grid', DataType.DOUBLE, ['n', ...s.grid.slice(1)])], gridAttrs(s), { outputNames: ['y'] });
    b.output(y);
    const model = b.model({ opset: s.opset });
    differentiate(model, { wrt: ['x'], seeds: { y: 'dY' } });
    assertValid(model);
    const yDims = [s.x[0]!, s.x[1]!, ...s.grid.slice(1, -1)];
    const dys = Array.from({ length: numel(yDims) }, () => rnd() * 2 - 1);
    const sess = await ort.InferenceSession.create(modelToBytes(model));
    const t = (data: number[], dims: number[]) => new ort.Tensor('float64', Float64Array.from(data), dims);
    const out = await sess.run({ x: t(xs, s.x), grid: t(grid, s.grid), dY: t(dys, yDims) });
    await sess.release();

    const [N, C] = s.x as [number, number];
    const P = numel(sp);
    const Q = numel(s.grid.slice(1, -1));
    const taps = gridSampleTaps(s.x, grid, s.grid, s.mode, s.padding, s.alignCorners);
    const yRef = new Float64Array(N * C * Q);
    const dxRef = new Float64Array(N * C * P);
    for (let n = 0; n < N; n++)
      for (let q = 0; q < Q; q++)
        for (const { offset, weight } of taps[n * Q + q]!)
          for (let ch = 0; ch < C; ch++) {
            const [yi, xi] = [(n * C + ch) * Q + q, (n * C + ch) * P + offset];
            yRef[yi] = yRef[yi]! + weight * xs[xi]!;
            dxRef[xi] = dxRef[xi]! + weight * dys[yi]!;
          }
    const yOrt = out.y!.data as Float64Array;
    yRef.forEach((v, k) => expect(Math.abs(v - yOrt[k]!), `y[${k}]`).toBeLessThan(1e-12));
    const dx = out['grad:x']!.data as Float64Array;
    dxRef.forEach((v, k) => expect(Math.abs(v - dx[k]!), `dx[${k}]: ${dx[k]} vs ${v}`).toBeLessThan(1e-12));
    expect(Math.max(...dxRef.map(Math.abs))).toBeGreaterThan(0.05);
  });
});

describe('GridSample gradient: coded errors', () => {
  it('needs the static spatial shape of X', () => {
    const b = new GraphBuilder('t');
    const y = b.op('GridSample', [b.input('x', DataType.FLOAT, [1, 2, 'h', 'w']), b.input('grid', DataType.FLOAT, [1, 3, 3, 2])], { mode: 'bilinear' });
    b.output(b.op('ReduceSum', [y], { keepdims: 0 }, { outputNames: ['loss'] }));
    const err = differentiateError(b.model({ opset: 16 }), { wrt: ['x'], loss: 'loss' });
    expect(err.code).toBe('E_AUTODIFF');
    expect(err.message).toContain('static spatial shape');
  });
});
