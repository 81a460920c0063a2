// Data-movement and shape ops: exact shapes, opset-dependent forms, symbolic dims and
// folded shape arithmetic, checked against onnxruntime where it can run the model.

import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import { attr, type Value } from '../../../src/ir/graph.js';
import { Tensor } from '../../../src/ir/tensor.js';
import { knownValueOf } from '../../../src/passes/shape/index.js';
import { codes, expectOrtAgrees, infer, inferClean } from './helpers.js';

const F = DataType.FLOAT;
const I64 = DataType.INT64;
const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;

function i64(b: GraphBuilder, name: string, values: (number | bigint)[], dims: number[] = [values.length]) {
  return b.init(name, I64, dims, BigInt64Array.from(values, (v) => BigInt(v)));
}

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

describe('Reshape and Flatten', () => {
  it('handles 0 (copy), -1 (infer) and allowzero', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [2, 3, 4]);
    const a = b.op('Reshape', [x, i64(b, 's1', [0, -1])]);
    const c = b.op('Reshape', [x, i64(b, 's2', [-1, 0, 2])]);
    const e = b.input('e', F, [0, 5]);
    const z = b.op('Reshape', [e, i64(b, 's3', [5, 0])], { allowzero: 1 });
    const z2 = b.op('Reshape', [e, i64(b, 's4', [0, 5])]);
    for (const v of [a, c, z, z2]) b.output(v);
    const m = b.model({ opset: 14 });
    inferClean(m);
    expect(a.shape).toEqual([2, 12]);
    expect(c.shape).toEqual([4, 3, 2]);
    expect(z.shape).toEqual([5, 0]);
    expect(z2.shape).toEqual([0, 5]);
    await expectOrtAgrees(m);
  });

  it('keeps symbols through Flatten and Reshape with -1', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, ['N', 3, 4]);
    const a = b.op('Reshape', [x, i64(b, 's1', [0, -1])]);
    const flat = b.op('Reshape', [x, i64(b, 's2', [-1, 4])]);
    const back = b.op('Reshape', [flat, b.op('Shape', [x])]);
    const f1 = b.op('Flatten', [x], { axis: 1 });
    const f0 = b.op('Flatten', [x], { axis: 0 });
    const fl = b.op('Flatten', [x], { axis: -1 });
    const again = b.op('Reshape', [f1, i64(b, 's3', [-1, 3, 4])]);
    for (const v of [a, flat, back, f1, f0, fl, again]) b.output(v);
    const m = b.model({ opset: 13 });
    inferClean(m);
    expect(a.shape).toEqual(['N', 12]);
    expect(flat.shape).toEqual(['3*N', 4]);
    expect(back.shape).toEqual(['N', 3, 4]);
    expect(f1.shape).toEqual(['N', 12]);
    expect(f0.shape).toEqual([1, '12*N']);
    expect(fl.shape).toEqual(['3*N', 4]);
    expect(again.shape).toEqual(['N', 3, 4]);
    await expectOrtAgrees(m, { x: [5, 3, 4] }, { N: 5 });
  });

  it('uses the shape attribute before opset 5 and reports impossible reshapes', () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [2, 6]);
    const y = b.op('Reshape', [x], { shape: [3, -1] });
    b.output(y);
    inferClean(b.model({ opset: 4 }));
    expect(y.shape).toEqual([3, 4]);

    const b2 = new GraphBuilder();
    const x2 = b2.input('x', F, [2, 6]);
    const y2 = b2.op('Reshape', [x2, i64(b2, 's', [5, -1])]);
    b2.output(y2);
    expect(codes(infer(b2.model({ opset: 13 })))).toEqual(['W_SHAPE_CONFLICT']);
  });
});

