// The learned decoder (He et al.'s black-box inverse network) on the project's Fashion-MNIST
// ResNet: trained on training images, it reconstructs held-out test images from a shallow cut
// far better than the mean training image does; without auxiliary data it is skipped with a
// code; the same seed gives the same reconstructions.

import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runDecoder } from '../../src/audit/decoder.js';
import { applyInverse, inverseModel, stack, trainOnStreams } from '../../src/audit/inverse-net.js';
import { psnr, ssim } from '../../src/audit/metrics.js';
import { attackTarget } from '../../src/audit/target.js';
import type { AttackTarget, AuxData, Probe } from '../../src/audit/types.js';
import { loadModel } from '../../src/ir/serde/io.js';
import { cutAfterNode } from '../../src/passes/cut.js';
import { xorshift32 } from '../../src/ir/random.js';
import { fixturesDir } from '../helpers/fixtures.js';

import { DIMS, fashionSet, mean, probesFor, rangeAndMean, samples } from './fashion.js';

describe('decoder attack on the Fashion-MNIST ResNet', () => {
  const model = loadModel(path.join(fixturesDir, 'fashion_mnist_resnet.onnx'));
  let aux: AuxData;
  let test: Float32Array[];
  let range: { lo: number[]; hi: number[] };
  let meanImage: Float32Array;
  let target: AttackTarget;
  let probes: Probe[];

  beforeAll(async () => {
    const train = fashionSet('train', 1024);
    const t10k = fashionSet('t10k', 8);
    ({ range, meanImage } = rangeAndMean(train));
    aux = { samples: samples(train.images, train.n), source: 'fashion-mnist train' };
    test = samples(t10k.images, t10k.n);
    target = attackTarget(model, { cut: cutAfterNode(model, 'Relu_13'), range });
    probes = await probesFor(target, test);
  });

  it('reconstructs test images from a shallow cut much better than the mean training image', async () => {
    const phases = new Set<string>();
    const r = await runDecoder(target, probes, { budget: 'fast', seed: 1, threads: 2, aux, onProgress: (p) => phases.add(p.phase) });
    expect(r.skipped).toBeUndefined();
    expect(r.attack).toBe('decoder');
    expect(r.reconstructions).toHaveLength(probes.length);
    const span = range.hi[0]! - range.lo[0]!;
    const attack = probes.map((p, i) => ssim(p.x, r.reconstructions[i]!, DIMS, span));
    const baseline = probes.map((p) => ssim(p.x, meanImage, DIMS, span));
    expect(mean(attack)).toBeGreaterThan(0.5);
    expect(mean(attack)).toBeGreaterThan(mean(baseline) + 0.3);
    expect(mean(probes.map((p, i) => psnr(p.x, r.reconstructions[i]!, span)))).toBeGreaterThan(mean(probes.map((p) => psnr(p.x, meanImage, span))) + 3);
    // inside the input range, and re-encoded close to what was observed
    for (const x of r.reconstructions) for (const v of x) expect(v >= range.lo[0]! - 1e-5 && v <= range.hi[0]! + 1e-5).toBe(true);
    expect(r.featureDistance).toHaveLength(probes.length);
    for (const d of r.featureDistance) expect(d).toBeLessThan(0.5);
    expect(r.details).toMatchObject({ auxSamples: 512, epochs: 2, batch: 32, steps: 32 });
    expect(Number.isFinite(r.details['finalLoss'])).toBe(true);
    expect([...phases]).toEqual(['decoder: features', 'decoder: training']);
  });

  it('is skipped with W_AUDIT_NO_AUX without auxiliary data', async () => {
    for (const noAux of [undefined, { samples: [], source: 'empty' }]) {
      const r = await runDecoder(target, probes, { budget: 'fast', seed: 1, threads: 2, ...(noAux ? { aux: noAux } : {}) });
      expect(r.skipped?.code).toBe('W_AUDIT_NO_AUX');
      expect(r.reconstructions).toEqual([]);
      expect(r.featureDistance).toEqual([]);
    }
  });

  it('gives the same figures for the same seed, and other figures for another', async () => {
    const small = { auxSamples: 64, epochs: 1, batch: 16 };
    const ctx = { budget: 'fast' as const, threads: 2, aux };
    const a = await runDecoder(target, probes.slice(0, 3), { ...ctx, seed: 7 }, small);
    const b = await runDecoder(target, probes.slice(0, 3), { ...ctx, seed: 7 }, small);
    const c = await runDecoder(target, probes.slice(0, 3), { ...ctx, seed: 8 }, small);
    expect(b.reconstructions).toEqual(a.reconstructions);
    expect(b.featureDistance).toEqual(a.featureDistance);
    expect(b.details).toEqual(a.details);
    expect(c.reconstructions).not.toEqual(a.reconstructions);
  });
});

describe('the generated inverse network', () => {
  it('maps several observed tensors (maps at two resolutions and a vector) to an input of another aspect ratio, inside the range, and trains', async () => {
    const range = { lo: [0, -1, 0], hi: [1, 1, 255] };
    const spec = { inputs: [[8, 7, 7], [4, 14, 14], [10]], output: [3, 24, 20], activation: { kind: 'range' as const, range }, maxWidth: 16 };
    const names = ['a', 'b', 'c'];
    const { model, params } = inverseModel(spec, { prefix: 'inv', inputNames: names, output: 'y', seed: 3 });
    expect(model.graph.nodes.toArray().map((n) => n.opType)).toEqual(expect.arrayContaining(['Gemm', 'Resize', 'Concat', 'DepthToSpace', 'Sigmoid']));
    const r = xorshift32(5);
    const n = 4;
    const feeds = Object.fromEntries(spec.inputs.map((dims, i) => [names[i]!, stack(Array.from({ length: n }, () => Float32Array.from({ length: dims.reduce((a, d) => a * d, 1) }, () => r() * 3)), dims)]));
    const y = await applyInverse(model, feeds, 'y', 2);
    expect(y.dims).toEqual([3, 24, 20]);
    for (let i = 0; i < y.data.length; i++) {
      const c = Math.floor(i / (24 * 20)) % 3;
      expect(y.data[i]! >= range.lo[c]! && y.data[i]! <= range.hi[c]!).toBe(true);
    }
    const target = stack(Array.from({ length: n }, () => Float32Array.from({ length: 3 * 24 * 20 }, () => r())), [3, 24, 20]);
    const trained = await trainOnStreams({ model, loss: 'mse:y=x', params, optimizer: { kind: 'adam', lr: 1e-2 }, streams: [{ feeds: { ...feeds, x: target }, batch: 2 }], epochs: 3, seed: 1, threads: 2 });
    expect(trained.steps).toBe(6);
    expect(Number.isFinite(trained.loss)).toBe(true);
    expect([...trained.params.keys()]).toEqual(params);
    expect(params.some((p) => !trained.params.get(p)!.every((v, i) => v === model.graph.initializers.get(p)!.constValue!.toTypedArray()[i]))).toBe(true);
  });
});
