// The coordinator's training task: the graph and the tensors a client feeds and returns, the
// initial weights (from the training graph or the model, the same), and the inference model
// with a round's weights written in.
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { assertValid } from '../../../src/ir/verify.js';
import { applyWeights, buildTrainingTask, initialWeights, trainingTaskOf } from '../../../src/runtime/federated/task.js';
import { smallResNet } from '../../../src/runtime/train/models.js';
import { codeOf } from '../../helpers/codes.js';

const tiny = () => smallResNet({ widths: [4, 8], classes: 3, size: 8, seed: 3 });

describe('buildTrainingTask', () => {
  it('lists the parameters, BatchNorm statistics, input, target and classes of the graph it serialises', async () => {
    const model = tiny();
    const { task, graph } = trainingTaskOf(model, { batchSize: 4 });
    expect(task.input).toEqual({ name: 'image', shape: [1, 8, 8] });
    expect(task.target).toEqual({ name: 'labels', kind: 'labels' });
    expect(task.classes).toBe(3);
    expect(task.batchSize).toBe(4);
    expect(task.params.map((p) => p.name)).toEqual(graph.params);
    expect(task.params.find((p) => p.name === 'stem.conv.weight')!.dims).toEqual([4, 1, 3, 3]);
    expect(task.stats.find((s) => s.mean === 'stem.bn.running_mean')).toMatchObject({ variance: 'stem.bn.running_var', dims: [4] });
    // the session sees the inputs and outputs a client feeds and fetches
    const session = await ort.InferenceSession.create(task.graph);
    try {
      const names = [...task.params.map((p) => p.name), ...task.stats.flatMap((s) => [s.mean, s.variance]), 'image', 'labels'];
      expect([...session.inputNames].sort()).toEqual(names.sort());
      for (const out of [task.loss, ...task.params.map((p) => `grad:${p.name}`), ...task.stats.flatMap((s) => [s.meanOut, s.varianceOut])]) expect(session.outputNames).toContain(out);
    } finally {
      await session.release();
    }
    // the same bytes every time (clients of a round train the same graph)
    expect(Buffer.from(buildTrainingTask(model, { batchSize: 4 }).graph).equals(Buffer.from(task.graph))).toBe(true);
  }, 20_000);

  it("'mse-onehot' feeds float32 one-hot rows", () => {
    const task = buildTrainingTask(tiny(), { batchSize: 2, loss: 'mse-onehot' });
    expect(task.target).toEqual({ name: 'onehot', kind: 'onehot' });
    expect(task.classes).toBe(3);
  });

  it('refuses a batch size, input or output that does not fit', () => {
    expect(codeOf(() => buildTrainingTask(tiny(), { batchSize: 0 }))).toBe('E_BAD_ARGUMENT');
    expect(codeOf(() => buildTrainingTask(tiny(), { batchSize: 2, inputName: 'pixels' }))).toBe('E_BAD_ARGUMENT');
    expect(codeOf(() => buildTrainingTask(tiny(), { batchSize: 2, outputName: 'probs' }))).toBe('E_BAD_ARGUMENT');
  });
});

describe('initialWeights and applyWeights', () => {
  it('initial weights from the graph equal those read from the model, as copies', () => {
    const model = tiny();
    const { task, graph } = trainingTaskOf(model, { batchSize: 2 });
    const fromGraph = initialWeights(graph);
    const fromModel = initialWeights(model, task);
    expect([...fromModel.keys()]).toEqual([...fromGraph.keys()]);
    for (const [name, w] of fromGraph) expect(Array.from(fromModel.get(name)!), name).toEqual(Array.from(w));
    fromModel.get('fc.bias')![0] = 42;
    expect(initialWeights(model, task).get('fc.bias')![0]).toBe(0);
  });

  it('writes weights into a copy of the inference model, which reads them back', () => {
    const model = tiny();
    const task = buildTrainingTask(model, { batchSize: 2 });
    const weights = initialWeights(model, task);
    for (const w of weights.values()) w.fill(0.25);
    const out = applyWeights(model, weights);
    assertValid(out);
    const back = initialWeights(out, task);
    for (const [name, w] of back) expect(Array.from(w), name).toEqual(Array.from(weights.get(name)!));
    expect(initialWeights(model, task).get('fc.weight')![0]).not.toBe(0.25); // the model is untouched
    expect(codeOf(() => applyWeights(model, new Map([['fc.bias', new Float32Array(7)]])))).toBe('E_AUTODIFF');
  });
});
