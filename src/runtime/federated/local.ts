// A client's local training in a federated round: the task's training graph run by one
// onnxruntime session (node or web), SGD from the round's global weights over the client's
// data, FedProx's proximal term. Platform-neutral: it runs in browsers, so it imports no Node
// module and takes the onnxruntime module as a parameter.

import { SplitcError } from '../../ir/errors.js';
import { epochOrder } from '../../ir/random.js';
import { createOptimizer } from '../train/optimizer.js';
import { checkWeights, copyWeights, taskTensors } from './weights.js';
import type { ClientData, ClientUpdate, LocalOptions, TrainingTask, Weights } from './types.js';

/** What the trainer reads of an onnxruntime tensor. */
export interface LocalOrtTensor {
  readonly data: unknown;
  readonly dims: readonly number[];
}

export interface LocalOrtSession {
  run(feeds: Record<string, LocalOrtTensor>, fetches: readonly string[]): Promise<Record<string, LocalOrtTensor>>;
  release(): Promise<void>;
}

export interface LocalSessionOptions {
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  intraOpNumThreads?: number;
  interOpNumThreads?: number;
  executionMode?: 'sequential' | 'parallel';
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
}

/**
 * The parts of an onnxruntime module the client uses: `import * as ort from 'onnxruntime-node'`
 * or `'onnxruntime-web'` satisfy it (search/ort-session.ts's `OrtModule`, typed here without
 * importing onnxruntime-node so the browser build needs nothing of Node).
 */
export interface LocalOrt {
  Tensor: {
    new (type: 'float32', data: Float32Array, dims: readonly number[]): LocalOrtTensor;
    new (type: 'int64', data: BigInt64Array, dims: readonly number[]): LocalOrtTensor;
  };
  InferenceSession: { create(model: Uint8Array, options?: LocalSessionOptions): Promise<LocalOrtSession> };
}

/** The training graph's gradient outputs are `grad:<param>` (passes/autodiff's GRAD_PREFIX). */
const GRAD_PREFIX = 'grad:';
/** onnxruntime logs errors only, as in every session splitc creates (search/ort-log.ts). */
const ORT_LOG_ERRORS_ONLY = 3;

/**
 * The seed of a client's batch order in a round: `seed` (LocalOptions.seed), the round and the
 * client's index mixed by a 32-bit integer hash (murmur3's finaliser, one input at a time), so
 * every (round, client) pair gets its own order and a run is reproducible. Epoch `e` of the
 * round then uses `epochOrder(n, localSeed(seed, round, index), e)`, exactly the order `fit`
 * uses with that seed, so one client for one round retraces a centralised run.
 */
export function localSeed(seed: number, round: number, index: number): number {
  let h = seed >>> 0;
  for (const v of [round, index]) h = mix32((h ^ Math.imul(v >>> 0, 0x9e3779b1)) >>> 0);
  return h;
}

