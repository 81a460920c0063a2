// Measuring: per-node latencies of one model on this machine from onnxruntime's own profiler
// (Chrome-trace JSON), keyed by ONNX node name, plus whole-run medians.
//
// Node names. onnxruntime's graph optimizations fuse nodes (Conv+BatchNorm+activation, NCHWc
// layout with inserted Reorder nodes, MatMul+Add) and the fused kernels carry borrowed or new
// names, so a trace of the optimized graph does not map back to the ONNX nodes. We trace with
// `graphOptimizationLevel: 'disabled'`, where every compute node runs as its own kernel under
// its own name (fixtures: 221/330/440 of 221/330/440 compute nodes, no other events).
//
// From trace to node times, two corrections, both checked against halves of the fixtures
// run as their own sessions (see the report of the profiler task):
// - The profiler's bookkeeping is timed inside every kernel (2–3 µs per node here), so the
//   traced nodes add up to more than an untraced run; the excess is subtracted per node.
// - The unoptimized graph is 25–45 % slower than the optimized one deployed sessions run
//   (onnxruntime's default level 'all'); by default node times are scaled by the ratio of the
//   two untraced whole-run medians (`nodeTimesFor`). Both totals are reported either way.
//
// Backends. 'node' is onnxruntime-node (native CPU EP); the trace goes to a file in a temp dir.
// 'wasm' is onnxruntime-web's single-threaded wasm build in Node: it supports `enableProfiling`
// but prints the trace to stdout (fs.writeSync(1, …)) on `endProfiling()` instead of returning
// it, so we capture those writes for the duration of that synchronous call. If that yields no
// trace (another onnxruntime-web build), per-node times are estimated: the node backend's
// per-node split scaled to the wasm whole-run median, and the result says `estimated: true`.

import { createHash } from 'node:crypto';
import nodeFs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { SplitcError } from '../ir/errors.js';
import { DataType } from '../ir/dtype.js';
import { Graph, Model, Node, Value, tensorType } from '../ir/graph.js';
import { loadModelWithBytes, modelToBytes } from '../ir/serde/io.js';
import { deserializeModel } from '../ir/serde/read.js';
import { modelInputs, randomSamples, type FeedTensor, type Feeds } from './calib-data.js';
import { toOrtTensor } from './calibrate.js';
import { median } from './latency-fit.js';

export const PROFILER_BACKENDS = ['node', 'wasm'] as const;
export type ProfilerBackend = (typeof PROFILER_BACKENDS)[number];

export interface ProfileProgress {
  /**
   * 'profile': traced runs (optimizations off); 'total': timed runs without the profiler;
   * 'optimized': timed runs with optimizations on; 'overhead': runs of a one-node model.
   */
  phase: 'profile' | 'total' | 'optimized' | 'overhead';
  /** Runs done in this phase (warm-up included) and how many there will be. */
  done: number;
  total: number;
}

export interface ProfileOptions {
  backend?: ProfilerBackend;
  /** Intra-op threads (node backend); the wasm backend runs single-threaded. Default 1. */
  threads?: number;
  /** Untimed runs before the timed ones (default 3). */
  warmup?: number;
  /** Timed runs whose medians are reported (default 20). */
  repeats?: number;
  /** Shapes of the model inputs; symbolic batch dims default to 1, other symbolic dims must be given. */
  inputShapes?: Record<string, number[]>;
  /**
   * Which graph `nodesMs` and `totalMs` describe: 'optimized' (default; how deployed sessions
   * run, onnxruntime's default 'all' level) scales the traced unoptimized node times by the
   * ratio of the two whole-run medians; 'unoptimized' keeps them as traced.
   */
  nodeTimesFor?: 'optimized' | 'unoptimized';
  /** Subtract the profiler's per-node bookkeeping from the node times (default true; see `profilerOverheadMsPerNode`). */
  correctProfilerOverhead?: boolean;
  /** Seed of the (uniform random) input data. */
  seed?: number;
  onProgress?: (p: ProfileProgress) => void;
}

