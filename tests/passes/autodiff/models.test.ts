// Whole-model gradient checks on the real fixtures: the directional derivative ⟨∇f, v⟩ of
// f = Σ⟨output, R⟩ (fixed random R) from splitc's gradient graph matches the central
// finite difference along random directions, with respect to the input and with respect to
// all parameters at once. The models are float32 (onnxruntime runs Conv in float32 only),
// so the check takes central differences at several step sizes and needs the best to agree
// within 5 % (large steps cross kinks of ReLU/Clip/HardSwish units, small ones are float32
// rounding).

import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { DataType } from '../../../src/ir/dtype.js';
import { assertValid } from '../../../src/ir/verify.js';
import { modelToBytes } from '../../../src/ir/serde/io.js';
import { differentiate, exposeAsInputs, GRAD_PREFIX, parameterNames } from '../../../src/passes/autodiff/index.js';
import { projectionLoss } from '../../../src/passes/autodiff/losses.js';
import { inferShapes } from '../../../src/passes/shape/index.js';
import { loadModel } from '../../../src/ir/serde/io.js';
import { fixtures, trainedFixtures } from '../../helpers/fixtures.js';
import { xorshift32 } from '../../helpers/onnx-oracle.js';

describe.each([...fixtures(), ...trainedFixtures()].map((f) => [f.file, f] as const))('gradient of the whole model: %s', (_file, fx) => {
  it('matches finite differences w.r.t. the input and all parameters', async () => {
    const model = loadModel(fx.path);
    const inputShapes = fx.inputShapes;
    const rnd = xorshift32(3);
    inferShapes(model, { inputShapes });
    const params = parameterNames(model);
    // The detector ends in a Sigmoid that saturates on random inputs (derivatives ~1e-3,
    // below float32 noise in central differences): its loss reads the Sigmoid's input; the
    // Sigmoid rule itself is checked in float64 in elementwise.test.ts.
    const lossOf = model.graph.outputs.map((o) => (o.producer()?.opType === 'Sigmoid' ? o.producer()!.inputs[0]! : o));
    // f = Σ⟨output, R⟩, summed in float64 so the loss itself adds no rounding noise
    const loss = projectionLoss(model, lossOf, { seed: 3, dtype: DataType.DOUBLE });
    loss.name = 'test.loss';
    model.graph.outputs.push(loss);
    const input = model.graph.inputs[0]!.name;
    expect(params.length).toBeGreaterThan(20);
    // Parameters become plain inputs so the finite differences can feed perturbed weights.
    const initial = new Map(exposeAsInputs(model, params).map((e) => [e.value.name, e.initial!]));
    const r = differentiate(model, { wrt: [input, ...params], loss: 'test.loss', inputShapes });
    assertValid(model);
    expect(r.unreachable).toEqual([]);
    const session = await ort.InferenceSession.create(modelToBytes(model), { intraOpNumThreads: 1, graphOptimizationLevel: 'disabled', logSeverityLevel: 3 });
    const base: Record<string, Float32Array> = {};
    const dims: Record<string, number[]> = {};
    dims[input] = inputShapes[input]! as number[];
    base[input] = Float32Array.from({ length: dims[input]!.reduce((a, d) => a * d, 1) }, () => rnd() * 2 - 1);
    for (const p of params) {
      const t = initial.get(p)!;
      base[p] = Float32Array.from(t.toTypedArray() as Float32Array);
      dims[p] = t.dims;
    }
    const feeds = (names: string[], dir: Record<string, Float32Array>, h: number): Record<string, ort.Tensor> => {
      const f: Record<string, ort.Tensor> = {};
      for (const [n, d] of Object.entries(base)) {
        const moved = names.includes(n) ? d.map((x, i) => x + h * dir[n]![i]!) : d;
        f[n] = new ort.Tensor('float32', moved, dims[n]!);
      }
      return f;
    };
    const lossAt = async (names: string[], dir: Record<string, Float32Array>, h: number): Promise<number> =>
      Number(((await session.run(feeds(names, dir, h), ['test.loss']))['test.loss']!.data as Float64Array)[0]);
    const grads = await session.run(feeds([], {}, 0), [input, ...params].map((n) => `${GRAD_PREFIX}${n}`));
    for (const group of [[input], params]) {
      // Directions: half along the gradient (so the derivative is large next to float32
      // noise), half random (so every component is tested), each scaled to the tensor's
      // magnitude so a step moves every weight by ~h relative.
      const dir: Record<string, Float32Array> = {};
      for (const n of group) {
        const g = grads[`${GRAD_PREFIX}${n}`]!.data as Float32Array;
        const gNorm = Math.sqrt(g.reduce((a, x) => a + x * x, 0) / g.length) || 1;
        const scale = n === input ? 1 : Math.max(1e-3, Math.sqrt(base[n]!.reduce((a, x) => a + x * x, 0) / base[n]!.length));
        dir[n] = Float32Array.from(g, (x) => (0.5 * (x / gNorm) + 0.5 * (rnd() * 2 - 1)) * scale);
      }
      let analytic = 0;
      for (const n of group) {
        const g = grads[`${GRAD_PREFIX}${n}`]!.data as Float32Array;
        for (let i = 0; i < g.length; i++) analytic += g[i]! * dir[n]![i]!;
      }
      // Central differences at several step sizes: large steps cross kinks (millions of
      // ReLU/Clip/HardSwish units), small ones drown in float32 rounding; the gradient must
      // agree with the estimate at the best of them within 5 %.
      const steps = group.length === 1 ? [1e-3, 3e-4, 1e-4, 3e-5] : [1e-4, 3e-5, 1e-5, 3e-6, 1e-6];
      const estimates: number[] = [];
      for (const h of steps) estimates.push(((await lossAt(group, dir, h)) - (await lossAt(group, dir, -h))) / (2 * h));
      const errors = estimates.map((e) => Math.abs(e - analytic) / Math.max(Math.abs(e), Math.abs(analytic), 1e-9));
      const best = Math.min(...errors);
      expect(best, `${group.length === 1 ? 'input' : 'params'}: analytic ${analytic} vs central differences ${estimates.map((e, i) => `${e} (h=${steps[i]})`).join(', ')}`).toBeLessThan(0.05);
    }
    await session.release();
  }, 120_000);
});
