// The white-box attack and what it attacks: a linear, injective edge part is inverted almost
// exactly; the attack sees the dequantized wire of int8 and pca+int4 bundles (the same values
// the cloud decodes) and its gradient passes straight through the rounding; on the Fashion-MNIST
// ResNet reconstructions get worse with depth and are good at the first block.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { attackTarget } from '../../src/audit/target.js';
import { runWhitebox, whiteboxGraph } from '../../src/audit/whitebox.js';
import { psnr, ssim } from '../../src/audit/metrics.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import type { Model } from '../../src/ir/graph.js';
import { loadModel, modelToBytes } from '../../src/ir/serde/io.js';
import { parseCompressSpec } from '../../src/passes/bottleneck/spec.js';
import { cutAfterNode, splitModel } from '../../src/passes/cut.js';
import { inferShapes } from '../../src/passes/shape/index.js';
import { calibrateAndCompress } from '../../src/search/calibrate.js';
import type { CalibSample } from '../../src/search/calib-data.js';
import { FASHION_MNIST_DIR, loadIdxImages } from '../../src/runtime/train/idx.js';
import { repoRoot } from '../helpers/fixtures.js';
import { probesFor, samples } from './fashion.js';

const hasFashion = fs.existsSync(path.join(FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz'));
const MEAN = 0.286;
const STD = 0.353;
const RANGE = { lo: [(0 - MEAN) / STD], hi: [(1 - MEAN) / STD] };

function fashion(n: number, offset = 0): Float32Array[] {
  const ds = loadIdxImages(path.join(FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz'), path.join(FASHION_MNIST_DIR, 't10k-labels-idx1-ubyte.gz'), { limit: n + offset, mean: MEAN, std: STD });
  return samples(ds.images, n, offset);
}

/** A linear edge part that loses nothing: a 3×3 convolution to 4 channels, then a ReLU-free 1×1 one (the cut), then a classifier head. */
function linearModel(): Model {
  const b = new GraphBuilder();
  const x = b.input('image', DataType.FLOAT, ['N', 1, 28, 28]);
  const c1 = b.op('Conv', [x, b.weight('w1', [4, 1, 3, 3], 3, 0.5)], { pads: [1, 1, 1, 1], kernel_shape: [3, 3] }, { name: 'conv1' });
  const c2 = b.op('Conv', [c1, b.weight('w2', [4, 4, 1, 1], 4, 0.5)], { kernel_shape: [1, 1] }, { name: 'conv2' });
  const pooled = b.op('GlobalAveragePool', [b.op('Relu', [c2], {}, { name: 'relu' })], {}, { name: 'pool' });
  b.output(b.op('Flatten', [pooled], {}, { name: 'flat' }));
  return b.model({ opset: 13 });
}

const unit = (x: Float32Array): Float32Array => x.map((v) => (v - RANGE.lo[0]!) / (RANGE.hi[0]! - RANGE.lo[0]!));

describe.skipIf(!hasFashion)('the white-box attack', () => {
  it('inverts an injective linear edge part (PSNR > 50 dB)', async () => {
    const model = linearModel();
    const target = attackTarget(model, { cut: cutAfterNode(model, 'conv2'), range: RANGE });
    const probes = await probesFor(target, fashion(2));
    const r = await runWhitebox(target, probes, { budget: 'fast', seed: 1, threads: 1 });
    for (const [i, p] of probes.entries()) expect(psnr(unit(p.x), unit(r.reconstructions[i]!), 1)).toBeGreaterThan(50);
    for (const d of r.featureDistance) expect(d).toBeLessThan(1e-4);
  });

  it('attacks the dequantized wire of int8 and pca+int4 bundles: the values the cloud decodes', async () => {
    const model = loadModel(path.join(repoRoot, 'fixtures/models/fashion_mnist_resnet.onnx'));
    const xs = fashion(12);
    for (const spec of ['int8', 'pca=8+int4']) {
      const m = loadModel(path.join(repoRoot, 'fixtures/models/fashion_mnist_resnet.onnx'));
      inferShapes(m, { inputShapes: { image: [1, 1, 28, 28] } });
      const split = splitModel(m, cutAfterNode(m, 'Relu_13'));
      const samples: CalibSample[] = xs.slice(0, 10).map((x, i) => ({ id: String(i), load: () => ({ image: { dtype: DataType.FLOAT, dims: [1, 1, 28, 28], data: x } }) }));
      const { compressed } = await calibrateAndCompress(split, parseCompressSpec(spec), samples);
      const target = attackTarget(model, { cut: split.cutTensors, compression: compressed.constants, range: RANGE });
      expect(target.compress).toBe(spec);
      expect(target.straightThrough.length).toBe(1);
      // what the attacker matches equals what the real bundle's cloud decodes (after pca: projected back)
      const probes = await probesFor(target, xs.slice(10, 12));
      const edge = await ort.InferenceSession.create(modelToBytes(compressed.edge));
      const cloudDecode = compressed.cloud;
      const cut = split.cutTensors[0]!;
      cloudDecode.graph.outputs.length = 0;
      cloudDecode.graph.outputs.push(cloudDecode.graph.valuesByName().get(cut)!);
      const cloud = await ort.InferenceSession.create(modelToBytes(cloudDecode));
      const tc = compressed.constants.tensors[0]!;
      for (const p of probes) {
        const wire = await edge.run({ image: new ort.Tensor('float32', p.x, [1, 1, 28, 28]) });
        const decoded = (await cloud.run({ [tc.wire]: wire[tc.wire]! }))[cut]!.data as Float32Array;
        let seen = p.z[0]!;
        const pca = tc.stages.find((s) => s.kind === 'pca');
        if (pca && pca.kind === 'pca') {
          // back-project the observed k channels: x̂ = Vᵀ·y + mean, per pixel
          const plane = 28 * 28;
          const back = new Float32Array(pca.channels * plane);
          for (let c = 0; c < pca.channels; c++) for (let i = 0; i < plane; i++) {
            let v = pca.mean[c]!;
            for (let k = 0; k < pca.k; k++) v += pca.components[k]![c]! * seen[k * plane + i]!;
            back[c * plane + i] = v;
          }
          seen = back;
        }
        expect(seen.length).toBe(decoded.length);
        let maxErr = 0;
        for (let i = 0; i < seen.length; i++) maxErr = Math.max(maxErr, Math.abs(seen[i]! - decoded[i]!));
        expect(maxErr).toBeLessThan(1e-4);
      }
      // the gradient passes straight through the rounding: the attack gets closer than its start
      const r = await runWhitebox(target, probes, { budget: 'fast', seed: 1, threads: 1 }, { steps: 60 });
      for (const [i, p] of probes.entries()) expect(ssim(unit(p.x), unit(r.reconstructions[i]!), [1, 28, 28], 1)).toBeGreaterThan(0.3);
    }
  });

  it('without the straight-through rule the quantised cut gives no gradient at all', async () => {
    const model = loadModel(path.join(repoRoot, 'fixtures/models/fashion_mnist_resnet.onnx'));
    const m = loadModel(path.join(repoRoot, 'fixtures/models/fashion_mnist_resnet.onnx'));
    inferShapes(m, { inputShapes: { image: [1, 1, 28, 28] } });
    const split = splitModel(m, cutAfterNode(m, 'Relu_3'));
    const xs = fashion(4);
    const samples: CalibSample[] = xs.map((x, i) => ({ id: String(i), load: () => ({ image: { dtype: DataType.FLOAT, dims: [1, 1, 28, 28], data: x } }) }));
    const { compressed } = await calibrateAndCompress(split, parseCompressSpec('int8'), samples);
    const target = attackTarget(model, { cut: split.cutTensors, compression: compressed.constants, range: RANGE });
    const grads = async (t: typeof target) => {
      const { model: g, targets } = whiteboxGraph(t, { tvWeight: 0, bnPriorWeight: 0 });
      const s = await ort.InferenceSession.create(modelToBytes(g));
      const z = new Float32Array(t.observed[0]!.dims.reduce((a, d) => a * d, 1));
      const r = await s.run({ image: new ort.Tensor('float32', xs[0]!, [1, 1, 28, 28]), [targets[0]!]: new ort.Tensor('float32', z, [1, ...t.observed[0]!.dims]) });
      return (r['grad:image']!.data as Float32Array).reduce((a, v) => a + Math.abs(v), 0);
    };
    expect(await grads(target)).toBeGreaterThan(0);
    expect(await grads({ ...target, straightThrough: [] })).toBe(0);
  });

  it('reconstructs the first block of the Fashion-MNIST ResNet well (≥ 30 dB) and deep cuts worse', async () => {
    const model = loadModel(path.join(repoRoot, 'fixtures/models/fashion_mnist_resnet.onnx'));
    const xs = fashion(3, 20);
    const quality: number[] = [];
    for (const node of ['Relu_3', 'Relu_37']) {
      const target = attackTarget(model, { cut: cutAfterNode(model, node), range: RANGE });
      const probes = await probesFor(target, xs);
      const r = await runWhitebox(target, probes, { budget: 'fast', seed: 1, threads: 1 });
      const ps = probes.map((p, i) => psnr(unit(p.x), unit(r.reconstructions[i]!), 1));
      quality.push(ps.reduce((a, b) => a + b, 0) / ps.length);
    }
    expect(quality[0]).toBeGreaterThanOrEqual(30);
    expect(quality[1]).toBeLessThan(quality[0]! - 10);
  });
});

describe('the white-box attack on a model whose gradient needs static shapes', () => {
  it('attacks the PaddleOCR detector past its Resize nodes one sample at a time', async () => {
    const det = loadModel(path.join(repoRoot, 'fixtures/models/ch_PP-OCRv4_det_infer.onnx'));
    inferShapes(det, { inputShapes: { x: ['N', 3, 160, 160] } });
    const range = { lo: [-2.2, -2.1, -1.9], hi: [2.3, 2.5, 2.7] };
    const target = attackTarget(det, { cut: cutAfterNode(det, 'p2o.Concat.0'), range });
    const xs = [0, 1].map((k) => Float32Array.from({ length: 3 * 160 * 160 }, (_, i) => Math.sin(i * 0.001 + k)));
    const probes = await probesFor(target, xs);
    // batched (symbolic N), the Resize gradient rule refuses: E_AUTODIFF; the attack falls back to batch 1
    const r = await runWhitebox(target, probes, { budget: 'fast', seed: 1, threads: 1 }, { steps: 2 });
    expect(r.details.batch).toBe(1);
    expect(r.reconstructions).toHaveLength(2);
    for (const d of r.featureDistance) expect(Number.isFinite(d)).toBe(true);
  });
});
