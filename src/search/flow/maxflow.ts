// Maximum flow / minimum s-t cut (Dinic's algorithm) on a small directed network with real
// capacities; `Infinity` marks an edge the cut may never cross. The partition searches
// (min-cut over a model's DAG, multi-tier chains, multi-input) are built on it.

/** Residual capacities below this are treated as saturated (capacities are ms or joules). */
const EPS = 1e-12;

export interface MinCutResult {
  /** Capacity of the cut (= the maximum flow); Infinity when every cut crosses an infinite edge. */
  value: number;
  /** sourceSide[v]: v is reachable from the source in the residual network. */
  sourceSide: boolean[];
}

export class FlowNetwork {
  private readonly head: number[];
  private readonly to: number[] = [];
  private readonly cap: number[] = [];
  private readonly next: number[] = [];

  constructor(readonly size: number) {
    this.head = new Array<number>(size).fill(-1);
  }

  /** Adds u → v with capacity `capacity` (≥ 0, may be Infinity). */
  addEdge(u: number, v: number, capacity: number): void {
    if (!(capacity >= 0)) throw new RangeError(`capacity must be ≥ 0, got ${capacity}`);
    if (u === v || capacity === 0) return;
    this.to.push(v);
    this.cap.push(capacity);
    this.next.push(this.head[u]!);
    this.head[u] = this.to.length - 1;
    this.to.push(u);
    this.cap.push(0);
    this.next.push(this.head[v]!);
    this.head[v] = this.to.length - 1;
  }

  /** Computes a minimum s-t cut; the network keeps its residual state (call once). */
  minCut(s: number, t: number): MinCutResult {
    const n = this.size;
    const level = new Int32Array(n);
    const iter = new Int32Array(n);
    const queue = new Int32Array(n);
    let flow = 0;
    const bfs = (): boolean => {
      level.fill(-1);
      level[s] = 0;
      let qh = 0;
      let qt = 0;
      queue[qt++] = s;
      while (qh < qt) {
        const u = queue[qh++]!;
        for (let e = this.head[u]!; e !== -1; e = this.next[e]!) {
          const v = this.to[e]!;
          if (level[v] === -1 && this.cap[e]! > EPS) {
            level[v] = level[u]! + 1;
            queue[qt++] = v;
          }
        }
      }
      return level[t] !== -1;
    };
    // Iterative DFS for blocking flow (no recursion: networks can be deep).
    const stack = new Int32Array(n);
    const edgeStack = new Int32Array(n);
    const augment = (): number => {
      let depth = 0;
      stack[0] = s;
      for (;;) {
        const u = stack[depth]!;
        if (u === t) {
          let push = Infinity;
          for (let i = 0; i < depth; i++) push = Math.min(push, this.cap[edgeStack[i]!]!);
          if (push === Infinity) return Infinity;
          for (let i = 0; i < depth; i++) {
            const e = edgeStack[i]!;
            this.cap[e] = this.cap[e]! - push;
            this.cap[e ^ 1] = this.cap[e ^ 1]! + push;
          }
          return push;
        }
        let advanced = false;
        for (; iter[u] !== -1; iter[u] = this.next[iter[u]!]!) {
          const e = iter[u]!;
          const v = this.to[e]!;
          if (this.cap[e]! > EPS && level[v] === level[u]! + 1) {
            edgeStack[depth] = e;
            stack[++depth] = v;
            advanced = true;
            break;
          }
        }
        if (!advanced) {
          if (depth === 0) return 0;
          level[u] = -1; // dead end: prune
          depth--;
          const p = stack[depth]!;
          iter[p] = this.next[iter[p]!]!;
        }
      }
    };
    while (bfs()) {
      for (let v = 0; v < n; v++) iter[v] = this.head[v]!;
      for (;;) {
        const f = augment();
        if (f === 0) break;
        flow += f;
        if (flow === Infinity) break;
      }
      if (flow === Infinity) break;
    }
    // Source side: reachable from s in the residual network — what the last (failed) BFS
    // labelled; after an infinite flow the loop stopped early, so label once more.
    if (flow === Infinity) bfs();
    const sourceSide = Array.from(level, (l) => l !== -1);
    return { value: flow, sourceSide };
  }
}
