// fold-batchnorm: Conv → BatchNormalization pairs with constant weights fold into the Conv.
// Every fixture (and the trained ResNet) keeps its outputs under onnxruntime within float
// rounding and passes the IR verifier; pairs that must not fold (a second reader of the Conv's
// output, training mode, the Conv's output a graph output) stay as they are.

import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { attr, GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import type { Model } from '../../src/ir/graph.js';
import { loadModel, modelToBytes } from '../../src/ir/serde/io.js';
import { verifyModel } from '../../src/ir/verify.js';
import { foldBatchNorm } from '../../src/passes/fold-batchnorm.js';
import { fixtures, trainedFixtures } from '../helpers/fixtures.js';
import { floatsOf, maxAbsDiff, runOrt, seededFloatInputs } from '../helpers/onnx-oracle.js';

const count = (m: Model, op: string): number => m.graph.nodes.toArray().filter((n) => n.opType === op).length;

async function expectSameOutputs(before: Uint8Array, after: Model, feeds: Record<string, ort.Tensor>): Promise<void> {
  const a = await runOrt(before, feeds);
  const b = await runOrt(modelToBytes(after), feeds);
  expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
  for (const [name, r] of Object.entries(a)) {
    expect(b[name]!.dims).toEqual(r.dims);
    const { diff, scale } = maxAbsDiff(floatsOf(r.bytes), floatsOf(b[name]!.bytes));
    expect(diff, name).toBeLessThanOrEqual(1e-4 * scale + 1e-6);
  }
}

describe('fold-batchnorm', () => {
  const models = [...fixtures(), ...trainedFixtures()];
  for (const f of models) {
    it(`${f.file}: same outputs, verified IR, fewer BatchNorms`, async () => {
      const m = loadModel(f.path);
      const before = modelToBytes(m);
      const bns = count(m, 'BatchNormalization');
      const r = foldBatchNorm(m);
      expect(verifyModel(m)).toEqual([]);
      const folded = bns - count(m, 'BatchNormalization');
      expect(r.folded).toBe(folded);
      expect(r.modified).toBe(folded > 0);
      if (f.file.includes('cls')) expect(folded).toBe(35);
      if (f.file.includes('fashion')) expect(folded).toBe(9);
      await expectSameOutputs(before, m, seededFloatInputs(f.inputShapes, 7));
    }, 60_000);
  }

  function pair(opts: { bias?: boolean; extraReader?: boolean; training?: boolean; convIsOutput?: boolean } = {}): Model {
    const b = new GraphBuilder('m');
    const x = b.input('x', DataType.FLOAT, [2, 3, 5, 5]);
    const w = b.weight('w', [4, 3, 3, 3], 1, 0.3);
    const inputs = [x, w, ...(opts.bias ? [b.init('b', DataType.FLOAT, [4], [0.1, -0.2, 0.3, 0])] : [])];
    const c = b.op('Conv', inputs, { pads: attr.ints('pads', [1, 1, 1, 1]) });
    const k = (name: string, data: number[]) => b.init(name, DataType.FLOAT, [4], data);
    const bn = b.op('BatchNormalization', [c, k('scale', [1.5, -0.5, 2, 0.25]), k('bias', [0, 1, -1, 0.5]), k('mean', [0.1, 0, -0.3, 2]), k('var', [1, 0.5, 4, 0.01])], {
      epsilon: attr.float('epsilon', 1e-3),
      ...(opts.training ? { training_mode: attr.int('training_mode', 1) } : {}),
    });
    b.output(bn);
    if (opts.extraReader) b.output(b.op('Relu', [c]));
    if (opts.convIsOutput) b.output(c);
    return b.model({ opset: 15 });
  }

  it('folds with and without a Conv bias, keeping the output name', async () => {
    for (const bias of [false, true]) {
      const m = pair({ bias });
      const outName = m.graph.outputs[0]!.name;
      const before = modelToBytes(m);
      expect(foldBatchNorm(m).modified).toBe(true);
      expect(count(m, 'BatchNormalization')).toBe(0);
      expect(m.graph.outputs[0]!.name).toBe(outName);
      expect(m.graph.nodes.first()!.inputs.length).toBe(3);
      expect(verifyModel(m)).toEqual([]);
      await expectSameOutputs(before, m, seededFloatInputs({ x: [2, 3, 5, 5] }, 3));
    }
  });

  it('leaves pairs alone when the Conv output has another reader, is a graph output, or BatchNorm trains', () => {
    for (const opts of [{ extraReader: true }, { convIsOutput: true }, { training: true }]) {
      const m = pair(opts);
      expect(foldBatchNorm(m).modified, JSON.stringify(opts)).toBe(false);
      expect(count(m, 'BatchNormalization')).toBe(1);
    }
  });
});
