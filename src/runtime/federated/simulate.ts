// Simulation mode: N federated clients in one process, sequentially (one LocalTrainer for all,
// the code path a remote client runs), FedAvg or FedProx rounds (or SphereFed on top of
// either: spherefed-sim.ts), test accuracy after each.

import { SplitcError } from '../../ir/errors.js';
import type { Model } from '../../ir/graph.js';
import { xorshift32 } from '../../ir/random.js';
import { evaluateAccuracy } from '../train/fit.js';
import type { OrtModule } from '../train/trainer.js';
import { fedAvg, validateUpdate } from './aggregate.js';
import { LocalTrainer, type LocalSessionOptions, localSeed } from './local.js';
import { subset } from './partition.js';
import { calibrateSphereFed, sphereFedSetup, type CalibrationResult, type SphereFedSetup, type SphereFedSimOptions } from './spherefed-sim.js';
import { applyWeights, trainingTaskOf, initialWeights, type TrainingTaskOptions } from './task.js';
import type { ClientData, ClientUpdate, LocalOptions, Weights } from './types.js';
import { weightsBytes } from './weights.js';

export interface RoundRecord {
  /** 1, 2, … */
  round: number;
  /** The clients whose updates were averaged in, by id. */
  clients: string[];
  /** Mean of the clients' last-epoch training losses, weighted by their samples. */
  loss: number;
  /** Top-1 accuracy of the aggregated model on the test set. */
  testAccuracy: number;
  /** Per client: its update's float32 tensors. */
  bytesUp: number;
  /** Per client: the global weights it trains from, as float32 tensors (the task's graph, sent once on joining, is not counted). */
  bytesDown: number;
  seconds: number;
  /**
   * SphereFed only: 'sphere' — accuracy of the argmax of the fixed head's scores;
   * 'calibrated' — the record after the last round (round = rounds + 1) for the calibrated
   * model: `clients` got the final weights (bytesDown) and sent their statistics (bytesUp); `loss` is NaN.
   */
  phase?: 'sphere' | 'calibrated';
}

export interface SimulateOptions {
  /** onnxruntime-node (or -web): runs the clients' training and the evaluation. */
  ort: OrtModule;
  /** The forward model to train (its weights are round 1's global weights). */
  model: Model;
  task: TrainingTaskOptions;
  train: ClientData;
  test: ClientData;
  /** Each client's sample indices into `train` (partitionIid / partitionDirichlet). */
  parts: readonly (readonly number[])[];
  rounds: number;
  /** Clients drawn per round, without replacement (default: all). */
  clientsPerRound?: number;
  /** 'spherefed': SphereFed's head and loss, rounds aggregated as `base`. */
  algorithm: 'fedavg' | 'fedprox' | 'spherefed';
  /** SphereFed's aggregation (default 'fedavg'). */
  base?: 'fedavg' | 'fedprox';
  /** SphereFed's options (algorithm 'spherefed' only). */
  sphereFed?: SphereFedSimOptions;
  /** FedProx's μ (default `local.mu`). */
  mu?: number;
  local: LocalOptions;
  /** Seeds the choice of clients per round. */
  seed: number;
  sessionOptions?: LocalSessionOptions;
  onRound?: (record: RoundRecord) => void | Promise<void>;
}

export interface SimulateResult {
  /** The final model in inference form (SphereFed with calibration: the calibrated head). */
  model: Model;
  history: RoundRecord[];
  /** SphereFed: the trained model with the fixed head (outputs scores, features), and the calibration when asked. */
  sphere?: { model: Model; features: string; scores: string; calibration?: CalibrationResult };
}

/** Client ids in simulation: `client-<k>`, k zero-padded so the ids sort as the indices. */
export function clientIds(count: number): string[] {
  const width = String(Math.max(0, count - 1)).length;
  return Array.from({ length: count }, (_, k) => `client-${String(k).padStart(width, '0')}`);
}

/**
 * The `count` client indices (ascending) of `round`, drawn from `total` without replacement by
 * a partial Fisher–Yates shuffle seeded with localSeed(seed, round, 0xffffffff) — an index no
 * client has, so the choice and the clients' batch orders are distinct streams.
 */
export function chooseClients(total: number, count: number, seed: number, round: number): number[] {
  if (count >= total) return Array.from({ length: total }, (_, k) => k);
  const r = xorshift32(localSeed(seed, round, 0xffffffff));
  const pool = Array.from({ length: total }, (_, k) => k);
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(r() * (total - i));
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, count).sort((a, b) => a - b);
}

/**
 * Runs `rounds` rounds: each chosen client trains from the global weights on its part of
 * `train` (a part smaller than one batch sits the round out), the updates are validated and
 * averaged (FedAvg; FedProx differs only in the local objective), and the new global model is
 * evaluated on `test`. Returns the final model in inference form and the per-round history.
 */
