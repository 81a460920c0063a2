// upgrade-opset's rewrites (src/passes/opset/upgraders.ts): one small model per rewritten op
// computes the same bytes under onnxruntime before and after the upgrade.
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { attr, GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import { Node, tensorType, Value } from '../../../src/ir/graph.js';
import { modelToBytes } from '../../../src/ir/serde/io.js';
import { assertValid } from '../../../src/ir/verify.js';
import { upgradeOpset } from '../../../src/passes/opset.js';
import { sameOutputs } from '../../helpers/onnx-oracle.js';
import { expectSameOutputs, floats, maxAbsDiff, nodesOf, runExact, single } from './helpers.js';

describe('Clip: min/max attributes → inputs (opset 11)', () => {
  const feeds = { x: floats([2, 3, 4], 1, 8) };
  const clipModel = (attrs: Record<string, number>) =>
    single(9, (b) => {
      const x = b.input('x', DataType.FLOAT, [2, 3, 4]);
      return b.op('Clip', [x], Object.fromEntries(Object.entries(attrs).map(([k, v]) => [k, attr.float(k, v)])));
    });

  it('only min', async () => {
    await expectSameOutputs(clipModel({ min: 0.25 }), [11, 13, 21], feeds, (m) => {
      const n = nodesOf(m, 'Clip')[0]!;
      expect(n.inputs.length).toBe(2);
      expect(n.inputs[1]?.constValue?.toNumbers()).toEqual([0.25]);
      expect(n.inputs[1]?.constValue?.dims).toEqual([]);
    });
  });
  it('only max (min becomes an empty input)', async () => {
    await expectSameOutputs(clipModel({ max: -1.5 }), [11, 21], feeds, (m) => {
      const n = nodesOf(m, 'Clip')[0]!;
      expect(n.inputs.length).toBe(3);
      expect(n.inputs[1]).toBeNull();
    });
  });
  it('both, and neither', async () => {
    await expectSameOutputs(clipModel({ min: -6, max: 6 }), [11, 17], feeds);
    await expectSameOutputs(clipModel({}), [12], feeds, (m) => expect(nodesOf(m, 'Clip')[0]!.inputs.length).toBe(1));
  });
});

describe('Slice: attributes → inputs (opset 10)', () => {
  const feeds = { x: floats([4, 5, 6], 2) };
  it('with axes, negative starts and INT64_MAX ends', async () => {
    const make = single(9, (b) => {
      const x = b.input('x', DataType.FLOAT, [4, 5, 6]);
      const big = 9223372036854775807n;
      return b.op('Slice', [x], { starts: attr.ints('starts', [1, -4]), ends: attr.ints('ends', [big, -1]), axes: attr.ints('axes', [0, 2]) });
    });
    await expectSameOutputs(make, [10, 13], feeds, (m) => {
      const ends = nodesOf(m, 'Slice')[0]!.inputs[2]!.constValue!;
      expect([...(ends.toTypedArray() as BigInt64Array)]).toEqual([9223372036854775807n, -1n]);
    });
  });
  it('without axes', async () => {
    const make = single(9, (b) => b.op('Slice', [b.input('x', DataType.FLOAT, [4, 5, 6])], { starts: [0, 1, 2], ends: [3, 4, 5] }));
    await expectSameOutputs(make, [21], feeds, (m) => expect(nodesOf(m, 'Slice')[0]!.inputs.length).toBe(3));
  });
});

describe('Pad: pads/value attributes → inputs (opset 11)', () => {
  const feeds = { x: floats([1, 2, 3, 4], 3) };
  for (const [mode, value] of [
    ['constant', 1.5],
    ['constant', 0],
    ['constant', -0],
    ['reflect', 0],
    ['edge', 0],
  ] as const) {
    it(`mode ${mode}, value ${Object.is(value, -0) ? '-0' : value}`, async () => {
      const make = single(10, (b) => {
        const x = b.input('x', DataType.FLOAT, [1, 2, 3, 4]);
        return b.op('Pad', [x], { mode, pads: [0, 0, 1, 2, 0, 0, 2, 1], value: attr.float('value', value) });
      });
      await expectSameOutputs(make, [11, 21], feeds);
    });
  }
});

describe('axes attributes → inputs', () => {
  const feeds = { x: floats([3, 1, 4, 1], 4) };
  it('Squeeze and Unsqueeze (opset 13)', async () => {
    const make = single(11, (b) => {
      const x = b.input('x', DataType.FLOAT, [3, 1, 4, 1]);
      const s = b.op('Squeeze', [x], { axes: [1, -1] });
      const all = b.op('Squeeze', [x]);
      return [b.op('Unsqueeze', [s], { axes: [0, 3] }), all];
    });
    await expectSameOutputs(make, [13, 21], feeds, (m) => {
      for (const n of [...nodesOf(m, 'Squeeze'), ...nodesOf(m, 'Unsqueeze')]) expect(n.attr('axes')).toBeUndefined();
      expect(nodesOf(m, 'Squeeze').map((n) => n.inputs.length)).toEqual([2, 1]);
    });
  });
  it('ReduceSum at 13, the other reductions at 18', async () => {
    const ops = ['ReduceSum', 'ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSumExp', 'ReduceSumSquare'];
    const make = single(11, (b) => {
      const x = b.input('x', DataType.FLOAT, [3, 1, 4, 1]);
      const outs = ops.map((op, i) => b.op(op, [x], { axes: i % 2 ? [0, -2] : [2], keepdims: i % 3 ? 1 : 0 }));
      outs.push(b.op('ReduceSum', [x], { keepdims: 0 })); // no axes: everything
      outs.push(b.op('ReduceLogSum', [b.op('Abs', [x])], { axes: [2] }));
      return outs;
    });
    await expectSameOutputs(make, [13, 17, 18, 21], feeds, (m, target) => {
      for (const n of m.graph.nodes) {
        if (!n.opType.startsWith('Reduce')) continue;
        const moved = n.opType === 'ReduceSum' ? target >= 13 : target >= 18;
        expect(n.attr('axes') === undefined, `${n.describe()} at ${target}`).toBe(moved || !n.attr('axes'));
      }
    });
  });
});

describe('Split', () => {
  const feeds = { x: floats([2, 9], 5) };
  it('split attribute → input (13); from 18 no num_outputs is added', async () => {
    const make = single(11, (b) => b.opMulti('Split', [b.input('x', DataType.FLOAT, [2, 9])], 3, { axis: 1, split: [2, 3, 4] }));
    await expectSameOutputs(make, [13, 18], feeds, (m) => {
      const n = nodesOf(m, 'Split')[0]!;
      expect(n.inputs[1]?.constValue?.toNumbers()).toEqual([2, 3, 4]);
      expect(n.attr('num_outputs')).toBeUndefined();
    });
  });
  it('without split: num_outputs = number of outputs at 18', async () => {
    const make = single(11, (b) => b.opMulti('Split', [b.input('x', DataType.FLOAT, [2, 9])], 3, { axis: -1 }));
    await expectSameOutputs(make, [13, 18, 21], feeds, (m, target) => {
      expect(nodesOf(m, 'Split')[0]!.attrInt('num_outputs')).toBe(target >= 18 ? 3 : undefined);
    });
    const from13 = single(13, (b) => b.opMulti('Split', [b.input('x', DataType.FLOAT, [2, 9])], 3, { axis: 1 }));
    await expectSameOutputs(from13, [18], feeds, (m) => expect(nodesOf(m, 'Split')[0]!.attrInt('num_outputs')).toBe(3));
  });
});

describe('Softmax, LogSoftmax, Hardmax: coerce-to-2-D → one axis (opset 13)', () => {
  const feeds = { x: floats([2, 3, 4, 5], 6, 3) };
  for (const op of ['Softmax', 'LogSoftmax', 'Hardmax']) {
    it(`${op} over a non-last axis becomes Flatten → ${op} → Reshape`, async () => {
      const make = single(11, (b) => {
        const x = b.input('x', DataType.FLOAT, [2, 3, 4, 5]);
        return [b.op(op, [x], { axis: 1 }), b.op(op, [x], { axis: -2 }), b.op(op, [x]), b.op(op, [x], { axis: 0 })];
      });
      await expectSameOutputs(make, [13, 14, 21], feeds, (m) => {
        expect(nodesOf(m, 'Flatten').length).toBe(4);
        expect(nodesOf(m, op).every((n) => n.attrInt('axis') === 1)).toBe(true);
      });
    });
  }
  it('over the last axis (or a 2-D input) only gets its axis written out', async () => {
    const make = single(9, (b) => {
      const x = b.input('x', DataType.FLOAT, [2, 3, 4, 5]);
      const flat = b.input('f', DataType.FLOAT, [6, 7]);
      return [b.op('Softmax', [x], { axis: 3 }), b.op('LogSoftmax', [flat])];
    });
    await expectSameOutputs(make, [13], { ...feeds, f: floats([6, 7], 7) }, (m) => {
      expect(nodesOf(m, 'Flatten')).toEqual([]);
      expect(nodesOf(m, 'LogSoftmax')[0]!.attrInt('axis')).toBe(1);
    });
  });
  it('an input of unknown rank gets the general rewrite', async () => {
    const make = single(11, (b) => b.op('Softmax', [b.input('x', DataType.FLOAT, null)], { axis: 2 }));
    await expectSameOutputs(make, [13], feeds, (m) => expect(nodesOf(m, 'Flatten').length).toBe(1));
    await expectSameOutputs(make, [13], { x: floats([4, 5, 6], 8) });
  });
});

describe('Resize-10 → 11+ and Upsample → Resize', () => {
  const feeds = { x: floats([1, 2, 5, 7], 9) };
  const resize10 = (mode: string, scales: number[]) =>
    single(10, (b) => {
      const x = b.input('x', DataType.FLOAT, [1, 2, 5, 7]);
      return b.op('Resize', [x, b.init('scales', DataType.FLOAT, [4], scales)], { mode });
    });
  const nearestCases: [string, number[], string[]][] = [
    ['enlarging', [1, 1, 2, 3], ['floor']],
    ['enlarging by fractions', [1, 1, 1.7, 2.5], ['floor']],
    ['shrinking', [1, 1, 0.6, 0.45], ['ceil']],
    ['enlarging one axis and shrinking another', [1, 1, 0.6, 1.7], ['floor', 'ceil']],
  ];
  for (const [what, scales, modes] of nearestCases) {
    it(`nearest, ${what}`, async () => {
      await expectSameOutputs(resize10('nearest', scales), [11, 13, 19, 21], feeds, (m, target) => {
        const ns = nodesOf(m, 'Resize');
        expect(ns.map((n) => n.attrString('nearest_mode'))).toEqual(modes);
        for (const n of ns) {
          expect(n.attrString('coordinate_transformation_mode')).toBe('asymmetric');
          expect(n.inputs[1] === null).toBe(target >= 13);
        }
      });
    });
  }
  for (const scales of [
    [1, 1, 2, 3],
    [1, 1, 1.7, 2.5],
    [1, 1, 0.6, 0.45],
  ]) {
    it(`linear, scales ${scales.join(',')}`, async () => {
      await expectSameOutputs(resize10('linear', scales), [11, 21], feeds, (m) => expect(nodesOf(m, 'Resize').length).toBe(1));
    });
  }

  for (const mode of ['nearest', 'linear']) {
    it(`Upsample-7 (${mode}, scales attribute) → Upsample-9, Resize-10, Resize-11+`, async () => {
      const make = single(7, (b) => b.op('Upsample', [b.input('x', DataType.FLOAT, [1, 2, 5, 7])], { mode, scales: attr.floats('scales', [1, 1, 2, 1.5]) }));
      await expectSameOutputs(make, [9, 10, 11, 13, 21], feeds, (m, target) => {
        expect(nodesOf(m, target === 9 ? 'Upsample' : 'Resize').length).toBe(1);
      });
    });
    it(`Upsample-9 (${mode}, scales given at run time) → Resize`, async () => {
      const make = single(9, (b) => b.op('Upsample', [b.input('x', DataType.FLOAT, [1, 2, 5, 7]), b.input('s', DataType.FLOAT, [4])], { mode }));
      const s = new ort.Tensor('float32', Float32Array.from([1, 1, 3, 2.5]), [4]);
      await expectSameOutputs(make, [10, 12, 17], { ...feeds, s });
    });
  }
});

describe('other rewrites', () => {
  it('TopK: k attribute → input (10)', async () => {
    const make = single(9, (b) => b.opMulti('TopK', [b.input('x', DataType.FLOAT, [3, 8])], 2, { k: 3 }));
    await expectSameOutputs(make, [10, 11, 21], { x: floats([3, 8], 10) }, (m) => expect(nodesOf(m, 'TopK')[0]!.inputs.length).toBe(2));
  });

  it('Dropout: ratio attribute → input (12)', async () => {
    const make = single(9, (b) => b.op('Relu', [b.op('Dropout', [b.input('x', DataType.FLOAT, [2, 6])], { ratio: attr.float('ratio', 0.3) })]));
    await expectSameOutputs(make, [10, 12, 13], { x: floats([2, 6], 11) }, (m, target) => {
      expect(nodesOf(m, 'Dropout')[0]!.inputs.length).toBe(target >= 12 ? 2 : 1);
    });
  });

  it('Scatter → ScatterElements (11)', async () => {
    const make = single(9, (b) => {
      const x = b.input('x', DataType.FLOAT, [3, 4]);
      const idx = b.init('idx', DataType.INT64, [2, 4], [0, 2, 1, 0, 2, 1, 0, 1]);
      const upd = b.init('upd', DataType.FLOAT, [2, 4], [1, 2, 3, 4, 5, 6, 7, 8]);
      return b.op('Scatter', [x, idx, upd], { axis: 0 });
    });
    await expectSameOutputs(make, [11, 16], { x: floats([3, 4], 12) }, (m) => expect(nodesOf(m, 'ScatterElements').length).toBe(1));
  });

  it("BatchNormalization: 'spatial' and extra unused outputs go (9, 14)", async () => {
    const make = () => {
      const b = new GraphBuilder('m');
      const x = b.input('x', DataType.FLOAT, [2, 3, 4, 4]);
      const p = (name: string, v: number[]) => b.init(name, DataType.FLOAT, [3], v);
      const [y] = b.opMulti('BatchNormalization', [x, p('s', [1, 2, 0.5]), p('b', [0, 1, -1]), p('mean', [0.1, 0.2, 0.3]), p('var', [1, 0.5, 2])], 1, {
        epsilon: attr.float('epsilon', 1e-3),
        spatial: 1,
      });
      b.output(b.op('Relu', [y!]));
      return b.model({ opset: 7, irVersion: 7 });
    };
    await expectSameOutputs(make, [9, 15], { x: floats([2, 3, 4, 4], 13) }, (m) => expect(nodesOf(m, 'BatchNormalization')[0]!.attr('spatial')).toBeUndefined());

    // An opset-9 node that names its (unused) training outputs ends up with one output.
    const m = make();
    upgradeOpset(m, 9);
    const bn = nodesOf(m, 'BatchNormalization')[0]!;
    const extra = ['mean_out', 'var_out'].map((n) => new Value(n, tensorType(DataType.FLOAT, [3])));
    const g = m.graph;
    const rebuilt = new Node(bn.domain, bn.opType, bn.inputs, [new Value('bn_y', null), ...extra], {
      name: 'bn',
      attributes: [...bn.attributes.values()],
    });
    g.nodes.insertBefore(bn, rebuilt);
    bn.outputs[0]!.replaceAllUsesWith(rebuilt.outputs[0]!);
    g.removeNode(bn);
    upgradeOpset(m, 15);
    assertValid(m);
    const after = nodesOf(m, 'BatchNormalization')[0]!;
    expect(after.outputs.map((v) => v.name)).toEqual(['bn_y']);
    expect(after.name).toBe('bn');
    const out = await runExact(modelToBytes(m), { x: floats([2, 3, 4, 4], 13) });
    const ref = await runExact(modelToBytes(make()), { x: floats([2, 3, 4, 4], 13) });
    expect(sameOutputs(ref, out)).toEqual({ same: true, why: '' });
  });

  it("RoiAlign: the old 'output_half_pixel' transform is written out (16)", async () => {
    const make = single(10, (b) => {
      const x = b.input('x', DataType.FLOAT, [2, 3, 8, 8]);
      const rois = b.init('rois', DataType.FLOAT, [3, 4], [0, 0, 7, 7, 1.5, 2, 5, 6.5, 0.3, 0.7, 3.1, 2.2]);
      const idx = b.init('idx', DataType.INT64, [3], [0, 1, 1]);
      return b.op('RoiAlign', [x, rois, idx], { output_height: 3, output_width: 2, sampling_ratio: 2, spatial_scale: attr.float('spatial_scale', 1) });
    });
    await expectSameOutputs(make, [16, 21], { x: floats([2, 3, 8, 8], 14) }, (m) =>
      expect(nodesOf(m, 'RoiAlign')[0]!.attrString('coordinate_transformation_mode')).toBe('output_half_pixel'),
    );
  });

  it("GridSample: 'bilinear'/'bicubic' → 'linear'/'cubic' (20)", async () => {
    const grid = new ort.Tensor('float32', Float32Array.from({ length: 1 * 3 * 4 * 2 }, (_, i) => Math.sin(i * 1.3) * 1.1), [1, 3, 4, 2]);
    for (const mode of ['bilinear', 'bicubic', 'nearest']) {
      const make = single(16, (b) => b.op('GridSample', [b.input('x', DataType.FLOAT, [1, 2, 5, 6]), b.input('grid', DataType.FLOAT, [1, 3, 4, 2])], { mode }));
      await expectSameOutputs(make, [20, 21], { x: floats([1, 2, 5, 6], 15), grid }, (m) =>
        expect(nodesOf(m, 'GridSample')[0]!.attrString('mode')).toBe({ bilinear: 'linear', bicubic: 'cubic', nearest: 'nearest' }[mode]),
      );
    }
  });

  it('DFT: axis attribute → input, with the old default 1 written out (20)', async () => {
    const x = floats([2, 8, 3, 1], 16);
    for (const axis of [undefined, 2]) {
      const make = single(17, (b) => b.op('DFT', [b.input('x', DataType.FLOAT, [2, 8, 3, 1])], axis === undefined ? {} : { axis }));
      await expectSameOutputs(make, [20], { x }, (m) => expect(nodesOf(m, 'DFT')[0]!.inputs[2]?.constValue?.toNumbers()).toEqual([axis ?? 1]));
    }
  });

  it('AveragePool needs no rewrite at 19; onnxruntime 1.30 rounds AveragePool-19 differently', async () => {
    const make = single(11, (b) => b.op('AveragePool', [b.input('x', DataType.FLOAT, [1, 4, 6, 8])], { kernel_shape: [3, 2], strides: [3, 2], count_include_pad: 0 }));
    const feeds = { x: floats([1, 4, 6, 8], 18) };
    await expectSameOutputs(make, [18], feeds);
    const m = make();
    expect(upgradeOpset(m, 19).converted).toBe(0);
    const before = await runExact(modelToBytes(make()), feeds);
    expect(maxAbsDiff(before, await runExact(modelToBytes(m), feeds))).toBeLessThan(1e-6);
  });

  it('nodes in If branches are rewritten too, with names unique across the model', async () => {
    const make = () => {
      const branch = (name: string, lo: number) => {
        const b = new GraphBuilder(name);
        const y = b.op('Clip', [xOuter], { min: attr.float('min', lo) }, { name: 'clip', outputNames: [`${name}_y`] });
        b.output(b.op('Softmax', [y], { axis: 1 }, { outputNames: [`${name}_z`] }));
        return b.graph;
      };
      const b = new GraphBuilder('m');
      const xOuter = b.input('x', DataType.FLOAT, [2, 3, 4]);
      const cond = b.input('c', DataType.BOOL, []);
      b.output(b.op('If', [cond], { then_branch: branch('then', 0), else_branch: attr.graph('else_branch', branch('else', 0.5)) }));
      return b.model({ opset: 9, irVersion: 7 });
    };
    for (const c of [true, false]) {
      await expectSameOutputs(make, [13], { x: floats([2, 3, 4], 17), c: new ort.Tensor('bool', [c], []) }, (m) => {
        expect(nodesOf(m, 'Flatten').length).toBe(2);
        expect(nodesOf(m, 'Clip').every((n) => n.inputs.length === 2)).toBe(true);
      });
    }
  });
});

