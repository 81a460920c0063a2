// The K-tier chain search against brute-force enumeration on random DAGs, and its error codes.
import { describe, expect, it } from 'vitest';
import { rng, close, cost, randomDag, attempt } from './random-problems.js';
import { bruteForceChainPartition } from './brute-force.js';
import { codeOf } from '../../helpers/codes.js';
import { type ChainProblem, evaluateChainPartition, solveChainPartition } from '../../../src/search/partition/chain.js';

function randomChain(r: () => number, nodeCount: number, tierCount: number): ChainProblem {
  const optionCount = 1 + Math.floor(r() * 3);
  const dag = randomDag(r, nodeCount, r() < 0.05 ? 0 : 1 + Math.floor(r() * 2));
  return {
    tierCount,
    nodes: Array.from({ length: nodeCount }, () => ({
      // Later tiers are faster on average.
      costs: Array.from({ length: tierCount }, (_, k) => cost(r, 10 / (k + 1), 0.05)),
    })),
    tensors: dag.tensors.map((t) => ({
      ...t,
      transferCost: Array.from({ length: tierCount - 1 }, () => Array.from({ length: optionCount }, () => cost(r, 6, 0.1))),
    })),
    options: ['none', 'fp16', 'int8'].slice(0, optionCount),
    linkCrossingCost: Array.from({ length: tierCount - 1 }, () => (r() < 0.3 ? 0 : cost(r, 8, 0))),
  };
}

describe('solveChainPartition', () => {
  it('equals brute force on 250 random three-tier problems and 40 four-tier ones', () => {
    const r = rng(333);
    let multiTier = 0;
    for (let k = 0; k < 290; k++) {
      const tiers = k < 250 ? 3 : 4;
      const p = randomChain(r, 1 + Math.floor(r() * (tiers === 3 ? 9 : 7)), tiers);
      const exact = attempt(() => solveChainPartition(p));
      const brute = attempt(() => bruteForceChainPartition(p));
      if (typeof brute === 'string' || typeof exact === 'string') {
        expect(exact, `case ${k}`).toBe(brute);
        continue;
      }
      expect(close(exact.cost, brute.cost), `case ${k}: ${exact.cost} vs ${brute.cost}`).toBe(true);
      expect(evaluateChainPartition(p, exact.tier)).toEqual(exact);
      if (new Set(exact.tier).size > 2) multiTier++;
    }
    expect(multiTier).toBeGreaterThan(20);
  });

  it('forwards a tensor over every link between its producer and its highest consumer', () => {
    // n0 (pinned to tier 0) → t → n1 (pinned to tier 2): t pays links 0 and 1.
    const p: ChainProblem = {
      tierCount: 3,
      nodes: [{ costs: [1, Infinity, Infinity] }, { costs: [Infinity, Infinity, 1] }],
      tensors: [
        { producer: -1, consumers: [0], transferCost: [[5], [5]] },
        { producer: 0, consumers: [1], transferCost: [[2], [3]] },
      ],
      options: ['none'],
      linkCrossingCost: [0.5, 0.25],
    };
    const s = solveChainPartition(p);
    expect(s.tier).toEqual([0, 2]);
    expect(s.crossing).toEqual([
      { tensor: 1, link: 0, option: 0 },
      { tensor: 1, link: 1, option: 0 },
    ]);
    expect(s.linksUsed).toEqual([true, true]);
    expect(s.cost).toBe(1 + 1 + 2 + 3 + 0.5 + 0.25);
  });

  it('rejects tiers that decrease along a data edge', () => {
    const p = randomChain(rng(5), 6, 3);
    const s = solveChainPartition(p);
    const producerOf = p.tensors.find((t) => t.producer >= 0 && t.consumers.length > 0)!;
    const bad = [...s.tier];
    bad[producerOf.producer] = 2;
    bad[producerOf.consumers[0]!] = 0;
    expect(evaluateChainPartition(p, bad).cost).toBe(Infinity);
    expect(codeOf(() => evaluateChainPartition(p, s.tier.map(() => 3)))).toBe('E_PLAN');
  });
});
