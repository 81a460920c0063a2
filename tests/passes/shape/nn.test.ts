// Convolutions, pools, normalizations, matrix products, recurrent layers and
// quantization: exact shapes, checked against onnxruntime.

import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import { codes, expectOrtAgrees, infer, inferClean } from './helpers.js';

const F = DataType.FLOAT;

describe('Conv and ConvTranspose', () => {
  it('Conv: pads, strides, dilations, groups, auto_pad, symbolic batch', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, ['N', 8, 17, 20]);
    const w = b.weight('w', [16, 4, 3, 3]);
    const plain = b.op('Conv', [x, w], { group: 2 });
    const padded = b.op('Conv', [x, w], { group: 2, pads: [1, 2, 0, 1], strides: [2, 3], dilations: [2, 1] });
    const same = b.op('Conv', [x, w], { group: 2, auto_pad: 'SAME_UPPER', strides: [2, 2] });
    const lower = b.op('Conv', [x, w], { group: 2, auto_pad: 'SAME_LOWER', strides: [3, 1] });
    const valid = b.op('Conv', [x, w], { group: 2, auto_pad: 'VALID', strides: [2, 2] });
    const noKernelAttr = b.op('Conv', [x, b.weight('w1', [5, 8, 1, 1]), b.init('bias', F, [5], new Float32Array(5))]);
    for (const v of [plain, padded, same, lower, valid, noKernelAttr]) b.output(v);
    const m = b.model({ opset: 13 });
    inferClean(m);
    expect(plain.shape).toEqual(['N', 16, 15, 18]);
    // H: (17 + 1 + 0 - 5) / 2 + 1 = 7; W: (20 + 2 + 1 - 3) / 3 + 1 = 7
    expect(padded.shape).toEqual(['N', 16, 7, 7]);
    expect(same.shape).toEqual(['N', 16, 9, 10]);
    expect(lower.shape).toEqual(['N', 16, 6, 20]);
    expect(valid.shape).toEqual(['N', 16, 8, 9]);
    expect(noKernelAttr.shape).toEqual(['N', 5, 17, 20]);
    await expectOrtAgrees(m, { x: [2, 8, 17, 20] }, { N: 2 });
  });

  it('Conv 1-D and 3-D; symbolic spatial dims survive only shape-preserving windows', () => {
    const b = new GraphBuilder();
    const x1 = b.input('x1', F, [1, 2, 'L']);
    const c1 = b.op('Conv', [x1, b.weight('w1', [4, 2, 3])], { pads: [1, 1] });
    const c1s = b.op('Conv', [x1, b.weight('w2', [4, 2, 3])], { strides: [2] });
    const x3 = b.input('x3', F, [1, 2, 5, 6, 7]);
    const c3 = b.op('Conv', [x3, b.weight('w3', [3, 2, 3, 3, 3])], { pads: [0, 1, 1, 0, 1, 1] });
    for (const v of [c1, c1s, c3]) b.output(v);
    inferClean(b.model({ opset: 13 }));
    expect(c1.shape).toEqual([1, 4, 'L']);
    expect(c1s.shape).toEqual([1, 4, null]);
    expect(c3.shape).toEqual([1, 3, 3, 6, 7]);
  });

  it('Conv with a channel mismatch is a W_SHAPE_CONFLICT warning, not an error', () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [1, 3, 8, 8]);
    const y = b.op('Conv', [x, b.weight('w', [4, 5, 3, 3])]);
    b.output(y);
    expect(codes(infer(b.model()))).toEqual(['W_SHAPE_CONFLICT']);
    expect(y.shape).toEqual([1, 4, 6, 6]);
  });

  it('ConvTranspose: strides, pads, output_padding, output_shape, auto_pad, groups', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, ['N', 4, 5, 6]);
    const w = b.weight('w', [4, 3, 3, 3]);
    const plain = b.op('ConvTranspose', [x, w]);
    const strided = b.op('ConvTranspose', [x, w], { strides: [2, 3], pads: [1, 0, 1, 2], output_padding: [1, 2] });
    const shaped = b.op('ConvTranspose', [x, w], { strides: [2, 2], output_shape: [10, 12] });
    const same = b.op('ConvTranspose', [x, w], { strides: [2, 2], auto_pad: 'SAME_UPPER' });
    const grouped = b.op('ConvTranspose', [x, b.weight('wg', [4, 2, 2, 2])], { group: 2, strides: [2, 2], dilations: [2, 1] });
    for (const v of [plain, strided, shaped, same, grouped]) b.output(v);
    const m = b.model({ opset: 13 });
    inferClean(m);
    expect(plain.shape).toEqual(['N', 3, 7, 8]);
    // 2·(5−1) + 1 + 3 − 2 = 10; 3·(6−1) + 2 + 3 − 2 = 18
    expect(strided.shape).toEqual(['N', 3, 10, 18]);
    expect(shaped.shape).toEqual(['N', 3, 10, 12]);
    expect(same.shape).toEqual(['N', 3, 10, 12]);
    expect(grouped.shape).toEqual(['N', 4, 11, 12]);
    await expectOrtAgrees(m, { x: [2, 4, 5, 6] }, { N: 2 });
  });
});

