// Learned vs training-free plans end to end (issue 17's latency benchmark): the Fashion-MNIST
// ResNet planned on each emulated link (1, 10, 100 Mbps, same RTT) twice, with `runPlan` as
// `splitc plan` does, under the same agreement floor measured on held-back Fashion test images:
//   - the best training-free plan: compression options none + --free-options;
//   - the best learned plan: none + --learned-options, trained on Fashion training images
//     (`--train`, few images and epochs by default; weights cached, so reruns skip training);
// each chosen plan built with `runBuild` (as `splitc build`) and measured end to end through
// the emulated link next to edge-only and cloud-only (bench/e2e.ts, as bench/plan.ts does), and
// each plan's best split meeting the floor too when it chose a baseline (the first of the next
// --best-splits feasible splits in predicted order whose agreement, measured here, meets it).
//
//   npx tsx bench/learned-plan.ts [--links 1,10,100] [--rtt 20] [--edge-slowdown 10]
//         [--free-options none,int8,int4,pca=8+int4] [--learned-options learned=16/s2+int4,learned=32/s2+int4]
//         [--min-agreement 0.97] [--train-images 4096] [--calib-images 1000] [--epochs 3] [--seed 1]
//         [--best-splits 6] [--budget-s 8] [--warmup-s 2] [--edge-profile P] [--cloud-profile P] [--cache DIR|none]
//
// Data (Debian's dataset-fashion-mnist, preprocessed as the model was trained by loadIdxImages):
// the first --train-images training images train the learned options; the first
// --calib-images test images are the calibration data, of which the seeded held-back quarter
// measures every agreement (never trained on). --edge-slowdown S emulates an edge S× slower
// than this machine's wasm (bench/plan.ts says how). --cache keeps trained weights (default
// ~/.cache/splitc/learned; `none`: train every time, keep nothing). Prints markdown.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SplitcError } from '../src/ir/errors.js';
import { loadModel, loadModelWithBytes } from '../src/ir/serde/io.js';
import { parseCompressSpec } from '../src/passes/bottleneck/spec.js';
import { runBuild } from '../src/pipeline/build.js';
import { compressAndMeasure, DEFAULT_TRAINING, fidelitySummary, type TrainingSetup } from '../src/pipeline/compress.js';
import { loadCalibration, loadTrainingData } from '../src/pipeline/calibration.js';
import { cutUnderManager } from '../src/passes/cut-pass.js';
import { inferShapes } from '../src/passes/shape/index.js';
import { modelSha256Of } from '../src/search/profiles/predict.js';
import { specIsLearned } from '../src/pipeline/learn.js';
import { defaultLearnedCacheDir } from '../src/pipeline/learn-cache.js';
import type { PlanFile } from '../src/pipeline/plan-file.js';
import { runPlan } from '../src/pipeline/plan.js';
import { runSplit } from '../src/pipeline/split.js';
import { FASHION_MNIST_DIR, loadIdxImages } from '../src/runtime/train/idx.js';
import type { Candidate } from '../src/search/plan/types.js';
import { createE2e, type Inputs, log, repoRoot } from './e2e.js';
import { arg } from './lib.js';

const linksMbps = arg('links', '1,10,100').split(',').map(Number);
const rttMs = Number(arg('rtt', '20'));
const edgeSlowdown = Number(arg('edge-slowdown', '10'));
const freeOptions = arg('free-options', 'none,int8,int4,pca=8+int4');
const learnedOptions = arg('learned-options', 'learned=16/s2+int4,learned=32/s2+int4');
const minAgreement = Number(arg('min-agreement', '0.97'));
const trainImages = Number(arg('train-images', '4096'));
const calibImages = Number(arg('calib-images', '1000'));
const epochs = Number(arg('epochs', '3'));
const seed = Number(arg('seed', '1'));
const budgetS = Number(arg('budget-s', '8'));
const warmupS = Number(arg('warmup-s', '2'));
const bestSplitTries = Number(arg('best-splits', '6'));
const cacheArg = arg('cache', '');
const cacheDir = cacheArg === 'none' ? undefined : cacheArg || defaultLearnedCacheDir();
if (!learnedOptions.split(',').some((o) => specIsLearned(parseCompressSpec(o)))) throw new Error(`--learned-options: no option with a learned stage in ${learnedOptions}`);

