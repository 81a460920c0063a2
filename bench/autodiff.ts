// Autodiff benchmark:
// (a) gradient-graph time ÷ forward time, for every fixture and the trained Fashion-MNIST
//     ResNet: the forward model vs its gradient graph (loss Σ⟨outputs, R⟩, gradients with
//     respect to the input and to every parameter, and with respect to the input only), both
//     in onnxruntime-node with default optimizations and the same thread count;
// (b) training throughput of the Fashion-MNIST ResNet (images/s, Adam, batch 64, the trainer's
//     whole step: session.run of the training graph + the optimizer in JS) vs PyTorch on the
//     same architecture, batch size and thread count (bench/autodiff_torch.py, Debian's
//     python3-torch), on the same synthetic batch;
// (c) input-gradient steps per second for a 1×3×48×192 input through the PaddleOCR classifier
//     (the inner loop of a white-box inversion attack).
//
//   npx tsx bench/autodiff.ts [--threads 2] [--runs 20] [--train-steps 60] [--rounds 3] [--batch 64] [--no-torch]
//                             [--resnet-batch N] [--no-fold] [--no-polyphase] [--where-masks] [--no-batch-as-depth]
//                             [--step-breakdown] [--models stem,…] [--warmup 5]
//
// --resnet-batch N adds an (a) row for the trained ResNet at batch N. Ablations of the
// gradient graphs' choices, for comparing runs: --no-fold (input graphs keep their
// BatchNorms), --no-polyphase (strided data gradients by ConvTranspose), --where-masks (masks
// by Where at every size), --no-batch-as-depth (the training graph's Convs with few output
// positions stay per image). (b) also times the forward alone on both sides.
// --step-breakdown adds where (b)'s training step spends its time: `splitc profile`'s per-node
// times (src/search/profiler.ts: onnxruntime's profiler, its bookkeeping subtracted, fused
// kernels charged back to the graph's nodes) summed by what each node computes.
// --models limits (a) to the named models (file names without .onnx; default all, which
// docs/benchmarks.md records). --warmup sets the untimed runs before each timed block in (a)
// and (c) and splitc's training steps before (b)'s rounds (the PyTorch peer keeps its own).
//
// Prints markdown tables.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import type { Model, Node } from '../src/ir/graph.js';
import { loadModel, modelToBytes } from '../src/ir/serde/io.js';
import { differentiate, parameterNames } from '../src/passes/autodiff/index.js';
import type { GradTuningOptions } from '../src/passes/autodiff/tuning.js';
import { foldBatchNorm } from '../src/passes/fold-batchnorm.js';
import { projectionLoss } from '../src/passes/autodiff/losses.js';
import { inferShapes } from '../src/passes/shape/index.js';
import { profileModel } from '../src/search/profiler/profile.js';
import { smallResNet } from '../src/runtime/train/models.js';
import { buildTrainingGraph, cloneModel } from '../src/passes/training-graph.js';
import { Trainer } from '../src/runtime/train/trainer.js';
import { arg, seededFloats, selectModels } from './lib.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..');
const threads = Number(arg('threads', '2'));
const runs = Number(arg('runs', '20'));
const trainSteps = Number(arg('train-steps', '60'));
const batch = Number(arg('batch', '64'));
const noTorch = process.argv.includes('--no-torch');
// Alternating rounds of splitc and PyTorch (the shared machine's speed drifts by ±30 %).
const rounds = Number(arg('rounds', '3'));
const warmup = Number(arg('warmup', '5'));
const sessionOptions: ort.InferenceSession.SessionOptions = { intraOpNumThreads: threads, interOpNumThreads: 1, logSeverityLevel: 3 };

interface Entry {
  file: string;
  inputShapes: Record<string, number[]>;
}
const manifest = JSON.parse(fs.readFileSync(path.join(repoRoot, 'fixtures/models/manifest.json'), 'utf8')) as { models: Entry[]; trained?: (Entry & { file: string })[] };
const models: Entry[] = [...manifest.models, ...(manifest.trained ?? [])];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/**
 * Median time of each model's session.run, measured in alternating blocks (each block after
 * two untimed runs, since a session's threads keep spinning for a while after its run and
 * would slow the next session's first runs), so the shared machine's drift hits all alike.
 */
async function timeInterleaved(models: Uint8Array[], feeds: Record<string, ort.Tensor>): Promise<number[]> {
  const ts = models.map(() => [] as number[]);
  const blocks = 3;
  for (let blk = 0; blk < blocks; blk++) {
    for (const [k, m] of models.entries()) {
      // One session alive at a time: onnxruntime's pool threads spin after a run (its
      // default), and a spinning thread of another live session took a core from the one
      // being timed (the classifier's input gradient measured 7.2–7.9 ms beside the
      // others, 3.8 ms alone).
      const s = await ort.InferenceSession.create(m, sessionOptions);
      for (let i = 0; i < warmup; i++) await s.run(feeds);
      for (let i = 0; i < Math.ceil(runs / blocks); i++) {
        const t0 = performance.now();
        await s.run(feeds);
        ts[k]!.push(performance.now() - t0);
      }
      await s.release();
    }
  }
  return ts.map(median);
}

