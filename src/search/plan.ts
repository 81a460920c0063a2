// Split planning on a real model: price every node on the edge and the cloud device, every
// tensor on the link under each compression option, find the exact optimum with the min-cut
// search (partition.ts), gather candidate cuts for the table and the Pareto front (per-option
// optima, cuts at every position of a topological order, optima under swept link speeds),
// apply the constraints (edge memory, bytes per sample, fidelity, inversion risk) and return
// a self-contained plan: what `splitc build` turns into bundles.

import { dtypeBits, DataType } from '../ir/dtype.js';
import { SplitcError } from '../ir/errors.js';
import type { Dim, Model, Node, Value } from '../ir/graph.js';
import { constantPredicate, constantSource, isConstantNode } from '../ir/constants.js';
import { estimateWireBytes, formatCompressSpec, parseCompressSpec, type CompressSpec } from '../passes/bottleneck/index.js';
import { annotateCost } from '../passes/cost.js';
import { inferShapes } from '../passes/shape/index.js';
import { evaluateChainPartition, solveChainPartition } from './partition/chain.js';
import { type PartitionProblem, solvePartition } from './partition/edge-cloud.js';
import { evaluateMultiInputPartition } from './partition/multi-input.js';
import { solveMultiInputPartition } from './partition/multi-input-search.js';
import type { DeviceProfile, LinkProfile, NodeFeatures } from './profiles/types.js';
import { computeEnergyJ, predictNodeMs, transferMs } from './profiles/predict.js';

export const PLAN_SCHEMA_VERSION = 1;

export type Objective = 'latency' | 'energy';

export interface PlanConstraints {
  /** Weights + peak activations of the edge part, bytes (default: the edge profile's memoryBytes). */
  maxEdgeMemoryBytes?: number;
  /** Bytes sent edge → cloud per sample (batch 1). */
  maxBytesPerSample?: number;
  /** Minimum top-1 agreement with the original model (0..1), measured by `measureAgreement`. */
  minAgreement?: number;
  /**
   * Maximum inversion risk of the transmitted tensors: looked up in `riskTable`, or measured by
   * `measureRisk` (the SSIM of the strongest attack) for the candidates the choice needs.
   */
  maxRisk?: number;
  /** The risk must be strictly below `maxRisk` (a risk level's lower bound, e.g. SSIM < 0.3 for 'low'). */
  maxRiskExclusive?: boolean;
}

/** Inversion risk per cut (the privacy audit fills it); a cut not listed counts as unknown. */
export interface RiskEntry {
  tensors: string[];
  risk: number;
}

export interface PlanOptions {
  edge: DeviceProfile;
  cloud: DeviceProfile;
  link: LinkProfile;
  objective?: Objective;
  /** Compression spec texts to consider (default ['none']); 'none' is always added. */
  compressOptions?: string[];
  inputShapes?: Record<string, Dim[]>;
  /** sha256 of the model file: selects measured node latencies in the device profiles. */
  modelSha256?: string;
  constraints?: PlanConstraints;
  riskTable?: RiskEntry[];
  /** Measures top-1 agreement of a split with a lossy compression (needed for minAgreement). */
  measureAgreement?: (cutTensors: string[], compress: string) => Promise<number>;
  /** Most candidates to measure fidelity for before giving up (default 8). */
  maxFidelityMeasurements?: number;
  /**
   * Measures the inversion risk of a split (the audit's strongest-attack SSIM on the dequantized
   * wire): needed for `maxRisk` without a risk table entry. Cloud-only sends the input itself:
   * its risk is 1, never measured.
   */
  measureRisk?: (cutTensors: string[], compress: string) => Promise<number>;
  /** Most candidates to measure the risk of before giving up (default 8). */
  maxRiskMeasurements?: number;
}

/** Predicted figures of one way to run the model. */
export interface CandidateFigures {
  edgeMs: number;
  uplinkMs: number;
  rttMs: number;
  cloudMs: number;
  downlinkMs: number;
  totalMs: number;
  /** Edge device energy per sample (compute + send + wait), joules; null without energy figures. */
  edgeEnergyJ: number | null;
  bytesPerSample: number;
  edgeMemoryBytes: number;
  edgeNodes: number;
  cloudNodes: number;
}

export interface Candidate extends CandidateFigures {
  kind: 'edge-only' | 'cloud-only' | 'split';
  /** Tensors sent edge → cloud (names, graph order); [] for edge-only. */
  cutTensors: string[];
  compress: string;
  /** Where the candidate came from: 'optimum', 'prefix', 'sweep', 'inputs' (cloud-only, inputs compressed), 'baseline'. */
  source: string;
  /** Measured top-1 agreement (null: not measured; 1 for no compression). */
  agreement: number | null;
  risk: number | null;
  /** Constraints this candidate breaks (names), empty when feasible. */
  violates: string[];
  /** Why the candidate cannot be built or measured (a coded error), when it cannot: it is then infeasible, never fatal. */
  infeasible?: string;
}

