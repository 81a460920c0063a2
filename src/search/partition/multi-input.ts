// Models whose inputs live on several edge devices: the problem, which device each node may
// run on, and the cost of a placement; the search itself is in multi-input-search.ts.
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

import { buildCutShape, type CutCosts, type CutShape } from './cut-core.js';
import { argMin, checkCost, checkLength, checkNodeList, checkOptions, planError } from './checks.js';
import { buildDataGraph, type DataGraph } from './data-graph.js';

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

export interface PreparedMulti {
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

export function prepareMulti(p: MultiInputProblem): PreparedMulti {
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

export function evaluateMultiPrepared(p: MultiInputProblem, prep: PreparedMulti, device: ArrayLike<number>): MultiInputEvaluation {
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

export function placementOf(prep: PreparedMulti, onEdge: Uint8Array): Int32Array {
  const device = new Int32Array(onEdge.length);
  for (let v = 0; v < onEdge.length; v++) device[v] = onEdge[v] ? prep.owner[v]! : -1;
  return device;
}

export function edgeCountOf(e: MultiInputEvaluation): number {
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
