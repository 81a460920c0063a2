// The training graph pass: BatchNormalization switched to batch statistics (as a registered
// pass and inside buildTrainingGraph), running statistics exposed as inputs and returned as
// outputs; the forward model given to buildTrainingGraph is left as it was; its options
// (BatchNorm left in inference mode with frozen weights, rule tables such as straight-through).

import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import type { Model } from '../../src/ir/graph.js';
import { type GradRuleTable, straightThroughRules } from '../../src/passes/autodiff/index.js';
import { modelToBytes } from '../../src/ir/serde/io.js';
import { verifyModel } from '../../src/ir/verify.js';
import { PassContext, PassManager, parsePipeline, printPipeline } from '../../src/passes/pass.js';
import { buildTrainingGraph, cloneModel } from '../../src/passes/training-graph.js';
import { upgradeOpset } from '../../src/passes/opset.js';
import { smallResNet } from '../../src/runtime/train/models.js';

const bns = (m: ReturnType<typeof smallResNet>) => m.graph.nodes.toArray().filter((n) => n.opType === 'BatchNormalization');

describe('batchnorm-training pass', () => {
  it('puts every BatchNormalization in training mode, its running statistics in as inputs and out as outputs', () => {
    const model = smallResNet({ widths: [4, 8], classes: 3, size: 8, seed: 3 });
    upgradeOpset(model, 15);
    const count = bns(model).length;
    expect(count).toBeGreaterThan(0);
    const passes = parsePipeline('batchnorm-training');
    expect(printPipeline(passes)).toBe('batchnorm-training');
    const ctx = new PassContext();
    const r = new PassManager(passes, { verify: true }).run(model, ctx);
    expect(r.modified).toBe(true);
    expect(verifyModel(model)).toEqual([]);
    for (const n of bns(model)) {
      expect(n.attrInt('training_mode', 0)).toBe(1);
      expect(n.outputs).toHaveLength(3);
      for (const s of n.inputs.slice(3, 5)) expect(model.graph.inputs).toContain(s);
      for (const o of n.outputs.slice(1)) expect(model.graph.outputs).toContain(o);
    }
    expect(ctx.diagnostics.map((d) => d.code)).toEqual(['I_BN_TRAINING']);
    expect(new PassManager(parsePipeline('batchnorm-training')).run(model).modified).toBe(false);
  });

  it('buildTrainingGraph leaves the forward model unchanged', () => {
    const forward = smallResNet({ widths: [4, 8], classes: 3, size: 8, seed: 3 });
    const before = modelToBytes(cloneModel(forward));
    const tg = buildTrainingGraph(forward, { loss: 'ce:logits', inputShapes: { image: [8, 1, 8, 8] } });
    expect(modelToBytes(forward)).toEqual(before);
    expect(tg.stats).toHaveLength(bns(forward).length);
    expect(tg.extraInputs).toEqual(['labels']);
  });
});

describe('buildTrainingGraph options', () => {
  it("batchNorm 'inference' leaves BatchNormalization as it is; only the given params become inputs, the rest stay initializers", () => {
    const forward = smallResNet({ widths: [4, 8], classes: 3, size: 8, seed: 3 });
    const tg = buildTrainingGraph(forward, { loss: 'ce:logits', inputShapes: { image: [8, 1, 8, 8] }, params: ['stem.conv.weight'], batchNorm: 'inference' });
    expect(tg.stats).toEqual([]);
    expect(tg.params).toEqual(['stem.conv.weight']);
    expect([...tg.initial.keys()]).toEqual(['stem.conv.weight']);
    const g = tg.model.graph;
    expect(g.inputs.map((v) => v.name).sort()).toEqual(['image', 'labels', 'stem.conv.weight']);
    expect(g.outputs.map((v) => v.name)).toEqual(['logits', 'loss', 'grad:stem.conv.weight']);
    const frozen = [...forward.graph.initializers.keys()].filter((n) => n !== 'stem.conv.weight');
    expect(frozen.length).toBeGreaterThan(10);
    for (const n of frozen) expect(g.initializers.has(n), n).toBe(true);
    for (const n of bns(tg.model)) {
      expect(n.outputs).toHaveLength(1);
      expect(n.attrInt('training_mode', 0)).toBe(0);
    }
    expect(verifyModel(tg.model)).toEqual([]);
    // the default is unchanged: batch statistics, running statistics in and out
    expect(buildTrainingGraph(forward, { loss: 'ce:logits', inputShapes: { image: [8, 1, 8, 8] }, params: ['stem.conv.weight'] }).stats).toHaveLength(bns(forward).length);
  });

  it('rules reach the autodiff pass: a straight-through Floor passes the gradient, a plain one gives zeros', async () => {
    const forward = (): Model => {
      const b = new GraphBuilder('ste');
      const x = b.input('x', DataType.FLOAT, ['N', 4]);
      const h = b.op('Floor', [b.op('MatMul', [x, b.weight('w1', [4, 3], 1, 2)])], {}, { name: 'q' });
      b.output(b.op('MatMul', [h, b.weight('w2', [3, 2], 2, 1)], {}, { outputNames: ['y'] }), { dtype: DataType.FLOAT, shape: ['N', 2] });
      return b.model({ opset: 17 });
    };
    const grad = async (rules?: GradRuleTable): Promise<number[]> => {
      const tg = buildTrainingGraph(forward(), { loss: 'mse:y', inputShapes: { x: [5, 4] }, params: ['w1'], ...(rules ? { rules } : {}) });
      const s = await ort.InferenceSession.create(modelToBytes(tg.model));
      const x = new ort.Tensor('float32', Float32Array.from({ length: 20 }, (_, i) => Math.sin(i)), [5, 4]);
      const out = await s.run({ x, w1: new ort.Tensor('float32', tg.initial.get('w1')!.toTypedArray() as Float32Array, [4, 3]), target: new ort.Tensor('float32', new Float32Array(10), [5, 2]) });
      await s.release();
      return Array.from(out['grad:w1']!.data as Float32Array);
    };
    expect((await grad(straightThroughRules(['q']))).some((g) => Math.abs(g) > 1e-3)).toBe(true);
    expect((await grad()).every((g) => g === 0)).toBe(true);
  });
});