export interface ModelProfile {
  /** sha256 (hex) of the ONNX bytes. */
  modelSha256: string;
  /** File name when profiled from a path. */
  model?: string;
  backend: ProfilerBackend;
  /** The runtime and its version, e.g. 'onnxruntime-node 1.30.0'. */
  runtime: string;
  threads: number;
  warmup: number;
  repeats: number;
  /** Input shapes the runs used. */
  inputShapes: Record<string, number[]>;
  /**
   * Latency (ms) of each compute node, by ONNX node name, in graph order: the median traced
   * kernel time minus `profilerOverheadMsPerNode`, times `optimizationScale`.
   */
  nodesMs: Record<string, number>;
  /** Compute nodes (not Constant) the trace had no kernel event for, or that have no unique name. */
  notReported: string[];
  /** Sum of `nodesMs`. */
  nodeSumMs: number;
  /** Sum of the traced kernel times before the correction. */
  rawNodeSumMs: number;
  /**
   * Subtracted from every traced kernel time (clamped at 0): what the traced nodes add up to
   * beyond the untraced run minus `runOverheadMs`, per node. The profiler's bookkeeping falls
   * inside each kernel_time.
   */
  profilerOverheadMsPerNode: number;
  /** Nodes whose traced time was below `profilerOverheadMsPerNode` and are reported as 0 ms (many: the correction is coarse for this model). */
  clampedNodes: number;
  /** Median wall-clock time of one run of a one-node model: the fixed cost of any run. */
  runOverheadMs: number;
  /** The graph `nodesMs` and `totalMs` describe. */
  nodeTimesFor: 'optimized' | 'unoptimized';
  /** Median wall-clock time of one untraced `session.run` of the graph `nodesMs` describe. */
  totalMs: number;
  /** Median wall-clock time of one untraced run with graph optimizations off (the graph that was traced). */
  unoptimizedTotalMs: number;
  /** Median wall-clock time of one untraced run with optimizations on ('all', onnxruntime's default). */
  optimizedTotalMs: number;
  /**
   * Factor applied to the corrected traced times: (optimizedTotalMs − runOverheadMs) /
   * (unoptimizedTotalMs − runOverheadMs) for 'optimized', else 1. One factor for all nodes:
   * fusion speeds up some ops more than others, so segments are less exact than the totals.
   */
  optimizationScale: number;
  /** True when the node times were not traced on this backend but scaled from the node backend's split. */
  estimated: boolean;
}

/** One event of onnxruntime's Chrome-trace profile (only the fields we read). */
export interface TraceEvent {
  cat?: string;
  name?: string;
  /** Start, µs since the profiler started. */
  ts?: number;
  /** Duration, µs. */
  dur?: number;
  args?: { op_name?: string; [k: string]: unknown };
}

export interface TraceRuns {
  /** `model_run` durations (ms) of the runs kept, in time order. */
  runsMs: number[];
  /** Per node name: its kernel time (ms) in each kept run (summed if it ran twice; 0 if absent), aligned with `runsMs`. */
  nodeRunsMs: Map<string, number[]>;
  /** Per node name: the op type the trace reports. */
  opTypes: Map<string, string>;
}

const KERNEL_SUFFIX = '_kernel_time';

/**
 * Group a trace's kernel events by run (the `model_run` session event whose time span
 * contains them) and by node name, dropping the first `skipRuns` runs (warm-up: the profiler
 * records from session creation on).
 */
