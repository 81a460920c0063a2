// The trainer: optimizer arithmetic, learning on a small task, bit-exact resume from a
// checkpoint, export back to an inference model, the IDX reader, and the committed
// Fashion-MNIST model's accuracy.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { concatBytes } from '../../../src/ir/bytes.js';
import { SplitcError } from '../../../src/ir/errors.js';
import { loadModel, modelToBytes } from '../../../src/ir/serde/io.js';
import { assertValid } from '../../../src/ir/verify.js';
import { evaluateAccuracy, fit } from '../../../src/runtime/train/fit.js';
import { FASHION_MNIST_DIR, loadIdxImages, parseIdx } from '../../../src/runtime/train/idx.js';
import { smallResNet } from '../../../src/runtime/train/models.js';
import { createOptimizer, scheduledLr } from '../../../src/runtime/train/optimizer.js';
import { loadCheckpoint, saveCheckpoint } from '../../../src/runtime/train/checkpoint-file.js';
import { Trainer } from '../../../src/runtime/train/trainer.js';
import { toyData } from './toy-data.js';
import { codeOf } from '../../helpers/codes.js';
import { tmpDir, trainedFixtures } from '../../helpers/fixtures.js';

const tiny = () => smallResNet({ widths: [4, 8], classes: 3, size: 8, seed: 3 });
const options = (optimizer: 'adam' | 'sgd' = 'adam') => ({
  ort,
  model: tiny(),
  loss: 'ce:logits',
  inputShapes: { image: [8, 1, 8, 8] },
  optimizer: optimizer === 'adam' ? { kind: 'adam' as const, lr: 0.01, weightDecay: 1e-4, decoupled: true } : { kind: 'sgd' as const, lr: 0.05, momentum: 0.9, weightDecay: 1e-4 },
  sessionOptions: { intraOpNumThreads: 1 },
});

describe('optimizers', () => {
  it('SGD with momentum and weight decay follows the PyTorch update', () => {
    const opt = createOptimizer({ kind: 'sgd', lr: 0.1, momentum: 0.9, weightDecay: 0.01 });
    const p = new Map([['w', Float32Array.from([1, -2])]]);
    const g = new Map([['w', Float32Array.from([0.5, 0.25])]]);
    opt.update(p, g, 0.1);
    // g' = g + wd·p = [0.51, 0.23]; buf = g'; p -= lr·buf
    expect(Array.from(p.get('w')!)).toEqual(Array.from(Float32Array.from([1 - 0.1 * 0.51, -2 - 0.1 * 0.23])));
    opt.update(p, g, 0.1);
    const p1 = [1 - 0.051, -2 - 0.023];
    const buf = [0.9 * 0.51 + (0.5 + 0.01 * Math.fround(p1[0]!)), 0.9 * 0.23 + (0.25 + 0.01 * Math.fround(p1[1]!))];
    expect(p.get('w')![0]).toBeCloseTo(Math.fround(p1[0]!) - 0.1 * buf[0]!, 6);
    expect(p.get('w')![1]).toBeCloseTo(Math.fround(p1[1]!) - 0.1 * buf[1]!, 6);
  });

  it('Adam takes a first step of lr·sign(g) and AdamW decays the weights directly', () => {
    const opt = createOptimizer({ kind: 'adam', lr: 0.01, weightDecay: 0.1, decoupled: true });
    const p = new Map([['w', Float32Array.from([1, 1])]]);
    opt.update(p, new Map([['w', Float32Array.from([3, -0.002])]]), 0.01);
    expect(p.get('w')![0]).toBeCloseTo(1 - 0.01 * 0.1 - 0.01, 6);
    expect(p.get('w')![1]).toBeCloseTo(1 - 0.01 * 0.1 + 0.01, 5);
    expect(opt.state().size).toBe(2);
  });

  it('cosine schedule warms up linearly and decays to zero', () => {
    const s = { kind: 'cosine' as const, total: 100, warmup: 10 };
    expect(scheduledLr(1, 0, s)).toBeCloseTo(0.1);
    expect(scheduledLr(1, 10, s)).toBeCloseTo(1);
    expect(scheduledLr(1, 55, s)).toBeCloseTo(0.5);
    expect(scheduledLr(1, 100, s)).toBeCloseTo(0);
  });

  it('a learning rate that is not positive is refused', () => {
    expect(() => createOptimizer({ kind: 'sgd', lr: 0 })).toThrow(SplitcError);
  });
});

