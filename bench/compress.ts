// Bytes per sample against accuracy for each compression at a middle cut (issue 17's
// benchmark): the Fashion-MNIST ResNet cut after Relu_25, scored on the Fashion-MNIST test set.
//
//   npx tsx bench/compress.ts [--specs a,b,…] [--epochs 3] [--train-limit 60000] [--test-limit 10000]
//                             [--held 1000] [--calib 512] [--seed 1]
//
// Learned stages train on the first (train-limit − held) training images and report held-back
// agreement on the last `held` training images while training; the coder (intN) is calibrated on
// the first `calib` training images. Test images are used only for the final figures: top-1
// agreement with the uncut model and accuracy against the labels. Defaults are the full sets;
// docs/benchmarks.md records the command it ran. Prints a markdown table and a machine line.
//
// Only the Fashion-MNIST ResNet for now: the PaddleOCR classifier and detector cuts of issue 17
// are not here yet.

import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { DataType } from '../src/ir/dtype.js';
import type { Model } from '../src/ir/graph.js';
import { loadModel } from '../src/ir/serde/io.js';
import { parseCompressSpec } from '../src/passes/bottleneck/spec.js';
import type { SplitResult } from '../src/passes/cut.js';
import { cutPass } from '../src/passes/cut-pass.js';
import { CHECKED_RUN, PassManager } from '../src/passes/pass.js';
import { inferShapes } from '../src/passes/shape/index.js';
import { learnBottleneck, specIsLearned } from '../src/pipeline/learn.js';
import { FASHION_MNIST_DIR, loadIdxImages } from '../src/runtime/train/idx.js';
import type { CalibSample } from '../src/search/calib-data.js';
import { calibrateAndCompress } from '../src/search/calibrate.js';
import { measureFidelity } from '../src/search/fidelity.js';
import { arg } from './lib.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DEFAULT_SPECS = 'none,int8,pca=4+int4,pca=8+int4,learned=4+int4,learned=16/s2+int4,learned=8/s2+int2';
const specs = arg('specs', DEFAULT_SPECS).split(',').map((s) => s.trim()).filter(Boolean);
const epochs = Number(arg('epochs', '3'));
const trainLimit = Number(arg('train-limit', '60000'));
const testLimit = Number(arg('test-limit', '10000'));
const held = Math.min(Number(arg('held', '1000')), Math.floor(trainLimit / 2));
const calibCount = Number(arg('calib', '512'));
const seed = Number(arg('seed', '1'));
const CUT_AFTER = 'Relu_25';

function samples(images: string, labels: string, limit: number, prefix: string): CalibSample[] {
  const d = loadIdxImages(path.join(FASHION_MNIST_DIR, images), path.join(FASHION_MNIST_DIR, labels), { limit });
  return Array.from({ length: d.n }, (_, i) => ({
    id: `${prefix}${i}`,
    label: d.labels[i],
    load: () => ({ image: { dtype: DataType.FLOAT, dims: [1, 1, 28, 28], data: d.images.subarray(i * 784, (i + 1) * 784) } }),
  }));
}

const model: Model = loadModel(path.join(repoRoot, 'fixtures/models/fashion_mnist_resnet.onnx'));
inferShapes(model, { inputShapes: { image: [1, 1, 28, 28] } });
const split: SplitResult = new PassManager<Model, SplitResult>([cutPass({ after: CUT_AFTER })], CHECKED_RUN).run(model).model;
const all = samples('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', trainLimit, 'tr');
const train = all.slice(0, all.length - held);
const heldBack = all.slice(all.length - held);
const calib = train.slice(0, calibCount);
const test = samples('t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz', testLimit, 'te');

interface Row {
  spec: string;
  bytes: number;
  ratio: number;
  agreement: number;
  accuracy: number;
  original: number;
  trainS: number | null;
  epochs: number | null;
  start?: number;
}
const rows: Row[] = [];
for (const text of specs) {
  const spec = parseCompressSpec(text);
  let learned: Awaited<ReturnType<typeof learnBottleneck>> | undefined;
  const t0 = performance.now();
  if (specIsLearned(spec)) {
    learned = await learnBottleneck(model, split, spec, train, heldBack, {
      epochs,
      seed,
      onProgress: (p) => {
        if (p.heldOutAgreement !== undefined)
          console.error(`${text}: epoch ${p.epoch} loss ${p.loss.toFixed(4)} held-back ${(p.heldOutAgreement * 100).toFixed(1)}% ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      },
    });
  }
  const trainS = learned ? (performance.now() - t0) / 1000 : null;
  const { compressed } = await calibrateAndCompress(split, spec, calib, learned ? { learned: learned.weights } : {});
  const f = await measureFidelity(model, compressed, { calibration: [], heldOut: test });
  const out = f.heldOut.outputs.find((o) => o.top1Agreement !== null && o.accuracy)!;
  rows.push({
    spec: text,
    bytes: f.wire.bytesPerSample!,
    ratio: f.wire.float32CutBytesPerSample! / f.wire.bytesPerSample!,
    agreement: out.top1Agreement!,
    accuracy: out.accuracy!.compressed,
    original: out.accuracy!.original,
    trainS,
    epochs: learned ? epochs : null,
    ...(learned ? { start: learned.initialAgreement } : {}),
  });
  console.error(`${text}: done (${((performance.now() - t0) / 1000).toFixed(0)} s): ${JSON.stringify(rows.at(-1))}`);
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
const original = rows[0]?.original ?? 0;
const lines = [
  `Fashion-MNIST ResNet cut after ${CUT_AFTER} (${split.cutTensors.join(', ')}); ${train.length} training images (${held} more held back while training), ${test.length} test images; uncut test accuracy ${pct(original)}.`,
  '',
  '| compression | bytes / sample | × fewer than float32 | top-1 agreement (test) | test accuracy | points lost | held-back agreement at the PCA start | training s | epochs |',
  '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...rows.map(
    (r) =>
      `| ${r.spec} | ${r.bytes} | ${r.ratio.toFixed(1)}× | ${pct(r.agreement)} | ${pct(r.accuracy)} | ${((r.original - r.accuracy) * 100).toFixed(1)} | ${r.start !== undefined ? pct(r.start) : '–'} | ${r.trainS !== null ? r.trainS.toFixed(0) : '–'} | ${r.epochs ?? '–'} |`,
  ),
  '',
  `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? 'unknown CPU'}, Node ${process.version}, onnxruntime-node ${ort.env.versions.common}; load average after: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`,
];
console.log(lines.join('\n'));
