// Shape rules of Constant, Shape, Size, ConstantOfShape, Range, EyeLike (and OneHot, NonZero,
// CumSum checked alongside), and folded shape arithmetic through them (PyTorch-style exports),
// checked against onnxruntime where it can run the model.

import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import { Tensor } from '../../../src/ir/tensor.js';
import { knownValueOf } from '../../../src/passes/shape/index.js';
import { expectOrtAgrees, i64, inferClean } from './helpers.js';

const F = DataType.FLOAT;
const I64 = DataType.INT64;
const INT64_MAX = 9223372036854775807n;

describe('symbolic shape arithmetic (PyTorch-style exports)', () => {
  it('Shape → Gather → Unsqueeze → Concat → Reshape keeps N', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, ['N', 3, 8, 8]);
    const shape = b.op('Shape', [x]);
    const n = b.op('Gather', [shape, b.constant('zero', I64, [], [0])], { axis: 0 });
    const nn = b.op('Unsqueeze', [n, i64(b, 'ax0', [0])]);
    const target = b.op('Concat', [nn, b.constant('minus1', I64, [1], [-1])], { axis: 0 }, { outputNames: ['target'] });
    const y = b.op('Reshape', [x, target], {}, { outputNames: ['y'] });
    // H/2 computed from the shape: Gather → Div → Unsqueeze → Concat
    const h = b.op('Gather', [shape, b.constant('two', I64, [], [2])], { axis: 0 });
    const h2 = b.op('Div', [h, b.constant('c2', I64, [], [2])]);
    const t2 = b.op('Concat', [nn, i64(b, 'c48', [48]), b.op('Unsqueeze', [h2, i64(b, 'ax1', [0])])], { axis: 0 });
    const z = b.op('Reshape', [x, t2], {}, { outputNames: ['z'] });
    b.output(y);
    b.output(z);
    const m = b.model({ opset: 13 });
    inferClean(m);
    expect(knownValueOf(target)!.data).toEqual(['N', -1]);
    expect(y.shape).toEqual(['N', 192]);
    expect(z.shape).toEqual(['N', 48, 4]);
    expect(y.dtype).toBe(F);
    await expectOrtAgrees(m, { x: [2, 3, 8, 8] }, { N: 2 });
  });

  it('folds Cast, Slice, Mul, Sub, Equal, Where, ConstantOfShape, Range, ReduceProd over symbols', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, ['N', 4, 6]);
    const s = b.op('Cast', [b.op('Shape', [x])], { to: DataType.INT64 });
    const tail = b.op('Slice', [s, i64(b, 'st', [1]), i64(b, 'en', [INT64_MAX])]); // [4, 6]
    const prod = b.op('ReduceProd', [tail], { keepdims: 1 }); // [24]
    const head = b.op('Slice', [s, i64(b, 'st0', [0]), i64(b, 'en0', [1])]); // [N]
    const isNeg = b.op('Equal', [head, i64(b, 'neg1', [-1])]); // false: dims are never -1
    const safeHead = b.op('Where', [isNeg, i64(b, 'one', [1]), head]); // [N]
    const target = b.op('Concat', [safeHead, prod], { axis: 0 }, { outputNames: ['t'] });
    const y = b.op('Reshape', [x, target], {}, { outputNames: ['y'] });
    const twice = b.op('Mul', [head, i64(b, 'two', [2])], {}, { outputNames: ['twice'] }); // [2*N]
    const less = b.op('Sub', [twice, head], {}, { outputNames: ['less'] }); // [N]
    const fillShape = b.op('Concat', [less, i64(b, 'three', [3])], { axis: 0 });
    const filled = b.op('ConstantOfShape', [fillShape], { value: Tensor.fromArray('v', F, [1], [0.5]) }, { outputNames: ['filled'] });
    const w = b.op('Squeeze', [b.op('Slice', [s, i64(b, 'a1', [2]), i64(b, 'a2', [3])]), i64(b, 'sq', [0])]); // 6
    const r = b.op('Range', [b.constant('r0', I64, [], [0]), w, b.constant('r1', I64, [], [1])], {}, { outputNames: ['range'] });
    b.output(y);
    b.output(filled);
    b.output(r);
    const m = b.model({ opset: 13 });
    inferClean(m);
    expect(knownValueOf(target)!.data).toEqual(['N', 24]);
    expect(y.shape).toEqual(['N', 24]);
    expect(knownValueOf(twice)!.data).toEqual(['2*N']);
    expect(knownValueOf(less)!.data).toEqual(['N']);
    expect(filled.shape).toEqual(['N', 3]);
    expect(filled.dtype).toBe(F);
    expect(r.shape).toEqual([6]);
    expect(knownValueOf(r)!.data).toEqual([0, 1, 2, 3, 4, 5]);
    await expectOrtAgrees(m, { x: [3, 4, 6] }, { N: 3 });
  });

  it('Resize with sizes computed from Shape, and Slice up to a symbolic end, stay symbolic', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, ['N', 3, 'H', 'W']);
    const s = b.op('Shape', [x]);
    const nc = b.op('Slice', [s, i64(b, 'z', [0]), i64(b, 't', [2])]);
    const hw = b.op('Slice', [s, i64(b, 't2', [2]), i64(b, 'f', [4])]);
    const sizes = b.op('Concat', [nc, b.op('Mul', [hw, i64(b, 'two', [2])])], { axis: 0 });
    const up = b.op('Resize', [x, null, null, sizes], { mode: 'nearest' }, { outputNames: ['up'] });
    const w = b.op('Gather', [s, b.constant('three', I64, [1], [3])]);
    const head = b.op('Slice', [x, i64(b, 'st', [0]), w, i64(b, 'ax', [3])], {}, { outputNames: ['head'] });
    b.output(up);
    b.output(head);
    const m = b.model({ opset: 13 });
    inferClean(m);
    expect(up.shape).toEqual(['N', 3, '2*H', '2*W']);
    expect(head.shape).toEqual(['N', 3, 'H', 'W']);
    await expectOrtAgrees(m, { x: [2, 3, 5, 7] }, { N: 2, H: 5, W: 7 });
  });
});


