// Elementwise ops (broadcasting, comparison dtypes, activations, casts) and reductions
// (axes as attribute vs input by opset), checked against onnxruntime.

import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import { knownValueOf } from '../../../src/passes/shape/index.js';
import { codes, expectOrtAgrees, infer, inferClean } from './helpers.js';

const F = DataType.FLOAT;
const I64 = DataType.INT64;
const B = DataType.BOOL;

describe('broadcasting arithmetic, comparison and logic', () => {
  it('numpy broadcasting with symbols; comparisons give bool; Where takes X’s type', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, ['N', 1, 4]);
    const y = b.input('y', F, [3, 1]);
    const outs: Record<string, ReturnType<GraphBuilder['op']>> = {};
    for (const op of ['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Sum', 'Mean']) outs[op] = b.op(op, [x, y]);
    for (const op of ['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual']) outs[op] = b.op(op, [x, y]);
    outs.And = b.op('And', [outs.Less!, outs.Greater!]);
    outs.Or = b.op('Or', [outs.Less!, b.input('c', B, [4])]);
    outs.Xor = b.op('Xor', [outs.Equal!, outs.Less!]);
    outs.Not = b.op('Not', [outs.And!]);
    outs.Where = b.op('Where', [outs.Less!, x, b.constant('zero', F, [], [0])]);
    outs.Max3 = b.op('Max', [x, y, b.constant('k', F, [1, 1, 1, 4], [1, 2, 3, 4])]);
    outs.Mod = b.op('Mod', [b.input('i', I64, [2, 3]), b.constant('three', I64, [3], [3, 4, 5])]);
    for (const v of Object.values(outs)) b.output(v);
    const m = b.model({ opset: 13 });
    inferClean(m);
    for (const op of ['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Sum', 'Mean', 'Where']) {
      expect([op, outs[op]!.dtype, outs[op]!.shape]).toEqual([op, F, ['N', 3, 4]]);
    }
    for (const op of ['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'And', 'Or', 'Xor', 'Not']) {
      expect([op, outs[op]!.dtype, outs[op]!.shape]).toEqual([op, B, ['N', 3, 4]]);
    }
    expect(outs.Max3!.shape).toEqual([1, 'N', 3, 4]);
    expect(outs.Mod!.shape).toEqual([2, 3]);
    expect(outs.Mod!.dtype).toBe(I64);
    await expectOrtAgrees(m, { x: [2, 1, 4] }, { N: 2 });
  });

  it('incompatible static dims are a W_SHAPE_CONFLICT warning', () => {
    const b = new GraphBuilder();
    const y = b.op('Add', [b.input('a', F, [2, 3]), b.input('b', F, [4, 3])]);
    b.output(y);
    const ds = infer(b.model());
    expect(codes(ds)).toEqual(['W_SHAPE_CONFLICT']);
    expect(ds[0]!.message).toMatch(/broadcast/);
    expect(y.shape).toEqual([null, 3]);
  });

  it('an unknown dim broadcast against a static one takes the static size', () => {
    const b = new GraphBuilder();
    const y = b.op('Mul', [b.input('a', F, [null, 1, 'N']), b.input('b', F, [5, 1, 7])]);
    b.output(y);
    inferClean(b.model());
    expect(y.shape).toEqual([5, 1, 7]);
  });

  it('opset 6 legacy broadcast keeps A’s shape', () => {
    const b = new GraphBuilder();
    const y = b.op('Add', [b.input('a', F, [2, 3, 4]), b.input('b', F, [3])], { broadcast: 1, axis: 1 });
    b.output(y);
    inferClean(b.model({ opset: 6 }));
    expect(y.shape).toEqual([2, 3, 4]);
  });

  it('folds integer arithmetic with C semantics (truncating Div, sign of divisor for Mod)', () => {
    const b = new GraphBuilder();
    const a = b.constant('a', I64, [4], [7, -7, 7, -7]);
    const d = b.constant('d', I64, [4], [2, 2, -2, -2]);
    const div = b.op('Div', [a, d]);
    const mod = b.op('Mod', [a, d]);
    const fmod = b.op('Mod', [a, d], { fmod: 1 });
    for (const v of [div, mod, fmod]) b.output(v);
    inferClean(b.model({ opset: 13 }));
    expect(knownValueOf(div)!.data).toEqual([3, -3, -3, 3]);
    expect(knownValueOf(mod)!.data).toEqual([1, 1, -1, -1]);
    expect(knownValueOf(fmod)!.data).toEqual([1, -1, 1, -1]);
  });
});

