// Brute-force references for the partition searches: the optimum by enumerating every
// feasible placement, for the tests' small problems (the searches are checked against them).

import { infeasibleError, clearlyLess, planError } from '../../../src/search/partition/checks.js';
import { type ChainProblem, type ChainSolution, evaluateChainPrepared, prepareChain } from '../../../src/search/partition/chain.js';
import type { DataGraph } from '../../../src/search/partition/data-graph.js';
import { evaluatePrepared, type PartitionProblem, type PartitionSolution, preparePartition } from '../../../src/search/partition/edge-cloud.js';
import { evaluateMultiPrepared, type MultiInputEvaluation, type MultiInputProblem, type MultiInputSolution, placementOf, prepareMulti } from '../../../src/search/partition/multi-input.js';

/** Brute-force enumerators refuse problems this large (they exist for tests). */
const BRUTE_MAX_NODES = 64;
const BRUTE_MAX_ASSIGNMENTS = 1 << 22;

/**
 * Visits every predecessor-closed edge set (in topological order, cloud before edge),
 * skipping placements with an infinite cost; for tests on small problems.
 */
function enumerateClosedSets(
  graph: DataGraph,
  edgeAllowed: (v: number) => boolean,
  cloudAllowed: (v: number) => boolean,
  visit: (onEdge: Uint8Array) => void,
): void {
  const n = graph.nodeCount;
  if (n > BRUTE_MAX_NODES) throw planError(`brute force over ${n} nodes`, `the enumerators are for tests (≤ ${BRUTE_MAX_NODES} nodes); use the min-cut search`);
  const onEdge = new Uint8Array(n);
  let visited = 0;
  const step = (i: number): void => {
    if (i === n) {
      if (++visited > BRUTE_MAX_ASSIGNMENTS) throw planError('brute force: too many assignments', 'use the min-cut search');
      visit(onEdge);
      return;
    }
    const v = graph.topo[i]!;
    if (cloudAllowed(v)) {
      onEdge[v] = 0;
      step(i + 1);
    }
    if (!edgeAllowed(v)) return;
    for (let k = graph.predStart[v]!; k < graph.predStart[v + 1]!; k++) if (!onEdge[graph.predList[k]!]) return;
    onEdge[v] = 1;
    step(i + 1);
    onEdge[v] = 0;
  };
  step(0);
}

/** The optimum by enumerating every feasible assignment; for tests (≤ ~20 nodes). */
export function bruteForcePartition(p: PartitionProblem): PartitionSolution {
  const { graph } = preparePartition(p);
  let best: PartitionSolution | null = null;
  enumerateClosedSets(
    graph,
    (v) => p.nodes[v]!.edgeCost !== Infinity,
    (v) => p.nodes[v]!.cloudCost !== Infinity,
    (onEdge) => {
      const sol = evaluatePrepared(p, graph, onEdge);
      if (!best || clearlyLess(sol.cost, best.cost)) best = sol;
    },
  );
  const found = best as PartitionSolution | null;
  if (!found || found.cost === Infinity) {
    throw infeasibleError('partition', (v) => [p.nodes[v]!.edgeCost, p.nodes[v]!.cloudCost], graph.nodeCount);
  }
  return found;
}

/** The chain optimum by enumerating every monotone tier assignment; for tests. */
export function bruteForceChainPartition(p: ChainProblem): ChainSolution {
  const prep = prepareChain(p);
  const g = prep.graph;
  const n = g.nodeCount;
  const K = prep.tierCount;
  if (n > BRUTE_MAX_NODES) throw planError(`brute force over ${n} nodes`, 'use solveChainPartition');
  const tier = new Int32Array(n);
  let best: ChainSolution | null = null;
  let visited = 0;
  const step = (i: number): void => {
    if (i === n) {
      if (++visited > BRUTE_MAX_ASSIGNMENTS) throw planError('brute force: too many assignments', 'use solveChainPartition');
      const sol = evaluateChainPrepared(p, prep, tier);
      if (!best || clearlyLess(sol.cost, best.cost)) best = sol;
      return;
    }
    const v = g.topo[i]!;
    let lo = 0;
    for (let k = g.predStart[v]!; k < g.predStart[v + 1]!; k++) lo = Math.max(lo, tier[g.predList[k]!]!);
    for (let k = lo; k < K; k++) {
      if (p.nodes[v]!.costs[k] === Infinity) continue;
      tier[v] = k;
      step(i + 1);
    }
  };
  step(0);
  const found = best as ChainSolution | null;
  if (!found || found.cost === Infinity) throw infeasibleError('chain partition', (v) => p.nodes[v]!.costs, n);
  return found;
}

/** The optimum by enumerating every eligible placement; for tests. */
export function bruteForceMultiInputPartition(p: MultiInputProblem): MultiInputSolution {
  const prep = prepareMulti(p);
  let best: MultiInputEvaluation | null = null;
  enumerateClosedSets(
    prep.graph,
    (v) => prep.costs.edge[v] !== Infinity,
    (v) => p.nodes[v]!.cloudCost !== Infinity,
    (onEdge) => {
      const e = evaluateMultiPrepared(p, prep, placementOf(prep, onEdge));
      if (!best || clearlyLess(e.cost, best.cost)) best = e;
    },
  );
  const found = best as MultiInputEvaluation | null;
  if (!found || found.cost === Infinity) {
    throw infeasibleError('multi-input partition', (v) => [...p.nodes[v]!.edgeCost, p.nodes[v]!.cloudCost], prep.graph.nodeCount);
  }
  return { ...found, exact: true };
}
