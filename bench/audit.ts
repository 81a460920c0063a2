// Audit benchmark (issue 14):
// (a) white-box attack steps per second, splitc (src/audit/whitebox.ts: one session.run of the
//     attack graph + Adam and the clamp in JS) against PyTorch (bench/audit_torch.py, Debian's
//     python3-torch) on the trained Fashion-MNIST ResNet with the same weights (the peer reads
//     them from the same ONNX file), cut after Relu_13 (the first stage) and after Relu_25, at
//     each batch and thread count, in alternating rounds from the same starting points against
//     the same targets. A step: forward to the cut, feature distance relative to |z|^2, total
//     variation, backward to the input, Adam on x, clamp to the input range. In the first
//     round both sides also run --check-steps steps from the same start (untimed) and their
//     x are compared (they should agree to float rounding; after the 200 timed steps a deep
//     cut's non-convex problem may have let them drift apart, also shown), and splitc's step
//     is split into session.run and the JS around it.
// (b) wall time of whole cuts as `splitc audit` runs them (attack target, the probes' features,
//     runWhitebox): one cut of the PaddleOCR classifier a third into its MACs at budget
//     `standard` with 8 text-line crops as probes, and every `auto` cut of each listed model
//     at budget `fast` with 4 probes.
//
//   npx tsx bench/audit.ts [--steps 200] [--warmup 20] [--rounds 3] [--batches 1,8] [--threads 1,2]
//                          [--cuts Relu_13,Relu_25] [--models fashion,cls,det,rec] [--cls-cut p2o.Add.34]
//                          [--cut-steps N] [--one-at-a-time] [--check-steps 20] [--no-torch]
//
// --models lists the models of (b) (fashion: the ResNet, cls/det/rec: the PaddleOCR
// classifier, detector and recognizer; their file stems work too); (a) runs when fashion is
// listed, the classifier's `standard` cut when cls is. (b) runs with the largest --threads
// value; a cut whose attack graph cannot be built with the symbolic batch dim is run again on
// the model with batch 1 (probes one after another, as `--shape x=1x…` would), and the table
// says why. --one-at-a-time runs all of (b) that way (to compare with one batch of every
// probe and restart). --cut-steps replaces the budgets' step counts in (b) (for quick runs;
// the recorded figures use the budgets').
// Probes: Fashion-MNIST test images (Debian's dataset-fashion-mnist; seeded noise in the input
// range when it is absent, said in the output), text-line crops of fixtures/images (the boxes
// of text-lines.json), square windows of the same pages for the detector.
//
// Prints markdown tables.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { resolveCuts } from '../src/audit/cuts.js';
import { psnr, ssim } from '../src/audit/metrics.js';
import { attackTarget, isBatchable } from '../src/audit/target.js';
import type { AttackTarget, Budget, InputRange, Probe } from '../src/audit/types.js';
import { runWhitebox, WHITEBOX_BUDGETS, WhiteboxRunner } from '../src/audit/whitebox.js';
import type { Dim, Model } from '../src/ir/graph.js';
import { xorshift32 } from '../src/ir/random.js';
import { loadModel, modelToBytes } from '../src/ir/serde/io.js';
import { cutAfterNode } from '../src/passes/cut.js';
import { inferShapes } from '../src/passes/shape/index.js';
import { createOptimizer } from '../src/runtime/train/optimizer.js';
import { FASHION_MNIST_DIR, loadIdxImages } from '../src/runtime/train/idx.js';
import { decodeImage, IMAGE_PRESETS, type ImagePreprocess, preprocessImage, type RgbaImage } from '../src/search/calib-data.js';
import { arg } from './lib.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..');
const list = (s: string): string[] => s.split(',').map((x) => x.trim()).filter(Boolean);
const steps = Number(arg('steps', '200'));
const warmup = Number(arg('warmup', '20'));
// Alternating rounds of splitc and PyTorch (the shared machine's speed drifts by ±30 %).
const rounds = Number(arg('rounds', '3'));
const batches = list(arg('batches', '1,8')).map(Number);
const threadCounts = list(arg('threads', '1,2')).map(Number);
const fashionCuts = list(arg('cuts', 'Relu_13,Relu_25'));
// short names, or the fixtures' file stems as the other benchmarks' --models take them
const MODEL_KEYS: Record<string, string> = { fashion_mnist_resnet: 'fashion', 'ch_ppocr_mobile_v2.0_cls_infer': 'cls', 'ch_PP-OCRv4_det_infer': 'det', 'ch_PP-OCRv4_rec_infer': 'rec' };
const models = list(arg('models', 'fashion,cls,det,rec')).map((m) => MODEL_KEYS[m] ?? m);
const clsCut = arg('cls-cut', 'p2o.Add.34');
const cutSteps = arg('cut-steps', '') ? Number(arg('cut-steps', '')) : null;
const noTorch = process.argv.includes('--no-torch');
// both sides run this many steps from the same start once more, untimed, and their x are compared
const checkSteps = Number(arg('check-steps', '20'));
const KNOWN_MODELS = ['fashion', 'cls', 'det', 'rec'];
const unknown = models.filter((m) => !KNOWN_MODELS.includes(m));
if (unknown.length) throw new Error(`--models: unknown ${unknown.join(', ')}; known: ${KNOWN_MODELS.join(', ')}`);
const cutThreads = Math.max(...threadCounts);
// (b) on the models with their batch fixed to 1: runWhitebox then attacks the probes one after another
const oneAtATime = process.argv.includes('--one-at-a-time');

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (x: number, d = 0): string => x.toFixed(d);

