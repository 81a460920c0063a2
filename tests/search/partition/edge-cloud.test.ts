// The edge/cloud min-cut search against brute-force enumeration on random DAGs, hand-made
// shapes whose optimum is known, and the error codes.
import { describe, expect, it } from 'vitest';
import { rng, close, cost, randomDag, attempt, closedUnderPredecessors } from './random-problems.js';
import { bruteForcePartition } from './brute-force.js';
import { codeOf } from '../../helpers/codes.js';
import { evaluatePartition, type PartitionProblem, solvePartition } from '../../../src/search/partition/edge-cloud.js';

function randomPartition(r: () => number, nodeCount: number): PartitionProblem {
  const optionCount = 1 + Math.floor(r() * 5);
  const dag = randomDag(r, nodeCount, r() < 0.05 ? 0 : 1 + Math.floor(r() * 3));
  return {
    nodes: Array.from({ length: nodeCount }, () => ({ edgeCost: cost(r, 10, 0.05), cloudCost: cost(r, 4, 0.05) })),
    tensors: dag.tensors.map((t) => ({ ...t, transferCost: Array.from({ length: optionCount }, () => cost(r, 15, 0.12)) })),
    options: ['none', 'fp16', 'int8', 'int4', 'pca'].slice(0, optionCount),
    optionMode: r() < 0.5 ? 'per-tensor' : 'global',
    crossingCost: r() < 0.3 ? 0 : cost(r, 12, 0),
  };
}