describe('Squeeze, Unsqueeze, Transpose, Expand, Tile, Concat', () => {
  it('Squeeze/Unsqueeze take axes as attributes at opset 11 and as inputs at opset 13', async () => {
    for (const opset of [11, 13]) {
      const b = new GraphBuilder();
      const x = b.input('x', F, [1, 3, 1, 5]);
      const axes = (vals: number[], name: string): { inputs: Value[]; attrs: Record<string, number[]> } =>
        opset >= 13 ? { inputs: [i64(b, name, vals)], attrs: {} } : { inputs: [], attrs: { axes: vals } };
      const a1 = axes([0, -2], 'a1');
      const sq = b.op('Squeeze', [x, ...a1.inputs], a1.attrs, { outputNames: ['sq'] });
      const all = b.op('Squeeze', [x], {}, { outputNames: ['all'] });
      const a2 = axes([0, 3], 'a2');
      const us = b.op('Unsqueeze', [sq, ...a2.inputs], a2.attrs, { outputNames: ['us'] });
      const a3 = axes([-1], 'a3');
      const us2 = b.op('Unsqueeze', [sq, ...a3.inputs], a3.attrs, { outputNames: ['us2'] });
      for (const v of [sq, all, us, us2]) b.output(v);
      const m = b.model({ opset });
      inferClean(m);
      expect(sq.shape).toEqual([3, 5]);
      expect(all.shape).toEqual([3, 5]);
      expect(us.shape).toEqual([1, 3, 5, 1]);
      expect(us2.shape).toEqual([3, 5, 1]);
      await expectOrtAgrees(m);
    }
  });

  it('Squeeze without axes of a symbolic dim has an unknown rank; squeezing a dim > 1 conflicts', () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, ['N', 1, 4]);
    const y = b.op('Squeeze', [x]);
    const z = b.op('Squeeze', [x, i64(b, 'ax', [2])]);
    b.output(y);
    b.output(z);
    expect(codes(infer(b.model({ opset: 13 })))).toEqual(['W_SHAPE_CONFLICT']);
    expect(y.shape).toBeNull();
    expect(y.dtype).toBe(F);
  });

  it('Transpose, Expand, Tile and Concat', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, ['N', 3, 1]);
    const t = b.op('Transpose', [x], { perm: [2, 0, 1] });
    const tr = b.op('Transpose', [x]);
    const e = b.op('Expand', [x, i64(b, 'es', [2, 1, 1, 4])]);
    const ti = b.op('Tile', [x, i64(b, 'reps', [2, 1, 3])]);
    const c = b.op('Concat', [x, x, b.op('Relu', [x])], { axis: 0 });
    const c2 = b.op('Concat', [x, b.op('Tile', [x, i64(b, 'reps2', [1, 1, 3])])], { axis: -1 });
    for (const v of [t, tr, e, ti, c, c2]) b.output(v);
    const m = b.model({ opset: 13 });
    inferClean(m);
    expect(t.shape).toEqual([1, 'N', 3]);
    expect(tr.shape).toEqual([1, 3, 'N']);
    expect(e.shape).toEqual([2, 'N', 3, 4]);
    expect(ti.shape).toEqual(['2*N', 3, 3]);
    expect(c.shape).toEqual(['3*N', 3, 1]);
    expect(c2.dtype).toBe(F);
    expect(c2.shape).toEqual(['N', 3, 4]);
    await expectOrtAgrees(m, { x: [2, 3, 1] }, { N: 2 });
  });

  it('folds Transpose, Expand and Tile of known tensors', () => {
    const b = new GraphBuilder();
    const k = b.constant('k', I64, [2, 3], [1, 2, 3, 4, 5, 6]);
    const t = b.op('Transpose', [k]);
    const e = b.op('Expand', [b.constant('k1', I64, [1], [7]), i64(b, 'shp', [3])]);
    const ti = b.op('Tile', [b.constant('k2', I64, [2], [1, 2]), i64(b, 'rep', [2])]);
    for (const v of [t, e, ti]) b.output(v);
    inferClean(b.model({ opset: 13 }));
    expect(knownValueOf(t)!.data).toEqual([1, 4, 2, 5, 3, 6]);
    expect(knownValueOf(e)!.data).toEqual([7, 7, 7]);
    expect(knownValueOf(ti)!.data).toEqual([1, 2, 1, 2]);
  });
});

