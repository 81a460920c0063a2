// SphereFed's head rewrite on several exporters' idioms (our ResNet's Gemm, PyTorch's Gemm
// transB=1, TF's MatMul + Identity-read weights, Paddle's Constant weights + Softmax): the IR
// verifies, the fixed matrix is orthonormal and no training parameter, and under
// onnxruntime the scores are the normalised features times it; calibratedHead swaps in W.

import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/ir/builder.js';
import { constantOf } from '../../src/ir/constants.js';
import { DataType } from '../../src/ir/dtype.js';
import type { Model } from '../../src/ir/graph.js';
import { loadModel, modelToBytes } from '../../src/ir/serde/io.js';
import { verifyModel } from '../../src/ir/verify.js';
import { trainableParameters } from '../../src/passes/autodiff/index.js';
import { CHECKED_RUN, PassManager, parsePipeline } from '../../src/passes/pass.js';
import { calibratedHead, findClassifierHead, orthonormalRows, sphereFedHead } from '../../src/passes/spherefed.js';
import { buildTrainingGraph } from '../../src/passes/training-graph.js';
import { smallResNet } from '../../src/runtime/train/models.js';
import { codeOf } from '../helpers/codes.js';
import { exporterFixtures, fixturesDir } from '../helpers/fixtures.js';
import { GOLDEN_MODELS } from '../helpers/golden-models.js';
import { floatsOf, runOrt, seededFloatInputs } from '../helpers/onnx-oracle.js';

const fixture = (name: string): string => exporterFixtures().find((f) => f.file === name)!.path;

interface Case {
  name: string;
  make: () => Model;
  shapes: Record<string, number[]>;
  dim: number;
  classes: number;
}

const CASES: Case[] = [
  { name: 'smallResNet (Gemm transB=1)', make: () => smallResNet({ seed: 2 }), shapes: { image: [3, 1, 28, 28] }, dim: 64, classes: 10 },
  { name: 'MatMul + Identity-read weights + Add + Softmax (builder)', make: GOLDEN_MODELS['dense-softmax-head']!, shapes: { x: [4, 6] }, dim: 5, classes: 3 },
  { name: 'TF NHWC: MatMul over Identity(Constant), Add Identity(bias)', make: () => loadModel(fixture('tf_style_nhwc_op13.onnx')), shapes: { images: [2, 24, 24, 3] }, dim: 16, classes: 10 },
  { name: 'PyTorch: Gemm over ReduceMean, BatchNorm', make: () => loadModel(fixture('torch_resnet_tiny_bn_op13.onnx')), shapes: { input: [2, 3, 32, 32] }, dim: 16, classes: 10 },
  { name: 'Paddle (opset 9): MatMul + Constant bias + Softmax', make: () => loadModel(path.join(fixturesDir, 'ch_ppocr_mobile_v2.0_cls_infer.onnx')), shapes: { x: [2, 3, 48, 192] }, dim: 200, classes: 2 },
];

/** Wᵀ [d, C] of the fixed (or calibrated) matrix, read from the model. */
function matrixOf(model: Model, name: string): Float32Array {
  return constantOf(model.graph.valuesByName().get(name))!.toTypedArray() as Float32Array;
}

/** Max |x·Wᵀ − scores| for rows of x [n, d] and Wᵀ [d, C]. */
function maxProductError(x: Float32Array, wT: Float32Array, scores: Float32Array, n: number, d: number, c: number): number {
  let err = 0;
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < c; k++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += x[i * d + j]! * wT[j * c + k]!;
      err = Math.max(err, Math.abs(s - scores[i * c + k]!));
    }
  }
  return err;
}

