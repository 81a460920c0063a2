// upgrade-opset: the real fixtures compute the same bytes under onnxruntime before and after
// the upgrade, model-local functions are upgraded with the model, and changes the converter
// cannot carry are E_OPSET errors naming the node, raised before the model is touched. The
// rewrites of single ops are tested in opset/upgraders.test.ts.
import { describe, expect, it } from 'vitest';
import { attr, GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { SplitcError } from '../../src/ir/errors.js';
import { allNodes, Graph, type IrFunction, type Model, Node, tensorType, Value } from '../../src/ir/graph.js';
import { printModel } from '../../src/ir/printer.js';
import { loadModel, modelToBytes, saveModel } from '../../src/ir/serde/io.js';
import { assertValid } from '../../src/ir/verify.js';
import { MAX_UPGRADE_OPSET, OPSET_CHANGES, UPGRADERS, upgradeOpset } from '../../src/passes/opset.js';
import { PassManager, parsePipeline } from '../../src/passes/pass.js';
import { codeOf } from '../helpers/codes.js';
import * as path from 'node:path';
import { fixtures, tmpDir } from '../helpers/fixtures.js';
import { onnxCheck, pythonOnnx, runOrt, sameOutputs, seededFloatInputs } from '../helpers/onnx-oracle.js';
import { expectSameOutputs, floats, maxAbsDiff, nodesOf, runExact, single } from './opset/helpers.js';

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
