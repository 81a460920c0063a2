// `splitc plan` and `splitc build`: choose the cut with the cost model and the min-cut search
// (src/search/plan.ts), write plan.json and a self-contained plan.html, print the table; then
// turn a plan into the bundles of `splitc split`.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SplitcError } from '../ir/errors.js';
import type { Dim } from '../ir/graph.js';
import { loadModelWithBytes } from '../ir/serde/io.js';
import { parseCompressSpec } from '../passes/bottleneck/index.js';
import { splitModel } from '../passes/cut.js';
import { calibrationSamples, modelInputs, splitSamples } from '../search/calib-data.js';
import { calibrateAndCompress } from '../search/calibrate.js';
import { measureFidelity } from '../search/fidelity.js';
import { type Candidate, type ChainPlanResult, type MultiInputPlanResult, type Objective, type Plan, planChain, type PlanConstraints, planMultiInput, planSplit, type RiskEntry, gainSummary } from '../search/plan.js';
import type { DeviceProfile, LinkProfile } from '../search/profile-types.js';
import { loadDeviceProfile, loadLinkProfile } from '../search/profiles.js';
import { calibSourceFrom, createCompressStep } from './compress-step.js';
import { bytes } from './format.js';
import { renderPlanHtml } from './plan-html.js';
import { runSplit, type SplitReport } from './split.js';

export interface PlanCliOptions {
  model: string;
  edge: string;
  cloud: string;
  link: string;
  objective?: Objective;
  /** Comma-separated compression specs, e.g. "int8,int4,pca=16+int8". */
  compressOptions?: string;
  maxEdgeMemory?: string;
  maxBytes?: string;
  minAgreement?: number;
  riskTable?: string;
  maxRisk?: number;
  shapes?: Record<string, Dim[]>;
  calib?: string;
  preprocess?: string;
  /** plan.json to write; the HTML page goes next to it (`.html`). */
  out: string;
  html?: string;
}

/** "512MB", "1.5GiB", "300kB", "1000000" → bytes. */
export function parseByteSize(text: string, what: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]i?)?[bB]?\s*$/.exec(text);
  if (!m) throw new SplitcError('E_BAD_ARGUMENT', `${what} '${text}' is not a size`, { hint: 'write e.g. 512MB, 1.5GiB, 300kB or a number of bytes' });
  const unit = (m[2] ?? '').toLowerCase();
  const base = unit.endsWith('i') ? 1024 : 1000;
  const power = { '': 0, k: 1, m: 2, g: 3, t: 4 }[unit.replace('i', '') as '' | 'k' | 'm' | 'g' | 't'];
  return Math.round(Number(m[1]) * base ** power);
}

function readRiskTable(file: string): RiskEntry[] {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new SplitcError('E_BAD_ARGUMENT', `risk table ${file} cannot be read: ${(e as Error).message}`, { hint: 'a JSON file {"cuts": [{"tensors": ["a"], "risk": 0.2}]}' });
  }
  const cuts = (json as { cuts?: unknown }).cuts;
  if (!Array.isArray(cuts) || !cuts.every((c) => c && Array.isArray(c.tensors) && c.tensors.every((t: unknown) => typeof t === 'string') && typeof c.risk === 'number' && Number.isFinite(c.risk))) {
    throw new SplitcError('E_BAD_ARGUMENT', `risk table ${file} must be {"cuts": [{"tensors": [names], "risk": number}]}`);
  }
  return cuts as RiskEntry[];
}

function writeAtomic(file: string, text: string): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw new SplitcError('E_IO', `cannot write ${file}: ${(e as Error).message}`, { cause: e });
  }
}

