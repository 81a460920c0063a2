// Bytes per sample against accuracy for each compression at a middle cut (issue 17's
// benchmark), on three models:
//   - fashion: the Fashion-MNIST ResNet cut after Relu_25, scored on the Fashion-MNIST test set;
//   - cls: the PaddleOCR direction classifier cut after p2o.Add.82 ([32, 2, 96]), trained on
//     rendered text lines (bench/text-render.ts), scored on the 256 real text-line crops of
//     fixtures/images (scanned and printed pages, 0° and 180°);
//   - det: the PaddleOCR detector at 160×160 cut after p2o.Conv.58 (4 tensors: the neck's four
//     pyramid levels, each its own way into the head), trained on rendered page windows, scored on
//     64 windows of the real pages (`--after p2o.Conv.21`: the backbone's four skip connections).
//
//   npx tsx bench/compress.ts [--model fashion|cls|det] [--specs a,b,…] [--epochs 3] [--train-limit N]
//                             [--test-limit N] [--held N] [--calib 512] [--seed 1] [--lr 1e-3] [--labels]
//                             [--after NODE] [--feature-weight 1]
//
// Learned stages train on the first (train-limit − held) training inputs and report held-back
// agreement on the last `held` while training; the coder (intN) is calibrated on the first `calib`
// training inputs. Test inputs are used only for the final figures: top-1 agreement with the
// uncut model and accuracy against the labels (fashion, cls), or the output's cosine similarity
// with the uncut model's (det). Training is distillation only; --labels adds the training
// labels' cross-entropy (Fashion-MNIST's; the rendered inputs have none).
// Defaults: fashion's full sets (60,000 / 10,000), cls 6,000 rendered lines, det 1,000 rendered
// windows. Prints a markdown table and a machine line; docs/benchmarks.md records the commands.

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
import { type CalibSample, IMAGE_PRESETS, type ImagePreprocess, preprocessImage, type RgbaImage } from '../src/search/calib-data.js';
import { calibrateAndCompress } from '../src/search/calibrate.js';
import { measureFidelity } from '../src/search/fidelity.js';
import { cropImage, loadImage, pageTiles, textLineCrops } from '../tests/helpers/text-lines.js';
import { arg } from './lib.js';
import { renderTextLines, renderTextPages } from './text-render.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

interface Case {
  title: string;
  /** The node the cut is after. */
  after: string;
  model: Model;
  split: SplitResult;
  /** Training inputs (the last `held` of them held back while training), the coder's calibration inputs, test inputs. */
  all: CalibSample[];
  test: CalibSample[];
  /** What the test figure is: top-1 agreement with the uncut model, or the output's cosine similarity with it. */
  measure: 'top-1' | 'cosine';
  specs: string;
  trainLimit: number;
  testLimit: number;
  /** Describes the data for the table's heading. */
  describe: (train: number, held: number, test: number) => string;
}

const modelKey = arg('model', 'fashion');
const trainLimitArg = arg('train-limit', '');
const testLimitArg = arg('test-limit', '');

function cutModel(file: string, shapes: Record<string, number[]>, after: string): { model: Model; split: SplitResult } {
  const model = loadModel(path.join(repoRoot, 'fixtures/models', file));
  inferShapes(model, { inputShapes: shapes });
  return { model, split: new PassManager<Model, SplitResult>([cutPass({ after })], CHECKED_RUN).run(model).model };
}

/** Preprocessed images as samples of one input (`label` kept when given). */
function imageSamples(input: string, dims: number[], images: { image: RgbaImage; label?: number }[], pre: ImagePreprocess, prefix: string): CalibSample[] {
  return images.map(({ image, label }, i) => {
    const data = preprocessImage(image, dims, pre);
    return { id: `${prefix}${i}`, ...(label !== undefined ? { label } : {}), load: () => ({ [input]: { dtype: DataType.FLOAT, dims, data } }) };
  });
}