export function groupTraceByRun(events: readonly TraceEvent[], skipRuns = 0): TraceRuns {
  const windows = events
    .filter((e) => e.cat === 'Session' && e.name === 'model_run' && typeof e.ts === 'number' && typeof e.dur === 'number')
    .map((e) => ({ start: e.ts!, end: e.ts! + e.dur!, durMs: e.dur! / 1000 }))
    .sort((a, b) => a.start - b.start);
  const kept = windows.slice(skipRuns);
  const nodeRunsMs = new Map<string, number[]>();
  const opTypes = new Map<string, string>();
  for (const e of events) {
    if (e.cat !== 'Node' || typeof e.name !== 'string' || !e.name.endsWith(KERNEL_SUFFIX)) continue;
    if (typeof e.ts !== 'number' || typeof e.dur !== 'number') continue;
    const run = windowIndex(kept, e.ts);
    if (run < 0) continue;
    const name = e.name.slice(0, -KERNEL_SUFFIX.length);
    let perRun = nodeRunsMs.get(name);
    if (!perRun) {
      perRun = new Array<number>(kept.length).fill(0);
      nodeRunsMs.set(name, perRun);
    }
    perRun[run]! += e.dur / 1000;
    if (typeof e.args?.op_name === 'string') opTypes.set(name, e.args.op_name);
  }
  return { runsMs: kept.map((w) => w.durMs), nodeRunsMs, opTypes };
}

/** Index of the window containing `ts` (windows sorted and disjoint), or -1. */
function windowIndex(windows: readonly { start: number; end: number }[], ts: number): number {
  let lo = 0;
  let hi = windows.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const w = windows[mid]!;
    if (ts < w.start) hi = mid - 1;
    else if (ts > w.end) lo = mid + 1;
    else return mid;
  }
  return -1;
}

/** Median kernel time (ms) per node over the runs of `groupTraceByRun`. */
export function medianNodeTimes(runs: TraceRuns): Map<string, number> {
  const out = new Map<string, number>();
  for (const [name, perRun] of runs.nodeRunsMs) out.set(name, median(perRun));
  return out;
}

// ---------------------------------------------------------------- options

interface ResolvedOptions {
  backend: ProfilerBackend;
  threads: number;
  warmup: number;
  repeats: number;
  nodeTimesFor: 'optimized' | 'unoptimized';
  correctProfilerOverhead: boolean;
  seed: number;
}

const isInt = (x: unknown, min: number): x is number => typeof x === 'number' && Number.isInteger(x) && x >= min;

/** Check profiler options; bad ones are E_BAD_ARGUMENT. */
export function resolveProfileOptions(opts: ProfileOptions): ResolvedOptions {
  const backend = opts.backend ?? 'node';
  if (!(PROFILER_BACKENDS as readonly string[]).includes(backend)) {
    throw new SplitcError('E_BAD_ARGUMENT', `unknown profiler backend '${String(backend)}'`, { hint: `use one of: ${PROFILER_BACKENDS.join(', ')}` });
  }
  const threads = opts.threads ?? 1;
  if (!isInt(threads, 1) || threads > 1024) throw new SplitcError('E_BAD_ARGUMENT', `threads must be a positive integer, got ${String(threads)}`);
  if (backend === 'wasm' && threads !== 1) {
    // env.wasm.numThreads is process-wide and fixed at the first session; threaded wasm also
    // runs kernels in workers whose trace output we cannot capture.
    throw new SplitcError('E_BAD_ARGUMENT', `the wasm backend is profiled single-threaded (got threads ${threads})`, { hint: 'use --threads 1 with --backend wasm' });
  }
  const warmup = opts.warmup ?? 3;
  if (!isInt(warmup, 0)) throw new SplitcError('E_BAD_ARGUMENT', `warmup must be a non-negative integer, got ${String(warmup)}`);
  const repeats = opts.repeats ?? 20;
  if (!isInt(repeats, 1)) throw new SplitcError('E_BAD_ARGUMENT', `repeats must be a positive integer, got ${String(repeats)}`, { hint: 'medians need at least one timed run; 10–50 is typical' });
  for (const [name, dims] of Object.entries(opts.inputShapes ?? {})) {
    if (!Array.isArray(dims) || !dims.every((d) => isInt(d, 1))) {
      throw new SplitcError('E_BAD_ARGUMENT', `invalid shape for input '${name}': ${JSON.stringify(dims)}`, { hint: 'profiling needs concrete dims, e.g. x=1x3x48x192' });
    }
  }
  const nodeTimesFor = opts.nodeTimesFor ?? 'optimized';
  if (nodeTimesFor !== 'optimized' && nodeTimesFor !== 'unoptimized') {
    throw new SplitcError('E_BAD_ARGUMENT', `nodeTimesFor must be 'optimized' or 'unoptimized', got '${String(nodeTimesFor)}'`);
  }
  return { backend, threads, warmup, repeats, nodeTimesFor, correctProfilerOverhead: opts.correctProfilerOverhead ?? true, seed: opts.seed ?? 1 };
}

