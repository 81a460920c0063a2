// Shape rules of Resize and Upsample (scales or sizes, opset 10 to 18), checked against
// onnxruntime.

import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import { attr } from '../../../src/ir/graph.js';
import { expectOrtAgrees, i64, inferClean } from './helpers.js';

const F = DataType.FLOAT;

describe('Resize, Upsample', () => {
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