function fashionCase(): Case {
  const samples = (images: string, labels: string, limit: number, prefix: string): CalibSample[] => {
    const d = loadIdxImages(path.join(FASHION_MNIST_DIR, images), path.join(FASHION_MNIST_DIR, labels), { limit });
    return Array.from({ length: d.n }, (_, i) => ({
      id: `${prefix}${i}`,
      label: d.labels[i],
      load: () => ({ image: { dtype: DataType.FLOAT, dims: [1, 1, 28, 28], data: d.images.subarray(i * 784, (i + 1) * 784) } }),
    }));
  };
  const after = 'Relu_25';
  const trainLimit = Number(trainLimitArg || 60000);
  const testLimit = Number(testLimitArg || 10000);
  return {
    title: 'Fashion-MNIST ResNet',
    after,
    ...cutModel('fashion_mnist_resnet.onnx', { image: [1, 1, 28, 28] }, after),
    all: samples('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', trainLimit, 'tr'),
    test: samples('t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz', testLimit, 'te'),
    measure: 'top-1',
    specs: 'none,int8,pca=4+int4,pca=8+int4,learned=4+int4,learned=16/s2+int4,learned=8/s2+int2',
    trainLimit,
    testLimit,
    describe: (train, held, test) => `${train} training images (${held} more held back while training), ${test} test images`,
  };
}

/** The real pages' images, decoded once. */
const pages = new Map<string, RgbaImage>();
const page = (source: string): RgbaImage => pages.get(source) ?? (pages.set(source, loadImage(source)), pages.get(source)!);

function clsCase(): Case {
  const dims = [1, 3, 48, 192];
  const pre = IMAGE_PRESETS['paddleocr-cls']!;
  const after = 'p2o.Add.82';
  const trainLimit = Number(trainLimitArg || 6000);
  const crops = textLineCrops().slice(0, Number(testLimitArg || 256));
  return {
    title: 'PaddleOCR direction classifier',
    after,
    ...cutModel('ch_ppocr_mobile_v2.0_cls_infer.onnx', { x: dims }, after),
    // rendered lines train unlabelled (distillation only): their labels would pull towards the truth, not the teacher
    all: imageSamples('x', dims, renderTextLines(trainLimit, 5).map((l) => ({ image: l.image })), pre, 'r'),
    test: imageSamples('x', dims, crops.map((c) => ({ image: cropImage(page(c.source), c), label: c.label })), pre, 'crop'),
    measure: 'top-1',
    specs: 'none,int8,int4,pca=8+int4,learned=8+int4,learned=16/s2+int8,learned=16+int2',
    trainLimit,
    testLimit: crops.length,
    describe: (train, held, test) =>
      `${train} rendered text lines (${held} more held back while training; bench/text-render.ts), scored on ${test} real text-line crops of fixtures/images (scanned page.png and printed bw_text.png, upright and rotated 180°)`,
  };
}

function detCase(): Case {
  const side = 160;
  const dims = [1, 3, side, side];
  const pre = IMAGE_PRESETS['paddleocr-det']!;
  const after = arg('after', 'p2o.Conv.58');
  const trainLimit = Number(trainLimitArg || 1000);
  const tiles = pageTiles(Number(testLimitArg || 64));
  return {
    title: `PaddleOCR detector (${side}×${side})`,
    after,
    ...cutModel('ch_PP-OCRv4_det_infer.onnx', { x: dims }, after),
    all: imageSamples('x', dims, renderTextPages(trainLimit, 5).map((image) => ({ image })), pre, 'r'),
    test: imageSamples('x', dims, tiles.map((c) => ({ image: cropImage(page(c.source), c) })), pre, 'tile'),
    measure: 'cosine',
    specs: 'none,int8,int4,int4:channel,pca=20+int4,learned=20+int4,learned=16+int4,learned=20+int2',
    trainLimit,
    testLimit: tiles.length,
    describe: (train, held, test) => `${train} rendered page windows (${held} more held back while training; bench/text-render.ts), scored on ${test} square windows of the real pages in fixtures/images`,
  };
}

