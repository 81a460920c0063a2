// Candidate cuts and their figures (latency, energy, bytes, edge memory), beyond the optimum:
// per-option optima and a cut at every position of a topological order, for the table and
// the Pareto front.

import type { Value } from '../../ir/graph.js';
import type { CompressSpec } from '../../passes/bottleneck/index.js';
import { computeEnergyJ, transferMs } from '../profiles/predict.js';
import type { PlanOptions, CandidateFigures } from './types.js';
import { type PlanTensor, type PlanGraph, valueBytes, codecMs } from './plan-graph.js';

// ---------------------------------------------------------------------------------------
// Candidates

export interface RawCandidate {
  onEdge: Uint8Array;
  option: number;
  source: string;
}

export function crossingTensors(pg: PlanGraph, onEdge: Uint8Array): PlanTensor[] {
  return pg.tensors.filter((t) => (t.producer === -1 || onEdge[t.producer]) && t.consumers.some((c) => !onEdge[c]));
}

/** Weights used by edge nodes (each once) + peak live activations running the edge nodes in order. */
export function edgeMemory(pg: PlanGraph, onEdge: Uint8Array, cut: readonly PlanTensor[]): number {
  const weights = new Map<Value, number>();
  pg.nodes.forEach((_, i) => {
    if (onEdge[i]) for (const [v, b] of pg.params[i]!) weights.set(v, b);
  });
  let w = 0;
  for (const b of weights.values()) w += b;
  // Peak: inputs live from the start; an output lives until its last edge consumer (or to the end when it is sent or returned).
  const lastUse = new Map<Value, number>();
  pg.nodes.forEach((n, i) => {
    if (!onEdge[i]) return;
    for (const v of n.dependencies()) lastUse.set(v, i);
  });
  const keep = new Set(cut.map((t) => t.value));
  for (const v of pg.nodes[0]?.graph?.outputs ?? []) keep.add(v);
  let live = 0;
  for (const v of pg.nodes[0]?.graph?.inputs ?? []) if (!pg.isConst(v)) live += valueBytes(v);
  let peak = live;
  const frees = new Map<number, number>();
  for (const [v, i] of lastUse) if (!keep.has(v) && !pg.isConst(v)) frees.set(i, (frees.get(i) ?? 0) + valueBytes(v));
  pg.nodes.forEach((_, i) => {
    if (!onEdge[i]) return;
    live += pg.outBytes[i]!;
    peak = Math.max(peak, live);
    live -= frees.get(i) ?? 0;
  });
  return w + peak;
}

export function figures(pg: PlanGraph, opts: PlanOptions, onEdge: Uint8Array, option: number): CandidateFigures & { cut: PlanTensor[] } {
  let edgeMs = 0;
  let cloudMs = 0;
  let downlinkMs = 0;
  let edgeNodes = 0;
  let computeJ = 0;
  const e = opts.edge.energy;
  pg.nodes.forEach((_, i) => {
    if (onEdge[i]) {
      edgeMs += pg.edgeMs[i]!;
      edgeNodes++;
      if (e) computeJ += computeEnergyJ(opts.edge, pg.features[i]!.macs, pg.edgeMs[i]!) ?? 0;
    } else {
      cloudMs += pg.cloudMs[i]!;
      downlinkMs += pg.downMs[i]!;
    }
  });
  const cut = crossingTensors(pg, onEdge);
  let bytes = 0;
  let uplinkMs = 0;
  for (const t of cut) {
    bytes += t.wireBytes[option]!;
    uplinkMs += transferMs(opts.link, t.wireBytes[option]!, 'up') + codecMs(opts, pg.options[option]!, t.rawBytes, t.wireBytes[option]!);
  }
  const crosses = cut.length > 0;
  const rttMs = crosses ? opts.link.rttMs + opts.cloud.latency.runOverheadMs : 0;
  if (edgeNodes > 0) edgeMs += opts.edge.latency.runOverheadMs;
  const totalMs = edgeMs + uplinkMs + rttMs + cloudMs + downlinkMs;
  const edgeEnergyJ = e
    ? computeJ + ((opts.link.joulesPerMB ?? 0) * bytes) / 1e6 + ((e.idleWatts ?? 0) * (uplinkMs + rttMs + cloudMs + downlinkMs)) / 1000
    : null;
  return {
    cut,
    edgeMs,
    uplinkMs,
    rttMs,
    cloudMs,
    downlinkMs,
    totalMs,
    edgeEnergyJ,
    bytesPerSample: bytes,
    edgeMemoryBytes: edgeMemory(pg, onEdge, cut),
    edgeNodes,
    cloudNodes: pg.nodes.length - edgeNodes,
  };
}

/** Cuts at every position of the graph's topological order, priced incrementally (O(nodes + edges) per option). */
export function prefixCandidates(pg: PlanGraph): RawCandidate[] {
  const out: RawCandidate[] = [];
  const n = pg.nodes.length;
  // A prefix of the node list is closed under predecessors (the list is topologically sorted).
  // Up to 100 positions per option (the chart's resolution), fewer on huge graphs: each
  // candidate is priced in O(nodes + edges).
  const positions = Math.max(20, Math.min(100, Math.floor(2e6 / (n * pg.optionNames.length))));
  const stride = Math.max(1, Math.floor(n / positions));
  for (let k = 0; k < pg.optionNames.length; k++) {
    for (let p = stride; p < n; p += stride) {
      const onEdge = new Uint8Array(n);
      onEdge.fill(1, 0, p);
      out.push({ onEdge, option: k, source: 'prefix' });
    }
  }
  return out;
}

export function lossRank(spec: CompressSpec): number {
  let r = 0;
  for (const s of spec.stages) {
    if (s.kind === 'pca') r += 1;
    else if (s.kind === 'fp16') r += 1;
    else if (s.kind === 'quant') r += s.bits === 8 ? 2 : s.bits === 4 ? 3 : 4;
    else r += 1; // a defence (noise, dropout) loses fidelity too
  }
  return r;
}

export function cutKey(tensors: readonly string[]): string {
  return [...tensors].sort().join('\u0000');
}
