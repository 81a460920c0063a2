// Data-free model inversion (Dong et al., BMVC 2022), with DeepInversion's synthesis (Yin et al.,
// CVPR 2020): the attacker has no data, only the edge part. (a) It synthesises inputs whose
// activations match the running statistics the edge part's BatchNorm layers stored during
// training; (b) splits the edge part into shallow blocks at single-tensor cuts and trains one
// small inverse module per block on (block input, block output) pairs of the synthetic data;
// (c) chains the modules (z → … → x̂) and tunes the chain end to end, with the synthetic pairs
// as an anchor and cycle consistency ‖E(D(z)) − z‖² on the observed wire values: re-encoding
// x̂ through the edge part (BatchNorm frozen as deployed) must give back what was observed.

import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../ir/builder.js';
import { constantPredicate } from '../ir/constants.js';
import { DataType } from '../ir/dtype.js';
import type { Model, Node, Value } from '../ir/graph.js';
import { xorshift32 } from '../ir/random.js';
import { differentiate, GRAD_PREFIX } from '../passes/autodiff/index.js';
import { bnStatisticsPrior, combineLosses, l2Loss, totalVariationLoss } from '../passes/autodiff/losses.js';
import { inferShapes } from '../passes/shape/index.js';
import { createOptimizer, scheduledLr } from '../runtime/train/optimizer.js';
import { cloneModel } from '../passes/training-graph.js';
import {
  appendPart,
  applyInverse,
  createSession,
  emitInverse,
  featureDistances,
  frozenEdge,
  INVERSE_OPSET,
  type InverseActivation,
  InverseParams,
  type InverseSpec,
  rows,
  runStacked,
  stack,
  type Stack,
  targetBatch,
  trainOnStreams,
  withOutputs,
} from './inverse-net.js';
import { isBatchable } from './target.js';
import type { Attack, AttackContext, AttackResult, AttackTarget, Budget, Probe } from './types.js';

export interface DatafreeOptions {
  /** Synthetic inputs, optimised in batches of `synthBatch` for `synthSteps` Adam steps each. */
  synthSamples: number;
  synthBatch: number;
  synthSteps: number;
  /** Adam's first learning rate for x̂, as a share of the input range (cosine decay). */
  synthLr: number;
  /** Weights of TV(x̂) and of mean(x̂²), both relative to the squared input range; the BatchNorm prior has weight 1. */
  tvWeight: number;
  l2Weight: number;
  /** At most this many blocks (inverse modules) along the edge part. */
  maxBlocks: number;
  /** Training steps per block module, and of the end-to-end tuning, batches of `batch`. */
  blockSteps: number;
  cycleSteps: number;
  batch: number;
  lr: number;
  /** Weight of the cycle-consistency term (relative squared feature distance) against the synthetic pairs' MSE. */
  cycleWeight: number;
  maxWidth: number;
}

/**
 * Sizes per budget (measured on the Fashion-MNIST ResNet, 2 cores: `fast` ~10 s, `standard`
 * ~1 min for the deepest cut). The cycle tuning matters most at deep cuts; the block split
 * gains a few hundredths of SSIM there once each block has a few hundred steps.
 */
export const DATAFREE_BUDGETS: Record<Budget, DatafreeOptions> = {
  fast: { synthSamples: 32, synthBatch: 32, synthSteps: 150, synthLr: 0.1, tvWeight: 0.5, l2Weight: 0.01, maxBlocks: 2, blockSteps: 60, cycleSteps: 80, batch: 16, lr: 3e-3, cycleWeight: 1, maxWidth: 32 },
  standard: { synthSamples: 128, synthBatch: 32, synthSteps: 250, synthLr: 0.1, tvWeight: 0.5, l2Weight: 0.01, maxBlocks: 3, blockSteps: 250, cycleSteps: 200, batch: 32, lr: 2e-3, cycleWeight: 1, maxWidth: 64 },
  thorough: { synthSamples: 512, synthBatch: 64, synthSteps: 400, synthLr: 0.1, tvWeight: 0.5, l2Weight: 0.01, maxBlocks: 4, blockSteps: 800, cycleSteps: 600, batch: 32, lr: 2e-3, cycleWeight: 1, maxWidth: 64 },
};

function prod(dims: readonly number[]): number {
  return dims.reduce((a, d) => a * d, 1);
}

function batchNorms(model: Model): Node[] {
  return [...model.graph.nodes].filter((n) => n.opType === 'BatchNormalization');
}

