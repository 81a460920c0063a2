// The K-tier chain search (edge → intermediate tiers → cloud): one layered min-cut per subset
// of paid links, exact. Conventions as in edge-cloud.ts.

import { CutNetwork } from '../flow/cut-network.js';
import { argMin, checkCost, checkLength, checkNodeList, checkOptions, clearlyLess, infeasibleError, nearlyEqual, planError } from './checks.js';
import { buildDataGraph, type DataGraph } from './data-graph.js';

/** K-tier chain: tier 0 holds the model inputs, tier K−1 is the cloud; link b joins tiers b and b+1. */
export interface ChainProblem {
  tierCount: number;
  nodes: { /** Per tier; Infinity = may not run there. */ costs: number[] }[];
  tensors: {
    /** Producing node, or -1 for a model input (held by tier 0). */
    producer: number;
    consumers: number[];
    /** [link][option]: cost of sending the tensor over link b with each option; Infinity = unavailable. */
    transferCost: number[][];
  }[];
  options: string[];
  /** Per link: paid once when any tensor uses the link. */
  linkCrossingCost: number[];
}

export interface ChainSolution {
  /** Per node: its tier. */
  tier: number[];
  /** Every (tensor, link) a tensor is sent or forwarded over, with its option; sorted by tensor then link. */
  crossing: { tensor: number; link: number; option: number }[];
  /** Per link: whether anything crosses it. */
  linksUsed: boolean[];
  cost: number;
  /** Per tier: compute cost of the nodes placed there. */
  computeCost: number[];
  /** Per link: transfers over it plus its linkCrossingCost when used. */
  transferCost: number[];
}

//
// Layered (Ishikawa) construction: node (v, b), b = 0..K−2, is on the source side exactly when
// tier(v) ≤ b. Infinite edges (v, b) → (v, b+1) keep the copies nested, and each link b is a
// two-sided problem of its own: a tensor crosses link b when its producer is at or below b and
// a consumer above. Each link chooses its option independently (the cost rows include the
// codec compute at both ends of the link). Link crossing costs are exact by enumerating which
// paid links may be used: with the others forbidden, the cut's value plus the allowed links'
// costs bounds every solution using at most those links, and the true cost of each cut is
// re-evaluated.

export interface PreparedChain {
  graph: DataGraph;
  tierCount: number;
  /** [t * links + b]: cheapest option's cost / index for tensor t over link b. */
  linkCost: Float64Array;
  linkOption: Int32Array;
}

export function prepareChain(p: ChainProblem): PreparedChain {
  const K = p.tierCount;
  if (!Number.isInteger(K) || K < 2 || K > 16) throw planError(`tierCount is ${String(K)}`, 'a chain has 2 to 16 tiers (tier 0 holds the inputs, the last is the cloud)');
  const links = K - 1;
  const n = checkNodeList(p.nodes);
  const optionCount = checkOptions(p.options);
  checkLength(p.linkCrossingCost, links, 'linkCrossingCost');
  for (let b = 0; b < links; b++) {
    checkCost(p.linkCrossingCost[b], `linkCrossingCost[${b}]`);
    if (p.linkCrossingCost[b] === Infinity) throw planError(`linkCrossingCost[${b}] is Infinity`, 'to forbid a link, make its transfer costs Infinity');
  }
  for (let v = 0; v < n; v++) {
    const costs = p.nodes[v]!.costs;
    checkLength(costs, K, `node ${v} costs`);
    for (let k = 0; k < K; k++) checkCost(costs[k], `node ${v} costs[${k}]`);
  }
  const graph = buildDataGraph(n, p.tensors);
  const linkCost = new Float64Array(graph.tensorCount * links);
  const linkOption = new Int32Array(graph.tensorCount * links);
  for (let t = 0; t < graph.tensorCount; t++) {
    const rows = p.tensors[t]!.transferCost;
    checkLength(rows, links, `tensor ${t} transferCost`);
    for (let b = 0; b < links; b++) {
      const row = rows[b]!;
      checkLength(row, optionCount, `tensor ${t} transferCost[${b}]`);
      for (let o = 0; o < optionCount; o++) checkCost(row[o], `tensor ${t} transferCost[${b}][${o}]`);
      const o = argMin(row);
      linkOption[t * links + b] = o;
      linkCost[t * links + b] = row[o]!;
    }
  }
  return { graph, tierCount: K, linkCost, linkOption };
}