/**
 * The model with the loss Σ⟨output, R⟩ appended and gradients w.r.t. `wrt` ('input' or
 * 'all'); for the input alone Conv → BatchNorm pairs are folded first, as `splitc grad --wrt
 * inputs` does.
 */
const tuning: GradTuningOptions = {
  ...(process.argv.includes('--no-polyphase') ? { conv: { polyphase: false } } : {}),
  ...(process.argv.includes('--where-masks') ? { mask: { productMinElements: Infinity } } : {}),
};

function gradModel(forward: Model, inputShapes: Record<string, number[]>, wrt: 'input' | 'all'): Model {
  const m = cloneModel(forward);
  if (wrt === 'input' && !process.argv.includes('--no-fold')) foldBatchNorm(m);
  inferShapes(m, { inputShapes });
  const params = parameterNames(m);
  const loss = projectionLoss(m, m.graph.outputs, { seed: 11 });
  m.graph.outputs.push(loss);
  const input = Object.keys(inputShapes)[0]!;
  differentiate(m, { wrt: wrt === 'input' ? [input] : [input, ...params], loss: loss.name, inputShapes, tuning });
  return m;
}

// (a)
const rowsA: string[] = [];
const resnetBatch = Number(arg('resnet-batch', '0'));
const resnet = models.find((m) => m.file.includes('fashion_mnist_resnet'));
const rowsFor: Entry[] = [...selectModels(models, arg('models', '')), ...(resnetBatch > 0 && resnet ? [{ ...resnet, inputShapes: Object.fromEntries(Object.entries(resnet.inputShapes).map(([k, d]) => [k, [resnetBatch, ...d.slice(1)]])) }] : [])];
for (const e of rowsFor) {
  const forward = loadModel(path.join(repoRoot, 'fixtures/models', e.file));
  const shapes = Object.fromEntries(Object.entries(e.inputShapes).map(([k, d]) => [k, d.map((x) => (typeof x === 'number' ? x : 1))]));
  const feeds = Object.fromEntries(Object.entries(shapes).map(([k, d], i) => [k, new ort.Tensor('float32', seededFloats(d.reduce((a, x) => a * x, 1), 3 + i), d)]));
  const [fwd, gIn, gAll] = (await timeInterleaved(
    [modelToBytes(forward), modelToBytes(gradModel(forward, shapes, 'input'), { intermediateTypes: false }), modelToBytes(gradModel(forward, shapes, 'all'), { intermediateTypes: false })],
    feeds,
  )) as [number, number, number];
  rowsA.push(`| ${e.file.replace(/\.onnx$/, '')} | ${Object.values(shapes)[0]!.join('×')} | ${fwd.toFixed(2)} | ${gIn.toFixed(2)} | **${(gIn / fwd).toFixed(2)}** | ${gAll.toFixed(2)} | **${(gAll / fwd).toFixed(2)}** |`);
  process.stderr.write(`${rowsA[rowsA.length - 1]}\n`);
}

// (b) training throughput, and the forward alone on both sides (where the step's time goes)
const images = seededFloats(batch * 28 * 28, 21);
const labels = BigInt64Array.from({ length: batch }, (_, i) => BigInt((i * 7) % 10));
const noBatchAsDepth = process.argv.includes('--no-batch-as-depth');
const trainShapes = { image: [batch, 1, 28, 28] };
const trainer = await Trainer.create({
  ort,
  model: smallResNet({ seed: 1 }),
  loss: 'ce:logits',
  inputShapes: trainShapes,
  optimizer: { kind: 'adam', lr: 1e-3, weightDecay: 5e-4, decoupled: true },
  sessionOptions,
  batchAsDepth: !noBatchAsDepth,
});
const feedsB = { image: new ort.Tensor('float32', images, [batch, 1, 28, 28]), labels: new ort.Tensor('int64', labels, [batch]) };
for (let i = 0; i < warmup; i++) await trainer.trainStep(feedsB);
// The training graph's forward alone: batch statistics, parameters fed as the trainer feeds them.
const fwdGraph = buildTrainingGraph(smallResNet({ seed: 1 }), { loss: 'ce:logits', inputShapes: trainShapes, forwardOnly: true, batchAsDepth: !noBatchAsDepth });
const fwdSession = await ort.InferenceSession.create(modelToBytes(fwdGraph.model, { intermediateTypes: false }), sessionOptions);
const fwdFeeds: Record<string, ort.Tensor> = { image: feedsB.image };
for (const [name, t] of fwdGraph.initial) fwdFeeds[name] = new ort.Tensor('float32', Float32Array.from(t.toTypedArray() as Float32Array), [...t.dims]);
for (let i = 0; i < warmup; i++) await fwdSession.run(fwdFeeds);