export interface Plan {
  kind: 'splitc-plan';
  schemaVersion: number;
  model: { file?: string; sha256?: string; inputShapes: Record<string, Dim[]> };
  objective: Objective;
  profiles: { edge: DeviceProfile; cloud: DeviceProfile; link: LinkProfile };
  compressOptions: string[];
  constraints: PlanConstraints;
  chosen: Candidate;
  /** True when `chosen` is the exact optimum of the objective (the unconstrained min-cut optimum met every constraint). */
  exact: boolean;
  baselines: { edgeOnly: Candidate; cloudOnly: Candidate };
  /**
   * The chosen plan's gain over the better baseline that meets the constraints (its objective ÷
   * the chosen one's, >1 = better); null when no baseline meets them. When the chosen plan is
   * itself a baseline, the gain is over the other one (null if that one is infeasible).
   */
  gainOverBestBaseline: number | null;
  /** The baseline `gainOverBestBaseline` compares with. */
  gainBaseline: 'edge-only' | 'cloud-only' | null;
  /** Non-dominated candidates over (total latency, bytes per sample, loss of the compression). */
  pareto: Candidate[];
  /** Every distinct candidate considered (sorted by objective). */
  candidates: Candidate[];
  warnings: string[];
}

// ---------------------------------------------------------------------------------------
// The model as a partition problem

interface PlanTensor {
  value: Value;
  producer: number; // -1: graph input
  consumers: number[];
  /** Bytes per sample of each compression option (raw when the option does not apply). */
  wireBytes: number[];
  rawBytes: number;
}

interface PlanGraph {
  nodes: Node[];
  features: NodeFeatures[];
  edgeMs: number[];
  cloudMs: number[];
  /** Downlink ms of the graph outputs each node produces (paid when it runs on the cloud). */
  downMs: number[];
  /** Constant inputs (weights) of each node: value → bytes. */
  params: Map<Value, number>[];
  tensors: PlanTensor[];
  /** Output bytes of each node's outputs (activations), for peak memory. */
  outBytes: number[];
  /** Whether a value is constant (weights, and values computed from weights only). */
  isConst: (v: Value) => boolean;
  options: CompressSpec[];
  optionNames: string[];
}

function valueBytes(v: Value): number {
  const t = v.tensorType;
  if (!t?.shape) return 0;
  let n = 1;
  for (const d of t.shape) n *= typeof d === 'number' ? d : 1;
  return Math.ceil((n * dtypeBits(t.dtype)) / 8);
}

function staticDims(v: Value): number[] {
  return (v.tensorType?.shape ?? []).map((d) => (typeof d === 'number' ? d : 1));
}

function buildPlanGraph(model: Model, opts: PlanOptions, optionNames: string[]): PlanGraph {
  const g = model.graph;
  inferShapes(model, { inputShapes: opts.inputShapes ?? {} });
  const cost = annotateCost(model);
  const options = optionNames.map(parseCompressSpec);
  // Constants — weights and what is computed from weights only (PyTorch's Identity-shared
  // weights, Cast/Reshape/Transpose of an initializer) — are folded by runtimes: they are
  // copied to each side that reads them, never placed, timed or sent.
  const isConst = constantPredicate();
  const nodes = [...g.nodes].filter((n) => !isConstantNode(n, isConst));
  const index = new Map<Node, number>(nodes.map((n, i) => [n, i]));
  const features: NodeFeatures[] = [];
  const params: Map<Value, number>[] = [];
  const outBytes: number[] = [];
  for (const n of nodes) {
    const c = cost.nodes.get(n);
    const p = new Map<Value, number>();
    let inBytes = 0;
    for (const v of n.dependencies()) {
      if (isConst(v)) p.set(constantSource(v), valueBytes(v));
      else inBytes += valueBytes(v);
    }
    const ob = n.outputs.reduce((a, v) => a + valueBytes(v), 0);
    params.push(p);
    outBytes.push(ob);
    features.push({ name: n.name, opType: n.opType, macs: c?.macs ?? 0, bytes: inBytes + ob + (c?.paramBytes ?? 0) });
  }
  const sha = opts.modelSha256;
  const edgeMs = features.map((f) => predictNodeMs(opts.edge, f, sha));
  const cloudMs = features.map((f) => predictNodeMs(opts.cloud, f, sha));
  const outputs = new Set(g.outputs);
  const downMs = nodes.map((n) => n.outputs.filter((v) => outputs.has(v)).reduce((a, v) => a + transferMs(opts.link, valueBytes(v), 'down'), 0));

  // Tensors: graph inputs and node outputs that some compute node consumes.
  const consumersOf = new Map<Value, number[]>();
  nodes.forEach((n, i) => {
    for (const v of new Set(n.dependencies())) {
      if (isConst(v)) continue;
      let list = consumersOf.get(v);
      if (!list) consumersOf.set(v, (list = []));
      list.push(i);
    }
  });
  const tensors: PlanTensor[] = [];
  for (const [v, consumers] of consumersOf) {
    const prod = v.producer();
    const producer = prod ? index.get(prod) : -1;
    if (producer === undefined) continue; // produced by a node outside the plan graph (a subgraph's scope)
    if (producer === -1 && !v.isGraphInput()) continue;
    const rawBytes = valueBytes(v);
    const dims = staticDims(v);
    const dtype = v.tensorType?.dtype ?? DataType.UNDEFINED;
    const wireBytes = options.map((o) => estimateWireBytes(o, dtype, dims) ?? rawBytes);
    tensors.push({ value: v, producer, consumers, wireBytes, rawBytes });
  }
  return { nodes, features, edgeMs, cloudMs, downMs, params, tensors, outBytes, isConst, options, optionNames };
}