// ---------------------------------------------------------------- profiling

/** What to profile: a file path, ONNX bytes, or a model already loaded with its bytes. */
export type ModelSource = string | Uint8Array | { model: Model; bytes: Uint8Array; path?: string };

type OptLevel = 'disabled' | 'all';

/** The two runtimes behind one small interface: sessions from bytes or a path, feeds, timed runs. */
interface Runner {
  /** The runtime's code gets faster while it runs (V8 tiers wasm up from Liftoff to TurboFan). */
  jit: boolean;
  runtime: string;
  /** Create a session; `traceDir` turns the profiler on. */
  open(level: OptLevel, traceDir?: string): Promise<RunnerSession>;
}
interface RunnerSession {
  run(): Promise<void>;
  /** Stop profiling and return the trace (null when none could be obtained). */
  endProfiling(): TraceEvent[] | null;
  release(): Promise<void>;
}

export async function profileModel(source: ModelSource, opts: ProfileOptions = {}): Promise<ModelProfile> {
  const o = resolveProfileOptions(opts);
  const { model, bytes, file } = loadSource(source);
  const { inputShapes, feeds } = makeFeeds(model, opts.inputShapes ?? {}, o.seed);

  // Nodes onnxruntime would report under a name we cannot key by (empty or duplicate) are
  // renamed in the bytes it runs and reported as not measured.
  const compute = [...model.graph.nodes].filter((n) => !(n.opType === 'Constant' && (n.domain === '' || n.domain === 'ai.onnx')));
  const counts = new Map<string, number>();
  for (const n of compute) counts.set(n.name, (counts.get(n.name) ?? 0) + 1);
  const keyable = compute.filter((n) => n.name !== '' && counts.get(n.name) === 1).map((n) => n.name);
  const unkeyable = compute.filter((n) => n.name === '' || counts.get(n.name)! > 1);
  const runBytes = unkeyable.length ? renamedBytes(bytes, file) : bytes;
  // onnxruntime-node gets the path when it can, so external data resolves next to the model.
  const nodeSource = file && !unkeyable.length ? file : runBytes;

  const runner = o.backend === 'node' ? nodeRunner(nodeSource, feeds, o.threads) : await wasmRunner(runBytes, feeds);
  let m = await measure(runner, o, opts.onProgress, o.backend === 'node' ? nodeRunner : (b, f) => wasmRunner(b, f));
  let estimated = false;
  if (!m.rawNodeMs) {
    if (o.backend !== 'wasm') throw new SplitcError('E_PROFILER', 'onnxruntime-node wrote no profile trace', { hint: 'check that the temp folder is writable' });
    // No per-node trace from this onnxruntime-web build: split the wasm run the way the node backend splits it.
    const n = await measure(nodeRunner(nodeSource, feeds, 1), o, undefined, nodeRunner);
    if (!n.rawNodeMs) throw new SplitcError('E_PROFILER', 'neither onnxruntime-web nor onnxruntime-node produced a per-node profile');
    const scale = Math.max(0, m.unoptimizedTotalMs - m.runOverheadMs) / Math.max(1e-9, n.unoptimizedTotalMs - n.runOverheadMs);
    const rawNodeMs = new Map([...n.rawNodeMs].map(([k, v]) => [k, v * scale] as const));
    m = { ...m, rawNodeMs };
    estimated = true;
  }
  const raw = m.rawNodeMs!;

  let rawNodeSumMs = 0;
  let reported = 0;
  for (const name of keyable) {
    const ms = raw.get(name);
    if (ms !== undefined) {
      rawNodeSumMs += ms;
      reported++;
    }
  }
  // The profiler's own bookkeeping lands inside every kernel_time (fixtures: 2–3 µs per node,
  // +4 % to +30 % of a run); spread what the traced nodes add up to beyond the untraced run
  // evenly over them (it is per node, not per µs). Never added: time outside kernels stays in
  // the run overhead.
  const profilerOverheadMsPerNode = o.correctProfilerOverhead && reported > 0 ? Math.max(0, (rawNodeSumMs - (m.unoptimizedTotalMs - m.runOverheadMs)) / reported) : 0;
  const optimizationScale = o.nodeTimesFor === 'optimized' ? Math.max(0, m.optimizedTotalMs - m.runOverheadMs) / Math.max(1e-9, m.unoptimizedTotalMs - m.runOverheadMs) : 1;

  const nodesMs: Record<string, number> = {};
  const notReported: string[] = [];
  let nodeSumMs = 0;
  let clampedNodes = 0;
  for (const name of keyable) {
    const ms = raw.get(name);
    if (ms === undefined) notReported.push(name);
    else {
      if (ms < profilerOverheadMsPerNode) clampedNodes++;
      const corrected = Math.max(0, ms - profilerOverheadMsPerNode) * optimizationScale;
      nodesMs[name] = corrected;
      nodeSumMs += corrected;
    }
  }
  for (const n of unkeyable) notReported.push(n.name);
  return {
    modelSha256: createHash('sha256').update(bytes).digest('hex'),
    ...(file ? { model: path.basename(file) } : {}),
    backend: o.backend,
    runtime: estimated ? `${runner.runtime}, node split from onnxruntime-node` : runner.runtime,
    threads: o.threads,
    warmup: o.warmup,
    repeats: o.repeats,
    inputShapes,
    nodesMs,
    notReported,
    nodeSumMs,
    rawNodeSumMs,
    profilerOverheadMsPerNode,
    clampedNodes,
    nodeTimesFor: o.nodeTimesFor,
    totalMs: o.nodeTimesFor === 'optimized' ? m.optimizedTotalMs : m.unoptimizedTotalMs,
    unoptimizedTotalMs: m.unoptimizedTotalMs,
    optimizedTotalMs: m.optimizedTotalMs,
    optimizationScale,
    runOverheadMs: m.runOverheadMs,
    estimated,
  };
}