type TorchResult = { imagesPerSecond: number; version: string; threads: number };
function runTorch(extra: string[]): TorchResult | null {
  const p = spawnSync('/usr/bin/python3', [path.join(here, 'autodiff_torch.py'), '--threads', String(threads), '--batch', String(batch), '--steps', String(trainSteps), ...extra], { encoding: 'utf8' });
  if (p.status !== 0) {
    process.stderr.write(`PyTorch peer did not run (${p.stderr.trim().split('\n').pop() ?? p.status}); install python3-torch\n`);
    return null;
  }
  return JSON.parse(p.stdout.trim().split('\n').pop()!) as TorchResult;
}
async function imagesPerSecond(step: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < trainSteps; i++) await step();
  return (trainSteps * batch * 1000) / (performance.now() - t0);
}
const oursRounds: number[] = [];
const torchRounds: number[] = [];
const oursFwdRounds: number[] = [];
const torchFwdRounds: number[] = [];
let torch: TorchResult | null = null;
for (let r = 0; r < rounds; r++) {
  oursRounds.push(await imagesPerSecond(() => trainer.trainStep(feedsB)));
  oursFwdRounds.push(await imagesPerSecond(() => fwdSession.run(fwdFeeds)));
  if (noTorch) continue;
  const step = runTorch([]);
  const fwd = step && runTorch(['--forward-only']);
  if (!step || !fwd) break;
  torch = step;
  torchRounds.push(step.imagesPerSecond);
  torchFwdRounds.push(fwd.imagesPerSecond);
}
await trainer.release();
await fwdSession.release();
const ours = median(oursRounds);
const oursFwd = median(oursFwdRounds);
if (torch) torch.imagesPerSecond = median(torchRounds);
const torchFwd = torchFwdRounds.length ? median(torchFwdRounds) : null;

const breakdown = process.argv.includes('--step-breakdown') ? await stepBreakdown() : null;

/**
 * The training step's time by what its nodes compute: the forward's Convs, BatchNorms and the
 * rest; the gradient nodes of each forward op (a node `grad/<forward node>/…`), a Conv's
 * split into its weight gradient (the nodes its `grad:<weight>` output depends on) and its
 * data gradient; the loss.
 */
async function stepBreakdown(): Promise<{ rows: [string, number][]; totalMs: number; method: string }> {
  const forward = smallResNet({ seed: 1 });
  const tg = buildTrainingGraph(forward, { loss: 'ce:logits', inputShapes: trainShapes, batchAsDepth: !noBatchAsDepth });
  const fwdOps = new Map([...forward.graph.nodes].map((n) => [n.name, n.opType] as const));
  /** The forward node a training-graph node belongs to: itself, or the longest name it extends with '/'. */
  const ownerOf = (name: string): string | undefined => {
    for (let cut = name.length; cut > 0; cut = name.lastIndexOf('/', cut - 1)) if (fwdOps.has(name.slice(0, cut))) return name.slice(0, cut);
    return undefined;
  };
  const weightGrad = new Set<string>();
  for (const n of forward.graph.nodes) {
    if (n.opType !== 'Conv') continue;
    const prefix = `grad/${n.name}/`;
    const stack: (Node | null | undefined)[] = tg.model.graph.outputs.filter((o) => n.inputs.slice(1).some((i) => i && o.name === `grad:${i.name}`)).map((o) => o.producer());
    while (stack.length) {
      const p = stack.pop();
      if (!p || !p.name.startsWith(prefix) || weightGrad.has(p.name)) continue;
      weightGrad.add(p.name);
      for (const v of p.inputs) stack.push(v?.producer());
    }
  }
  const category = (name: string): string => {
    if (name.startsWith('loss/')) return 'loss';
    const grad = name.startsWith('grad/');
    const owner = ownerOf(grad ? name.slice(5) : name);
    const op = owner ? fwdOps.get(owner)! : 'other';
    if (!grad) return `forward: ${op === 'Conv' || op === 'BatchNormalization' ? op : 'other'}`;
    if (op === 'Conv') return weightGrad.has(name) ? 'gradient: Conv weights' : 'gradient: Conv data';
    return `gradient: ${['BatchNormalization', 'Relu'].includes(op) ? op : 'other'}`;
  };
  const p = await profileModel(modelToBytes(tg.model, { intermediateTypes: false }), { threads, inputShapes: { ...trainShapes, labels: [batch] }, repeats: 20, seed: 3 });
  const sums = new Map<string, number>();
  for (const [name, ms] of Object.entries(p.nodesMs)) {
    const c = category(name);
    sums.set(c, (sums.get(c) ?? 0) + ms);
  }
  return { rows: [...sums].sort((a, b) => b[1] - a[1]), totalMs: p.totalMs, method: p.nodeTimesMethod };
}

