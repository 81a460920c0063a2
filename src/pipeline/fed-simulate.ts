// `splitc fed simulate` as one function: the model (a file, or the built-in ResNet-8), the data
// set, the clients' partition, the simulated rounds (FedAvg / FedProx / SphereFed), and the run's
// history (config, per-client data, per-round figures) that history.json and report.html show.

import * as ort from 'onnxruntime-node';
import type { Model } from '../ir/graph.js';
import { loadModel } from '../ir/serde/io.js';
import { partitionCounts } from '../runtime/federated/partition.js';
import { clientIds, simulate, type RoundRecord, type SimulateOptions } from '../runtime/federated/simulate.js';
import { smallResNet } from '../runtime/train/models.js';
import { badArgument as badArg } from './diagnostics.js';
import { checkAlgorithmFlags, checkModelAndAlgorithm, checkPartitionFlags, checkSgd, checkWholeNumbers, CLIENTS_HINT, type DataFlags, loadFedData, PARTITION_HINTS, partitionClients, type PartitionFlags } from './fed-options.js';

export const FED_ARCHS = ['resnet8'] as const;
export type FedArch = (typeof FED_ARCHS)[number];
export const FED_ALGORITHMS = ['fedavg', 'fedprox', 'spherefed'] as const;
export type FedAlgorithm = (typeof FED_ALGORITHMS)[number];

/** ResNet-8 for 28×28 grayscale: stem + three stages of one basic block (16, 32, 64 channels) + linear head, 10 classes. */
export const RESNET8_WIDTHS = [16, 32, 64] as const;

export interface FedSimulateOptions extends DataFlags, PartitionFlags {
  /** An ONNX model file (its first input takes the images, its single output the class scores). */
  modelFile?: string;
  /** The built-in model, when no file is given (default 'resnet8'). */
  arch?: FedArch;
  /** Channels per stage of the built-in ResNet (default 16,32,64). */
  widths?: number[];
  rounds: number;
  localEpochs: number;
  batch: number;
  lr: number;
  momentum: number;
  algorithm: FedAlgorithm;
  /** SphereFed's aggregation (default fedavg). */
  base?: 'fedavg' | 'fedprox';
  mu?: number;
  /** SphereFed's closed-form calibration after the last round, with ridge λ (default 1e-3). */
  calibrate?: boolean;
  lambda?: number;
  secure?: boolean;
  clientsPerRound?: number;
  onRound?: (record: RoundRecord, rounds: number) => void;
}

/** One round of history.json: RoundRecord with per-client units in the names and NaN loss as null. */
export interface FedRoundEntry {
  round: number;
  /** SphereFed: 'sphere' (argmax of the fixed head's scores) or 'calibrated' (the calibrated model, after the last round). */
  phase?: 'sphere' | 'calibrated';
  clients: string[];
  loss: number | null;
  testAccuracy: number;
  bytesUpPerClient: number;
  bytesDownPerClient: number;
  seconds: number;
}

/** history.json (schema in docs/cli.md). */
export interface FedHistory {
  version: 1;
  config: {
    model: string;
    data: string;
    trainSamples: number;
    testSamples: number;
    classes: number;
    clients: number;
    partition: { kind: 'iid' } | { kind: 'dirichlet'; alpha: number };
    rounds: number;
    localEpochs: number;
    batch: number;
    lr: number;
    momentum: number;
    algorithm: FedAlgorithm;
    base: 'fedavg' | 'fedprox' | null;
    mu: number | null;
    calibration: { lambda: number; secure: boolean } | null;
    clientsPerRound: number;
    seed: number;
  };
  /** Per client: samples and samples per class. */
  clients: { id: string; samples: number; classCounts: number[] }[];
  rounds: FedRoundEntry[];
  /** The final model's test accuracy (model.onnx): the calibrated model's for SphereFed with --calibrate. */
  finalTestAccuracy: number;
}

