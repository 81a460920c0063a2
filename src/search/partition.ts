// Partition search over a model's DAG, on abstract costs the caller has already computed (ms
// for latency, joules for energy): which nodes run on the edge device and which on the cloud
// (exact, DADS-style minimum s-t cut), over a chain of K tiers (exact, layered cut), and for
// models whose inputs live on several edge devices (exact for a sum, a heuristic for a max).
//
// Conventions shared by every search below:
// - Data never flows back: a node may run on a device only if everything it consumes was
//   produced there (or is a model input held there), so the edge side is predecessor-closed.
// - A tensor crosses a link once, whatever the number of consumers behind it.
// - Ties (costs equal within 1e-9 relative) go to the solution with fewer nodes on the edge
//   (more work on the cloud), then to the earlier candidate in a fixed enumeration order, so
//   the same problem always gives the same answer. A single min-cut already breaks exact ties
//   that way: the residual-reachable source side is the smallest optimal edge set.
// - Options (compression choices) tie to the lowest index.

import { SplitcError } from '../ir/errors.js';
import { FlowNetwork, type MinCutResult } from './maxflow.js';

// ---------------------------------------------------------------------------------------------
// Public types

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

/** Models whose inputs live on different edge devices (multi-view), all sending to one cloud. */
export interface MultiInputProblem {
  deviceCount: number;
  nodes: {
    /** Per device; Infinity = may not run there. */
    edgeCost: number[];
    cloudCost: number;
  }[];
  tensors: {
    /** Producing node, or -1 for a model input. */
    producer: number;
    consumers: number[];
    /** The device holding the input; required (only) when producer is -1. */
    inputDevice?: number;
    /** [device][option]: cost of sending the tensor from that device to the cloud. */
    transferCost: number[][];
  }[];
  options: string[];
  /** Per device: paid once when that device sends anything. */
  crossingCost: number[];
  /** 'sum': energy, or devices sharing one uplink in turn. 'max': devices run in parallel, latency = max over devices of (edge + transfer) + cloud. */
  objective: 'sum' | 'max';
}

export interface MultiInputEvaluation {
  /** Per node: the device it runs on, or -1 for the cloud. */
  device: number[];
  /** Crossing tensors (sent by `device`) with their option, sorted by tensor index. */
  crossing: { tensor: number; device: number; option: number }[];
  /** Objective value (Infinity when infeasible). */
  cost: number;
  /** Per device: compute on the device. */
  edgeCost: number[];
  /** Per device: transfers it sends plus its crossingCost when it sends anything. */
  transferCost: number[];
  cloudCost: number;
}

export interface MultiInputSolution extends MultiInputEvaluation {
  /** True when `cost` is a proven optimum ('sum', or 'max' with one device). */
  exact: boolean;
}

// ---------------------------------------------------------------------------------------------
// Shared helpers

/** Costs within this relative distance are a tie. */
const REL_TOL = 1e-9;
/** Brute-force enumerators refuse problems this large (they exist for tests). */
const BRUTE_MAX_NODES = 64;
const BRUTE_MAX_ASSIGNMENTS = 1 << 22;
/** Upper bound on min-cuts spent sweeping the hull of each device for the 'max' objective. */
const MAX_HULL_ROUNDS = 64;
/** Upper bound on local-search passes over the nodes for the 'max' objective. */
const MAX_MOVE_PASSES = 50;

function nearlyEqual(a: number, b: number): boolean {
  if (a === b) return true;
  if (!Number.isFinite(a) || !Number.isFinite(b)) return false;
  return Math.abs(a - b) <= REL_TOL * Math.max(Math.abs(a), Math.abs(b));
}

/** a is lower than b by more than the tie tolerance. */
function clearlyLess(a: number, b: number): boolean {
  return a < b && !nearlyEqual(a, b);
}

/** Weighted cost where 0 × Infinity stays Infinity (a forbidden placement stays forbidden). */
function scaled(x: number, w: number): number {
  return x === Infinity ? Infinity : x * w;
}

function planError(message: string, hint: string): SplitcError {
  return new SplitcError('E_PLAN', message, { hint });
}

function checkCost(x: unknown, where: string): number {
  if (typeof x !== 'number' || Number.isNaN(x) || x < 0) {
    throw planError(`${where} is ${String(x)}, not a cost`, 'costs are numbers ≥ 0; use Infinity for "not allowed"');
  }
  return x;
}

function checkLength(a: unknown, length: number, where: string): void {
  if (!Array.isArray(a) || a.length !== length) {
    const got = Array.isArray(a) ? `${a.length} entries` : String(a);
    throw planError(`${where} has ${got}, expected ${length}`, 'cost arrays are aligned with the options / tiers / devices of the problem');
  }
}

function checkOptions(options: unknown): number {
  if (!Array.isArray(options) || options.length === 0 || options.some((o) => typeof o !== 'string')) {
    throw planError('the problem has no compression options', "give at least one option name (e.g. ['none'])");
  }
  return options.length;
}

function argMin(row: readonly number[]): number {
  let best = 0;
  for (let o = 1; o < row.length; o++) if (row[o]! < row[best]!) best = o;
  return best;
}

interface TensorLike {
  producer: number;
  consumers: readonly number[];
}

/** The data edges as compact arrays, validated and topologically ordered. */
interface DataGraph {
  nodeCount: number;
  tensorCount: number;
  /** Per tensor: producing node, −1 for a model input. */
  producer: Int32Array;
  /** CSR: distinct consumers of tensor t are consList[consStart[t] .. consStart[t+1]). */
  consStart: Int32Array;
  consList: Int32Array;
  /** CSR: distinct nodes producing something node v consumes. */
  predStart: Int32Array;
  predList: Int32Array;
  topo: Int32Array;
}