describe('Trainer', () => {
  it('learns a toy task (loss falls, accuracy rises) with Adam and with SGD, and exports an inference model', async () => {
    const data = toyData(256, 1);
    for (const kind of ['adam', 'sgd'] as const) {
      const trainer = await Trainer.create(options(kind));
      const losses: number[] = [];
      await fit(trainer, { data, batchSize: 8, epochs: 3, seed: 2, inputName: 'image', onProgress: (p) => losses.push(p.loss) });
      const first = losses.slice(0, 10).reduce((a, b) => a + b) / 10;
      const last = losses.slice(-10).reduce((a, b) => a + b) / 10;
      expect(last, kind).toBeLessThan(0.6 * first);
      const exported = trainer.exportModel();
      assertValid(exported);
      // BatchNorm is back in inference mode, with running statistics that moved
      const bn = [...exported.graph.nodes].filter((n) => n.opType === 'BatchNormalization');
      expect(bn.every((n) => n.outputs.length === 1 && n.attrInt('training_mode', 0) === 0)).toBe(true);
      expect(Array.from(trainer.stats.get('stem.bn.running_var')!).some((v) => Math.abs(v - 1) > 1e-3)).toBe(true);
      const acc = await evaluateAccuracy(exported, toyData(120, 9), { ort, inputName: 'image' });
      expect(acc, kind).toBeGreaterThan(0.8);
      await trainer.release();
    }
  }, 120_000);

  it('a run resumed from a checkpoint ends with the same weights as an uninterrupted run', async () => {
    const data = toyData(64, 4);
    const fitOpts = { data, batchSize: 8, epochs: 2, seed: 5, inputName: 'image', hflip: true };
    const whole = await Trainer.create(options());
    await fit(whole, fitOpts);
    const dir = tmpDir();
    const ckpt = path.join(dir, 'run.ckpt');
    const first = await Trainer.create(options());
    await fit(first, { ...fitOpts, maxSteps: 5 }); // stops inside the first epoch
    saveCheckpoint(first, ckpt);
    await first.release();
    const resumed = await Trainer.create(options());
    loadCheckpoint(resumed, ckpt);
    expect(resumed.step).toBe(5);
    await fit(resumed, fitOpts);
    expect(resumed.step).toBe(whole.step);
    for (const [name, w] of whole.params) expect(Buffer.from(resumed.params.get(name)!.buffer).equals(Buffer.from(w.buffer)), name).toBe(true);
    for (const [name, s] of whole.stats) expect(Buffer.from(resumed.stats.get(name)!.buffer).equals(Buffer.from(s.buffer)), name).toBe(true);
    await whole.release();
    await resumed.release();
    fs.rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('a checkpoint is bytes (no file system needed, as in a browser): restoring them continues the same run', async () => {
    const data = toyData(32, 4);
    const fitOpts = { data, batchSize: 8, epochs: 1, seed: 3, inputName: 'image' };
    const a = await Trainer.create(options());
    await fit(a, { ...fitOpts, maxSteps: 2 });
    const bytes = concatBytes(a.checkpointParts());
    const b = await Trainer.create(options());
    b.restoreCheckpoint(bytes);
    expect(b.step).toBe(2);
    expect(b.position).toEqual(a.position);
    for (const [name, w] of a.params) expect(Buffer.from(b.params.get(name)!.buffer).equals(Buffer.from(w.buffer)), name).toBe(true);
    await fit(a, { ...fitOpts, maxSteps: 4 });
    await fit(b, { ...fitOpts, maxSteps: 4 });
    expect(b.step).toBe(4);
    for (const [name, w] of a.params) expect(Buffer.from(b.params.get(name)!.buffer).equals(Buffer.from(w.buffer)), name).toBe(true);
    expect(() => b.restoreCheckpoint(bytes.subarray(0, 4))).toThrow(/the checkpoint is not a usable splitc checkpoint/);
    expect(codeOf(() => b.restoreCheckpoint(bytes.subarray(0, bytes.length - 4)))).toBe('E_IO'); // truncated
    await a.release();
    await b.release();
  }, 60_000);

  it('a checkpoint of another model is refused with a coded error', async () => {
    const dir = tmpDir();
    const ckpt = path.join(dir, 'a.ckpt');
    const a = await Trainer.create(options());
    saveCheckpoint(a, ckpt);
    await a.release();
    const other = await Trainer.create({ ...options(), model: smallResNet({ widths: [4, 16], classes: 3, size: 8 }) });
    expect(() => loadCheckpoint(other, ckpt)).toThrow(/not a usable splitc checkpoint/);
    fs.writeFileSync(path.join(dir, 'junk.ckpt'), 'hello');
    expect(() => loadCheckpoint(other, path.join(dir, 'junk.ckpt'))).toThrow(SplitcError);
    await other.release();
    fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);
});

describe('IDX files', () => {
  const idx = (type: number, dims: number[], body: number[]): Uint8Array => {
    const head = Buffer.alloc(4 + 4 * dims.length);
    head[2] = type;
    head[3] = dims.length;
    dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
    return new Uint8Array(Buffer.concat([head, Buffer.from(body)]));
  };
  it('reads unsigned bytes, gzip-compressed or not', () => {
    const raw = idx(0x08, [2, 2], [1, 2, 3, 255]);
    for (const bytes of [raw, new Uint8Array(zlib.gzipSync(raw))]) {
      const a = parseIdx(bytes);
      expect(a.dims).toEqual([2, 2]);
      expect(Array.from(a.data)).toEqual([1, 2, 3, 255]);
    }
  });
  it('refuses files that are not IDX or are truncated', () => {
    expect(() => parseIdx(new Uint8Array([1, 2, 3, 4]))).toThrow(/bad magic/);
    expect(() => parseIdx(idx(0x08, [3, 3], [1, 2]))).toThrow(/bytes of data/);
    expect(() => parseIdx(idx(0x42, [1], [1]))).toThrow(/element type/);
  });
});

const fashion = fs.existsSync(path.join(FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz'));
describe.skipIf(!fashion)('the Fashion-MNIST ResNet splitc trained (fixtures/models)', () => {
  it('reaches the accuracy in its manifest (≥ 88 %) on the 10,000 test images', async () => {
    const entry = trainedFixtures().find((m) => m.file.includes('fashion'))!;
    const test = loadIdxImages(path.join(FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz'), path.join(FASHION_MNIST_DIR, 't10k-labels-idx1-ubyte.gz'));
    const model = loadModel(entry.path);
    const acc = await evaluateAccuracy(modelToBytes(model), test, { ort, inputName: 'image' });
    expect(acc).toBeGreaterThanOrEqual(0.88);
    expect(Math.abs(acc - entry.testAccuracy)).toBeLessThan(1e-9);
  }, 120_000);
});
