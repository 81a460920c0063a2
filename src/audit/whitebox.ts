// The white-box attack (regularised maximum likelihood, He, Zhang & Lee, ACSAC 2019): knowing
// the edge part E, find x̂ minimising  d(E(x̂), z) + λ_TV·TV(x̂)  with Adam on E's input gradient,
// x̂ kept inside the input's valid range, from several starting points; the reconstruction
// kept per probe is the one whose features are nearest z. d is the squared distance relative
// to ‖z‖² (summed over the observed tensors, averaged), so λ_TV means the same at every cut.
// Probes and restarts run as one batch through one onnxruntime session when the model's batch
// dim is symbolic (BatchNorm is in inference mode: samples do not interact).

import * as ort from 'onnxruntime-node';
import { DataType } from '../ir/dtype.js';
import { SplitcError } from '../ir/errors.js';
import { type Model, tensorType, Value } from '../ir/graph.js';
import { xorshift32 } from '../ir/random.js';
import { differentiate, GRAD_PREFIX, GradBuilder } from '../passes/autodiff/index.js';
import { straightThroughRules } from '../passes/autodiff/rule-overrides.js';
import { combineLosses, totalVariationLoss, bnStatisticsPrior } from '../passes/autodiff/losses.js';
import { foldBatchNorm } from '../passes/fold-batchnorm.js';
import { createOptimizer, scheduledLr } from '../runtime/train/optimizer.js';
import { cloneModel } from '../passes/training-graph.js';
import { createSession } from './inverse-net.js';
import { BATCH_DIM, isBatchable, withStaticBatch } from './target.js';
import type { Attack, AttackContext, AttackResult, AttackTarget, Budget, Probe } from './types.js';

export interface WhiteboxOptions {
  steps: number;
  restarts: number;
  /** Adam's first learning rate as a share of the input range (cosine decay to 0). */
  lr: number;
  /** Weight of the total variation of x̂ (in units of the squared input range). */
  tvWeight: number;
  /** Weight of the BatchNorm-statistics prior (0: off; needs BatchNorm in the edge part). */
  bnPriorWeight: number;
}

/** Steps and restarts per budget; the regularisation is the same for all. */
export const WHITEBOX_BUDGETS: Record<Budget, WhiteboxOptions> = {
  fast: { steps: 200, restarts: 1, lr: 0.2, tvWeight: 0.05, bnPriorWeight: 0 },
  standard: { steps: 600, restarts: 2, lr: 0.2, tvWeight: 0.05, bnPriorWeight: 0 },
  thorough: { steps: 2000, restarts: 4, lr: 0.2, tvWeight: 0.05, bnPriorWeight: 0 },
};

export const DISTANCE_OUTPUT = 'audit:distance';
const TARGET_PREFIX = 'audit:z';
const TV_WEIGHT_INPUT = 'audit:tv_weight';

// straightThroughRules moved to passes/autodiff/rule-overrides.ts (the trainer uses it too)
export { straightThroughRules };

/**
 * The attack graph: E's input x → (per-sample relative feature distance to the fed targets
 * `audit:z<i>`, the loss, and grad:x). Returns it with the names of its target inputs.
 */
