// `splitc split --compress`: calibrate the bottleneck on --calib data, insert it, and
// measure fidelity on held-back samples; the bundle records spec, constants and figures.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { toJson, type BundleInput } from '../codegen/input.js';
import { SplitcError } from '../ir/errors.js';
import { type CalibSource, calibrationSamples, modelInputs, parseImagePreprocess, splitSamples } from '../search/calib-data.js';
import { calibrateAndCompress } from '../search/calibrate.js';
import { type FidelityReport, measureFidelity } from '../search/fidelity.js';
import type { ProgressReporter } from './progress.js';
import type { CompressStep } from './split.js';

export interface CalibOptions {
  /** --calib: a folder of images or .npy files, a .npy file, `random` or `random:N`. */
  calib: string | undefined;
  /** --preprocess for image folders: a preset (paddleocr-cls, imagenet, …) or key=value list. */
  preprocess: string | undefined;
  /** Share of samples held back from calibration to measure fidelity (default 0.25). */
  heldOutFraction?: number;
  /** Bars for reading the data, the calibration runs and the fidelity runs; stopped when the step ends. */
  progress?: ProgressReporter;
}

const IMAGE_EXT = /\.(png|jpe?g)$/i;

export function calibSourceFrom(opts: CalibOptions): CalibSource {
  const text = opts.calib ?? 'random';
  const random = /^random(?::(\d+))?$/.exec(text);
  if (random) return { kind: 'random', count: random[1] ? Number(random[1]) : 32, seed: 1 };
  let st: fs.Stats;
  try {
    st = fs.statSync(text);
  } catch {
    throw new SplitcError('E_CALIB', `calibration data '${text}' does not exist`, { hint: 'pass a folder of PNG/JPEG images, a folder of .npy files, a .npy file, or random[:N]' });
  }
  if (st.isFile()) {
    if (text.endsWith('.npy')) return { kind: 'npy', files: text };
    throw new SplitcError('E_CALIB', `calibration file '${text}' is not a .npy file`, { hint: 'for images pass the folder that holds them' });
  }
  const names = fs.readdirSync(text);
  if (names.some((n) => n.endsWith('.npy'))) return { kind: 'npy', files: names.filter((n) => n.endsWith('.npy')).sort().map((n) => path.join(text, n)) };
  if (names.some((n) => IMAGE_EXT.test(n))) {
    if (!opts.preprocess) {
      throw new SplitcError('E_BAD_ARGUMENT', `calibration images in '${text}' need --preprocess`, {
        hint: "say how the model expects its pixels, e.g. --preprocess paddleocr-cls, --preprocess imagenet or --preprocess 'resize=stretch,layout=NCHW,order=RGB,scale=1/255,mean=0.5,std=0.5'",
      });
    }
    return { kind: 'images', dir: text, preprocess: parseImagePreprocess(opts.preprocess) };
  }
  throw new SplitcError('E_CALIB', `'${text}' holds no .png, .jpg or .npy files`, { hint: 'pass a folder of calibration images or arrays' });
}

/** The compress step for runSplit, and the fidelity it measured (for the summary). */
export function createCompressStep(opts: CalibOptions): { step: CompressStep; fidelity: () => FidelityReport | undefined } {
  let fidelity: FidelityReport | undefined;
  const step: CompressStep = async ({ model, split, spec, specText, input, ctx }) => {
    const source = calibSourceFrom(opts);
    const progress = opts.progress;
    const samples = calibrationSamples(source, modelInputs(model), ctx, progress?.task('reading calibration data'));
    if (samples.length < 2) {
      throw new SplitcError('E_CALIB', `only ${samples.length} calibration sample${samples.length === 1 ? '' : 's'}; at least 2 are needed (one to calibrate, one to check)`, {
        hint: 'give more images or arrays (dozens are better)',
      });
    }
    const sets = splitSamples(samples, { heldOutFraction: opts.heldOutFraction ?? 0.25, seed: 1 });
    const { compressed } = await calibrateAndCompress(split, spec, sets.calibration, { ctx, ...(progress ? { onProgress: progress.task('calibrating') } : {}) });
    fidelity = await measureFidelity(model, compressed, sets, progress ? { onProgress: progress.task('measuring fidelity') } : {});
    progress?.stop();
    const result: BundleInput = {
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
          source: source.kind === 'random' ? `random:${source.count}` : (opts.calib ?? ''),
          kind: source.kind,
          ...(source.kind === 'images' ? { preprocess: opts.preprocess ?? '' } : {}),
          samples: sets.calibration.length,
          heldOut: sets.heldOut.length,
        }),
        fidelity: toJson(fidelity),
      },
    };
    return result;
  };
  return { step, fidelity: () => fidelity };
}
