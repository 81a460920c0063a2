// Calibrate a split's bottleneck, insert it, and measure its fidelity on held-back samples:
// the one place `split`, `plan` (each lossy candidate it measures) and `build` do it, so a
// plan's figures and the bundle built from it cannot drift apart.

import { type BundleInput, toJson } from '../codegen/input.js';
import type { Model } from '../ir/graph.js';
import type { CompressSpec } from '../passes/bottleneck/index.js';
import type { SplitResult } from '../passes/cut.js';
import type { PassContext } from '../passes/pass.js';
import type { CompressedSplit } from '../passes/bottleneck/compress.js';
import { calibrateAndCompress } from '../search/calibrate.js';
import { type FidelityReport, measureFidelity } from '../search/fidelity.js';
import type { Calibration, ProgressSink, TrainingData } from './calibration.js';
import { type EpochRecord, learnBottleneck, type LearnOptions, specIsLearned, withTunedCloud } from './learn.js';
import { learnedCacheKey, readLearned, writeLearned } from './learn-cache.js';
import { formatCompressSpec } from '../passes/bottleneck/spec.js';
import type { FidelitySummary } from './plan-file.js';

export interface CompressedAndMeasured {
  compressed: CompressedSplit;
  fidelity: FidelityReport;
  /** How a learned stage was trained (absent without one). */
  training?: TrainingRecord;
}

/** How a learned bottleneck is trained: on `data` (default: the calibration set, never the held-back samples). */
export interface TrainingSetup extends Pick<LearnOptions, 'epochs' | 'seed' | 'batchSize' | 'lr' | 'tuneCloud'> {
  data?: TrainingData;
  /** Reuse and keep trained weights in this cache (learn-cache.ts), keyed with the model's sha256. */
  cache?: { dir: string; modelSha256: string };
}

export const DEFAULT_TRAINING: TrainingSetup = { epochs: 10, seed: 1 };

/** What the manifest records of a learned stage's training. */
export interface TrainingRecord {
  source: string;
  sha256: string;
  samples: number;
  epochs: number;
  seed: number;
  batchSize: number;
  steps: number;
  lr: number;
  /** Whether the samples' labels trained too (a cross-entropy term next to the distillation). */
  labels: boolean;
  /** Held-back agreement of the PCA initialisation, and after each epoch (with its mean loss). */
  initialAgreement: number;
  history: EpochRecord[];
  /** With `--tune-cloud N`: N, and the cloud parameters trained with the bottleneck (now in the cloud model). */
  tuneCloud?: number;
  tunedParameters?: string[];
}

const percent = (x: number): string => `${(x * 100).toFixed(1)}%`;