function checkOptions(o: FedSimulateOptions): void {
  checkModelAndAlgorithm(o, FED_ARCHS, FED_ALGORITHMS);
  checkPartitionFlags(o, PARTITION_HINTS);
  checkWholeNumbers([
    ['--clients', o.clients, 1],
    ['--rounds', o.rounds, 1],
    ['--local-epochs', o.localEpochs, 1],
    ['--batch', o.batch, 1],
    ['--clients-per-round', o.clientsPerRound, 1],
    ['--train-limit', o.trainLimit, 1],
    ['--test-limit', o.testLimit, 1],
    ['--seed', o.seed, 0],
  ]);
  checkSgd(o);
  checkAlgorithmFlags(o);
}

export function modelOf(o: Pick<FedSimulateOptions, 'modelFile' | 'widths' | 'seed'>, classes: number): { model: Model; name: string } {
  if (o.modelFile !== undefined) return { model: loadModel(o.modelFile), name: o.modelFile };
  const widths = o.widths ?? [...RESNET8_WIDTHS];
  if (widths.length < 1 || !widths.every((w) => Number.isInteger(w) && w >= 1)) throw badArg(`--widths must be positive whole numbers, got ${widths.join(',')}`, 'e.g. --widths 16,32,64');
  return { model: smallResNet({ classes, widths, size: 28, seed: o.seed }), name: `resnet8 (widths ${widths.join(',')}, 28×28×1, ${classes} classes)` };
}

/** Runs the simulation: the final inference model and the run's history (history.json). */
export async function runFedSimulate(o: FedSimulateOptions): Promise<{ model: Model; history: FedHistory }> {
  checkOptions(o);
  const { train, test } = loadFedData(o);
  const classes = 10;
  const { model, name } = modelOf(o, classes);
  const parts = partitionClients(train, o, CLIENTS_HINT);
  const counts = partitionCounts(parts, train.labels, classes);
  const ids = clientIds(o.clients);
  const sphere = o.algorithm === 'spherefed';
  const prox = o.algorithm === 'fedprox' || (sphere && o.base === 'fedprox');
  const mu = prox ? (o.mu ?? 0.01) : undefined;
  const lambda = o.lambda ?? 1e-3;
  const opts: SimulateOptions = {
    ort,
    model,
    task: { batchSize: o.batch },
    train,
    test,
    parts,
    rounds: o.rounds,
    algorithm: o.algorithm,
    ...(mu !== undefined ? { mu } : {}),
    ...(sphere ? { base: o.base ?? 'fedavg', sphereFed: { seed: o.seed, ...(o.calibrate ? { calibrate: { lambda, secure: o.secure ?? false } } : {}) } } : {}),
    ...(o.clientsPerRound !== undefined ? { clientsPerRound: o.clientsPerRound } : {}),
    local: { epochs: o.localEpochs, lr: o.lr, momentum: o.momentum, seed: o.seed },
    seed: o.seed,
    onRound: (r) => o.onRound?.(r, o.rounds),
  };
  const result = await simulate(opts);
  const rounds = result.history.map(
    (r): FedRoundEntry => ({
      round: r.round,
      ...(r.phase ? { phase: r.phase } : {}),
      clients: r.clients,
      loss: Number.isFinite(r.loss) ? r.loss : null,
      testAccuracy: r.testAccuracy,
      bytesUpPerClient: r.bytesUp,
      bytesDownPerClient: r.bytesDown,
      seconds: r.seconds,
    }),
  );
  const history: FedHistory = {
    version: 1,
    config: {
      model: name,
      data: o.data,
      trainSamples: train.n,
      testSamples: test.n,
      classes,
      clients: o.clients,
      partition: o.iid ? { kind: 'iid' } : { kind: 'dirichlet', alpha: o.alpha! },
      rounds: o.rounds,
      localEpochs: o.localEpochs,
      batch: o.batch,
      lr: o.lr,
      momentum: o.momentum,
      algorithm: o.algorithm,
      base: sphere ? (o.base ?? 'fedavg') : null,
      mu: mu ?? null,
      calibration: sphere && o.calibrate ? { lambda, secure: o.secure ?? false } : null,
      clientsPerRound: Math.min(o.clientsPerRound ?? o.clients, o.clients),
      seed: o.seed,
    },
    clients: ids.map((id, k) => ({ id, samples: parts[k]!.length, classCounts: counts[k]! })),
    rounds,
    finalTestAccuracy: rounds[rounds.length - 1]!.testAccuracy,
  };
  return { model: result.model, history };
}