describe('pooling', () => {
  it('MaxPool (+ indices), AveragePool, LpPool: pads, strides, ceil_mode, dilations, auto_pad', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [1, 3, 10, 11]);
    const [mp, idx] = b.opMulti('MaxPool', [x], 2, { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 });
    const mpd = b.op('MaxPool', [x], { kernel_shape: [2, 2], dilations: [2, 3], pads: [1, 1, 1, 1] });
    const ap = b.op('AveragePool', [x], { kernel_shape: [3, 2], strides: [3, 3], pads: [1, 0, 1, 0], ceil_mode: 1 });
    const apSame = b.op('AveragePool', [x], { kernel_shape: [3, 3], strides: [2, 2], auto_pad: 'SAME_UPPER' });
    const lp = b.op('LpPool', [x], { kernel_shape: [2, 2], strides: [2, 2], p: 2 });
    const mpCeilEdge = b.op('MaxPool', [x], { kernel_shape: [2, 2], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1 });
    for (const v of [mp!, idx!, mpd, ap, apSame, lp, mpCeilEdge]) b.output(v);
    const m = b.model({ opset: 18 });
    inferClean(m);
    expect(mp!.shape).toEqual([1, 3, 5, 5]);
    expect(idx!.shape).toEqual([1, 3, 5, 5]);
    expect(idx!.dtype).toBe(DataType.INT64);
    expect(mpd.shape).toEqual([1, 3, 10, 10]);
    expect(ap.shape).toEqual([1, 3, 4, 4]);
    expect(apSame.shape).toEqual([1, 3, 5, 6]);
    expect(lp.shape).toEqual([1, 3, 5, 5]);
    // W: ceil((11 + 2 − 2) / 2) + 1 = 7, but the 7th window would start in the right padding
    expect(mpCeilEdge.shape).toEqual([1, 3, 6, 6]);
    await expectOrtAgrees(m);
  });

  it('global pools keep N and C', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, ['N', 5, 7, 9]);
    const ga = b.op('GlobalAveragePool', [x]);
    const gm = b.op('GlobalMaxPool', [x]);
    b.output(ga);
    b.output(gm);
    const m = b.model({ opset: 13 });
    inferClean(m);
    expect(ga.shape).toEqual(['N', 5, 1, 1]);
    expect(gm.shape).toEqual(['N', 5, 1, 1]);
    await expectOrtAgrees(m, { x: [2, 5, 7, 9] }, { N: 2 });
  });
});

