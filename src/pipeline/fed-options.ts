// The flag checks and data loading the `splitc fed` commands share (simulate, serve, join,
// calibrate): whole-number flags, the model and algorithm choice, SGD's figures, and the data
// set split among N clients by the seeded partition every command of a run agrees on.

import { notAnInteger, unknownName } from '../ir/errors.js';
import { loadFederatedDataset, type FederatedDatasetName } from '../runtime/federated/data.js';
import { partitionDirichlet, partitionIid } from '../runtime/federated/partition.js';
import type { ClientData } from '../runtime/federated/types.js';
import { badArgument } from './diagnostics.js';

/** Each [flag, value, least value]: an absent value passes, a present one must be a whole number ≥ the least. */
export function checkWholeNumbers(counts: readonly (readonly [string, number | undefined, number])[]): void {
  for (const [name, v, min] of counts) if (v !== undefined && !(Number.isInteger(v) && v >= min)) throw notAnInteger(name, min, v);
}

/** A model file or a built-in architecture (not both), and an algorithm among `algorithms`. */
export function checkModelAndAlgorithm(o: { modelFile?: string; arch?: string; algorithm: string }, archs: readonly string[], algorithms: readonly string[]): void {
  if (o.modelFile !== undefined && o.arch !== undefined) throw badArgument('give a model file or --arch, not both');
  if (o.arch !== undefined && !archs.includes(o.arch)) throw unknownName('architecture', o.arch, archs);
  if (!algorithms.includes(o.algorithm)) throw unknownName('algorithm', o.algorithm, algorithms);
}

/** The flags around the algorithm: --base and the calibration's only with SphereFed, --mu only with FedProx (itself or under SphereFed). */
export function checkAlgorithmFlags(o: { algorithm: string; base?: string; mu?: number; calibrate?: boolean; lambda?: number; secure?: boolean }): void {
  const sphere = o.algorithm === 'spherefed';
  const prox = o.algorithm === 'fedprox' || (sphere && o.base === 'fedprox');
  if (o.base !== undefined && !sphere) throw badArgument('--base is for --algo spherefed (the aggregation under its head)');
  if (o.mu !== undefined && !prox) throw badArgument("--mu is FedProx's proximal term", 'use --algo fedprox, or --algo spherefed --base fedprox');
  if (!sphere && (o.calibrate || o.secure || o.lambda !== undefined)) throw badArgument('--calibrate, --lambda and --secure are for --algo spherefed');
  if (!o.calibrate && (o.secure || o.lambda !== undefined)) throw badArgument('--lambda and --secure set up the calibration: add --calibrate');
  if (o.lambda !== undefined && !(o.lambda >= 0)) throw badArgument(`--lambda must be ≥ 0, got ${o.lambda}`, 'e.g. 1e-3');
}

/** Local SGD's learning rate and momentum. */
export function checkSgd(o: { lr: number; momentum: number }): void {
  if (!(o.lr > 0)) throw badArgument(`--lr must be positive, got ${o.lr}`);
  if (!(o.momentum >= 0 && o.momentum < 1)) throw badArgument(`--momentum must be in [0, 1), got ${o.momentum}`);
}

export interface PartitionFlags {
  clients: number;
  /** Non-IID: Dirichlet(α) over clients per class; exactly one of `alpha` and `iid`. */
  alpha?: number;
  iid?: boolean;
  /** Seeds the partition (and the rest of what the command draws at random). */
  seed: number;
}

/** Exactly one of --alpha and --iid, and a usable α; the hints say what to pass (join's: match the run's other clients). */
export function checkPartitionFlags(o: PartitionFlags, hints: { choose: string; alpha?: string }): void {
  if ((o.alpha !== undefined) === (o.iid === true)) throw badArgument('choose the partition: --alpha A (non-IID, Dirichlet) or --iid', hints.choose);
  if (o.alpha !== undefined && !(o.alpha > 0 && Number.isFinite(o.alpha))) throw badArgument(`--alpha must be positive, got ${o.alpha}`, hints.alpha);
}

export interface DataFlags {
  data: string;
  /** The data set's folder (default: Debian's). */
  dataDir?: string;
  trainLimit?: number;
  testLimit?: number;
}

/** The data set the flags name, with the limits given. */
export function loadFedData(o: DataFlags): { train: ClientData; test: ClientData } {
  return loadFederatedDataset(o.data as FederatedDatasetName, {
    ...(o.dataDir !== undefined ? { dir: o.dataDir } : {}),
    ...(o.trainLimit !== undefined ? { trainLimit: o.trainLimit } : {}),
    ...(o.testLimit !== undefined ? { testLimit: o.testLimit } : {}),
  });
}

/** Per client, its indices into `train`: the seeded IID or Dirichlet partition (E_BAD_ARGUMENT with fewer samples than clients). */
export function partitionClients(train: ClientData, o: PartitionFlags, hint?: string): number[][] {
  if (o.clients > train.n) throw badArgument(`--clients ${o.clients} is more than the ${train.n} training samples`, hint);
  return o.iid ? partitionIid(train.labels, o.clients, o.seed) : partitionDirichlet(train.labels, o.clients, o.alpha!, o.seed);
}

/** The hints of simulate's and calibrate's partition errors. */
export const PARTITION_HINTS = { choose: 'e.g. --alpha 0.1', alpha: 'e.g. 0.1 (skewed) … 100 (close to IID)' } as const;
export const CLIENTS_HINT = 'use fewer clients or more samples (--train-limit)';