describe('Split', () => {
  it('takes sizes from the attribute (opset 11), the input (13), or num_outputs (18)', async () => {
    const cases: [number, (b: GraphBuilder) => { inputs: ReturnType<GraphBuilder['input']>[]; attrs: Record<string, number | number[]> }, number[]][] = [
      [11, () => ({ inputs: [], attrs: { axis: 1, split: [2, 5] } }), [2, 5]],
      [13, (b) => ({ inputs: [i64(b, 'sp', [4, 3])], attrs: { axis: 1 } }), [4, 3]],
      [18, () => ({ inputs: [], attrs: { axis: -1, num_outputs: 2 } }), [4, 3]],
    ];
    for (const [opset, make, sizes] of cases) {
      const b = new GraphBuilder();
      const x = b.input('x', F, ['N', 7]);
      const { inputs, attrs } = make(b);
      const outs = b.opMulti('Split', [x, ...inputs], 2, attrs);
      outs.forEach((o) => b.output(o));
      const m = b.model({ opset });
      inferClean(m);
      expect(outs.map((o) => o.shape)).toEqual(sizes.map((s) => ['N', s]));
      await expectOrtAgrees(m, { x: [2, 7] }, { N: 2 });
    }
  });

  it('splits evenly without sizes and folds known tensors', () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [6, 'N']);
    const outs = b.opMulti('Split', [x], 3, { axis: 0 });
    const k = b.constant('k', I64, [4], [1, 2, 3, 4]);
    const [k1, k2] = b.opMulti('Split', [k], 2, {});
    [...outs, k1!, k2!].forEach((o) => b.output(o));
    inferClean(b.model({ opset: 13 }));
    expect(outs.map((o) => o.shape)).toEqual([
      [2, 'N'],
      [2, 'N'],
      [2, 'N'],
    ]);
    expect(knownValueOf(k1!)!.data).toEqual([1, 2]);
    expect(knownValueOf(k2!)!.data).toEqual([3, 4]);
  });
});

describe('Slice', () => {
  it('reads starts/ends/axes attributes at opset 9 (INT64_MAX ends, negative indices)', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [10, 20, 30]);
    // attribute ints may be bigint for huge int64 values
    const y = b.op('Slice', [x], { starts: [1, -5], ends: attr.ints('ends', [INT64_MAX, -1]), axes: [0, 2] });
    b.output(y);
    const m = b.model({ opset: 9 });
    inferClean(m);
    expect(y.shape).toEqual([9, 20, 4]);
    await expectOrtAgrees(m);
  });

  it('reads inputs at opset 13: steps, negative steps, clamping, symbolic dims', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [10, 20, 'N']);
    const rev = b.op('Slice', [x, i64(b, 's1', [-1]), i64(b, 'e1', [INT64_MIN]), i64(b, 'a1', [1]), i64(b, 'p1', [-1])]);
    const step = b.op('Slice', [x, i64(b, 's2', [0, 1]), i64(b, 'e2', [INT64_MAX, 100]), i64(b, 'a2', [1, 0]), i64(b, 'p2', [3, 4])]);
    const all = b.op('Slice', [x, i64(b, 's3', [0]), i64(b, 'e3', [INT64_MAX]), i64(b, 'a3', [-1])]);
    const part = b.op('Slice', [x, i64(b, 's4', [1]), i64(b, 'e4', [3]), i64(b, 'a4', [2])]);
    const empty = b.op('Slice', [x, i64(b, 's5', [5]), i64(b, 'e5', [2]), i64(b, 'a5', [0])]);
    for (const v of [rev, step, all, part, empty]) b.output(v);
    const m = b.model({ opset: 13 });
    inferClean(m);
    expect(rev.shape).toEqual([10, 20, 'N']);
    expect(step.shape).toEqual([3, 7, 'N']);
    expect(all.shape).toEqual([10, 20, 'N']);
    expect(part.shape).toEqual([10, 20, null]);
    expect(empty.shape).toEqual([0, 20, 'N']);
    await expectOrtAgrees(
      (() => {
        // onnxruntime check with a static N (part's dim is then known)
        const b2 = new GraphBuilder();
        const x2 = b2.input('x', F, [10, 20, 6]);
        b2.output(b2.op('Slice', [x2, i64(b2, 's1', [-1]), i64(b2, 'e1', [INT64_MIN]), i64(b2, 'a1', [1]), i64(b2, 'p1', [-1])]));
        b2.output(b2.op('Slice', [x2, i64(b2, 's2', [0, 1]), i64(b2, 'e2', [INT64_MAX, 100]), i64(b2, 'a2', [1, 0]), i64(b2, 'p2', [3, 4])]));
        b2.output(b2.op('Slice', [x2, i64(b2, 's4', [1]), i64(b2, 'e4', [3]), i64(b2, 'a4', [2])]));
        b2.output(b2.op('Slice', [x2, i64(b2, 's5', [5]), i64(b2, 'e5', [2]), i64(b2, 'a5', [0])]));
        b2.output(b2.op('Slice', [x2, i64(b2, 's6', [-100]), i64(b2, 'e6', [-3]), i64(b2, 'a6', [2]), i64(b2, 'p6', [2])]));
        const m2 = b2.model({ opset: 13 });
        inferClean(m2);
        return m2;
      })(),
    );
  });

  it('folds slices of known tensors', () => {
    const b = new GraphBuilder();
    const k = b.constant('k', I64, [5], [10, 11, 12, 13, 14]);
    const y = b.op('Slice', [k, i64(b, 's', [-1]), i64(b, 'e', [0]), i64(b, 'a', [0]), i64(b, 'p', [-2])]);
    b.output(y);
    inferClean(b.model({ opset: 13 }));
    expect(knownValueOf(y)!.data).toEqual([14, 12]);
  });
});