describe('normalization', () => {
  it('BatchNormalization (inference and training outputs), InstanceNormalization, LayerNormalization, GroupNormalization', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, ['N', 4, 6, 6]);
    const c4 = (name: string, v = 1) => b.init(name, F, [4], new Float32Array(4).fill(v));
    const bn = b.op('BatchNormalization', [x, c4('s'), c4('b', 0), c4('m', 0), c4('v')]);
    const inorm = b.op('InstanceNormalization', [x, c4('is'), c4('ib', 0)]);
    const [ln, mean, inv] = b.opMulti('LayerNormalization', [x, b.init('ls', F, [6, 6], new Float32Array(36).fill(1))], 3, { axis: -2 });
    const gn = b.op('GroupNormalization', [x, b.init('gs', F, [2], new Float32Array(2).fill(1)), b.init('gb', F, [2], new Float32Array(2))], { num_groups: 2 });
    for (const v of [bn, inorm, ln!, mean!, inv!, gn]) b.output(v);
    const m = b.model({ opset: 18 });
    inferClean(m);
    expect(bn.shape).toEqual(['N', 4, 6, 6]);
    expect(inorm.shape).toEqual(['N', 4, 6, 6]);
    expect(ln!.shape).toEqual(['N', 4, 6, 6]);
    expect(mean!.shape).toEqual(['N', 4, 1, 1]);
    expect(inv!.dtype).toBe(F);
    expect(gn.shape).toEqual(['N', 4, 6, 6]);
    await expectOrtAgrees(m, { x: [2, 4, 6, 6] }, { N: 2 });

    // training mode: running mean / var outputs shaped [C] (opset 15), four stats at opset 9
    const bt = new GraphBuilder();
    const xt = bt.input('x', F, [2, 4, 3]);
    const c = (name: string) => bt.init(name, F, [4], new Float32Array(4).fill(1));
    const [y, rm, rv] = bt.opMulti('BatchNormalization', [xt, c('s'), c('b'), c('m'), c('v')], 3, { training_mode: 1 });
    for (const v of [y!, rm!, rv!]) bt.output(v);
    inferClean(bt.model({ opset: 15 }));
    expect([y!.shape, rm!.shape, rv!.shape]).toEqual([[2, 4, 3], [4], [4]]);

    const b9 = new GraphBuilder();
    const x9 = b9.input('x', F, [2, 4, 3]);
    const c9 = (name: string) => b9.init(name, F, [4], new Float32Array(4).fill(1));
    const outs = b9.opMulti('BatchNormalization', [x9, c9('s'), c9('b'), c9('m'), c9('v')], 5, {});
    outs.forEach((v) => b9.output(v));
    inferClean(b9.model({ opset: 9 }));
    expect(outs.map((v) => v.shape)).toEqual([[2, 4, 3], [4], [4], [4], [4]]);
  });
});

