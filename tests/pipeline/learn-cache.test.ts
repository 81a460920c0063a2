// The cache of trained learned-stage weights: keys change with anything training depends on,
// entries round-trip exactly, a damaged entry means training again, and split/build use it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/ir/serde/io.js';
import { type LearnedCacheKey, learnedCacheKey, readLearned, writeLearned } from '../../src/pipeline/learn-cache.js';
import type { LearnResult } from '../../src/pipeline/learn.js';
import { runSplit } from '../../src/pipeline/split.js';
import { fashionSet } from '../audit/fashion.js';
import { fixturesDir, tmpDir } from '../helpers/fixtures.js';
import { npy } from '../helpers/npy.js';

const KEY: LearnedCacheKey = { modelSha256: 'a'.repeat(64), cut: ['b', 'a'], spec: 'learned=4+int4', dataSha256: 'c'.repeat(64), seed: 1, epochs: 10, batchSize: null, lr: 1e-3, tuneCloud: 0 };

const result = (): LearnResult => ({
  weights: { t: { reduce: { weight: Float32Array.from([0.1, -2, 3e-8]), bias: Float32Array.from([1]) }, recover: { weight: Float32Array.from([Math.PI]), bias: Float32Array.from([-0]) } } },
  tuned: { 'cloud.w': Float32Array.from([0.5, -1.5]) },
  initialAgreement: 0.5,
  initialLoss: 2.5,
  usedLabels: false,
  history: [{ epoch: 1, loss: 1.25, heldOutAgreement: 0.75 }],
  batchSize: 32,
  steps: 8,
});

describe('learned-weights cache', () => {
  it('keys on every input of training (cut order aside)', () => {
    const k = learnedCacheKey(KEY);
    expect(learnedCacheKey({ ...KEY, cut: ['a', 'b'] })).toBe(k);
    for (const change of [{ seed: 2 }, { epochs: 11 }, { spec: 'learned=8+int4' }, { dataSha256: 'd'.repeat(64) }, { modelSha256: 'e'.repeat(64) }, { lr: 2e-3 }, { batchSize: 16 }, { cut: ['a'] }, { tuneCloud: 2 }]) {
      expect(learnedCacheKey({ ...KEY, ...change }), JSON.stringify(change)).not.toBe(k);
    }
  });

  it('round-trips weights bit for bit; a damaged entry reads as absent', () => {
    const dir = tmpDir();
    const key = learnedCacheKey(KEY);
    expect(readLearned(dir, key)).toBeUndefined();
    writeLearned(dir, key, result());
    const back = readLearned(dir, key)!;
    expect(back.history).toEqual(result().history);
    expect(Array.from(back.weights.t!.reduce.weight)).toEqual(Array.from(result().weights.t!.reduce.weight));
    expect(Object.is(back.weights.t!.recover.bias[0], -0)).toBe(true);
    expect(Array.from(back.tuned['cloud.w']!)).toEqual([0.5, -1.5]);
    fs.writeFileSync(path.join(dir, `${key}.json`), '{"weights": 3');
    expect(readLearned(dir, key)).toBeUndefined();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('split trains once per key and reuses the entry (the bundle carries the cached weights)', async () => {
    const dir = tmpDir();
    const calib = path.join(dir, 'calib.npy');
    fs.writeFileSync(calib, npy('<f4', [48, 1, 28, 28], fashionSet('t10k', 48).images));
    const cacheDir = path.join(dir, 'cache');
    const run = (out: string) =>
      runSplit({ model: path.join(fixturesDir, 'fashion_mnist_resnet.onnx'), cutAfter: 'Relu_25', shapes: { image: [1, 1, 28, 28] }, compress: 'learned=4+int4', calib, training: { epochs: 1, seed: 2, cacheDir }, audit: false, outDir: path.join(dir, out), toolVersion: 'test' });
    await run('a');
    const entries = fs.readdirSync(cacheDir);
    expect(entries).toHaveLength(1);
    // doctor the entry: a bundle built from the cache carries its (zeroed) reduce weights
    const key = entries[0]!.replace(/\.json$/, '');
    const cached = readLearned(cacheDir, key)!;
    const t = Object.keys(cached.weights)[0]!;
    cached.weights[t]!.reduce.weight = new Float32Array(cached.weights[t]!.reduce.weight.length);
    writeLearned(cacheDir, key, cached);
    await run('b');
    const edge = loadModel(path.join(dir, 'b', 'edge', fs.readdirSync(path.join(dir, 'b', 'edge')).find((f) => f.endsWith('.onnx'))!));
    const w = edge.graph.initializers.get(`${t}.learned.reduce.w`)!.constValue!.toTypedArray() as Float32Array;
    expect(w.every((x) => x === 0)).toBe(true);
    expect(fs.readdirSync(cacheDir)).toHaveLength(1);
    fs.rmSync(dir, { recursive: true, force: true });
  }, 120_000);
});