describe('Pad, Resize, Upsample', () => {
  it('Pad reads pads from the attribute before opset 11 and from inputs after (with axes at 18)', async () => {
    const b10 = new GraphBuilder();
    const x10 = b10.input('x', F, [1, 2, 5, 5]);
    const p10 = b10.op('Pad', [x10], { pads: [0, 0, 1, 2, 0, 0, 3, 4], mode: 'reflect' });
    b10.output(p10);
    const m10 = b10.model({ opset: 10 });
    inferClean(m10);
    expect(p10.shape).toEqual([1, 2, 9, 11]);
    await expectOrtAgrees(m10);

    const b = new GraphBuilder();
    const x = b.input('x', F, ['N', 2, 5, 5]);
    const p = b.op('Pad', [x, i64(b, 'pads', [0, 0, 1, 1, 0, 0, 1, -1]), b.constant('cv', F, [], [1.5])]);
    b.output(p);
    const m = b.model({ opset: 13 });
    inferClean(m);
    expect(p.shape).toEqual(['N', 2, 7, 5]);
    await expectOrtAgrees(m, { x: [2, 2, 5, 5] }, { N: 2 });

    const b18 = new GraphBuilder();
    const x18 = b18.input('x', F, [1, 2, 5, 5]);
    const p18 = b18.op('Pad', [x18, i64(b18, 'pads', [2, 3, 2, 3]), null, i64(b18, 'axes', [-2, -1])], { mode: 'edge' });
    b18.output(p18);
    const m18 = b18.model({ opset: 18 });
    inferClean(m18);
    expect(p18.shape).toEqual([1, 2, 9, 11]);
    await expectOrtAgrees(m18);
  });

  it('Resize with scales or sizes (opset 10, 11, 13) and Upsample', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [1, 3, 5, 7]);
    const emptyF = b.init('empty', F, [0], []);
    const s = b.op('Resize', [x, emptyF, b.constant('sc', F, [4], [1, 1, 2, 2])], { mode: 'nearest' });
    const down = b.op('Resize', [x, emptyF, b.constant('sc2', F, [4], [1, 1, 0.5, 0.6])], { mode: 'linear' });
    const z = b.op('Resize', [x, emptyF, emptyF, i64(b, 'sizes', [1, 3, 9, 4])], { mode: 'linear' });
    const z2 = b.op('Resize', [x, null, null, i64(b, 'sizes2', [2, 3, 1, 1])]);
    for (const v of [s, down, z, z2]) b.output(v);
    const m = b.model({ opset: 13 });
    inferClean(m);
    expect(s.shape).toEqual([1, 3, 10, 14]);
    expect(down.shape).toEqual([1, 3, 2, 4]);
    expect(z.shape).toEqual([1, 3, 9, 4]);
    expect(z2.shape).toEqual([2, 3, 1, 1]);
    await expectOrtAgrees(m);

    const b10 = new GraphBuilder();
    const x10 = b10.input('x', F, [1, 3, 5, 7]);
    const r10 = b10.op('Resize', [x10, b10.constant('sc', F, [4], [1, 1, 1.5, 3])]);
    b10.output(r10);
    const m10 = b10.model({ opset: 10 });
    inferClean(m10);
    expect(r10.shape).toEqual([1, 3, 7, 21]);
    await expectOrtAgrees(m10);

    const b9 = new GraphBuilder();
    const x9 = b9.input('x', F, ['N', 3, 5, 7]);
    const u9 = b9.op('Upsample', [x9, b9.constant('sc', F, [4], [1, 1, 2, 2])]);
    b9.output(u9);
    const m9 = b9.model({ opset: 9 });
    inferClean(m9);
    expect(u9.shape).toEqual(['N', 3, 10, 14]);
    await expectOrtAgrees(m9, { x: [2, 3, 5, 7] }, { N: 2 });

    const b7 = new GraphBuilder();
    const x7 = b7.input('x', F, [1, 3, 5, 7]);
    const u7 = b7.op('Upsample', [x7], { scales: attr.floats('scales', [1, 1, 2, 3]) });
    b7.output(u7);
    inferClean(b7.model({ opset: 7 }));
    expect(u7.shape).toEqual([1, 3, 10, 21]);
  });

  it('Resize opset 18: axes and keep_aspect_ratio_policy', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [1, 3, 10, 20]);
    const y = b.op('Resize', [x, null, null, i64(b, 'sizes', [5, 5])], { axes: [2, 3], keep_aspect_ratio_policy: 'not_larger' });
    const z = b.op('Resize', [x, null, null, i64(b, 'sizes2', [5, 5])], { axes: [2, 3], keep_aspect_ratio_policy: 'not_smaller' });
    b.output(y);
    b.output(z);
    const m = b.model({ opset: 18 });
    inferClean(m);
    expect(y.shape).toEqual([1, 3, 3, 5]);
    expect(z.shape).toEqual([1, 3, 5, 10]);
    await expectOrtAgrees(m);
  });
});

