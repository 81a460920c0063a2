// `splitc audit` and the programmatic `audit()`: read the model, the probes (and auxiliary
// data), resolve the cuts, compress each cut as a bundle would (calibrated on --calib, the
// probes by default), run the attacks (src/audit/) and write report.json and report.html.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { auditCuts, type AuditData, type AuditRun, defaultCacheDir, resolveCuts } from '../audit/index.js';
import { privateInput } from '../audit/target.js';
import { renderAuditHtml } from '../audit/report-html.js';
import { ATTACK_NAMES, type AttackName, BUDGETS, type Budget, type InputRange, type RiskThresholds } from '../audit/types.js';
import { SplitcError, unknownName } from '../ir/errors.js';
import type { Dim, Model } from '../ir/graph.js';
import type { Json } from '../codegen/input.js';
import { type CompressedSplit, wireBytesPerSample } from '../passes/bottleneck/compress.js';
import { loadModelWithBytes } from '../ir/serde/io.js';
import { parseCompressSpec } from '../passes/bottleneck/spec.js';
import { cutUnderManager } from '../passes/cut-pass.js';
import { PassContext } from '../passes/pass.js';
import { inferShapes } from '../passes/shape/index.js';
import { type CalibSample, calibrationSamples, type ImagePreprocess, modelInputs } from '../search/calib-data.js';
import { calibrationSha256, calibSourceFrom, loadCalibration, type ProgressSink } from './calibration.js';
import { compressAndMeasure, fidelitySummary } from './compress.js';
import { createHash } from 'node:crypto';
import { writeAtomic } from './plan.js';

export interface AuditOptions {
  model: string;
  /** 'auto', or items `after:<node>` / `t1+t2` (one cut of several tensors). */
  cuts?: 'auto' | string[];
  /** Probe inputs: a folder of images (needs `preprocess`) or .npy files, a .npy file, or an IDX image file (MNIST-style, `…idx3-ubyte[.gz]`). */
  probe: string;
  /** Auxiliary data for the decoder attack (same forms). */
  aux?: string;
  attacks?: AttackName[];
  budget?: Budget;
  /** Compression spec of the cut, as in `split --compress` ('none' when absent). */
  compress?: string;
  /** Defences to measure at every cut (single stages: `noise=S`, `dropout=P`), each before `compress`. */
  defences?: string[];
  /** Calibration data for the compression (default: the probes). */
  calib?: string;
  preprocess?: string;
  shapes?: Record<string, Dim[]>;
  thresholds?: RiskThresholds;
  /** Probes used at most (the first ones by name); default by budget. */
  maxProbes?: number;
  seed?: number;
  threads?: number;
  /** Folder of cached results (default ~/.cache/splitc/audit); null: no cache. */
  cacheDir?: string | null;
  /** Where report.json and report.html go (nothing written when absent). */
  outDir?: string;
  toolVersion: string;
  progress?: ProgressSink;
}

export const PROBES_PER_BUDGET: Record<Budget, number> = { fast: 4, standard: 8, thorough: 16 };

export interface AuditPipelineRun extends AuditRun {
  files: string[];
  warnings: { code: string; message: string }[];
}

function parseAttacks(list: readonly string[]): AttackName[] {
  for (const a of list) {
    if (!(ATTACK_NAMES as readonly string[]).includes(a)) {
      throw unknownName('attack', a, ATTACK_NAMES);
    }
  }
  return [...new Set(list)] as AttackName[];
}

/** Auxiliary samples read at most (a decoder trains on far fewer at every budget). */
export const MAX_AUX = 20000;

/** The single input of a sample, as float32. */
export function inputFloats(sample: CalibSample): Float32Array {
  const t = Object.values(sample.load())[0]!;
  return t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as ArrayLike<number>);
}

/** Read probe or auxiliary samples of the model's single input. */
export function readData(model: Model, shapes: Record<string, Dim[]>, text: string, preprocess: string | undefined, limit: number, what: string): AuditData & { preprocess: ImagePreprocess | null } {
  const source = calibSourceFrom({ calib: text, preprocess });
  if (source.kind === 'random') throw new SplitcError('E_BAD_ARGUMENT', `${what} must be real inputs (a folder of images or .npy files, or a .npy file), not '${text}'`, { hint: 'an audit of random noise says nothing about real inputs' });
  const samples = calibrationSamples(source, modelInputs(model, shapes)).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).slice(0, limit);
  if (samples.length === 0) throw new SplitcError('E_CALIB', `${what} '${text}' holds no samples`);
  return {
    samples: samples.map(inputFloats),
    ids: samples.map((s) => s.id),
    source: text,
    sha256: createHash('sha256').update(calibrationSha256(source, source.kind === 'images' || source.kind === 'idx' ? preprocess : undefined)).update(`\0limit=${limit}`).digest('hex'),
    preprocess: source.kind === 'images' || source.kind === 'idx' ? source.preprocess : null,
  };
}

