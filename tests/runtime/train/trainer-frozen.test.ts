// The trainer fine-tuning a part of a model: BatchNorm in inference mode (running statistics
// frozen, none returned), only the named parameters moving, and distillation from a teacher's
// logits fed as the 'teacher' input.

import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { constantOf } from '../../../src/ir/constants.js';
import type { Model } from '../../../src/ir/graph.js';
import { modelToBytes } from '../../../src/ir/serde/io.js';
import { assertValid } from '../../../src/ir/verify.js';
import { fit } from '../../../src/runtime/train/fit.js';
import { smallResNet } from '../../../src/runtime/train/models.js';
import { Trainer } from '../../../src/runtime/train/trainer.js';
import { toyData } from './toy-data.js';

const tiny = (seed = 3) => smallResNet({ widths: [4, 8], classes: 3, size: 8, seed });
const weightBytes = (m: Model): Map<string, Buffer> =>
  new Map(
    [...m.graph.initializers.values()].map((v) => {
      const a = constantOf(v)!.toTypedArray();
      return [v.name, Buffer.from(a.buffer, a.byteOffset, a.byteLength)];
    }),
  );
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe("Trainer with batchNorm 'inference' and a few params", () => {
  it('changes only the named layer, keeps the BatchNorm statistics, and its loss falls', async () => {
    const forward = tiny();
    const trainer = await Trainer.create({
      ort,
      model: forward,
      loss: 'ce:logits',
      inputShapes: { image: [8, 1, 8, 8] },
      params: ['stem.conv.weight'],
      batchNorm: 'inference',
      optimizer: { kind: 'adam', lr: 0.02 },
      sessionOptions: { intraOpNumThreads: 1 },
    });
    expect(trainer.stats.size).toBe(0);
    expect([...trainer.params.keys()]).toEqual(['stem.conv.weight']);
    const losses: number[] = [];
    await fit(trainer, { data: toyData(256, 1), batchSize: 8, epochs: 3, seed: 2, inputName: 'image', onProgress: (p) => losses.push(p.loss) });
    expect(mean(losses.slice(-10))).toBeLessThan(0.8 * mean(losses.slice(0, 10)));
    const exported = trainer.exportModel();
    assertValid(exported);
    const before = weightBytes(forward);
    const after = weightBytes(exported);
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
    for (const [name, bytes] of before) {
      if (name === 'stem.conv.weight') expect(after.get(name)!.equals(bytes), name).toBe(false);
      else expect(after.get(name)!.equals(bytes), name).toBe(true); // BN statistics included
    }
    await trainer.release();
  }, 120_000);

  it("distils a teacher's logits (kd, float32 under onnxruntime): the loss falls", async () => {
    const teacherModel = tiny(11);
    const teacherSession = await ort.InferenceSession.create(modelToBytes(teacherModel), { intraOpNumThreads: 1 });
    const trainer = await Trainer.create({
      ort,
      model: tiny(),
      loss: 'kd(T=2):logits',
      inputShapes: { image: [16, 1, 8, 8] },
      params: ['fc.weight', 'fc.bias', 'stem.conv.weight'],
      batchNorm: 'inference',
      optimizer: { kind: 'adam', lr: 0.02 },
      sessionOptions: { intraOpNumThreads: 1 },
    });
    expect(trainer.graph.extraInputs).toEqual(['teacher']);
    expect(trainer.graph.teachers).toEqual({ teacher: 'logits' });
    const data = toyData(16 * 8, 5);
    const losses: number[] = [];
    for (let epoch = 0; epoch < 4; epoch++) {
      for (let b = 0; b < 8; b++) {
        const image = new ort.Tensor('float32', data.images.slice(b * 16 * 64, (b + 1) * 16 * 64), [16, 1, 8, 8]);
        const teacher = (await teacherSession.run({ image })).logits!;
        losses.push((await trainer.trainStep({ image, teacher })).loss);
      }
    }
    expect(losses.every((l) => l >= -1e-6 && Number.isFinite(l))).toBe(true);
    expect(mean(losses.slice(-8))).toBeLessThan(0.7 * mean(losses.slice(0, 8)));
    await trainer.release();
    await teacherSession.release();
  }, 120_000);
});
