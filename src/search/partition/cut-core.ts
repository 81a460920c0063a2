// The two-sided min-cut core, shared by the edge/cloud search and the multi-input search.
//
//
// Nodes belong to a group (the edge device they may run on; −1 = cloud only). For every
// problem built here the groups are independent: a node's predecessors that may run on an
// edge device are on its own device, and a tensor sent to the cloud is charged to its producer's
// group. So the objective is a constant plus one term per group that depends only on that
// group's edge set, and one min-cut optimizes all groups at once.


import { CutNetwork } from '../flow/cut-network.js';
import { clearlyLess, nearlyEqual } from './checks.js';
import type { DataGraph } from './data-graph.js';

export interface CutShape {
  graph: DataGraph;
  groupCount: number;
  /** Per node: its edge device, −1 = cloud only. */
  nodeGroup: Int32Array;
  /** Per tensor: the group that pays for sending it (producer's group, or the input's device). */
  tensorGroup: Int32Array;
  /** Weakly connected components of the data edges (for the no-crossing solutions). */
  comp: Int32Array;
  compCount: number;
}

export interface CutCosts {
  edge: Float64Array;
  cloud: Float64Array;
  /** Per tensor, the best option already chosen; Infinity = may not cross. */
  transfer: Float64Array;
  /** Per group: paid once when the group sends anything. */
  crossing: Float64Array;
}

/** Per-group parts of an assignment: a = edge compute + transfers + crossing cost, c = cloud compute of the group's nodes. */
export interface GroupParts {
  a: Float64Array;
  c: Float64Array;
  crosses: Uint8Array;
  edgeCount: Int32Array;
}

export function newGroupParts(groupCount: number): GroupParts {
  return {
    a: new Float64Array(groupCount),
    c: new Float64Array(groupCount),
    crosses: new Uint8Array(groupCount),
    edgeCount: new Int32Array(groupCount),
  };
}

export function buildCutShape(graph: DataGraph, groupCount: number, nodeGroup: Int32Array, tensorGroup: Int32Array): CutShape {
  const n = graph.nodeCount;
  const parent = new Int32Array(n);
  for (let v = 0; v < n; v++) parent[v] = v;
  const find = (x: number): number => {
    while (parent[x] !== x) {
      parent[x] = parent[parent[x]!]!;
      x = parent[x]!;
    }
    return x;
  };
  for (let w = 0; w < n; w++) {
    for (let k = graph.predStart[w]!; k < graph.predStart[w + 1]!; k++) {
      const a = find(w);
      const b = find(graph.predList[k]!);
      if (a !== b) parent[Math.max(a, b)] = Math.min(a, b);
    }
  }
  const comp = new Int32Array(n).fill(-1);
  const rootId = new Int32Array(n).fill(-1);
  let compCount = 0;
  for (let v = 0; v < n; v++) {
    const r = find(v);
    if (rootId[r] === -1) rootId[r] = compCount++;
    comp[v] = rootId[r]!;
  }
  return { graph, groupCount, nodeGroup, tensorGroup, comp, compCount };
}

export function groupPartsOf(shape: CutShape, costs: CutCosts, onEdge: Uint8Array, out: GroupParts): void {
  const g = shape.graph;
  out.a.fill(0);
  out.c.fill(0);
  out.crosses.fill(0);
  out.edgeCount.fill(0);
  for (let v = 0; v < g.nodeCount; v++) {
    const gv = shape.nodeGroup[v]!;
    if (gv < 0) continue;
    if (onEdge[v]) {
      out.a[gv] = out.a[gv]! + costs.edge[v]!;
      out.edgeCount[gv] = out.edgeCount[gv]! + 1;
    } else {
      out.c[gv] = out.c[gv]! + costs.cloud[v]!;
    }
  }
  for (let t = 0; t < g.tensorCount; t++) {
    const p = g.producer[t]!;
    if (p >= 0 && !onEdge[p]) continue;
    for (let k = g.consStart[t]!; k < g.consStart[t + 1]!; k++) {
      if (!onEdge[g.consList[k]!]) {
        const gt = shape.tensorGroup[t]!;
        out.a[gt] = out.a[gt]! + costs.transfer[t]!;
        out.crosses[gt] = 1;
        break;
      }
    }
  }
  for (let gr = 0; gr < shape.groupCount; gr++) if (out.crosses[gr]) out.a[gr] = out.a[gr]! + costs.crossing[gr]!;
}