describe('activations and unary math keep the input type', () => {
  it('activations, softmax family, unary math; IsNaN/IsInf give bool', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, ['N', 3, 5]);
    const same = [
      b.op('Relu', [x]),
      b.op('LeakyRelu', [x], { alpha: 0.2 }),
      b.op('PRelu', [x, b.weight('slope', [3, 1])]),
      b.op('Elu', [x]),
      b.op('Selu', [x]),
      b.op('Celu', [x]),
      b.op('HardSigmoid', [x]),
      b.op('HardSwish', [x]),
      b.op('Sigmoid', [x]),
      b.op('Tanh', [x]),
      b.op('Erf', [x]),
      b.op('Softplus', [x]),
      b.op('Softsign', [x]),
      b.op('Mish', [x]),
      b.op('ThresholdedRelu', [x]),
      b.op('Softmax', [x], { axis: 1 }),
      b.op('LogSoftmax', [x]),
      b.op('Hardmax', [x]),
      ...['Sqrt', 'Exp', 'Log', 'Neg', 'Abs', 'Reciprocal', 'Floor', 'Ceil', 'Round', 'Sign', 'Sin', 'Cos'].map((op) => b.op(op, [x])),
      b.op('Clip', [x, b.constant('lo', F, [], [-1]), b.constant('hi', F, [], [1])]),
      b.op('Clip', [x]),
    ];
    const nan = b.op('IsNaN', [x]);
    const inf = b.op('IsInf', [x]);
    for (const v of [...same, nan, inf]) b.output(v);
    const m = b.model({ opset: 18 });
    inferClean(m);
    for (const v of same) expect([v.name, v.dtype, v.shape]).toEqual([v.name, F, ['N', 3, 5]]);
    expect(nan.dtype).toBe(B);
    expect(inf.shape).toEqual(['N', 3, 5]);
    await expectOrtAgrees(m, { x: [2, 3, 5] }, { N: 2 });
  });

  it('Gelu (opset 20) and Clip with attributes (opset 6) vs inputs (opset 11)', () => {
    const b20 = new GraphBuilder();
    const g = b20.op('Gelu', [b20.input('x', F, [2, 3])]);
    b20.output(g);
    inferClean(b20.model({ opset: 20 }));
    expect(g.shape).toEqual([2, 3]);

    const b6 = new GraphBuilder();
    const k6 = b6.op('Clip', [b6.constant('k', F, [3], [-5, 0.5, 5])], { min: -1.0, max: 1.5 });
    b6.output(k6);
    inferClean(b6.model({ opset: 6 }));
    expect(knownValueOf(k6)!.data).toEqual([-1, 0.5, 1.5]);

    const b11 = new GraphBuilder();
    const k11 = b11.op('Clip', [b11.constant('k', F, [3], [-5, 0.5, 5]), b11.constant('lo', F, [], [-1]), null]);
    b11.output(k11);
    inferClean(b11.model({ opset: 11 }));
    expect(knownValueOf(k11)!.data).toEqual([-1, 0.5, 5]);
  });

  it('Cast, CastLike, Identity, Dropout (+ mask)', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, ['N', 4]);
    const c = b.op('Cast', [x], { to: DataType.INT32 });
    const cl = b.op('CastLike', [x, b.constant('like', DataType.DOUBLE, [], [0])]);
    const id = b.op('Identity', [x]);
    const [d, mask] = b.opMulti('Dropout', [x], 2, {});
    for (const v of [c, cl, id, d!, mask!]) b.output(v);
    const m = b.model({ opset: 15 });
    inferClean(m);
    expect(c.dtype).toBe(DataType.INT32);
    expect(cl.dtype).toBe(DataType.DOUBLE);
    expect(id.shape).toEqual(['N', 4]);
    expect(d!.shape).toEqual(['N', 4]);
    expect(mask!.dtype).toBe(B);
    await expectOrtAgrees(m, { x: [3, 4] }, { N: 3 });

    const b7 = new GraphBuilder();
    const [, mask7] = b7.opMulti('Dropout', [b7.input('x', F, [2])], 2, {});
    b7.output(mask7!);
    inferClean(b7.model({ opset: 7 }));
    expect(mask7!.dtype).toBe(F); // before opset 10 the mask has the input's type
  });
});