export async function simulate(opts: SimulateOptions): Promise<SimulateResult> {
  const sphere = opts.algorithm === 'spherefed';
  const aggregation = sphere ? (opts.base ?? 'fedavg') : opts.algorithm;
  const mu = aggregation === 'fedprox' ? (opts.mu ?? opts.local.mu) : 0;
  const badArg = (why: string, hint: string): SplitcError => new SplitcError('E_BAD_ARGUMENT', why, { hint });
  if (!sphere && (opts.base !== undefined || opts.sphereFed !== undefined)) throw badArg(`base and sphereFed are SphereFed's options, not ${opts.algorithm}'s`, "use algorithm 'spherefed'");
  if (aggregation === 'fedprox' && !(mu !== undefined && mu >= 0)) throw badArg(`FedProx needs μ ≥ 0, got ${mu}`, 'e.g. mu: 0.01');
  if (aggregation === 'fedavg' && ((opts.mu ?? 0) !== 0 || (opts.local.mu ?? 0) !== 0)) throw badArg('FedAvg has no proximal term μ', "use algorithm 'fedprox' for μ > 0");
  const calibrate = sphere ? opts.sphereFed?.calibrate : undefined;
  if (calibrate && !(calibrate.lambda >= 0)) throw badArg(`calibration needs λ ≥ 0, got ${calibrate.lambda}`, 'e.g. lambda: 1e-3');
  if (!Number.isInteger(opts.rounds) || opts.rounds < 1) throw badArg(`rounds must be a whole number ≥ 1, got ${opts.rounds}`, 'e.g. rounds: 10');
  if (opts.parts.length < 1) throw badArg('no clients: parts is empty', 'partition the data with partitionIid or partitionDirichlet');
  const perRound = opts.clientsPerRound ?? opts.parts.length;
  if (!Number.isInteger(perRound) || perRound < 1) throw badArg(`clientsPerRound must be a whole number ≥ 1, got ${perRound}`, `at most ${opts.parts.length}`);

  if (calibrate?.secure && opts.parts.filter((p) => p.length > 0).length < 2) throw badArg('secure aggregation needs at least two clients with data', 'use more clients, or calibrate without secure');
  // SphereFed trains (and evaluates) the rewritten model; the original is not changed.
  const setup: SphereFedSetup | null = sphere ? sphereFedSetup(opts.model, opts.task, opts.sphereFed?.seed ?? opts.seed) : null;
  const model = setup?.model ?? opts.model;
  const taskOptions = setup?.task ?? opts.task;
  const { task, graph } = trainingTaskOf(model, taskOptions);
  const local: LocalOptions = { ...opts.local, mu };
  const ids = clientIds(opts.parts.length);
  const data = opts.parts.map((part) => subset(opts.train, part));
  let global: Weights = initialWeights(graph);
  const history: RoundRecord[] = [];
  const trainer = await LocalTrainer.create(opts.ort, task, opts.sessionOptions);
  try {
    for (let round = 1; round <= opts.rounds; round++) {
      const started = performance.now();
      const updates: ClientUpdate[] = [];
      for (const index of chooseClients(ids.length, perRound, opts.seed, round)) {
        if (data[index]!.n < task.batchSize) continue;
        const update = await trainer.train(global, data[index]!, local, { client: ids[index]!, round, index });
        validateUpdate(task, update, round);
        updates.push(update);
      }
      const samples = updates.reduce((a, u) => a + u.samples, 0);
      const down = weightsBytes(global);
      if (updates.length > 0) global = fedAvg(updates);
      const testAccuracy = await evaluateAccuracy(applyWeights(model, global), opts.test, { ort: opts.ort, inputName: task.input.name, ...(taskOptions.outputName ? { output: taskOptions.outputName } : {}) });
      const record: RoundRecord = {
        round,
        clients: updates.map((u) => u.client),
        loss: samples > 0 ? updates.reduce((a, u) => a + u.samples * u.loss, 0) / samples : NaN,
        testAccuracy,
        bytesUp: updates.length > 0 ? weightsBytes(updates[0]!.weights) : 0,
        bytesDown: down,
        seconds: (performance.now() - started) / 1000,
        ...(sphere ? { phase: 'sphere' as const } : {}),
      };
      history.push(record);
      await opts.onRound?.(record);
    }
  } finally {
    await trainer.release();
  }
  const trained = applyWeights(model, global);
  if (!setup) return { model: trained, history };
  if (!calibrate) return { model: trained, history, sphere: { model: trained, features: setup.features, scores: setup.scores } };
  const started = performance.now();
  const round = opts.rounds + 1;
  const clients = ids.map((id, k) => ({ id, data: data[k]! }));
  const calibration = await calibrateSphereFed(opts.ort, trained, setup, clients, { ...opts.sphereFed, calibrate }, round);
  const record: RoundRecord = {
    round,
    clients: calibration.clients,
    loss: NaN,
    testAccuracy: await evaluateAccuracy(calibration.model, opts.test, { ort: opts.ort, inputName: task.input.name, output: setup.output }),
    bytesUp: calibration.bytesUp,
    // The clients compute their statistics on the last round's aggregate: it is sent down once more.
    bytesDown: weightsBytes(global),
    seconds: (performance.now() - started) / 1000,
    phase: 'calibrated',
  };
  history.push(record);
  await opts.onRound?.(record);
  return { model: calibration.model, history, sphere: { model: trained, features: setup.features, scores: setup.scores, calibration } };
}
