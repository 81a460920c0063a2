// A defended split on a real model and data: the fidelity measurement runs on the Fashion-MNIST
// ResNet cut after its first residual block (Relu_13, [1,16,28,28]) with Gaussian noise at the
// cut, and agreement with the original falls as the noise grows (measured on 128 held-back
// test images, seed 3: noise=0.1 99 % top-1 agreement, cosine 0.9994; noise=2 30 %, 0.48).
// A defence before pca=K+int4 still gets the second calibration pass over the projection.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DataType } from '../../../src/ir/dtype.js';
import { loadModel } from '../../../src/ir/serde/io.js';
import { parseCompressSpec } from '../../../src/passes/bottleneck/spec.js';
import { cutAfterNode, splitModel } from '../../../src/passes/cut.js';
import { inferShapes } from '../../../src/passes/shape/index.js';
import type { CalibSample } from '../../../src/search/calib-data.js';
import { calibrateAndCompress } from '../../../src/search/calibrate.js';
import { type FidelityReport, measureFidelity } from '../../../src/search/fidelity.js';
import { FASHION_MNIST_DIR, loadIdxImages } from '../../../src/runtime/train/idx.js';
import { repoRoot } from '../../helpers/fixtures.js';

const images = path.join(FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz');
const labels = path.join(FASHION_MNIST_DIR, 't10k-labels-idx1-ubyte.gz');
const hasFashion = fs.existsSync(images) && fs.existsSync(labels);

function fashionSamples(n: number): CalibSample[] {
  const ds = loadIdxImages(images, labels, { limit: n, mean: 0.286, std: 0.353 });
  return Array.from({ length: n }, (_, i) => ({
    id: String(i),
    label: ds.labels[i]!,
    load: () => ({ image: { dtype: DataType.FLOAT, dims: [1, 1, 28, 28], data: ds.images.slice(i * 784, (i + 1) * 784) } }),
  }));
}

function resnetSplit() {
  const model = loadModel(path.join(repoRoot, 'fixtures/models/fashion_mnist_resnet.onnx'));
  inferShapes(model, { inputShapes: { image: [1, 1, 28, 28] } });
  return { model, split: splitModel(model, cutAfterNode(model, 'Relu_13')) };
}

describe.skipIf(!hasFashion)(`fidelity of a defended split${hasFashion ? '' : ` [needs ${images} (Debian dataset-fashion-mnist)]`}`, () => {
  it('runs on noise-defended Fashion-MNIST ResNet splits and reports lower agreement for large noise than for small', async () => {
    const samples = fashionSamples(160);
    const sets = { calibration: samples.slice(0, 32), heldOut: samples.slice(32) };
    const { model, split } = resnetSplit();
    const measure = async (text: string): Promise<FidelityReport> => {
      const { compressed } = await calibrateAndCompress(split, { ...parseCompressSpec(text), seed: 3 }, sets.calibration);
      return measureFidelity(model, compressed, sets);
    };
    const agreement = (r: FidelityReport): number => r.heldOut.outputs[0]!.top1Agreement!;
    const small = await measure('noise=0.1');
    const large = await measure('noise=2');
    expect(small.spec).toBe('noise=0.1');
    // defences send the float32 cut tensor as it is: no bytes saved, none added
    expect(small.wire.bytesPerSample).toBe(16 * 28 * 28 * 4);
    expect(small.heldOut.samples).toBe(128);
    expect(agreement(small)).toBeGreaterThanOrEqual(0.95);
    expect(agreement(large)).toBeLessThan(agreement(small) - 0.3);
    expect(large.heldOut.outputs[0]!.cosine).toBeLessThan(small.heldOut.outputs[0]!.cosine);
  }, 120_000);

  it('calibrates a defence before pca+int4 in two passes (the projection is quantized per component)', async () => {
    const samples = fashionSamples(16);
    const { split } = resnetSplit();
    let runs = 0;
    const { compressed } = await calibrateAndCompress(split, parseCompressSpec('dropout=0.1+pca=8+int4'), samples, { onProgress: (p) => (runs = p.total) });
    expect(runs).toBe(2 * samples.length);
    expect(compressed.wire[0]!.name).toBe('relu_12.drop.pca8.q4');
    expect(compressed.wire[0]!.bytesPerSample).toBe((8 * 28 * 28) / 2);
    expect(compressed.constants.tensors[0]!.stages.map((s) => s.kind)).toEqual(['dropout', 'pca', 'quant']);
  }, 60_000);
});