interface Measurement {
  /** Median traced kernel time per node name (null: no trace). */
  rawNodeMs: Map<string, number> | null;
  unoptimizedTotalMs: number;
  optimizedTotalMs: number;
  runOverheadMs: number;
}

/** Everything timed on one backend: traced runs, untraced runs (both optimization levels), and the fixed cost of a run. */
async function measure(
  runner: Runner,
  o: ResolvedOptions,
  onProgress: ProfileOptions['onProgress'],
  makeRunner: (model: Uint8Array, feeds: Feeds, threads: number) => Runner | Promise<Runner>,
): Promise<Measurement> {
  if (runner.jit) {
    // Each level runs different kernels (fused or not): warm both.
    await settle(runner, 'disabled');
    await settle(runner, 'all');
  }
  const rawNodeMs = await profileRuns(runner, o, onProgress);
  const unoptimizedTotalMs = await timeRuns(runner, 'disabled', o, 'total', onProgress);
  const optimizedTotalMs = await timeRuns(runner, 'all', o, 'optimized', onProgress);
  const tiny = tinyModel();
  const runOverheadMs = await timeRuns(await makeRunner(tiny.bytes, tiny.feeds, o.threads), 'disabled', o, 'overhead', onProgress);
  return { rawNodeMs, unoptimizedTotalMs, optimizedTotalMs, runOverheadMs };
}

