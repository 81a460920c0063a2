// Training with splitc's own gradients: the forward model becomes a training graph (BatchNorm
// on batch statistics with running statistics as extra outputs, or left in inference mode; a
// loss, and `grad:<param>` outputs from the autodiff pass), run by one onnxruntime session
// for every step. The
// parameters, BatchNorm running statistics and optimizer state are named Float32Arrays held
// here, fed to the session without copies and updated in place; checkpoints hold all of
// them plus the step and data position, so a resumed run continues bit for bit.

import type * as OrtNode from 'onnxruntime-node';
import { DataType } from '../../ir/dtype.js';
import { SplitcError } from '../../ir/errors.js';
import type { Model } from '../../ir/graph.js';
import { modelToBytes } from '../../ir/serde/io.js';
import type { Tensor } from '../../ir/tensor.js';
import { GRAD_PREFIX } from '../../passes/autodiff/index.js';
import { buildTrainingGraph, type TrainingGraph, type TrainingGraphOptions } from '../../passes/training-graph.js';
import { createOptimizer, type Optimizer, type OptimizerConfig, scheduledLr } from './optimizer.js';
import { modelWithWeights } from './weights.js';
import { createOrtSession, type OrtModule } from '../../search/ort-session.js';

export type { OrtModule };

const CHECKPOINT_MAGIC = 0x54504b43; // 'CKPT' little-endian
type OrtTensor = OrtNode.Tensor;

export interface TrainerOptions extends TrainingGraphOptions {
  /** The onnxruntime module that runs the steps (onnxruntime-node, or onnxruntime-web). */
  ort: OrtModule;
  model: Model;
  optimizer: OptimizerConfig;
  schedule?: { kind: 'constant' } | { kind: 'cosine'; total: number; warmup?: number };
  /** Extra outputs to fetch each step (e.g. the logits, for training accuracy). */
  fetch?: string[];
  sessionOptions?: OrtNode.InferenceSession.SessionOptions;
}

export interface StepResult {
  loss: number;
  lr: number;
  outputs: Record<string, OrtTensor>;
}

function floatData(t: Tensor): Float32Array {
  if (t.dtype !== DataType.FLOAT) throw new SplitcError('E_AUTODIFF', `parameter '${t.name}' is not float32; the trainer holds float32 parameters`);
  return Float32Array.from(t.toTypedArray() as Float32Array);
}

export class Trainer {
  readonly graph: TrainingGraph;
  readonly params = new Map<string, Float32Array>();
  readonly stats = new Map<string, Float32Array>();
  readonly optimizer: Optimizer;
  /** The onnxruntime module the steps run on (for tensors fed to `trainStep`). */
  readonly ort: OrtModule;
  /** Data position, kept in checkpoints by whoever drives the steps (see `fit`). */
  position: Record<string, number> = {};
  private readonly feeds: Record<string, OrtTensor> = {};
  private readonly fetches: string[];

  private constructor(
    private readonly forward: Model,
    graph: TrainingGraph,
    private readonly session: OrtNode.InferenceSession,
    private readonly opts: TrainerOptions,
  ) {
    this.graph = graph;
    this.ort = opts.ort;
    const tensorOf = (name: string): Tensor => {
      const t = graph.initial.get(name);
      if (!t) throw new SplitcError('E_AUTODIFF', `'${name}' has no initial value`);
      return t;
    };
    for (const p of graph.params) this.params.set(p, floatData(tensorOf(p)));
    for (const s of graph.stats) for (const n of [s.mean, s.variance]) this.stats.set(n, floatData(tensorOf(n)));
    for (const [name, data] of [...this.params, ...this.stats]) this.feeds[name] = new opts.ort.Tensor('float32', data, tensorOf(name).dims);
    this.fetches = [graph.loss, ...graph.params.map((p) => `${GRAD_PREFIX}${p}`), ...graph.stats.flatMap((s) => [s.meanOut, s.varianceOut]), ...(opts.fetch ?? [])];
    this.optimizer = createOptimizer(opts.optimizer);
  }

  static async create(opts: TrainerOptions): Promise<Trainer> {
    const graph = buildTrainingGraph(opts.model, opts);
    const session = await createOrtSession(opts.ort, modelToBytes(graph.model, { intermediateTypes: false }), {
      graphOptimizationLevel: 'all',
      ...opts.sessionOptions,
    });
    return new Trainer(opts.model, graph, session, opts);
  }

  get step(): number {
    return this.optimizer.step;
  }

