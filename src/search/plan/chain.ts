// Plans for multi-tier chains (sensor → phone → cloud): the K-tier search on a real model's
// predicted costs.

import { SplitcError } from '../../ir/errors.js';
import type { Dim, Model } from '../../ir/graph.js';
import { formatCompressSpec, parseCompressSpec } from '../../passes/bottleneck/index.js';
import { evaluateChainPartition, solveChainPartition } from '../partition/chain.js';
import type { DeviceProfile, LinkProfile } from '../profiles/types.js';
import { predictNodeMs, transferMs } from '../profiles/predict.js';
import { PLAN_SCHEMA_VERSION, type PlanOptions } from './types.js';
import { type PlanGraph, valueBytes, buildPlanGraph, codecMs } from './plan-graph.js';

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