export function whiteboxGraph(target: AttackTarget, opts: Pick<WhiteboxOptions, 'tvWeight' | 'bnPriorWeight'>): { model: Model; targets: string[]; float: number[] } {
  const m = cloneModel(target.model);
  if (!(opts.bnPriorWeight > 0)) foldBatchNorm(m);
  const g = m.graph;
  const b = new GradBuilder(m);
  b.scope = 'audit';
  const float = target.observed.map((_, i) => i).filter((i) => g.outputs[i]!.dtype === DataType.FLOAT);
  if (float.length === 0) {
    throw new SplitcError('E_AUDIT', `nothing differentiable crosses the cut (${target.cut.join(', ')}): every cut tensor is an integer tensor`, {
      hint: 'the optimisation attack needs float features; the learned attacks (decoder) still apply',
    });
  }
  const targets: string[] = [];
  const parts = float.map((i) => {
    const o = g.outputs[i]!;
    const dims = target.observed[i]!.dims;
    const name = `${TARGET_PREFIX}${i}`;
    b.claim(name);
    const z = g.addInput(new Value(name, tensorType(DataType.FLOAT, [BATCH_DIM, ...dims])));
    targets.push(name);
    const axes = dims.map((_, k) => k + 1);
    const d = b.sub(o, z);
    const num = b.reduceSum(b.mul(d, d), axes, false, { dtype: DataType.FLOAT, shape: [BATCH_DIM] });
    const den = b.add(b.reduceSum(b.mul(z, z), axes, false, { dtype: DataType.FLOAT, shape: [BATCH_DIM] }), b.scalar(1e-12, DataType.FLOAT));
    return b.div(num, den);
  });
  let dist = parts.length === 1 ? parts[0]! : b.sum(parts);
  if (parts.length > 1) dist = b.mul(dist, b.scalar(1 / parts.length, DataType.FLOAT));
  const featureLoss = b.reduceMean(dist, [], false, { dtype: DataType.FLOAT, shape: [] });
  const span = target.range.hi.reduce((a, h, c) => a + (h - target.range.lo[c]!), 0) / target.range.hi.length;
  const terms = [{ loss: featureLoss, weight: 1 }];
  if (opts.tvWeight > 0) {
    // the weight is fed each step: it decays with the learning rate, so the prior shapes the
    // start and the end fits the features (an injective edge part is then inverted exactly)
    b.claim(TV_WEIGHT_INPUT);
    const w = g.addInput(new Value(TV_WEIGHT_INPUT, tensorType(DataType.FLOAT, [])));
    terms.push({ loss: b.mul(totalVariationLoss(m, target.input, 2), w), weight: 1 / (span * span) });
  }
  if (opts.bnPriorWeight > 0) terms.push({ loss: bnStatisticsPrior(m).loss, weight: opts.bnPriorWeight });
  const loss = combineLosses(m, terms);
  const distOut = b.op('Identity', [dist], {}, { dtype: DataType.FLOAT, shape: [BATCH_DIM] });
  distOut.name = DISTANCE_OUTPUT;
  g.outputs.length = 0;
  g.outputs.push(distOut);
  const input = g.inputs.find((v) => v.name === target.input)!;
  differentiate(m, {
    wrt: [target.input],
    loss: loss.name,
    inputShapes: { [target.input]: [...(input.shape ?? [])] },
    rules: straightThroughRules(target.straightThrough),
    unreachable: 'error',
  });
  return { model: m, targets, float };
}

/** Everything a run of the attack needs, built once per target (the session is reused across calls). */
export class WhiteboxRunner {
  private constructor(
    readonly target: AttackTarget,
    private readonly session: ort.InferenceSession,
    private readonly targets: string[],
    readonly float: number[],
    private readonly tvWeight: number,
  ) {}

  static async create(target: AttackTarget, opts: Pick<WhiteboxOptions, 'tvWeight' | 'bnPriorWeight'>, threads = 0): Promise<WhiteboxRunner> {
    const { model, targets, float } = whiteboxGraph(target, opts);
    const tv = opts.tvWeight > 0 ? opts.tvWeight : 0;
    const session = await createSession(model, threads);
    return new WhiteboxRunner(target, session, targets, float, tv);
  }

