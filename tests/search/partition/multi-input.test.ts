// The multi-input search: exact 'sum' and the 'max' heuristic against brute-force enumeration
// on random multi-device and multi-view problems, eligibility, and the error codes.
import { describe, expect, it } from 'vitest';
import { rng, close, cost, randomDag, attempt } from './random-problems.js';
import { bruteForceMultiInputPartition } from './brute-force.js';
import { codeOf } from '../../helpers/codes.js';
import { evaluateMultiInputPartition, type MultiInputProblem, multiInputEligibility } from '../../../src/search/partition/multi-input.js';
import { solveMultiInputPartition } from '../../../src/search/partition/multi-input-search.js';

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