// (c) input-gradient steps/s through the classifier
const cls = models.find((m) => m.file.includes('cls'))!;
const clsModel = loadModel(path.join(repoRoot, 'fixtures/models', cls.file));
const clsShapes = { x: [1, 3, 48, 192] };
const clsFeeds = { x: new ort.Tensor('float32', seededFloats(3 * 48 * 192, 5), [1, 3, 48, 192]) };
const [stepMs] = (await timeInterleaved([modelToBytes(gradModel(clsModel, clsShapes, 'input'), { intermediateTypes: false })], clsFeeds)) as [number];

const out: string[] = [];
out.push(`Machine: ${threads} intra-op thread(s), onnxruntime-node ${ort.env.versions.node ?? ort.env.versions.common}, median of ${runs} runs in 3 alternating blocks per graph (forward, gradient w.r.t. the input, gradient w.r.t. everything), each block a fresh session with ${warmup} untimed runs first; ablations: ${['--no-fold', '--no-polyphase', '--where-masks', '--no-batch-as-depth'].filter((f) => process.argv.includes(f)).join(' ') || 'none'}.\n`);
out.push('(a) Gradient graph time ÷ forward time (loss Σ⟨outputs, R⟩; times in ms):\n');
out.push('| model | input | forward | grad w.r.t. input | ratio | grad w.r.t. input + all params | ratio |');
out.push('|---|---|---:|---:|---:|---:|---:|');
out.push(...rowsA);
out.push(`\n(b) Training throughput, Fashion-MNIST ResNet (Adam, batch ${batch}, median of ${rounds} alternating rounds of ${trainSteps} steps after ${warmup} warm-up steps, same synthetic batch; rounds: splitc ${oursRounds.map((x) => x.toFixed(0)).join(', ')}${torchRounds.length ? `, PyTorch ${torchRounds.map((x) => x.toFixed(0)).join(', ')}` : ''}):\n`);
out.push('| trainer | images/s | splitc ÷ peer |');
out.push('|---|---:|---:|');
out.push(`| splitc (onnxruntime-node ${ort.env.versions.common}, ${threads} threads) | ${ours.toFixed(0)} | ${torch ? `**${(ours / torch.imagesPerSecond).toFixed(2)}**` : '—'} |`);
if (torch) out.push(`| PyTorch ${torch.version} (CPU, ${torch.threads} threads) | ${torch.imagesPerSecond.toFixed(0)} | 1.00 |`);
out.push(`\nWhere a step's time goes: the forward alone (training-mode BatchNorm, no gradients; rounds: splitc ${oursFwdRounds.map((x) => x.toFixed(0)).join(', ')}${torchFwdRounds.length ? `, PyTorch ${torchFwdRounds.map((x) => x.toFixed(0)).join(', ')}` : ''} images/s), in ms per batch of ${batch}:\n`);
out.push('| | forward | whole step | step − forward |');
out.push('|---|---:|---:|---:|');
const ms = (ips: number): number => (batch * 1000) / ips;
out.push(`| splitc | ${ms(oursFwd).toFixed(1)} | ${ms(ours).toFixed(1)} | ${(ms(ours) - ms(oursFwd)).toFixed(1)} |`);
if (torch && torchFwd) out.push(`| PyTorch | ${ms(torchFwd).toFixed(1)} | ${ms(torch.imagesPerSecond).toFixed(1)} | ${(ms(torch.imagesPerSecond) - ms(torchFwd)).toFixed(1)} |`);
if (breakdown) {
  out.push(`\nThe training step's session.run by what its nodes compute (\`splitc profile\`'s per-node times, ${breakdown.method}; untraced run ${breakdown.totalMs.toFixed(1)} ms):\n`);
  out.push('| nodes | ms per step | share |');
  out.push('|---|---:|---:|');
  const sum = breakdown.rows.reduce((a, [, ms]) => a + ms, 0);
  for (const [what, ms] of breakdown.rows) out.push(`| ${what} | ${ms.toFixed(1)} | ${((100 * ms) / sum).toFixed(0)} % |`);
}
out.push(`\n(c) Input-gradient steps through the classifier (1×3×48×192): ${stepMs.toFixed(2)} ms per step, **${(1000 / stepMs).toFixed(0)} steps/s**.`);
process.stdout.write(out.join('\n') + '\n');