/** ms the edge and the cloud spend compressing / restoring a tensor (element-wise work, plus a 1×1 projection for pca). */
function codecMs(opts: PlanOptions, spec: CompressSpec, raw: number, wire: number): number {
  if (spec.stages.length === 0) return 0;
  const pca = spec.stages.find((s) => s.kind === 'pca');
  const elements = raw / 4;
  const macs = pca && pca.kind === 'pca' ? elements * pca.k : 0;
  const f = (name: string): NodeFeatures => ({ name, opType: pca ? 'Conv' : 'QuantizeLinear', macs, bytes: raw + wire });
  return predictNodeMs(opts.edge, f('splitc.compress'), undefined) + predictNodeMs(opts.cloud, f('splitc.restore'), undefined);
}

// ---------------------------------------------------------------------------------------
// Objective

interface Costs {
  node: (i: number, side: 'edge' | 'cloud') => number;
  tensor: (t: PlanTensor, option: number) => number;
  crossing: number;
}

function objectiveCosts(pg: PlanGraph, opts: PlanOptions, objective: Objective): Costs {
  const { edge, link } = opts;
  const rtt = link.rttMs + opts.cloud.latency.runOverheadMs;
  const tensorMs = (t: PlanTensor, k: number): number => transferMs(link, t.wireBytes[k]!, 'up') + codecMs(opts, pg.options[k]!, t.rawBytes, t.wireBytes[k]!);
  if (objective === 'latency') {
    return {
      node: (i, side) => (side === 'edge' ? pg.edgeMs[i]! : pg.cloudMs[i]! + pg.downMs[i]!),
      tensor: tensorMs,
      crossing: rtt,
    };
  }
  const e = edge.energy ?? {};
  const idleW = e.idleWatts ?? 0;
  const computeJ = (i: number): number => computeEnergyJ(edge, pg.features[i]!.macs, pg.edgeMs[i]!) ?? 0;
  return {
    node: (i, side) => (side === 'edge' ? computeJ(i) : (idleW * (pg.cloudMs[i]! + pg.downMs[i]!)) / 1000),
    tensor: (t, k) => ((link.joulesPerMB ?? 0) * t.wireBytes[k]!) / 1e6 + (idleW * tensorMs(t, k)) / 1000,
    crossing: (idleW * rtt) / 1000,
  };
}

function toProblem(pg: PlanGraph, costs: Costs, optionIdx: number[], scaleTransfer = 1): PartitionProblem {
  return {
    nodes: pg.nodes.map((_, i) => ({ edgeCost: costs.node(i, 'edge'), cloudCost: costs.node(i, 'cloud') })),
    tensors: pg.tensors.map((t) => ({ producer: t.producer, consumers: t.consumers, transferCost: optionIdx.map((k) => costs.tensor(t, k) * scaleTransfer) })),
    options: optionIdx.map((k) => pg.optionNames[k]!),
    optionMode: 'global',
    crossingCost: costs.crossing * scaleTransfer,
  };
}

// ---------------------------------------------------------------------------------------
// Candidates

interface RawCandidate {
  onEdge: Uint8Array;
  option: number;
  source: string;
}

function crossingTensors(pg: PlanGraph, onEdge: Uint8Array): PlanTensor[] {
  return pg.tensors.filter((t) => (t.producer === -1 || onEdge[t.producer]) && t.consumers.some((c) => !onEdge[c]));
}

