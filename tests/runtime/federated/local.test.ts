// A client's local round: FedProx's proximal term pulls the weights towards the global ones,
// μ = 0 is plain FedAvg training bit for bit, data that cannot fit the task is refused, the
// one-hot target trains, the same code runs on onnxruntime-web, and the module's import
// closure holds nothing of Node (it runs in browsers).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { LocalTrainer, localSeed } from '../../../src/runtime/federated/local.js';
import { buildTrainingTask, initialWeights } from '../../../src/runtime/federated/task.js';
import type { ClientData, LocalOptions, Weights } from '../../../src/runtime/federated/types.js';
import { smallResNet } from '../../../src/runtime/train/models.js';
import { codeOfAsync } from '../../helpers/codes.js';
import { repoRoot } from '../../helpers/fixtures.js';
import { toyData } from '../train/toy-data.js';

const model = smallResNet({ widths: [4, 8], classes: 3, size: 8, seed: 3 });
const task = buildTrainingTask(model, { batchSize: 8 });
const global = initialWeights(model, task);
const data: ClientData = toyData(40, 1);
const ids = { client: 'c0', round: 1, index: 0 };
const opts: LocalOptions = { epochs: 2, lr: 0.05, momentum: 0.9, weightDecay: 1e-4, seed: 7 };
const single = { intraOpNumThreads: 1 };

function distance(a: Weights, b: Weights, names: string[]): number {
  let s = 0;
  for (const n of names) {
    const x = a.get(n)!;
    const y = b.get(n)!;
    for (let i = 0; i < x.length; i++) s += (x[i]! - y[i]!) ** 2;
  }
  return Math.sqrt(s);
}

const sameBits = (a: Weights, b: Weights): boolean => [...a].every(([n, w]) => Buffer.from(w.buffer).equals(Buffer.from(b.get(n)!.buffer)));

describe('LocalTrainer', () => {
  it('trains from the global weights: samples, loss, updated statistics; μ = 0 is bit for bit the run without μ; μ > 0 ends closer to the global weights', async () => {
    const trainer = await LocalTrainer.create(ort, task, single);
    try {
      const plain = await trainer.train(global, data, opts, ids);
      expect(plain.samples).toBe(40); // 5 batches of 8
      expect(plain.client).toBe('c0');
      expect(plain.round).toBe(1);
      expect(Number.isFinite(plain.loss)).toBe(true);
      expect(Array.from(plain.weights.get('stem.bn.running_var')!).some((v) => Math.abs(v - 1) > 1e-3)).toBe(true);
      const again = await trainer.train(global, data, { ...opts, mu: 0 }, ids);
      expect(sameBits(again.weights, plain.weights)).toBe(true); // also: nothing carried over from the first call
      const prox = await trainer.train(global, data, { ...opts, mu: 1 }, ids);
      const params = task.params.map((p) => p.name);
      expect(distance(prox.weights, global, params)).toBeLessThan(0.9 * distance(plain.weights, global, params));
      // another round or client index draws another batch order
      const other = await trainer.train(global, data, opts, { ...ids, index: 1 });
      expect(sameBits(other.weights, plain.weights)).toBe(false);
      expect(localSeed(7, 1, 1)).not.toBe(localSeed(7, 1, 0));
      expect(localSeed(7, 2, 0)).not.toBe(localSeed(7, 1, 0));
    } finally {
      await trainer.release();
    }
  }, 30_000);

  it('refuses data that does not fit the task (E_FED_DATA) and global weights that do not (E_FED_UPDATE)', async () => {
    const trainer = await LocalTrainer.create(ort, task, single);
    try {
      expect(await codeOfAsync(trainer.train(global, toyData(7, 1), opts, ids)), 'fewer than a batch').toBe('E_FED_DATA');
      expect(await codeOfAsync(trainer.train(global, { ...data, shape: [1, 4, 16] }, opts, ids)), 'sample shape').toBe('E_FED_DATA');
      const labels = Int32Array.from(data.labels);
      labels[3] = 3;
      expect(await codeOfAsync(trainer.train(global, { ...data, labels }, opts, ids)), 'label out of range').toBe('E_FED_DATA');
      const partial = new Map(global);
      partial.delete('fc.bias');
      expect(await codeOfAsync(trainer.train(partial, data, opts, ids)), 'global weights').toBe('E_FED_UPDATE');
      expect(await codeOfAsync(trainer.train(global, data, { ...opts, mu: -1 }, ids)), 'negative μ').toBe('E_BAD_ARGUMENT');
    } finally {
      await trainer.release();
    }
  });

  it('trains the one-hot target (SphereFed’s MSE) and runs the same steps on onnxruntime-web', async () => {
    const onehot = buildTrainingTask(model, { batchSize: 8, loss: 'mse-onehot' });
    const short = { ...opts, epochs: 1 };
    const small = toyData(16, 2);
    const node = await LocalTrainer.create(ort, onehot, single);
    const web = await import('onnxruntime-web');
    web.env.wasm.numThreads = 1;
    const wasm = await LocalTrainer.create(web, onehot);
    try {
      const a = await node.train(global, small, short, ids);
      const b = await wasm.train(global, small, short, ids);
      expect(Number.isFinite(a.loss)).toBe(true);
      expect(Math.abs(a.loss - b.loss)).toBeLessThan(1e-5 * Math.max(1, a.loss));
      expect(distance(a.weights, b.weights, [...a.weights.keys()])).toBeLessThan(1e-4);
    } finally {
      await node.release();
      await wasm.release();
    }
  }, 30_000);
});

it("local.ts's import closure is platform-neutral (no node: modules, no onnxruntime, no passes)", () => {
  const seen = new Set<string>();
  const outside: string[] = [];
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const m of fs.readFileSync(file, 'utf8').matchAll(/^\s*(?:import|export)[^'"]*from\s+['"]([^'"]+)['"]/gm)) {
      const spec = m[1]!;
      if (!spec.startsWith('.')) outside.push(`${path.relative(repoRoot, file)} imports ${spec}`);
      else visit(path.resolve(path.dirname(file), spec.replace(/\.js$/, '.ts')));
    }
  };
  visit(path.join(repoRoot, 'src/runtime/federated/local.ts'));
  expect(outside).toEqual([]);
  const files = [...seen].map((f) => path.relative(path.join(repoRoot, 'src'), f)).sort();
  expect(files.every((f) => f.startsWith('ir/') || f.startsWith('runtime/'))).toBe(true);
  expect(files).toEqual(['ir/errors.ts', 'ir/random.ts', 'runtime/federated/local.ts', 'runtime/federated/types.ts', 'runtime/federated/weights.ts', 'runtime/train/optimizer.ts']);
});
