// Calibration data for a command: where it comes from (`--calib`, `--preprocess`), the samples
// read once, the seeded calibration / held-back split, and the provenance a plan records so
// that `build` can reproduce exactly what the plan certified.

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SplitcError } from '../ir/errors.js';
import type { Model } from '../ir/graph.js';
import type { PassContext } from '../passes/pass.js';
import { type CalibSample, type CalibSource, calibrationSamples, modelInputs, parseImagePreprocess, splitSamples, IDX_IMAGES } from '../search/calib-data.js';
import type { CalibrationProvenance } from './plan-file.js';

/** Bars for long work, handed down by the CLI (no-ops elsewhere). */
export interface ProgressSink {
  task(label: string): (p: { done: number; total: number }) => void;
  stop(): void;
}

export interface CalibOptions {
  /** --calib: a folder of images or .npy files, a .npy file, `random` or `random:N`. */
  calib: string | undefined;
  /** --preprocess for image folders: a preset (paddleocr-cls, imagenet, …) or key=value list. */
  preprocess: string | undefined;
  /** Share of samples held back from calibration to measure fidelity (default 0.25). */
  heldOutFraction?: number;
  progress?: ProgressSink;
}

export const HELD_OUT_FRACTION = 0.25;
export const SPLIT_SEED = 1;
const RANDOM_SEED = 1;
const IMAGE_EXT = /\.(png|jpe?g)$/i;

export function calibSourceFrom(opts: Pick<CalibOptions, 'calib' | 'preprocess'>): CalibSource {
  const text = opts.calib ?? 'random';
  const random = /^random(?::(\d+))?$/.exec(text);
  if (random) return { kind: 'random', count: random[1] ? Number(random[1]) : 32, seed: RANDOM_SEED };
  let st: fs.Stats;
  try {
    st = fs.statSync(text);
  } catch {
    throw new SplitcError('E_CALIB', `calibration data '${text}' does not exist`, { hint: 'pass a folder of PNG/JPEG images, a folder of .npy files, a .npy file, or random[:N]' });
  }
  if (st.isFile()) {
    if (text.endsWith('.npy')) return { kind: 'npy', files: text };
    if (IDX_IMAGES.test(text)) {
      if (!opts.preprocess) throw new SplitcError('E_BAD_ARGUMENT', `IDX images '${text}' need --preprocess`, { hint: "say how pixels 0–255 become inputs, e.g. --preprocess 'scale=1/255,mean=0.286,std=0.353' or --preprocess unit" });
      return { kind: 'idx', file: text, preprocess: parseImagePreprocess(opts.preprocess) };
    }
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

/** The files a source reads, in a fixed order (names relative to the folder, for the hash). */
function sourceFiles(source: CalibSource): { name: string; file: string }[] {
  if (source.kind === 'random') return [];
  if (source.kind === 'npy') {
    const files = Array.isArray(source.files) ? source.files : [source.files];
    return files.map((f) => ({ name: path.basename(f), file: f }));
  }
  if (source.kind === 'idx') return [{ name: path.basename(source.file), file: source.file }];
  const names = fs.readdirSync(source.dir).filter((n) => IMAGE_EXT.test(n) || n === 'labels.json').sort();
  return names.map((n) => ({ name: n, file: path.join(source.dir, n) }));
}

/** sha256 over what the samples come from: each file's name and bytes in order; random data by its count and seed. */
export function calibrationSha256(source: CalibSource, preprocess: string | undefined): string {
  const h = createHash('sha256');
  h.update(`splitc-calibration\0${source.kind}\0`);
  if (source.kind === 'random') h.update(`count=${source.count}\0seed=${source.seed}\0`);
  else {
    if (preprocess !== undefined) h.update(`preprocess=${preprocess}\0`);
    for (const { name, file } of sourceFiles(source)) {
      h.update(`${name}\0`);
      h.update(fs.readFileSync(file));
      h.update('\0');
    }
  }
  return h.digest('hex');
}

export interface Calibration {
  source: CalibSource;
  samples: CalibSample[];
  sets: { calibration: CalibSample[]; heldOut: CalibSample[] };
  provenance: CalibrationProvenance;
}

/** Reads the samples once and splits them (seeded): what `split`, `plan` and `build` calibrate and measure on. */
export function loadCalibration(model: Model, opts: CalibOptions, ctx?: PassContext): Calibration {
  const source = calibSourceFrom(opts);
  const samples = calibrationSamples(source, modelInputs(model), ctx, opts.progress?.task('reading calibration data'));
  if (samples.length < 2) {
    throw new SplitcError('E_CALIB', `only ${samples.length} calibration sample${samples.length === 1 ? '' : 's'}; at least 2 are needed (one to calibrate, one to check)`, {
      hint: 'give more images or arrays (dozens are better)',
    });
  }
  const heldOutFraction = opts.heldOutFraction ?? HELD_OUT_FRACTION;
  const sets = splitSamples(samples, { heldOutFraction, seed: SPLIT_SEED });
  const text = source.kind === 'random' ? `random:${source.count}` : (opts.calib ?? '');
  const provenance: CalibrationProvenance = {
    source: text,
    ...(source.kind !== 'random' ? { path: path.resolve(text) } : {}),
    kind: source.kind,
    ...((source.kind === 'images' || source.kind === 'idx') && opts.preprocess !== undefined ? { preprocess: opts.preprocess } : {}),
    sha256: calibrationSha256(source, source.kind === 'images' || source.kind === 'idx' ? opts.preprocess : undefined),
    samples: samples.length,
    calibrationSamples: sets.calibration.length,
    heldOutSamples: sets.heldOut.length,
    heldOutFraction,
    seed: SPLIT_SEED,
  };
  return { source, samples, sets, provenance };
}

/** Inputs a learned bottleneck is trained on (`--train`): all of them train, none is held back. */
export interface TrainingData {
  samples: CalibSample[];
  provenance: { source: string; sha256: string };
}

/** Reads `--train` data (the formats `--calib` takes) once. */
export function loadTrainingData(model: Model, opts: { train: string; preprocess: string | undefined; progress?: ProgressSink }, ctx?: PassContext): TrainingData {
  const source = calibSourceFrom({ calib: opts.train, preprocess: opts.preprocess });
  const samples = calibrationSamples(source, modelInputs(model), ctx, opts.progress?.task('reading training data'));
  if (samples.length === 0) throw new SplitcError('E_CALIB', `no training samples in '${opts.train}'`, { hint: 'give a folder of images or .npy files, or a .npy batch' });
  const usesPreprocess = source.kind === 'images' || source.kind === 'idx';
  return { samples, provenance: { source: opts.train, sha256: calibrationSha256(source, usesPreprocess ? opts.preprocess : undefined) } };
}

/** How two provenances differ, in words (empty: the same data, split the same way). */
export function provenanceDifferences(certified: CalibrationProvenance, now: CalibrationProvenance): string[] {
  const out: string[] = [];
  if (certified.sha256 !== now.sha256) out.push(`the data differ (sha256 ${now.sha256.slice(0, 12)}… here, ${certified.sha256.slice(0, 12)}… in the plan: ${certified.source}${certified.preprocess ? ` with --preprocess ${certified.preprocess}` : ''})`);
  if (certified.samples !== now.samples) out.push(`${now.samples} samples here, ${certified.samples} in the plan`);
  if (certified.heldOutFraction !== now.heldOutFraction || certified.seed !== now.seed) out.push('the samples are split differently');
  return out;
}
