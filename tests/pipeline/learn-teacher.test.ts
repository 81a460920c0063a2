// What the distillation compares: a model whose class scores come out of a Softmax (PaddleOCR's
// exports) is distilled on its logits, student and teacher alike, so a lossless bottleneck
// starts at zero loss (a teacher fed probabilities as logits would not); labels, when every
// training sample has one, add a cross-entropy term the result reports.
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import type { Model } from '../../src/ir/graph.js';
import { parseCompressSpec } from '../../src/passes/bottleneck/spec.js';
import type { SplitResult } from '../../src/passes/cut.js';
import { cutPass } from '../../src/passes/cut-pass.js';
import { CHECKED_RUN, PassManager } from '../../src/passes/pass.js';
import { inferShapes } from '../../src/passes/shape/index.js';
import { learnBottleneck } from '../../src/pipeline/learn.js';
import type { CalibSample } from '../../src/search/calib-data.js';
import { xorshift32 } from '../helpers/onnx-oracle.js';

/** x [N,2,4,4] → 1×1 Conv to 4 channels (rank 2: a lossless 2-channel bottleneck exists) → pool → Gemm (large logits) → Softmax. */
function softmaxClassifier(): Model {
  const b = new GraphBuilder('softmax-classifier');
  const x = b.input('x', DataType.FLOAT, [1, 2, 4, 4]);
  const w = b.init('conv.w', DataType.FLOAT, [4, 2, 1, 1], [1, 0, 0, 1, 1, 1, 2, -1]);
  const h = b.op('Conv', [x, w, b.init('conv.b', DataType.FLOAT, [4], [0.5, -0.25, 0, 1])], { kernel_shape: [1, 1] }, { outputNames: ['h'] });
  const pooled = b.op('Flatten', [b.op('GlobalAveragePool', [h])], { axis: 1 });
  const fc = b.init('fc.w', DataType.FLOAT, [3, 4], [4, -3, 2, 1, -2, 5, -1, 3, 1, 1, -4, -2]);
  const logits = b.op('Gemm', [pooled, fc, b.init('fc.b', DataType.FLOAT, [3], [0, 1, -1])], { transB: 1 }, { outputNames: ['logits'] });
  b.output(b.op('Softmax', [logits], { axis: -1 }, { outputNames: ['probs'] }));
  const m = b.model({ opset: 17 });
  inferShapes(m);
  return m;
}

function samples(n: number, seed: number, labelled: boolean): CalibSample[] {
  const rnd = xorshift32(seed);
  return Array.from({ length: n }, (_, i) => {
    const data = Float32Array.from({ length: 32 }, () => 2 * rnd() - 1);
    return { id: `s${i}`, ...(labelled ? { label: i % 3 } : {}), load: () => ({ x: { dtype: DataType.FLOAT, dims: [1, 2, 4, 4], data } }) };
  });
}

describe('learnBottleneck on a Softmax classifier', () => {
  const model = softmaxClassifier();
  const split = new PassManager<Model, SplitResult>([cutPass({ after: model.graph.valuesByName().get('h')!.producer()!.name })], CHECKED_RUN).run(model).model;
  const spec = parseCompressSpec('learned=2');

  it('distils logits against logits: a lossless bottleneck starts at zero loss and full agreement', async () => {
    const r = await learnBottleneck(model, split, spec, samples(16, 1, false), samples(8, 2, false), { epochs: 1, seed: 1, batchSize: 8 });
    expect(r.usedLabels).toBe(false);
    expect(r.initialAgreement).toBe(1);
    expect(r.initialLoss).toBeLessThan(1e-6);
  });

  it('adds a cross-entropy term on labels when every training sample has one', async () => {
    const unlabelled = await learnBottleneck(model, split, spec, samples(16, 1, false), [], { epochs: 1, seed: 1, batchSize: 8 });
    const labelled = await learnBottleneck(model, split, spec, samples(16, 1, true), [], { epochs: 1, seed: 1, batchSize: 8 });
    expect(labelled.usedLabels).toBe(true);
    // the same lossless start: the loss is the labels' cross-entropy alone, well above zero
    expect(labelled.initialLoss).toBeGreaterThan(0.1);
    expect(unlabelled.initialLoss).toBeLessThan(1e-6);
    const off = await learnBottleneck(model, split, spec, samples(16, 1, true), [], { epochs: 1, seed: 1, batchSize: 8, labelWeight: 0 });
    expect(off.usedLabels).toBe(false);
    // some samples without a label: labels are not used
    const mixed = [...samples(8, 1, true), ...samples(8, 3, false)];
    expect((await learnBottleneck(model, split, spec, mixed, [], { epochs: 1, seed: 1, batchSize: 8 })).usedLabels).toBe(false);
  });
});
