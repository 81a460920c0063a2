// The trainer takes its onnxruntime module: the same training steps run on onnxruntime-web
// (wasm, here in Node) as on onnxruntime-node, with the same losses to float32 accuracy
// (different kernels sum in different orders, so not bit for bit).

import * as ort from 'onnxruntime-node';
import { expect, it } from 'vitest';
import { smallResNet } from '../../../src/runtime/train/models.js';
import { type OrtModule, Trainer } from '../../../src/runtime/train/trainer.js';
import { rng } from '../../../src/runtime/train/fit.js';

async function twoSteps(runtime: OrtModule): Promise<{ losses: number[]; params: Map<string, Float32Array> }> {
  const trainer = await Trainer.create({
    ort: runtime,
    model: smallResNet({ widths: [4, 8], classes: 3, size: 8, seed: 3 }),
    loss: 'ce:logits',
    inputShapes: { image: [8, 1, 8, 8] },
    optimizer: { kind: 'adam', lr: 0.01, weightDecay: 1e-4, decoupled: true },
  });
  const r = rng(5);
  const images = Float32Array.from({ length: 8 * 64 }, () => r() - 0.5);
  const labels = BigInt64Array.from({ length: 8 }, (_, i) => BigInt(i % 3));
  const batch = { image: new runtime.Tensor('float32', images, [8, 1, 8, 8]), labels: new runtime.Tensor('int64', labels, [8]) };
  const losses: number[] = [];
  try {
    // the second step's loss also checks the first step's update and running statistics
    for (let s = 0; s < 2; s++) losses.push((await trainer.trainStep(batch)).loss);
  } finally {
    await trainer.release();
  }
  return { losses, params: trainer.params };
}

it('one trainer runs the same steps on onnxruntime-web (wasm) as on onnxruntime-node', async () => {
  const web = await import('onnxruntime-web');
  web.env.wasm.numThreads = 1;
  const onNode = await twoSteps(ort);
  const onWeb = await twoSteps(web);
  expect(onWeb.losses).toHaveLength(2);
  for (let s = 0; s < 2; s++) expect(Math.abs(onWeb.losses[s]! - onNode.losses[s]!), `step ${s + 1}`).toBeLessThan(1e-5 * Math.max(1, Math.abs(onNode.losses[s]!)));
  expect(onNode.losses[1]).not.toBe(onNode.losses[0]);
  for (const [name, p] of onNode.params) {
    const q = onWeb.params.get(name)!;
    let diff = 0;
    for (let i = 0; i < p.length; i++) diff = Math.max(diff, Math.abs(p[i]! - q[i]!));
    expect(diff, name).toBeLessThan(1e-4);
  }
});