// ---- (a) synthesis ----

/** The synthesis graph: x̂ → bn-prior + TV + L2, and grad:x̂. */
function synthesisGraph(target: AttackTarget, batch: number, o: DatafreeOptions): { model: Model; loss: string } {
  const m = cloneModel(target.model);
  const shapes = { [target.input]: [batch, ...target.inputDims] };
  inferShapes(m, { inputShapes: shapes });
  const span = target.range.hi.reduce((a, h, c) => a + (h - target.range.lo[c]!), 0) / target.range.hi.length;
  const elements = batch * prod(target.inputDims);
  const loss = combineLosses(m, [
    { loss: bnStatisticsPrior(m).loss, weight: 1 },
    { loss: totalVariationLoss(m, target.input, 2), weight: o.tvWeight / (span * span) },
    // l2Loss sums; divided by the element count it is mean(x̂²)
    { loss: l2Loss(m, [target.input]), weight: o.l2Weight / (span * span * elements) },
  ]);
  loss.name = 'audit:synthesis_loss';
  m.graph.outputs.length = 0;
  m.graph.outputs.push(loss);
  differentiate(m, { wrt: [target.input], loss: loss.name, inputShapes: shapes, unreachable: 'error' });
  return { model: m, loss: loss.name };
}

async function synthesise(target: AttackTarget, o: DatafreeOptions, ctx: AttackContext): Promise<{ x: Stack; loss: number; steps: number }> {
  const batch = isBatchable(target) ? Math.min(o.synthBatch, o.synthSamples) : 1;
  const batches = Math.ceil(o.synthSamples / batch);
  const { model, loss } = synthesisGraph(target, batch, o);
  const session = await createSession(model, ctx.threads);
  const [C, H, W] = target.inputDims as [number, number, number];
  const plane = H * W;
  const per = C * plane;
  const out = new Float32Array(batches * batch * per);
  const rand = xorshift32(ctx.seed ^ 0x51ed270b);
  const gauss = (): number => Math.sqrt(-2 * Math.log(Math.max(rand(), 1e-12))) * Math.cos(2 * Math.PI * rand());
  const span = target.range.hi.map((h, c) => h - target.range.lo[c]!);
  const meanSpan = span.reduce((a, s) => a + s, 0) / span.length;
  const grad = `${GRAD_PREFIX}${target.input}`;
  let lastLoss = NaN;
  try {
    for (let k = 0; k < batches; k++) {
      const x = out.subarray(k * batch * per, (k + 1) * batch * per);
      // start: the middle of the range plus noise of a sixth of it
      for (let s = 0; s < batch; s++) {
        for (let c = 0; c < C; c++) {
          const lo = target.range.lo[c]!;
          const mid = lo + span[c]! / 2;
          for (let i = (s * C + c) * plane; i < (s * C + c + 1) * plane; i++) x[i] = Math.min(lo + span[c]!, Math.max(lo, mid + (gauss() * span[c]!) / 6));
        }
      }
      const opt = createOptimizer({ kind: 'adam', lr: 1 });
      const params = new Map([['x', x]]);
      const feed = new ort.Tensor('float32', x, [batch, C, H, W]);
      for (let step = 0; step < o.synthSteps; step++) {
        const r = await session.run({ [target.input]: feed }, [loss, grad]);
        lastLoss = Number((r[loss]!.data as Float32Array)[0]);
        opt.update(params, new Map([['x', r[grad]!.data as Float32Array]]), scheduledLr(o.synthLr * meanSpan, step, { kind: 'cosine', total: o.synthSteps }));
        for (let s = 0; s < batch; s++) {
          for (let c = 0; c < C; c++) {
            const lo = target.range.lo[c]!;
            const hi = target.range.hi[c]!;
            for (let i = (s * C + c) * plane; i < (s * C + c + 1) * plane; i++) x[i] = x[i]! < lo ? lo : x[i]! > hi ? hi : x[i]!;
          }
        }
        ctx.onProgress?.({ phase: 'datafree: synthesis', done: k * o.synthSteps + step + 1, total: batches * o.synthSteps });
      }
    }
  } finally {
    await session.release();
  }
  return { x: { n: o.synthSamples, dims: [...target.inputDims], data: out.subarray(0, o.synthSamples * per) }, loss: lastLoss, steps: batches * o.synthSteps };
}

