// Partition search: the min-cut optima against brute-force enumeration on random DAGs
// (edge/cloud, K-tier chains, multi-input), hand-made shapes whose optimum is known, and the
// error codes.
import { describe, expect, it } from 'vitest';
import { xorshift32 } from '../helpers/onnx-oracle.js';
import {
  bruteForceChainPartition,
  bruteForceMultiInputPartition,
  bruteForcePartition,
  type ChainProblem,
  evaluateChainPartition,
  evaluateMultiInputPartition,
  evaluatePartition,
  type MultiInputProblem,
  multiInputEligibility,
  type PartitionProblem,
  solveChainPartition,
  solveMultiInputPartition,
  solvePartition,
} from '../../src/search/partition.js';
import { codeOf } from '../helpers/codes.js';

const rng = xorshift32;

function close(a: number, b: number): boolean {
  if (a === b) return true;
  return Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b), 1e-12);
}

/** A cost, sometimes Infinity, sometimes a round number (to provoke ties). */
function cost(r: () => number, scale: number, pInf: number): number {
  if (r() < pInf) return Infinity;
  const x = r() * scale;
  return r() < 0.4 ? Math.round(x) : x;
}

interface RandomDag {
  nodeCount: number;
  tensors: { producer: number; consumers: number[] }[];
}

/**
 * Random DAG in the shape of a network: model inputs, then nodes reading mostly recent tensors
 * (chains) and sometimes old ones (skip connections), a few reading nothing (constants),
 * one or two outputs per node; node indices shuffled so the order carries no information.
 */
function randomDag(r: () => number, nodeCount: number, inputCount: number): RandomDag {
  const tensors: { producer: number; consumers: number[] }[] = [];
  for (let i = 0; i < inputCount; i++) tensors.push({ producer: -1, consumers: [] });
  const perm = Array.from({ length: nodeCount }, (_, i) => i);
  for (let i = nodeCount - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [perm[i], perm[j]] = [perm[j]!, perm[i]!];
  }
  for (let i = 0; i < nodeCount; i++) {
    const v = perm[i]!;
    const reads = tensors.length === 0 || r() < 0.06 ? 0 : 1 + Math.floor(r() * r() * 3);
    for (let k = 0; k < reads; k++) {
      const recent = r() < 0.7;
      const lo = recent ? Math.max(0, tensors.length - 3) : 0;
      const t = lo + Math.floor(r() * (tensors.length - lo));
      tensors[t]!.consumers.push(v); // duplicates allowed: a node may read a tensor twice
    }
    const outs = r() < 0.15 ? 2 : 1;
    for (let k = 0; k < outs; k++) tensors.push({ producer: v, consumers: [] });
  }
  // Shuffle tensor order too.
  for (let i = tensors.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [tensors[i], tensors[j]] = [tensors[j]!, tensors[i]!];
  }
  return { nodeCount, tensors };
}

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

/** The solver's answer or the error code, so that infeasible problems compare too. */
function attempt<T>(f: () => T): T | string {
  try {
    return f();
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    throw e;
  }
}

