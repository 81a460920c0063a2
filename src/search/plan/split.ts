// Split planning on a real model: price every node on the edge and the cloud device, every
// tensor on the link under each compression option, find the exact optimum with the min-cut
// search (partition/), gather candidate cuts for the table and the Pareto front (per-option
// optima, cuts at every position of a topological order, optima under swept link speeds),
// apply the constraints (edge memory, bytes per sample, fidelity, inversion risk) and return
// a self-contained plan: what `splitc build` turns into bundles.

import { SplitcError } from '../../ir/errors.js';
import type { Model } from '../../ir/graph.js';
import { formatCompressSpec, parseCompressSpec } from '../../passes/bottleneck/index.js';
import { solvePartition } from '../partition/edge-cloud.js';
import { PLAN_SCHEMA_VERSION, type PlanConstraints, type PlanOptions, type CandidateFigures, type Candidate, type Plan } from './types.js';
import { buildPlanGraph, objectiveCosts, toProblem } from './plan-graph.js';
import { type RawCandidate, figures, prefixCandidates, lossRank, cutKey } from './candidates.js';

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
