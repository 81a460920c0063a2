// FedAvg's arithmetic on hand-made updates (exact sample-weighted means, independent of the
// order updates arrive in) and the checks that reject an update before it is averaged in.
import { describe, expect, it } from 'vitest';
import { fedAvg, validateUpdate } from '../../../src/runtime/federated/aggregate.js';
import type { ClientUpdate, TrainingTask, Weights } from '../../../src/runtime/federated/types.js';
import { codeOf } from '../../helpers/codes.js';

const task: TrainingTask = {
  graph: new Uint8Array(),
  params: [{ name: 'w', dims: [2, 2] }, { name: 'b', dims: [2] }],
  stats: [{ mean: 'bn.mean', variance: 'bn.var', meanOut: 'bn.mean_out', varianceOut: 'bn.var_out', dims: [1] }],
  loss: 'loss',
  input: { name: 'image', shape: [1, 2, 2] },
  target: { name: 'labels', kind: 'labels' },
  classes: 2,
  batchSize: 4,
};

function weights(w: number[], b: number[], mean: number, variance: number): Weights {
  return new Map([
    ['w', Float32Array.from(w)],
    ['b', Float32Array.from(b)],
    ['bn.mean', Float32Array.from([mean])],
    ['bn.var', Float32Array.from([variance])],
  ]);
}

const update = (client: string, samples: number, w: Weights, loss = 1): ClientUpdate => ({ client, round: 3, samples, weights: w, loss });

describe('fedAvg', () => {
  const a = update('a', 10, weights([1, 2, 3, 4], [0.5, -1], 0.1, 1));
  const b = update('b', 30, weights([5, 6, 7, 8], [1.5, 1], 0.3, 2));
  const c = update('c', 20, weights([-1, 0.1, 0, 1e-3], [0, 0], -0.2, 0.5));

  it('is the sample-weighted mean of every tensor, parameters and running statistics alike', () => {
    const avg = fedAvg([a, b, c]);
    for (const name of ['w', 'b', 'bn.mean', 'bn.var']) {
      const expected = Array.from(a.weights.get(name)!, (_, i) => Math.fround((10 * a.weights.get(name)![i]! + 30 * b.weights.get(name)![i]! + 20 * c.weights.get(name)![i]!) / 60));
      expect(Array.from(avg.get(name)!), name).toEqual(expected);
    }
    expect(Array.from(avg.get('w')!.subarray(0, 1))).toEqual([Math.fround((10 + 150 - 20) / 60)]);
  });

  it('does not depend on the order updates arrive in, and one update is returned as it is', () => {
    const one = fedAvg([a, b, c]);
    const other = fedAvg([c, a, b]);
    for (const [name, w] of one) expect(Buffer.from(other.get(name)!.buffer).equals(Buffer.from(w.buffer)), name).toBe(true);
    const alone = fedAvg([b]);
    for (const [name, w] of b.weights) expect(Array.from(alone.get(name)!), name).toEqual(Array.from(w));
  });

  it('refuses no updates and updates that disagree on tensors', () => {
    expect(codeOf(() => fedAvg([]))).toBe('E_FED_UPDATE');
    const short = new Map(a.weights);
    short.delete('b');
    expect(codeOf(() => fedAvg([a, update('d', 5, short)]))).toBe('E_FED_UPDATE');
    const longer = new Map(a.weights);
    longer.set('b', new Float32Array(3));
    expect(codeOf(() => fedAvg([a, update('d', 5, longer)]))).toBe('E_FED_UPDATE');
  });
});

describe('validateUpdate', () => {
  const good = (): Weights => weights([1, 2, 3, 4], [0, 0], 0, 1);

  it('accepts an update with the task’s tensors', () => {
    expect(codeOf(() => validateUpdate(task, update('a', 8, good()), 3))).toBeUndefined();
  });

  it('rejects wrong names, element counts, dtypes, non-finite values, negative variances, samples and rounds with E_FED_UPDATE', () => {
    const cases: [string, ClientUpdate][] = [];
    const missing = good();
    missing.delete('bn.var');
    cases.push(['a missing tensor', update('a', 8, missing)]);
    cases.push(['an extra tensor', update('a', 8, new Map([...good(), ['extra', new Float32Array(1)]]))]);
    cases.push(['wrong dims', update('a', 8, new Map([...good(), ['w', new Float32Array(3)]]))]);
    cases.push(['float64', update('a', 8, new Map([...good(), ['b', new Float64Array(2) as unknown as Float32Array]]))]);
    cases.push(['NaN', update('a', 8, new Map([...good(), ['w', Float32Array.from([1, NaN, 3, 4])]]))]);
    cases.push(['Infinity', update('a', 8, new Map([...good(), ['bn.mean', Float32Array.from([Infinity])]]))]);
    cases.push(['a negative variance', update('a', 8, new Map([...good(), ['bn.var', Float32Array.from([-1])]]))]);
    cases.push(['zero samples', update('a', 0, good())]);
    cases.push(['fractional samples', update('a', 2.5, good())]);
    cases.push(['a NaN loss', update('a', 8, good(), NaN)]);
    for (const [what, u] of cases) expect(codeOf(() => validateUpdate(task, u)), what).toBe('E_FED_UPDATE');
    expect(codeOf(() => validateUpdate(task, update('a', 8, good()), 4)), 'another round').toBe('E_FED_UPDATE');
  });

  it('lets a negative running mean through (only variances are bounded)', () => {
    const negativeMean = new Map([...good(), ['bn.mean', Float32Array.from([-3])]]);
    expect(codeOf(() => validateUpdate(task, update('a', 8, negativeMean)))).toBeUndefined();
  });
});
