// Data sets for federated experiments (Node): Fashion-MNIST's training and test splits as read
// by the trainer's IDX loader, from Debian's dataset-fashion-mnist unless a folder is given.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { SplitcError, unknownName } from '../../ir/errors.js';
import { FASHION_MNIST_DIR, loadIdxImages } from '../train/idx.js';
import type { ClientData } from './types.js';

export type FederatedDatasetName = 'fashion-mnist';

export interface FederatedDatasetOptions {
  /** The folder holding the IDX files (default: Debian's /usr/share/datasets/fashion-mnist). */
  dir?: string;
  /** Read at most this many training / test samples. */
  trainLimit?: number;
  testLimit?: number;
}

/** The IDX file `name` in `dir`, gzip-compressed (as Debian ships it) or not. */
function idxFile(dir: string, name: string, dataset: string): string {
  for (const file of [`${name}.gz`, name]) if (fs.existsSync(path.join(dir, file))) return path.join(dir, file);
  throw new SplitcError('E_IO', `${dataset}: ${path.join(dir, name)}[.gz] not found`, {
    hint: dir === FASHION_MNIST_DIR ? 'install it: apt-get install dataset-fashion-mnist' : `put the four IDX files of ${dataset} in ${dir}`,
  });
}

/** A data set's training and test splits, standardised as the trainer reads them. */
export function loadFederatedDataset(name: FederatedDatasetName, opts: FederatedDatasetOptions = {}): { train: ClientData; test: ClientData } {
  if (name !== 'fashion-mnist') throw unknownName('data set', String(name), ['fashion-mnist']);
  const dir = opts.dir ?? FASHION_MNIST_DIR;
  const split = (prefix: string, limit: number | undefined): ClientData =>
    loadIdxImages(idxFile(dir, `${prefix}-images-idx3-ubyte`, name), idxFile(dir, `${prefix}-labels-idx1-ubyte`, name), limit === undefined ? {} : { limit });
  return { train: split('train', opts.trainLimit), test: split('t10k', opts.testLimit) };
}
