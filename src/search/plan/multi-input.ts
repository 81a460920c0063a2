// Plans for multi-input models whose inputs live on several devices (views): the multi-input
// search on a real model's predicted costs.

import { SplitcError } from '../../ir/errors.js';
import type { Dim, Model } from '../../ir/graph.js';
import { constantPredicate } from '../../ir/constants.js';
import { formatCompressSpec, parseCompressSpec } from '../../passes/bottleneck/index.js';
import { evaluateMultiInputPartition } from '../partition/multi-input.js';
import { solveMultiInputPartition } from '../partition/multi-input-search.js';
import type { DeviceProfile, LinkProfile } from '../profiles/types.js';
import { computeEnergyJ, predictNodeMs, transferMs } from '../profiles/predict.js';
import { PLAN_SCHEMA_VERSION, type Objective, type PlanOptions } from './types.js';
import { type PlanTensor, buildPlanGraph, codecMs } from './plan-graph.js';
import { unknownInput } from '../../passes/diagnostics.js';

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
  if (unknown.length) throw unknownInput(unknown, inputNames);
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
