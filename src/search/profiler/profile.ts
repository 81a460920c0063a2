// Measuring: per-node latencies of one model on this machine from onnxruntime's own profiler
// (Chrome-trace JSON), keyed by ONNX node name, plus whole-run medians.
//
// What runs. The model is timed as a deployment runs it: as `splitc split` writes its parts,
// i.e. after shape inference at the profiled input shapes (inputs declared concrete), without
// intermediate value_info (codegen/bundle.ts). onnxruntime-web runs such a file 9–16 % slower
// than the file as given, with symbolic input dims (fixtures), so a profile of the latter
// under-predicted the parts. The profile still carries the sha256 of the file as given: the
// planner looks tables up by it.
//
// Node names. onnxruntime's graph optimizations fuse nodes (Conv+BatchNorm+activation, NCHWc
// layout with inserted Reorder nodes, MatMul+Add) and the fused kernels carry borrowed or new
// names. We trace with `graphOptimizationLevel: 'disabled'`, where every compute node runs as
// its own kernel under its own name (fixtures: 221/330/440 of 221/330/440 compute nodes, no
// other events). Corrections, both checked against the fixtures' parts run as their own sessions:
// - The profiler's bookkeeping is timed inside every kernel (2–3 µs per node here), so the
//   traced nodes add up to more than an untraced run; the excess is subtracted per node.
// - A node with subgraphs (If, Loop, Scan) runs them inside its own kernel: the subgraph nodes'
//   kernels are traced too, under their own names, nested in the owner's kernel event, whose
//   time already contains theirs and their bookkeeping. They are folded into the owner
//   (`foldSubgraphKernels`): not added again, not left unmapped, and the owner's correction is
//   the per-event bookkeeping times the kernel events its time spans (a Loop's body, per trip).
// - The unoptimized graph is 25–45 % slower than the optimized one deployed sessions run
//   (onnxruntime's default level 'all'), and fusion speeds some nodes up far more than others.
//   On the node backend the optimized session is traced too, its graph saved, and each kernel
//   charged to the ONNX nodes it replaced (`chargeOptimizedKernels`; fixtures: every kernel
//   maps). Where that is not possible (wasm: onnxruntime-web cannot save the graph) or maps
//   poorly, node times are the unoptimized ones scaled by the ratio of the two untraced
//   whole-run medians (`nodeTimesMethod` says which). Both totals are reported either way.
//
// Timing on a shared machine. The corrections compare phases timed separately, so the phases
// (traced runs at both levels, untraced runs at both levels, runs of a one-node model) take
// turns in short blocks for the whole measurement, which lasts at least `minPhaseMs` besides
// the repeat count: a burst of load from other processes then hits all of them alike, and is a
// small part of each median, instead of skewing one 20 ms phase of a small model.
//
// Backends. 'node' is onnxruntime-node (native CPU EP); the trace goes to a file in a temp dir.
// 'wasm' is onnxruntime-web's single-threaded wasm build in Node: it supports `enableProfiling`
// but prints the trace to stdout (fs.writeSync(1, …)) on `endProfiling()` instead of returning
// it, so we capture those writes for the duration of that synchronous call. If that yields no
// trace (another onnxruntime-web build), per-node times are estimated: the node backend's
// per-node split scaled to the wasm whole-run median, and the result says `estimated: true`.
import { constantPredicate, isConstantNode } from '../../ir/constants.js';
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { SplitcError } from '../../ir/errors.js';
import { DataType } from '../../ir/dtype.js';
import { Graph, Model, Node, Value, tensorType } from '../../ir/graph.js';
import { loadModelWithBytes, modelToBytes } from '../../ir/serde/io.js';
import { deserializeModel } from '../../ir/serde/read.js';
import { inferShapes } from '../../passes/shape/index.js';
import { modelInputs, randomSamples, type Feeds } from '../calib-data.js';
import type { ProfilerBackend, ProfileOptions, ModelProfile } from './types.js';
import { type KernelMedians, subgraphKernelOwners, foldSubgraphKernels } from './trace.js';
import { chargeOptimizedKernels } from './optimized-kernels.js';
import { resolveProfileOptions } from './options.js';
import { type Measurement, measure } from './measure.js';
import { type Runner, nodeRunner, wasmRunner } from './runners.js';
import { unknownInput } from '../../passes/diagnostics.js';

/** What to profile: a file path, ONNX bytes, or a model already loaded with its bytes. */
export type ModelSource = string | Uint8Array | { model: Model; bytes: Uint8Array; path?: string };