export async function runPlan(opts: PlanCliOptions): Promise<{ plan: Plan; files: string[] }> {
  const edge = loadDeviceProfile(opts.edge);
  const cloud = loadDeviceProfile(opts.cloud);
  const link = loadLinkProfile(opts.link);
  const compressOptions = (opts.compressOptions ?? 'none').split(',').map((s) => s.trim()).filter(Boolean);
  compressOptions.forEach(parseCompressSpec); // reject a bad spec before loading anything
  const constraints: PlanConstraints = {};
  if (opts.maxEdgeMemory !== undefined) constraints.maxEdgeMemoryBytes = parseByteSize(opts.maxEdgeMemory, '--max-edge-memory');
  if (opts.maxBytes !== undefined) constraints.maxBytesPerSample = parseByteSize(opts.maxBytes, '--max-bytes');
  if (opts.minAgreement !== undefined) {
    if (!(opts.minAgreement > 0 && opts.minAgreement <= 1)) throw new SplitcError('E_BAD_ARGUMENT', `--min-agreement must be in (0, 1], got ${opts.minAgreement}`, { hint: 'e.g. 0.99 for 99% top-1 agreement' });
    constraints.minAgreement = opts.minAgreement;
  }
  if (opts.maxRisk !== undefined) constraints.maxRisk = opts.maxRisk;
  const riskTable = opts.riskTable !== undefined ? readRiskTable(opts.riskTable) : undefined;

  const { model, bytes } = loadModelWithBytes(opts.model);
  const sha256 = crypto.createHash('sha256').update(bytes).digest('hex');
  const needsCalib = constraints.minAgreement !== undefined && compressOptions.some((c) => parseCompressSpec(c).stages.length > 0);
  let measureAgreement: ((cut: string[], compress: string) => Promise<number>) | undefined;
  if (needsCalib) {
    if (opts.calib === undefined) throw new SplitcError('E_BAD_ARGUMENT', '--min-agreement with lossy compression options needs --calib', { hint: 'pass a folder of images (with --preprocess), .npy files, or random[:N]' });
    measureAgreement = async (cut, compress) => {
      const samples = calibrationSamples(calibSourceFrom({ calib: opts.calib, preprocess: opts.preprocess }), modelInputs(model));
      const sets = splitSamples(samples, { heldOutFraction: 0.25, seed: 1 });
      const split = splitModel(model, cut);
      const { compressed } = await calibrateAndCompress(split, parseCompressSpec(compress), sets.calibration);
      const report = await measureFidelity(model, compressed, sets);
      const outs = report.heldOut.outputs;
      // Top-1 agreement where the outputs look like class scores, else the mean cosine.
      const scores = outs.map((o) => o.top1Agreement ?? o.cosine);
      return Math.min(...scores);
    };
  }
  const plan = await planSplit(
    model,
    {
      edge,
      cloud,
      link,
      ...(opts.objective ? { objective: opts.objective } : {}),
      compressOptions,
      ...(opts.shapes ? { inputShapes: opts.shapes } : {}),
      modelSha256: sha256,
      constraints,
      ...(riskTable ? { riskTable } : {}),
      ...(measureAgreement ? { measureAgreement } : {}),
    },
    { file: opts.model },
  );
  const html = opts.html ?? opts.out.replace(/\.json$/i, '') + '.html';
  writeAtomic(opts.out, JSON.stringify(plan, null, 2) + '\n');
  writeAtomic(html, renderPlanHtml(plan));
  return { plan, files: [opts.out, html] };
}

const f2 = (x: number): string => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const bytesText = bytes;

function candidateRow(c: Candidate, chosen: Candidate): string[] {
  const cut = c.cutTensors.length === 0 ? '–' : c.cutTensors.length <= 2 ? c.cutTensors.join(', ') : `${c.cutTensors[0]}, … (${c.cutTensors.length} tensors)`;
  // link ms: everything the network costs (uplink, round trip, downlink of the results); cloud ms: its compute only
  return [c === chosen ? '→' : '', c.kind, cut, c.compress, f2(c.edgeMs), f2(c.uplinkMs + c.rttMs + c.downlinkMs), f2(c.cloudMs), f2(c.totalMs), bytesText(c.bytesPerSample), bytesText(c.edgeMemoryBytes), c.infeasible !== undefined ? `infeasible (${c.infeasible.split(':')[0]})` : c.violates.join(',')];
}