describe('reductions', () => {
  it('axes as attribute (ReduceMean opset 13) vs input (ReduceSum opset 13, ReduceMax opset 18)', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, ['N', 3, 4, 5]);
    const mean = b.op('ReduceMean', [x], { axes: [-1, 1], keepdims: 1 });
    const sum = b.op('ReduceSum', [x, b.constant('ax', I64, [2], [2, 3])], { keepdims: 0 });
    const all = b.op('ReduceSum', [x], { keepdims: 0 });
    const noop = b.op('ReduceSum', [x], { noop_with_empty_axes: 1 });
    const l2 = b.op('ReduceL2', [x], { axes: [0] });
    const lse = b.op('ReduceLogSumExp', [x], { axes: [3], keepdims: 0 });
    const sq = b.op('ReduceSumSquare', [x], { axes: [1] });
    const am = b.op('ArgMax', [x], { axis: 2, keepdims: 0 });
    const amin = b.op('ArgMin', [x], { axis: -1 });
    const [tv, ti] = b.opMulti('TopK', [x, b.constant('k', I64, [1], [2])], 2, { axis: 1 });
    for (const v of [mean, sum, all, noop, l2, lse, sq, am, amin, tv!, ti!]) b.output(v);
    const m = b.model({ opset: 13 });
    inferClean(m);
    expect(mean.shape).toEqual(['N', 1, 4, 1]);
    expect(sum.shape).toEqual(['N', 3]);
    expect(all.shape).toEqual([]);
    expect(noop.shape).toEqual(['N', 3, 4, 5]);
    expect(l2.shape).toEqual([1, 3, 4, 5]);
    expect(lse.shape).toEqual(['N', 3, 4]);
    expect(sq.shape).toEqual(['N', 1, 4, 5]);
    expect(am.shape).toEqual(['N', 3, 5]);
    expect(am.dtype).toBe(I64);
    expect(amin.shape).toEqual(['N', 3, 4, 1]);
    expect(tv!.shape).toEqual(['N', 2, 4, 5]);
    expect(ti!.dtype).toBe(I64);
    await expectOrtAgrees(m, { x: [2, 3, 4, 5] }, { N: 2 });

    const b18 = new GraphBuilder();
    const x18 = b18.input('x', F, [2, 3, 4]);
    const mx = b18.op('ReduceMax', [x18, b18.constant('ax', I64, [1], [1])]);
    const mn = b18.op('ReduceMean', [x18, b18.constant('ax2', I64, [2], [0, -1])], { keepdims: 0 });
    b18.output(mx);
    b18.output(mn);
    const m18 = b18.model({ opset: 18 });
    inferClean(m18);
    expect(mx.shape).toEqual([2, 1, 4]);
    expect(mn.shape).toEqual([3]);
    await expectOrtAgrees(m18);
  });

  it('TopK with the k attribute (opset 1) and unknown axes inputs', () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [3, 8]);
    const [v] = b.opMulti('TopK', [x], 2, { k: 5 });
    b.output(v!);
    inferClean(b.model({ opset: 9 }));
    expect(v!.shape).toEqual([3, 5]);

    const b2 = new GraphBuilder();
    const x2 = b2.input('x', F, [3, 1, 8]);
    const axes = b2.input('axes', I64, [1]);
    const r = b2.op('ReduceSum', [x2, axes]);
    const r0 = b2.op('ReduceSum', [x2, axes], { keepdims: 0 });
    b2.output(r);
    b2.output(r0);
    inferClean(b2.model({ opset: 13 }));
    expect(r.shape).toEqual([null, 1, null]);
    expect(r0.shape).toEqual([null, null]);
  });
});
