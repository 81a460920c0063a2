// Shape rules of Split, Slice, Pad and Concat: opset-dependent forms, symbolic dims and
// folding of known tensors, checked against onnxruntime where it can run the model.

import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import { attr } from '../../../src/ir/graph.js';
import { knownValueOf } from '../../../src/passes/shape/index.js';
import { expectOrtAgrees, i64, inferClean } from './helpers.js';

const F = DataType.FLOAT;
const I64 = DataType.INT64;
const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;

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


describe('Pad', () => {
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
