// The data edges of a partition problem as compact arrays (CSR consumers and predecessors, a
// topological order), validated once; every search below works on this form.

import { planError } from './checks.js';

export interface TensorLike {
  producer: number;
  consumers: readonly number[];
}

/** The data edges as compact arrays, validated and topologically ordered. */
export interface DataGraph {
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

export function buildDataGraph(nodeCount: number, tensors: readonly TensorLike[]): DataGraph {
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