describe('sphereFedHead', () => {
  for (const c of CASES) {
    it(`${c.name}: verified IR, orthonormal fixed rows, scores = normalised features · Wᵀ`, async () => {
      const model = c.make();
      const x = findClassifierHead(model).x;
      const original = model.graph.outputs[0]!.name;
      const r = sphereFedHead(model, { seed: 5 });
      expect(verifyModel(model)).toEqual([]);
      expect([r.dim, r.classes]).toEqual([c.dim, c.classes]);
      expect(model.graph.outputs.map((o) => o.name)).toEqual([r.scores, r.features]);
      expect(model.graph.valuesByName().has(original)).toBe(false);

      const wT = matrixOf(model, r.fixed);
      for (let a = 0; a < r.classes; a++) {
        for (let b = 0; b < r.classes; b++) {
          let dot = 0;
          for (let j = 0; j < r.dim; j++) dot += wT[j * r.classes + a]! * wT[j * r.classes + b]!;
          expect(Math.abs(dot - (a === b ? 1 : 0)), `rows ${a}, ${b}`).toBeLessThan(1e-6);
        }
      }

      // The head's input x as an extra output, to check z = x / ‖x‖ against it.
      model.graph.outputs.push(x);
      const out = await runOrt(modelToBytes(model), seededFloatInputs(c.shapes, 3));
      model.graph.outputs.pop();
      const n = out[r.scores]!.dims[0]!;
      expect(out[r.scores]!.dims).toEqual([n, r.classes]);
      const xs = floatsOf(out[x.name]!.bytes);
      const z = floatsOf(out[r.features]!.bytes);
      for (let i = 0; i < n; i++) {
        let norm = 0;
        for (let j = 0; j < r.dim; j++) norm += xs[i * r.dim + j]! ** 2;
        norm = Math.sqrt(norm);
        for (let j = 0; j < r.dim; j++) expect(z[i * r.dim + j]).toBeCloseTo(xs[i * r.dim + j]! / norm, 5);
      }
      expect(maxProductError(z, wT, floatsOf(out[r.scores]!.bytes), n, r.dim, r.classes)).toBeLessThan(1e-5);
    }, 30_000);
  }

  it('the fixed matrix is no training parameter; the old head is gone', () => {
    const model = smallResNet({ seed: 2 });
    const r = sphereFedHead(model, { seed: 1 });
    // trainableParameters counts every float constant, the fixed initializer too: callers take r.params.
    expect(trainableParameters(model).params).toContain(r.fixed);
    expect(r.params).not.toContain(r.fixed);
    expect(r.params).toEqual(trainableParameters(model).params.filter((p) => p !== r.fixed));
    expect(r.params).not.toContain('fc.weight');
    expect(model.graph.initializers.has('fc.weight') || model.graph.initializers.has('fc.bias')).toBe(false);
    const tg = buildTrainingGraph(model, { loss: `mse:${r.scores}`, inputShapes: { image: [2, 1, 28, 28] }, params: r.params });
    expect(tg.params).not.toContain(r.fixed);
    expect(tg.model.graph.inputs.map((v) => v.name)).not.toContain(r.fixed);
    expect(tg.model.graph.outputs.map((v) => v.name)).not.toContain(`grad:${r.fixed}`);
    expect(tg.model.graph.initializers.has(r.fixed)).toBe(true);
    expect(verifyModel(tg.model)).toEqual([]);
  });

  it('below IR 4 the fixed matrix is a Constant node, still left out of the parameters, and calibratedHead replaces it', async () => {
    const b = new GraphBuilder('ir3');
    const x = b.input('x', DataType.FLOAT, ['N', 6]);
    const w = b.constant('fc.w', DataType.FLOAT, [4, 6], Float32Array.from({ length: 24 }, (_, i) => Math.cos(i)));
    const h = b.op('Relu', [x]);
    b.output(b.op('Gemm', [h, w], { transB: 1 }, { outputNames: ['logits'] }));
    const model = b.model({ opset: 9, irVersion: 3 });
    const r = sphereFedHead(model, { seed: 1 });
    expect(verifyModel(model)).toEqual([]);
    expect(model.graph.valuesByName().get(r.fixed)!.producer()?.opType).toBe('Constant');
    expect(model.graph.nodes.toArray().some((n) => n.outputs[0]?.name === 'fc.w')).toBe(false);
    expect(trainableParameters(model).params).toContain(r.fixed);
    expect(r.params).not.toContain(r.fixed);
    const wCal = Float32Array.from({ length: 24 }, (_, i) => i / 10 - 1);
    const cal = calibratedHead(model, wCal);
    expect(verifyModel(cal)).toEqual([]);
    const feeds = seededFloatInputs({ x: [2, 6] }, 4);
    const z = floatsOf((await runOrt(modelToBytes(model), feeds))[r.features]!.bytes);
    const scores = floatsOf((await runOrt(modelToBytes(cal), feeds)).logits!.bytes);
    expect(maxProductError(z, wCal, scores, 2, 6, 4)).toBeLessThan(1e-5);
  });

  it('is deterministic per seed', () => {
    const a = sphereFedHead(smallResNet({ seed: 2 }), { seed: 7 });
    const b = sphereFedHead(smallResNet({ seed: 2 }), { seed: 7 });
    const c = sphereFedHead(smallResNet({ seed: 2 }), { seed: 8 });
    expect(Buffer.from(modelToBytes(a.model)).equals(Buffer.from(modelToBytes(b.model)))).toBe(true);
    expect(matrixOf(a.model, a.fixed)).toEqual(matrixOf(b.model, b.fixed));
    expect(matrixOf(a.model, a.fixed)).not.toEqual(matrixOf(c.model, c.fixed));
    expect(orthonormalRows(3, 5, 1)).toEqual(orthonormalRows(3, 5, 1));
  });

  it('runs as a registered pass under the checked pass manager', () => {
    const model = smallResNet({ seed: 2 });
    const r = new PassManager(parsePipeline('spherefed-head{seed=4}'), CHECKED_RUN).run(model);
    expect(r.model).toBe(model);
    expect(model.graph.outputs.map((o) => o.name)).toEqual(['scores', 'features']);
    expect(codeOf(() => parsePipeline('spherefed-head{seeds=4}'))).toBe('E_BAD_ARGUMENT');
  });

  it('rejects heads it cannot rewrite with E_SPHEREFED, the graph untouched', () => {
    // torch_tied's tied decoder maps 12 features to 32 outputs: no 32 orthonormal rows in 12-D.
    const tied = loadModel(fixture('torch_tied_op13.onnx'));
    const before = modelToBytes(tied);
    expect(codeOf(() => sphereFedHead(tied, { seed: 1 }))).toBe('E_SPHEREFED');
    expect(Buffer.from(modelToBytes(tied)).equals(Buffer.from(before))).toBe(true);
    expect(codeOf(() => orthonormalRows(4, 3, 1))).toBe('E_SPHEREFED');

    const b = new GraphBuilder('two-outputs');
    const x = b.input('x', DataType.FLOAT, ['N', 4]);
    b.output(b.op('Gemm', [x, b.weight('w', [2, 4])], { transB: 1 }));
    b.output(b.op('Relu', [x]));
    expect(codeOf(() => sphereFedHead(b.model(), { seed: 1 }))).toBe('E_SPHEREFED');

    const c = new GraphBuilder('no-head');
    c.output(c.op('Relu', [c.input('x', DataType.FLOAT, ['N', 4])]));
    expect(codeOf(() => sphereFedHead(c.model(), { seed: 1 }))).toBe('E_SPHEREFED');
    expect(codeOf(() => calibratedHead(smallResNet(), new Float32Array(640)))).toBe('E_SPHEREFED');
  });
});

