// `splitc split`: load a model, infer shapes, cut it (at tensors or after a node), optionally
// compress what crosses the cut (calibrated, fidelity measured on held-back samples), and
// write the deployable bundle (edge/, cloud/, triton/, manifest.json). `plan` measures its
// lossy candidates and `build` writes its bundle through the same functions.

import { buildBundle, type BuildResult } from '../codegen/bundle.js';
import { bundleInputFromSplit } from '../codegen/input.js';
import type { Manifest } from '../codegen/manifest.js';
import { SplitcError } from '../ir/errors.js';
import type { Dim } from '../ir/graph.js';
import { loadModelWithBytes } from '../ir/serde/io.js';
import { formatCompressSpec, parseCompressSpec } from '../passes/bottleneck/spec.js';
import type { SplitResult } from '../passes/cut.js';
import { cutPass } from '../passes/cut-pass.js';
import { CHECKED_RUN, formatListOption, PassContext, PassManager, type Diagnostic } from '../passes/pass.js';
import { shapeInferPassOf } from '../passes/shape/index.js';
import type { FidelityReport } from '../search/fidelity.js';
import { type Calibration, loadCalibration, loadTrainingData, type ProgressSink } from './calibration.js';
import { compressAndMeasure, compressedBundleInput, type TrainingSetup } from './compress.js';
import { specIsLearned } from './learn.js';
import { auditBundle, inputFloats, PROBES_PER_BUDGET, readData } from './audit.js';
import type { AuditData } from '../audit/index.js';
import type { BundleInput, Json } from '../codegen/input.js';
import type { CompressedSplit } from '../passes/bottleneck/compress.js';
import type { ImagePreprocess } from '../search/calib-data.js';
import type { Model } from '../ir/graph.js';
import { createHash } from 'node:crypto';
import * as path from 'node:path';

export const SPLIT_SCHEMA_VERSION = 1;

export interface SplitOptions {
  model: string;
  /** Cut tensor names (exactly one of cut / cutAfter). */
  cut?: string[];
  /** Cut right after this node (name, or the name of one of its outputs). */
  cutAfter?: string;
  shapes?: Record<string, Dim[]>;
  /** Compression spec text (`none` when absent). */
  compress?: string;
  /** Calibration data for compression (images folder, .npy, or `random[:N]`; default random:32). */
  calib?: string;
  /** How calibration images become inputs (a preset or key=value list). */
  preprocess?: string;
  /** Training of a learned stage: `train` data (default: the calibration set), epochs, seed, cloud nodes to fine-tune too; trained weights cached in `cacheDir` (none: no cache). */
  training?: { train?: string; epochs: number; seed: number; tuneCloud?: number; cacheDir?: string };
  progress?: ProgressSink;
  outDir: string;
  toolVersion: string;
  /** Name the cloud model is served under (default: the model file's stem, see defaultModelName). */
  modelName?: string;
  /** Run the `fast` inversion-risk audit of the cut and put report/ into the bundle (default true). */
  audit?: boolean;
  /** Real inputs the audit reconstructs (default: the calibration inputs, when they are real). */
  probe?: string;
}

export interface SplitReport {
  schemaVersion: number;
  bundle: string;
  source: Manifest['source'];
  cut: Manifest['cut'];
  wire: Manifest['wire'];
  bytesPerSample: Manifest['bytesPerSample'];
  edge: { nodes: number; macs: number; paramBytes: number; outputs: string[] };
  cloud: { nodes: number; macs: number; paramBytes: number; outputs: string[] };
  compression: Manifest['compression'];
  triton: Manifest['triton'];
  /** The cut's inversion-risk audit (manifest.audit): risk and figures, or `{ skipped }`. */
  audit: Json | null;
  files: string[];
  warnings: Diagnostic[];
}

export interface SplitRun {
  report: SplitReport;
  result: BuildResult;
  /** Fidelity of the compressed split on held-back samples (null without compression). */
  fidelity: FidelityReport | null;
  /** The calibration it used (null without compression). */
  calibration: Calibration | null;
}

