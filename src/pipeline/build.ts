// `splitc build plan.json`: the bundle of the plan's chosen cut, calibrated on the data the plan
// certified its fidelity on (recorded in plan.json), with the figures measured again and
// compared — a different data set or a different figure is a loud warning, never silent.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { SplitcError } from '../ir/errors.js';
import type { Diagnostic } from '../passes/pass.js';
import { type ProgressSink, provenanceDifferences } from './calibration.js';
import { fidelitySummary } from './compress.js';
import { type FidelitySummary, type PlanFile, readPlanFile } from './plan-file.js';
import { runSplit, type SplitRun } from './split.js';
import { DEFAULT_TRAINING } from './compress.js';
import { specIsLearned } from './learn.js';
import { parseCompressSpec } from '../passes/bottleneck/spec.js';

export interface BuildOptions {
  plan: string;
  outDir: string;
  toolVersion: string;
  /** Calibration data; default: what the plan recorded. */
  calib?: string;
  preprocess?: string;
  /** Overrides the model path recorded in the plan. */
  model?: string;
  /** Served model name (default: the model file's stem). */
  modelName?: string;
  /** The cut's audit (default on; see SplitOptions.audit) and the inputs it reconstructs. */
  audit?: boolean;
  probe?: string;
  /** Reuse trained bottleneck weights from this cache (what `plan` trained when it measured the candidate). */
  learnedCacheDir?: string;
  progress?: ProgressSink;
}

export interface BuildRun extends SplitRun {
  plan: PlanFile;
  /** The fidelity the plan certified for its choice (null: not measured, or lossless). */
  certified: FidelitySummary | null;
  /** The same figure measured on this bundle (null: lossless). */
  measured: FidelitySummary | null;
}

/** The calibration data the plan recorded, found again (its absolute path if the working folder moved). */
function recordedCalib(plan: PlanFile): { calib: string; preprocess?: string } | undefined {
  const c = plan.calibration;
  if (!c) return undefined;
  const calib = c.kind === 'random' || fs.existsSync(c.source) || !c.path ? c.source : c.path;
  return { calib, ...(c.preprocess !== undefined ? { preprocess: c.preprocess } : {}) };
}

/** How the plan trained its learned candidates (its `--train` data found again, as recordedCalib does), if it did. */
function planTraining(plan: PlanFile): { epochs: number; seed: number; train?: string } | undefined {
  const t = plan.training;
  // only a learned choice trains (split rejects --train for any other spec)
  if (!t || !specIsLearned(parseCompressSpec(plan.chosen.compress))) return undefined;
  const train = t.source === null ? undefined : fs.existsSync(t.source) || !t.path ? t.source : t.path;
  return { epochs: t.epochs, seed: t.seed, ...(train !== undefined ? { train } : {}) };
}

export async function runBuild(opts: BuildOptions): Promise<BuildRun> {
  const plan = readPlanFile(opts.plan);
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
  if (c.cutTensors.length === 0) {
    throw new SplitcError('E_PLAN', `the plan chose ${c.kind}: nothing crosses a network, there is nothing to split`, {
      hint: c.kind === 'cloud-only' ? 'serve the whole model with splitc serve' : 'run the whole model on the edge',
    });
  }
  const warnings: Diagnostic[] = [];
  const lossy = c.compress !== 'none';
  // The plan's own data unless the user names other data; split reads it once and says what it read.
  const recorded = recordedCalib(plan);
  const calib = opts.calib ?? recorded?.calib;
  const preprocess = opts.preprocess ?? (opts.calib === undefined ? recorded?.preprocess : undefined);
  const run = await runSplit({
    model: modelFile,
    cut: c.cutTensors,
    ...(lossy ? { compress: c.compress, ...(calib !== undefined ? { calib } : {}), ...(preprocess !== undefined ? { preprocess } : {}) } : {}),
    shapes: plan.model.inputShapes,
    outDir: opts.outDir,
    toolVersion: opts.toolVersion,
    ...(opts.modelName !== undefined ? { modelName: opts.modelName } : {}),
    ...(opts.audit !== undefined ? { audit: opts.audit } : {}),
    ...(opts.probe !== undefined ? { probe: opts.probe, ...(preprocess !== undefined ? { preprocess } : {}) } : {}),
    // a learned stage trains as the plan's measurement did (plan.training, else DEFAULT_TRAINING), so a cached entry is reused
    training: { ...DEFAULT_TRAINING, ...planTraining(plan), ...(opts.learnedCacheDir !== undefined ? { cacheDir: opts.learnedCacheDir } : {}) },
    ...(opts.progress ? { progress: opts.progress } : {}),
  });
  if (run.calibration) {
    if (plan.calibration) {
      const diffs = provenanceDifferences(plan.calibration, run.calibration.provenance);
      if (diffs.length) {
        warnings.push({
          level: 'warning',
          code: 'W_CALIB_DIFFERS',
          message: `this build calibrated on other data than the plan certified its fidelity on: ${diffs.join('; ')}; the figures below are this bundle's, not the plan's`,
        });
      }
    } else {
      warnings.push({
        level: 'warning',
        code: 'W_NOT_CERTIFIED',
        message: `the plan chose ${c.compress} without measuring its fidelity (plan with --min-agreement and --calib to certify it); the figures below are this bundle's only`,
      });
    }
  }
  const measured = run.fidelity ? fidelitySummary(run.fidelity) : null;
  const certified = plan.chosenFidelity;
  if (measured && certified) {
    const sameData = !warnings.some((w) => w.code === 'W_CALIB_DIFFERS');
    if (sameData && Math.abs(measured.agreement - certified.agreement) > 1e-9) {
      warnings.push({ level: 'warning', code: 'W_FIDELITY_DIFFERS', message: `held-back agreement ${fmt(measured.agreement)} differs from the ${fmt(certified.agreement)} the plan certified on the same data` });
    }
  }
  const bound = plan.constraints.minAgreement;
  if (measured && bound !== undefined && measured.agreement < bound) {
    warnings.push({ level: 'warning', code: 'W_FIDELITY_BELOW', message: `held-back agreement ${fmt(measured.agreement)} is below the plan's --min-agreement ${bound}` });
  }
  run.report.warnings.push(...warnings);
  return { ...run, plan, certified, measured };
}

const fmt = (x: number): string => `${(100 * x).toFixed(2)}%`;