/** The valid input range per channel: from the preprocessing (pixels 0–255), else the data's own extremes. */
export function inputRange(channels: number, pre: ImagePreprocess | null, data: readonly Float32Array[]): { range: InputRange; fromData: boolean } {
  if (pre) {
    const lo: number[] = [];
    const hi: number[] = [];
    for (let c = 0; c < channels; c++) {
      const mean = pre.mean[pre.mean.length === 1 ? 0 : c] ?? 0;
      const std = pre.std[pre.std.length === 1 ? 0 : c] ?? 1;
      const a = (0 * pre.scale - mean) / std;
      const b = (255 * pre.scale - mean) / std;
      lo.push(Math.min(a, b));
      hi.push(Math.max(a, b));
    }
    return { range: { lo, hi }, fromData: false };
  }
  const lo = new Array<number>(channels).fill(Infinity);
  const hi = new Array<number>(channels).fill(-Infinity);
  for (const x of data) {
    const plane = x.length / channels;
    for (let c = 0; c < channels; c++) {
      for (let i = c * plane; i < (c + 1) * plane; i++) {
        if (x[i]! < lo[c]!) lo[c] = x[i]!;
        if (x[i]! > hi[c]!) hi[c] = x[i]!;
      }
    }
  }
  for (let c = 0; c < channels; c++) if (!(hi[c]! > lo[c]!)) hi[c] = lo[c]! + 1;
  return { range: { lo, hi }, fromData: true };
}

/** Audit the cuts of a model file; writes report.json and report.html into `outDir` when given. */
export async function audit(o: AuditOptions): Promise<AuditPipelineRun> {
  const budget = o.budget ?? 'fast';
  if (!BUDGETS.includes(budget)) throw unknownName('budget', budget, BUDGETS);
  const attacks = parseAttacks(o.attacks ?? ['whitebox']);
  const spec = parseCompressSpec(o.compress ?? 'none');
  const { model, bytes } = loadModelWithBytes(o.model);
  const shapes = o.shapes ?? {};
  const ctx = new PassContext();
  inferShapes(model, { inputShapes: shapes, ctx });
  const input = privateInput(model);
  const limit = o.maxProbes ?? PROBES_PER_BUDGET[budget];
  const probes = readData(model, shapes, o.probe, o.preprocess, limit, '--probe');
  const aux = o.aux !== undefined ? readData(model, shapes, o.aux, o.preprocess, MAX_AUX, '--aux') : undefined;
  const { range, fromData } = inputRange(input.dims[0]!, probes.preprocess, [...probes.samples, ...(aux?.samples ?? [])]);
  const warnings: { code: string; message: string }[] = [];
  if (fromData) warnings.push({ code: 'W_AUDIT_RANGE_FROM_DATA', message: `the input's valid range is taken from the data's extremes per channel (no --preprocess): [${range.lo.map((v) => v.toFixed(3)).join(', ')}] to [${range.hi.map((v) => v.toFixed(3)).join(', ')}]` });
  if (aux && probes.sha256 === aux.sha256) warnings.push({ code: 'W_AUDIT_AUX_IS_PROBES', message: 'the auxiliary data are the probes: the decoder is trained on the images it reconstructs' });
  const cuts = resolveCuts(model, o.cuts ?? 'auto', shapes);
  const defences = (o.defences ?? []).map((d) => d.trim()).filter(Boolean);
  for (const d of defences) {
    const stages = parseCompressSpec(d).stages;
    if (stages.length !== 1 || (stages[0]!.kind !== 'noise' && stages[0]!.kind !== 'dropout')) {
      throw new SplitcError('E_BAD_ARGUMENT', `'${d}' is not a defence`, { hint: 'defences are single stages: noise=S (S × the calibrated std) or dropout=P, e.g. --defences noise=0.5,noise=1,dropout=0.25' });
    }
  }
  const calibration = spec.stages.length || defences.length ? loadCalibration(model, { calib: o.calib ?? o.probe, preprocess: o.preprocess }, ctx) : null;
  const specText = o.compress ?? 'none';
  const run = await auditCuts({
    model,
    modelSha256: createHash('sha256').update(bytes).digest('hex'),
    modelFile: path.basename(o.model),
    cuts,
    ...(calibration
      ? {
          compression: async (cut, defence) => {
            const text = defence === undefined ? specText : specText === 'none' ? defence : `${defence}+${specText}`;
            const s = parseCompressSpec(text);
            if (s.stages.length === 0) return null;
            const split = cutUnderManager(model, cut.tensors);
            // the defences' draws are seeded here, so a measured utility is repeatable
            const { compressed, fidelity } = await compressAndMeasure(model, split, { ...s, seed: o.seed ?? 1 }, calibration, { ctx });
            const f = fidelitySummary(fidelity);
            return { constants: compressed.constants, wireBytes: wireBytesPerSample(compressed.wire), utility: { metric: f.outputs.every((x) => x.metric === 'top-1') ? 'top1' : 'cosine', value: f.agreement } };
          },
          ...(defences.length ? { defences } : {}),
        }
      : {}),
    probes,
    ...(aux ? { aux } : {}),
    attacks,
    budget,
    range,
    ...(o.thresholds ? { thresholds: o.thresholds } : {}),
    seed: o.seed ?? 1,
    threads: o.threads ?? 0,
    cacheDir: o.cacheDir === undefined ? defaultCacheDir() : o.cacheDir,
    toolVersion: o.toolVersion,
    ...(o.progress
      ? {
          onProgress: (() => {
            const bars = new Map<string, (p: { done: number; total: number }) => void>();
            return (p) => {
              const label = `${cuts[p.cut]!.label} ${p.attack} (${p.cut + 1}/${p.cuts})`;
              let bar = bars.get(label);
              if (!bar) bars.set(label, (bar = o.progress!.task(label)));
              bar({ done: p.done, total: p.total });
            };
          })(),
        }
      : {}),
  });
  o.progress?.stop();
  run.report.warnings.unshift(...warnings, ...ctx.diagnostics.filter((d) => d.level === 'warning').map((d) => ({ code: d.code, message: d.message })));
  const files: string[] = [];
  if (o.outDir !== undefined) {
    fs.mkdirSync(o.outDir, { recursive: true });
    const json = path.join(o.outDir, 'report.json');
    writeAtomic(json, `${JSON.stringify(run.report, null, 2)}\n`);
    const html = path.join(o.outDir, 'report.html');
    writeAtomic(html, renderAuditHtml(run.report, run.images));
    files.push(json, html);
  }
  return { ...run, files, warnings: run.report.warnings };
}

