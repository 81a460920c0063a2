// upgrade-opset: the real fixtures and one small model per rewritten op compute the same
// bytes under onnxruntime before and after the upgrade; changes the converter cannot carry
// are E_OPSET errors naming the node, raised before the model is touched.
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { attr, GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { SplitcError } from '../../src/ir/errors.js';
import { allNodes, Graph, type IrFunction, type Model, Node, tensorType, Value } from '../../src/ir/graph.js';
import { printModel } from '../../src/ir/printer.js';
import { loadModel, modelToBytes, saveModel } from '../../src/ir/serde/io.js';
import { deserializeModel } from '../../src/ir/serde/read.js';
import { assertValid, verifyModel } from '../../src/ir/verify.js';
import { MAX_UPGRADE_OPSET, OPSET_CHANGES, UPGRADERS, upgradeOpset } from '../../src/passes/opset.js';
import { PassManager, parsePipeline } from '../../src/passes/pass.js';
import { inferShapes } from '../../src/passes/shape/index.js';
import { codeOf } from '../helpers/codes.js';
import * as path from 'node:path';
import { fixtures, tmpDir } from '../helpers/fixtures.js';
import { onnxCheck, type OrtOutput, pythonOnnx, runOrt, sameOutputs, seededFloatInputs, xorshift32 } from '../helpers/onnx-oracle.js';

type Feeds = Record<string, ort.Tensor>;

/**
 * Run with graph optimizations off: onnxruntime's fusions are chosen per op *version*
 * (an opset-9 and an opset-14 copy of one graph get different fusions and so different
 * rounding), while the kernels themselves must agree bit for bit.
 */
async function runExact(model: Uint8Array | string, feeds: Feeds): Promise<Record<string, OrtOutput>> {
  const opts: ort.InferenceSession.SessionOptions = { graphOptimizationLevel: 'disabled', intraOpNumThreads: 1, interOpNumThreads: 1 };
  const s = typeof model === 'string' ? await ort.InferenceSession.create(model, opts) : await ort.InferenceSession.create(model, opts);
  try {
    const out = await s.run(feeds);
    const result: Record<string, OrtOutput> = {};
    for (const [name, t] of Object.entries(out)) {
      const d = t.data as unknown as ArrayBufferView;
      result[name] = { type: t.type, dims: t.dims, bytes: Buffer.from(d.buffer, d.byteOffset, d.byteLength), strings: null };
    }
    return result;
  } finally {
    await s.release();
  }
}

function floats(dims: number[], seed: number, scale = 2): ort.Tensor {
  const rnd = xorshift32(seed);
  const n = dims.reduce((a, b) => a * b, 1);
  return new ort.Tensor('float32', Float32Array.from({ length: n }, () => (rnd() * 2 - 1) * scale), dims);
}

/** Largest element difference between two runs of float outputs (same names and dims required). */
function maxAbsDiff(a: Record<string, OrtOutput>, b: Record<string, OrtOutput>): number {
  expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
  let max = 0;
  for (const [name, x] of Object.entries(a)) {
    const y = b[name]!;
    expect(y.dims, name).toEqual(x.dims);
    expect(x.type, name).toBe('float32');
    const xs = new Float32Array(x.bytes!.buffer, x.bytes!.byteOffset, x.bytes!.byteLength / 4);
    const ys = new Float32Array(y.bytes!.buffer, y.bytes!.byteOffset, y.bytes!.byteLength / 4);
    for (let i = 0; i < xs.length; i++) max = Math.max(max, Math.abs(xs[i]! - ys[i]!));
  }
  return max;
}

function nodesOf(m: Model, opType: string): Node[] {
  return [...allNodes(m.graph)].filter((n) => n.opType === opType);
}

let checkFolder: string | undefined;
let checked = 0;
const checkDir = (): string => (checkFolder ??= tmpDir('splitc-opset-check-'));

/**
 * Upgrade a copy of `make()` to each target; outputs must match the original's bytes, and
 * (up to opset 17, when python3-onnx is there) onnx.checker must accept the result.
 */
async function expectSameOutputs(make: () => Model, targets: number[], feeds: Feeds, check?: (m: Model, target: number) => void): Promise<void> {
  const before = await runExact(modelToBytes(make()), feeds);
  for (const target of targets) {
    const m = make();
    const from = m.opset;
    const r = upgradeOpset(m, target);
    expect(r.from).toBe(from);
    expect(r.to).toBe(target);
    expect(m.opset).toBe(target);
    expect(verifyModel(m)).toEqual([]);
    const bytes = modelToBytes(m);
    assertValid(deserializeModel(bytes));
    const after = await runExact(bytes, feeds);
    expect(sameOutputs(before, after), `opset ${from} → ${target}`).toEqual({ same: true, why: '' });
    check?.(m, target);
    // (the checker wants every graph input to have a shape)
    if (target <= 17 && pythonOnnx().ok && m.graph.inputs.every((v) => v.shape)) {
      const file = path.join(checkDir(), `m${checked++}.onnx`);
      inferShapes(m); // the small models leave their outputs untyped, which the checker refuses
      saveModel(m, file);
      expect(onnxCheck(file), `onnx.checker at opset ${target}`).toEqual({ ok: true, message: 'ok' });
    }
  }
}

describe('upgrade-opset on the PaddleOCR fixtures', () => {
  for (const f of fixtures()) {
    it(`${f.file}: opset 13, 17, 18 and 21 give the original's outputs bit for bit`, async () => {
      const feeds = seededFloatInputs(f.inputShapes, 11);
      const exact = await runExact(f.path, feeds);
      const optimized = await runOrt(f.path, feeds);
      const original = loadModel(f.path);
      const from = original.opset;
      const hasAveragePool = nodesOf(original, 'AveragePool').length > 0;
      for (const target of [13, 17, 18, 21]) {
        const m = loadModel(f.path);
        const r = upgradeOpset(m, target);
        expect(r).toMatchObject({ from, to: target });
        assertValid(m);
        // nothing of the old forms is left
        for (const n of allNodes(m.graph)) {
          if (n.opType === 'Clip') expect(n.attributes.size, n.describe()).toBe(0);
          if (n.opType === 'Slice' || n.opType === 'Squeeze' || n.opType === 'Unsqueeze') expect(n.attributes.size, n.describe()).toBe(0);
          if (target >= 18 && n.opType.startsWith('Reduce')) expect(n.attr('axes'), n.describe()).toBeUndefined();
        }
        const bytes = modelToBytes(m);
        const upgraded = await runExact(bytes, feeds);
        if (target >= 19 && hasAveragePool) {
          // AveragePool-19 only added 'dilations', but onnxruntime 1.30 runs it with another
          // kernel than AveragePool-7..18 (no rewrite involved: see the AveragePool test).
          expect(maxAbsDiff(exact, upgraded), `opset ${from} → ${target}`).toBeLessThan(1e-5);
        } else {
          expect(sameOutputs(exact, upgraded), `opset ${from} → ${target}`).toEqual({ same: true, why: '' });
        }
        // With onnxruntime's default optimizations the fusions differ by op version: close, not equal.
        expect(maxAbsDiff(optimized, await runOrt(bytes, feeds)), `optimized, opset ${target}`).toBeLessThan(1e-4);
      }
    });
  }

  it('the same model upgrades to the same bytes', () => {
    const f = fixtures().find((x) => x.file.includes('rec'))!;
    const a = loadModel(f.path);
    const b = loadModel(f.path);
    upgradeOpset(a, 21);
    upgradeOpset(b, 21);
    expect(Buffer.from(modelToBytes(a)).equals(Buffer.from(modelToBytes(b)))).toBe(true);
  });

  it.skipIf(!pythonOnnx().ok)('upgraded fixtures pass onnx.checker (full check; python3-onnx 1.12 knows opsets up to 17)', () => {
    const dir = tmpDir('splitc-opset-');
    for (const f of fixtures()) {
      for (const target of [13, 17]) {
        const m = loadModel(f.path);
        upgradeOpset(m, target);
        const file = path.join(dir, `${target}-${f.file}`);
        saveModel(m, file);
        expect(onnxCheck(file), `${f.file} at ${target}`).toEqual({ ok: true, message: 'ok' });
      }
    }
  });

  it('the recognizer keeps its last-axis Softmax nodes as they are (ranks from shape inference)', () => {
    const f = fixtures().find((x) => x.file.includes('rec'))!;
    const m = loadModel(f.path);
    const softmaxBefore = nodesOf(m, 'Softmax').length;
    const r = upgradeOpset(m, 21);
    expect(nodesOf(m, 'Softmax').length).toBe(softmaxBefore);
    expect(nodesOf(m, 'Flatten')).toEqual([]);
    // 28 Clip, 9 Slice, 7 Squeeze, 1 Unsqueeze at 13 and 10 ReduceMean at 18
    expect(r.converted).toBeGreaterThanOrEqual(28 + 9 + 7 + 10);
    expect(m.irVersion).toBe(10);
  });
});

// ------------------------------------------------------------------ one model per op

function single(opset: number, build: (b: GraphBuilder) => Value | Value[]): () => Model {
  return () => {
    const b = new GraphBuilder('m');
    const outs = build(b);
    for (const v of Array.isArray(outs) ? outs : [outs]) b.output(v);
    return b.model({ opset, irVersion: 7 });
  };
}

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

describe('model-local functions', () => {
  it('are upgraded with the model: constants become Constant nodes, unknown ranks get the general rewrite', async () => {
    const make = () => {
      // custom.Head(a) = Softmax(Slice(a, starts=[1], ends=[3], axes=[2]), axis=1)
      const body = new Graph('Head');
      const a = body.addInput(new Value('a'));
      const sliced = new Value('sliced');
      const out = new Value('out');
      body.appendNode(new Node('', 'Slice', [a], [sliced], { name: 'slice', attributes: [attr.ints('starts', [1]), attr.ints('ends', [3]), attr.ints('axes', [2])] }));
      body.appendNode(new Node('', 'Softmax', [sliced], [out], { name: 'softmax', attributes: [attr.int('axis', 1)] }));
      body.outputs.push(out);
      const fn: IrFunction = {
        domain: 'custom.fn',
        name: 'Head',
        overload: '',
        attributeNames: [],
        attributeDefaults: [],
        opsetImports: new Map([['', 9]]),
        body,
        docString: '',
        extra: undefined,
      };
      const b = new GraphBuilder('uses_function');
      const x = b.input('x', DataType.FLOAT, [2, 3, 4]);
      b.output(b.op('Head', [x], {}, { domain: 'custom.fn', outputNames: ['y'] }), { dtype: DataType.FLOAT, shape: [2, 3, 2] });
      const m = b.model({ opset: 9, irVersion: 8, extraOpsets: [['custom.fn', 1]] });
      m.functions.push(fn);
      return m;
    };
    await expectSameOutputs(make, [13, 21], { x: floats([2, 3, 4], 19) }, (m, target) => {
      const fn = m.functions[0]!;
      expect(fn.opsetImports.get('')).toBe(target);
      const ops = [...fn.body.nodes].map((n) => n.opType);
      expect(ops.filter((o) => o === 'Constant').length).toBe(3);
      expect(ops).toContain('Flatten');
      expect(m.graph.initializers.size).toBe(0);
    });
  });
});

// ------------------------------------------------------------------ no-ops, errors, bookkeeping

describe('what the converter refuses', () => {
  const clipModel = (opset: number) =>
    single(opset, (b) => b.op('Clip', [b.input('x', DataType.FLOAT, [2])], { min: attr.float('min', 0) }))();

  it('targets outside 7..21 are E_OPSET', () => {
    for (const t of [22, 25, 6, 0, 13.5, Number.NaN]) expect(codeOf(() => upgradeOpset(clipModel(9), t)), `target ${t}`).toBe('E_OPSET');
    expect(MAX_UPGRADE_OPSET).toBe(21);
  });

  it('a model below opset 7 is E_OPSET', () => {
    expect(codeOf(() => upgradeOpset(clipModel(6), 13))).toBe('E_OPSET');
  });

  it('a target at or below the model opset changes nothing', () => {
    const m = clipModel(13);
    const text = printModel(m);
    expect(upgradeOpset(m, 13)).toEqual({ from: 13, to: 13, converted: 0 });
    expect(upgradeOpset(m, 9)).toEqual({ from: 13, to: 13, converted: 0 });
    expect(printModel(m)).toBe(text);
  });

  const refusals: [string, () => Model, number, RegExp][] = [
    [
      'Scan-8 (batch axis removed at 9)',
      () => {
        const body = new GraphBuilder('body');
        const s = body.input('s', DataType.FLOAT, [2]);
        const e = body.input('e', DataType.FLOAT, [2]);
        body.output(body.op('Add', [s, e], {}, { outputNames: ['s_next'] }));
        const b = new GraphBuilder('m');
        const init = b.input('init', DataType.FLOAT, [1, 2]);
        const seq = b.input('seq', DataType.FLOAT, [1, 5, 2]);
        b.output(b.op('Scan', [null, init, seq], { body: body.graph, num_scan_inputs: 1 }, { name: 'my_scan' }));
        return b.model({ opset: 8 });
      },
      9,
      /Scan 'my_scan'.*opset 9/,
    ],
    [
      'GroupNormalization-18 (per-channel scale at 21)',
      single(18, (b) => {
        const x = b.input('x', DataType.FLOAT, [1, 4, 3]);
        const p = b.init('p', DataType.FLOAT, [2], [1, 1]);
        return b.op('GroupNormalization', [x, p, p], { num_groups: 2 }, { name: 'gn' });
      }),
      21,
      /GroupNormalization 'gn'.*opset 21/,
    ],
    [
      "Resize-11 with 'tf_half_pixel_for_nn' (removed at 13)",
      single(11, (b) => {
        const x = b.input('x', DataType.FLOAT, [1, 1, 2, 2]);
        const roi = b.init('roi', DataType.FLOAT, [0], []);
        const sc = b.init('sc', DataType.FLOAT, [4], [1, 1, 2, 2]);
        return b.op('Resize', [x, roi, sc], { mode: 'nearest', coordinate_transformation_mode: 'tf_half_pixel_for_nn' }, { name: 'rs' });
      }),
      13,
      /Resize 'rs'.*tf_half_pixel_for_nn/,
    ],
    [
      'Resize-10 nearest with scales computed at run time',
      single(10, (b) => b.op('Resize', [b.input('x', DataType.FLOAT, [1, 1, 2, 2]), b.input('s', DataType.FLOAT, [4])], { mode: 'nearest' }, { name: 'rs' })),
      11,
      /Resize 'rs'.*run time/,
    ],
    [
      'BatchNormalization with spatial=0',
      single(8, (b) => {
        const x = b.input('x', DataType.FLOAT, [1, 2, 2]);
        const p = b.init('p', DataType.FLOAT, [2, 2], [1, 1, 1, 1]);
        return b.op('BatchNormalization', [x, p, p, p, p], { spatial: 0 }, { name: 'bn' });
      }),
      9,
      /BatchNormalization 'bn'.*spatial=0/,
    ],
    [
      'Dropout whose float mask is used (bool from 10)',
      single(9, (b) => b.opMulti('Dropout', [b.input('x', DataType.FLOAT, [2])], 2, {}, { name: 'dr' })),
      10,
      /Dropout 'dr'.*mask/,
    ],
    [
      'an op of the default domain the converter does not know',
      single(9, (b) => b.op('FrobNicate', [b.input('x', DataType.FLOAT, [2])], {}, { name: 'frob' })),
      13,
      /FrobNicate 'frob'/,
    ],
  ];
  for (const [what, make, target, message] of refusals) {
    it(`${what}: E_OPSET naming the node, model untouched`, () => {
      const m = make();
      // a convertible node next to the refused one must not be half-converted
      const x2 = m.graph.addInput(new Value('x_extra', tensorType(DataType.FLOAT, [3])));
      const clipOut = new Value('clip_extra', null);
      m.graph.appendNode(new Node('', 'Clip', [x2], [clipOut], { name: 'c', attributes: [attr.float('max', 1)] }));
      m.graph.outputs.push(clipOut);
      const text = printModel(m);
      const opset = m.opset;
      let err: unknown;
      try {
        upgradeOpset(m, target);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(SplitcError);
      expect((err as SplitcError).code).toBe('E_OPSET');
      expect((err as SplitcError).message).toMatch(message);
      expect((err as SplitcError).hint).toBeTruthy();
      expect(m.opset).toBe(opset);
      expect(printModel(m)).toBe(text);
    });
  }

  it('Clip bounds need the input element type', () => {
    const make = single(9, (b) => b.op('Clip', [b.input('x', DataType.UNDEFINED, null)], { min: attr.float('min', 0) }, { name: 'c' }));
    const m = make();
    m.graph.inputs[0]!.type = null;
    expect(() => upgradeOpset(m, 11)).toThrow(/Clip 'c'.*element type is unknown/);
  });
});

describe('bookkeeping', () => {
  it('keeps the key the model imports the default domain under, and raises the IR version', () => {
    const m = single(9, (b) => b.op('Relu', [b.input('x', DataType.FLOAT, [2])]))();
    m.opsetImports.delete('');
    m.opsetImports.set('ai.onnx', 9);
    m.irVersion = 4;
    expect(upgradeOpset(m, 21)).toEqual({ from: 9, to: 21, converted: 0 });
    expect([...m.opsetImports]).toEqual([['ai.onnx', 21]]);
    expect(m.irVersion).toBe(10);
  });

  it('is a pipeline pass: upgrade-opset{to=N}', () => {
    const m = single(9, (b) => b.op('Clip', [b.input('x', DataType.FLOAT, [2])], { max: attr.float('max', 1) }))();
    const r = new PassManager(parsePipeline('upgrade-opset{to=13}'), { verify: true }).run(m);
    expect(r.modified).toBe(true);
    expect(r.model.opset).toBe(13);
    expect(codeOf(() => parsePipeline('upgrade-opset'))).toBe('E_BAD_ARGUMENT');
    expect(codeOf(() => parsePipeline('upgrade-opset{to=13;x=1}'))).toBe('E_BAD_ARGUMENT');
  });

  it('every op with a breaking change has a rewrite, or is refused on purpose', () => {
    const refused = new Set(['Scan', 'GroupNormalization', 'MeanVarianceNormalization']);
    for (const [op, changes] of Object.entries(OPSET_CHANGES)) {
      const breaking = Object.values(changes).some((c) => !c.compatible);
      if (breaking) expect(UPGRADERS[op] !== undefined || refused.has(op), op).toBe(true);
    }
    for (const op of Object.keys(UPGRADERS)) expect(Object.values(OPSET_CHANGES[op] ?? {}).some((c) => !c.compatible), op).toBe(true);
  });
});
