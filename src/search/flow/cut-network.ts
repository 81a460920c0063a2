// A min-cut network for the partition searches: edges in the topological order of a model's
// DAG get a greedy preflow before Dinic (FlowNetwork) finishes, which saves thousands of phases.

import { FlowNetwork, type MinCutResult } from './maxflow.js';

/**
 * One min-cut, handed to FlowNetwork after a greedy preflow. Edges marked `forward` go from
 * earlier to later nodes of a topological order of the network's acyclic part; a sweep along
 * it pushes flow towards the sink (sink edges first), a sweep back returns what got stuck, and
 * Dinic starts from the residual network of that flow. Alone, Dinic needs about one phase per
 * layer the flow travels through, and on a deep model that is thousands of phases. The
 * residual network of any flow leads to the same maximum flow and the same smallest minimum
 * cut, so the answer does not change.
 */
export class CutNetwork {
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
