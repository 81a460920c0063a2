// The training graph pass: BatchNormalization switched to batch statistics (as a registered
// pass and inside buildTrainingGraph), running statistics exposed as inputs and returned as
// outputs; the forward model given to buildTrainingGraph is left as it was.

import { describe, expect, it } from 'vitest';
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
