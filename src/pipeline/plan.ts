// `splitc plan`: choose the cut with the cost model and the min-cut search (src/search/plan/split.ts),
// measuring lossy candidates' fidelity through the same compress step `split` and `build` use,
// and write plan.json with what every figure was measured on (plan-file.ts). Also the K-tier
// chain and multi-input plans.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { SplitcError } from '../ir/errors.js';
import type { Dim } from '../ir/graph.js';
import { loadModelWithBytes } from '../ir/serde/io.js';
import { parseCompressSpec } from '../passes/bottleneck/index.js';
import { cutUnderManager } from '../passes/cut-pass.js';
import { PassContext } from '../passes/pass.js';
import { type ChainPlanResult, planChain } from '../search/plan/chain.js';
import { type MultiInputPlanResult, planMultiInput } from '../search/plan/multi-input.js';
import { planSplit } from '../search/plan/split.js';
import { type Objective, type Plan, type PlanConstraints, type RiskEntry } from '../search/plan/types.js';
import type { DeviceProfile, LinkProfile } from '../search/profiles/types.js';
import { loadDeviceProfile, loadLinkProfile } from '../search/profiles/load.js';
import { type Calibration, loadCalibration, loadTrainingData, type ProgressSink, type TrainingData } from './calibration.js';
import { compressAndMeasure, DEFAULT_TRAINING, fidelitySummary } from './compress.js';
import { inputRange, PROBES_PER_BUDGET, readData } from './audit.js';
import { auditCuts, defaultCacheDir } from '../audit/index.js';
import { DEFAULT_THRESHOLDS } from '../audit/metrics.js';
import { privateInput } from '../audit/target.js';
import type { CompressionConstants } from '../passes/bottleneck/compress.js';
import { calibrateAndCompress } from '../search/calibrate.js';
import { type FidelitySummary, PLAN_FILE_SCHEMA_VERSION, type PlanFile, type PlanTraining } from './plan-file.js';
import { specIsLearned } from './learn.js';
import * as path from 'node:path';
import { writeFileAtomic } from '../ir/temp-files.js';