describe('calibratedHead', () => {
  it('gives the inference model: scores = z · W under onnxruntime, named as the original output', async () => {
    const sphere = sphereFedHead(smallResNet({ seed: 2 }), { seed: 1 });
    const before = modelToBytes(sphere.model);
    const w = Float32Array.from({ length: sphere.dim * sphere.classes }, (_, i) => Math.sin(i * 0.37));
    const model = calibratedHead(sphere.model, w);
    expect(Buffer.from(modelToBytes(sphere.model)).equals(Buffer.from(before))).toBe(true); // not changed
    expect(verifyModel(model)).toEqual([]);
    expect(model.graph.outputs.map((o) => o.name)).toEqual(['logits']);
    expect(model.graph.valuesByName().has(sphere.fixed)).toBe(false);
    expect(codeOf(() => calibratedHead(sphere.model, new Float32Array(3)))).toBe('E_SPHEREFED');

    const feeds = seededFloatInputs({ image: [3, 1, 28, 28] }, 9);
    const z = floatsOf((await runOrt(before, feeds))[sphere.features]!.bytes);
    const scores = floatsOf((await runOrt(modelToBytes(model), feeds)).logits!.bytes);
    expect(maxProductError(z, w, scores, 3, sphere.dim, sphere.classes)).toBeLessThan(1e-5);
  }, 30_000);
});