/** `splitc split` (and the last step of `splitc build`): cut, compress, measure, write the bundle. */
export async function runSplit(opts: SplitOptions): Promise<SplitRun> {
  const hasCut = opts.cut !== undefined && opts.cut.length > 0;
  if (hasCut === (opts.cutAfter !== undefined)) {
    throw new SplitcError('E_BAD_ARGUMENT', hasCut ? 'give either --cut or --cut-after, not both' : 'say where to cut: --cut <tensors> or --cut-after <node>', {
      hint: 'e.g. --cut-after p2o.Conv.10 or --cut a,b (tensor names as printed by splitc inspect)',
    });
  }
  const specText = opts.compress ?? 'none';
  const spec = parseCompressSpec(specText);
  if (spec.stages.length === 0 && opts.calib !== undefined) {
    throw new SplitcError('E_BAD_ARGUMENT', '--calib needs --compress', { hint: 'calibration data sets the ranges of a compression stage, e.g. --compress int8' });
  }

  const { model, bytes: source } = loadModelWithBytes(opts.model);
  const ctx = new PassContext();
  const cutAt: Record<string, string> = hasCut ? { at: formatListOption(opts.cut!.map((s) => s.trim()).filter(Boolean)) } : { after: opts.cutAfter! };
  const split = new PassManager<Model, SplitResult>([shapeInferPassOf(opts.shapes ?? {}), cutPass(cutAt)], CHECKED_RUN).run(model, ctx).model;

  let input = bundleInputFromSplit(model, split, {
    toolVersion: opts.toolVersion,
    sourceFile: opts.model,
    sourceBytes: source,
    ...(opts.modelName !== undefined ? { modelName: opts.modelName } : {}),
  });
  for (const w of input.wire) {
    const symbols = w.shape.slice(1).filter((d) => typeof d !== 'number');
    if (symbols.length) {
      ctx.warn(
        'W_SYMBOLIC_WIRE',
        `wire tensor '${w.name}' has symbolic dims (${symbols.join(', ')}); bytes per sample count them as 1 (fix the input dims with --shape)`,
      );
    }
  }
  let fidelity: FidelityReport | null = null;
  let calibration: Calibration | null = null;
  let compressed: CompressedSplit | null = null;
  if (spec.stages.length > 0) {
    try {
      calibration = loadCalibration(model, { calib: opts.calib, preprocess: opts.preprocess, ...(opts.progress ? { progress: opts.progress } : {}) }, ctx);
      const t = opts.training;
      if (t?.train !== undefined && !specIsLearned(spec)) throw new SplitcError('E_BAD_ARGUMENT', `--train applies to a learned stage, and '${formatCompressSpec(spec)}' has none`, { hint: "e.g. --compress learned=8+int4 --train images/" });
      const training: TrainingSetup | undefined = t && {
        epochs: t.epochs,
        seed: t.seed,
        ...(t.cacheDir !== undefined ? { cache: { dir: t.cacheDir, modelSha256: createHash('sha256').update(source).digest('hex') } } : {}),
        ...(t.tuneCloud ? { tuneCloud: t.tuneCloud } : {}),
        ...(t.train !== undefined && specIsLearned(spec) ? { data: loadTrainingData(model, { train: t.train, preprocess: opts.preprocess, ...(opts.progress ? { progress: opts.progress } : {}) }, ctx) } : {}),
      };
      const measured = await compressAndMeasure(model, split, spec, calibration, { ctx, ...(opts.progress ? { progress: opts.progress } : {}), ...(training ? { training } : {}) });
      fidelity = measured.fidelity;
      compressed = measured.compressed;
      input = compressedBundleInput(input, measured.compressed, formatCompressSpec(spec), calibration, fidelity, measured.training);
    } finally {
      opts.progress?.stop();
    }
  }
  try {
    input = await withAudit(input, opts, { model, source, cutTensors: split.cutTensors, calibration, compressed, ctx });
  } finally {
    opts.progress?.stop();
  }
  const result = buildBundle(input, opts.outDir);
  const m = result.manifest;
  const report: SplitReport = {
    schemaVersion: SPLIT_SCHEMA_VERSION,
    bundle: opts.outDir,
    source: m.source,
    cut: m.cut,
    wire: m.wire,
    bytesPerSample: m.bytesPerSample,
    edge: { nodes: m.edge.nodes, macs: m.edge.macs, paramBytes: m.edge.paramBytes, outputs: m.signature.outputs.filter((o) => o.side === 'edge').map((o) => o.name) },
    cloud: { nodes: m.cloud.nodes, macs: m.cloud.macs, paramBytes: m.cloud.paramBytes, outputs: m.signature.outputs.filter((o) => o.side === 'cloud').map((o) => o.name) },
    compression: m.compression,
    triton: m.triton,
    audit: m.audit ?? null,
    files: result.files,
    warnings: ctx.diagnostics,
  };
  return { report, result, fidelity, calibration };
}

/** The bundle input with the cut's audit (or the reason there is none) in it. */
async function withAudit(
  input: BundleInput,
  opts: SplitOptions,
  o: { model: Model; source: Uint8Array; cutTensors: string[]; calibration: Calibration | null; compressed: CompressedSplit | null; ctx: PassContext },
): Promise<BundleInput> {
  if (opts.audit === false) return { ...input, audit: { summary: { skipped: 'disabled with --no-audit' }, files: {} } };
  let probes: AuditData | null = null;
  let preprocess: ImagePreprocess | null = null;
  let skipReason: string | undefined;
  if (opts.probe !== undefined) {
    const d = readData(o.model, opts.shapes ?? {}, opts.probe, opts.preprocess, PROBES_PER_BUDGET.fast, '--probe');
    probes = d;
    preprocess = d.preprocess;
  } else if (o.calibration && o.calibration.source.kind !== 'random') {
    // held-back samples first: the bundle's constants were not fitted to them
    const samples = [...o.calibration.sets.heldOut, ...o.calibration.sets.calibration].slice(0, PROBES_PER_BUDGET.fast);
    probes = {
      samples: samples.map(inputFloats),
      ids: samples.map((c) => c.id),
      source: o.calibration.provenance.source,
      sha256: o.calibration.provenance.sha256,
    };
    preprocess = o.calibration.source.kind === 'images' || o.calibration.source.kind === 'idx' ? o.calibration.source.preprocess : null;
  } else {
    skipReason = o.calibration ? 'the calibration data are random: there is no real input to reconstruct (pass --probe, or --calib with images or .npy files)' : 'no real inputs to attack (pass --probe <dir|.npy>)';
  }
  const a = await auditBundle({
    model: o.model,
    modelSha256: createHash('sha256').update(o.source).digest('hex'),
    modelFile: path.basename(opts.model),
    cutTensors: o.cutTensors,
    compressed: o.compressed,
    probes,
    ...(skipReason !== undefined ? { skipReason } : {}),
    preprocess,
    toolVersion: opts.toolVersion,
    ...(opts.progress ? { progress: opts.progress } : {}),
  });
  for (const w of a.warnings) o.ctx.warn(w.code, w.message);
  return { ...input, audit: { summary: a.summary, files: a.files } };
}
