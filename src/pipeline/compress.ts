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
import type { Calibration, ProgressSink } from './calibration.js';
import type { FidelitySummary } from './plan-file.js';

export interface CompressedAndMeasured {
  compressed: CompressedSplit;
  fidelity: FidelityReport;
}

export async function compressAndMeasure(model: Model, split: SplitResult, spec: CompressSpec, calibration: Calibration, opts: { ctx?: PassContext; progress?: ProgressSink } = {}): Promise<CompressedAndMeasured> {
  const { progress } = opts;
  const { compressed } = await calibrateAndCompress(split, spec, calibration.sets.calibration, { ...(opts.ctx ? { ctx: opts.ctx } : {}), ...(progress ? { onProgress: progress.task('calibrating') } : {}) });
  const fidelity = await measureFidelity(model, compressed, calibration.sets, progress ? { onProgress: progress.task('measuring fidelity') } : {});
  return { compressed, fidelity };
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
export function compressedBundleInput(input: BundleInput, compressed: CompressedSplit, specText: string, calibration: Calibration, fidelity: FidelityReport): BundleInput {
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
    },
  };
}
