// `splitc plan` and `splitc build`'s printing: the plan table (baselines, the Pareto front, the
// chosen plan marked), chain and multi-input tables, and what build certifies. The work is in
// src/pipeline/ (plan.ts, build.ts).

import type { BuildRun } from '../pipeline/build.js';
import type { ChainPlanResult } from '../search/plan/chain.js';
import type { MultiInputPlanResult } from '../search/plan/multi-input.js';
import type { Candidate, Plan } from '../search/plan/types.js';
import { gainSummary } from '../search/plan/split.js';
import { bytes } from './format.js';

export { parseByteSize, runChainPlan, runMultiInputPlan, runPlan } from '../pipeline/plan.js';
export { runBuild } from '../pipeline/build.js';

const f2 = (x: number): string => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));

function candidateRow(c: Candidate, chosen: Candidate): string[] {
  const cut = c.cutTensors.length === 0 ? '–' : c.cutTensors.length <= 2 ? c.cutTensors.join(', ') : `${c.cutTensors[0]}, … (${c.cutTensors.length} tensors)`;
  // link ms: everything the network costs (uplink, round trip, downlink of the results); cloud ms: its compute only
  const risk = c.cutTensors.length === 0 ? '–' : c.risk === null ? '?' : c.risk.toFixed(3);
  return [c === chosen ? '→' : '', c.kind, cut, c.compress, f2(c.edgeMs), f2(c.uplinkMs + c.rttMs + c.downlinkMs), f2(c.cloudMs), f2(c.totalMs), bytes(c.bytesPerSample), bytes(c.edgeMemoryBytes), risk, c.infeasible !== undefined ? `infeasible (${c.infeasible.split(':')[0]})` : c.violates.join(',')];
}

/** The readable table: baselines, the Pareto front, the chosen plan marked. */
export function formatPlan(plan: Plan): string {
  const c = plan.chosen;
  const rows = [plan.baselines.cloudOnly, plan.baselines.edgeOnly, ...plan.pareto.filter((x) => x.kind === 'split').slice(0, 12)];
  if (!rows.includes(c)) rows.push(c);
  // the risk column only when some candidate has one (measured for --max-risk low|medium, or from a risk table)
  const withRisk = plan.candidates.some((x) => x.risk !== null && x.cutTensors.length > 0);
  const keep = (r: string[]): string[] => (withRisk ? r : [...r.slice(0, 10), ...r.slice(11)]);
  const table = [keep(['', 'kind', 'cut', 'compress', 'edge ms', 'link ms', 'cloud ms', 'total ms', 'bytes', 'edge mem', 'risk', 'violates']), ...rows.map((r) => keep(candidateRow(r, c)))];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
  const lines = table.map((r) => r.map((cell, i) => (i >= 4 && i <= (withRisk ? 10 : 9) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ').trimEnd());
  const p = plan.profiles;
  return [
    `plan for ${plan.model.file ?? 'model'}: edge ${p.edge.name}, link ${p.link.name} (${p.link.uplinkMbps} Mbps up, ${p.link.rttMs} ms RTT), cloud ${p.cloud.name}; objective ${plan.objective}`,
    ...lines,
    `chosen: ${c.kind}${c.cutTensors.length ? ` at ${c.cutTensors.join(', ')}` : ''}, compression ${c.compress}: ${f2(c.totalMs)} ms predicted, ${gainSummary(plan)}${plan.exact ? ' (exact optimum)' : ' (best feasible; not proven optimal)'}`,
    ...plan.warnings.map((w) => `warning: ${w}`),
  ].join('\n');
}

export function formatChainPlan(plan: ChainPlanResult): string {
  const c = plan.chosen;
  const rows = [['tier', 'device', 'nodes', 'compute ms', 'then link', 'sends', 'bytes', 'link ms']];
  c.tiers.forEach((t, i) => {
    const h = c.hops[i];
    rows.push([String(i), t.device, String(t.nodes), f2(t.computeMs), h?.link ?? '', h ? String(h.tensors.length) : '', h ? bytes(h.bytesPerSample) : '', h ? f2(h.ms) : '']);
  });
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
  return [
    `chain plan for ${plan.model.file ?? 'model'} (exact optimum of latency over every tier assignment):`,
    ...lines,
    `total ${f2(c.totalMs)} ms predicted; single-tier baselines: ${plan.baselines.map((b) => `${b.device} ${f2(b.totalMs)} ms`).join(', ')}; ${plan.gainOverBestBaseline.toFixed(2)}× the best`,
  ].join('\n');
}

export function formatMultiInputPlan(plan: MultiInputPlanResult): string {
  const rows = [['device', 'link', 'inputs', 'nodes', 'compute ms', 'sends', 'bytes', 'transfer']];
  for (const d of plan.devices) {
    rows.push([d.device, d.link, d.inputs.join(','), String(d.nodes), f2(d.computeMs), String(d.sends.length), bytes(d.sends.reduce((a, s) => a + s.bytes, 0)), f2(d.transferMs)]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const unit = plan.objective === 'latency' ? 'ms' : 'J';
  return [
    `multi-input plan for ${plan.model.file ?? 'model'} (objective ${plan.objective}${plan.exact ? ', exact optimum' : ', heuristic: devices in parallel make latency a max, not a sum'}):`,
    ...rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()),
    `cloud ${plan.objective === 'latency' ? `${f2(plan.cloudMs)} ms` : ''}; total ${f2(plan.cost)} ${unit} predicted vs cloud-only ${f2(plan.cloudOnly)} ${unit}`,
  ].join('\n');
}

/** What `build` certifies: the plan's fidelity beside this bundle's (same data: same figures). */
export function formatBuildFidelity(run: Pick<BuildRun, 'certified' | 'measured' | 'plan'>): string {
  if (!run.measured) return `lossless: the bundle computes what the model computes (compression ${run.plan.chosen.compress})`;
  const pct = (x: number): string => `${(100 * x).toFixed(2)}%`;
  const lines = [`held-back agreement ${pct(run.measured.agreement)}${run.certified ? ` (the plan certified ${pct(run.certified.agreement)})` : ' (the plan measured none)'}`];
  for (const o of run.measured.outputs) lines.push(`  ${o.name}: ${o.metric} ${pct(o.value)}, max |error| ${o.maxAbsErr.toPrecision(3)}, mean cosine ${o.meanCosine.toFixed(6)}`);
  return lines.join('\n');
}