/**
 * A one-node model (Identity on one float): its run time is the fixed cost of any
 * `session.run` (call into the runtime, feeds, fetches, executor setup), which per-node
 * times do not contain.
 */
function tinyModel(): { bytes: Uint8Array; feeds: Feeds } {
  const g = new Graph('splitc_run_overhead');
  const x = g.addInput(new Value('x', tensorType(DataType.FLOAT, [1])));
  const y = new Value('y', tensorType(DataType.FLOAT, [1]));
  g.appendNode(new Node('', 'Identity', [x], [y], { name: 'identity' }));
  g.outputs.push(y);
  return { bytes: modelToBytes(new Model(g, 8, 13)), feeds: { x: { dtype: DataType.FLOAT, dims: [1], data: new Float32Array([0]) } } };
}

function loadSource(source: ModelSource): { model: Model; bytes: Uint8Array; file?: string } {
  if (typeof source === 'string') {
    const { model, bytes } = loadModelWithBytes(source);
    return { model, bytes, file: source };
  }
  if (source instanceof Uint8Array) return { model: deserializeModel(source, { source: '<bytes>' }), bytes: source };
  return { model: source.model, bytes: source.bytes, ...(source.path ? { file: source.path } : {}) };
}

/** A copy of the model whose unnamed / duplicate-named compute nodes get unique names. */
function renamedBytes(bytes: Uint8Array, file: string | undefined): Uint8Array {
  const copy = deserializeModel(bytes, file ? { baseDir: path.dirname(path.resolve(file)), source: file } : { source: '<bytes>' });
  const seen = new Set<string>();
  let i = 0;
  for (const n of copy.graph.nodes) {
    if (n.opType === 'Constant') continue;
    if (n.name === '' || seen.has(n.name)) n.name = `splitc.unnamed.${i++}`;
    seen.add(n.name);
  }
  return modelToBytes(copy);
}

function makeFeeds(model: Model, given: Record<string, number[]>, seed: number): { inputShapes: Record<string, number[]>; feeds: Feeds } {
  const names = new Set(model.graph.inputs.map((v) => v.name));
  for (const name of Object.keys(given)) {
    if (!names.has(name)) {
      throw new SplitcError('E_BAD_ARGUMENT', `the model has no input named '${name}'`, { hint: `inputs: ${[...names].map((n) => `'${n}'`).join(', ') || '(none)'}` });
    }
  }
  let inputs;
  try {
    inputs = modelInputs(model, given);
  } catch (e) {
    if (e instanceof SplitcError) throw new SplitcError('E_BAD_ARGUMENT', e.message, { ...(e.hint ? { hint: e.hint } : {}), cause: e });
    throw e;
  }
  const feeds = randomSamples(inputs, 1, { seed, lo: 0, hi: 1 })[0]!.load();
  return { inputShapes: Object.fromEntries(inputs.map((i) => [i.name, [...i.dims]])), feeds };
}

/** Profiled runs (optimizations off): median node times, or null when the backend gave no trace. */
async function profileRuns(runner: Runner, o: ResolvedOptions, onProgress: ProfileOptions['onProgress']): Promise<Map<string, number> | null> {
  const traceDir = nodeFs.mkdtempSync(path.join(os.tmpdir(), 'splitc-profile-'));
  try {
    const session = await runner.open('disabled', traceDir);
    let trace: TraceEvent[] | null;
    try {
      const total = o.warmup + o.repeats;
      for (let i = 0; i < total; i++) {
        await session.run();
        onProgress?.({ phase: 'profile', done: i + 1, total });
      }
      trace = session.endProfiling();
    } finally {
      await session.release();
    }
    if (!trace) return null;
    const runs = groupTraceByRun(trace, o.warmup);
    if (runs.runsMs.length !== o.repeats) {
      throw new SplitcError('E_PROFILER', `the profile trace has ${runs.runsMs.length + o.warmup} runs, expected ${o.warmup + o.repeats}`, {
        hint: 'onnxruntime may have dropped events (its profiler keeps at most 1M); use fewer repeats',
      });
    }
    return medianNodeTimes(runs);
  } finally {
    nodeFs.rmSync(traceDir, { recursive: true, force: true });
  }
}