/** Minimum of (compute + transfers), crossing costs left out; null when every assignment is infinite. */
export function minCutAssignment(shape: CutShape, costs: CutCosts): Uint8Array | null {
  const g = shape.graph;
  const n = g.nodeCount;
  const sends = (t: number): boolean => {
    const p = g.producer[t]!;
    if (p >= 0 && shape.nodeGroup[p]! < 0) return false; // never on an edge device
    return g.consStart[t + 1]! > g.consStart[t]! && costs.transfer[t]! > 0;
  };
  // Auxiliary node per sent tensor with several consumers (the transfer is paid once however
  // many consumers are on the cloud), listed per producer for the preflow order.
  const auxOf = new Int32Array(g.tensorCount).fill(-1);
  let auxCount = 0;
  for (let t = 0; t < g.tensorCount; t++) if (sends(t) && g.consStart[t + 1]! - g.consStart[t]! > 1) auxOf[t] = n + auxCount++;
  const s = n + auxCount;
  const sink = s + 1;
  const net = new CutNetwork(n + auxCount + 2, s, sink);
  for (let v = 0; v < n; v++) {
    const e = costs.edge[v]!;
    const c = costs.cloud[v]!;
    if (e === Infinity && c === Infinity) return null;
    // Subtracting the smaller side is a constant shift; it leaves one terminal edge per node.
    const m = Math.min(e, c);
    net.addEdge(s, v, c - m, true); // cut when v is on the cloud
    net.addEdge(v, sink, e - m, true); // cut when v is on the edge
  }
  for (let w = 0; w < n; w++) {
    // w on the edge forces its producers onto the edge (no cloud → edge data).
    for (let k = g.predStart[w]!; k < g.predStart[w + 1]!; k++) net.addEdge(w, g.predList[k]!, Infinity, false);
  }
  const auxByProducer: number[][] = [];
  for (let t = 0; t < g.tensorCount; t++) {
    if (!sends(t)) continue;
    const prod = g.producer[t]!;
    const from = prod >= 0 ? prod : s;
    const start = g.consStart[t]!;
    const end = g.consStart[t + 1]!;
    const aux = auxOf[t]!;
    if (aux < 0) {
      net.addEdge(from, g.consList[start]!, costs.transfer[t]!, true);
    } else {
      net.addEdge(from, aux, costs.transfer[t]!, true);
      for (let k = start; k < end; k++) net.addEdge(aux, g.consList[k]!, Infinity, true);
      (auxByProducer[prod + 1] ??= []).push(aux);
    }
  }
  const order = new Int32Array(n + auxCount + 1);
  let at = 0;
  order[at++] = s;
  for (const aux of auxByProducer[0] ?? []) order[at++] = aux;
  for (let i = 0; i < n; i++) {
    const v = g.topo[i]!;
    order[at++] = v;
    for (const aux of auxByProducer[v + 1] ?? []) order[at++] = aux;
  }
  const cut = net.minCut(order);
  if (cut.value === Infinity) return null;
  const onEdge = new Uint8Array(n);
  for (let v = 0; v < n; v++) onEdge[v] = cut.sourceSide[v] ? 1 : 0;
  return onEdge;
}

/**
 * Best assignment per group among those where the group sends nothing. Sending nothing means
 * every weakly connected component of the data edges is entirely on the edge or entirely on
 * the cloud (an edge node's consumers are on the edge, a consumer's producers are too), and
 * every component reading one of the group's model inputs is on the edge. So: forced
 * components on the edge, other components of the group on the edge exactly when that is
 * strictly cheaper, the rest on the cloud.
 */
export function noCrossingAssignment(shape: CutShape, costs: CutCosts): { onEdge: Uint8Array; feasible: Uint8Array } {
  const g = shape.graph;
  const C = shape.compCount;
  const UNSET = -3;
  const MIXED = -2;
  const pure = new Int32Array(C).fill(UNSET);
  const delta = new Float64Array(C);
  for (let v = 0; v < g.nodeCount; v++) {
    const c = shape.comp[v]!;
    const gv = shape.nodeGroup[v]!;
    if (gv < 0 || costs.edge[v] === Infinity) pure[c] = MIXED;
    else if (pure[c] === UNSET) pure[c] = gv;
    else if (pure[c] !== gv) pure[c] = MIXED;
    if (pure[c] !== MIXED) delta[c] = delta[c]! + (costs.edge[v]! - costs.cloud[v]!);
  }
  const forced = new Uint8Array(C);
  const feasible = new Uint8Array(shape.groupCount).fill(1);
  for (let t = 0; t < g.tensorCount; t++) {
    if (g.producer[t]! >= 0) continue;
    const gt = shape.tensorGroup[t]!;
    for (let k = g.consStart[t]!; k < g.consStart[t + 1]!; k++) {
      const c = shape.comp[g.consList[k]!]!;
      if (pure[c] !== gt) feasible[gt] = 0;
      else forced[c] = 1;
    }
  }
  const onEdge = new Uint8Array(g.nodeCount);
  for (let v = 0; v < g.nodeCount; v++) {
    const c = shape.comp[v]!;
    onEdge[v] = pure[c]! >= 0 && (forced[c] || delta[c]! < 0) ? 1 : 0;
  }
  return { onEdge, feasible };
}

/**
 * Exact optimum of the grouped two-sided problem with per-group crossing costs. The min-cut
 * optimum X ignores crossing costs; per group the true optimum is the better of X's part (plus
 * the crossing cost when it sends anything) and the best part that sends nothing: a part that
 * sends something costs at least X's part plus the crossing cost.
 */
export function solveGrouped(shape: CutShape, costs: CutCosts): Uint8Array | null {
  const onEdge = minCutAssignment(shape, costs);
  if (!onEdge) return null;
  const G = shape.groupCount;
  const cut = newGroupParts(G);
  groupPartsOf(shape, costs, onEdge, cut);
  if (!cut.crosses.some((x) => x === 1)) return onEdge;
  const nc = noCrossingAssignment(shape, costs);
  const quiet = newGroupParts(G);
  groupPartsOf(shape, costs, nc.onEdge, quiet);
  const useQuiet = new Uint8Array(G);
  let any = false;
  for (let gr = 0; gr < G; gr++) {
    if (!cut.crosses[gr] || !nc.feasible[gr]) continue;
    const fCut = cut.a[gr]! + cut.c[gr]!;
    const fQuiet = quiet.a[gr]! + quiet.c[gr]!;
    // Tie: fewer edge nodes, then the one that needs no network at all.
    if (clearlyLess(fQuiet, fCut) || (nearlyEqual(fQuiet, fCut) && quiet.edgeCount[gr]! <= cut.edgeCount[gr]!)) {
      useQuiet[gr] = 1;
      any = true;
    }
  }
  if (!any) return onEdge;
  for (let v = 0; v < shape.graph.nodeCount; v++) {
    const gv = shape.nodeGroup[v]!;
    if (gv >= 0 && useQuiet[gv]) onEdge[v] = nc.onEdge[v]!;
  }
  return onEdge;
}
