// Fashion-MNIST for training: the IDX reader itself is src/search/idx.ts (calibration and
// audits read IDX files too).

import { SplitcError } from '../../ir/errors.js';
import { readIdx } from '../../search/idx.js';

export { type IdxArray, parseIdx, readIdx } from '../../search/idx.js';

/** Where Debian's dataset-fashion-mnist puts the files. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

export interface ImageDataset {
  /** [n, 1, h, w] floats. */
  images: Float32Array;
  labels: Int32Array;
  n: number;
  shape: [number, number, number];
}

/**
 * Fashion-MNIST (or MNIST) split as floats in [0, 1] then standardized with the given
 * mean/std (defaults: Fashion-MNIST's training-set statistics).
 */
export function loadIdxImages(imagesFile: string, labelsFile: string, opts: { mean?: number; std?: number; limit?: number } = {}): ImageDataset {
  const img = readIdx(imagesFile);
  const lab = readIdx(labelsFile);
  if (img.dims.length !== 3) throw new SplitcError('E_CALIB', `${imagesFile}: expected [n, h, w] images, got dims [${img.dims.join(',')}]`);
  if (lab.dims.length !== 1 || lab.dims[0] !== img.dims[0]) throw new SplitcError('E_CALIB', `${labelsFile}: ${lab.dims[0]} labels for ${img.dims[0]} images`);
  const n = Math.min(img.dims[0]!, opts.limit ?? Infinity);
  const [h, w] = [img.dims[1]!, img.dims[2]!];
  const mean = opts.mean ?? 0.2860;
  const std = opts.std ?? 0.3530;
  const images = new Float32Array(n * h * w);
  for (let i = 0; i < images.length; i++) images[i] = (img.data[i]! / 255 - mean) / std;
  const labels = Int32Array.from(lab.data.subarray(0, n));
  return { images, labels, n, shape: [1, h, w] };
}