describe('Shape, Size, ConstantOfShape, Range, EyeLike, OneHot, NonZero, CumSum', () => {
  it('Shape with start/end (opset 15) and Size', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, ['N', 3, 4, 5]);
    const s = b.op('Shape', [x], { start: 1, end: -1 });
    const s2 = b.op('Shape', [x], { start: -2 });
    const sz = b.op('Size', [x]);
    for (const v of [s, s2, sz]) b.output(v);
    const m = b.model({ opset: 15 });
    inferClean(m);
    expect(s.shape).toEqual([2]);
    expect(knownValueOf(s)!.data).toEqual([3, 4]);
    expect(knownValueOf(s2)!.data).toEqual([4, 5]);
    expect(sz.shape).toEqual([]);
    expect(knownValueOf(sz)!.data).toEqual(['60*N']);
    await expectOrtAgrees(m, { x: [2, 3, 4, 5] }, { N: 2 });
  });

  it('ConstantOfShape, Range, EyeLike, OneHot, NonZero, CumSum', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [3, 4]);
    const cos = b.op('ConstantOfShape', [i64(b, 'sh', [2, 3])], { value: Tensor.fromArray('v', DataType.INT32, [1], [7]) });
    const cosDefault = b.op('ConstantOfShape', [b.op('Shape', [x])]);
    const rg = b.op('Range', [b.constant('a', F, [], [1]), b.constant('l', F, [], [2]), b.constant('d', F, [], [0.3])]);
    const eye = b.op('EyeLike', [x], { dtype: DataType.DOUBLE });
    const oh = b.op('OneHot', [i64(b, 'ind', [0, 1, 2], [3]), b.constant('depth', I64, [], [5]), b.constant('vals', F, [2], [0, 1])], { axis: 0 });
    const cs = b.op('CumSum', [x, b.constant('ax', I64, [], [1])]);
    for (const v of [cos, cosDefault, rg, eye, oh, cs]) b.output(v);
    const m = b.model({ opset: 13 });
    inferClean(m);
    expect(cos.shape).toEqual([2, 3]);
    expect(cos.dtype).toBe(DataType.INT32);
    expect(cosDefault.shape).toEqual([3, 4]);
    expect(cosDefault.dtype).toBe(F);
    expect(rg.shape).toEqual([4]);
    expect(eye.dtype).toBe(DataType.DOUBLE);
    expect(eye.shape).toEqual([3, 4]);
    expect(oh.shape).toEqual([5, 3]);
    expect(cs.shape).toEqual([3, 4]);
    await expectOrtAgrees(m);
  });

  it('NonZero has a data-dependent dim unless its input is known', () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [3, 4]);
    const nz = b.op('NonZero', [x]);
    const nk = b.op('NonZero', [b.constant('k', I64, [2, 2], [0, 1, 2, 0])]);
    b.output(nz);
    b.output(nk);
    inferClean(b.model({ opset: 13 }));
    expect(nz.shape).toEqual([2, null]);
    expect(nz.dtype).toBe(I64);
    expect(nk.shape).toEqual([2, 2]);
  });
});
