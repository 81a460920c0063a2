// The cut network's preflow on deep models, through the searches that build it: flow has to
// travel thousands of layers, which Dinic alone takes a phase per layer for.
import { describe, expect, it } from 'vitest';
import { rng } from '../partition/random-problems.js';
import { type ChainProblem, evaluateChainPartition, solveChainPartition } from '../../../src/search/partition/chain.js';
import { evaluateMultiInputPartition, type MultiInputProblem } from '../../../src/search/partition/multi-input.js';
import { solveMultiInputPartition } from '../../../src/search/partition/multi-input-search.js';

describe('deep models', () => {
  /** ResNet-like: a chain with a skip every third node, tensors shrinking with depth. */
  function resnetLike(r: () => number, nodeCount: number): { tensors: { producer: number; consumers: number[] }[]; size: number[] } {
    const tensors = [{ producer: -1, consumers: [0] }];
    for (let v = 0; v < nodeCount; v++) tensors.push({ producer: v, consumers: [] });
    for (let v = 1; v < nodeCount; v++) {
      tensors[v]!.consumers.push(v);
      if (v % 3 === 0) tensors[v - 2]!.consumers.push(v);
    }
    const size = tensors.map((t) => (t.producer < 0 ? 200 : 100 * Math.exp((-4 * t.producer) / nodeCount) * (0.5 + r())));
    return { tensors, size };
  }

  it('solves a 3,000-node three-tier chain and a 3,000-node multi-view model', () => {
    // Flow has to travel thousands of layers here; this guards the preflow that keeps the
    // min-cuts fast (no time assertion).
    const r = rng(31);
    const n = 3000;
    const { tensors, size } = resnetLike(r, n);
    const chain: ChainProblem = {
      tierCount: 3,
      nodes: Array.from({ length: n }, () => {
        const edge = 0.05 + r() * 0.05;
        return { costs: [edge, edge / 3, 0.005 + r() * 0.005] };
      }),
      tensors: tensors.map((t, i) => {
        const row = [1, 2, 4, 8].map((k) => size[i]! / k + 0.1 * k);
        return { ...t, transferCost: [row.map((x) => x / 10), row] };
      }),
      options: ['none', 'fp16', 'int8', 'int4'],
      linkCrossingCost: [1, 5],
    };
    const c = solveChainPartition(chain);
    expect(evaluateChainPartition(chain, c.tier).cost).toBe(c.cost);
    expect(c.cost).toBeLessThanOrEqual(evaluateChainPartition(chain, c.tier.map(() => 2)).cost);

    const devices = 3;
    const branch = n / devices;
    const nodes: MultiInputProblem['nodes'] = [];
    const multiTensors: MultiInputProblem['tensors'] = [];
    const ends: number[] = [];
    for (let d = 0; d < devices; d++) {
      multiTensors.push({ producer: -1, consumers: [nodes.length], inputDevice: d, transferCost: Array.from({ length: devices }, () => [200, 60]) });
      for (let i = 0; i < branch; i++) {
        const v = nodes.length;
        nodes.push({ edgeCost: Array.from({ length: devices }, () => (0.02 + r() * 0.05) * (1 + d)), cloudCost: 0.01 });
        const bytes = size[1 + 3 * i]!;
        multiTensors.push({ producer: v, consumers: i + 1 < branch ? [v + 1] : [], transferCost: Array.from({ length: devices }, () => [bytes, bytes / 4 + 0.3]) });
        if (i + 1 === branch) ends.push(multiTensors.length - 1);
      }
    }
    const fuse = nodes.length;
    nodes.push({ edgeCost: [1, 1, 1], cloudCost: 1 });
    for (const t of ends) multiTensors[t]!.consumers.push(fuse);
    const multi: MultiInputProblem = { deviceCount: devices, nodes, tensors: multiTensors, options: ['none', 'int8'], crossingCost: [1, 1, 1], objective: 'max' };
    const m = solveMultiInputPartition(multi);
    expect(m.exact).toBe(false);
    expect(evaluateMultiInputPartition(multi, m.device).cost).toBe(m.cost);
    const sumPlacement = solveMultiInputPartition({ ...multi, objective: 'sum' }).device;
    expect(m.cost).toBeLessThanOrEqual(evaluateMultiInputPartition(multi, sumPlacement).cost);
    expect(m.cost).toBeLessThan(evaluateMultiInputPartition(multi, nodes.map(() => -1)).cost);
  });
});
