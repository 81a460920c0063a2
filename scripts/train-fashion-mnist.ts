// Train the small ResNet on Fashion-MNIST with splitc's autodiff and onnxruntime-node, then
// write the inference model (BatchNorm with its running statistics) and its test accuracy.
//
//   npx tsx scripts/train-fashion-mnist.ts [--epochs 4] [--batch 64] [--lr 0.002] [--seed 1]
//       [--threads 2] [-o|--out out/fashion_mnist_resnet.onnx] [--checkpoint OUT.ckpt] [--resume]
//       [--limit N] [--test-limit N] [--json]
//
// The model and its checkpoint go to out/ (git-ignored) unless told otherwise: the committed
// model is replaced only on purpose, with --out fixtures/models/fashion_mnist_resnet.onnx.
//
// --limit and --test-limit train on the first N training images and score on the first N test
// images (default all: 60,000 and 10,000); smaller values are budgets for a quick check.
//
// Data: Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist). Adam with cosine
// decay, horizontal flips, seeded shuffling; deterministic for a given seed and thread count.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { SingleBar } from 'cli-progress';
import * as ort from 'onnxruntime-node';
import { saveModel } from '../src/ir/serde/io.js';
import { evaluateAccuracy, fit } from '../src/runtime/train/fit.js';
import { FASHION_MNIST_DIR, loadIdxImages } from '../src/runtime/train/idx.js';
import { smallResNet } from '../src/runtime/train/models.js';
import { loadCheckpoint } from '../src/runtime/train/checkpoint-file.js';
import { Trainer } from '../src/runtime/train/trainer.js';

/** The value after `--name` (or after one of the `aliases`, e.g. `-o`), else `dflt`. */
function arg(name: string, dflt: string, aliases: string[] = []): string {
  const i = process.argv.findIndex((a) => a === `--${name}` || aliases.includes(a));
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
}
const epochs = Number(arg('epochs', '4'));
const batchSize = Number(arg('batch', '64'));
const lr = Number(arg('lr', '0.002'));
const seed = Number(arg('seed', '1'));
const threads = Number(arg('threads', '2'));
const out = arg('out', 'out/fashion_mnist_resnet.onnx', ['-o']);
const checkpoint = arg('checkpoint', `${out}.ckpt`);
const limit = Number(arg('limit', '60000'));
const testLimit = Number(arg('test-limit', '10000'));
const json = process.argv.includes('--json');
const resume = process.argv.includes('--resume');

for (const file of [out, checkpoint]) fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });

const train = loadIdxImages(path.join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz'), path.join(FASHION_MNIST_DIR, 'train-labels-idx1-ubyte.gz'), { limit });
const test = loadIdxImages(path.join(FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz'), path.join(FASHION_MNIST_DIR, 't10k-labels-idx1-ubyte.gz'), { limit: testLimit });
const model = smallResNet({ seed });
const steps = epochs * Math.floor(train.n / batchSize);
const trainer = await Trainer.create({
  ort,
  model,
  loss: 'ce:logits',
  inputShapes: { image: [batchSize, 1, 28, 28] },
  optimizer: { kind: 'adam', lr, weightDecay: 5e-4, decoupled: true },
  schedule: { kind: 'cosine', total: steps, warmup: 100 },
  sessionOptions: { intraOpNumThreads: threads, interOpNumThreads: 1 },
});
if (resume && fs.existsSync(checkpoint)) loadCheckpoint(trainer, checkpoint);

const tty = process.stderr.isTTY && !json;
const bar = tty ? new SingleBar({ format: 'epoch {epoch}/{epochs} [{bar}] {value}/{total} batches  loss {loss}  {speed} img/s  eta {eta}s', hideCursor: true }) : null;
let started = performance.now();
let seen = 0;
const t0 = performance.now();
const log: { epoch: number; meanLoss: number; testAccuracy: number; seconds: number }[] = [];
await fit(trainer, {
  data: train,
  batchSize,
  epochs,
  seed,
  inputName: 'image',
  hflip: true,
  checkpointFile: checkpoint,
  checkpointEvery: 200,
  onProgress(p) {
    seen += batchSize;
    if (!bar) return;
    if (p.batch === 1) {
      bar.start(p.batches, 0, { epoch: p.epoch + 1, epochs: p.epochs, loss: '-', speed: '-' });
      started = performance.now();
      seen = batchSize;
    }
    bar.update(p.batch, { epoch: p.epoch + 1, epochs: p.epochs, loss: p.meanLoss.toFixed(4), speed: ((seen * 1000) / (performance.now() - started)).toFixed(0) });
  },
  async onEpoch(epoch, meanLoss) {
    bar?.stop();
    const acc = await evaluateAccuracy(trainer.exportModel(), test, { ort, inputName: 'image' });
    const entry = { epoch: epoch + 1, meanLoss, testAccuracy: acc, seconds: (performance.now() - t0) / 1000 };
    log.push(entry);
    if (!json) process.stderr.write(`epoch ${entry.epoch}: train loss ${meanLoss.toFixed(4)}, test accuracy ${(acc * 100).toFixed(2)}% (${entry.seconds.toFixed(0)} s)\n`);
  },
});
const final = trainer.exportModel();
final.docString = `small ResNet trained on Fashion-MNIST by splitc (scripts/train-fashion-mnist.ts --epochs ${epochs} --batch ${batchSize} --lr ${lr} --seed ${seed} --threads ${threads})`;
saveModel(final, out);
const accuracy = await evaluateAccuracy(final, test, { ort, inputName: 'image' });
await trainer.release();
const summary = { out, epochs, batchSize, lr, seed, threads, steps: trainer.step, testAccuracy: accuracy, seconds: (performance.now() - t0) / 1000, log };
process.stdout.write(json ? JSON.stringify(summary) + '\n' : `wrote ${out}: test accuracy ${(accuracy * 100).toFixed(2)}% after ${trainer.step} steps in ${summary.seconds.toFixed(0)} s\n`);
