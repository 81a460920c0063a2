// The epoch loop: seeded shuffling (a permutation per epoch derived from the seed and the
// epoch number, so a resumed run sees the same batches), fixed-size batches (the last
// partial batch is dropped: the training graph has a static batch size), progress
// callbacks, periodic checkpoints and evaluation.

import { modelToBytes } from '../../ir/serde/io.js';
import type { Model } from '../../ir/graph.js';
import { saveCheckpoint } from './checkpoint-file.js';
import type { OrtModule, Trainer } from './trainer.js';
import { createOrtSession } from '../../search/ort-session.js';

export interface LabeledImages {
  /** [n, ...shape] floats. */
  images: Float32Array;
  labels: Int32Array;
  n: number;
  /** Per-sample shape, e.g. [1, 28, 28]. */
  shape: readonly number[];
}

export interface FitProgress {
  epoch: number;
  epochs: number;
  batch: number;
  batches: number;
  step: number;
  loss: number;
  /** Mean loss over the epoch so far. */
  meanLoss: number;
  lr: number;
}

export interface FitOptions {
  data: LabeledImages;
  batchSize: number;
  epochs: number;
  seed: number;
  /** Input name of the images and of the labels (default: the model's first input, 'labels'). */
  inputName: string;
  labelsName?: string;
  /** Stop after this many steps in total (for tests and resumable runs). */
  maxSteps?: number;
  /** Write a checkpoint every this many steps (and at the end) to `checkpointFile`. */
  checkpointEvery?: number;
  checkpointFile?: string;
  onProgress?: (p: FitProgress) => void;
  /** Called after each epoch (e.g. to evaluate and log). */
  onEpoch?: (epoch: number, meanLoss: number) => Promise<void> | void;
  /** Flip images horizontally at random (seeded) — augmentation for natural images and clothes. */
  hflip?: boolean;
}

/** A seeded xorshift32 generator in [0, 1). */
export { xorshift32 as rng } from '../../ir/random.js';
import { epochOrder, xorshift32 as rng } from '../../ir/random.js';

/** The sample order of an epoch (platform-neutral, so it lives with the PRNG: federated clients in browsers use it too). */
export { epochOrder } from '../../ir/random.js';

/**
 * Train for `epochs` (resuming at `trainer.position` when a checkpoint was loaded).
 * Returns the mean loss of the last epoch that ran.
 */
export async function fit(trainer: Trainer, opts: FitOptions): Promise<{ steps: number; meanLoss: number }> {
  const { data, batchSize } = opts;
  const per = data.shape.reduce((a, d) => a * d, 1);
  const batches = Math.floor(data.n / batchSize);
  const x = new Float32Array(batchSize * per);
  const y = new BigInt64Array(batchSize);
  const xT = new trainer.ort.Tensor('float32', x, [batchSize, ...data.shape]);
  const yT = new trainer.ort.Tensor('int64', y, [batchSize]);
  const labelsName = opts.labelsName ?? 'labels';
  let epoch = trainer.position['epoch'] ?? 0;
  let batch = trainer.position['batch'] ?? 0;
  let steps = 0;
  let meanLoss = NaN;
  const w = data.shape[data.shape.length - 1] ?? 1;
  for (; epoch < opts.epochs; epoch++, batch = 0) {
    const order = epochOrder(data.n, opts.seed, epoch);
    const flips = opts.hflip ? rng((opts.seed ^ 0x5bd1e995) + epoch) : null;
    // Skipped batches of a resumed epoch still draw their flips, so the stream lines up.
    for (let s = 0; s < batch * batchSize && flips; s++) flips();
    let sum = 0;
    let count = 0;
    for (; batch < batches; batch++) {
      if (opts.maxSteps !== undefined && steps >= opts.maxSteps) {
        trainer.position = { epoch, batch };
        return { steps, meanLoss };
      }
      for (let k = 0; k < batchSize; k++) {
        const i = order[batch * batchSize + k]!;
        const src = data.images.subarray(i * per, (i + 1) * per);
        if (flips && flips() < 0.5) {
          for (let r = 0; r < per; r += w) for (let c = 0; c < w; c++) x[k * per + r + c] = src[r + w - 1 - c]!;
        } else {
          x.set(src, k * per);
        }
        y[k] = BigInt(data.labels[i]!);
      }
      const r = await trainer.trainStep({ [opts.inputName]: xT, [labelsName]: yT });
      steps++;
      sum += r.loss;
      count++;
      meanLoss = sum / count;
      opts.onProgress?.({ epoch, epochs: opts.epochs, batch: batch + 1, batches, step: trainer.step, loss: r.loss, meanLoss, lr: r.lr });
      if (opts.checkpointFile && opts.checkpointEvery && trainer.step % opts.checkpointEvery === 0) {
        trainer.position = { epoch, batch: batch + 1 };
        saveCheckpoint(trainer, opts.checkpointFile);
      }
    }
    trainer.position = { epoch: epoch + 1, batch: 0 };
    if (opts.checkpointFile) saveCheckpoint(trainer, opts.checkpointFile);
    await opts.onEpoch?.(epoch, meanLoss);
  }
  return { steps, meanLoss };
}

/** Top-1 accuracy of an inference model on labeled images (batches of `batchSize`, last one smaller), run by `opts.ort`. */
export async function evaluateAccuracy(model: Model | Uint8Array, data: LabeledImages, opts: { ort: OrtModule; batchSize?: number; inputName?: string; output?: string }): Promise<number> {
  const ort = opts.ort;
  const bytes = model instanceof Uint8Array ? model : modelToBytes(model);
  const session = await createOrtSession(ort, bytes, { graphOptimizationLevel: 'all' });
  const input = opts.inputName ?? session.inputNames[0]!;
  const output = opts.output ?? session.outputNames[0]!;
  const per = data.shape.reduce((a, d) => a * d, 1);
  const bs = opts.batchSize ?? 256;
  let correct = 0;
  try {
    for (let start = 0; start < data.n; start += bs) {
      const m = Math.min(bs, data.n - start);
      const x = new ort.Tensor('float32', data.images.subarray(start * per, (start + m) * per), [m, ...data.shape]);
      const out = (await session.run({ [input]: x }, [output]))[output]!;
      const logits = out.data as Float32Array;
      const classes = logits.length / m;
      for (let k = 0; k < m; k++) {
        let best = 0;
        for (let c = 1; c < classes; c++) if (logits[k * classes + c]! > logits[k * classes + best]!) best = c;
        if (best === data.labels[start + k]) correct++;
      }
    }
  } finally {
    await session.release();
  }
  return correct / data.n;
}