  /** One optimizer step on a batch (`feeds`: the model's inputs and the loss's extra inputs). */
  async trainStep(batch: Record<string, OrtTensor>): Promise<StepResult> {
    const out = await this.session.run({ ...this.feeds, ...batch }, this.fetches);
    const grads = new Map<string, Float32Array>();
    for (const p of this.graph.params) grads.set(p, out[`${GRAD_PREFIX}${p}`]!.data as Float32Array);
    const lr = scheduledLr(this.opts.optimizer.lr, this.optimizer.step, this.opts.schedule ?? { kind: 'constant' });
    this.optimizer.update(this.params, grads, lr);
    for (const s of this.graph.stats) {
      this.stats.get(s.mean)!.set(out[s.meanOut]!.data as Float32Array);
      this.stats.get(s.variance)!.set(out[s.varianceOut]!.data as Float32Array);
    }
    const outputs: Record<string, OrtTensor> = {};
    for (const f of this.opts.fetch ?? []) outputs[f] = out[f]!;
    return { loss: Number((out[this.graph.loss]!.data as Float32Array)[0]), lr, outputs };
  }

  /** The forward model with the trained parameters and running statistics (BatchNorm in inference mode). */
  exportModel(): Model {
    const model = modelWithWeights(this.forward, [...this.params, ...this.stats]);
    model.producerName = 'splitc-trainer';
    return model;
  }

  // ---- checkpoints ----
  // Bytes, not files, so the trainer runs where there is no file system (browsers); files are
  // checkpoint-file.ts's. Layout: 'CKPT' (u32 LE), header length (u32 LE), JSON header, then
  // the float32 tensors at the header's offsets.

  /** Parameters, running statistics, optimizer state, step and data position, as the parts of one byte string. */
  checkpointParts(): Uint8Array[] {
    const entries: { name: string; data: Float32Array }[] = [];
    for (const [n, d] of this.params) entries.push({ name: `param:${n}`, data: d });
    for (const [n, d] of this.stats) entries.push({ name: `stat:${n}`, data: d });
    for (const [n, d] of this.optimizer.state()) entries.push({ name: `opt:${n}`, data: d });
    let offset = 0;
    const index = entries.map((e) => {
      const r = { name: e.name, offset, length: e.data.length };
      offset += e.data.length * 4;
      return r;
    });
    const header = new TextEncoder().encode(
      JSON.stringify({ format: 'splitc-checkpoint', version: 1, step: this.optimizer.step, optimizer: this.optimizer.config, position: this.position, tensors: index }),
    );
    const prefix = new Uint8Array(8);
    const view = new DataView(prefix.buffer);
    view.setUint32(0, CHECKPOINT_MAGIC, true);
    view.setUint32(4, header.length, true);
    return [prefix, header, ...entries.map((e) => new Uint8Array(e.data.buffer, e.data.byteOffset, e.data.byteLength))];
  }

  /** Restore a checkpoint made by `checkpointParts` for the same model and parameters (`source` names it in errors). */
  restoreCheckpoint(buf: Uint8Array, source = 'the checkpoint'): void {
    const bad = (why: string): SplitcError => new SplitcError('E_IO', `${source} is not a usable splitc checkpoint: ${why}`, { hint: 'resume with the checkpoint written by the same training script' });
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    if (buf.length < 8 || view.getUint32(0, true) !== CHECKPOINT_MAGIC) throw bad('bad magic number');
    const headerLength = view.getUint32(4, true);
    const header = JSON.parse(new TextDecoder().decode(buf.subarray(8, 8 + headerLength))) as {
      step: number;
      position: Record<string, number>;
      tensors: { name: string; offset: number; length: number }[];
    };
    const base = 8 + headerLength;
    const read = (e: { offset: number; length: number }): Float32Array => {
      if (base + e.offset + e.length * 4 > buf.length) throw bad('it ends inside its tensors');
      const out = new Float32Array(e.length); // a copy: the offsets need not be 4-byte aligned in `buf`
      new Uint8Array(out.buffer).set(buf.subarray(base + e.offset, base + e.offset + e.length * 4));
      return out;
    };
    const byName = new Map(header.tensors.map((t) => [t.name, t]));
    const restore = (kind: string, target: Map<string, Float32Array>): void => {
      for (const [n, d] of target) {
        const e = byName.get(`${kind}:${n}`);
        if (!e || e.length !== d.length) throw bad(`${kind} '${n}' is ${e ? `${e.length} elements, expected ${d.length}` : 'missing'}`);
        d.set(read(e));
      }
    };
    restore('param', this.params);
    restore('stat', this.stats);
    const state = new Map<string, Float32Array>();
    for (const t of header.tensors) if (t.name.startsWith('opt:')) state.set(t.name.slice(4), read(t));
    this.optimizer.loadState(header.step, state);
    this.position = { ...header.position };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
