// The seeded PRNG's shuffles: epoch orders (used by the trainer's epoch loop and by federated
// clients) are permutations fixed by (seed, epoch).
import { expect, it } from 'vitest';
import { epochOrder } from '../../src/ir/random.js';
import { epochOrder as fromFit } from '../../src/runtime/train/fit.js';

it('epoch orders are seeded permutations', () => {
  const a = epochOrder(100, 1, 0);
  expect([...a].sort((x, y) => x - y)).toEqual([...Array(100).keys()]);
  expect(Array.from(epochOrder(100, 1, 0))).toEqual(Array.from(a));
  expect(Array.from(epochOrder(100, 1, 1))).not.toEqual(Array.from(a));
});

it('fit.ts still exports the same epochOrder', () => {
  expect(fromFit).toBe(epochOrder);
});
