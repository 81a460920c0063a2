// Partition search over a model's DAG, on abstract costs the caller has already computed (ms
// for latency, joules for energy): which nodes run on the edge device and which on the cloud
// (exact, DADS-style minimum s-t cut), over a chain of K tiers (exact, layered cut), and for
// models whose inputs live on several edge devices (exact for a sum, a heuristic for a max).
//
// Conventions shared by every search in this folder (chain.ts, multi-input*.ts):
// - Data never flows back: a node may run on a device only if everything it consumes was
//   produced there (or is a model input held there), so the edge side is predecessor-closed.
// - A tensor crosses a link once, whatever the number of consumers behind it.
// - Ties (costs equal within 1e-9 relative) go to the solution with fewer nodes on the edge
//   (more work on the cloud), then to the earlier candidate in a fixed enumeration order, so
//   the same problem always gives the same answer. A single min-cut already breaks exact ties
//   that way: the residual-reachable source side is the smallest optimal edge set.
// - Options (compression choices) tie to the lowest index.

import { buildCutShape, type CutCosts, solveGrouped } from './cut-core.js';
import { argMin, checkCost, checkLength, checkNodeList, checkOptions, clearlyLess, infeasibleError, nearlyEqual, planError } from './checks.js';
import { buildDataGraph, type DataGraph } from './data-graph.js';

export interface PartitionNode {
  /** Cost of running the node on the edge device; Infinity = may not run there. */
  edgeCost: number;
  /** Cost of running the node on the cloud; Infinity = may not run there. */
  cloudCost: number;
}

export interface PartitionTensor {
  /** Index of the producing node, or -1 for a model input (it exists on the edge). */
  producer: number;
  /** Indices of consuming nodes (may be empty). */
  consumers: number[];
  /** Cost of sending this tensor edge→cloud with each compression option (index = option); Infinity = option unavailable for this tensor. Includes compress/decompress compute and uplink time. */
  transferCost: number[];
}

export interface PartitionProblem {
  /** Any order; the data edges define the DAG. */
  nodes: PartitionNode[];
  tensors: PartitionTensor[];
  /** Names of compression options ('none', 'int8', ...), aligned with transferCost. */
  options: string[];
  /** 'per-tensor': each crossing tensor picks its own option; 'global': one option for every crossing tensor. */
  optionMode: 'per-tensor' | 'global';
  /** Paid once when at least one tensor crosses (round-trip time, request overhead). */
  crossingCost: number;
}

export interface PartitionSolution {
  /** Per node: true = runs on the edge device. */
  onEdge: boolean[];
  /** Crossing tensors with their chosen option, sorted by tensor index. */
  crossing: { tensor: number; option: number }[];
  /** Total objective (Infinity when the assignment is infeasible). */
  cost: number;
  edgeCost: number;
  cloudCost: number;
  /** Transfers of the crossing tensors, plus crossingCost when anything crosses. */
  transferCost: number;
}

export interface PreparedPartition {
  graph: DataGraph;
  optionCount: number;
}

export function preparePartition(p: PartitionProblem): PreparedPartition {
  const n = checkNodeList(p.nodes);
  const optionCount = checkOptions(p.options);
  if (p.optionMode !== 'per-tensor' && p.optionMode !== 'global') {
    throw planError(`optionMode is ${String(p.optionMode)}`, "use 'per-tensor' or 'global'");
  }
  checkCost(p.crossingCost, 'crossingCost');
  if (p.crossingCost === Infinity) throw planError('crossingCost is Infinity', 'to forbid crossing, make every transferCost Infinity instead');
  for (let v = 0; v < n; v++) {
    const node = p.nodes[v]!;
    checkCost(node.edgeCost, `node ${v} edgeCost`);
    checkCost(node.cloudCost, `node ${v} cloudCost`);
  }
  const graph = buildDataGraph(n, p.tensors);
  for (let t = 0; t < graph.tensorCount; t++) {
    const row = p.tensors[t]!.transferCost;
    checkLength(row, optionCount, `tensor ${t} transferCost`);
    for (let o = 0; o < optionCount; o++) checkCost(row[o], `tensor ${t} transferCost[${o}]`);
  }
  return { graph, optionCount };
}