// ---- (b) blocks ----

/** Ops whose output is a natural block boundary (after a nonlinearity, a residual sum, a pooling). */
const BOUNDARY_OPS = new Set(['Relu', 'LeakyRelu', 'PRelu', 'Clip', 'HardSwish', 'HardSigmoid', 'Sigmoid', 'Tanh', 'Elu', 'Selu', 'Gelu', 'Mish', 'Add', 'Sum', 'MaxPool', 'AveragePool']);

export interface Boundary {
  name: string;
  /** Per-sample dims [C, H, W]. */
  dims: number[];
  activation: InverseActivation;
}

/** Ops with weights: a block must hold at least one. */
const WEIGHTED_OPS = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul', 'Einsum']);

/**
 * Single-tensor cuts inside the edge part at which to split it into at most `maxBlocks` blocks,
 * in graph order: values every path from the input to the observed values passes through,
 * produced by a boundary op, 4-D with static dims. Every block holds at least one weighted op
 * (of an Add → Relu pair the Relu's output is kept), and the boundaries are spread evenly
 * over the weighted ops.
 */
export function blockBoundaries(target: AttackTarget, maxBlocks: number): Boundary[] {
  if (maxBlocks <= 1) return [];
  const g = target.model.graph;
  const nodes = [...g.nodes];
  const isConst = constantPredicate();
  const observed = new Set(target.observed.map((o) => o.name));
  const input = g.inputs.find((v) => v.name === target.input)!;
  const separates = (cut: Value): boolean => {
    const reached = new Set<Value>([input]);
    for (const n of nodes) {
      if (n.dependencies().some((d) => d !== cut && reached.has(d))) for (const out of n.outputs) reached.add(out);
    }
    return !g.outputs.some((o) => reached.has(o));
  };
  // depth: weighted ops before a value (graph order is topological)
  const weighted = nodes.map((n) => WEIGHTED_OPS.has(n.opType) && n.inputs.slice(1).some((v) => v !== null && isConst(v)));
  const total = weighted.filter(Boolean).length;
  const byDepth = new Map<number, Value>();
  let depth = 0;
  nodes.forEach((n, at) => {
    if (weighted[at]) depth++;
    if (!BOUNDARY_OPS.has(n.opType) || n.outputs.length !== 1 || depth === 0 || depth === total) return;
    const v = n.outputs[0]!;
    const s = v.shape;
    if (observed.has(v.name) || isConst(v) || !s || s.length !== 4 || !s.slice(1).every((d) => typeof d === 'number')) return;
    // the latest candidate at each depth wins
    if (separates(v)) byDepth.set(depth, v);
  });
  const candidates = [...byDepth.entries()].sort((a, b) => a[0] - b[0]);
  const blocks = Math.min(maxBlocks, candidates.length + 1);
  const chosen: [number, Value][] = blocks === candidates.length + 1 ? candidates : [];
  for (let j = 1; j < blocks && chosen !== candidates; j++) {
    const goal = (j * total) / blocks;
    let best: [number, Value] | null = null;
    for (const c of candidates) {
      if (chosen.length && c[0] <= chosen[chosen.length - 1]![0]) continue;
      if (!best || Math.abs(c[0] - goal) < Math.abs(best[0] - goal)) best = c;
    }
    if (best) chosen.push(best);
  }
  return chosen.map(([, v]) => ({
    name: v.name,
    dims: (v.shape as number[]).slice(1),
    activation: v.producer()!.opType === 'Relu' ? { kind: 'relu' } : { kind: 'none' },
  }));
}

// ---- the attack ----

function skipped(started: number, code: string, message: string): AttackResult {
  return { attack: 'datafree', reconstructions: [], featureDistance: [], skipped: { code, message }, details: {}, seconds: (performance.now() - started) / 1000 };
}

interface Module {
  prefix: string;
  spec: InverseSpec;
}

/** Emit the chain D_0 ∘ … ∘ D_k reading the observed values `z`. */
function emitChain(b: GraphBuilder, p: InverseParams, modules: readonly Module[], z: Value[]): Value {
  let cur = z;
  for (let i = modules.length - 1; i >= 0; i--) cur = [emitInverse(b, p, modules[i]!.prefix, modules[i]!.spec, cur)];
  return cur[0]!;
}