/** Weights used by edge nodes (each once) + peak live activations running the edge nodes in order. */
function edgeMemory(pg: PlanGraph, onEdge: Uint8Array, cut: readonly PlanTensor[]): number {
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

function figures(pg: PlanGraph, opts: PlanOptions, onEdge: Uint8Array, option: number): CandidateFigures & { cut: PlanTensor[] } {
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
function prefixCandidates(pg: PlanGraph): RawCandidate[] {
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

function lossRank(spec: CompressSpec): number {
  let r = 0;
  for (const s of spec.stages) {
    if (s.kind === 'pca') r += 1;
    else if (s.kind === 'fp16') r += 1;
    else if (s.kind === 'quant') r += s.bits === 8 ? 2 : s.bits === 4 ? 3 : 4;
    else r += 1; // a defence (noise, dropout) loses fidelity too
  }
  return r;
}

function cutKey(tensors: readonly string[]): string {
  return [...tensors].sort().join('\u0000');
}

// ---------------------------------------------------------------------------------------

/** Plans the split of `model` (shapes are inferred in place). */
export async function planSplit(model: Model, opts: PlanOptions, source: { file?: string } = {}): Promise<Plan> {
  const objective = opts.objective ?? 'latency';
  const optionNames = [...new Set(['none', ...(opts.compressOptions ?? [])].map((t) => formatCompressSpec(parseCompressSpec(t))))];
  const pg = buildPlanGraph(model, opts, optionNames);
  const n = pg.nodes.length;
  if (n === 0) throw new SplitcError('E_PLAN', 'the model has no compute nodes to place', { hint: 'check the model with splitc inspect' });
  const warnings: string[] = [];
  const constraints: PlanConstraints = { ...opts.constraints };
  if (constraints.maxEdgeMemoryBytes === undefined && opts.edge.memoryBytes !== undefined) constraints.maxEdgeMemoryBytes = opts.edge.memoryBytes;
  if (constraints.maxRisk !== undefined && !opts.riskTable && !opts.measureRisk) {
    throw new SplitcError('E_BAD_ARGUMENT', 'a maximum inversion risk needs a risk table or real inputs to measure it', {
      hint: 'pass --max-risk low|medium with --probe <images|.npy|IDX> (measured), or --risk-table risk.json ({"cuts": [{"tensors": [...], "risk": 0.3}]})',
    });
  }
  if (constraints.minAgreement !== undefined && !opts.measureAgreement && optionNames.length > 1) {
    throw new SplitcError('E_BAD_ARGUMENT', 'a minimum agreement needs calibration data to measure it', { hint: 'pass --calib <images folder | .npy | random>' });
  }
  const costs = objectiveCosts(pg, opts, objective);

  // The exact optimum over all cuts and options, then more candidates for the table and front.
  // One option for every crossing tensor (what a bundle applies): the optimum over all
  // options is the best of the per-option optima, each exact.
  const raws: RawCandidate[] = [];
  let best = { k: 0, cost: Infinity };
  for (let k = 0; k < optionNames.length; k++) {
    const s = solvePartition(toProblem(pg, costs, [k]));
    raws.push({ onEdge: Uint8Array.from(s.onEdge, (b) => (b ? 1 : 0)), option: k, source: 'optimum' });
    if (s.cost < best.cost) best = { k, cost: s.cost };
  }
  // The best option's optima for a link 10× slower and 10× faster: more cuts for the table
  // and the front (min-cuts are the expensive part; prefixes below are cheap).
  if (n <= 3000) {
    for (const scale of [0.1, 10]) {
      const w = solvePartition(toProblem(pg, costs, [best.k], scale));
      raws.push({ onEdge: Uint8Array.from(w.onEdge, (b) => (b ? 1 : 0)), option: best.k, source: 'sweep' });
    }
  }
  raws.push(...prefixCandidates(pg));
  // Everything on the cloud with the inputs compressed on the wire (the baseline sends them raw).
  for (let k = 1; k < optionNames.length; k++) raws.push({ onEdge: new Uint8Array(n), option: k, source: 'inputs' });

  const riskOf = (tensors: string[]): number | null => {
    if (!opts.riskTable) return null;
    const key = cutKey(tensors);
    return opts.riskTable.find((r) => cutKey(r.tensors) === key)?.risk ?? null;
  };
  const objectiveOf = (c: CandidateFigures): number => (objective === 'latency' ? c.totalMs : (c.edgeEnergyJ ?? Infinity));
  const seen = new Map<string, Candidate>();
  const make = (onEdge: Uint8Array, option: number, src: string, kind?: Candidate['kind']): Candidate => {
    const f = figures(pg, opts, onEdge, option);
    const cutTensors = f.cut.map((t) => t.value.name);
    const compress = f.cut.length === 0 ? 'none' : optionNames[option]!;
    const { cut: _cut, ...fig } = f;
    void _cut;
    const k: Candidate['kind'] = kind ?? (f.edgeNodes === n ? 'edge-only' : f.edgeNodes === 0 ? 'cloud-only' : 'split');
    // cloud-only sends the input itself: full exposure, whatever the compression
    const risk = k === 'cloud-only' && opts.measureRisk ? (riskOf(cutTensors) ?? 1) : riskOf(cutTensors);
    return { kind: k, ...fig, cutTensors, compress, source: src, agreement: compress === 'none' ? 1 : null, risk, violates: [] };
  };
  const add = (c: Candidate): Candidate => {
    const key = `${c.kind}|${cutKey(c.cutTensors)}|${c.compress}|${c.edgeNodes}`;
    const prev = seen.get(key);
    if (prev) return prev;
    seen.set(key, c);
    return c;
  };
  const edgeOnly = add(make(new Uint8Array(n).fill(1), 0, 'baseline', 'edge-only'));
  const cloudOnly = add(make(new Uint8Array(n), 0, 'baseline', 'cloud-only'));
  for (const r of raws) add(make(r.onEdge, r.option, r.source));

  const all = [...seen.values()];
  const riskAllowed = (risk: number | null): boolean =>
    risk !== null && constraints.maxRisk !== undefined && (constraints.maxRiskExclusive ? risk < constraints.maxRisk : risk <= constraints.maxRisk);
  const check = (c: Candidate): string[] => {
    const v: string[] = [];
    if (constraints.maxEdgeMemoryBytes !== undefined && c.edgeMemoryBytes > constraints.maxEdgeMemoryBytes) v.push('max-edge-memory');
    if (constraints.maxBytesPerSample !== undefined && c.bytesPerSample > constraints.maxBytesPerSample) v.push('max-bytes');
    if (constraints.maxRisk !== undefined && c.cutTensors.length > 0 && !(c.risk === null && opts.measureRisk) && !riskAllowed(c.risk)) v.push('max-risk');
    return v;
  };
  for (const c of all) c.violates = check(c);
  all.sort((a, b) => objectiveOf(a) - objectiveOf(b) || a.bytesPerSample - b.bytesPerSample || a.edgeNodes - b.edgeNodes);

  // Fidelity and risk: measure candidates in objective order until one meets the bounds.
  // A figure measured lazily, at most `max` times: the value, or why the candidate fails
  // ('not measured' past the budget; 'infeasible' when it cannot be built or measured — never fatal).
  const lazily = (constraint: string, max: number, measure: ((cut: string[], compress: string) => Promise<number>) | undefined) => {
    let count = 0;
    return async (c: Candidate): Promise<number | null> => {
      if (count >= max || !measure) {
        c.violates.push(`${constraint} (not measured)`);
        return null;
      }
      count++;
      try {
        return await measure(c.cutTensors, c.compress);
      } catch (e) {
        if (!(e instanceof SplitcError)) throw e;
        c.infeasible = `${e.code}: ${e.message}`;
        c.violates.push('infeasible');
        return null;
      }
    };
  };
  const agreementOf = lazily('min-agreement', opts.maxFidelityMeasurements ?? 8, opts.measureAgreement);
  const riskOfCut = lazily('max-risk', opts.maxRiskMeasurements ?? 8, opts.measureRisk);
  let chosen: Candidate | undefined;
  for (const c of all) {
    if (c.violates.length) continue;
    if (constraints.minAgreement !== undefined && c.compress !== 'none') {
      if (c.agreement === null && (c.agreement = await agreementOf(c)) === null) continue;
      if (c.agreement < constraints.minAgreement) {
        c.violates.push('min-agreement');
        continue;
      }
    }
    if (constraints.maxRisk !== undefined && c.cutTensors.length > 0 && c.risk === null && opts.measureRisk) {
      if ((c.risk = await riskOfCut(c)) === null) continue;
      if (!riskAllowed(c.risk)) {
        c.violates.push('max-risk');
        continue;
      }
    }
    chosen = c;
    break;
  }
  if (!chosen) {
    const names = [...new Set(all.flatMap((c) => c.violates))];
    const limits = [
      constraints.maxEdgeMemoryBytes !== undefined ? `max edge memory ${constraints.maxEdgeMemoryBytes} B (the smallest edge part of a split needs ${Math.min(...all.filter((c) => c.kind !== 'cloud-only').map((c) => c.edgeMemoryBytes))} B)` : '',
      constraints.maxBytesPerSample !== undefined ? `max bytes per sample ${constraints.maxBytesPerSample} (cloud-only sends ${cloudOnly.bytesPerSample}; the fewest of any cut is ${Math.min(...all.filter((c) => c.cutTensors.length > 0).map((c) => c.bytesPerSample))})` : '',
      constraints.minAgreement !== undefined ? `min agreement ${constraints.minAgreement}` : '',
      constraints.maxRisk !== undefined ? `max risk ${constraints.maxRisk}` : '',
    ].filter(Boolean);
    throw new SplitcError('E_CONSTRAINT', `no candidate cut meets the constraints together (${names.join(', ')}): ${limits.join('; ')}`, {
      hint: 'relax one constraint, add compression options (--compress-options int8,int4,pca=16+int8), or choose a device with more memory',
    });
  }
  // The min-cut optimum is among the candidates, so the first candidate is the optimum over
  // all cuts and options; when constraints rule it out the choice is the best feasible one.
  const exact = chosen === all[0];
  const unit = objective === 'latency' ? 'ms' : 'J';
  if (!exact) warnings.push(`the unconstrained optimum (${all[0]!.kind}, ${objectiveOf(all[0]!).toPrecision(4)} ${unit}) breaks ${all[0]!.violates.join(', ')}; the chosen plan is the best feasible candidate found, not proven optimal`);
  const infeasible = all.filter((c) => c.infeasible !== undefined);
  if (infeasible.length) warnings.push(`${infeasible.length} candidate${infeasible.length > 1 ? 's' : ''} could not be built or measured (listed as infeasible with the reason), e.g. ${infeasible[0]!.compress} at ${infeasible[0]!.cutTensors.join(', ')}: ${infeasible[0]!.infeasible}`);
  if (chosen.compress !== 'none' && chosen.agreement === null) {
    warnings.push(`compression ${chosen.compress} was chosen without a fidelity bound; pass --min-agreement with --calib to measure it`);
  }

  // Pareto front over (latency, bytes, loss of the compression).
  const lossOf = new Map(optionNames.map((o) => [o, lossRank(parseCompressSpec(o))]));
  const loss = (c: Candidate): number => lossOf.get(c.compress) ?? 0;
  // with risks (a table, or measured), privacy is a fourth axis: an unknown risk counts as the worst
  const withRisk = all.some((c) => c.risk !== null && c.cutTensors.length > 0);
  const riskOfC = (c: Candidate): number => (!withRisk || c.cutTensors.length === 0 ? 0 : (c.risk ?? Infinity));
  const dominated = (a: Candidate, b: Candidate): boolean =>
    b.totalMs <= a.totalMs &&
    b.bytesPerSample <= a.bytesPerSample &&
    loss(b) <= loss(a) &&
    riskOfC(b) <= riskOfC(a) &&
    (b.totalMs < a.totalMs || b.bytesPerSample < a.bytesPerSample || loss(b) < loss(a) || riskOfC(b) < riskOfC(a));
  const pareto = all.filter((a) => !all.some((b) => b !== a && dominated(a, b))).sort((a, b) => a.totalMs - b.totalMs);
  // The gain is over baselines that meet the constraints: beating an edge-only run that does
  // not fit in the device's memory is no gain.
  const baselines = [edgeOnly, cloudOnly].filter((b) => b !== chosen && b.violates.length === 0);
  const bestBaseline = baselines.sort((a, b) => objectiveOf(a) - objectiveOf(b))[0] ?? null;

  return {
    kind: 'splitc-plan',
    schemaVersion: PLAN_SCHEMA_VERSION,
    model: { ...(source.file !== undefined ? { file: source.file } : {}), ...(opts.modelSha256 ? { sha256: opts.modelSha256 } : {}), inputShapes: opts.inputShapes ?? {} },
    objective,
    profiles: { edge: opts.edge, cloud: opts.cloud, link: opts.link },
    compressOptions: optionNames,
    constraints,
    chosen,
    exact,
    baselines: { edgeOnly, cloudOnly },
    gainOverBestBaseline: bestBaseline ? objectiveOf(bestBaseline) / objectiveOf(chosen) : null,
    gainBaseline: bestBaseline ? (bestBaseline.kind as 'edge-only' | 'cloud-only') : null,
    pareto,
    candidates: all,
    warnings,
  };
}

// ---------------------------------------------------------------------------------------
// Multi-tier chains (sensor → phone → cloud) and multi-input models (views on several devices)

export interface ChainPlanOptions {
  /** K ≥ 2 devices in order: tier 0 holds the model inputs, the last is the cloud. */
  devices: DeviceProfile[];
  /** K − 1 links: links[b] joins devices[b] and devices[b + 1]. */
  links: LinkProfile[];
  compressOptions?: string[];
  inputShapes?: Record<string, Dim[]>;
  modelSha256?: string;
}

export interface ChainTierFigures {
  device: string;
  nodes: number;
  computeMs: number;
}

export interface ChainHopFigures {
  link: string;
  /** Tensors sent or forwarded over this link, with the option each uses. */
  tensors: { name: string; compress: string; bytes: number }[];
  bytesPerSample: number;
  /** Transfers plus the link's round trip when used. */
  ms: number;
}

export interface ChainPlanResult {
  kind: 'splitc-chain-plan';
  schemaVersion: number;
  model: { file?: string; sha256?: string; inputShapes: Record<string, Dim[]> };
  compressOptions: string[];
  /** Exact optimum of end-to-end latency over every tier assignment (per tensor and link options). */
  chosen: { totalMs: number; tiers: ChainTierFigures[]; hops: ChainHopFigures[]; tierOfNode: Record<string, number> };
  /** Everything on one tier (the inputs forwarded raw to it), per tier. */
  baselines: { tier: number; device: string; totalMs: number }[];
  gainOverBestBaseline: number;
}

function tierFigures(pg: PlanGraph, devices: DeviceProfile[], links: LinkProfile[], tier: number[], crossing: { tensor: number; link: number; option: number }[], costOf: (i: number, t: number) => number) {
  const tiers: ChainTierFigures[] = devices.map((d) => ({ device: d.name, nodes: 0, computeMs: 0 }));
  tier.forEach((t, i) => {
    tiers[t]!.nodes++;
    tiers[t]!.computeMs += costOf(i, t);
  });
  const hops: ChainHopFigures[] = links.map((l) => ({ link: l.name, tensors: [], bytesPerSample: 0, ms: 0 }));
  for (const c of crossing) {
    const t = pg.tensors[c.tensor]!;
    const bytes = t.wireBytes[c.option]!;
    const hop = hops[c.link]!;
    hop.tensors.push({ name: t.value.name, compress: pg.optionNames[c.option]!, bytes });
    hop.bytesPerSample += bytes;
    hop.ms += transferMs(links[c.link]!, bytes, 'up');
  }
  hops.forEach((h, b) => {
    if (h.tensors.length) h.ms += links[b]!.rttMs + devices[b + 1]!.latency.runOverheadMs;
  });
  return { tiers, hops };
}

/** Plans a chain of K devices: the exact latency optimum of which node runs on which tier. */
export function planChain(model: Model, opts: ChainPlanOptions, source: { file?: string } = {}): ChainPlanResult {
  const K = opts.devices.length;
  if (K < 2 || opts.links.length !== K - 1) {
    throw new SplitcError('E_BAD_ARGUMENT', `a chain of ${K} devices needs ${Math.max(1, K - 1)} links, got ${opts.links.length}`, { hint: 'one --link per hop: edge → via … → cloud' });
  }
  const optionNames = [...new Set(['none', ...(opts.compressOptions ?? [])].map((t) => formatCompressSpec(parseCompressSpec(t))))];
  const base: PlanOptions = { edge: opts.devices[0]!, cloud: opts.devices[K - 1]!, link: opts.links[0]!, ...(opts.inputShapes ? { inputShapes: opts.inputShapes } : {}), ...(opts.modelSha256 ? { modelSha256: opts.modelSha256 } : {}) };
  const pg = buildPlanGraph(model, base, optionNames);
  const outputs = new Set(model.graph.outputs);
  // Node cost on tier t: compute there, plus bringing its graph outputs back to tier 0.
  const outBytes = pg.nodes.map((n) => n.outputs.filter((v) => outputs.has(v)).reduce((a, v) => a + valueBytes(v), 0));
  const nodeMs = pg.features.map((f) => opts.devices.map((d) => predictNodeMs(d, f, opts.modelSha256)));
  const costOf = (i: number, t: number): number => {
    let ms = nodeMs[i]![t]!;
    for (let b = 0; b < t; b++) if (outBytes[i]) ms += transferMs(opts.links[b]!, outBytes[i]!, 'down');
    return ms;
  };
  const problem = {
    tierCount: K,
    nodes: pg.nodes.map((_, i) => ({ costs: opts.devices.map((_, t) => costOf(i, t)) })),
    tensors: pg.tensors.map((t) => ({
      producer: t.producer,
      consumers: t.consumers,
      transferCost: opts.links.map((l, b) =>
        optionNames.map((_, k) => {
          const sub: PlanOptions = { ...base, edge: opts.devices[b]!, cloud: opts.devices[b + 1]!, link: l };
          return transferMs(l, t.wireBytes[k]!, 'up') + codecMs(sub, pg.options[k]!, t.rawBytes, t.wireBytes[k]!);
        }),
      ),
    })),
    options: optionNames,
    linkCrossingCost: opts.links.map((l, b) => l.rttMs + opts.devices[b + 1]!.latency.runOverheadMs),
  };
  const sol = solveChainPartition(problem);
  const { tiers, hops } = tierFigures(pg, opts.devices, opts.links, sol.tier, sol.crossing, costOf);
  const baselines = opts.devices.map((d, t) => {
    const tier = pg.nodes.map(() => t);
    const e = evaluateChainPartition(problem, tier);
    return { tier: t, device: d.name, totalMs: e.cost };
  });
  const tierOfNode: Record<string, number> = {};
  pg.nodes.forEach((n, i) => (tierOfNode[n.name] = sol.tier[i]!));
  return {
    kind: 'splitc-chain-plan',
    schemaVersion: PLAN_SCHEMA_VERSION,
    model: { ...(source.file !== undefined ? { file: source.file } : {}), ...(opts.modelSha256 ? { sha256: opts.modelSha256 } : {}), inputShapes: opts.inputShapes ?? {} },
    compressOptions: optionNames,
    chosen: { totalMs: sol.cost, tiers, hops, tierOfNode },
    baselines,
    gainOverBestBaseline: Math.min(...baselines.map((b) => b.totalMs)) / sol.cost,
  };
}

export interface MultiInputPlanOptions {
  /** The device (and its link to the cloud) holding each model input, by input name. */
  inputs: Record<string, { device: DeviceProfile; link: LinkProfile }>;
  cloud: DeviceProfile;
  /** 'latency': devices compute and send in parallel (max); 'energy': total edge energy (sum). */
  objective?: Objective;
  compressOptions?: string[];
  inputShapes?: Record<string, Dim[]>;
  modelSha256?: string;
}

export interface MultiInputPlanResult {
  kind: 'splitc-multi-input-plan';
  schemaVersion: number;
  model: { file?: string; sha256?: string; inputShapes: Record<string, Dim[]> };
  objective: Objective;
  /** False for the latency objective (max over devices): the search is a heuristic there (see partition.ts). */
  exact: boolean;
  devices: { device: string; link: string; inputs: string[]; nodes: number; computeMs: number; sends: { name: string; compress: string; bytes: number }[]; transferMs: number }[];
  cloudMs: number;
  cost: number;
  /** Every input sent raw to the cloud, which runs everything. */
  cloudOnly: number;
  deviceOfNode: Record<string, number>;
}

/** Plans a model whose inputs live on different edge devices, each with its own link to the cloud. */
export function planMultiInput(model: Model, opts: MultiInputPlanOptions, source: { file?: string } = {}): MultiInputPlanResult {
  const objective = opts.objective ?? 'latency';
  const isConst = constantPredicate();
  const inputNames = model.graph.inputs.filter((v) => !isConst(v)).map((v) => v.name);
  const missing = inputNames.filter((n) => !opts.inputs[n]);
  if (missing.length) throw new SplitcError('E_BAD_ARGUMENT', `no device holds input${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`, { hint: `name a device for every input: ${inputNames.map((n) => `${n}=<device>@<link>`).join(',')}` });
  const unknown = Object.keys(opts.inputs).filter((n) => !inputNames.includes(n));
  if (unknown.length) throw new SplitcError('E_BAD_ARGUMENT', `the model has no input ${unknown.join(', ')}`, { hint: `its inputs: ${inputNames.join(', ')}` });
  // Inputs held by the same device profile and link share that device.
  const keys: string[] = [];
  const deviceOfInput = new Map<string, number>();
  for (const n of inputNames) {
    const { device, link } = opts.inputs[n]!;
    const key = `${device.name}@${link.name}`;
    if (!keys.includes(key)) keys.push(key);
    deviceOfInput.set(n, keys.indexOf(key));
  }
  const devs = keys.map((k) => opts.inputs[inputNames.find((n) => `${opts.inputs[n]!.device.name}@${opts.inputs[n]!.link.name}` === k)!]!);
  const optionNames = [...new Set(['none', ...(opts.compressOptions ?? [])].map((t) => formatCompressSpec(parseCompressSpec(t))))];
  const base: PlanOptions = { edge: devs[0]!.device, cloud: opts.cloud, link: devs[0]!.link, ...(opts.inputShapes ? { inputShapes: opts.inputShapes } : {}), ...(opts.modelSha256 ? { modelSha256: opts.modelSha256 } : {}) };
  const pg = buildPlanGraph(model, base, optionNames);
  const sha = opts.modelSha256;
  const edgeMs = pg.features.map((f) => devs.map((d) => predictNodeMs(d.device, f, sha)));
  const cloudMs = pg.features.map((f, i) => predictNodeMs(opts.cloud, f, sha) + pg.downMs[i]!);
  const energy = (j: number, i: number): number => computeEnergyJ(devs[j]!.device, pg.features[i]!.macs, edgeMs[i]![j]!) ?? 0;
  const tensorMs = (t: PlanTensor, d: number, k: number): number => {
    const sub: PlanOptions = { ...base, edge: devs[d]!.device, link: devs[d]!.link };
    return transferMs(devs[d]!.link, t.wireBytes[k]!, 'up') + codecMs(sub, pg.options[k]!, t.rawBytes, t.wireBytes[k]!);
  };
  const latency = objective === 'latency';
  const problem = {
    deviceCount: devs.length,
    nodes: pg.nodes.map((_, i) => ({ edgeCost: devs.map((_, j) => (latency ? edgeMs[i]![j]! : energy(j, i))), cloudCost: latency ? cloudMs[i]! : 0 })),
    tensors: pg.tensors.map((t) => ({
      producer: t.producer,
      consumers: t.consumers,
      ...(t.producer === -1 ? { inputDevice: deviceOfInput.get(t.value.name)! } : {}),
      transferCost: devs.map((d, j) => optionNames.map((_, k) => (latency ? tensorMs(t, j, k) : ((d.link.joulesPerMB ?? 0) * t.wireBytes[k]!) / 1e6))),
    })),
    options: optionNames,
    crossingCost: devs.map((d) => (latency ? d.link.rttMs + opts.cloud.latency.runOverheadMs : 0)),
    objective: latency ? ('max' as const) : ('sum' as const),
  };
  const sol = solveMultiInputPartition(problem);
  const cloudOnly = evaluateMultiInputPartition(problem, pg.nodes.map(() => -1)).cost;
  const deviceOfNode: Record<string, number> = {};
  pg.nodes.forEach((n, i) => (deviceOfNode[n.name] = sol.device[i]!));
  return {
    kind: 'splitc-multi-input-plan',
    schemaVersion: PLAN_SCHEMA_VERSION,
    model: { ...(source.file !== undefined ? { file: source.file } : {}), ...(sha ? { sha256: sha } : {}), inputShapes: opts.inputShapes ?? {} },
    objective,
    exact: sol.exact,
    devices: devs.map((d, j) => ({
      device: d.device.name,
      link: d.link.name,
      inputs: inputNames.filter((n) => deviceOfInput.get(n) === j),
      nodes: sol.device.filter((x) => x === j).length,
      computeMs: pg.nodes.reduce((a, _, i) => a + (sol.device[i] === j ? edgeMs[i]![j]! : 0), 0),
      sends: sol.crossing.filter((c) => c.device === j).map((c) => ({ name: pg.tensors[c.tensor]!.value.name, compress: optionNames[c.option]!, bytes: pg.tensors[c.tensor]!.wireBytes[c.option]! })),
      transferMs: sol.transferCost[j]!,
    })),
    cloudMs: sol.cloudCost,
    cost: sol.cost,
    cloudOnly,
    deviceOfNode,
  };
}

/**
 * The chosen plan against the baselines, in words: "1.84× faster than cloud-only", or why no
 * baseline compares (each one breaks a constraint). Shared by the table and plan.html.
 */
export function gainSummary(plan: Pick<Plan, 'chosen' | 'baselines' | 'gainOverBestBaseline' | 'gainBaseline' | 'objective'>): string {
  const better = plan.objective === 'latency' ? 'faster' : 'less edge energy';
  const broken = (b: Candidate): string => `${b.kind} breaks ${b.violates.join(', ')}`;
  const others = [plan.baselines.edgeOnly, plan.baselines.cloudOnly].filter((b) => b.kind !== plan.chosen.kind || plan.chosen.kind === 'split');
  if (plan.gainOverBestBaseline === null || plan.gainBaseline === null) {
    return plan.chosen.kind === 'split' ? `no baseline meets the constraints (${others.map(broken).join('; ')})` : `the only candidate that meets the constraints among the baselines (${others.map(broken).join('; ')})`;
  }
  const gain = plan.gainOverBestBaseline;
  const text = gain >= 1 ? `${gain.toFixed(2)}× ${better} than ${plan.gainBaseline}` : `${(1 / gain).toFixed(2)}× slower than ${plan.gainBaseline}`;
  const infeasible = others.filter((b) => b.kind !== plan.gainBaseline && b.violates.length > 0);
  return infeasible.length ? `${text} (${infeasible.map(broken).join('; ')})` : text;
}
