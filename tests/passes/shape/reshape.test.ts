// Shape rules of the reshaping ops: exact shapes, opset-dependent forms, symbolic dims and
// folding of known tensors, checked against onnxruntime where it can run the model.

import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import type { Value } from '../../../src/ir/graph.js';
import { knownValueOf } from '../../../src/passes/shape/index.js';
import { codes, expectOrtAgrees, i64, infer, inferClean } from './helpers.js';

const F = DataType.FLOAT;
const I64 = DataType.INT64;

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