function closedUnderPredecessors(p: { tensors: { producer: number; consumers: number[] }[] }, onEdge: boolean[]): boolean {
  return p.tensors.every((t) => t.producer < 0 || onEdge[t.producer] || t.consumers.every((c) => !onEdge[c]));
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

function randomMultiInput(r: () => number, nodeCount: number, objective: 'sum' | 'max'): MultiInputProblem {
  const deviceCount = 2 + Math.floor(r() * 2);
  const optionCount = 1 + Math.floor(r() * 2);
  const inputCount = 2 + Math.floor(r() * 3);
  const dag = randomDag(r, nodeCount, inputCount);
  return {
    deviceCount,
    nodes: Array.from({ length: nodeCount }, () => ({
      edgeCost: Array.from({ length: deviceCount }, () => cost(r, 8, 0.05)),
      cloudCost: cost(r, 4, 0.03),
    })),
    tensors: dag.tensors.map((t) => ({
      ...t,
      ...(t.producer < 0 ? { inputDevice: Math.floor(r() * deviceCount) } : {}),
      transferCost: Array.from({ length: deviceCount }, () => Array.from({ length: optionCount }, () => cost(r, 12, 0.08))),
    })),
    options: ['none', 'int8'].slice(0, optionCount),
    crossingCost: Array.from({ length: deviceCount }, () => (r() < 0.3 ? 0 : cost(r, 6, 0))),
    objective,
  };
}

/**
 * Multi-view shape: each device has its own branch (a short random DAG from its input), a
 * fusion node joins the branches on the cloud. Device speeds differ, so 'max' has real
 * trade-offs between the devices' time and the cloud's.
 */
function randomMultiView(r: () => number, objective: 'sum' | 'max'): MultiInputProblem {
  const deviceCount = 2 + Math.floor(r() * 2);
  const optionCount = 1 + Math.floor(r() * 2);
  const nodes: MultiInputProblem['nodes'] = [];
  const tensors: MultiInputProblem['tensors'] = [];
  const transfer = (scale: number): number[][] =>
    Array.from({ length: deviceCount }, () => Array.from({ length: optionCount }, () => cost(r, scale, 0.05)));
  const branchEnds: number[] = [];
  for (let d = 0; d < deviceCount; d++) {
    const branchNodes = 2 + Math.floor(r() * 4);
    const speed = 0.5 + r() * 2;
    const available = [tensors.length];
    tensors.push({ producer: -1, consumers: [], inputDevice: d, transferCost: transfer(18) });
    for (let i = 0; i < branchNodes; i++) {
      const v = nodes.length;
      nodes.push({ edgeCost: Array.from({ length: deviceCount }, () => cost(r, 4 * speed, 0.03)), cloudCost: cost(r, 2, 0) });
      const reads = r() < 0.3 ? 2 : 1;
      for (let k = 0; k < reads; k++) {
        const t = available[Math.max(0, available.length - 1 - Math.floor(r() * 3))]!;
        if (!tensors[t]!.consumers.includes(v)) tensors[t]!.consumers.push(v);
      }
      available.push(tensors.length);
      tensors.push({ producer: v, consumers: [], transferCost: transfer(6) });
    }
    branchEnds.push(available[available.length - 1]!);
  }
  const fuse = nodes.length;
  nodes.push({ edgeCost: Array.from({ length: deviceCount }, () => 1), cloudCost: cost(r, 2, 0) });
  for (const t of branchEnds) tensors[t]!.consumers.push(fuse);
  tensors.push({ producer: fuse, consumers: [], transferCost: transfer(6) });
  return {
    deviceCount,
    nodes,
    tensors,
    options: ['none', 'int8'].slice(0, optionCount),
    crossingCost: Array.from({ length: deviceCount }, () => (r() < 0.5 ? 0 : cost(r, 2, 0))),
    objective,
  };
}

describe('solveMultiInputPartition', () => {
  it("equals brute force for 'sum' on 250 random multi-device problems", () => {
    const r = rng(4242);
    let split = 0;
    for (let k = 0; k < 250; k++) {
      const p = randomMultiInput(r, 1 + Math.floor(r() * 14), 'sum');
      const exact = attempt(() => solveMultiInputPartition(p));
      const brute = attempt(() => bruteForceMultiInputPartition(p));
      if (typeof brute === 'string' || typeof exact === 'string') {
        expect(exact, `case ${k}`).toBe(brute);
        continue;
      }
      expect(exact.exact).toBe(true);
      expect(close(exact.cost, brute.cost), `case ${k}: ${exact.cost} vs ${brute.cost}`).toBe(true);
      const { exact: _flag, ...evaluation } = exact;
      expect(evaluateMultiInputPartition(p, exact.device)).toEqual(evaluation);
      if (new Set(exact.device.filter((d) => d >= 0)).size >= 2) split++;
    }
    expect(split).toBeGreaterThan(15);
  });

  it("is never worse than all-cloud or the 'sum' placement for 'max', close to brute force, and reports exact: false", () => {
    // How close it is (measured with a throwaway script on exactly these cases, brute force as
    // the reference): multi-view seed 1: optimal in 238 of 250, mean gap 0.10 %, worst 5.9 %
    // (seeds 2 and 3: 234/250 and 238/249, worst 8.8 % and 6.9 %); random DAGs seed 777:
    // optimal in 108 of 108. Ablations on seed 1: without the local search 217/250 (worst
    // 14 %), without the hull sweep 218/250 (worst 21 %), baselines and hull ends only 151/250.
    for (const [seed, shape] of [
      [1, 'multi-view'],
      [777, 'random'],
    ] as const) {
      const r = rng(seed);
      let matched = 0;
      let compared = 0;
      let gapSum = 0;
      for (let k = 0; k < (shape === 'multi-view' ? 250 : 120); k++) {
        const p = shape === 'multi-view' ? randomMultiView(r, 'max') : randomMultiInput(r, 1 + Math.floor(r() * 14), 'max');
        const brute = attempt(() => bruteForceMultiInputPartition(p));
        const heuristic = attempt(() => solveMultiInputPartition(p));
        if (typeof brute === 'string' || typeof heuristic === 'string') {
          expect(heuristic, `${shape} case ${k}`).toBe(brute);
          continue;
        }
        expect(heuristic.exact).toBe(false);
        const allCloud = evaluateMultiInputPartition(p, p.nodes.map(() => -1)).cost;
        const sumPlacement = solveMultiInputPartition({ ...p, objective: 'sum' }).device;
        const sumBaseline = evaluateMultiInputPartition(p, sumPlacement).cost;
        expect(heuristic.cost).toBeLessThanOrEqual(Math.min(allCloud, sumBaseline));
        expect(heuristic.cost >= brute.cost || close(heuristic.cost, brute.cost)).toBe(true);
        expect(evaluateMultiInputPartition(p, heuristic.device).cost).toBe(heuristic.cost);
        compared++;
        if (close(heuristic.cost, brute.cost)) matched++;
        else gapSum += (heuristic.cost - brute.cost) / brute.cost;
      }
      expect(compared).toBeGreaterThan(100);
      expect(matched / compared, shape).toBeGreaterThan(0.9);
      expect(gapSum / compared, shape).toBeLessThan(0.005);
    }
  });

  it('places constant-like nodes with the device that needs them, and joins on the cloud', () => {
    // in0 (device 0) → a; in1 (device 1) → b; c reads nothing and feeds a; k reads nothing and
    // feeds a and b; j = join(a, b).
    const one = { edgeCost: [1, 1], cloudCost: 1 };
    const p: MultiInputProblem = {
      deviceCount: 2,
      nodes: [one, one, one, one, one], // 0 a, 1 b, 2 c, 3 k, 4 j
      tensors: [
        { producer: -1, consumers: [0], inputDevice: 0, transferCost: [[1], [1]] },
        { producer: -1, consumers: [1], inputDevice: 1, transferCost: [[1], [1]] },
        { producer: 2, consumers: [0], transferCost: [[1], [1]] },
        { producer: 3, consumers: [4], transferCost: [[1], [1]] },
        { producer: 0, consumers: [4], transferCost: [[1], [1]] },
        { producer: 1, consumers: [4], transferCost: [[1], [1]] },
      ],
      options: ['none'],
      crossingCost: [0, 0],
      objective: 'sum',
    };
    expect(multiInputEligibility(p)).toEqual([0, 1, 0, -1, -1]);
    p.tensors[3]!.consumers = [0, 1];
    expect(multiInputEligibility(p)).toEqual([-1, -1, 0, -1, -1]);
    // A node on device 1 that reads device 0's input is infeasible.
    p.tensors[3]!.consumers = [4];
    expect(evaluateMultiInputPartition(p, [1, 1, -1, -1, -1]).cost).toBe(Infinity);
    expect(codeOf(() => solveMultiInputPartition({ ...p, crossingCost: [0] }))).toBe('E_PLAN');
    const noDevice = structuredClone(p);
    delete noDevice.tensors[0]!.inputDevice;
    expect(codeOf(() => solveMultiInputPartition(noDevice))).toBe('E_PLAN');
  });

  it("trades device time against cloud time under 'max' where 'sum' would not", () => {
    // Two devices, each: input (6 to send) → f (edge 4, cloud 3.5) → g (edge 4, cloud 3.5) →
    // join on the cloud (1); sending f's or g's output costs 1.
    const p: MultiInputProblem = {
      deviceCount: 2,
      nodes: [
        { edgeCost: [4, Infinity], cloudCost: 3.5 },
        { edgeCost: [4, Infinity], cloudCost: 3.5 },
        { edgeCost: [Infinity, 4], cloudCost: 3.5 },
        { edgeCost: [Infinity, 4], cloudCost: 3.5 },
        { edgeCost: [9, 9], cloudCost: 1 },
      ],
      tensors: [
        { producer: -1, consumers: [0], inputDevice: 0, transferCost: [[6], [6]] },
        { producer: -1, consumers: [2], inputDevice: 1, transferCost: [[6], [6]] },
        { producer: 0, consumers: [1], transferCost: [[1], [1]] },
        { producer: 2, consumers: [3], transferCost: [[1], [1]] },
        { producer: 1, consumers: [4], transferCost: [[1], [1]] },
        { producer: 3, consumers: [4], transferCost: [[1], [1]] },
      ],
      options: ['none'],
      crossingCost: [0, 0],
      objective: 'max',
    };
    // Sum: f on each device (2 × 5 + 3.5 × 2 + 1 = 18 beats 2 × 9 + 1 = 19).
    const sum = solveMultiInputPartition({ ...p, objective: 'sum' });
    expect(sum.device).toEqual([0, -1, 1, -1, -1]);
    expect(sum.cost).toBe(18);
    // Max: the devices work in parallel, so both run f and g: max(9, 9) + 1 = 10 (f only: 5 + 8 = 13).
    const s = solveMultiInputPartition(p);
    expect(s.device).toEqual([0, 0, 1, 1, -1]);
    expect(s.cost).toBe(10);
    expect(s.exact).toBe(false);
    expect(s.cost).toBe(bruteForceMultiInputPartition(p).cost);
  });

  it("returns the exact 'sum' answer for 'max' with one device", () => {
    const p = randomMultiInput(rng(3), 8, 'max');
    const one: MultiInputProblem = {
      ...p,
      deviceCount: 1,
      nodes: p.nodes.map((x) => ({ edgeCost: [x.edgeCost[0]!], cloudCost: Math.min(x.cloudCost, 5) })),
      tensors: p.tensors.map(({ inputDevice, ...t }) => ({
        ...t,
        ...(inputDevice === undefined ? {} : { inputDevice: 0 }),
        transferCost: [t.transferCost[0]!.map((x) => Math.min(x, 20))],
      })),
      crossingCost: [p.crossingCost[0]!],
    };
    const s = solveMultiInputPartition(one);
    expect(s.exact).toBe(true);
    expect(s.cost).toBeCloseTo(bruteForceMultiInputPartition(one).cost, 9);
  });
});

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