export interface PlanRunOptions {
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
  /** A risk level ('low': SSIM < 0.3, 'medium': < 0.5; measured by a fast white-box audit) or a number compared with --risk-table. */
  maxRisk?: number | 'low' | 'medium';
  /** Real inputs the risk audit reconstructs (default: --calib, when it is real data). */
  probe?: string;
  shapes?: Record<string, Dim[]>;
  calib?: string;
  preprocess?: string;
  /** How learned candidates are trained: `train` data (default: the calibration set), epochs and seed (default DEFAULT_TRAINING's). */
  training?: { train?: string; epochs?: number; seed?: number };
  /** Keep the weights of learned candidates trained to measure them here, for `build` (none: no cache). */
  learnedCacheDir?: string;
  /** plan.json to write; the HTML page goes next to it (`.html`). */
  out: string;
  html?: string;
  /** Renders plan.html (the CLI's page; the pipeline does not know HTML). */
  renderHtml?: (plan: PlanFile) => string;
  toolVersion: string;
  progress?: ProgressSink;
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

/** Writes through a temp file and a rename: a failed write leaves nothing half-written. */
export function writeAtomic(file: string, text: string): void {
  writeFileAtomic(file, text);
}

export async function runPlan(opts: PlanRunOptions): Promise<{ plan: PlanFile; files: string[] }> {
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
  const riskLevel = opts.maxRisk === 'low' || opts.maxRisk === 'medium' ? opts.maxRisk : undefined;
  if (riskLevel) {
    // a level is measured, not looked up: SSIM of the strongest attack below the next level's threshold
    constraints.maxRisk = riskLevel === 'low' ? DEFAULT_THRESHOLDS.medium : DEFAULT_THRESHOLDS.high;
    constraints.maxRiskExclusive = true;
  } else if (typeof opts.maxRisk === 'number') constraints.maxRisk = opts.maxRisk;
  const riskTable = opts.riskTable !== undefined ? readRiskTable(opts.riskTable) : undefined;
  if (riskLevel && riskTable) throw new SplitcError('E_BAD_ARGUMENT', `--max-risk ${riskLevel} measures the risk; --risk-table gives numbers for --max-risk <number>`, { hint: 'use one of them' });

  const { model, bytes } = loadModelWithBytes(opts.model);
  const sha256 = crypto.createHash('sha256').update(bytes).digest('hex');
  const needsCalib = constraints.minAgreement !== undefined && compressOptions.some((c) => parseCompressSpec(c).stages.length > 0);
  if (opts.training?.train !== undefined && !compressOptions.some((c) => specIsLearned(parseCompressSpec(c)))) {
    throw new SplitcError('E_BAD_ARGUMENT', `--train applies to learned compression options, and '${compressOptions.join(',') || 'none'}' has none`, { hint: 'e.g. --compress-options int8,learned=16/s2+int4 --train images/' });
  }
  const schedule = { epochs: opts.training?.epochs ?? DEFAULT_TRAINING.epochs, seed: opts.training?.seed ?? DEFAULT_TRAINING.seed };
  let trainingData: TrainingData | undefined;
  let training: PlanTraining | null = null;
  // Lossy candidates are measured on one calibration set, read once; each measurement is kept
  // (by cut and compression) so the chosen one's figures go into plan.json for build to check.
  let calibration: Calibration | undefined;
  const ctx = new PassContext();
  const measured = new Map<string, FidelitySummary>();
  const keyOf = (cut: readonly string[], compress: string): string => `${[...cut].sort().join('\0')}|${compress}`;
  let measureAgreement: ((cut: string[], compress: string) => Promise<number>) | undefined;
  if (needsCalib) {
    if (opts.calib === undefined) throw new SplitcError('E_BAD_ARGUMENT', '--min-agreement with lossy compression options needs --calib', { hint: 'pass a folder of images (with --preprocess), .npy files, or random[:N]' });
    measureAgreement = async (cut, compress) => {
      calibration ??= loadCalibration(model, { calib: opts.calib, preprocess: opts.preprocess, ...(opts.progress ? { progress: opts.progress } : {}) }, ctx);
      const split = cutUnderManager(model, cut);
      const spec = parseCompressSpec(compress);
      const train = opts.training?.train;
      if (specIsLearned(spec)) {
        // read once, and recorded in plan.json so that build trains the chosen candidate alike
        if (train !== undefined) trainingData ??= loadTrainingData(model, { train, preprocess: opts.preprocess, ...(opts.progress ? { progress: opts.progress } : {}) }, ctx);
        training ??= { source: train ?? null, ...(train !== undefined ? { path: path.resolve(train) } : {}), sha256: trainingData?.provenance.sha256 ?? calibration.provenance.sha256, ...schedule };
      }
      const setup = { ...DEFAULT_TRAINING, ...schedule, ...(trainingData ? { data: trainingData } : {}), ...(opts.learnedCacheDir !== undefined ? { cache: { dir: opts.learnedCacheDir, modelSha256: sha256 } } : {}) };
      const { fidelity } = await compressAndMeasure(model, split, spec, calibration, { training: setup, ...(opts.progress ? { progress: opts.progress } : {}) });
      const summary = fidelitySummary(fidelity);
      measured.set(keyOf(cut, compress), summary);
      return summary.agreement;
    };
  }
  let measureRisk: ((cut: string[], compress: string) => Promise<number>) | undefined;
  let riskAudit: PlanFile['riskAudit'] = null;
  if (riskLevel) {
    const probeText = opts.probe ?? opts.calib;
    if (probeText === undefined || /^random/.test(probeText)) {
      throw new SplitcError('E_BAD_ARGUMENT', `--max-risk ${riskLevel} attacks candidates on real inputs: pass --probe (or --calib) with images, .npy or IDX files`, { hint: 'random data says nothing about how well real inputs can be reconstructed' });
    }
    const probes = readData(model, opts.shapes ?? {}, probeText, opts.preprocess, PROBES_PER_BUDGET.fast, '--probe');
    const input = privateInput(model);
    const { range } = inputRange(input.dims[0]!, probes.preprocess, probes.samples);
    riskAudit = { attacks: ['whitebox'], budget: 'fast', probes: { source: probes.source, sha256: probes.sha256, count: probes.samples.length }, metric: 'ssim' };
    measureRisk = async (cut, compress) => {
      const spec = parseCompressSpec(compress);
      let compression: { constants: CompressionConstants; wireBytes: number | null } | null = null;
      if (spec.stages.length) {
        calibration ??= loadCalibration(model, { calib: opts.calib ?? probeText, preprocess: opts.preprocess, ...(opts.progress ? { progress: opts.progress } : {}) }, ctx);
        // the constants only: fidelity is --min-agreement's business
        const { compressed } = await calibrateAndCompress(cutUnderManager(model, cut), spec, calibration.sets.calibration, opts.progress ? { onProgress: opts.progress.task('calibrating') } : {});
        compression = { constants: compressed.constants, wireBytes: null };
      }
      const run = await auditCuts({
        model,
        modelSha256: sha256,
        cuts: [{ tensors: cut, label: cut.join('+'), depth: 0 }],
        ...(compression ? { compression: async () => compression } : {}),
        probes,
        attacks: ['whitebox'],
        budget: 'fast',
        range,
        cacheDir: defaultCacheDir(),
        toolVersion: opts.toolVersion,
        ...(opts.progress ? { onProgress: ((bar) => (p: { done: number; total: number }) => bar(p))(opts.progress.task(`attacking ${cut.length === 1 ? cut[0] : `${cut.length} tensors`} (${compress})`)) } : {}),
      });
      const c = run.report.cuts[0]!;
      if (c.ssim === null) throw new SplitcError('E_AUDIT', `no attack ran on the cut ${cut.join(', ')}`);
      return c.ssim;
    };
  }
  let plan: Plan;
  try {
    plan = await planSplit(
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
        ...(measureRisk ? { measureRisk } : {}),
      },
      { file: opts.model },
    );
  } finally {
    opts.progress?.stop();
  }
  const file: PlanFile = {
    ...plan,
    schemaVersion: PLAN_FILE_SCHEMA_VERSION,
    tool: { name: 'splitc', version: opts.toolVersion },
    calibration: calibration?.provenance ?? null,
    chosenFidelity: measured.get(keyOf(plan.chosen.cutTensors, plan.chosen.compress)) ?? null,
    riskAudit,
    ...(training ? { training } : {}),
    warnings: [...plan.warnings, ...ctx.diagnostics.map((d) => `${d.code}: ${d.message}`)],
  };
  const html = opts.html ?? opts.out.replace(/\.json$/i, '') + '.html';
  writeAtomic(opts.out, JSON.stringify(file, null, 2) + '\n');
  const files = [opts.out];
  if (opts.renderHtml) {
    writeAtomic(html, opts.renderHtml(file));
    files.push(html);
  }
  return { plan: file, files };
}

export interface ChainRunOptions {
  model: string;
  /** Devices in order, first holds the inputs, last is the cloud (presets or files). */
  devices: string[];
  links: string[];
  compressOptions?: string;
  shapes?: Record<string, Dim[]>;
  out: string;
}

/** `splitc plan --edge A --via B --cloud C --link L1 --link L2`: the K-tier chain plan. */
export function runChainPlan(opts: ChainRunOptions): { plan: ChainPlanResult; files: string[] } {
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

export interface MultiInputRunOptions {
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
export function runMultiInputPlan(opts: MultiInputRunOptions): { plan: MultiInputPlanResult; files: string[] } {
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