function buildDataGraph(nodeCount: number, tensors: readonly TensorLike[]): DataGraph {
  const n = nodeCount;
  if (!Array.isArray(tensors)) throw planError('the problem has no tensor list', 'give tensors: [] when the model has none');
  const tensorCount = tensors.length;
  const producer = new Int32Array(tensorCount);
  const consStart = new Int32Array(tensorCount + 1);
  const stamp = new Int32Array(n).fill(-1);
  let total = 0;
  for (let t = 0; t < tensorCount; t++) {
    const tensor = tensors[t]!;
    const p = tensor.producer;
    if (!Number.isInteger(p) || p < -1 || p >= n) {
      throw planError(`tensor ${t} has producer ${String(p)}, not a node index or -1`, `node indices run from 0 to ${n - 1}; -1 marks a model input`);
    }
    producer[t] = p;
    if (!Array.isArray(tensor.consumers)) throw planError(`tensor ${t} has no consumer list`, 'give consumers: [] for a model output');
    for (const c of tensor.consumers) {
      if (!Number.isInteger(c) || c < 0 || c >= n) {
        throw planError(`tensor ${t} has consumer ${String(c)}, not a node index`, `node indices run from 0 to ${n - 1}`);
      }
      if (c === p) throw planError(`node ${c} consumes its own tensor ${t}`, 'the data edges must form a DAG');
      if (stamp[c] !== t) {
        stamp[c] = t;
        total++;
      }
    }
    consStart[t + 1] = total;
  }
  const consList = new Int32Array(total);
  stamp.fill(-1);
  for (let t = 0, k = 0; t < tensorCount; t++) {
    for (const c of tensors[t]!.consumers) {
      if (stamp[c] !== t) {
        stamp[c] = t;
        consList[k++] = c;
      }
    }
  }
  // Predecessors, deduplicated per node (a node may read several tensors of one producer).
  const rawStart = new Int32Array(n + 1);
  for (let t = 0; t < tensorCount; t++) {
    if (producer[t]! < 0) continue;
    for (let k = consStart[t]!; k < consStart[t + 1]!; k++) {
      const w = consList[k]! + 1;
      rawStart[w] = rawStart[w]! + 1;
    }
  }
  for (let v = 0; v < n; v++) rawStart[v + 1] = rawStart[v + 1]! + rawStart[v]!;
  const rawList = new Int32Array(rawStart[n]!);
  const cursor = rawStart.slice(0, n);
  for (let t = 0; t < tensorCount; t++) {
    const p = producer[t]!;
    if (p < 0) continue;
    for (let k = consStart[t]!; k < consStart[t + 1]!; k++) rawList[cursor[consList[k]!]!++] = p;
  }
  const predStart = new Int32Array(n + 1);
  const predBuf = new Int32Array(rawList.length);
  stamp.fill(-1);
  let predCount = 0;
  for (let w = 0; w < n; w++) {
    for (let k = rawStart[w]!; k < rawStart[w + 1]!; k++) {
      const u = rawList[k]!;
      if (stamp[u] !== w) {
        stamp[u] = w;
        predBuf[predCount++] = u;
      }
    }
    predStart[w + 1] = predCount;
  }
  const predList = predBuf.slice(0, predCount);
  // Kahn's algorithm over the successor lists (FIFO from ascending indices: deterministic).
  const succStart = new Int32Array(n + 1);
  for (let k = 0; k < predCount; k++) {
    const u = predList[k]! + 1;
    succStart[u] = succStart[u]! + 1;
  }
  for (let v = 0; v < n; v++) succStart[v + 1] = succStart[v + 1]! + succStart[v]!;
  const succList = new Int32Array(predCount);
  const succCursor = succStart.slice(0, n);
  const indegree = new Int32Array(n);
  for (let w = 0; w < n; w++) {
    indegree[w] = predStart[w + 1]! - predStart[w]!;
    for (let k = predStart[w]!; k < predStart[w + 1]!; k++) succList[succCursor[predList[k]!]!++] = w;
  }
  const topo = new Int32Array(n);
  let head = 0;
  let tail = 0;
  for (let v = 0; v < n; v++) if (indegree[v] === 0) topo[tail++] = v;
  while (head < tail) {
    const u = topo[head++]!;
    for (let k = succStart[u]!; k < succStart[u + 1]!; k++) {
      const w = succList[k]!;
      indegree[w] = indegree[w]! - 1;
      if (indegree[w] === 0) topo[tail++] = w;
    }
  }
  if (tail < n) {
    let stuck = 0;
    while (indegree[stuck] === 0) stuck++;
    throw planError(`the data edges form a cycle (node ${stuck} is on or behind it)`, 'the partition problem must describe a DAG');
  }
  return { nodeCount: n, tensorCount, producer, consStart, consList, predStart, predList, topo };
}

function checkNodeList(nodes: unknown): number {
  if (!Array.isArray(nodes)) throw planError('the problem has no node list', 'give nodes: [] for an empty model');
  return nodes.length;
}

// ---------------------------------------------------------------------------------------------
// Two-sided cut core, shared by the edge/cloud search and the multi-input search.
//
// Nodes belong to a group (the edge device they may run on; −1 = cloud only). For every
// problem built here the groups are independent: a node's predecessors that may run on an
// edge device are on its own device, and a tensor sent to the cloud is charged to its producer's
// group. So the objective is a constant plus one term per group that depends only on that
// group's edge set, and one min-cut optimizes all groups at once.