const CASES: Record<string, () => Case> = { fashion: fashionCase, cls: clsCase, det: detCase };
if (!CASES[modelKey]) throw new Error(`--model ${modelKey}: one of ${Object.keys(CASES).join(', ')}`);
const c = CASES[modelKey]!();
const { model, split } = c;
const specs = arg('specs', c.specs).split(',').map((s) => s.trim()).filter(Boolean);
const epochs = Number(arg('epochs', '3'));
const lr = Number(arg('lr', '1e-3'));
// the cut-tensor MSE's weight next to the output terms (learnBottleneck's featureWeight)
const featureWeight = Number(arg('feature-weight', '1'));
const held = Math.min(Number(arg('held', modelKey === 'fashion' ? '1000' : '200')), Math.floor(c.all.length / 2));
const calibCount = Number(arg('calib', '512'));
const seed = Number(arg('seed', '1'));
// training is distillation only unless --labels: the labelled Fashion-MNIST figures are a separate row set
const useLabels = process.argv.includes('--labels');
const train = c.all.slice(0, c.all.length - held).map((s) => (useLabels ? s : { id: s.id, load: s.load }));
const heldBack = c.all.slice(c.all.length - held);
const calib = train.slice(0, calibCount);
const test = c.test;

interface Row {
  spec: string;
  bytes: number;
  ratio: number;
  /** Top-1 agreement or cosine on the test inputs. */
  agreement: number;
  accuracy: number | null;
  original: number | null;
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
      lr,
      featureWeight,
      onProgress: (p) => {
        if (p.heldOutAgreement !== undefined)
          console.error(`${text}: epoch ${p.epoch} loss ${p.loss.toFixed(4)} held-back ${(p.heldOutAgreement * 100).toFixed(1)}% ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      },
    });
  }
  const trainS = learned ? (performance.now() - t0) / 1000 : null;
  const { compressed } = await calibrateAndCompress(split, spec, calib, learned ? { learned: learned.weights } : {});
  const f = await measureFidelity(model, compressed, { calibration: [], heldOut: test });
  const out = c.measure === 'top-1' ? f.heldOut.outputs.find((o) => o.top1Agreement !== null)! : f.heldOut.outputs[0]!;
  rows.push({
    spec: text,
    bytes: f.wire.bytesPerSample!,
    ratio: f.wire.float32CutBytesPerSample! / f.wire.bytesPerSample!,
    agreement: c.measure === 'top-1' ? out.top1Agreement! : out.cosine,
    accuracy: out.accuracy?.compressed ?? null,
    original: out.accuracy?.original ?? null,
    trainS,
    epochs: learned ? epochs : null,
    ...(learned ? { start: learned.initialAgreement } : {}),
  });
  console.error(`${text}: done (${((performance.now() - t0) / 1000).toFixed(0)} s): ${JSON.stringify(rows.at(-1))}`);
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
const fig = (x: number): string => (c.measure === 'top-1' ? pct(x) : x.toFixed(4));
const original = rows.find((r) => r.original !== null)?.original ?? null;
const lines = [
  `${c.title} cut after ${c.after} (${split.cutTensors.length === 1 ? '' : `${split.cutTensors.length} tensors: `}${split.cutTensors.join(', ')}); ${c.describe(train.length, held, test.length)}${original !== null ? `; uncut accuracy on the test inputs ${pct(original)}` : ''}.`,
  '',
  c.measure === 'top-1'
    ? '| compression | bytes / sample | × fewer than float32 | top-1 agreement (test) | test accuracy | points lost | held-back agreement at the PCA start | training s | epochs |'
    : '| compression | bytes / sample | × fewer than float32 | output cosine (test) | held-back cosine at the PCA start | training s | epochs |',
  c.measure === 'top-1' ? '|---|---:|---:|---:|---:|---:|---:|---:|---:|' : '|---|---:|---:|---:|---:|---:|---:|',
  ...rows.map((r) => {
    const common = `| ${r.spec} | ${r.bytes} | ${r.ratio.toFixed(1)}× | ${fig(r.agreement)} |`;
    const tail = ` ${r.start !== undefined ? fig(r.start) : '–'} | ${r.trainS !== null ? r.trainS.toFixed(0) : '–'} | ${r.epochs ?? '–'} |`;
    if (c.measure === 'cosine') return common + tail;
    return `${common} ${r.accuracy !== null ? pct(r.accuracy) : '–'} | ${r.accuracy !== null && r.original !== null ? ((r.original - r.accuracy) * 100).toFixed(1) : '–'} |` + tail;
  }),
  '',
  `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? 'unknown CPU'}, Node ${process.version}, onnxruntime-node ${ort.env.versions.common}; load average after: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`,
];
console.log(lines.join('\n'));