export async function profileModel(source: ModelSource, opts: ProfileOptions = {}): Promise<ModelProfile> {
  const o = resolveProfileOptions(opts);
  const { model, bytes, file } = loadSource(source);
  const { inputShapes, feeds } = makeFeeds(model, opts.inputShapes ?? {}, o.seed);

  // Nodes onnxruntime would report under a name we cannot key by (empty or duplicate) are
  // renamed in the bytes it runs and reported as not measured.
  // Constants (and nodes computing from weights only) are folded by onnxruntime at load: not timed.
  const isConst = constantPredicate();
  const compute = [...model.graph.nodes].filter((n) => !isConstantNode(n, isConst));
  const counts = new Map<string, number>();
  for (const n of compute) counts.set(n.name, (counts.get(n.name) ?? 0) + 1);
  const keyable = compute.filter((n) => n.name !== '' && counts.get(n.name) === 1).map((n) => n.name);
  const unkeyable = compute.filter((n) => n.name === '' || counts.get(n.name)! > 1);
  const deployed = deployedModel(bytes, file, inputShapes);
  const runBytes = modelToBytes(deployed, { intermediateTypes: false });

  const tiny = tinyModel();
  const makeRunner = async (backend: ProfilerBackend, b: Uint8Array, f: Feeds): Promise<Runner> => (backend === 'node' ? nodeRunner(b, f, o.threads) : wasmRunner(b, f));
  const runner = await makeRunner(o.backend, runBytes, feeds);
  const traceOptimized = o.nodeTimesFor === 'optimized' && o.traceOptimized && runner.savesOptimizedModel;
  let m = await measure(runner, await makeRunner(o.backend, tiny.bytes, tiny.feeds), o, compute.length, traceOptimized, opts.onProgress);
  let estimated = false;
  if (!m.rawNodeMs) {
    if (o.backend !== 'wasm') throw new SplitcError('E_PROFILER', 'onnxruntime-node wrote no profile trace', { hint: 'check that the temp folder is writable' });
    // No per-node trace from this onnxruntime-web build: split the wasm run the way the node backend splits it.
    const n = await measure(nodeRunner(runBytes, feeds, 1), nodeRunner(tiny.bytes, tiny.feeds, 1), o, compute.length, false, undefined);
    if (!n.rawNodeMs) throw new SplitcError('E_PROFILER', 'neither onnxruntime-web nor onnxruntime-node produced a per-node profile');
    const scale = Math.max(0, m.unoptimizedTotalMs - m.runOverheadMs) / Math.max(1e-9, n.unoptimizedTotalMs - n.runOverheadMs);
    const rawNodeMs = { ms: new Map([...n.rawNodeMs.ms].map(([k, v]) => [k, v * scale] as const)), events: n.rawNodeMs.events };
    m = { ...m, rawNodeMs };
    estimated = true;
  }
  // Subgraph kernels are inside their owner's time; `events`: the kernel events each node's time spans.
  const { ms: raw, events } = foldSubgraphKernels(m.rawNodeMs!, subgraphKernelOwners(deployed));

  let rawNodeSumMs = 0;
  let reportedEvents = 0;
  for (const name of keyable) {
    const ms = raw.get(name);
    if (ms !== undefined) {
      rawNodeSumMs += ms;
      reportedEvents += events.get(name) ?? 1;
    }
  }
  // The profiler's own bookkeeping lands inside every kernel_time (fixtures: 2–3 µs per node,
  // +4 % to +30 % of a run); spread what the traced nodes add up to beyond the untraced run
  // evenly over them (it is per node, not per µs). Never added: time outside kernels stays in
  // the run overhead.
  const profilerOverheadMsPerNode = o.correctProfilerOverhead && reportedEvents > 0 ? Math.max(0, (rawNodeSumMs - (m.unoptimizedTotalMs - m.runOverheadMs)) / reportedEvents) : 0;
  const unoptimizedMs = new Map<string, number>();
  const keyableSet = new Set(keyable);
  let clampedNodes = 0;
  for (const [name, ms] of raw) {
    const bookkeeping = profilerOverheadMsPerNode * (events.get(name) ?? 1);
    if (ms < bookkeeping && keyableSet.has(name)) clampedNodes++;
    unoptimizedMs.set(name, Math.max(0, ms - bookkeeping));
  }
  let traced: ReadonlyMap<string, number> | null = null;
  let optimizedTrace: ModelProfile['optimizedTrace'];
  if (m.optimized && 'failed' in m.optimized) optimizedTrace = { used: false, reason: m.optimized.failed };
  else if (m.optimized) {
    const charged = optimizedTimesOf(deployed, m.optimized, unoptimizedMs, m, o.correctProfilerOverhead);
    optimizedTrace = charged.report;
    if (charged.report.used) traced = charged.nodesMs;
  }
  const optimizationScale = o.nodeTimesFor === 'optimized' && !traced ? Math.max(0, m.optimizedTotalMs - m.runOverheadMs) / Math.max(1e-9, m.unoptimizedTotalMs - m.runOverheadMs) : 1;

  const nodesMs: Record<string, number> = {};
  const notReported: string[] = [];
  let nodeSumMs = 0;
  for (const name of keyable) {
    const ms = unoptimizedMs.get(name);
    if (ms === undefined) notReported.push(name);
    else {
      const t = traced ? traced.get(name)! : ms * optimizationScale;
      nodesMs[name] = t;
      nodeSumMs += t;
    }
  }
  for (const n of unkeyable) notReported.push(n.name);
  return {
    modelSha256: createHash('sha256').update(bytes).digest('hex'),
    timedModelSha256: createHash('sha256').update(runBytes).digest('hex'),
    ...(file ? { model: path.basename(file) } : {}),
    backend: o.backend,
    runtime: estimated ? `${runner.runtime}, node split from onnxruntime-node` : runner.runtime,
    threads: o.threads,
    warmup: o.warmup,
    repeats: o.repeats,
    minPhaseMs: o.minPhaseMs,
    runs: m.runs,
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
    nodeTimesMethod: o.nodeTimesFor === 'unoptimized' ? 'traced-unoptimized' : traced ? 'traced-optimized' : 'scaled',
    ...(optimizedTrace ? { optimizedTrace } : {}),
    runOverheadMs: m.runOverheadMs,
    estimated,
  };
}