interface CutShape {
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

interface CutCosts {
  edge: Float64Array;
  cloud: Float64Array;
  /** Per tensor, the best option already chosen; Infinity = may not cross. */
  transfer: Float64Array;
  /** Per group: paid once when the group sends anything. */
  crossing: Float64Array;
}

/** Per-group parts of an assignment: a = edge compute + transfers + crossing cost, c = cloud compute of the group's nodes. */
interface GroupParts {
  a: Float64Array;
  c: Float64Array;
  crosses: Uint8Array;
  edgeCount: Int32Array;
}

function newGroupParts(groupCount: number): GroupParts {
  return {
    a: new Float64Array(groupCount),
    c: new Float64Array(groupCount),
    crosses: new Uint8Array(groupCount),
    edgeCount: new Int32Array(groupCount),
  };
}

function buildCutShape(graph: DataGraph, groupCount: number, nodeGroup: Int32Array, tensorGroup: Int32Array): CutShape {
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

function groupPartsOf(shape: CutShape, costs: CutCosts, onEdge: Uint8Array, out: GroupParts): void {
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

/**
 * One min-cut, handed to FlowNetwork after a greedy preflow. Edges marked `forward` go from
 * earlier to later nodes of a topological order of the network's acyclic part; a sweep along
 * it pushes flow towards the sink (sink edges first), a sweep back returns what got stuck, and
 * Dinic starts from the residual network of that flow. Alone, Dinic needs about one phase per
 * layer the flow travels through, and on a deep model that is thousands of phases. The
 * residual network of any flow leads to the same maximum flow and the same smallest minimum
 * cut, so the answer does not change.
 */
class CutNetwork {
  private readonly tail: number[] = [];
  private readonly head: number[] = [];
  private readonly cap: number[] = [];
  private readonly forward: boolean[] = [];

  constructor(
    readonly size: number,
    readonly source: number,
    readonly sink: number,
  ) {}

  addEdge(u: number, v: number, capacity: number, forward: boolean): void {
    if (capacity === 0 || u === v) return;
    this.tail.push(u);
    this.head.push(v);
    this.cap.push(capacity);
    this.forward.push(forward);
  }

  /** `order`: the source, then every node with forward edges, forward edges pointing later. */
  minCut(order: Int32Array): MinCutResult {
    const { tail, head, cap, forward, size, source, sink } = this;
    const m = tail.length;
    const outStart = new Int32Array(size + 1);
    const inStart = new Int32Array(size + 1);
    for (let e = 0; e < m; e++) {
      if (!forward[e]) continue;
      outStart[tail[e]! + 1] = outStart[tail[e]! + 1]! + 1;
      inStart[head[e]! + 1] = inStart[head[e]! + 1]! + 1;
    }
    for (let v = 0; v < size; v++) {
      outStart[v + 1] = outStart[v + 1]! + outStart[v]!;
      inStart[v + 1] = inStart[v + 1]! + inStart[v]!;
    }
    const outList = new Int32Array(outStart[size]!);
    const inList = new Int32Array(inStart[size]!);
    const outCursor = outStart.slice(0, size);
    const inCursor = inStart.slice(0, size);
    for (let e = 0; e < m; e++) {
      if (!forward[e]) continue;
      outList[outCursor[tail[e]!]!++] = e;
      inList[inCursor[head[e]!]!++] = e;
    }
    const flow = new Float64Array(m);
    const excess = new Float64Array(size);
    // An infinite source edge carries at most what the finite sink edges can take.
    let sinkCapacity = 0;
    for (let e = 0; e < m; e++) if (head[e] === sink && cap[e] !== Infinity) sinkCapacity += cap[e]!;
    for (let i = 0; i < order.length; i++) {
      const x = order[i]!;
      if (x === sink) continue;
      if (x === source) {
        for (let k = outStart[x]!; k < outStart[x + 1]!; k++) {
          const e = outList[k]!;
          const f = Math.min(cap[e]!, sinkCapacity);
          flow[e] = f;
          excess[head[e]!] = excess[head[e]!]! + f;
        }
        continue;
      }
      let left = excess[x]!;
      for (let pass = 0; pass < 2 && left > 0; pass++) {
        for (let k = outStart[x]!; k < outStart[x + 1]! && left > 0; k++) {
          const e = outList[k]!;
          if ((head[e] === sink) !== (pass === 0)) continue;
          const f = Math.min(left, cap[e]!);
          flow[e] = f;
          left -= f;
          if (head[e] !== sink) excess[head[e]!] = excess[head[e]!]! + f;
        }
      }
      excess[x] = left;
    }
    for (let i = order.length - 1; i >= 0; i--) {
      const x = order[i]!;
      if (x === source || x === sink) continue;
      let left = excess[x]!;
      for (let k = inStart[x]!; k < inStart[x + 1]! && left > 0; k++) {
        const e = inList[k]!;
        const f = Math.min(left, flow[e]!);
        if (f === 0) continue;
        flow[e] = flow[e]! - f;
        left -= f;
        if (tail[e] !== source) excess[tail[e]!] = excess[tail[e]!]! + f;
      }
      excess[x] = 0;
    }
    const net = new FlowNetwork(size);
    for (let e = 0; e < m; e++) {
      const f = flow[e]!;
      net.addEdge(tail[e]!, head[e]!, cap[e]! - f);
      if (f > 0) net.addEdge(head[e]!, tail[e]!, f);
    }
    return net.minCut(source, sink);
  }
}

/** Minimum of (compute + transfers), crossing costs left out; null when every assignment is infinite. */
function minCutAssignment(shape: CutShape, costs: CutCosts): Uint8Array | null {
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
function noCrossingAssignment(shape: CutShape, costs: CutCosts): { onEdge: Uint8Array; feasible: Uint8Array } {
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
function solveGrouped(shape: CutShape, costs: CutCosts): Uint8Array | null {
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

// ---------------------------------------------------------------------------------------------
// Edge / cloud

interface PreparedPartition {
  graph: DataGraph;
  optionCount: number;
}

function preparePartition(p: PartitionProblem): PreparedPartition {
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

function evaluatePrepared(p: PartitionProblem, graph: DataGraph, onEdge: ArrayLike<number | boolean>): PartitionSolution {
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

function infeasibleError(what: string, nodeCosts: (v: number) => number[], n: number): SplitcError {
  for (let v = 0; v < n; v++) {
    if (nodeCosts(v).every((c) => c === Infinity)) {
      return new SplitcError('E_CONSTRAINT', `no feasible ${what}: node ${v} may run nowhere (every cost is Infinity)`, {
        hint: 'give the node a finite cost on at least one side',
      });
    }
  }
  return new SplitcError('E_CONSTRAINT', `no feasible ${what}: every placement runs a node where it may not run or sends a tensor no option can carry`, {
    hint: 'a node that needs data from a device it may not run beside must be able to run on the cloud, and the tensors it reads need a finite transfer cost',
  });
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

// ---------------------------------------------------------------------------------------------
// Multi-tier chain
//
// Layered (Ishikawa) construction: node (v, b), b = 0..K−2, is on the source side exactly when
// tier(v) ≤ b. Infinite edges (v, b) → (v, b+1) keep the copies nested, and each link b is a
// two-sided problem of its own: a tensor crosses link b when its producer is at or below b and
// a consumer above. Each link chooses its option independently (the cost rows include the
// codec compute at both ends of the link). Link crossing costs are exact by enumerating which
// paid links may be used: with the others forbidden, the cut's value plus the allowed links'
// costs bounds every solution using at most those links, and the true cost of each cut is
// re-evaluated.

interface PreparedChain {
  graph: DataGraph;
  tierCount: number;
  /** [t * links + b]: cheapest option's cost / index for tensor t over link b. */
  linkCost: Float64Array;
  linkOption: Int32Array;
}

function prepareChain(p: ChainProblem): PreparedChain {
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

function evaluateChainPrepared(p: ChainProblem, prep: PreparedChain, tier: ArrayLike<number>): ChainSolution {
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

// ---------------------------------------------------------------------------------------------
// Multi-input (several edge devices)
//
// Eligibility (which device a node may run on, besides the cloud), computed by
// multiInputEligibility:
// - a node that depends on model inputs of exactly one device d may run on d;
// - a node that depends on inputs of two or more devices runs on the cloud;
// - a node that depends on no input (a constant-like subgraph) goes with the one device whose
//   single-device nodes consume it, directly or further down; with no such node downstream,
//   with the device all its predecessors share; otherwise (several devices need it, or a root
//   no device needs) it runs on the cloud only: a partition does not duplicate nodes, so fold
//   constants before searching;
// - last, a node whose predecessor may not run on its device becomes cloud-only.
// Every node has at most one device, so the devices' edge sets are disjoint, each device's
// part of the objective depends on its own edge set only, and 'sum' is one exact min-cut with
// per-device crossing costs handled as for a single device.
//
// 'max' (latency = max over devices of (edge + transfer) + cloud, the cloud starting once
// everything has arrived) is not a sum. Per device, the trade-off between its time
// a = edge + transfer (+ crossingCost) and the cloud time c of its nodes is swept: min-cuts of
// α·a + β·c with weights from the slopes of the current lower convex hull (Eisner–Severance),
// all devices batched into one cut per round, at most MAX_HULL_ROUNDS rounds. The 'sum'
// optimum and the all-cloud placement join the candidates, which are combined exactly (for
// each threshold on the slowest device, every device takes its cheapest-cloud candidate
// within it); a local search over single-node moves then polishes the best combination. The
// result is never worse than either baseline but can miss optima off the convex hulls, so it
// reports exact: false. Against brute force on small multi-view models (the tests' cases) it
// was optimal in ~95 % of cases, mean gap 0.1-0.2 %, worst 9 %.

interface PreparedMulti {
  graph: DataGraph;
  deviceCount: number;
  owner: Int32Array;
  shape: CutShape;
  costs: CutCosts;
  /** Cheapest option per tensor for its sending device. */
  tensorOption: Int32Array;
}

function popcount(x: number): number {
  let k = 0;
  for (; x; x &= x - 1) k++;
  return k;
}

function lowestBit(x: number): number {
  return 31 - Math.clz32(x & -x);
}

function eligibility(p: MultiInputProblem, graph: DataGraph): Int32Array {
  const n = graph.nodeCount;
  const up = new Int32Array(n); // bitmask of devices whose inputs v depends on
  for (let t = 0; t < graph.tensorCount; t++) {
    if (graph.producer[t]! >= 0) continue;
    const bit = 1 << p.tensors[t]!.inputDevice!;
    for (let k = graph.consStart[t]!; k < graph.consStart[t + 1]!; k++) {
      const w = graph.consList[k]!;
      up[w] = up[w]! | bit;
    }
  }
  for (let i = 0; i < n; i++) {
    const v = graph.topo[i]!;
    for (let k = graph.predStart[v]!; k < graph.predStart[v + 1]!; k++) up[v] = up[v]! | up[graph.predList[k]!]!;
  }
  // Devices of the single-device nodes downstream (multi-device ones run on the cloud and do
  // not care where their constant-like producers run).
  const down = new Int32Array(n);
  for (let i = n - 1; i >= 0; i--) {
    const w = graph.topo[i]!;
    const mask = (popcount(up[w]!) === 1 ? up[w]! : 0) | down[w]!;
    for (let k = graph.predStart[w]!; k < graph.predStart[w + 1]!; k++) {
      const u = graph.predList[k]!;
      down[u] = down[u]! | mask;
    }
  }
  const owner = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = graph.topo[i]!;
    const start = graph.predStart[v]!;
    const end = graph.predStart[v + 1]!;
    let o = -1;
    if (up[v] !== 0) o = popcount(up[v]!) === 1 ? lowestBit(up[v]!) : -1;
    else if (down[v] !== 0) o = popcount(down[v]!) === 1 ? lowestBit(down[v]!) : -1;
    else if (end > start) o = owner[graph.predList[start]!]!;
    for (let k = start; k < end && o >= 0; k++) if (owner[graph.predList[k]!] !== o) o = -1;
    owner[v] = o;
  }
  return owner;
}

function prepareMulti(p: MultiInputProblem): PreparedMulti {
  const D = p.deviceCount;
  if (!Number.isInteger(D) || D < 1 || D > 30) throw planError(`deviceCount is ${String(D)}`, 'give 1 to 30 edge devices');
  if (p.objective !== 'sum' && p.objective !== 'max') throw planError(`objective is ${String(p.objective)}`, "use 'sum' or 'max'");
  const n = checkNodeList(p.nodes);
  const optionCount = checkOptions(p.options);
  checkLength(p.crossingCost, D, 'crossingCost');
  for (let d = 0; d < D; d++) {
    checkCost(p.crossingCost[d], `crossingCost[${d}]`);
    if (p.crossingCost[d] === Infinity) throw planError(`crossingCost[${d}] is Infinity`, 'to keep a device off the network, make its transfer costs Infinity');
  }
  for (let v = 0; v < n; v++) {
    const node = p.nodes[v]!;
    checkLength(node.edgeCost, D, `node ${v} edgeCost`);
    for (let d = 0; d < D; d++) checkCost(node.edgeCost[d], `node ${v} edgeCost[${d}]`);
    checkCost(node.cloudCost, `node ${v} cloudCost`);
  }
  const graph = buildDataGraph(n, p.tensors);
  for (let t = 0; t < graph.tensorCount; t++) {
    const tensor = p.tensors[t]!;
    if (graph.producer[t]! < 0) {
      const d = tensor.inputDevice;
      if (d === undefined || !Number.isInteger(d) || d < 0 || d >= D) throw planError(`model input tensor ${t} has inputDevice ${String(d)}`, `each model input names the device holding it (0 to ${D - 1})`);
    } else if (tensor.inputDevice !== undefined) {
      throw planError(`tensor ${t} is produced by node ${graph.producer[t]} but names inputDevice ${tensor.inputDevice}`, 'only model inputs (producer -1) have an inputDevice');
    }
    checkLength(tensor.transferCost, D, `tensor ${t} transferCost`);
    for (let d = 0; d < D; d++) {
      checkLength(tensor.transferCost[d], optionCount, `tensor ${t} transferCost[${d}]`);
      for (let o = 0; o < optionCount; o++) checkCost(tensor.transferCost[d]![o], `tensor ${t} transferCost[${d}][${o}]`);
    }
  }
  const owner = eligibility(p, graph);
  const tensorGroup = new Int32Array(graph.tensorCount);
  const tensorOption = new Int32Array(graph.tensorCount);
  const transfer = new Float64Array(graph.tensorCount);
  for (let t = 0; t < graph.tensorCount; t++) {
    const prod = graph.producer[t]!;
    const d = prod >= 0 ? owner[prod]! : p.tensors[t]!.inputDevice!;
    tensorGroup[t] = d;
    if (d < 0) {
      transfer[t] = Infinity; // produced on the cloud: never sent
      continue;
    }
    const row = p.tensors[t]!.transferCost[d]!;
    tensorOption[t] = argMin(row);
    transfer[t] = row[tensorOption[t]!]!;
  }
  const shape = buildCutShape(graph, D, owner, tensorGroup);
  const costs: CutCosts = {
    edge: Float64Array.from(p.nodes, (x, v) => (owner[v]! >= 0 ? x.edgeCost[owner[v]!]! : Infinity)),
    cloud: Float64Array.from(p.nodes, (x) => x.cloudCost),
    transfer,
    crossing: Float64Array.from(p.crossingCost),
  };
  return { graph, deviceCount: D, owner, shape, costs, tensorOption };
}

/** Per node: the one device it may run on (besides the cloud), or -1 when it may only run on the cloud. */
export function multiInputEligibility(p: MultiInputProblem): number[] {
  return Array.from(prepareMulti(p).owner);
}

function evaluateMultiPrepared(p: MultiInputProblem, prep: PreparedMulti, device: ArrayLike<number>): MultiInputEvaluation {
  const g = prep.graph;
  const D = prep.deviceCount;
  let feasible = true;
  const edgeCost = new Array<number>(D).fill(0);
  const transferCost = new Array<number>(D).fill(0);
  const sends = new Array<boolean>(D).fill(false);
  let cloudCost = 0;
  for (let v = 0; v < g.nodeCount; v++) {
    const d = device[v]!;
    if (d < 0) {
      cloudCost += p.nodes[v]!.cloudCost;
      continue;
    }
    if (prep.owner[v] !== d) feasible = false;
    edgeCost[d] = edgeCost[d]! + p.nodes[v]!.edgeCost[d]!;
    for (let k = g.predStart[v]!; k < g.predStart[v + 1]!; k++) if (device[g.predList[k]!] !== d) feasible = false;
  }
  const crossing: MultiInputEvaluation['crossing'] = [];
  for (let t = 0; t < g.tensorCount; t++) {
    const prod = g.producer[t]!;
    const from = prod >= 0 ? device[prod]! : p.tensors[t]!.inputDevice!;
    if (from < 0) continue;
    for (let k = g.consStart[t]!; k < g.consStart[t + 1]!; k++) {
      if (device[g.consList[k]!]! < 0) {
        const row = p.tensors[t]!.transferCost[from]!;
        const option = argMin(row);
        transferCost[from] = transferCost[from]! + row[option]!;
        sends[from] = true;
        crossing.push({ tensor: t, device: from, option });
        break;
      }
    }
  }
  for (let d = 0; d < D; d++) if (sends[d]) transferCost[d] = transferCost[d]! + p.crossingCost[d]!;
  let cost = Infinity;
  if (feasible) {
    if (p.objective === 'sum') {
      cost = 0;
      for (let d = 0; d < D; d++) cost += edgeCost[d]!;
      for (let d = 0; d < D; d++) cost += transferCost[d]!;
      cost += cloudCost;
    } else {
      let slowest = 0;
      for (let d = 0; d < D; d++) slowest = Math.max(slowest, edgeCost[d]! + transferCost[d]!);
      cost = slowest + cloudCost;
    }
  }
  return { device: Array.from(device), crossing, cost, edgeCost, transferCost, cloudCost };
}

function placementOf(prep: PreparedMulti, onEdge: Uint8Array): Int32Array {
  const device = new Int32Array(onEdge.length);
  for (let v = 0; v < onEdge.length; v++) device[v] = onEdge[v] ? prep.owner[v]! : -1;
  return device;
}

function edgeCountOf(e: MultiInputEvaluation): number {
  let k = 0;
  for (const d of e.device) if (d >= 0) k++;
  return k;
}

/** Cost of a given placement (device per node, -1 = cloud) under the problem's objective. */
export function evaluateMultiInputPartition(p: MultiInputProblem, device: number[]): MultiInputEvaluation {
  const prep = prepareMulti(p);
  checkLength(device, prep.graph.nodeCount, 'the placement');
  for (let v = 0; v < device.length; v++) {
    const d = device[v];
    if (!Number.isInteger(d) || d! < -1 || d! >= prep.deviceCount) throw planError(`node ${v} is placed on ${String(d)}`, `devices run from 0 to ${prep.deviceCount - 1}; -1 is the cloud`);
  }
  return evaluateMultiPrepared(p, prep, device);
}

/**
 * Placement for models whose inputs live on several devices: exact for 'sum' (one min-cut),
 * the hull-sweep heuristic described above for 'max' (exact: false unless there is one device).
 */
export function solveMultiInputPartition(p: MultiInputProblem): MultiInputSolution {
  const prep = prepareMulti(p);
  const sumEdge = solveGrouped(prep.shape, prep.costs);
  const infeasible = (): SplitcError =>
    infeasibleError('multi-input partition', (v) => [...p.nodes[v]!.edgeCost, p.nodes[v]!.cloudCost], prep.graph.nodeCount);
  if (!sumEdge) throw infeasible();
  const sumPlacement = evaluateMultiPrepared(p, prep, placementOf(prep, sumEdge));
  if (sumPlacement.cost === Infinity) throw infeasible();
  if (p.objective === 'sum' || prep.deviceCount === 1) return { ...sumPlacement, exact: true };
  return { ...solveMaxObjective(p, prep, sumEdge, sumPlacement), exact: false };
}

interface HullPoint {
  a: number;
  c: number;
  /** Index of the assignment (in the candidate list) the point comes from. */
  source: number;
}

function solveMaxObjective(p: MultiInputProblem, prep: PreparedMulti, sumEdge: Uint8Array, sumPlacement: MultiInputEvaluation): MultiInputEvaluation {
  const { shape, costs: base } = prep;
  const g = prep.graph;
  const D = prep.deviceCount;
  const assignments: Uint8Array[] = [];
  const points: HullPoint[][] = Array.from({ length: D }, () => []);
  const parts = newGroupParts(D);
  const addAssignment = (onEdge: Uint8Array): HullPoint[] => {
    const source = assignments.push(onEdge) - 1;
    groupPartsOf(shape, base, onEdge, parts);
    const added: HullPoint[] = [];
    for (let d = 0; d < D; d++) {
      const pt = { a: parts.a[d]!, c: parts.c[d]!, source };
      added.push(pt);
      if (Number.isFinite(pt.a) && Number.isFinite(pt.c)) points[d]!.push(pt);
    }
    return added;
  };
  const weighted: CutCosts = {
    edge: new Float64Array(g.nodeCount),
    cloud: new Float64Array(g.nodeCount),
    transfer: new Float64Array(g.tensorCount),
    crossing: new Float64Array(D),
  };
  const solveWeighted = (alpha: Float64Array, beta: Float64Array): Uint8Array | null => {
    for (let v = 0; v < g.nodeCount; v++) {
      const d = shape.nodeGroup[v]!;
      weighted.edge[v] = d >= 0 ? scaled(base.edge[v]!, alpha[d]!) : base.edge[v]!;
      weighted.cloud[v] = d >= 0 ? scaled(base.cloud[v]!, beta[d]!) : base.cloud[v]!;
    }
    for (let t = 0; t < g.tensorCount; t++) {
      const d = shape.tensorGroup[t]!;
      weighted.transfer[t] = d >= 0 ? scaled(base.transfer[t]!, alpha[d]!) : base.transfer[t]!;
    }
    for (let d = 0; d < D; d++) weighted.crossing[d] = scaled(base.crossing[d]!, alpha[d]!);
    return solveGrouped(shape, weighted);
  };

  // Baselines, then the two ends of every device's hull: least device time, least cloud time.
  addAssignment(sumEdge);
  addAssignment(new Uint8Array(g.nodeCount));
  const alpha = new Float64Array(D);
  const beta = new Float64Array(D);
  alpha.fill(1);
  beta.fill(0);
  const leastA = solveWeighted(alpha, beta);
  alpha.fill(0);
  beta.fill(1);
  const leastC = solveWeighted(alpha, beta);
  const pending: [HullPoint, HullPoint][][] = Array.from({ length: D }, () => []);
  if (leastA && leastC) {
    const ends0 = addAssignment(leastA);
    const ends1 = addAssignment(leastC);
    for (let d = 0; d < D; d++) {
      const P = ends0[d]!;
      const Q = ends1[d]!;
      if (isFinite(P.a + P.c + Q.a + Q.c) && clearlyLess(P.a, Q.a) && clearlyLess(Q.c, P.c)) pending[d]!.push([P, Q]);
    }
  }
  for (let round = 0; round < MAX_HULL_ROUNDS && pending.some((x) => x.length > 0); round++) {
    const task: ([HullPoint, HullPoint] | undefined)[] = [];
    for (let d = 0; d < D; d++) {
      const seg = pending[d]!.pop();
      task.push(seg);
      if (!seg) {
        alpha[d] = 1;
        beta[d] = 1;
        continue;
      }
      // Weights normal to the segment P–Q: both ends score the same.
      const [P, Q] = seg;
      const slope = (P.c - Q.c) / (Q.a - P.a);
      alpha[d] = slope / (1 + slope);
      beta[d] = 1 / (1 + slope);
    }
    const onEdge = solveWeighted(alpha, beta);
    if (!onEdge) break;
    const added = addAssignment(onEdge);
    for (let d = 0; d < D; d++) {
      const seg = task[d];
      if (!seg) continue;
      const [P, Q] = seg;
      const R = added[d]!;
      const onLine = alpha[d]! * P.a + beta[d]! * P.c;
      const atR = alpha[d]! * R.a + beta[d]! * R.c;
      if (clearlyLess(atR, onLine) && clearlyLess(P.a, R.a) && clearlyLess(R.a, Q.a)) pending[d]!.push([R, Q], [P, R]);
    }
  }

  // Exact combination of the candidates: for each threshold on the slowest device, every
  // device takes its cheapest-cloud candidate within the threshold.
  const sorted = points.map((list) => [...list].sort((x, y) => x.a - y.a || x.c - y.c || x.source - y.source));
  const thresholds = [...new Set(sorted.flatMap((list) => list.map((pt) => pt.a)))].sort((x, y) => x - y);
  const cursor = new Int32Array(D);
  const pick: (HullPoint | undefined)[] = new Array<HullPoint | undefined>(D).fill(undefined);
  let bestTotal = Infinity;
  let bestPick: HullPoint[] | null = null;
  for (const limit of thresholds) {
    for (let d = 0; d < D; d++) {
      const list = sorted[d]!;
      while (cursor[d]! < list.length && list[cursor[d]!]!.a <= limit) {
        const pt = list[cursor[d]!]!;
        if (!pick[d] || pt.c < pick[d]!.c) pick[d] = pt;
        cursor[d] = cursor[d]! + 1;
      }
    }
    if (pick.some((x) => x === undefined)) continue;
    let slowest = 0;
    let cloud = 0;
    for (const pt of pick) {
      slowest = Math.max(slowest, pt!.a);
      cloud += pt!.c;
    }
    const total = slowest + cloud;
    if (clearlyLess(total, bestTotal)) {
      bestTotal = total;
      bestPick = pick.map((x) => x!);
    }
  }
  let best = sumPlacement;
  const consider = (e: MultiInputEvaluation): void => {
    if (clearlyLess(e.cost, best.cost) || (nearlyEqual(e.cost, best.cost) && edgeCountOf(e) < edgeCountOf(best))) best = e;
  };
  consider(evaluateMultiPrepared(p, prep, new Int32Array(g.nodeCount).fill(-1)));
  if (bestPick) {
    const onEdge = new Uint8Array(g.nodeCount);
    for (let v = 0; v < g.nodeCount; v++) {
      const d = shape.nodeGroup[v]!;
      if (d >= 0) onEdge[v] = assignments[bestPick[d]!.source]![v]!;
    }
    consider(evaluateMultiPrepared(p, prep, placementOf(prep, onEdge)));
  }
  consider(evaluateMultiPrepared(p, prep, improveByMoves(prep, best.device)));
  return best;
}

/**
 * First-improvement local search for 'max' over single-node moves that keep the placement
 * feasible (an edge node none of whose consumers is on the edge goes to the cloud; a cloud
 * node whose producers are all on its device goes there), in topological order, until a pass
 * changes nothing. It recovers many of the optima the hull misses (points off the hull).
 */
function improveByMoves(prep: PreparedMulti, start: readonly number[]): Int32Array {
  const g = prep.graph;
  const n = g.nodeCount;
  const D = prep.deviceCount;
  const { edge, cloud, transfer, crossing } = prep.costs;
  const owner = prep.owner;
  const tensorGroup = prep.shape.tensorGroup;
  // Node → tensors it produces / consumes.
  const prodStart = new Int32Array(n + 1);
  const readStart = new Int32Array(n + 1);
  for (let t = 0; t < g.tensorCount; t++) {
    const p = g.producer[t]!;
    if (p >= 0) prodStart[p + 1] = prodStart[p + 1]! + 1;
    for (let k = g.consStart[t]!; k < g.consStart[t + 1]!; k++) {
      const c = g.consList[k]! + 1;
      readStart[c] = readStart[c]! + 1;
    }
  }
  for (let v = 0; v < n; v++) {
    prodStart[v + 1] = prodStart[v + 1]! + prodStart[v]!;
    readStart[v + 1] = readStart[v + 1]! + readStart[v]!;
  }
  const prodList = new Int32Array(prodStart[n]!);
  const readList = new Int32Array(readStart[n]!);
  const prodCursor = prodStart.slice(0, n);
  const readCursor = readStart.slice(0, n);
  for (let t = 0; t < g.tensorCount; t++) {
    const p = g.producer[t]!;
    if (p >= 0) prodList[prodCursor[p]!++] = t;
    for (let k = g.consStart[t]!; k < g.consStart[t + 1]!; k++) readList[readCursor[g.consList[k]!]!++] = t;
  }
  const onEdge = new Uint8Array(n);
  for (let v = 0; v < n; v++) onEdge[v] = start[v]! >= 0 ? 1 : 0;
  const cloudReaders = new Int32Array(g.tensorCount);
  const edgeSum = new Float64Array(D);
  const cloudSum = new Float64Array(D);
  const transferSum = new Float64Array(D);
  const sending = new Int32Array(D);
  for (let v = 0; v < n; v++) {
    const d = owner[v]!;
    if (d < 0) continue;
    if (onEdge[v]) edgeSum[d] = edgeSum[d]! + edge[v]!;
    else cloudSum[d] = cloudSum[d]! + cloud[v]!;
  }
  const sourceOnEdge = (t: number): boolean => g.producer[t]! < 0 || onEdge[g.producer[t]!] === 1;
  for (let t = 0; t < g.tensorCount; t++) {
    for (let k = g.consStart[t]!; k < g.consStart[t + 1]!; k++) if (!onEdge[g.consList[k]!]) cloudReaders[t] = cloudReaders[t]! + 1;
    if (sourceOnEdge(t) && cloudReaders[t]! > 0) {
      const d = tensorGroup[t]!;
      transferSum[d] = transferSum[d]! + transfer[t]!;
      sending[d] = sending[d]! + 1;
    }
  }
  const objective = (): number => {
    let slowest = 0;
    let cloudTotal = 0;
    for (let d = 0; d < D; d++) {
      slowest = Math.max(slowest, edgeSum[d]! + transferSum[d]! + (sending[d]! > 0 ? crossing[d]! : 0));
      cloudTotal += cloudSum[d]!;
    }
    return slowest + cloudTotal;
  };
  const send = (t: number, sign: 1 | -1): void => {
    const d = tensorGroup[t]!;
    transferSum[d] = transferSum[d]! + sign * transfer[t]!;
    sending[d] = sending[d]! + sign;
  };
  // Whether v can move, and the move itself (its own inverse).
  const canMove = (v: number): boolean => {
    const d = owner[v]!;
    if (d < 0) return false;
    if (onEdge[v]) {
      if (cloud[v] === Infinity) return false;
      for (let k = prodStart[v]!; k < prodStart[v + 1]!; k++) {
        const t = prodList[k]!;
        if (cloudReaders[t]! < g.consStart[t + 1]! - g.consStart[t]!) return false; // a consumer is on the edge
      }
      for (let k = readStart[v]!; k < readStart[v + 1]!; k++) {
        const t = readList[k]!;
        if (sourceOnEdge(t) && cloudReaders[t] === 0 && transfer[t] === Infinity) return false;
      }
      return true;
    }
    if (edge[v] === Infinity) return false;
    for (let k = g.predStart[v]!; k < g.predStart[v + 1]!; k++) if (!onEdge[g.predList[k]!]) return false;
    for (let k = prodStart[v]!; k < prodStart[v + 1]!; k++) {
      const t = prodList[k]!;
      if (cloudReaders[t]! > 0 && transfer[t] === Infinity) return false;
    }
    return true;
  };
  const move = (v: number): void => {
    const d = owner[v]!;
    if (onEdge[v]) {
      edgeSum[d] = edgeSum[d]! - edge[v]!;
      cloudSum[d] = cloudSum[d]! + cloud[v]!;
      for (let k = prodStart[v]!; k < prodStart[v + 1]!; k++) if (cloudReaders[prodList[k]!]! > 0) send(prodList[k]!, -1);
      onEdge[v] = 0;
      for (let k = readStart[v]!; k < readStart[v + 1]!; k++) {
        const t = readList[k]!;
        cloudReaders[t] = cloudReaders[t]! + 1;
        if (cloudReaders[t] === 1 && sourceOnEdge(t)) send(t, 1);
      }
    } else {
      edgeSum[d] = edgeSum[d]! + edge[v]!;
      cloudSum[d] = cloudSum[d]! - cloud[v]!;
      for (let k = readStart[v]!; k < readStart[v + 1]!; k++) {
        const t = readList[k]!;
        cloudReaders[t] = cloudReaders[t]! - 1;
        if (cloudReaders[t] === 0 && sourceOnEdge(t)) send(t, -1);
      }
      onEdge[v] = 1;
      for (let k = prodStart[v]!; k < prodStart[v + 1]!; k++) if (cloudReaders[prodList[k]!]! > 0) send(prodList[k]!, 1);
    }
  };
  let current = objective();
  for (let pass = 0; pass < MAX_MOVE_PASSES; pass++) {
    let improved = false;
    for (let i = 0; i < n; i++) {
      const v = g.topo[i]!;
      if (!canMove(v)) continue;
      move(v);
      const next = objective();
      if (clearlyLess(next, current)) {
        current = next;
        improved = true;
      } else {
        move(v);
      }
    }
    if (!improved) break;
  }
  return placementOf(prep, onEdge);
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
