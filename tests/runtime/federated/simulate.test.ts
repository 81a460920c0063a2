// The in-process simulation: FedAvg with one client and one round retraces centralised SGD
// (issue 18's acceptance), FedProx with μ = 0 is FedAvg, a few rounds of several clients learn,
// and the history records each round.
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { localSeed } from '../../../src/runtime/federated/local.js';
import { partitionIid } from '../../../src/runtime/federated/partition.js';
import { chooseClients, clientIds, simulate, type SimulateOptions } from '../../../src/runtime/federated/simulate.js';
import { buildTrainingTask, initialWeights } from '../../../src/runtime/federated/task.js';
import type { LocalOptions } from '../../../src/runtime/federated/types.js';
import { fit } from '../../../src/runtime/train/fit.js';
import { smallResNet } from '../../../src/runtime/train/models.js';
import { Trainer } from '../../../src/runtime/train/trainer.js';
import { codeOfAsync } from '../../helpers/codes.js';
import { toyData } from '../train/toy-data.js';

const model = () => smallResNet({ widths: [4, 8], classes: 3, size: 8, seed: 3 });
const local: LocalOptions = { epochs: 2, lr: 0.05, momentum: 0.9, weightDecay: 1e-4, seed: 7 };
const single = { intraOpNumThreads: 1 };
const test = toyData(48, 9);

describe('simulate', () => {
  it('FedAvg, one client, one round: the same weights as centralised SGD on the same data and seed', async () => {
    const train = toyData(40, 1);
    // Centralised: the Trainer on the same graph (same loss, batch, session options), fit with
    // the seed the client derives for round 1, index 0, so both draw the same epoch orders.
    const trainer = await Trainer.create({
      ort,
      model: model(),
      loss: 'ce:logits',
      inputShapes: { image: [8, 1, 8, 8] },
      optimizer: { kind: 'sgd', lr: local.lr, momentum: local.momentum, weightDecay: local.weightDecay },
      sessionOptions: single,
    });
    await fit(trainer, { data: train, batchSize: 8, epochs: local.epochs, seed: localSeed(local.seed, 1, 0), inputName: 'image' });
    await trainer.release();
    const fed = await simulate({ ort, model: model(), task: { batchSize: 8 }, train, test, parts: [[...Array(train.n).keys()]], rounds: 1, algorithm: 'fedavg', local, seed: 1, sessionOptions: single });
    const weights = initialWeights(fed.model, buildTrainingTask(model(), { batchSize: 8 }));
    let worst = 0;
    for (const [name, w] of [...trainer.params, ...trainer.stats]) {
      const v = weights.get(name)!;
      for (let i = 0; i < w.length; i++) worst = Math.max(worst, Math.abs(w[i]! - v[i]!));
    }
    // Same graph bytes, session options, batches and optimizer arithmetic, and FedAvg of one
    // update is (n·w)/n = w exactly in float64: bit for bit in practice; 1e-6 is the contract.
    expect(worst).toBeLessThan(1e-6);
    expect(fed.history).toHaveLength(1);
    expect(fed.history[0]!.clients).toEqual(['client-0']);
  }, 30_000);

  it('runs rounds of several clients: the loss falls and each round is recorded', async () => {
    const train = toyData(96, 2);
    const rounds: number[] = [];
    const { history, model: out } = await simulate({
      ort,
      model: model(),
      task: { batchSize: 8 },
      train,
      test,
      parts: partitionIid(train.labels, 3, 1),
      rounds: 2,
      algorithm: 'fedavg',
      local: { ...local, epochs: 1 },
      seed: 1,
      sessionOptions: single,
      onRound: (r) => void rounds.push(r.round),
    });
    expect(rounds).toEqual([1, 2]);
    expect(history.map((h) => h.clients)).toEqual([clientIds(3), clientIds(3)]);
    expect(history[1]!.loss).toBeLessThan(history[0]!.loss);
    const task = buildTrainingTask(model(), { batchSize: 8 });
    const floats = [...task.params.map((p) => p.dims), ...task.stats.flatMap((s) => [s.dims, s.dims])].reduce((a, d) => a + d.reduce((x, y) => x * y, 1), 0);
    for (const h of history) {
      expect(h).toMatchObject({ bytesUp: 4 * floats, bytesDown: 4 * floats });
      expect(h.testAccuracy).toBeGreaterThanOrEqual(0);
      expect(h.testAccuracy).toBeLessThanOrEqual(1);
      expect(h.seconds).toBeGreaterThan(0);
    }
    expect(out.graph.inputs.map((v) => v.name)).toEqual(['image']); // inference form
  }, 30_000);

  it('FedProx with μ = 0 is FedAvg exactly; a client part smaller than a batch sits the round out', async () => {
    const train = toyData(40, 3);
    const parts = [[...Array(32).keys()], [32, 33, 34, 35, 36, 37, 38, 39].slice(0, 5)];
    const base: SimulateOptions = { ort, model: model(), task: { batchSize: 8 }, train, test, parts, rounds: 1, algorithm: 'fedavg', local: { ...local, epochs: 1 }, seed: 2, sessionOptions: single };
    const avg = await simulate(base);
    const prox = await simulate({ ...base, algorithm: 'fedprox', mu: 0 });
    expect(avg.history[0]!.clients).toEqual(['client-0']);
    const task = buildTrainingTask(model(), { batchSize: 8 });
    const a = initialWeights(avg.model, task);
    const b = initialWeights(prox.model, task);
    for (const [name, w] of a) expect(Buffer.from(b.get(name)!.buffer).equals(Buffer.from(w.buffer)), name).toBe(true);
    expect(await codeOfAsync(simulate({ ...base, mu: 0.1 })), 'FedAvg with μ').toBe('E_BAD_ARGUMENT');
    expect(await codeOfAsync(simulate({ ...base, algorithm: 'fedprox' })), 'FedProx without μ').toBe('E_BAD_ARGUMENT');
  }, 30_000);
});

it('chooses clients per round, seeded, without replacement', () => {
  const a = chooseClients(10, 4, 5, 1);
  expect(a).toHaveLength(4);
  expect(new Set(a).size).toBe(4);
  expect(a.every((k) => k >= 0 && k < 10)).toBe(true);
  expect(chooseClients(10, 4, 5, 1)).toEqual(a);
  const rounds = [2, 3, 4, 5].map((r) => chooseClients(10, 4, 5, r).join());
  expect(rounds.some((r) => r !== a.join())).toBe(true);
  expect(chooseClients(3, 5, 1, 1)).toEqual([0, 1, 2]);
  expect(clientIds(12)[3]).toBe('client-03');
});