/** What `split` and `build` put into a bundle: the manifest's summary and report/ files, or why there is no audit. */
export interface BundleAudit {
  summary: Json;
  files: Record<string, string>;
  warnings: { code: string; message: string }[];
}

/**
 * The `fast` white-box audit of one cut as the bundle sends it, on real inputs (the probes, or
 * the calibration images); `probes` null: skipped with the reason (random data says nothing
 * about real inputs). Models the audit cannot attack (not an image input) are skipped with a
 * warning, never an error: the bundle is still built.
 */
export async function auditBundle(o: {
  model: Model;
  modelSha256: string;
  modelFile: string;
  cutTensors: string[];
  compressed: CompressedSplit | null;
  probes: AuditData | null;
  skipReason?: string;
  preprocess: ImagePreprocess | null;
  toolVersion: string;
  progress?: ProgressSink;
}): Promise<BundleAudit> {
  const skip = (code: string, message: string): BundleAudit => ({ summary: { skipped: `${code}: ${message}` }, files: {}, warnings: [{ code, message }] });
  if (!o.probes) return skip('W_AUDIT_SKIPPED', o.skipReason ?? 'no real inputs to attack (pass --probe, or --calib with images or .npy files)');
  let input: ReturnType<typeof privateInput>;
  try {
    input = privateInput(o.model);
  } catch (e) {
    if (e instanceof SplitcError) return skip('W_AUDIT_SKIPPED', `the model cannot be audited: ${e.message}`);
    throw e;
  }
  const { range } = inputRange(input.dims[0]!, o.preprocess, o.probes.samples);
  const probes = { ...o.probes, samples: o.probes.samples.slice(0, PROBES_PER_BUDGET.fast), ...(o.probes.ids ? { ids: o.probes.ids.slice(0, PROBES_PER_BUDGET.fast) } : {}) };
  const run = await auditCuts({
    model: o.model,
    modelSha256: o.modelSha256,
    modelFile: o.modelFile,
    cuts: [{ tensors: o.cutTensors, label: o.cutTensors.join('+'), depth: resolveCuts(o.model, [o.cutTensors.join('+')])[0]!.depth }],
    ...(o.compressed
      ? { compression: async () => ({ constants: o.compressed!.constants, wireBytes: wireBytesPerSample(o.compressed!.wire) }) }
      : {}),
    probes,
    attacks: ['whitebox'],
    budget: 'fast',
    range,
    cacheDir: defaultCacheDir(),
    toolVersion: o.toolVersion,
    ...(o.progress ? { onProgress: ((bar) => (p: { done: number; total: number }) => bar(p))(o.progress.task('auditing the cut')) } : {}),
  });
  const cut = run.report.cuts[0]!;
  const summary: Json = {
    report: 'report/report.json',
    risk: cut.risk,
    attack: cut.strongest,
    ssim: cut.ssim,
    psnr: cut.psnr,
    budget: 'fast',
    probes: { source: probes.source, sha256: probes.sha256, count: probes.samples.length },
    thresholds: { high: run.report.thresholds.high, medium: run.report.thresholds.medium },
  };
  return {
    summary,
    files: { 'report.json': `${JSON.stringify(run.report, null, 2)}\n`, 'report.html': renderAuditHtml(run.report, run.images) },
    warnings: run.report.warnings,
  };
}