const MODEL = path.join(repoRoot, 'fixtures/models/fashion_mnist_resnet.onnx');
const SHAPES = { image: [1, 1, 28, 28] };
const e2e = createE2e({ warmupS, budgetS, edgeSlowdown, rttMs, tmpPrefix: 'splitc-bench-learned-plan-' });

/** A .npy batch (format 1.0, little-endian float32) of `n` preprocessed Fashion images of `split`. */
function fashionNpy(split: 'train' | 't10k', n: number): string {
  const d = loadIdxImages(path.join(FASHION_MNIST_DIR, `${split}-images-idx3-ubyte.gz`), path.join(FASHION_MNIST_DIR, `${split}-labels-idx1-ubyte.gz`), { limit: n });
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${d.n}, 1, 28, 28), }`;
  while ((10 + header.length + 1) % 64 !== 0) header += ' ';
  header += '\n';
  const pre = Buffer.alloc(10);
  pre.set([0x93, ...Buffer.from('NUMPY'), 1, 0]);
  pre.writeUInt16LE(header.length, 8);
  // a fixed name: the training data's sha256 (the cache key) covers file names
  const file = path.join(e2e.tmp, `fashion-${split}-${d.n}.npy`);
  fs.writeFileSync(file, Buffer.concat([pre, Buffer.from(header, 'latin1'), Buffer.from(d.images.buffer, d.images.byteOffset, d.images.byteLength)]));
  return file;
}
const train = fashionNpy('train', trainImages);
const calib = fashionNpy('t10k', calibImages);

// Profiles: this machine's (or the ones given), the edge slowed; runPlan reads them from files.
const { edge, cloud } = await e2e.profiles([{ file: MODEL, inputShapes: SHAPES }], { edge: arg('edge-profile', ''), cloud: arg('cloud-profile', '') });
const profileFile = (name: string, p: object): string => {
  const file = path.join(e2e.tmp, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify(p));
  return file;
};
const edgeFile = profileFile('edge-slowed', edge);
const cloudFile = profileFile('cloud-planned', cloud);

const { bytes } = loadModelWithBytes(MODEL);
const image = loadIdxImages(path.join(FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz'), path.join(FASHION_MNIST_DIR, 't10k-labels-idx1-ubyte.gz'), { limit: 1 }).images;
const inputs: Inputs = { image: { dims: SHAPES.image, data: image } };

// Agreement of a split the plan did not measure, as runPlan measures it (the same calibration,
// training data, schedule and weights cache), by cut and compression.
const measureModel = loadModel(MODEL);
inferShapes(measureModel, { inputShapes: SHAPES });
const calibration = loadCalibration(measureModel, { calib, preprocess: undefined });
const trainingData = loadTrainingData(measureModel, { train, preprocess: undefined });
const setup: TrainingSetup = { ...DEFAULT_TRAINING, epochs, seed, data: trainingData, ...(cacheDir !== undefined ? { cache: { dir: cacheDir, modelSha256: modelSha256Of(bytes) } } : {}) };
const agreements = new Map<string, number>();
async function agreementOf(c: Candidate): Promise<number> {
  if (c.agreement !== null) return c.agreement;
  const key = `${c.cutTensors.join('\0')}|${c.compress}`;
  let a = agreements.get(key);
  if (a === undefined) {
    try {
      const { fidelity } = await compressAndMeasure(measureModel, cutUnderManager(measureModel, c.cutTensors), parseCompressSpec(c.compress), calibration, { training: setup });
      a = fidelitySummary(fidelity).agreement;
      log(`  ${c.cutTensors.join('+')} ${c.compress}: agreement ${(a * 100).toFixed(1)}%`);
    } catch (e) {
      // as the planner does: a candidate that cannot be built is infeasible, never fatal
      if (!(e instanceof SplitcError)) throw e;
      a = -1;
      log(`  ${c.cutTensors.join('+')} ${c.compress}: infeasible (${e.code}: ${e.message})`);
    }
    agreements.set(key, a);
  }
  return a;
}

interface Row {
  mbps: number;
  family: 'baseline' | 'training-free' | 'learned';
  role: string;
  c: Candidate;
  measuredMs: number;
  agreement: number;
}
const rows: Row[] = [];
const summary: string[] = [];
let bundleNo = 0;
const bundleDir = (): string => path.join(e2e.tmp, `b${bundleNo++}`);
const isBaseline = (p: PlanFile, c: Candidate): boolean => c === p.baselines.edgeOnly || c === p.baselines.cloudOnly;
const t0 = performance.now();

const edgeOnlyMs = await e2e.edgeOnlyMs(bytes, inputs);
const wholeServer = await e2e.startWholeServer(MODEL, 'fashion');
try {
  for (const mbps of linksMbps) {
    const link = e2e.emulated(mbps);
    const linkFile = profileFile(`link-${mbps}`, link);
    const cloudOnlyMs = await e2e.cloudOnlyMs(wholeServer, link, inputs);
    const byFamily: Record<string, { chosen: Row; split?: Row }> = {};
    let baselines: PlanFile['baselines'] | undefined;
    for (const [family, options] of [['training-free', freeOptions], ['learned', learnedOptions]] as const) {
      const learned = family === 'learned';
      log(`${mbps} Mbps: planning ${family} (${options}) …`);
      const out = path.join(e2e.tmp, `plan-${mbps}-${family}.json`);
      const { plan } = await runPlan({
        model: MODEL,
        edge: edgeFile,
        cloud: cloudFile,
        link: linkFile,
        compressOptions: options,
        minAgreement,
        calib,
        ...(learned ? { training: { train, epochs, seed } } : {}),
        ...(cacheDir !== undefined ? { learnedCacheDir: cacheDir } : {}),
        shapes: SHAPES,
        out,
        toolVersion: '0.1.0',
      });
      baselines ??= plan.baselines; // the same predictions in both plans
      // the chosen plan: a baseline is measured above; anything else is built as `splitc build` does
      let chosen: Row;
      if (isBaseline(plan, plan.chosen)) {
        chosen = { mbps, family, role: 'chosen', c: plan.chosen, measuredMs: plan.chosen.kind === 'edge-only' ? edgeOnlyMs : cloudOnlyMs, agreement: 1 };
      } else {
        const dir = bundleDir();
        const run = await runBuild({ plan: out, outDir: dir, toolVersion: '0.1.0', audit: false, ...(cacheDir !== undefined ? { learnedCacheDir: cacheDir } : {}) });
        chosen = { mbps, family, role: 'chosen', c: plan.chosen, measuredMs: await e2e.bundleMs(dir, link, inputs), agreement: run.measured?.agreement ?? 1 };
      }
      rows.push(chosen);
      byFamily[family] = { chosen };
      if (plan.chosen.kind === 'split') continue;
      // The best predicted split that meets the floor: candidates in objective order, each
      // lossy one's agreement measured as the plan measures it (kept across links), the first
      // that meets the floor built and measured end to end.
      for (const c of plan.candidates.filter((x) => x.kind === 'split' && x.violates.length === 0).slice(0, bestSplitTries)) {
        const agreement = await agreementOf(c);
        if (agreement < minAgreement) continue;
        const dir = bundleDir();
        const lossy = c.compress !== 'none';
        await runSplit({
          model: MODEL,
          cut: c.cutTensors,
          ...(lossy ? { compress: c.compress, calib } : {}),
          shapes: SHAPES,
          outDir: dir,
          toolVersion: '0.1.0',
          audit: false,
          ...(lossy && specIsLearned(parseCompressSpec(c.compress)) ? { training: { train, epochs, seed, ...(cacheDir !== undefined ? { cacheDir } : {}) } } : {}),
        });
        const split: Row = { mbps, family, role: 'best split', c, measuredMs: await e2e.bundleMs(dir, link, inputs), agreement };
        rows.push(split);
        byFamily[family]!.split = split;
        break;
      }
    }
    rows.push(
      { mbps, family: 'baseline', role: 'edge-only', c: baselines!.edgeOnly, measuredMs: edgeOnlyMs, agreement: 1 },
      { mbps, family: 'baseline', role: 'cloud-only', c: baselines!.cloudOnly, measuredMs: cloudOnlyMs, agreement: 1 },
    );
    const free = byFamily['training-free']!.chosen;
    const lrn = byFamily['learned']!.chosen;
    const better = Math.min(edgeOnlyMs, cloudOnlyMs);
    summary.push(
      `| ${mbps} | ${label(free.c)} | ${free.measuredMs.toFixed(1)} | ${label(lrn.c)} | ${lrn.measuredMs.toFixed(1)} | ${better.toFixed(1)} (${edgeOnlyMs <= cloudOnlyMs ? 'edge-only' : 'cloud-only'}) | ${(free.measuredMs / lrn.measuredMs).toFixed(2)}× | ${(better / lrn.measuredMs).toFixed(2)}× |`,
    );
    log(`${mbps} Mbps: training-free chose ${label(free.c)} (${free.measuredMs.toFixed(1)} ms), learned chose ${label(lrn.c)} (${lrn.measuredMs.toFixed(1)} ms); edge-only ${edgeOnlyMs.toFixed(1)}, cloud-only ${cloudOnlyMs.toFixed(1)}`);
  }
} finally {
  await wholeServer.stop();
}
e2e.cleanup();

function label(c: Candidate): string {
  if (c.kind === 'cloud-only') return c.compress !== 'none' ? `cloud-only, input ${c.compress}` : 'cloud-only';
  if (c.kind === 'edge-only') return 'edge-only';
  return `split after ${c.edgeNodes} edge nodes (${c.cutTensors.join(', ')}), ${c.compress}`;
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
console.log(
  `${os.cpus().length} × ${os.cpus()[0]?.model.trim()}, Node ${process.version}; fashion_mnist_resnet; links ${linksMbps.join(', ')} Mbps (both directions) with ${rttMs} ms RTT, emulated; ` +
    `edge ${edgeSlowdown === 1 ? 'this machine (wasm, 1 thread)' : `emulated ${edgeSlowdown}× slower than this machine's wasm`}; floor: ${pct(minAgreement)} top-1 agreement on ${calibration.sets.heldOut.length} held-back test images; ` +
    `training-free options none,${freeOptions.replace(/^none,?/, '')}; learned options none,${learnedOptions}, trained on ${trainImages} training images, ${epochs} epoch${epochs === 1 ? '' : 's'}, seed ${seed}; ` +
    `${((performance.now() - t0) / 1000).toFixed(0)} s; load average after: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}\n`,
);
console.log('| Mbps | plan | row | predicted ms | measured ms (median) | bytes/sample | agreement (held-back) |');
console.log('|---:|---|---|---:|---:|---:|---:|');
const FAMILY_ORDER = ['baseline', 'training-free', 'learned'];
rows.sort((a, b) => a.mbps - b.mbps || FAMILY_ORDER.indexOf(a.family) - FAMILY_ORDER.indexOf(b.family)); // stable: chosen before best split
for (const r of rows) {
  const c = r.c;
  console.log(`| ${r.mbps} | ${r.family} | ${r.role === 'chosen' ? `**${label(c)}** (chosen)` : r.role === 'best split' ? `best split: ${label(c)}` : label(c)} | ${c.totalMs.toFixed(1)} | ${r.measuredMs.toFixed(1)} | ${c.bytesPerSample} | ${pct(r.agreement)} |`);
}
console.log('\n| Mbps | best training-free plan | measured ms | best learned plan | measured ms | better baseline ms | learned speed-up over training-free | learned speed-up over better baseline |');
console.log('|---:|---|---:|---|---:|---:|---:|---:|');
for (const s of summary) console.log(s);