function chainMinCut(p: ChainProblem, prep: PreparedChain, allowedLinks: number): Int32Array | null {
  const g = prep.graph;
  const n = g.nodeCount;
  const L = prep.tierCount - 1;
  const cost = (t: number, b: number): number => (allowedLinks & (1 << b) ? prep.linkCost[t * L + b]! : Infinity);
  let auxCount = 0;
  for (let t = 0; t < g.tensorCount; t++) {
    if (g.consStart[t + 1]! - g.consStart[t]! < 2) continue;
    for (let b = 0; b < L; b++) if (cost(t, b) > 0) auxCount++;
  }
  const s = n * L + auxCount;
  const sink = s + 1;
  const net = new CutNetwork(s + 2, s, sink);
  const id = (v: number, b: number): number => v * L + b;
  for (let v = 0; v < n; v++) {
    const c = p.nodes[v]!.costs;
    const m = Math.min(...c);
    if (m === Infinity) return null;
    net.addEdge(s, id(v, L - 1), c[L]! - m, true);
    for (let b = L - 1; b >= 1; b--) {
      net.addEdge(id(v, b), id(v, b - 1), c[b]! - m, true);
      net.addEdge(id(v, b - 1), id(v, b), Infinity, false);
    }
    net.addEdge(id(v, 0), sink, c[0]! - m, true);
  }
  for (let w = 0; w < n; w++) {
    for (let k = g.predStart[w]!; k < g.predStart[w + 1]!; k++) {
      const u = g.predList[k]!;
      for (let b = 0; b < L; b++) net.addEdge(id(w, b), id(u, b), Infinity, false);
    }
  }
  let aux = n * L;
  const auxByProducer: number[][] = [];
  for (let t = 0; t < g.tensorCount; t++) {
    const start = g.consStart[t]!;
    const end = g.consStart[t + 1]!;
    if (end === start) continue;
    const prod = g.producer[t]!;
    for (let b = 0; b < L; b++) {
      const c = cost(t, b);
      if (c === 0) continue;
      const from = prod >= 0 ? id(prod, b) : s;
      if (end - start === 1) {
        net.addEdge(from, id(g.consList[start]!, b), c, true);
      } else {
        net.addEdge(from, aux, c, true);
        for (let k = start; k < end; k++) net.addEdge(aux, id(g.consList[k]!, b), Infinity, true);
        (auxByProducer[prod + 1] ??= []).push(aux);
        aux++;
      }
    }
  }
  // Preflow order: inputs' auxiliaries, then per node its copies from the top tier down, then
  // the auxiliaries of what it produces.
  const order = new Int32Array(s + 1);
  let at = 0;
  order[at++] = s;
  for (const a of auxByProducer[0] ?? []) order[at++] = a;
  for (let i = 0; i < n; i++) {
    const v = g.topo[i]!;
    for (let b = L - 1; b >= 0; b--) order[at++] = id(v, b);
    for (const a of auxByProducer[v + 1] ?? []) order[at++] = a;
  }
  const cut = net.minCut(order);
  if (cut.value === Infinity) return null;
  const tier = new Int32Array(n);
  for (let v = 0; v < n; v++) {
    let b = 0;
    while (b < L && !cut.sourceSide[id(v, b)]) b++;
    tier[v] = b;
  }
  return tier;
}