  /**
   * Optimise a batch of starting points `x` ([n, C, H, W] flattened, updated in place) against
   * the targets `z` (per float observed tensor, [n, …] flattened); returns the final relative
   * feature distances.
   */
  async optimise(x: Float32Array, z: Float32Array[], n: number, opts: Pick<WhiteboxOptions, 'steps' | 'lr'>, onStep?: (done: number) => void): Promise<Float32Array> {
    const t = this.target;
    const [C, H, W] = t.inputDims as [number, number, number];
    const plane = H * W;
    const span = t.range.hi.map((h, c) => h - t.range.lo[c]!);
    const feeds: Record<string, ort.Tensor> = {};
    this.targets.forEach((name, j) => {
      feeds[name] = new ort.Tensor('float32', z[j]!, [n, ...t.observed[this.float[j]!]!.dims]);
    });
    const opt = createOptimizer({ kind: 'adam', lr: 1 });
    const params = new Map([['x', x]]);
    const gradName = `${GRAD_PREFIX}${t.input}`;
    const meanSpan = span.reduce((a, s) => a + s, 0) / span.length;
    let dist: Float32Array | null = null;
    for (let step = 0; step <= opts.steps; step++) {
      feeds[t.input] = new ort.Tensor('float32', x, [n, C, H, W]);
      if (this.tvWeight > 0) feeds[TV_WEIGHT_INPUT] = new ort.Tensor('float32', Float32Array.of(this.tvWeight * scheduledLr(1, step, { kind: 'cosine', total: opts.steps })), []);
      const out = await this.session.run(feeds);
      dist = Float32Array.from(out[DISTANCE_OUTPUT]!.data as Float32Array);
      if (step === opts.steps) break; // the last run only measures
      const grad = out[gradName]!.data as Float32Array;
      opt.update(params, new Map([['x', grad]]), scheduledLr(opts.lr * meanSpan, step, { kind: 'cosine', total: opts.steps }));
      for (let s = 0; s < n; s++) {
        for (let c = 0; c < C; c++) {
          const lo = t.range.lo[c]!;
          const hi = t.range.hi[c]!;
          const off = (s * C + c) * plane;
          for (let i = off; i < off + plane; i++) x[i] = x[i]! < lo ? lo : x[i]! > hi ? hi : x[i]!;
        }
      }
      onStep?.(step + 1);
    }
    return dist!;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** Starting point of restart r: the middle of the range with a little noise (r = 0), else uniform noise over the range. */
function startingPoint(target: AttackTarget, r: number, rand: () => number): Float32Array {
  const [C, H, W] = target.inputDims as [number, number, number];
  const x = new Float32Array(C * H * W);
  for (let c = 0; c < C; c++) {
    const lo = target.range.lo[c]!;
    const span = target.range.hi[c]! - lo;
    for (let i = c * H * W; i < (c + 1) * H * W; i++) x[i] = r === 0 ? lo + span * (0.5 + 0.05 * (rand() - 0.5)) : lo + span * rand();
  }
  return x;
}

export async function runWhitebox(target: AttackTarget, probes: Probe[], ctx: AttackContext, override: Partial<WhiteboxOptions> = {}): Promise<AttackResult> {
  const started = performance.now();
  const o = { ...WHITEBOX_BUDGETS[ctx.budget], ...override };
  let runner: WhiteboxRunner;
  try {
    runner = await WhiteboxRunner.create(target, o, ctx.threads);
  } catch (e) {
    // some gradient rules need static shapes (Resize): attack one sample at a time
    if (!(e instanceof SplitcError && e.code === 'E_AUTODIFF' && isBatchable(target))) throw e;
    target = withStaticBatch(target);
    runner = await WhiteboxRunner.create(target, o, ctx.threads);
  }
  try {
    const rand = xorshift32(ctx.seed);
    const jobs: { probe: number; restart: number }[] = [];
    for (let p = 0; p < probes.length; p++) for (let r = 0; r < o.restarts; r++) jobs.push({ probe: p, restart: r });
    // one batch of every (probe, restart) when the batch dim is symbolic, else one at a time
    const batches = isBatchable(target) ? [jobs] : jobs.map((j) => [j]);
    const sample = target.inputDims.reduce((a, d) => a * d, 1);
    const best = probes.map(() => ({ dist: Infinity, x: new Float32Array(0) }));
    const total = batches.length * o.steps;
    let done = 0;
    for (const batch of batches) {
      const n = batch.length;
      const x = new Float32Array(n * sample);
      batch.forEach((j, s) => x.set(startingPoint(target, j.restart, rand), s * sample));
      const z = runner.float.map((i) => {
        const size = target.observed[i]!.dims.reduce((a, d) => a * d, 1);
        const buf = new Float32Array(n * size);
        batch.forEach((j, s) => buf.set(probes[j.probe]!.z[i]!, s * size));
        return buf;
      });
      const dist = await runner.optimise(x, z, n, o, (k) => ctx.onProgress?.({ phase: 'white-box', done: done + k, total }));
      done += o.steps;
      batch.forEach((j, s) => {
        if (dist[s]! < best[j.probe]!.dist) best[j.probe] = { dist: dist[s]!, x: x.slice(s * sample, (s + 1) * sample) };
      });
    }
    return {
      attack: 'whitebox',
      reconstructions: best.map((b) => b.x),
      featureDistance: best.map((b) => b.dist),
      details: { steps: o.steps, restarts: o.restarts, lr: o.lr, tvWeight: o.tvWeight, bnPriorWeight: o.bnPriorWeight, batch: batches[0]!.length },
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await runner.release();
  }
}

export const whiteboxAttack: Attack = { name: 'whitebox', run: (target, probes, ctx) => runWhitebox(target, probes, ctx) };