export async function compressAndMeasure(
  model: Model,
  split: SplitResult,
  spec: CompressSpec,
  calibration: Calibration,
  opts: { ctx?: PassContext; progress?: ProgressSink; training?: TrainingSetup } = {},
): Promise<CompressedAndMeasured> {
  const { progress } = opts;
  let training: TrainingRecord | undefined;
  let learned: Awaited<ReturnType<typeof learnBottleneck>>['weights'] | undefined;
  let cut = split;
  if (specIsLearned(spec)) {
    const setup = opts.training ?? DEFAULT_TRAINING;
    const samples = setup.data?.samples ?? calibration.sets.calibration;
    const lr = setup.lr ?? 1e-3;
    let label = 'training the bottleneck';
    const data = setup.data?.provenance ?? { source: `calibration set (${calibration.provenance.source})`, sha256: calibration.provenance.sha256 };
    const key = setup.cache && learnedCacheKey({ modelSha256: setup.cache.modelSha256, cut: split.cutTensors, spec: formatCompressSpec(spec), dataSha256: data.sha256, seed: setup.seed, epochs: setup.epochs, batchSize: setup.batchSize ?? null, lr, tuneCloud: setup.tuneCloud ?? 0 });
    const hit = setup.cache && key ? readLearned(setup.cache.dir, key) : undefined;
    const r = hit ?? await learnBottleneck(model, split, spec, samples, calibration.sets.heldOut, {
      epochs: setup.epochs,
      seed: setup.seed,
      lr,
      ...(setup.batchSize !== undefined ? { batchSize: setup.batchSize } : {}),
      ...(setup.tuneCloud ? { tuneCloud: setup.tuneCloud } : {}),
      ...(progress
        ? {
            onProgress: (p) => {
              if (p.heldOutAgreement !== undefined) label = `training the bottleneck (epoch ${p.epoch}: loss ${p.loss.toFixed(3)}, held-back ${percent(p.heldOutAgreement)})`;
              progress.task(label)({ done: (p.epoch - 1) * p.steps + p.step, total: p.epochs * p.steps });
            },
          }
        : {}),
    });
    if (setup.cache && key && !hit) writeLearned(setup.cache.dir, key, r);
    learned = r.weights;
    // the tuned cloud weights go into the cloud model only; the edge is the split's
    cut = withTunedCloud(split, r.tuned);
    training = { source: data.source, sha256: data.sha256, samples: samples.length, epochs: setup.epochs, seed: setup.seed, batchSize: r.batchSize, steps: r.steps, lr, labels: r.usedLabels, initialAgreement: r.initialAgreement, history: r.history };
    if (setup.tuneCloud) Object.assign(training, { tuneCloud: setup.tuneCloud, tunedParameters: Object.keys(r.tuned) });
  }
  const { compressed } = await calibrateAndCompress(cut, spec, calibration.sets.calibration, {
    ...(opts.ctx ? { ctx: opts.ctx } : {}),
    ...(progress ? { onProgress: progress.task('calibrating') } : {}),
    ...(learned ? { learned } : {}),
  });
  const fidelity = await measureFidelity(model, compressed, calibration.sets, progress ? { onProgress: progress.task('measuring fidelity') } : {});
  return { compressed, fidelity, ...(training ? { training } : {}) };
}

/**
 * The figure `--min-agreement` bounds, from held-back samples: per output, top-1 agreement
 * where the output is class scores, else the mean cosine similarity; the least over outputs.
 */
export function fidelitySummary(f: FidelityReport): FidelitySummary {
  const outputs = f.heldOut.outputs.map((o) => ({
    name: o.name,
    metric: o.top1Agreement !== null ? ('top-1' as const) : ('cosine' as const),
    value: o.top1Agreement ?? o.cosine,
    maxAbsErr: o.maxAbsErr,
    meanCosine: o.cosine,
  }));
  return { agreement: Math.min(...outputs.map((o) => o.value)), outputs };
}

/** The bundle input of a compressed split: its parts, wire facts, spec, constants, calibration and fidelity. */
export function compressedBundleInput(input: BundleInput, compressed: CompressedSplit, specText: string, calibration: Calibration, fidelity: FidelityReport, training?: TrainingRecord): BundleInput {
  const p = calibration.provenance;
  return {
    ...input,
    edge: compressed.edge,
    cloud: compressed.cloud,
    wire: compressed.wire.map((w) => ({
      name: w.name,
      dtype: w.dtype,
      shape: w.shape,
      bytesPerSample: w.bytesPerSample ?? input.wire.find((x) => x.source === w.source)?.bytesPerSample ?? 0,
      source: w.source,
      compression: w.stage,
    })),
    compression: {
      spec: specText,
      constants: toJson(compressed.constants),
      calibration: toJson({
        source: p.source,
        kind: p.kind,
        ...(p.preprocess !== undefined ? { preprocess: p.preprocess } : {}),
        sha256: p.sha256,
        samples: p.calibrationSamples,
        heldOut: p.heldOutSamples,
      }),
      fidelity: toJson(fidelity),
      ...(training ? { training: toJson(training) } : {}),
    },
  };
}