/** The readable table: baselines, the Pareto front, the chosen plan marked. */
export function formatPlan(plan: Plan): string {
  const c = plan.chosen;
  const rows = [plan.baselines.cloudOnly, plan.baselines.edgeOnly, ...plan.pareto.filter((x) => x.kind === 'split').slice(0, 12)];
  if (!rows.includes(c)) rows.push(c);
  const table = [['', 'kind', 'cut', 'compress', 'edge ms', 'link ms', 'cloud ms', 'total ms', 'bytes', 'edge mem', 'violates'], ...rows.map((r) => candidateRow(r, c))];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
  const lines = table.map((r) => r.map((cell, i) => (i >= 4 && i <= 9 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ').trimEnd());
  const p = plan.profiles;
  return [
    `plan for ${plan.model.file ?? 'model'}: edge ${p.edge.name}, link ${p.link.name} (${p.link.uplinkMbps} Mbps up, ${p.link.rttMs} ms RTT), cloud ${p.cloud.name}; objective ${plan.objective}`,
    ...lines,
    `chosen: ${c.kind}${c.cutTensors.length ? ` at ${c.cutTensors.join(', ')}` : ''}, compression ${c.compress}: ${f2(c.totalMs)} ms predicted, ${gainSummary(plan)}${plan.exact ? ' (exact optimum)' : ' (best feasible; not proven optimal)'}`,
    ...plan.warnings.map((w) => `warning: ${w}`),
  ].join('\n');
}

export interface BuildCliOptions {
  plan: string;
  outDir: string;
  toolVersion: string;
  calib?: string;
  preprocess?: string;
  /** Overrides the model path recorded in the plan. */
  model?: string;
}

/** `splitc build plan.json -o dir`: the bundles of `splitc split` for the plan's chosen cut. */
export async function runBuild(opts: BuildCliOptions): Promise<{ report: SplitReport }> {
  let plan: Plan;
  try {
    plan = JSON.parse(fs.readFileSync(opts.plan, 'utf8')) as Plan;
  } catch (e) {
    throw new SplitcError('E_PLAN', `cannot read plan ${opts.plan}: ${(e as Error).message}`, { hint: 'write one with splitc plan <model> ... -o plan.json' });
  }
  if (plan?.kind !== 'splitc-plan' || plan.schemaVersion !== 1 || !plan.chosen) {
    throw new SplitcError('E_PLAN', `${opts.plan} is not a splitc plan (schema 1)`, { hint: 'write one with splitc plan <model> ... -o plan.json' });
  }
  const modelFile = opts.model ?? plan.model.file;
  if (!modelFile) throw new SplitcError('E_PLAN', `plan ${opts.plan} names no model file`, { hint: 'pass --model <file>' });
  if (plan.model.sha256) {
    let actual: string;
    try {
      actual = crypto.createHash('sha256').update(fs.readFileSync(modelFile)).digest('hex');
    } catch (e) {
      throw new SplitcError('E_PLAN', `the plan's model ${modelFile} cannot be read: ${(e as Error).message}`, { hint: 'pass --model <file> if it moved' });
    }
    if (actual !== plan.model.sha256) {
      throw new SplitcError('E_PLAN', `${modelFile} is not the model the plan was made for (sha256 ${actual.slice(0, 12)}…, plan says ${plan.model.sha256.slice(0, 12)}…)`, {
        hint: 'plan again for this model',
      });
    }
  }
  const c = plan.chosen;
  if (c.kind !== 'split') {
    throw new SplitcError('E_PLAN', `the plan chose ${c.kind}: there is nothing to split`, {
      hint: c.kind === 'cloud-only' ? 'serve the whole model with splitc serve' : 'run the whole model on the edge',
    });
  }
  const compressStep = createCompressStep({ calib: opts.calib, preprocess: opts.preprocess });
  const { report } = await runSplit(
    {
      model: modelFile,
      cut: c.cutTensors,
      ...(c.compress !== 'none' ? { compress: c.compress, ...(opts.calib !== undefined ? { calib: opts.calib } : {}) } : {}),
      shapes: plan.model.inputShapes,
      outDir: opts.outDir,
      toolVersion: opts.toolVersion,
    },
    { compress: compressStep.step },
  );
  return { report };
}

export interface ChainCliOptions {
  model: string;
  /** Devices in order, first holds the inputs, last is the cloud (presets or files). */
  devices: string[];
  links: string[];
  compressOptions?: string;
  shapes?: Record<string, Dim[]>;
  out: string;
}

/** `splitc plan --edge A --via B --cloud C --link L1 --link L2`: the K-tier chain plan. */
export function runChainPlan(opts: ChainCliOptions): { plan: ChainPlanResult; files: string[] } {
  const devices = opts.devices.map(loadDeviceProfile);
  const links = opts.links.map(loadLinkProfile);
  const compressOptions = (opts.compressOptions ?? 'none').split(',').map((s) => s.trim()).filter(Boolean);
  compressOptions.forEach(parseCompressSpec);
  const { model, bytes } = loadModelWithBytes(opts.model);
  const sha256 = crypto.createHash('sha256').update(bytes).digest('hex');
  const plan = planChain(model, { devices, links, compressOptions, ...(opts.shapes ? { inputShapes: opts.shapes } : {}), modelSha256: sha256 }, { file: opts.model });
  writeAtomic(opts.out, JSON.stringify(plan, null, 2) + '\n');
  return { plan, files: [opts.out] };
}

export function formatChainPlan(plan: ChainPlanResult): string {
  const c = plan.chosen;
  const rows = [['tier', 'device', 'nodes', 'compute ms', 'then link', 'sends', 'bytes', 'link ms']];
  c.tiers.forEach((t, i) => {
    const h = c.hops[i];
    rows.push([String(i), t.device, String(t.nodes), f2(t.computeMs), h?.link ?? '', h ? String(h.tensors.length) : '', h ? bytesText(h.bytesPerSample) : '', h ? f2(h.ms) : '']);
  });
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
  return [
    `chain plan for ${plan.model.file ?? 'model'} (exact optimum of latency over every tier assignment):`,
    ...lines,
    `total ${f2(c.totalMs)} ms predicted; single-tier baselines: ${plan.baselines.map((b) => `${b.device} ${f2(b.totalMs)} ms`).join(', ')}; ${plan.gainOverBestBaseline.toFixed(2)}× the best`,
  ].join('\n');
}

export interface MultiInputCliOptions {
  model: string;
  /** "input=device@link" per model input. */
  inputDevices: string[];
  cloud: string;
  objective?: Objective;
  compressOptions?: string;
  shapes?: Record<string, Dim[]>;
  out: string;
}

/** `splitc plan --input-device x=phone-wasm@lte --input-device y=...`: inputs on several devices. */
export function runMultiInputPlan(opts: MultiInputCliOptions): { plan: MultiInputPlanResult; files: string[] } {
  const inputs: Record<string, { device: DeviceProfile; link: LinkProfile }> = {};
  for (const spec of opts.inputDevices) {
    const m = /^([^=]+)=([^@]+)@(.+)$/.exec(spec.trim());
    if (!m) throw new SplitcError('E_BAD_ARGUMENT', `--input-device '${spec}' is not input=device@link`, { hint: 'e.g. --input-device left=phone-wasm@lte --input-device right=low-power-board@wifi' });
    inputs[m[1]!] = { device: loadDeviceProfile(m[2]!), link: loadLinkProfile(m[3]!) };
  }
  const compressOptions = (opts.compressOptions ?? 'none').split(',').map((s) => s.trim()).filter(Boolean);
  compressOptions.forEach(parseCompressSpec);
  const { model, bytes } = loadModelWithBytes(opts.model);
  const sha256 = crypto.createHash('sha256').update(bytes).digest('hex');
  const plan = planMultiInput(
    model,
    { inputs, cloud: loadDeviceProfile(opts.cloud), ...(opts.objective ? { objective: opts.objective } : {}), compressOptions, ...(opts.shapes ? { inputShapes: opts.shapes } : {}), modelSha256: sha256 },
    { file: opts.model },
  );
  writeAtomic(opts.out, JSON.stringify(plan, null, 2) + '\n');
  return { plan, files: [opts.out] };
}

export function formatMultiInputPlan(plan: MultiInputPlanResult): string {
  const rows = [['device', 'link', 'inputs', 'nodes', 'compute ms', 'sends', 'bytes', 'transfer']];
  for (const d of plan.devices) {
    rows.push([d.device, d.link, d.inputs.join(','), String(d.nodes), f2(d.computeMs), String(d.sends.length), bytesText(d.sends.reduce((a, s) => a + s.bytes, 0)), f2(d.transferMs)]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const unit = plan.objective === 'latency' ? 'ms' : 'J';
  return [
    `multi-input plan for ${plan.model.file ?? 'model'} (objective ${plan.objective}${plan.exact ? ', exact optimum' : ', heuristic: devices in parallel make latency a max, not a sum'}):`,
    ...rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()),
    `cloud ${plan.objective === 'latency' ? `${f2(plan.cloudMs)} ms` : ''}; total ${f2(plan.cost)} ${unit} predicted vs cloud-only ${f2(plan.cloudOnly)} ${unit}`,
  ].join('\n');
}