describe('matrix products', () => {
  it('MatMul: batched with broadcasting, 1-D operands', async () => {
    const b = new GraphBuilder();
    const a = b.input('a', F, ['N', 1, 3, 4]);
    const w = b.weight('w', [5, 4, 6]);
    const v = b.weight('v', [4]);
    const u = b.weight('u', [3]);
    const mm = b.op('MatMul', [a, w]);
    const mv = b.op('MatMul', [a, v]);
    const vm = b.op('MatMul', [u, a]);
    const vv = b.op('MatMul', [v, v]);
    for (const x of [mm, mv, vm, vv]) b.output(x);
    const m = b.model({ opset: 13 });
    inferClean(m);
    expect(mm.shape).toEqual(['N', 5, 3, 6]);
    expect(mv.shape).toEqual(['N', 1, 3]);
    expect(vm.shape).toEqual(['N', 1, 4]);
    expect(vv.shape).toEqual([]);
    await expectOrtAgrees(m, { a: [2, 1, 3, 4] }, { N: 2 });
  });

  it('MatMul inner-dim mismatch warns; Gemm honours transA/transB', async () => {
    const b = new GraphBuilder();
    const a = b.input('a', F, [3, 4]);
    const bad = b.op('MatMul', [a, b.weight('w', [5, 2])]);
    b.output(bad);
    expect(codes(infer(b.model()))).toEqual(['W_SHAPE_CONFLICT']);
    expect(bad.shape).toEqual([3, 2]);

    const g = new GraphBuilder();
    const x = g.input('x', F, ['N', 4]);
    const y1 = g.op('Gemm', [x, g.weight('w1', [4, 6])]);
    const y2 = g.op('Gemm', [x, g.weight('w2', [7, 4]), g.weight('c', [7])], { transB: 1 });
    const y3 = g.op('Gemm', [g.weight('a', [4, 3]), g.weight('w3', [5, 4])], { transA: 1, transB: 1 });
    for (const v of [y1, y2, y3]) g.output(v);
    const m = g.model({ opset: 13 });
    inferClean(m);
    expect(y1.shape).toEqual(['N', 6]);
    expect(y2.shape).toEqual(['N', 7]);
    expect(y3.shape).toEqual([3, 5]);
    await expectOrtAgrees(m, { x: [3, 4] }, { N: 3 });
  });

  it('Einsum: matmul-like, batched, transposes, reductions, implicit output, ellipsis', async () => {
    const b = new GraphBuilder();
    const p = b.input('p', F, [2, 3, 4]);
    const q = b.input('q', F, [2, 4, 5]);
    const bmm = b.op('Einsum', [p, q], { equation: 'bij,bjk->bik' });
    const t = b.op('Einsum', [p], { equation: 'bij->jib' });
    const red = b.op('Einsum', [p], { equation: 'bij->b' });
    const implicit = b.op('Einsum', [p, q], { equation: 'bij,bjk' });
    const ell = b.op('Einsum', [p, q], { equation: '...ij,...jk->...ik' });
    const outer = b.op('Einsum', [b.weight('u', [3]), b.weight('v', [5])], { equation: 'i,j->ij' });
    for (const v of [bmm, t, red, implicit, ell, outer]) b.output(v);
    const m = b.model({ opset: 13 });
    inferClean(m);
    expect(bmm.shape).toEqual([2, 3, 5]);
    expect(t.shape).toEqual([4, 3, 2]);
    expect(red.shape).toEqual([2]);
    expect(implicit.shape).toEqual([3, 5]); // i and k appear once: sorted 'ik'
    expect(ell.shape).toEqual([2, 3, 5]);
    expect(outer.shape).toEqual([3, 5]);
    await expectOrtAgrees(m);
  });

  it('NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss: target-shaped or scalar loss, scores-shaped log_prob', async () => {
    const b = new GraphBuilder();
    const scores = b.input('scores', F, [2, 5, 3]);
    const labels = b.input('labels', DataType.INT64, [2, 3]);
    const none = b.op('NegativeLogLikelihoodLoss', [scores, labels], { reduction: 'none' });
    const mean = b.op('NegativeLogLikelihoodLoss', [scores, labels], {});
    const [sce, logProb] = b.opMulti('SoftmaxCrossEntropyLoss', [scores, labels], 2, { reduction: 'sum' });
    for (const v of [none, mean, sce!, logProb!]) b.output(v);
    const m = b.model({ opset: 13 });
    inferClean(m);
    expect(none.shape).toEqual([2, 3]);
    expect(mean.shape).toEqual([]);
    expect(sce!.shape).toEqual([]);
    expect(logProb!.shape).toEqual([2, 5, 3]);
    await expectOrtAgrees(m);
  });

  it('MaxUnpool: the default unpooled size, or output_shape', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [1, 2, 8, 6]);
    const [pooled, idx] = b.opMulti('MaxPool', [x], 2, { kernel_shape: [3, 2], strides: [2, 2], pads: [1, 0, 0, 0] });
    const back = b.op('MaxUnpool', [pooled!, idx!], { kernel_shape: [3, 2], strides: [2, 2], pads: [1, 0, 0, 0] });
    const shaped = b.op('MaxUnpool', [pooled!, idx!, b.init('os', DataType.INT64, [4], [1, 2, 8, 6])], { kernel_shape: [3, 2], strides: [2, 2], pads: [1, 0, 0, 0] });
    for (const v of [back, shaped]) b.output(v);
    const m = b.model({ opset: 11 });
    inferClean(m);
    expect(pooled!.shape).toEqual([1, 2, 4, 3]);
    expect(back.shape).toEqual([1, 2, 8, 6]); // (4 − 1)·2 − 1 + 3, (3 − 1)·2 + 2
    expect(shaped.shape).toEqual([1, 2, 8, 6]);
    await expectOrtAgrees(m);
  });

  it('Einsum: a label of size 1 in one operand broadcasts against the other', async () => {
    const b = new GraphBuilder();
    const p = b.input('p', F, [1, 3]);
    const q = b.input('q', F, [2, 3]);
    const first = b.op('Einsum', [p, q], { equation: 'ij,ij->ij' });
    const second = b.op('Einsum', [q, p], { equation: 'ij,ij->ij' });
    for (const v of [first, second]) b.output(v);
    const m = b.model({ opset: 13 });
    inferClean(m);
    expect(first.shape).toEqual([2, 3]);
    expect(second.shape).toEqual([2, 3]);
    await expectOrtAgrees(m);
  });
});