/**
 * Run until the run time stops changing: V8 first runs wasm through its baseline compiler and
 * swaps in optimized code per function as it gets hot, in the background (fixtures: the first
 * second or two of runs are up to 2.5× slower, at no fixed run count). Two consecutive blocks of
 * runs within 3 % of each other after at least a second, or 15 s at most.
 */
async function settle(runner: Runner, level: OptLevel): Promise<void> {
  const session = await runner.open(level);
  try {
    const start = performance.now();
    let previous = Infinity;
    let stableBlocks = 0;
    while (performance.now() - start < 15_000) {
      const times: number[] = [];
      for (let i = 0; i < 10; i++) {
        const t0 = performance.now();
        await session.run();
        times.push(performance.now() - t0);
      }
      const m = median(times);
      stableBlocks = Math.abs(m - previous) <= 0.03 * previous ? stableBlocks + 1 : 0;
      previous = m;
      if (stableBlocks >= 2 && performance.now() - start >= 1000) return;
    }
  } finally {
    await session.release();
  }
}

/** Median wall-clock time (ms) of one run at an optimization level, without the profiler. */
async function timeRuns(runner: Runner, level: OptLevel, o: ResolvedOptions, phase: ProfileProgress['phase'], onProgress: ProfileOptions['onProgress']): Promise<number> {
  const session = await runner.open(level);
  try {
    const times: number[] = [];
    const total = o.warmup + o.repeats;
    for (let i = 0; i < total; i++) {
      const t0 = performance.now();
      await session.run();
      const t1 = performance.now();
      if (i >= o.warmup) times.push(t1 - t0);
      onProgress?.({ phase, done: i + 1, total });
    }
    return median(times);
  } finally {
    await session.release();
  }
}

function profilerError(what: string, e: unknown): SplitcError {
  if (e instanceof SplitcError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new SplitcError('E_PROFILER', `${what}: ${msg.split('\n')[0]}`, { hint: 'check the input shapes, and that this runtime supports every op of the model', cause: e });
}

function nodeRunner(model: string | Uint8Array, feeds: Feeds, threads: number): Runner {
  const ortFeeds = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, toOrtTensor(v)]));
  return {
    jit: false,
    runtime: `onnxruntime-node ${ort.env.versions.node ?? ort.env.versions.common}`,
    async open(level, traceDir) {
      let session: ort.InferenceSession;
      try {
        const sessionOptions: ort.InferenceSession.SessionOptions = {
          executionProviders: ['cpu'],
          graphOptimizationLevel: level,
          executionMode: 'sequential',
          intraOpNumThreads: threads,
          interOpNumThreads: 1,
          ...(traceDir ? { enableProfiling: true, profileFilePrefix: path.join(traceDir, 'ort') } : {}),
        };
        session = typeof model === 'string' ? await ort.InferenceSession.create(model, sessionOptions) : await ort.InferenceSession.create(model, sessionOptions);
      } catch (e) {
        throw profilerError('onnxruntime-node could not load the model', e);
      }
      return {
        async run() {
          try {
            await session.run(ortFeeds);
          } catch (e) {
            throw profilerError('onnxruntime-node failed to run the model', e);
          }
        },
        endProfiling() {
          session.endProfiling();
          if (!traceDir) return null;
          // The file name carries a timestamp; the folder is ours, so it is the only .json there.
          const files = nodeFs.readdirSync(traceDir).filter((f) => f.endsWith('.json'));
          if (files.length !== 1) return null;
          return parseTrace(nodeFs.readFileSync(path.join(traceDir, files[0]!), 'utf8'));
        },
        release: () => session.release(),
      };
    },
  };
}

