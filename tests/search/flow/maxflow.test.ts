// Dinic's max-flow against hand-solved networks and a brute-force minimum cut on random ones.
import { describe, expect, it } from 'vitest';
import { xorshift32 } from '../../helpers/onnx-oracle.js';
import { FlowNetwork } from '../../../src/search/flow/maxflow.js';

const rng = xorshift32;

describe('FlowNetwork.minCut', () => {
  it('solves the textbook network (CLRS 26.1: max flow 23)', () => {
    const g = new FlowNetwork(6);
    const edges: [number, number, number][] = [
      [0, 1, 16], [0, 2, 13], [2, 1, 4], [1, 3, 12], [3, 2, 9], [2, 4, 14], [4, 3, 7], [3, 5, 20], [4, 5, 4],
    ];
    for (const [u, v, c] of edges) g.addEdge(u, v, c);
    const r = g.minCut(0, 5);
    expect(r.value).toBe(23);
    expect(r.sourceSide).toEqual([true, true, true, false, true, false]);
  });

  it('never cuts an infinite edge and reports an infinite cut when it must', () => {
    const g = new FlowNetwork(3);
    g.addEdge(0, 1, Infinity);
    g.addEdge(1, 2, 5);
    expect(g.minCut(0, 2).value).toBe(5);
    const h = new FlowNetwork(3);
    h.addEdge(0, 1, Infinity);
    h.addEdge(1, 2, Infinity);
    expect(h.minCut(0, 2).value).toBe(Infinity);
  });

  it('equals the brute-force minimum cut on 300 random networks', () => {
    const r = rng(99);
    for (let k = 0; k < 300; k++) {
      const n = 3 + Math.floor(r() * 8);
      const caps: [number, number, number][] = [];
      const g = new FlowNetwork(n);
      for (let u = 0; u < n; u++)
        for (let v = 0; v < n; v++) {
          if (u === v || r() > 0.45) continue;
          const c = r() < 0.1 ? Infinity : Math.round(r() * 100) / 10;
          caps.push([u, v, c]);
          g.addEdge(u, v, c);
        }
      const res = g.minCut(0, n - 1);
      let best = Infinity;
      for (let mask = 0; mask < 1 << n; mask++) {
        if (!(mask & 1) || mask & (1 << (n - 1))) continue;
        let cut = 0;
        for (const [u, v, c] of caps) if (mask & (1 << u) && !(mask & (1 << v))) cut += c;
        best = Math.min(best, cut);
      }
      if (best === Infinity) expect(res.value).toBe(Infinity);
      else expect(res.value).toBeCloseTo(best, 9);
      // the reported source side is itself a minimum cut
      let side = 0;
      for (const [u, v, c] of caps) if (res.sourceSide[u] && !res.sourceSide[v]) side += c;
      if (best !== Infinity) expect(side).toBeCloseTo(best, 9);
      expect(res.sourceSide[0]).toBe(true);
      if (best !== Infinity) expect(res.sourceSide[n - 1]).toBe(false);
    }
  });
});
