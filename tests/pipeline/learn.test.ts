// Training a learned bottleneck by distillation (pipeline/learn.ts) on the Fashion-MNIST ResNet
// cut after its second stage, with a small budget: training lowers the loss below the PCA
// initialisation's and raises held-back agreement; the same seed gives the same weights and
// byte-identical bundles; the trained weights are what the bundle carries.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DataType } from '../../src/ir/dtype.js';
import type { Model } from '../../src/ir/graph.js';
import { loadModel } from '../../src/ir/serde/io.js';
import { parseCompressSpec } from '../../src/passes/bottleneck/spec.js';
import type { SplitResult } from '../../src/passes/cut.js';
import { cutPass } from '../../src/passes/cut-pass.js';
import { CHECKED_RUN, PassManager } from '../../src/passes/pass.js';
import { inferShapes } from '../../src/passes/shape/index.js';
import { learnBottleneck } from '../../src/pipeline/learn.js';
import { runSplit } from '../../src/pipeline/split.js';
import type { CalibSample } from '../../src/search/calib-data.js';
import { fashionSet, PER } from '../audit/fashion.js';
import { codeOfAsync } from '../helpers/codes.js';
import { listFiles } from '../helpers/files.js';
import { fixturesDir, tmpDir } from '../helpers/fixtures.js';
import { npy as npyBytes } from '../helpers/npy.js';

const MODEL = path.join(fixturesDir, 'fashion_mnist_resnet.onnx');

function splitAfter(node: string): { model: Model; split: SplitResult } {
  const model = loadModel(MODEL);
  inferShapes(model, { inputShapes: { image: [1, 1, 28, 28] } });
  return { model, split: new PassManager<Model, SplitResult>([cutPass({ after: node })], CHECKED_RUN).run(model).model };
}

function asSamples(n: number, offset: number): CalibSample[] {
  const set = fashionSet('t10k', offset + n);
  return Array.from({ length: n }, (_, i) => ({
    id: `t10k-${offset + i}`,
    load: () => ({ image: { dtype: DataType.FLOAT, dims: [1, 1, 28, 28], data: set.images.slice((offset + i) * PER, (offset + i + 1) * PER) } }),
  }));
}

describe('learnBottleneck', () => {
  const train = asSamples(256, 0);
  const heldOut = asSamples(64, 256);
  const spec = parseCompressSpec('learned=4+int4');

  it('lowers the distillation loss below the PCA start and raises held-back agreement; the same seed gives the same weights', async () => {
    const { model, split } = splitAfter('Relu_25');
    const opts = { epochs: 3, seed: 7, batchSize: 32, lr: 3e-3 };
    const a = await learnBottleneck(model, split, spec, train, heldOut, opts);
    expect(a.history).toHaveLength(3);
    expect(a.history.at(-1)!.loss).toBeLessThan(0.5 * a.initialLoss);
    expect(a.history.at(-1)!.heldOutAgreement).toBeGreaterThan(a.initialAgreement + 0.2);
    const b = await learnBottleneck(model, split, spec, train, heldOut, opts);
    const bytes = (w: ArrayLike<number>): Buffer => Buffer.from(Float32Array.from(w).buffer);
    for (const [name, w] of Object.entries(a.weights)) {
      for (const part of ['reduce', 'recover'] as const) {
        expect(bytes(b.weights[name]![part].weight).equals(bytes(w[part].weight)), `${name} ${part}`).toBe(true);
        expect(bytes(b.weights[name]![part].bias).equals(bytes(w[part].bias)), `${name} ${part}`).toBe(true);
      }
    }
    const c = await learnBottleneck(model, split, spec, train, heldOut, { ...opts, seed: 8 });
    const first = Object.keys(a.weights)[0]!;
    expect(bytes(c.weights[first]!.reduce.weight).equals(bytes(a.weights[first]!.reduce.weight))).toBe(false);
  }, 300_000);

  it('refuses a spec without a learned stage and an empty training set (coded errors)', async () => {
    const { model, split } = splitAfter('Relu_25');
    expect(await codeOfAsync(() => learnBottleneck(model, split, parseCompressSpec('pca=4+int4'), train, heldOut, { epochs: 1, seed: 1 }))).toBe('E_BAD_ARGUMENT');
    expect(await codeOfAsync(() => learnBottleneck(model, split, spec, [], heldOut, { epochs: 1, seed: 1 }))).toBe('E_CALIB');
  });
});

describe('split --compress learned', () => {
  it('records the training in the manifest and gives byte-identical bundles for the same seed', async () => {
    const dir = tmpDir();
    const npy = path.join(dir, 'calib.npy');
    fs.writeFileSync(npy, npyBytes('<f4', [96, 1, 28, 28], fashionSet('t10k', 96).images));
    const run = (out: string) =>
      runSplit({ model: MODEL, cutAfter: 'Relu_25', shapes: { image: [1, 1, 28, 28] }, compress: 'learned=4+int4', calib: npy, training: { epochs: 2, seed: 3 }, audit: false, outDir: path.join(dir, out), toolVersion: 'test' });
    const first = await run('a');
    const training = first.report.compression.training as { epochs: number; seed: number; samples: number; history: { heldOutAgreement: number }[]; initialAgreement: number };
    expect([training.epochs, training.seed, training.samples]).toEqual([2, 3, 72]); // the calibration set, not its 24 held-back samples
    expect(training.history).toHaveLength(2);
    await run('b');
    const [a, b] = [path.join(dir, 'a'), path.join(dir, 'b')];
    expect(listFiles(b)).toEqual(listFiles(a));
    for (const f of listFiles(a)) expect(fs.readFileSync(path.join(b, f)).equals(fs.readFileSync(path.join(a, f))), f).toBe(true);
    fs.rmSync(dir, { recursive: true, force: true });
  }, 300_000);

  it('refuses --train without a learned stage (E_BAD_ARGUMENT)', async () => {
    const dir = tmpDir();
    const code = await codeOfAsync(() => runSplit({ model: MODEL, cutAfter: 'Relu_25', compress: 'int8', calib: 'random:4', training: { epochs: 1, seed: 1, train: 'random:4' }, audit: false, outDir: path.join(dir, 'x'), toolVersion: 'test' }));
    expect(code).toBe('E_BAD_ARGUMENT');
    expect(fs.existsSync(path.join(dir, 'x'))).toBe(false);
  });
});