describe('Gather and scatter family', () => {
  it('Gather, GatherElements, GatherND, ScatterND', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [5, 6, 7]);
    const g = b.op('Gather', [x, i64(b, 'idx', [0, 4, -1, 2], [2, 2])], { axis: 1 });
    const gs = b.op('Gather', [x, b.constant('i0', I64, [], [3])], { axis: -1 });
    const ge = b.op('GatherElements', [x, i64(b, 'ge', new Array(5 * 2 * 7).fill(1), [5, 2, 7])], { axis: 1 });
    const gnd = b.op('GatherND', [x, i64(b, 'gnd', [0, 1, 2, 3], [2, 2])]);
    const gndb = b.op('GatherND', [x, i64(b, 'gndb', [0, 1, 2, 3, 4], [5, 1])], { batch_dims: 1 });
    const sc = b.op('ScatterND', [x, i64(b, 'sci', [1, 2], [2, 1]), b.op('Slice', [x, i64(b, 'ss', [0]), i64(b, 'se', [2]), i64(b, 'sa', [0])])]);
    for (const v of [g, gs, ge, gnd, gndb, sc]) b.output(v);
    const m = b.model({ opset: 13 });
    inferClean(m);
    expect(g.shape).toEqual([5, 2, 2, 7]);
    expect(gs.shape).toEqual([5, 6]);
    expect(ge.shape).toEqual([5, 2, 7]);
    expect(gnd.shape).toEqual([2, 7]);
    expect(gndb.shape).toEqual([5, 7]);
    expect(sc.shape).toEqual([5, 6, 7]);
    await expectOrtAgrees(m);
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

describe('opset 1-style gaps do not crash', () => {
  it('Concat without axis before opset 4 defaults to 1', () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [2, 3]);
    const y = b.op('Concat', [x, x]);
    b.output(y);
    inferClean(b.model({ opset: 3 }));
    expect(y.shape).toEqual([2, 6]);
  });
});