function parseTrace(text: string): TraceEvent[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new SplitcError('E_PROFILER', 'the onnxruntime profile trace is not valid JSON', { cause: e });
  }
  if (!Array.isArray(parsed)) throw new SplitcError('E_PROFILER', 'the onnxruntime profile trace is not a JSON array of events');
  return parsed as TraceEvent[];
}

type OrtWeb = typeof import('onnxruntime-web');

async function wasmRunner(bytes: Uint8Array, feeds: Feeds): Promise<Runner> {
  let ortWeb: OrtWeb;
  try {
    ortWeb = await import('onnxruntime-web');
  } catch (e) {
    throw profilerError('cannot load onnxruntime-web', e);
  }
  // Process-wide and read at the first session; threaded wasm would need cross-origin isolation in browsers anyway.
  ortWeb.env.wasm.numThreads = 1;
  return webRunner(ortWeb, bytes, feeds);
}

function webRunner(ortWeb: OrtWeb, bytes: Uint8Array, feeds: Feeds): Runner {
  const webFeeds = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, webTensor(ortWeb, v)]));
  return {
    jit: true,
    runtime: `onnxruntime-web ${ortWeb.env.versions.web ?? ortWeb.env.versions.common} (wasm)`,
    async open(level, traceDir) {
      let session: import('onnxruntime-web').InferenceSession;
      try {
        session = await ortWeb.InferenceSession.create(bytes, {
          executionProviders: ['wasm'],
          graphOptimizationLevel: level,
          executionMode: 'sequential',
          ...(traceDir ? { enableProfiling: true } : {}),
        });
      } catch (e) {
        throw profilerError('onnxruntime-web could not load the model', e);
      }
      return {
        async run() {
          try {
            await session.run(webFeeds);
          } catch (e) {
            throw profilerError('onnxruntime-web failed to run the model', e);
          }
        },
        endProfiling() {
          const text = captureStdout(() => session.endProfiling());
          const start = text.indexOf('[');
          const end = text.lastIndexOf(']');
          if (start < 0 || end < start) return null;
          try {
            const parsed: unknown = JSON.parse(text.slice(start, end + 1));
            return Array.isArray(parsed) ? (parsed as TraceEvent[]) : null;
          } catch {
            return null;
          }
        },
        release: () => session.release(),
      };
    },
  };
}

function webTensor(ortWeb: OrtWeb, t: FeedTensor): import('onnxruntime-web').Tensor {
  const type = toOrtTensor(t).type; // same type names in both runtimes; reuses calibrate's dtype table and its error
  return new ortWeb.Tensor(type as never, t.data as never, t.dims);
}

/**
 * Text written to fd 1 through `fs.writeSync` while `fn` runs (synchronously), kept off the
 * terminal. onnxruntime-web's Emscripten runtime prints with `require('fs').writeSync(1, …)`,
 * the object `nodeFs` is.
 */
function captureStdout(fn: () => unknown): string {
  const chunks: string[] = [];
  const original = nodeFs.writeSync;
  const patched = (fd: number, data: unknown, ...rest: unknown[]): number => {
    if (fd === 1 && typeof data === 'string') {
      chunks.push(data);
      return Buffer.byteLength(data);
    }
    return (original as (...a: unknown[]) => number)(fd, data, ...rest);
  };
  (nodeFs as { writeSync: unknown }).writeSync = patched;
  try {
    fn();
  } finally {
    (nodeFs as { writeSync: unknown }).writeSync = original;
  }
  return chunks.join('');
}