function mix32(x: number): number {
  let h = x;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export class LocalTrainer {
  /** The weights being trained, fed to the session without copies and updated in place. */
  private readonly weights: Weights = new Map();
  private readonly params = new Map<string, Float32Array>();
  private readonly feeds: Record<string, LocalOrtTensor> = {};
  private readonly fetches: string[];
  private readonly x: Float32Array;
  private readonly target: Float32Array | BigInt64Array;
  private readonly perSample: number;

  private constructor(
    readonly task: TrainingTask,
    private readonly session: LocalOrtSession,
    ort: LocalOrt,
  ) {
    for (const spec of taskTensors(task)) {
      const data = new Float32Array(spec.dims.reduce((a, d) => a * d, 1));
      this.weights.set(spec.name, data);
      this.feeds[spec.name] = new ort.Tensor('float32', data, spec.dims);
    }
    for (const p of task.params) this.params.set(p.name, this.weights.get(p.name)!);
    const b = task.batchSize;
    this.perSample = task.input.shape.reduce((a, d) => a * d, 1);
    this.x = new Float32Array(b * this.perSample);
    this.feeds[task.input.name] = new ort.Tensor('float32', this.x, [b, ...task.input.shape]);
    if (task.target.kind === 'labels') {
      const y = new BigInt64Array(b);
      this.target = y;
      this.feeds[task.target.name] = new ort.Tensor('int64', y, [b]);
    } else {
      const y = new Float32Array(b * task.classes);
      this.target = y;
      this.feeds[task.target.name] = new ort.Tensor('float32', y, [b, task.classes]);
    }
    this.fetches = [task.loss, ...task.params.map((p) => `${GRAD_PREFIX}${p.name}`), ...task.stats.flatMap((s) => [s.meanOut, s.varianceOut])];
  }

  /** One session for the task's graph; `sessionOptions` as for the Trainer (default: all graph optimizations). */
  static async create(ort: LocalOrt, task: TrainingTask, sessionOptions: LocalSessionOptions = {}): Promise<LocalTrainer> {
    const session = await ort.InferenceSession.create(task.graph, {
      graphOptimizationLevel: 'all',
      ...sessionOptions,
      logSeverityLevel: sessionOptions.logSeverityLevel ?? ORT_LOG_ERRORS_ONLY,
    });
    return new LocalTrainer(task, session, ort);
  }

  /**
   * Train from `global` over `data` for `opts.epochs` epochs with a fresh SGD optimizer (no
   * momentum carried over between rounds); the last partial batch of each epoch is dropped.
   * FedProx (`opts.mu` > 0) adds μ(w − w_global) to each parameter's gradient. BatchNorm
   * running statistics follow the graph's updated outputs, as in the Trainer.
   */
  async train(global: Weights, data: ClientData, opts: LocalOptions, ids: { client: string; round: number; index: number }): Promise<ClientUpdate> {
    const task = this.task;
    checkWeights(task, global, `the global weights of round ${ids.round}`);
    this.checkData(data, ids.client);
    const mu = opts.mu ?? 0;
    if (!(mu >= 0) || !Number.isInteger(opts.epochs) || opts.epochs < 1) {
      throw new SplitcError('E_BAD_ARGUMENT', `local training needs whole epochs ≥ 1 and μ ≥ 0, got epochs ${opts.epochs}, μ ${mu}`);
    }
    for (const [name, w] of this.weights) w.set(global.get(name)!);
    // FedProx's anchor: the round's global parameters (copied: the caller may reuse its buffers).
    const anchor = mu > 0 ? new Map(task.params.map((p) => [p.name, global.get(p.name)!.slice()])) : null;
    const optimizer = createOptimizer({ kind: 'sgd', lr: opts.lr, momentum: opts.momentum, weightDecay: opts.weightDecay });
    const b = task.batchSize;
    const batches = Math.floor(data.n / b);
    const seed = localSeed(opts.seed, ids.round, ids.index);
    let loss = NaN;
    for (let epoch = 0; epoch < opts.epochs; epoch++) {
      const order = epochOrder(data.n, seed, epoch);
      let sum = 0;
      for (let batch = 0; batch < batches; batch++) {
        this.fillBatch(data, order.subarray(batch * b, (batch + 1) * b));
        const out = await this.session.run(this.feeds, this.fetches);
        const grads = new Map<string, Float32Array>();
        for (const [name, p] of this.params) {
          const g = out[`${GRAD_PREFIX}${name}`]!.data as Float32Array;
          if (anchor) {
            const w0 = anchor.get(name)!;
            for (let i = 0; i < g.length; i++) g[i] = g[i]! + mu * (p[i]! - w0[i]!);
          }
          grads.set(name, g);
        }
        optimizer.update(this.params, grads, opts.lr);
        for (const s of task.stats) {
          this.weights.get(s.mean)!.set(out[s.meanOut]!.data as Float32Array);
          this.weights.get(s.variance)!.set(out[s.varianceOut]!.data as Float32Array);
        }
        sum += Number((out[task.loss]!.data as Float32Array)[0]);
      }
      loss = sum / batches;
    }
    // FedAvg's weight: the samples one epoch used (the partial batch dropped), not the data's size.
    return { client: ids.client, round: ids.round, samples: batches * b, weights: copyWeights(this.weights), loss };
  }

  async release(): Promise<void> {
    await this.session.release();
  }

  private checkData(data: ClientData, client: string): void {
    const task = this.task;
    const bad = (why: string): SplitcError => new SplitcError('E_FED_DATA', `client ${client}: ${why}`);
    if (data.shape.length !== task.input.shape.length || data.shape.some((d, i) => d !== task.input.shape[i])) {
      throw bad(`samples of shape [${data.shape.join(', ')}], the task trains on [${task.input.shape.join(', ')}]`);
    }
    if (data.images.length !== data.n * this.perSample || data.labels.length !== data.n) throw bad(`${data.n} samples but ${data.images.length} image values and ${data.labels.length} labels`);
    if (data.n < task.batchSize) throw bad(`${data.n} samples, fewer than one batch of ${task.batchSize}`);
    for (const l of data.labels) if (!(l >= 0 && l < task.classes)) throw bad(`label ${l} outside the task's ${task.classes} classes`);
  }

  private fillBatch(data: ClientData, rows: Uint32Array): void {
    const per = this.perSample;
    const classes = this.task.classes;
    if (this.target instanceof Float32Array) this.target.fill(0);
    rows.forEach((i, k) => {
      this.x.set(data.images.subarray(i * per, (i + 1) * per), k * per);
      const label = data.labels[i]!;
      if (this.target instanceof BigInt64Array) this.target[k] = BigInt(label);
      else this.target[k * classes + label] = 1;
    });
  }
}