export function evaluatePrepared(p: PartitionProblem, graph: DataGraph, onEdge: ArrayLike<number | boolean>): PartitionSolution {
  const n = graph.nodeCount;
  let feasible = true;
  let edgeCost = 0;
  let cloudCost = 0;
  for (let v = 0; v < n; v++) {
    if (onEdge[v]) {
      edgeCost += p.nodes[v]!.edgeCost;
      for (let k = graph.predStart[v]!; k < graph.predStart[v + 1]!; k++) if (!onEdge[graph.predList[k]!]) feasible = false;
    } else {
      cloudCost += p.nodes[v]!.cloudCost;
    }
  }
  const crossingTensors: number[] = [];
  for (let t = 0; t < graph.tensorCount; t++) {
    const prod = graph.producer[t]!;
    if (prod >= 0 && !onEdge[prod]) continue;
    for (let k = graph.consStart[t]!; k < graph.consStart[t + 1]!; k++) {
      if (!onEdge[graph.consList[k]!]) {
        crossingTensors.push(t);
        break;
      }
    }
  }
  const crossing: { tensor: number; option: number }[] = [];
  let transferCost = 0;
  if (p.optionMode === 'per-tensor') {
    for (const t of crossingTensors) {
      const row = p.tensors[t]!.transferCost;
      const option = argMin(row);
      crossing.push({ tensor: t, option });
      transferCost += row[option]!;
    }
  } else if (crossingTensors.length > 0) {
    let bestOption = 0;
    let bestSum = Infinity;
    for (let o = 0; o < p.options.length; o++) {
      let sum = 0;
      for (const t of crossingTensors) sum += p.tensors[t]!.transferCost[o]!;
      if (sum < bestSum) {
        bestSum = sum;
        bestOption = o;
      }
    }
    for (const t of crossingTensors) {
      crossing.push({ tensor: t, option: bestOption });
      transferCost += p.tensors[t]!.transferCost[bestOption]!;
    }
  }
  if (crossingTensors.length > 0) transferCost += p.crossingCost;
  const onEdgeOut = new Array<boolean>(n);
  for (let v = 0; v < n; v++) onEdgeOut[v] = Boolean(onEdge[v]);
  const cost = feasible ? edgeCost + cloudCost + transferCost : Infinity;
  return { onEdge: onEdgeOut, crossing, cost, edgeCost, cloudCost, transferCost };
}

function countTrue(a: readonly boolean[]): number {
  let k = 0;
  for (const x of a) if (x) k++;
  return k;
}

/** Options no other option beats or matches on every tensor (ties keep the lower index). */
function undominatedOptions(p: PartitionProblem, graph: DataGraph, optionCount: number): number[] {
  const movable: number[] = [];
  for (let t = 0; t < graph.tensorCount; t++) if (graph.consStart[t + 1]! > graph.consStart[t]!) movable.push(t);
  const keep: number[] = [];
  for (let o = 0; o < optionCount; o++) {
    let dominated = false;
    for (let q = 0; q < optionCount && !dominated; q++) {
      if (q === o) continue;
      let allLe = true;
      let allEq = true;
      for (const t of movable) {
        const row = p.tensors[t]!.transferCost;
        if (row[q]! > row[o]!) {
          allLe = false;
          break;
        }
        if (row[q] !== row[o]) allEq = false;
      }
      dominated = allLe && (!allEq || q < o);
    }
    if (!dominated) keep.push(o);
  }
  return keep;
}


/**
 * Exact optimum of the edge/cloud partition (min-cut on the DAG; one cut per undominated
 * option in 'global' mode). Throws E_CONSTRAINT when no assignment has a finite cost.
 */
export function solvePartition(p: PartitionProblem): PartitionSolution {
  const { graph, optionCount } = preparePartition(p);
  const n = graph.nodeCount;
  const T = graph.tensorCount;
  const shape = buildCutShape(graph, 1, new Int32Array(n), new Int32Array(T));
  const costs: CutCosts = {
    edge: Float64Array.from(p.nodes, (x) => x.edgeCost),
    cloud: Float64Array.from(p.nodes, (x) => x.cloudCost),
    transfer: new Float64Array(T),
    crossing: Float64Array.of(p.crossingCost),
  };
  const optionRuns = p.optionMode === 'per-tensor' ? [-1] : undominatedOptions(p, graph, optionCount);
  let best: PartitionSolution | null = null;
  let bestEdgeCount = 0;
  for (const o of optionRuns) {
    for (let t = 0; t < T; t++) {
      const row = p.tensors[t]!.transferCost;
      costs.transfer[t] = o < 0 ? Math.min(...row) : row[o]!;
    }
    const onEdge = solveGrouped(shape, costs);
    if (!onEdge) continue;
    const sol = evaluatePrepared(p, graph, onEdge);
    const edgeCount = countTrue(sol.onEdge);
    if (!best || clearlyLess(sol.cost, best.cost) || (nearlyEqual(sol.cost, best.cost) && edgeCount < bestEdgeCount)) {
      best = sol;
      bestEdgeCount = edgeCount;
    }
  }
  if (!best || best.cost === Infinity) throw infeasibleError('partition', (v) => [p.nodes[v]!.edgeCost, p.nodes[v]!.cloudCost], n);
  return best;
}

/** Cost of a given assignment with the best options for it; cost is Infinity when it is infeasible. */
export function evaluatePartition(p: PartitionProblem, onEdge: boolean[]): PartitionSolution {
  const { graph } = preparePartition(p);
  checkLength(onEdge, graph.nodeCount, 'the assignment');
  return evaluatePrepared(p, graph, onEdge);
}