// ---------------------------------------------------------------- data

const FASHION_MEAN = 0.286;
const FASHION_STD = 0.353;
const FASHION_RANGE: InputRange = { lo: [(0 - FASHION_MEAN) / FASHION_STD], hi: [(1 - FASHION_MEAN) / FASHION_STD] };
const hasFashion = fs.existsSync(path.join(FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz'));

/** n Fashion-MNIST test images (or seeded noise in the input range when the data set is absent). */
function fashionImages(n: number): Float32Array[] {
  if (!hasFashion) {
    const rand = xorshift32(3);
    const { lo, hi } = { lo: FASHION_RANGE.lo[0]!, hi: FASHION_RANGE.hi[0]! };
    return Array.from({ length: n }, () => Float32Array.from({ length: 784 }, () => lo + (hi - lo) * rand()));
  }
  const ds = loadIdxImages(path.join(FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz'), path.join(FASHION_MNIST_DIR, 't10k-labels-idx1-ubyte.gz'), { limit: n, mean: FASHION_MEAN, std: FASHION_STD });
  return Array.from({ length: n }, (_, i) => ds.images.slice(i * 784, (i + 1) * 784));
}

interface CropBox {
  id: string;
  source: string;
  x: number;
  y: number;
  w: number;
  h: number;
  rotated: boolean;
}

const images = new Map<string, RgbaImage>();
function pageImage(source: string): RgbaImage {
  let img = images.get(source);
  if (!img) images.set(source, (img = decodeImage(fs.readFileSync(path.join(repoRoot, 'fixtures/images', source)), source)));
  return img;
}

/** The pixels of a box of a page (turned by 180° when `rotated`). */
function crop(c: CropBox): RgbaImage {
  const img = pageImage(c.source);
  const data = new Uint8Array(c.w * c.h * 4);
  for (let y = 0; y < c.h; y++) {
    for (let x = 0; x < c.w; x++) {
      const sx = c.rotated ? c.x + c.w - 1 - x : c.x + x;
      const sy = c.rotated ? c.y + c.h - 1 - y : c.y + y;
      data.set(img.data.subarray((sy * img.width + sx) * 4, (sy * img.width + sx) * 4 + 4), (y * c.w + x) * 4);
    }
  }
  return { width: c.w, height: c.h, data };
}

/**
 * n text-line crops of fixtures/images/text-lines.json whose width is about `aspect` times
 * their height (the crop index in the ids: c2 = 4, c4 = 6), spread over the lines, upright
 * and rotated alternately.
 */
function textLines(n: number, cropIndex: number): CropBox[] {
  const all = (JSON.parse(fs.readFileSync(path.join(repoRoot, 'fixtures/images/text-lines.json'), 'utf8')) as { crops: CropBox[] }).crops;
  const some = all.filter((c) => c.id.includes(`-c${cropIndex}-`));
  return Array.from({ length: n }, (_, i) => some[(Math.floor((i * some.length) / n) & ~1) + (i % 2)]!);
}

/** n square windows of the two pages (for the detector), alternating pages, spread across each. */
function pageWindows(n: number): CropBox[] {
  return Array.from({ length: n }, (_, i) => {
    const source = i % 2 === 0 ? 'page.png' : 'bw_text.png';
    const img = pageImage(source);
    const side = Math.min(img.width, img.height);
    const k = Math.floor(i / 2);
    const x = Math.round(((img.width - side) * k) / Math.max(1, Math.ceil(n / 2) - 1));
    return { id: `window-${i}`, source, x, y: 0, w: side, h: side, rotated: false };
  });
}

// ---------------------------------------------------------------- helpers

/**
 * Time spent in session.run while `on`: every session's run (onnxruntime-common's
 * InferenceSession class) goes through this wrapper, so the runs inside runWhitebox and
 * WhiteboxRunner.optimise are timed without touching them.
 */
const runClock = { on: false, ms: 0 };
type Run = (...args: unknown[]) => Promise<unknown>;
const sessionProto = (ort.InferenceSession as unknown as { prototype: { run: Run } }).prototype;
const originalRun = sessionProto.run;
sessionProto.run = async function (this: unknown, ...args: unknown[]) {
  if (!runClock.on) return originalRun.apply(this, args);
  const t0 = performance.now();
  try {
    return await originalRun.apply(this, args);
  } finally {
    runClock.ms += performance.now() - t0;
  }
};

/** Run the attack target on samples (one batch, or one at a time when its batch dim is fixed): what the attacker observes, per sample. */
async function observe(target: AttackTarget, xs: readonly Float32Array[], threads: number): Promise<Float32Array[][]> {
  const s = await ort.InferenceSession.create(modelToBytes(target.model), { intraOpNumThreads: threads, interOpNumThreads: 1, logSeverityLevel: 3 });
  const step = isBatchable(target) ? xs.length : 1;
  const size = target.inputDims.reduce((a, d) => a * d, 1);
  const out: Float32Array[][] = [];
  for (let i = 0; i < xs.length; i += step) {
    const batch = xs.slice(i, i + step);
    const x = new Float32Array(batch.length * size);
    batch.forEach((v, k) => x.set(v, k * size));
    const r = await s.run({ [target.input]: new ort.Tensor('float32', x, [batch.length, ...target.inputDims]) });
    for (let k = 0; k < batch.length; k++) {
      out.push(
        target.observed.map((o) => {
          const n = o.dims.reduce((a, d) => a * d, 1);
          return Float32Array.from((r[o.name]!.data as Float32Array).subarray(k * n, (k + 1) * n));
        }),
      );
    }
  }
  await s.release();
  return out;
}

/** Restart 0 of runWhitebox: the middle of the range with ±2.5 % noise, one per sample. */
function startingPoints(range: InputRange, dims: readonly number[], n: number, seed: number): Float32Array {
  const [C, H, W] = dims as [number, number, number];
  const rand = xorshift32(seed);
  const x = new Float32Array(n * C * H * W);
  for (let s = 0; s < n; s++) {
    for (let c = 0; c < C; c++) {
      const lo = range.lo[c]!;
      const span = range.hi[c]! - lo;
      const off = (s * C + c) * H * W;
      for (let i = off; i < off + H * W; i++) x[i] = lo + span * (0.5 + 0.05 * (rand() - 0.5));
    }
  }
  return x;
}

/** Per channel to [0, 1] of the range (the metrics' pixel range, as the audit scores). */
function toUnit(x: Float32Array, dims: readonly number[], range: InputRange): Float32Array {
  const plane = dims[1]! * dims[2]!;
  return x.map((v, i) => {
    const c = Math.floor(i / plane) % dims[0]!;
    return (v - range.lo[c]!) / (range.hi[c]! - range.lo[c]!);
  });
}

// ---------------------------------------------------------------- (a) steps per second

interface TorchResult {
  stepsPerSecond: number;
  version: string;
  threads: number;
  zMaxDiff: number;
  distance: number[];
}

interface StepTiming {
  stepsPerSecond: number;
  runMs: number;
  stepMs: number;
  x: Float32Array;
  distance: Float32Array;
  /** x after `checkSteps` steps from x0 (their own schedule), when asked. */
  checkX: Float32Array | null;
}

/**
 * One timed attack through splitc: a fresh runner (session), `warmup` untimed steps, then
 * `steps` steps from x0 timed up to the end of the last step's clamp (optimise runs one more
 * session.run after it that only measures: not counted), with the time inside session.run;
 * then, when `check` is set, `checkSteps` untimed steps from x0.
 */
async function splitcSteps(target: AttackTarget, x0: Float32Array, z: Float32Array[], n: number, threads: number, check: boolean): Promise<StepTiming> {
  const o = WHITEBOX_BUDGETS.fast;
  const runner = await WhiteboxRunner.create(target, o, threads);
  try {
    if (warmup > 0) await runner.optimise(Float32Array.from(x0), z, n, { steps: warmup, lr: o.lr });
    const x = Float32Array.from(x0);
    let tEnd = 0;
    let runMs = 0;
    runClock.ms = 0;
    runClock.on = true;
    const t0 = performance.now();
    const distance = await runner.optimise(x, z, n, { steps, lr: o.lr }, (k) => {
      if (k === steps) {
        tEnd = performance.now();
        runMs = runClock.ms;
      }
    });
    runClock.on = false;
    const ms = tEnd - t0;
    let checkX: Float32Array | null = null;
    if (check) {
      checkX = Float32Array.from(x0);
      await runner.optimise(checkX, z, n, { steps: checkSteps, lr: o.lr });
    }
    return { stepsPerSecond: (steps * 1000) / ms, runMs: runMs / steps, stepMs: ms / steps, x, distance, checkX };
  } finally {
    runClock.on = false;
    await runner.release();
  }
}

function runTorch(dir: string, cut: string, batch: number, threads: number, out: string | null, checkOut: string | null): TorchResult | null {
  const args = [path.join(here, 'audit_torch.py'), '--model', path.join(repoRoot, 'fixtures/models/fashion_mnist_resnet.onnx'), '--cut', cut, '--data', dir];
  args.push('--batch', String(batch), '--threads', String(threads), '--steps', String(steps), '--warmup', String(warmup));
  args.push('--lr', String(WHITEBOX_BUDGETS.fast.lr), '--tv-weight', String(WHITEBOX_BUDGETS.fast.tvWeight), '--lo', String(FASHION_RANGE.lo[0]), '--hi', String(FASHION_RANGE.hi[0]));
  if (out) args.push('--out', out);
  if (checkOut) args.push('--check-steps', String(checkSteps), '--check-out', checkOut);
  const p = spawnSync('/usr/bin/python3', args, { encoding: 'utf8' });
  if (p.status !== 0) {
    process.stderr.write(`PyTorch peer did not run (${p.stderr.trim().split('\n').pop() ?? p.status}); install python3-torch and python3-onnx\n`);
    return null;
  }
  return JSON.parse(p.stdout.trim().split('\n').pop()!) as TorchResult;
}

/** ms per call of `f`, over enough calls to take ~50 ms. */
function microMs(f: () => void): number {
  for (let i = 0; i < 20; i++) f();
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < 50) {
    f();
    n++;
  }
  return (performance.now() - t0) / n;
}

/** The JS parts of a step alone, on arrays of the step's size: Adam's update, the clamp, the input tensor. */
function jsPartsMs(size: number, range: InputRange): { adam: number; clamp: number; tensor: number } {
  const x = Float32Array.from({ length: size }, (_, i) => Math.sin(i));
  const g = Float32Array.from({ length: size }, (_, i) => Math.cos(i) * 1e-3);
  const opt = createOptimizer({ kind: 'adam', lr: 1 });
  const params = new Map([['x', x]]);
  const adam = microMs(() => opt.update(params, new Map([['x', g]]), 1e-4));
  const lo = range.lo[0]!;
  const hi = range.hi[0]!;
  const clamp = microMs(() => {
    for (let i = 0; i < size; i++) x[i] = x[i]! < lo ? lo : x[i]! > hi ? hi : x[i]!;
  });
  const tensor = microMs(() => void new ort.Tensor('float32', x, [size / 784, 1, 28, 28]));
  return { adam, clamp, tensor };
}

interface StepRow {
  cut: string;
  batch: number;
  threads: number;
  ours: number[];
  torch: number[];
  runMs: number[];
  stepMs: number[];
  js: { adam: number; clamp: number; tensor: number };
  torchVersion: string | null;
  zMaxDiff: number | null;
  /** Both sides' x after `checkSteps` steps from the same start, and after the timed steps. */
  check: Agreement | null;
  timed: Agreement | null;
  distOurs: number;
  distTorch: number | null;
}

interface Agreement {
  /** max and mean |Δx| over the batch, in units of the input range */
  max: number;
  mean: number;
  /** PSNR of one against the other (dB, on the range) */
  psnr: number;
}

function agreement(ours: Float32Array, file: string, dims: readonly number[], range: InputRange): Agreement {
  const theirs = new Float32Array(new Uint8Array(fs.readFileSync(file)).buffer);
  const span = range.hi[0]! - range.lo[0]!;
  let max = 0;
  let sum = 0;
  for (let i = 0; i < theirs.length; i++) {
    const d = Math.abs(theirs[i]! - ours[i]!) / span;
    max = Math.max(max, d);
    sum += d;
  }
  return { max, mean: sum / theirs.length, psnr: psnr(toUnit(ours, dims, range), toUnit(theirs, dims, range), 1) };
}

async function stepsPerSecond(): Promise<StepRow[]> {
  const model = loadModel(path.join(repoRoot, 'fixtures/models/fashion_mnist_resnet.onnx'));
  const maxBatch = Math.max(...batches);
  const xs = fashionImages(maxBatch);
  const rows: StepRow[] = [];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'splitc-bench-audit-'));
  try {
    for (const cut of fashionCuts) {
      const target = attackTarget(model, { cut: cutAfterNode(model, cut), range: FASHION_RANGE });
      const zs = await observe(target, xs, 1);
      for (const threads of threadCounts) {
        for (const batch of batches) {
          const x0 = startingPoints(FASHION_RANGE, target.inputDims, batch, 7);
          const z = [new Float32Array(batch * zs[0]![0]!.length)];
          zs.slice(0, batch).forEach((v, i) => z[0]!.set(v[0]!, i * v[0]!.length));
          const dir = path.join(tmp, `${cut}-b${batch}-t${threads}`);
          fs.mkdirSync(dir);
          fs.writeFileSync(path.join(dir, 'x0.bin'), x0);
          const probes = new Float32Array(batch * 784);
          xs.slice(0, batch).forEach((v, i) => probes.set(v, i * 784));
          fs.writeFileSync(path.join(dir, 'probes.bin'), probes);
          fs.writeFileSync(path.join(dir, 'z.bin'), z[0]!);
          const row: StepRow = { cut, batch, threads, ours: [], torch: [], runMs: [], stepMs: [], js: jsPartsMs(batch * 784, FASHION_RANGE), torchVersion: null, zMaxDiff: null, check: null, timed: null, distOurs: NaN, distTorch: null };
          let torchOk = !noTorch;
          for (let r = 0; r < rounds; r++) {
            const first = r === 0 && !noTorch;
            const t = await splitcSteps(target, x0, z, batch, threads, first && checkSteps > 0);
            row.ours.push(t.stepsPerSecond);
            row.runMs.push(t.runMs);
            row.stepMs.push(t.stepMs);
            if (r === 0) row.distOurs = t.distance.reduce((a, d) => a + d, 0) / batch;
            if (!torchOk) continue;
            const out = first ? path.join(dir, 'x.bin') : null;
            const checkOut = first && checkSteps > 0 ? path.join(dir, 'check.bin') : null;
            const p = runTorch(dir, cut, batch, threads, out, checkOut);
            if (!p) {
              torchOk = false;
              continue;
            }
            row.torch.push(p.stepsPerSecond);
            row.torchVersion = p.version;
            if (first) {
              row.zMaxDiff = p.zMaxDiff;
              row.distTorch = p.distance.reduce((a, d) => a + d, 0) / batch;
              row.timed = agreement(t.x, out!, target.inputDims, FASHION_RANGE);
              if (checkOut) row.check = agreement(t.checkX!, checkOut, target.inputDims, FASHION_RANGE);
            }
          }
          rows.push(row);
          process.stderr.write(`(a) ${cut} batch ${batch} threads ${threads}: splitc ${row.ours.map((v) => fmt(v)).join(', ')}; PyTorch ${row.torch.map((v) => fmt(v)).join(', ') || '—'} steps/s\n`);
        }
      }
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return rows;
}

// ---------------------------------------------------------------- (b) whole cuts

interface Bundled {
  key: string;
  file: string;
  /** The input's shape with a symbolic batch (as `--shape` would give it). */
  shape: Dim[];
  range: InputRange;
  probes: (n: number) => Float32Array[];
  probeSource: string;
}

const unitRange = (pre: ImagePreprocess, channels: number): InputRange => ({
  lo: Array.from({ length: channels }, (_, c) => (0 - (pre.mean[c] ?? pre.mean[0]!)) / (pre.std[c] ?? pre.std[0]!)),
  hi: Array.from({ length: channels }, (_, c) => (pre.scale * 255 - (pre.mean[c] ?? pre.mean[0]!)) / (pre.std[c] ?? pre.std[0]!)),
});
const cls = IMAGE_PRESETS['paddleocr-cls']!;
const det = IMAGE_PRESETS['paddleocr-det']!;
const BUNDLED: Bundled[] = [
  {
    key: 'fashion',
    file: 'fashion_mnist_resnet.onnx',
    shape: ['N', 1, 28, 28],
    range: FASHION_RANGE,
    probes: (n) => fashionImages(n),
    probeSource: hasFashion ? 'Fashion-MNIST test images' : 'seeded noise (Fashion-MNIST absent)',
  },
  {
    key: 'cls',
    file: 'ch_ppocr_mobile_v2.0_cls_infer.onnx',
    shape: ['N', 3, 48, 192],
    range: unitRange(cls, 3),
    probes: (n) => textLines(n, 2).map((c) => preprocessImage(crop(c), [1, 3, 48, 192], cls)),
    probeSource: 'text-line crops (paddleocr-cls)',
  },
  {
    key: 'det',
    file: 'ch_PP-OCRv4_det_infer.onnx',
    shape: ['N', 3, 160, 160],
    range: unitRange(det, 3),
    probes: (n) => pageWindows(n).map((c) => preprocessImage(crop(c), [1, 3, 160, 160], det)),
    probeSource: 'page windows (paddleocr-det)',
  },
  {
    key: 'rec',
    file: 'ch_PP-OCRv4_rec_infer.onnx',
    shape: ['N', 3, 48, 320],
    range: unitRange(cls, 3),
    probes: (n) => textLines(n, 4).map((c) => preprocessImage(crop(c), [1, 3, 48, 320], cls)),
    probeSource: 'text-line crops (paddleocr-cls preprocessing)',
  },
];

interface CutRow {
  model: string;
  label: string;
  depth: number;
  budget: Budget;
  probes: number;
  batch: number;
  steps: number;
  targetS: number;
  observeS: number;
  attackS: number;
  /** Of attackS, inside session.run. */
  runS: number;
  firstStepS: number;
  totalS: number;
  psnr: number;
  ssim: number;
  /** Whether runWhitebox attacked the probes one after another (the model's batch dim is fixed). */
  inTurn: boolean;
  /** Why the cut failed with the symbolic batch dim (the row then gives the batch-1 run). */
  batchError?: string;
  error?: string;
}

/** The bundled model with its input shape fixed (`batch` null: symbolic, as the audit prefers). */
function loadBundled(b: Bundled, batch: number | null = null): Model {
  const model = loadModel(path.join(repoRoot, 'fixtures/models', b.file));
  const input = model.graph.inputs.find((v) => !v.isInitializer())!;
  inferShapes(model, { inputShapes: { [input.name]: batch === null ? b.shape : [batch, ...b.shape.slice(1)] } });
  return model;
}

const errorText = (e: unknown): string => `${(e as { code?: string }).code ?? 'error'}: ${(e as Error).message.split('\n')[0]}`;

/** One cut as the audit runs it: attack target, the probes' features, the white-box attack; seconds of each. */
async function auditCut(b: Bundled, model: Model, cut: { tensors: string[]; label: string; depth: number }, budget: Budget, xs: Float32Array[]): Promise<CutRow> {
  const base = { model: b.key, label: cut.label, depth: cut.depth, budget, probes: xs.length };
  const o = { ...WHITEBOX_BUDGETS[budget], ...(cutSteps !== null ? { steps: cutSteps } : {}) };
  const t0 = performance.now();
  try {
    const target = attackTarget(model, { cut: cut.tensors, range: b.range });
    const t1 = performance.now();
    const zs = await observe(target, xs, cutThreads);
    const probes: Probe[] = xs.map((x, i) => ({ id: String(i), x, z: zs[i]! }));
    const t2 = performance.now();
    let first = 0;
    runClock.ms = 0;
    runClock.on = true;
    const r = await runWhitebox(target, probes, { budget, seed: 1, threads: cutThreads, onProgress: (p) => void (p.done === 1 && (first = performance.now())) }, cutSteps !== null ? { steps: cutSteps } : {});
    const t3 = performance.now();
    runClock.on = false;
    const unit = (x: Float32Array) => toUnit(x, target.inputDims, b.range);
    const ps = probes.map((p, i) => psnr(unit(p.x), unit(r.reconstructions[i]!), 1));
    const ss = probes.map((p, i) => ssim(unit(p.x), unit(r.reconstructions[i]!), target.inputDims, 1));
    const mean = (v: number[]) => v.reduce((a, x) => a + x, 0) / v.length;
    return { ...base, inTurn: !isBatchable(target), batch: Number(r.details.batch), steps: o.steps, targetS: (t1 - t0) / 1000, observeS: (t2 - t1) / 1000, attackS: (t3 - t2) / 1000, runS: runClock.ms / 1000, firstStepS: (first - t2) / 1000, totalS: (t3 - t0) / 1000, psnr: mean(ps), ssim: mean(ss) };
  } catch (e) {
    runClock.on = false;
    return { ...base, inTurn: false, batch: 0, steps: o.steps, targetS: NaN, observeS: NaN, attackS: NaN, runS: NaN, firstStepS: NaN, totalS: (performance.now() - t0) / 1000, psnr: NaN, ssim: NaN, error: errorText(e) };
  }
}

/** auditCut; when the symbolic batch fails, again on the model with batch 1 (as `--shape x=1x…` would run it). */
async function auditCutOrBatch1(b: Bundled, model: Model, cut: { tensors: string[]; label: string; depth: number }, budget: Budget, xs: Float32Array[]): Promise<CutRow> {
  const row = await auditCut(b, model, cut, budget, xs);
  if (!row.error) return row;
  const again = await auditCut(b, loadBundled(b, 1), cut, budget, xs);
  return { ...again, batchError: row.error };
}

async function wholeCuts(): Promise<{ standard: CutRow | null; fast: CutRow[]; resolveS: Record<string, number> }> {
  let standard: CutRow | null = null;
  const fast: CutRow[] = [];
  const resolveS: Record<string, number> = {};
  for (const b of BUNDLED.filter((m) => models.includes(m.key))) {
    const model = loadBundled(b, oneAtATime ? 1 : null);
    const input = model.graph.inputs.find((v) => !v.isInitializer())!;
    if (b.key === 'cls') {
      const [cut] = resolveCuts(model, [`after:${clsCut}`], { [input.name]: b.shape });
      standard = await auditCutOrBatch1(b, model, cut!, 'standard', b.probes(8));
      process.stderr.write(`(b) cls ${cut!.label} standard: ${fmt(standard.totalS, 1)} s\n`);
    }
    const t0 = performance.now();
    const cuts = resolveCuts(model, 'auto', { [input.name]: b.shape });
    resolveS[b.key] = (performance.now() - t0) / 1000;
    const xs = b.probes(4);
    for (const cut of cuts) {
      const row = await auditCutOrBatch1(b, model, cut, 'fast', xs);
      fast.push(row);
      process.stderr.write(`(b) ${b.key} ${cut.label} fast: ${fmt(row.totalS, 1)} s${row.batchError ? ` at batch 1 (${row.batchError})` : ''}${row.error ? ` (${row.error})` : ''}\n`);
    }
  }
  return { standard, fast, resolveS };
}

// ---------------------------------------------------------------- run and print

const loadBefore = os.loadavg().map((l) => l.toFixed(2)).join(' ');
const stepRows = models.includes('fashion') ? await stepsPerSecond() : [];
const cutRows = await wholeCuts();

const out: string[] = [];
const cpu = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
out.push(`${os.cpus().length} × ${cpu}, Node ${process.version}, onnxruntime-node ${ort.env.versions.common}${stepRows[0]?.torchVersion ? `, PyTorch ${stepRows[0].torchVersion}` : ''}; load average before: ${loadBefore}, after: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
if (stepRows.length) {
  const f = WHITEBOX_BUDGETS.fast;
  out.push(`(a) White-box attack steps per second, Fashion-MNIST ResNet (${hasFashion ? 'Fashion-MNIST test images' : 'seeded noise'} as probes; lr ${f.lr}·span, TV weight ${f.tvWeight}, cosine decay over ${steps} steps; median of ${rounds} alternating rounds of ${steps} timed steps after ${warmup} warm-up steps; ${noTorch ? 'PyTorch not run' : 'PyTorch: bench/audit_torch.py'}):\n`);
  out.push(`| cut | batch | threads | splitc steps/s (rounds) | PyTorch steps/s (rounds) | splitc ÷ PyTorch | session.run ms of a step's ms | JS ms/step (Adam + clamp + tensors, measured alone) | same x after ${checkSteps} steps: max \\|Δx\\| ÷ span (PSNR) | after ${steps}: PSNR between them, feature distance splitc / PyTorch |`);
  out.push('|---|---:|---:|---:|---:|---:|---:|---:|---|---|');
  const agreeText = (a: Agreement | null): string => (a ? `${a.max.toExponential(1)} (${Number.isFinite(a.psnr) ? `${a.psnr.toFixed(0)} dB` : 'identical'})` : '—');
  for (const r of stepRows) {
    const ours = median(r.ours);
    const theirs = r.torch.length ? median(r.torch) : null;
    const stepMs = median(r.stepMs);
    const runMs = median(r.runMs);
    const js = r.js.adam + r.js.clamp + r.js.tensor;
    const rounds = (xs: number[]) => xs.map((v) => fmt(v)).join(', ');
    out.push(
      `| after ${r.cut} | ${r.batch} | ${r.threads} | ${fmt(ours)} (${rounds(r.ours)}) | ${theirs !== null ? `${fmt(theirs)} (${rounds(r.torch)})` : '—'} | ${theirs !== null ? `**${(ours / theirs).toFixed(2)}**` : '—'} | ${runMs.toFixed(3)} of ${stepMs.toFixed(3)} | ${(stepMs - runMs).toFixed(3)} (${r.js.adam.toFixed(3)} + ${r.js.clamp.toFixed(3)} + ${r.js.tensor.toFixed(3)} = ${js.toFixed(3)}) | ${agreeText(r.check)} | ${r.timed ? `${r.timed.psnr.toFixed(0)} dB, ${r.distOurs.toExponential(2)} / ${r.distTorch!.toExponential(2)}` : '—'} |`,
    );
  }
  const zd = stepRows.map((r) => r.zMaxDiff).filter((v): v is number => v !== null);
  if (zd.length) out.push(`\nPyTorch's features of the probes vs onnxruntime's (the targets both attack): max |Δz| ${Math.max(...zd).toExponential(2)}.`);
}
const cutTable = (rows: CutRow[]): void => {
  out.push('| model | cut | MAC depth | probes × restarts (batch) | steps | target s | features s | attack s (setup + 1st step) | of which session.run s | **total s** | PSNR dB | SSIM |');
  out.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const restarts = WHITEBOX_BUDGETS[r.budget].restarts;
    const batch = r.inTurn ? `${r.probes * restarts} in turn (batch 1)${r.batchError ? '¹' : ''}` : String(r.batch);
    if (r.error) out.push(`| ${r.model} | ${r.label} | ${r.depth.toFixed(2)} | ${r.probes} | ${r.steps} | — | — | failed: ${r.error} | — | ${fmt(r.totalS, 1)} | — | — |`);
    else out.push(`| ${r.model} | ${r.label} | ${r.depth.toFixed(2)} | ${batch} | ${r.steps} | ${fmt(r.targetS, 2)} | ${fmt(r.observeS, 2)} | ${fmt(r.attackS, 1)} (${fmt(r.firstStepS, 2)}) | ${fmt(r.runS, 1)} | **${fmt(r.totalS, 1)}** | ${fmt(r.psnr, 1)} | ${r.ssim.toFixed(3)} |`);
  }
  const failed = [...new Set(rows.map((r) => r.batchError).filter((e): e is string => e !== undefined))];
  if (failed.length) out.push(`\n¹ With the symbolic batch dim the attack graph could not be built (${failed.join('; ')}); the row is the same cut on the model with its batch fixed to 1, where runWhitebox attacks the probes one after another.`);
};
if (cutRows.standard) {
  out.push(`\n(b) One cut of the PaddleOCR classifier at budget \`standard\` (${cutRows.standard.probes} text-line crops, ${cutThreads} threads${cutSteps !== null ? `, --cut-steps ${cutSteps}` : ''}${oneAtATime ? ', --one-at-a-time: batch 1' : ''}):\n`);
  cutTable([cutRows.standard]);
}
if (cutRows.fast.length) {
  out.push(`\n(b) Every \`auto\` cut at budget \`fast\` (4 probes, ${cutThreads} threads${cutSteps !== null ? `, --cut-steps ${cutSteps}` : ''}${oneAtATime ? ', --one-at-a-time: batch 1' : ''}; choosing the cuts took ${Object.entries(cutRows.resolveS).map(([k, s]) => `${k} ${fmt(s, 1)} s`).join(', ')}; probes: ${BUNDLED.filter((b) => models.includes(b.key)).map((b) => `${b.key} ${b.probeSource}`).join(', ')}):\n`);
  cutTable(cutRows.fast);
}
process.stdout.write(out.join('\n') + '\n');
