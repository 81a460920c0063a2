// Partitions of a labelled data set among clients: deterministic per seed, disjoint, covering
// every sample, no client empty; Dirichlet with small α skews each client towards few classes.
import { describe, expect, it } from 'vitest';
import { partitionCounts, partitionDirichlet, partitionIid, subset } from '../../../src/runtime/federated/partition.js';
import { codeOf } from '../../helpers/codes.js';
import { xorshift32 } from '../../../src/ir/random.js';

const CLASSES = 10;
const r = xorshift32(11);
const labels = Int32Array.from({ length: 2000 }, () => Math.floor(r() * CLASSES));

function expectPartition(parts: number[][], n: number, clients: number): void {
  expect(parts).toHaveLength(clients);
  const all = parts.flat().sort((a, b) => a - b);
  expect(all).toEqual([...Array(n).keys()]); // disjoint and covering
  for (const part of parts) expect(part.length).toBeGreaterThan(0);
}

/** Mean over clients of the fewest classes that hold 80% of a client's samples. */
function classesFor80(parts: number[][]): number {
  const counts = partitionCounts(parts, labels, CLASSES);
  const per = counts.map((c) => {
    const total = c.reduce((a, b) => a + b, 0);
    const sorted = [...c].sort((a, b) => b - a);
    let held = 0;
    let k = 0;
    while (held < 0.8 * total) held += sorted[k++]!;
    return k;
  });
  return per.reduce((a, b) => a + b, 0) / per.length;
}

describe('partitions', () => {
  it('IID: deterministic per seed, disjoint, covering, balanced', () => {
    const parts = partitionIid(labels, 7, 3);
    expectPartition(parts, labels.length, 7);
    expect(partitionIid(labels, 7, 3)).toEqual(parts);
    expect(partitionIid(labels, 7, 4)).not.toEqual(parts);
    for (const part of parts) expect([285, 286]).toContain(part.length);
  });

  it('Dirichlet: deterministic per seed, disjoint, covering, every client non-empty (even at tiny α and many clients)', () => {
    for (const [clients, alpha] of [[10, 0.1], [10, 1], [10, 100], [50, 0.01], [200, 0.05]] as const) {
      const parts = partitionDirichlet(labels, clients, alpha, 5);
      expectPartition(parts, labels.length, clients);
      expect(partitionDirichlet(labels, clients, alpha, 5), `${clients} clients, α ${alpha}`).toEqual(parts);
    }
    expect(partitionDirichlet(labels, 10, 0.1, 6)).not.toEqual(partitionDirichlet(labels, 10, 0.1, 5));
    // as many clients as samples: one each
    const few = Int32Array.from([0, 0, 1, 2]);
    expect(partitionDirichlet(few, 4, 0.05, 1).map((p) => p.length)).toEqual([1, 1, 1, 1]);
  });

  it('small α concentrates each client on few classes; large α approaches IID', () => {
    const iid = classesFor80(partitionIid(labels, 10, 1));
    const skewed = classesFor80(partitionDirichlet(labels, 10, 0.1, 1));
    const flat = classesFor80(partitionDirichlet(labels, 10, 1000, 1));
    expect(skewed).toBeLessThan(0.5 * iid);
    expect(Math.abs(flat - iid)).toBeLessThanOrEqual(1);
    expect(iid).toBeGreaterThanOrEqual(7);
  });

  it('counts samples of each class per client', () => {
    const parts = [[0, 1], [2, 3, 4]];
    expect(partitionCounts(parts, [0, 2, 2, 1, 0], 3)).toEqual([[1, 0, 1], [1, 1, 1]]);
  });

  it('refuses impossible client counts and α', () => {
    expect(codeOf(() => partitionIid(labels, 0, 1))).toBe('E_BAD_ARGUMENT');
    expect(codeOf(() => partitionIid([0, 1], 3, 1))).toBe('E_BAD_ARGUMENT');
    expect(codeOf(() => partitionDirichlet(labels, 10, 0, 1))).toBe('E_BAD_ARGUMENT');
    expect(codeOf(() => partitionDirichlet(labels, 2.5, 1, 1))).toBe('E_BAD_ARGUMENT');
  });
});

describe('subset', () => {
  it('copies the chosen samples in order', () => {
    const data = { images: Float32Array.from([0, 0, 1, 1, 2, 2]), labels: Int32Array.from([5, 6, 7]), n: 3, shape: [2] };
    const s = subset(data, [2, 0]);
    expect(Array.from(s.images)).toEqual([2, 2, 0, 0]);
    expect(Array.from(s.labels)).toEqual([7, 5]);
    expect(s.n).toBe(2);
    expect(codeOf(() => subset(data, [3]))).toBe('E_BAD_ARGUMENT');
  });
});
