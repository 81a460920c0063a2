// Shape rules of the gathers (and ScatterND alongside), checked against onnxruntime.

import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import { expectOrtAgrees, i64, inferClean } from './helpers.js';

const F = DataType.FLOAT;
const I64 = DataType.INT64;

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