/** Mapping coverage below which the optimized trace is not used (the node times fall back to one scale). */
export const MIN_OPTIMIZED_COVERAGE = 0.97;
/** Share of the unoptimized time in nodes no kernel is charged to, above which the optimized trace is not used. */
export const MAX_ORPHAN_SHARE = 0.05;

/**
 * Per-node times from the traced optimized session: kernel medians less the profiler's
 * per-kernel bookkeeping (what they add up to beyond the untraced optimized run, spread evenly
 * as for the unoptimized trace), charged to ONNX nodes; `used` false, with the reason, when the
 * mapping is poor.
 */
function optimizedTimesOf(
  deployed: Model,
  optimized: { rawKernelMs: KernelMedians; graph: Model },
  unoptimizedMs: ReadonlyMap<string, number>,
  m: Measurement,
  correct: boolean,
): { nodesMs: ReadonlyMap<string, number>; report: NonNullable<ModelProfile['optimizedTrace']> } {
  const { ms: rawKernelMs, events } = foldSubgraphKernels(optimized.rawKernelMs, subgraphKernelOwners(optimized.graph));
  const rawSum = [...rawKernelMs.values()].reduce((a, x) => a + x, 0);
  const count = [...rawKernelMs.keys()].reduce((a, k) => a + (events.get(k) ?? 1), 0);
  const perKernel = correct && count > 0 ? Math.max(0, (rawSum - (m.optimizedTotalMs - m.runOverheadMs)) / count) : 0;
  const kernelMs = new Map([...rawKernelMs].map(([k, v]) => [k, Math.max(0, v - perKernel * (events.get(k) ?? 1))] as const));
  const charged = chargeOptimizedKernels(deployed, optimized.graph, kernelMs, unoptimizedMs);
  const pct = (x: number): string => `${(100 * x).toFixed(1)} %`;
  const reason =
    charged.coverage < MIN_OPTIMIZED_COVERAGE
      ? `only ${pct(charged.coverage)} of the optimized kernel time maps to ONNX nodes (${charged.unmappedKernels.length} kernels do not)`
      : charged.orphanShare > MAX_ORPHAN_SHARE
        ? `nodes with ${pct(charged.orphanShare)} of the unoptimized time map to no optimized kernel`
        : undefined;
  return {
    nodesMs: charged.nodesMs,
    report: {
      used: reason === undefined,
      ...(reason ? { reason } : {}),
      coverage: charged.coverage,
      orphanShare: charged.orphanShare,
      unmappedKernels: charged.unmappedKernels,
      profilerOverheadMsPerKernel: perKernel,
    },
  };
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

/**
 * The model a deployment runs, as a fresh copy (the caller's model is left alone): shapes
 * inferred at the profiled input shapes, as `splitc split` writes its parts, and unnamed /
 * duplicate-named compute nodes given unique names. Written without intermediate types, its
 * bytes are the deployed ones (external data inlined).
 */
function deployedModel(bytes: Uint8Array, file: string | undefined, inputShapes: Record<string, number[]>): Model {
  const copy = deserializeModel(bytes, file ? { baseDir: path.dirname(path.resolve(file)), source: file } : { source: '<bytes>' });
  const seen = new Set<string>();
  let i = 0;
  const isConst = constantPredicate();
  for (const n of copy.graph.nodes) {
    if (isConstantNode(n, isConst)) continue;
    if (n.name === '' || seen.has(n.name)) n.name = `splitc.unnamed.${i++}`;
    seen.add(n.name);
  }
  inferShapes(copy, { inputShapes });
  return copy;
}

function makeFeeds(model: Model, given: Record<string, number[]>, seed: number): { inputShapes: Record<string, number[]>; feeds: Feeds } {
  const names = new Set(model.graph.inputs.map((v) => v.name));
  for (const name of Object.keys(given)) {
    if (!names.has(name)) {
      throw unknownInput(name, names);
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
