// A real model as a partition problem: its nodes priced on the edge and the cloud device, its
// tensors on the link under each compression option, for the chosen objective.

import { dtypeBits, DataType } from '../../ir/dtype.js';
import type { Model, Node, Value } from '../../ir/graph.js';
import { constantPredicate, constantSource, isConstantNode } from '../../ir/constants.js';
import { estimateWireBytes, isReducer, parseCompressSpec, type CompressSpec } from '../../passes/bottleneck/index.js';
import { annotateCost } from '../../passes/cost.js';
import { inferShapes } from '../../passes/shape/index.js';
import type { PartitionProblem } from '../partition/edge-cloud.js';
import type { NodeFeatures } from '../profiles/types.js';
import { computeEnergyJ, predictNodeMs, transferMs } from '../profiles/predict.js';
import type { Objective, PlanOptions } from './types.js';

// ---------------------------------------------------------------------------------------
// The model as a partition problem

export interface PlanTensor {
  value: Value;
  producer: number; // -1: graph input
  consumers: number[];
  /** Bytes per sample of each compression option (raw when the option does not apply). */
  wireBytes: number[];
  rawBytes: number;
}

export interface PlanGraph {
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

export function valueBytes(v: Value): number {
  const t = v.tensorType;
  if (!t?.shape) return 0;
  let n = 1;
  for (const d of t.shape) n *= typeof d === 'number' ? d : 1;
  return Math.ceil((n * dtypeBits(t.dtype)) / 8);
}

export function staticDims(v: Value): number[] {
  return (v.tensorType?.shape ?? []).map((d) => (typeof d === 'number' ? d : 1));
}

export function buildPlanGraph(model: Model, opts: PlanOptions, optionNames: string[]): PlanGraph {
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

/**
 * ms the edge and the cloud spend compressing / restoring a tensor: element-wise work, plus the
 * channel reduction's convolutions (pca and learned=K: 1×1 to K channels and back; learned=K/s2:
 * a 3×3 stride-2 reduce, 9/4 of the 1×1's work, and a 2×2 stride-2 transposed recover).
 */
export function codecMs(opts: PlanOptions, spec: CompressSpec, raw: number, wire: number): number {
  if (spec.stages.length === 0) return 0;
  const reducer = spec.stages.find(isReducer);
  const elements = raw / 4;
  const macs = reducer ? elements * reducer.k : 0;
  const reduceMacs = reducer?.kind === 'learned' && reducer.stride === 2 ? (macs * 9) / 4 : macs;
  const f = (name: string, m: number): NodeFeatures => ({ name, opType: reducer ? 'Conv' : 'QuantizeLinear', macs: m, bytes: raw + wire });
  return predictNodeMs(opts.edge, f('splitc.compress', reduceMacs), undefined) + predictNodeMs(opts.cloud, f('splitc.restore', macs), undefined);
}

// ---------------------------------------------------------------------------------------
// Objective

export interface Costs {
  node: (i: number, side: 'edge' | 'cloud') => number;
  tensor: (t: PlanTensor, option: number) => number;
  crossing: number;
}

export function objectiveCosts(pg: PlanGraph, opts: PlanOptions, objective: Objective): Costs {
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

export function toProblem(pg: PlanGraph, costs: Costs, optionIdx: number[], scaleTransfer = 1): PartitionProblem {
  return {
    nodes: pg.nodes.map((_, i) => ({ edgeCost: costs.node(i, 'edge'), cloudCost: costs.node(i, 'cloud') })),
    tensors: pg.tensors.map((t) => ({ producer: t.producer, consumers: t.consumers, transferCost: optionIdx.map((k) => costs.tensor(t, k) * scaleTransfer) })),
    options: optionIdx.map((k) => pg.optionNames[k]!),
    optionMode: 'global',
    crossingCost: costs.crossing * scaleTransfer,
  };
}
