// Federated data sets: Fashion-MNIST's IDX files read from a folder (gzip-compressed or not);
// missing files are a coded error with the Debian package to install.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { expect, it } from 'vitest';
import { SplitcError } from '../../../src/ir/errors.js';
import { loadFederatedDataset } from '../../../src/runtime/federated/data.js';
import { FASHION_MNIST_DIR } from '../../../src/runtime/train/idx.js';
import { tmpDir } from '../../helpers/fixtures.js';

function idx(type: number, dims: number[], body: number[]): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head[2] = type;
  head[3] = dims.length;
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, Buffer.from(body)]);
}

it('reads the training and test splits from a folder of IDX files', () => {
  const dir = tmpDir();
  try {
    fs.writeFileSync(path.join(dir, 'train-images-idx3-ubyte.gz'), zlib.gzipSync(idx(0x08, [3, 2, 2], Array.from({ length: 12 }, (_, i) => i * 20))));
    fs.writeFileSync(path.join(dir, 'train-labels-idx1-ubyte.gz'), zlib.gzipSync(idx(0x08, [3], [4, 0, 9])));
    fs.writeFileSync(path.join(dir, 't10k-images-idx3-ubyte'), idx(0x08, [1, 2, 2], [0, 255, 0, 255]));
    fs.writeFileSync(path.join(dir, 't10k-labels-idx1-ubyte'), idx(0x08, [1], [2]));
    const { train, test } = loadFederatedDataset('fashion-mnist', { dir, trainLimit: 2 });
    expect(train.n).toBe(2);
    expect(train.shape).toEqual([1, 2, 2]);
    expect(Array.from(train.labels)).toEqual([4, 0]);
    expect(test.n).toBe(1);
    expect(Array.from(test.labels)).toEqual([2]);
    expect(test.images[1]).toBeCloseTo((1 - 0.286) / 0.353, 4);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

it('an unknown data set is E_BAD_ARGUMENT; a missing one is E_IO, with the Debian package as the hint for the default folder', () => {
  expect(() => loadFederatedDataset('cifar' as 'fashion-mnist')).toThrow(expect.objectContaining({ code: 'E_BAD_ARGUMENT' }));
  const dir = tmpDir();
  try {
    expect(() => loadFederatedDataset('fashion-mnist', { dir })).toThrow(expect.objectContaining({ code: 'E_IO' }));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  if (['train-images-idx3-ubyte.gz', 'train-images-idx3-ubyte'].some((f) => fs.existsSync(path.join(FASHION_MNIST_DIR, f)))) return; // installed here
  try {
    loadFederatedDataset('fashion-mnist');
    expect.unreachable();
  } catch (e) {
    expect(e).toBeInstanceOf(SplitcError);
    expect((e as SplitcError).code).toBe('E_IO');
    expect((e as SplitcError).hint).toMatch(/dataset-fashion-mnist/);
  }
});