function chainModel(target: AttackTarget, modules: readonly Module[], trained: ReadonlyMap<string, Float32Array>, seed: number): Model {
  const b = new GraphBuilder('datafree_chain');
  const p = new InverseParams(b, trained, seed);
  const z = target.observed.map((o, i) => b.input(`z${i}`, DataType.FLOAT, ['N', ...o.dims]));
  const x = emitChain(b, p, modules, z);
  b.output(b.op('Identity', [x], {}, { outputNames: ['xhat'] }), { dtype: DataType.FLOAT, shape: ['N', ...target.inputDims] });
  return b.model({ opset: INVERSE_OPSET });
}

function stepsToEpochs(steps: number, n: number, batch: number): number {
  return Math.max(1, Math.ceil(steps / Math.max(1, Math.floor(n / batch))));
}

export async function runDatafree(target: AttackTarget, probes: Probe[], ctx: AttackContext, override: Partial<DatafreeOptions> = {}): Promise<AttackResult> {
  const started = performance.now();
  const o = { ...DATAFREE_BUDGETS[ctx.budget], ...override };
  const opset = Math.max(INVERSE_OPSET, target.model.opset);
  if (batchNorms(target.model).length === 0) {
    return skipped(started, 'W_AUDIT_NO_BATCHNORM', 'the edge part has no BatchNormalization: there are no stored statistics to synthesise training data from');
  }

  const phaseStart = { t: performance.now() };
  const lap = (): number => {
    const now = performance.now();
    const s = (now - phaseStart.t) / 1000;
    phaseStart.t = now;
    return Number(s.toFixed(2));
  };
  // (a) synthetic inputs
  const synth = await synthesise(target, o, ctx);
  const synthesisSeconds = lap();

  // (b) blocks, their (input, output) pairs, one inverse module each
  const boundaries = blockBoundaries(target, o.maxBlocks);
  const observedNames = target.observed.map((v) => v.name);
  const session = await createSession(withOutputs(target, boundaries.map((b) => b.name)), ctx.threads);
  let acts: Stack[];
  try {
    acts = await runStacked(session, target.input, synth.x, [...boundaries.map((b) => b.name), ...observedNames], targetBatch(target, 64));
  } finally {
    await session.release();
  }
  // level 0 is the input, level i the i-th boundary, the last level the observed values
  const levels: Stack[][] = [[synth.x], ...boundaries.map((_, i) => [acts[i]!]), acts.slice(boundaries.length)];
  const modules: Module[] = [];
  for (let i = 0; i < levels.length - 1; i++) {
    const inputs = i === levels.length - 2 ? target.observed.map((v) => v.dims) : [boundaries[i]!.dims];
    const activation: InverseActivation = i === 0 ? { kind: 'range', range: target.range } : boundaries[i - 1]!.activation;
    modules.push({ prefix: `block${i}`, spec: { inputs, output: i === 0 ? [...target.inputDims] : boundaries[i - 1]!.dims, activation, maxWidth: o.maxWidth } });
  }
  const batch = Math.min(o.batch, synth.x.n);
  const trained = new Map<string, Float32Array>();
  const blockLosses: number[] = [];
  let steps = 0;
  for (let i = 0; i < modules.length; i++) {
    const mod = modules[i]!;
    const b = new GraphBuilder(`${mod.prefix}_inverse`);
    const p = new InverseParams(b, new Map(), ctx.seed + 101 * i);
    const ins = levels[i + 1]!.map((s, k) => b.input(`in${k}`, DataType.FLOAT, ['N', ...s.dims]));
    b.output(b.op('Identity', [emitInverse(b, p, mod.prefix, mod.spec, ins)], {}, { outputNames: ['out'] }), { dtype: DataType.FLOAT, shape: ['N', ...mod.spec.output] });
    const feeds: Record<string, Stack> = { target: levels[i]![0]! };
    levels[i + 1]!.forEach((s, k) => (feeds[`in${k}`] = s));
    const r = await trainOnStreams({
      model: b.model({ opset: INVERSE_OPSET }),
      loss: 'mse:out=target',
      params: p.names(),
      optimizer: { kind: 'adam', lr: o.lr },
      streams: [{ feeds, batch }],
      epochs: stepsToEpochs(o.blockSteps, synth.x.n, batch),
      seed: ctx.seed + i,
      threads: ctx.threads,
      onStep: (done, total) => ctx.onProgress?.({ phase: `datafree: block ${i + 1}/${modules.length}`, done, total }),
    });
    for (const [k, v] of r.params) trained.set(k, v);
    blockLosses.push(r.loss);
    steps += r.steps;
  }

  const blockSeconds = lap();

  // (c) the chain, tuned end to end: synthetic pairs + cycle consistency on the observed values
  const zObserved = target.observed.map((v, i) => stack(probes.map((p) => p.z[i]!), v.dims));
  let cycleLoss = NaN;
  let cycleSteps = 0;
  // only float observed values can be matched (an index tensor has no gradient to follow)
  const matched = target.observed.map((_, i) => i).filter((i) => (target.model.graph.outputs[i]!.dtype ?? DataType.FLOAT) === DataType.FLOAT);
  if (probes.length > 0 && o.cycleSteps > 0 && matched.length > 0) {
    const edge = frozenEdge(target, opset);
    const b = new GraphBuilder('datafree_cycle');
    const p = new InverseParams(b, trained, ctx.seed);
    const zs = target.observed.map((v, i) => b.input(`s${i}`, DataType.FLOAT, ['N', ...v.dims]));
    const zo = target.observed.map((v, i) => b.input(`o${i}`, DataType.FLOAT, ['N', ...v.dims]));
    b.output(b.op('Identity', [emitChain(b, p, modules, zs)], {}, { outputNames: ['xs'] }));
    const xo = emitChain(b, p, modules, zo);
    const encoded = appendPart(b, edge, target.input, xo, 'E/');
    const terms = [`mse:xs=x`];
    for (const i of matched) {
      b.output(b.op('Identity', [encoded[i]!], {}, { outputNames: [`e${i}`] }));
      const z = zObserved[i]!.data;
      let sq = 0;
      for (const v of z) sq += v * v;
      const meanSq = Math.max(sq / z.length, 1e-12);
      terms.push(`${o.cycleWeight / (meanSq * matched.length)}*feature:e${i}=o${i}`);
    }
    const feedsSynth: Record<string, Stack> = { x: synth.x };
    levels[levels.length - 1]!.forEach((s, i) => (feedsSynth[`s${i}`] = s));
    const feedsObs: Record<string, Stack> = {};
    zObserved.forEach((s, i) => (feedsObs[`o${i}`] = s));
    const obsBatch = isBatchable(target) ? Math.min(batch, probes.length) : 1;
    const r = await trainOnStreams({
      model: b.model({ opset, extraOpsets: [...edge.opsetImports].filter(([d]) => d !== '' && d !== 'ai.onnx') }),
      loss: terms.join('+'),
      params: p.names(),
      optimizer: { kind: 'adam', lr: o.lr / 2 },
      streams: [
        { feeds: feedsSynth, batch },
        { feeds: feedsObs, batch: obsBatch },
      ],
      epochs: stepsToEpochs(o.cycleSteps, synth.x.n, batch),
      seed: ctx.seed + 1000,
      threads: ctx.threads,
      onStep: (done, total) => ctx.onProgress?.({ phase: 'datafree: cycle tuning', done, total }),
    });
    for (const [k, v] of r.params) trained.set(k, v);
    cycleLoss = r.loss;
    cycleSteps = r.steps;
    steps += r.steps;
  }

  const cycleSeconds = lap();

  const chain = chainModel(target, modules, trained, ctx.seed);
  const feeds: Record<string, Stack> = {};
  zObserved.forEach((s, i) => (feeds[`z${i}`] = s));
  const reconstructions = probes.length ? rows(await applyInverse(chain, feeds, 'xhat', ctx.threads)) : [];
  const featureDistance = probes.length ? await featureDistances(target, reconstructions, probes, ctx.threads) : [];
  return {
    attack: 'datafree',
    reconstructions,
    featureDistance,
    details: {
      syntheticSamples: synth.x.n,
      synthesisSteps: synth.steps,
      synthesisLoss: synth.loss,
      blocks: modules.length,
      boundaries: boundaries.map((b) => b.name).join(',') || '(none)',
      blockLosses: blockLosses.map((l) => l.toPrecision(4)).join(','),
      cycleSteps,
      ...(cycleSteps > 0 ? { cycleLoss } : {}),
      steps,
      batch,
      synthesisSeconds,
      blockSeconds,
      cycleSeconds,
    },
    seconds: (performance.now() - started) / 1000,
  };
}

export const datafreeAttack: Attack = { name: 'datafree', run: (target, probes, ctx) => runDatafree(target, probes, ctx) };