describe('recurrent layers, quantization, depth/space', () => {
  it('LSTM and GRU outputs (both directions)', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [7, 'N', 5]);
    const [y, yh, yc] = b.opMulti('LSTM', [x, b.weight('W', [2, 16, 5]), b.weight('R', [2, 16, 4])], 3, { hidden_size: 4, direction: 'bidirectional' });
    const [gy, gyh] = b.opMulti('GRU', [x, b.weight('GW', [1, 9, 5]), b.weight('GR', [1, 9, 3])], 2, {});
    for (const v of [y!, yh!, yc!, gy!, gyh!]) b.output(v);
    const m = b.model({ opset: 14 });
    inferClean(m);
    expect(y!.shape).toEqual([7, 2, 'N', 4]);
    expect(yh!.shape).toEqual([2, 'N', 4]);
    expect(yc!.shape).toEqual([2, 'N', 4]);
    expect(gy!.shape).toEqual([7, 1, 'N', 3]); // hidden size from W: 9 / 3 gates
    expect(gyh!.shape).toEqual([1, 'N', 3]);
    gy!.producer()!.setAttr({ name: 'hidden_size', type: 2, value: 3 });
    await expectOrtAgrees(m, { x: [7, 2, 5] }, { N: 2 });
  });

  it('QuantizeLinear / DequantizeLinear types, DepthToSpace / SpaceToDepth shapes', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, ['N', 8, 4, 6]);
    const q = b.op('QuantizeLinear', [x, b.constant('sc', F, [], [0.1]), b.constant('zp', DataType.INT8, [], [0])]);
    const qu = b.op('QuantizeLinear', [x, b.constant('sc2', F, [], [0.1])]);
    const dq = b.op('DequantizeLinear', [q, b.constant('sc3', F, [], [0.1]), b.constant('zp2', DataType.INT8, [], [0])]);
    const d2s = b.op('DepthToSpace', [x], { blocksize: 2, mode: 'CRD' });
    const s2d = b.op('SpaceToDepth', [x], { blocksize: 2 });
    for (const v of [q, qu, dq, d2s, s2d]) b.output(v);
    const m = b.model({ opset: 13 });
    inferClean(m);
    expect(q.dtype).toBe(DataType.INT8);
    expect(qu.dtype).toBe(DataType.UINT8);
    expect(dq.dtype).toBe(F);
    expect(dq.shape).toEqual(['N', 8, 4, 6]);
    expect(d2s.shape).toEqual(['N', 2, 8, 12]);
    expect(s2d.shape).toEqual(['N', 32, 2, 3]);
    await expectOrtAgrees(m, { x: [2, 8, 4, 6] }, { N: 2 });
  });
});