export function evaluateChainPrepared(p: ChainProblem, prep: PreparedChain, tier: ArrayLike<number>): ChainSolution {
  const g = prep.graph;
  const K = prep.tierCount;
  const L = K - 1;
  let feasible = true;
  const computeCost = new Array<number>(K).fill(0);
  for (let v = 0; v < g.nodeCount; v++) {
    const k = tier[v]!;
    computeCost[k] = computeCost[k]! + p.nodes[v]!.costs[k]!;
    for (let j = g.predStart[v]!; j < g.predStart[v + 1]!; j++) if (tier[g.predList[j]!]! > k) feasible = false;
  }
  const transferCost = new Array<number>(L).fill(0);
  const linksUsed = new Array<boolean>(L).fill(false);
  const crossing: ChainSolution['crossing'] = [];
  for (let t = 0; t < g.tensorCount; t++) {
    const prod = g.producer[t]!;
    const from = prod >= 0 ? tier[prod]! : 0;
    let to = -1;
    for (let k = g.consStart[t]!; k < g.consStart[t + 1]!; k++) to = Math.max(to, tier[g.consList[k]!]!);
    for (let b = from; b < to; b++) {
      transferCost[b] = transferCost[b]! + prep.linkCost[t * L + b]!;
      linksUsed[b] = true;
      crossing.push({ tensor: t, link: b, option: prep.linkOption[t * L + b]! });
    }
  }
  for (let b = 0; b < L; b++) if (linksUsed[b]) transferCost[b] = transferCost[b]! + p.linkCrossingCost[b]!;
  let cost = Infinity;
  if (feasible) {
    cost = 0;
    for (const c of computeCost) cost += c;
    for (const c of transferCost) cost += c;
  }
  return { tier: Array.from(tier), crossing, linksUsed, cost, computeCost, transferCost };
}

function tierSum(tier: readonly number[]): number {
  let s = 0;
  for (const k of tier) s += k;
  return s;
}

/** Chain tie-break: lower cost, then more work on higher tiers (the analogue of fewer edge nodes). */
function betterChain(a: ChainSolution, b: ChainSolution | null): boolean {
  if (!b) return true;
  if (clearlyLess(a.cost, b.cost)) return true;
  return nearlyEqual(a.cost, b.cost) && tierSum(a.tier) > tierSum(b.tier);
}

/** Exact optimum of the K-tier chain: one layered min-cut per subset of paid links. */
export function solveChainPartition(p: ChainProblem): ChainSolution {
  const prep = prepareChain(p);
  const L = prep.tierCount - 1;
  // A free link is never worth forbidding, so only paid links are enumerated.
  let freeLinks = 0;
  const paidLinks: number[] = [];
  for (let b = 0; b < L; b++) {
    if (p.linkCrossingCost[b] === 0) freeLinks |= 1 << b;
    else paidLinks.push(b);
  }
  let best: ChainSolution | null = null;
  for (let subset = 0; subset < 1 << paidLinks.length; subset++) {
    let allowed = freeLinks;
    for (let i = 0; i < paidLinks.length; i++) if (subset & (1 << i)) allowed |= 1 << paidLinks[i]!;
    const tier = chainMinCut(p, prep, allowed);
    if (!tier) continue;
    const sol = evaluateChainPrepared(p, prep, tier);
    if (betterChain(sol, best)) best = sol;
  }
  if (!best || best.cost === Infinity) throw infeasibleError('chain partition', (v) => p.nodes[v]!.costs, prep.graph.nodeCount);
  return best;
}

/** Cost of a given tier assignment; cost is Infinity when tiers decrease along a data edge or a cost is infinite. */
export function evaluateChainPartition(p: ChainProblem, tier: number[]): ChainSolution {
  const prep = prepareChain(p);
  checkLength(tier, prep.graph.nodeCount, 'the tier assignment');
  for (let v = 0; v < tier.length; v++) {
    const k = tier[v];
    if (!Number.isInteger(k) || k! < 0 || k! >= prep.tierCount) throw planError(`node ${v} is on tier ${String(k)}`, `tiers run from 0 to ${prep.tierCount - 1}`);
  }
  return evaluateChainPrepared(p, prep, tier);
}

