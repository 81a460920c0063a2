// Gradient graphs run the same in onnxruntime-node and onnxruntime-web (wasm, in Node): for
// every fixture and the trained ResNet, the gradient of Σ⟨outputs, R⟩ with respect to the
// input and every parameter. The two runtimes use different kernels (MLAS vs the wasm
// build) and sum in different orders, so results agree to float32 accuracy, not bit for bit;
// the detector's forward output itself differs by ~1 % (relative L2) between the two. So per
// gradient: ‖Δ‖₂ ≤ max(2e-3, 3 · the forward outputs' relative difference) · ‖g‖₂.

import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { loadModel, modelToBytes } from '../../../src/ir/serde/io.js';
import { differentiate, GRAD_PREFIX, parameterNames } from '../../../src/passes/autodiff/index.js';
import { projectionLoss } from '../../../src/passes/autodiff/losses.js';
import { inferShapes } from '../../../src/passes/shape/index.js';
import { fixtures, trainedFixtures } from '../../helpers/fixtures.js';
import { seededFloatInputs } from '../../helpers/onnx-oracle.js';

describe.each([...fixtures(), ...trainedFixtures()].map((f) => [f.file, f] as const))('gradient graph in node and web: %s', (_file, fx) => {
  it('gives the same gradients in onnxruntime-node and onnxruntime-web (wasm)', async () => {
    const model = loadModel(fx.path);
    const inputShapes = fx.inputShapes;
    inferShapes(model, { inputShapes });
    const params = parameterNames(model);
    // The detector ends in a Sigmoid, which the two runtimes approximate differently (its output
    // differs by ~1 % relative L2, every intermediate before it by < 1e-5): the loss reads its
    // input instead, so the comparison is about the gradient graph, not that kernel.
    const lossOf = model.graph.outputs.map((o) => (o.producer()?.opType === 'Sigmoid' ? o.producer()!.inputs[0]! : o));
    const loss = projectionLoss(model, lossOf, { seed: 9 });
    model.graph.outputs.push(loss);
    const input = Object.keys(inputShapes)[0]!;
    const forwardOutputs = lossOf.map((o) => o.name);
    for (const o of lossOf) if (!model.graph.outputs.includes(o)) model.graph.outputs.push(o);
    differentiate(model, { wrt: [input, ...params], loss: loss.name, inputShapes });
    const bytes = modelToBytes(model);
    const feeds = seededFloatInputs(inputShapes, 4);
    const node = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3, graphOptimizationLevel: 'disabled' });
    const a = await node.run(feeds);
    await node.release();
    const web = await import('onnxruntime-web');
    web.env.wasm.numThreads = 1;
    const ws = await web.InferenceSession.create(bytes, { graphOptimizationLevel: 'disabled' });
    const w = await ws.run(Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, new web.Tensor('float32', t.data as Float32Array, t.dims)])));
    await ws.release();
    const relL2 = (p: Float32Array, q: Float32Array): number => {
      let d = 0;
      let n = 0;
      for (let i = 0; i < p.length; i++) {
        d += (p[i]! - q[i]!) ** 2;
        n += p[i]! ** 2;
      }
      return Math.sqrt(d / Math.max(n, 1e-30));
    };
    const forwardDiff = Math.max(...forwardOutputs.map((o) => relL2(a[o]!.data as Float32Array, w[o]!.data as Float32Array)));
    expect(forwardDiff).toBeLessThan(1e-4);
    const tol = 1e-3;
    let checked = 0;
    for (const name of [input, ...params].map((n) => `${GRAD_PREFIX}${n}`)) {
      const ga = a[name]!.data as Float32Array;
      const gw = w[name]!.data as Float32Array;
      expect(gw.length, name).toBe(ga.length);
      expect(relL2(ga, gw), `${name} (forward differs by ${forwardDiff})`).toBeLessThanOrEqual(tol);
      checked++;
    }
    expect(checked).toBe(params.length + 1);
  }, 120_000);
});