describe('solvePartition', () => {
  it('equals brute force on 600 random DAGs (both option modes, Infinity costs, crossing costs)', () => {
    const r = rng(20240601);
    let feasible = 0;
    let cuts = 0;
    for (let k = 0; k < 600; k++) {
      const p = randomPartition(r, 1 + Math.floor(r() * 20));
      const exact = attempt(() => solvePartition(p));
      const brute = attempt(() => bruteForcePartition(p));
      if (typeof brute === 'string' || typeof exact === 'string') {
        expect(exact, `case ${k}`).toBe(brute);
        expect(brute).toBe('E_CONSTRAINT');
        continue;
      }
      feasible++;
      if (exact.crossing.length > 0 && exact.onEdge.some((x) => x)) cuts++;
      expect(close(exact.cost, brute.cost), `case ${k}: ${exact.cost} vs ${brute.cost}`).toBe(true);
      expect(closedUnderPredecessors(p, exact.onEdge)).toBe(true);
      const again = evaluatePartition(p, exact.onEdge);
      expect(again).toEqual(exact);
      for (let v = 0; v < p.nodes.length; v++) {
        expect(exact.onEdge[v] ? p.nodes[v]!.edgeCost : p.nodes[v]!.cloudCost).toBeLessThan(Infinity);
      }
      if (p.optionMode === 'global') expect(new Set(exact.crossing.map((c) => c.option)).size).toBeLessThanOrEqual(1);
    }
    // The generator must exercise the interesting cases, not only infeasible or trivial ones.
    expect(feasible).toBeGreaterThan(450);
    expect(cuts).toBeGreaterThan(100);
  });

  it('cuts a residual block inside the block, sending the skip tensor and the branch tensor', () => {
    // x → stem → a → conv1 → b → conv2 → c; add(a, c) → d → head
    const p: PartitionProblem = {
      nodes: [
        { edgeCost: 1, cloudCost: 5 }, // 0 stem
        { edgeCost: 1, cloudCost: 5 }, // 1 conv1
        { edgeCost: 10, cloudCost: 1 }, // 2 conv2
        { edgeCost: 1, cloudCost: 0.1 }, // 3 add
        { edgeCost: 10, cloudCost: 1 }, // 4 head
      ],
      tensors: [
        { producer: -1, consumers: [0], transferCost: [100] }, // 0 x
        { producer: 0, consumers: [1, 3], transferCost: [2] }, // 1 a
        { producer: 1, consumers: [2], transferCost: [2] }, // 2 b
        { producer: 2, consumers: [3], transferCost: [50] }, // 3 c
        { producer: 3, consumers: [4], transferCost: [50] }, // 4 d
        { producer: 4, consumers: [], transferCost: [50] }, // 5 out
      ],
      options: ['none'],
      optionMode: 'per-tensor',
      crossingCost: 0,
    };
    const s = solvePartition(p);
    expect(s.onEdge).toEqual([true, true, false, false, false]);
    expect(s.crossing).toEqual([
      { tensor: 1, option: 0 },
      { tensor: 2, option: 0 },
    ]);
    expect(s.cost).toBeCloseTo(1 + 1 + 1 + 0.1 + 1 + 2 + 2, 12);
    expect(s.cost).toBeCloseTo(bruteForcePartition(p).cost, 12);
  });

  it('cuts a U-Net between encoder and decoder, sending every skip tensor', () => {
    // e1 → e2 → e3 → d3 → d2(u3, t2) → d1(u2, t1) → head
    const enc = { edgeCost: 1, cloudCost: 3 };
    const dec = { edgeCost: 20, cloudCost: 1 };
    const p: PartitionProblem = {
      nodes: [enc, enc, { edgeCost: 1, cloudCost: 5 }, dec, dec, dec, dec],
      tensors: [
        { producer: -1, consumers: [0], transferCost: [50, 40] }, // x
        { producer: 0, consumers: [1, 5], transferCost: [4, 2] }, // t1
        { producer: 1, consumers: [2, 4], transferCost: [4, 2] }, // t2
        { producer: 2, consumers: [3], transferCost: [4, 2] }, // t3
        { producer: 3, consumers: [4], transferCost: [30, 30] }, // u3
        { producer: 4, consumers: [5], transferCost: [30, 30] }, // u2
        { producer: 5, consumers: [6], transferCost: [30, 30] }, // u1
        { producer: 6, consumers: [], transferCost: [30, 30] }, // y
      ],
      options: ['none', 'int8'],
      optionMode: 'global',
      crossingCost: 1,
    };
    const s = solvePartition(p);
    expect(s.onEdge).toEqual([true, true, true, false, false, false, false]);
    expect(s.crossing).toEqual([1, 2, 3].map((tensor) => ({ tensor, option: 1 })));
    expect(s.transferCost).toBe(2 + 2 + 2 + 1);
    expect(s.cost).toBeCloseTo(bruteForcePartition(p).cost, 12);
  });

  /** x → n0 → t0 → n1 → t1 → n2 (n2's edge cost is prohibitive). */
  function chain3(options: string[], transfer: number[][], crossingCost = 0): PartitionProblem {
    return {
      nodes: [
        { edgeCost: 2, cloudCost: 0.5 },
        { edgeCost: 2, cloudCost: 0.5 },
        { edgeCost: 20, cloudCost: 0.5 },
      ],
      tensors: [
        { producer: -1, consumers: [0], transferCost: transfer[0]! },
        { producer: 0, consumers: [1], transferCost: transfer[1]! },
        { producer: 1, consumers: [2], transferCost: transfer[2]! },
        { producer: 2, consumers: [], transferCost: transfer[3]! },
      ],
      options,
      optionMode: 'per-tensor',
      crossingCost,
    };
  }

  it('moves the cut when a compression option makes an earlier tensor cheap', () => {
    const plain = solvePartition(chain3(['none'], [[10], [8], [6], [6]]));
    expect(plain.onEdge).toEqual([true, true, false]);
    expect(plain.crossing).toEqual([{ tensor: 2, option: 0 }]);
    const withInt8 = solvePartition(chain3(['none', 'int8'], [[10, 1], [8, 7], [6, 5.5], [6, 5]]));
    expect(withInt8.onEdge).toEqual([false, false, false]);
    expect(withInt8.crossing).toEqual([{ tensor: 0, option: 1 }]);
    expect(withInt8.cost).toBeCloseTo(1.5 + 1, 12);
  });

  it('runs everything on the cloud when the device is slow: the model inputs cross', () => {
    const p: PartitionProblem = {
      nodes: [
        { edgeCost: 100, cloudCost: 1 },
        { edgeCost: 100, cloudCost: 1 },
        { edgeCost: 100, cloudCost: 1 },
      ],
      tensors: [
        { producer: -1, consumers: [0, 2], transferCost: [3] },
        { producer: -1, consumers: [1], transferCost: [2] },
        { producer: 0, consumers: [1], transferCost: [1] },
        { producer: 1, consumers: [2], transferCost: [1] },
        { producer: 2, consumers: [], transferCost: [1] },
      ],
      options: ['none'],
      optionMode: 'per-tensor',
      crossingCost: 5,
    };
    const s = solvePartition(p);
    expect(s.onEdge).toEqual([false, false, false]);
    expect(s.crossing.map((c) => c.tensor)).toEqual([0, 1]);
    expect(s.cost).toBe(3 + 3 + 2 + 5);
  });

  it('stays on the edge when the crossing cost outweighs the best cut', () => {
    const p = chain3(['none'], [[10], [8], [6], [6]], 30);
    const s = solvePartition(p);
    expect(s.onEdge).toEqual([true, true, true]);
    expect(s.crossing).toEqual([]);
    expect(s.transferCost).toBe(0);
    expect(s.cost).toBe(24);
    // Without the crossing cost the cut wins (see above); with it the no-crossing solution does.
    expect(s.cost).toBe(bruteForcePartition(p).cost);
  });

  it('keeps a separate constant-only branch on the cheaper side when nothing may cross', () => {
    // Input branch must stay on the edge (the input cannot be sent); node 2 reads nothing and
    // is cheaper on the edge, node 3 reads nothing and is cheaper on the cloud.
    const p: PartitionProblem = {
      nodes: [
        { edgeCost: 1, cloudCost: 0.1 },
        { edgeCost: 1, cloudCost: 0.1 },
        { edgeCost: 0.5, cloudCost: 2 },
        { edgeCost: 2, cloudCost: 0.5 },
      ],
      tensors: [
        { producer: -1, consumers: [0], transferCost: [Infinity] },
        { producer: 0, consumers: [1], transferCost: [1] },
        { producer: 1, consumers: [], transferCost: [1] },
        { producer: 2, consumers: [], transferCost: [1] },
        { producer: 3, consumers: [], transferCost: [1] },
      ],
      options: ['none'],
      optionMode: 'per-tensor',
      crossingCost: 100,
    };
    const s = solvePartition(p);
    expect(s.onEdge).toEqual([true, true, true, false]);
    expect(s.cost).toBe(1 + 1 + 0.5 + 0.5);
  });

  it('breaks ties towards fewer nodes on the edge, deterministically', () => {
    // Edge-only and cloud-only both cost 2.
    const p: PartitionProblem = {
      nodes: [{ edgeCost: 2, cloudCost: 1 }],
      tensors: [{ producer: -1, consumers: [0], transferCost: [1] }],
      options: ['none'],
      optionMode: 'per-tensor',
      crossingCost: 0,
    };
    expect(solvePartition(p).onEdge).toEqual([false]);
    const r = rng(7);
    const big = randomPartition(r, 300);
    big.nodes.forEach((x) => {
      x.edgeCost = Math.min(x.edgeCost, 9);
      x.cloudCost = Math.min(x.cloudCost, 3);
    });
    expect(JSON.stringify(solvePartition(big))).toBe(JSON.stringify(solvePartition(structuredClone(big))));
  });

  it('rejects malformed problems with E_PLAN and infeasible ones with E_CONSTRAINT', () => {
    const ok = (): PartitionProblem => chain3(['none'], [[10], [8], [6], [6]]);
    const cyclic = ok();
    cyclic.tensors[3]!.consumers = [0];
    expect(codeOf(() => solvePartition(cyclic))).toBe('E_PLAN');
    const short = ok();
    short.tensors[1]!.transferCost = [];
    expect(codeOf(() => solvePartition(short))).toBe('E_PLAN');
    const negative = ok();
    negative.nodes[0]!.edgeCost = -1;
    expect(codeOf(() => solvePartition(negative))).toBe('E_PLAN');
    const badIndex = ok();
    badIndex.tensors[0]!.consumers = [7];
    expect(codeOf(() => solvePartition(badIndex))).toBe('E_PLAN');
    expect(codeOf(() => evaluatePartition(ok(), [true]))).toBe('E_PLAN');
    const nowhere = ok();
    nowhere.nodes[1] = { edgeCost: Infinity, cloudCost: Infinity };
    expect(codeOf(() => solvePartition(nowhere))).toBe('E_CONSTRAINT');
    // The input cannot be sent and the first node cannot run on the edge.
    const stuck = ok();
    stuck.tensors[0]!.transferCost = [Infinity];
    stuck.nodes[0]!.edgeCost = Infinity;
    expect(codeOf(() => solvePartition(stuck))).toBe('E_CONSTRAINT');
    expect(codeOf(() => bruteForcePartition(stuck))).toBe('E_CONSTRAINT');
    // An assignment that sends data back from the cloud is infeasible, not an error.
    expect(evaluatePartition(ok(), [false, true, true]).cost).toBe(Infinity);
  });

  it('solves a 10,000-node DAG with 5 options in both option modes', () => {
    // Performance sanity for the product goal (≤ 2 s); wall-clock is measured in bench, not here.
    const r = rng(10_000);
    const p = randomPartition(r, 10_000);
    p.options = ['none', 'fp16', 'int8', 'int4', 'pca'];
    p.tensors.forEach((t) => {
      t.transferCost = Array.from({ length: 5 }, () => cost(r, 15, 0.12));
    });
    // Keep it feasible: every node may run on the cloud.
    p.nodes.forEach((x) => {
      if (x.cloudCost === Infinity) x.cloudCost = 1;
    });
    for (const mode of ['per-tensor', 'global'] as const) {
      p.optionMode = mode;
      const s = solvePartition(p);
      expect(s.cost).toBeLessThan(Infinity);
      expect(evaluatePartition(p, s.onEdge).cost).toBe(s.cost);
      expect(s.cost).toBeLessThanOrEqual(evaluatePartition(p, s.onEdge.map(() => false)).cost);
    }
  });
});
