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

import { constantPredicate, isConstantNode } from '../ir/constants.js';
import { createHash } from 'node:crypto';
import nodeFs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { SplitcError } from '../ir/errors.js';
import { DataType } from '../ir/dtype.js';
import { allNodes, Graph, Model, Node, Value, tensorType } from '../ir/graph.js';
import { loadModelWithBytes, modelToBytes } from '../ir/serde/io.js';
import { deserializeModel } from '../ir/serde/read.js';
import { inferShapes } from '../passes/shape/index.js';
import { modelInputs, randomSamples, type FeedTensor, type Feeds } from './calib-data.js';
import { toOrtTensor } from './calibrate.js';
import { median } from './latency-fit.js';
import { createOrtSession } from './ort-session.js';

export const PROFILER_BACKENDS = ['node', 'wasm'] as const;
export type ProfilerBackend = (typeof PROFILER_BACKENDS)[number];

export interface ProfileProgress {
  /**
   * 'profile': traced runs (optimizations off); 'total': timed runs without the profiler;
   * 'optimized': timed runs with optimizations on; 'overhead': runs of a one-node model.
   * The phases take turns, so their reports interleave.
   */
  phase: 'profile' | 'total' | 'optimized' | 'overhead';
  /**
   * Timed runs done in this phase and how many there will be: an estimate (above `done`) while
   * the phase runs, since it lasts `minPhaseMs` as well as `repeats` runs; `done === total`
   * exactly once, when it ends.
   */
  done: number;
  total: number;
}

export interface ProfileOptions {
  backend?: ProfilerBackend;
  /** Intra-op threads (node backend); the wasm backend runs single-threaded. Default 1. */
  threads?: number;
  /** Untimed runs before the timed ones (default 3). */
  warmup?: number;
  /** Timed runs whose medians are reported, at least (default 20). */
  repeats?: number;
  /**
   * The timed phases (which take turns) also last at least this long (ms, default 1000): with
   * 20 repeats each, a small model's phase would last 20 ms, and one burst of load skews it.
   */
  minPhaseMs?: number;
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
  /**
   * With `nodeTimesFor: 'optimized'` on the node backend, also trace the optimized session and
   * charge its kernels to ONNX nodes (default true; see `nodeTimesMethod`). False: one scale.
   */
  traceOptimized?: boolean;
  /** Seed of the (uniform random) input data. */
  seed?: number;
  onProgress?: (p: ProfileProgress) => void;
}

export interface ModelProfile {
  /** sha256 (hex) of the ONNX bytes as given (the file): what the planner looks tables up by. */
  modelSha256: string;
  /**
   * sha256 (hex) of the bytes that were run: the model after shape inference at `inputShapes`
   * (and with unusable node names replaced), as `splitc split` writes its parts (no
   * intermediate value_info).
   */
  timedModelSha256: string;
  /** File name when profiled from a path. */
  model?: string;
  backend: ProfilerBackend;
  /** The runtime and its version, e.g. 'onnxruntime-node 1.30.0'. */
  runtime: string;
  threads: number;
  warmup: number;
  repeats: number;
  minPhaseMs: number;
  /**
   * Timed runs per phase (each at least `repeats`), after warm-up; 'profile' counts the traced
   * runs the medians use, 'optimizedProfile' those of the optimized graph when it was traced.
   */
  runs: Record<ProfileProgress['phase'], number> & { optimizedProfile?: number };
  /** Input shapes the runs used. */
  inputShapes: Record<string, number[]>;
  /**
   * Latency (ms) of each compute node, by ONNX node name, in graph order (see
   * `nodeTimesMethod`): its share of the optimized session's traced kernels, or its median
   * traced kernel time (optimizations off) minus `profilerOverheadMsPerNode`, times
   * `optimizationScale`.
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
   * inside each kernel_time. Strictly per kernel event: a node with subgraphs has it subtracted
   * once for itself and once per kernel event run inside it.
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
   * Factor applied to the corrected unoptimized traced times: (optimizedTotalMs −
   * runOverheadMs) / (unoptimizedTotalMs − runOverheadMs) when `nodeTimesMethod` is 'scaled',
   * else 1. One factor for all nodes: fusion speeds up some ops more than others, so segments
   * are less exact than the totals.
   */
  optimizationScale: number;
  /**
   * How `nodesMs` were obtained: 'traced-optimized', each node's share of the kernels of a
   * traced optimized session (node backend; see `chargeOptimizedKernels`); 'scaled', the
   * unoptimized trace times `optimizationScale` (wasm, or when the optimized trace mapped
   * poorly: `optimizedTrace.reason`); 'traced-unoptimized' for `nodeTimesFor: 'unoptimized'`.
   */
  nodeTimesMethod: 'traced-optimized' | 'scaled' | 'traced-unoptimized';
  /** The optimized session's trace, when one was taken: how well its kernels mapped to ONNX nodes, and whether it was used. */
  optimizedTrace?: {
    used: boolean;
    /** Why not. */
    reason?: string;
    coverage?: number;
    orphanShare?: number;
    unmappedKernels?: string[];
    profilerOverheadMsPerKernel?: number;
  };
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
  /** Per node name: how many kernel events it had in each kept run (a Loop body's nodes: one per trip), aligned with `runsMs`. */
  nodeRunsEvents: Map<string, number[]>;
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
  const nodeRunsEvents = new Map<string, number[]>();
  const opTypes = new Map<string, string>();
  for (const e of events) {
    if (e.cat !== 'Node' || typeof e.name !== 'string' || !e.name.endsWith(KERNEL_SUFFIX)) continue;
    if (typeof e.ts !== 'number' || typeof e.dur !== 'number') continue;
    const run = windowIndex(kept, e.ts);
    if (run < 0) continue;
    const name = e.name.slice(0, -KERNEL_SUFFIX.length);
    let perRun = nodeRunsMs.get(name);
    let eventsPerRun = nodeRunsEvents.get(name);
    if (!perRun || !eventsPerRun) {
      perRun = new Array<number>(kept.length).fill(0);
      eventsPerRun = new Array<number>(kept.length).fill(0);
      nodeRunsMs.set(name, perRun);
      nodeRunsEvents.set(name, eventsPerRun);
    }
    perRun[run]! += e.dur / 1000;
    eventsPerRun[run]!++;
    if (typeof e.args?.op_name === 'string') opTypes.set(name, e.args.op_name);
  }
  return { runsMs: kept.map((w) => w.durMs), nodeRunsMs, nodeRunsEvents, opTypes };
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

/** Median number of kernel events per run, per node, over the runs of `groupTraceByRun`. */
export function medianEventCounts(runs: TraceRuns): Map<string, number> {
  const out = new Map<string, number>();
  for (const [name, perRun] of runs.nodeRunsEvents) out.set(name, median(perRun));
  return out;
}

/** The runs of `runs` whose entry in `keep` (one per run, in time order) is true. */
export function selectRuns(runs: TraceRuns, keep: readonly boolean[]): TraceRuns {
  if (keep.length !== runs.runsMs.length) throw new Error(`selectRuns: ${keep.length} flags for ${runs.runsMs.length} runs`);
  const pick = <T>(xs: readonly T[]): T[] => xs.filter((_, i) => keep[i]);
  return {
    runsMs: pick(runs.runsMs),
    nodeRunsMs: new Map([...runs.nodeRunsMs].map(([k, v]) => [k, pick(v)] as const)),
    nodeRunsEvents: new Map([...runs.nodeRunsEvents].map(([k, v]) => [k, pick(v)] as const)),
    opTypes: runs.opTypes,
  };
}

/** Median kernel time (ms) and kernel events per run, by kernel name, of a traced session. */
export interface KernelMedians {
  ms: Map<string, number>;
  events: Map<string, number>;
}

/**
 * The top-level node owning each node inside a subgraph (If branches, Loop/Scan bodies, at any
 * depth), by name: how the trace names their kernels. Names that are also top-level node names
 * are left out: the trace cannot tell the two apart, and the top-level node keeps it.
 */
export function subgraphKernelOwners(model: Model): Map<string, string> {
  const top = new Set([...model.graph.nodes].map((n) => n.name));
  const owners = new Map<string, string>();
  for (const owner of model.graph.nodes) {
    if (!owner.hasSubgraphs()) continue;
    for (const sg of owner.subgraphs()) for (const n of allNodes(sg)) if (n.name !== '' && !top.has(n.name)) owners.set(n.name, owner.name);
  }
  return owners;
}

/**
 * Top-level kernels only: onnxruntime runs a subgraph inside its owner's kernel, whose traced
 * time already contains the subgraph kernels' times (and their profiler bookkeeping), so those
 * are dropped, and their events per run are added to the owner's, which then says how many
 * kernel events (each with its bookkeeping) the owner's time spans.
 */
export function foldSubgraphKernels(kernels: KernelMedians, owners: ReadonlyMap<string, string>): KernelMedians {
  const ms = new Map<string, number>();
  const events = new Map<string, number>();
  for (const [name, t] of kernels.ms) {
    const owner = owners.get(name);
    const count = kernels.events.get(name) ?? 1;
    if (owner === undefined) {
      ms.set(name, t);
      events.set(name, (events.get(name) ?? 0) + Math.max(1, count));
    } else events.set(owner, (events.get(owner) ?? 0) + count);
  }
  // owners whose own kernel was not traced keep no entry
  for (const name of events.keys()) if (!ms.has(name)) events.delete(name);
  return { ms, events };
}

// ---------------------------------------------------------------- optimized kernels → ONNX nodes

/** How the kernels of a traced optimized session were charged to the ONNX nodes. */
export interface OptimizedNodeTimes {
  /** Per ONNX node name: its share of the kernel times (ms); nodes fused or folded away with no kernel nearby get 0. */
  nodesMs: Map<string, number>;
  /** Share of the kernels' time charged to some node (the rest had no node: not in the saved graph, or nothing mapped nearby). */
  coverage: number;
  /** Kernels with no node. */
  unmappedKernels: string[];
  /** Share of the unoptimized node time in nodes no kernel was charged to (folded away, or a mapping miss). */
  orphanShare: number;
}

/**
 * Charge the kernel times of an optimized session (by optimized-graph node name) to the ONNX
 * nodes of `original`, the graph the session was created from (the same node names).
 *
 * A kernel maps to ONNX nodes by its name, as onnxruntime's fusions name them: the node of the
 * same name (fused kernels keep their first node's name: FusedConv `p2o.Conv.45`), the name
 * before a '/' (`p2o.MatMul.0/MatMulAddFusion`), or `<tensor>_nchwc` (NCHWc convolutions are
 * named after the tensor their fused chain ends in: the producer of `<tensor>`); failing those,
 * by an output tensor of the same name. A kernel none of these fit (layout `ReorderInput` /
 * `ReorderOutput`, inserted Transpose and Reshape) joins the nearest mapped kernel in the
 * optimized graph (at most 3 edges away; a ReorderOutput looks upstream first, the rest
 * downstream). Each mapped kernel ends a group: the node its chain ends in and the nodes
 * upstream of it that no kernel maps to (what it fused, or what was folded away into its
 * inputs), not past its named node. The group's kernel time is shared in proportion to the
 * nodes' unoptimized times, so a cut inside a fused chain still gives each side about its part.
 */
export function chargeOptimizedKernels(
  original: Model,
  optimized: Model,
  kernelMs: ReadonlyMap<string, number>,
  unoptimizedMs: ReadonlyMap<string, number>,
): OptimizedNodeTimes {
  const isConstOriginal = constantPredicate();
  const compute = [...original.graph.nodes].filter((n) => !isConstantNode(n, isConstOriginal));
  const byName = new Map(compute.map((n) => [n.name, n] as const));
  const producerOf = new Map<string, Node>();
  for (const n of compute) for (const v of n.outputs) if (v.name) producerOf.set(v.name, n);

  /** A kernel's chain in the original graph: its named first node and the node it ends in. */
  const direct = (k: Node): { first?: Node; end: Node } | undefined => {
    const slash = k.name.indexOf('/');
    const first = byName.get(k.name) ?? (slash > 0 ? byName.get(k.name.slice(0, slash)) : undefined);
    const end =
      (k.name.endsWith('_nchwc') ? producerOf.get(k.name.slice(0, -'_nchwc'.length)) : undefined) ??
      k.outputs.map((v) => producerOf.get(v.name)).find((n) => n !== undefined) ??
      first;
    return end ? { ...(first ? { first } : {}), end } : undefined;
  };
  const optNodes = new Map<string, Node>();
  for (const k of optimized.graph.nodes) if (!optNodes.has(k.name)) optNodes.set(k.name, k);
  const chains = new Map<Node, { first?: Node; end: Node }>();
  for (const k of optNodes.values()) {
    const c = direct(k);
    if (c) chains.set(k, c);
  }
  /** The mapped kernel nearest to `k` in the optimized graph (breadth first, at most 3 edges). */
  const nearest = (k: Node): Node | undefined => {
    const upstreamFirst = k.opType === 'ReorderOutput';
    let frontier = [k];
    const seen = new Set([k]);
    for (let d = 0; d < 3 && frontier.length; d++) {
      const next: Node[] = [];
      for (const x of frontier) {
        const up = x.inputs.flatMap((v) => (v?.producer() ? [v.producer()!] : []));
        const down = x.outputs.flatMap((v) => v.consumers());
        for (const y of upstreamFirst ? [...up, ...down] : [...down, ...up]) {
          if (seen.has(y)) continue;
          seen.add(y);
          if (chains.has(y)) return y;
          next.push(y);
        }
      }
      frontier = next;
    }
    return undefined;
  };

  // Kernel time per group, keyed by the node its chain ends in.
  const groupMs = new Map<Node, number>();
  const firstOf = new Map<Node, Set<Node>>();
  let totalMs = 0;
  let mappedMs = 0;
  const unmappedKernels: string[] = [];
  for (const [name, ms] of kernelMs) {
    totalMs += ms;
    const k = optNodes.get(name);
    const anchor = k && (chains.has(k) ? k : nearest(k));
    if (!anchor) {
      unmappedKernels.push(name);
      continue;
    }
    const { first, end } = chains.get(anchor)!;
    groupMs.set(end, (groupMs.get(end) ?? 0) + ms);
    if (first) (firstOf.get(end) ?? firstOf.set(end, new Set()).get(end)!).add(first);
    mappedMs += ms;
  }
  // Nodes some kernel maps to by name or chain end: a group's upstream walk stops at them.
  const anchored = new Set<Node>([...groupMs.keys(), ...[...firstOf.values()].flatMap((s) => [...s])]);
  const groupOf = new Map<Node, Node>();
  const order = new Map(compute.map((n, i) => [n, i] as const));
  for (const end of [...groupMs.keys()].sort((a, b) => order.get(a)! - order.get(b)!)) {
    groupOf.set(end, end);
    const firsts = firstOf.get(end) ?? new Set<Node>();
    const stack = [end];
    while (stack.length) {
      const x = stack.pop()!;
      for (const v of x.inputs) {
        const p = v?.producer();
        if (!p || !order.has(p) || groupOf.has(p)) continue;
        if (anchored.has(p) && !firsts.has(p)) continue;
        groupOf.set(p, end);
        if (!firsts.has(p)) stack.push(p);
      }
    }
  }
  const members = new Map<Node, Node[]>();
  for (const [n, end] of groupOf) (members.get(end) ?? members.set(end, []).get(end)!).push(n);
  const nodesMs = new Map<string, number>(compute.map((n) => [n.name, 0] as const));
  for (const [end, ms] of groupMs) {
    const group = members.get(end)!;
    const weight = group.reduce((a, n) => a + (unoptimizedMs.get(n.name) ?? 0), 0);
    for (const n of group) nodesMs.set(n.name, weight > 0 ? (ms * (unoptimizedMs.get(n.name) ?? 0)) / weight : n === end ? ms : 0);
  }
  const unoptimizedTotal = compute.reduce((a, n) => a + (unoptimizedMs.get(n.name) ?? 0), 0);
  const orphanMs = compute.filter((n) => !groupOf.has(n)).reduce((a, n) => a + (unoptimizedMs.get(n.name) ?? 0), 0);
  return {
    nodesMs,
    coverage: totalMs > 0 ? mappedMs / totalMs : 0,
    unmappedKernels,
    orphanShare: unoptimizedTotal > 0 ? orphanMs / unoptimizedTotal : 0,
  };
}

// ---------------------------------------------------------------- options

interface ResolvedOptions {
  backend: ProfilerBackend;
  threads: number;
  warmup: number;
  repeats: number;
  minPhaseMs: number;
  nodeTimesFor: 'optimized' | 'unoptimized';
  correctProfilerOverhead: boolean;
  traceOptimized: boolean;
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
  const minPhaseMs = opts.minPhaseMs ?? 1000;
  if (typeof minPhaseMs !== 'number' || !Number.isFinite(minPhaseMs) || minPhaseMs < 0 || minPhaseMs > 600_000) {
    throw new SplitcError('E_BAD_ARGUMENT', `minPhaseMs must be a number of milliseconds in [0, 600000], got ${String(minPhaseMs)}`);
  }
  for (const [name, dims] of Object.entries(opts.inputShapes ?? {})) {
    if (!Array.isArray(dims) || !dims.every((d) => isInt(d, 1))) {
      throw new SplitcError('E_BAD_ARGUMENT', `invalid shape for input '${name}': ${JSON.stringify(dims)}`, { hint: 'profiling needs concrete dims, e.g. x=1x3x48x192' });
    }
  }
  const nodeTimesFor = opts.nodeTimesFor ?? 'optimized';
  if (nodeTimesFor !== 'optimized' && nodeTimesFor !== 'unoptimized') {
    throw new SplitcError('E_BAD_ARGUMENT', `nodeTimesFor must be 'optimized' or 'unoptimized', got '${String(nodeTimesFor)}'`);
  }
  return {
    backend,
    threads,
    warmup,
    repeats,
    minPhaseMs,
    nodeTimesFor,
    correctProfilerOverhead: opts.correctProfilerOverhead ?? true,
    traceOptimized: opts.traceOptimized ?? true,
    seed: opts.seed ?? 1,
  };
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
  /** Whether `open` can write the optimized graph (`optimizedModelPath`). */
  savesOptimizedModel: boolean;
  /** Create a session; `traceDir` (a folder of its own) turns the profiler on. */
  open(level: OptLevel, opts?: { traceDir?: string; optimizedModelPath?: string }): Promise<RunnerSession>;
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

interface Measurement {
  /** Median traced kernel time and events per run per node name (null: no trace). */
  rawNodeMs: KernelMedians | null;
  /** Of the optimized session, when asked for and obtained: median traced kernel time and events per run per kernel name, and the graph it ran. */
  optimized: { rawKernelMs: KernelMedians; graph: Model } | { failed: string } | null;
  unoptimizedTotalMs: number;
  optimizedTotalMs: number;
  runOverheadMs: number;
  runs: ModelProfile['runs'];
}

/** Timed runs per block of a phase; each block starts with one untimed run that brings the session's data back into cache. */
const BLOCK_RUNS = 5;
/** onnxruntime's profiler keeps at most 1M events; traced runs stay well below (one event per node and run, and a few per run). */
const MAX_TRACE_EVENTS = 500_000;

interface Phase {
  phase: ProfileProgress['phase'] | 'optimizedProfile';
  session: RunnerSession;
  timesMs: number[];
  /** Runs this phase may have at most (traced ones: events the profiler keeps). */
  maxRuns: number;
  /** Traced sessions: which of their runs (all are in the trace, in order) the medians use. */
  kept?: boolean[];
}

/**
 * Everything timed on one backend, in one measurement: traced runs (optimizations off),
 * untraced runs at both levels, runs of a one-node model (the fixed cost of a run) and, with
 * `traceOptimized`, traced runs of the optimized graph. The sessions take turns in blocks of
 * BLOCK_RUNS until each has `repeats` timed runs and `minPhaseMs` have passed, so every median
 * covers the same stretch of time (fixtures, node: the classifier 1 s → ~28 blocks per phase
 * where 20 runs took 20–50 ms; the recognizer's 20 runs take longer anyway).
 */
async function measure(
  runner: Runner,
  tinyRunner: Runner,
  o: ResolvedOptions,
  computeNodes: number,
  traceOptimized: boolean,
  onProgress: ProfileOptions['onProgress'],
): Promise<Measurement> {
  if (runner.jit) {
    // Each level runs different kernels (fused or not): warm both.
    await settle(runner, 'disabled');
    await settle(runner, 'all');
  }
  const tmp = nodeFs.mkdtempSync(path.join(os.tmpdir(), 'splitc-profile-'));
  const sessions: RunnerSession[] = [];
  const open = async (r: Runner, level: OptLevel, opts: { traceDir?: string; optimizedModelPath?: string } = {}): Promise<RunnerSession> => {
    for (const dir of [opts.traceDir, opts.optimizedModelPath && path.dirname(opts.optimizedModelPath)]) if (dir) nodeFs.mkdirSync(dir, { recursive: true });
    const s = await r.open(level, opts);
    sessions.push(s);
    return s;
  };
  try {
    const maxTraced = Math.max(o.repeats, Math.floor(MAX_TRACE_EVENTS / (computeNodes + 4)) - o.warmup);
    const traced: Phase = { phase: 'profile', session: await open(runner, 'disabled', { traceDir: path.join(tmp, 'trace') }), timesMs: [], maxRuns: maxTraced, kept: [] };
    const unoptimized: Phase = { phase: 'total', session: await open(runner, 'disabled'), timesMs: [], maxRuns: Infinity };
    const optimized: Phase = { phase: 'optimized', session: await open(runner, 'all'), timesMs: [], maxRuns: Infinity };
    const overhead: Phase = { phase: 'overhead', session: await open(tinyRunner, 'disabled'), timesMs: [], maxRuns: Infinity };
    const optimizedModelPath = path.join(tmp, 'optimized', 'model.onnx');
    let optimizedTraced: Phase | undefined;
    let optimizedFailure: string | undefined;
    if (traceOptimized) {
      try {
        const session = await open(runner, 'all', { traceDir: path.join(tmp, 'trace-optimized'), optimizedModelPath });
        optimizedTraced = { phase: 'optimizedProfile', session, timesMs: [], maxRuns: maxTraced, kept: [] };
      } catch (e) {
        optimizedFailure = `the optimized session could not be traced (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`;
      }
    }
    const phases = [traced, unoptimized, optimized, overhead, ...(optimizedTraced ? [optimizedTraced] : [])];
    for (const p of phases) {
      for (let i = 0; i < o.warmup; i++) {
        await p.session.run();
        p.kept?.push(false);
      }
    }
    const start = performance.now();
    const enough = (p: Phase): boolean => p.timesMs.length >= Math.min(o.repeats, p.maxRuns);
    let rounds = 0;
    while (!(phases.every(enough) && performance.now() - start >= o.minPhaseMs)) {
      for (const p of phases) {
        const block = Math.min(BLOCK_RUNS, p.maxRuns - p.timesMs.length);
        if (block <= 0) continue;
        await p.session.run();
        p.kept?.push(false);
        for (let i = 0; i < block; i++) {
          const t0 = performance.now();
          await p.session.run();
          p.timesMs.push(performance.now() - t0);
          p.kept?.push(true);
        }
      }
      rounds++;
      if (onProgress) {
        const elapsed = performance.now() - start;
        const roundsWanted = Math.max(Math.ceil(o.repeats / BLOCK_RUNS), Math.ceil((rounds * o.minPhaseMs) / Math.max(elapsed, 1e-3)));
        for (const p of [traced, unoptimized, optimized, overhead]) {
          onProgress({ phase: p.phase as ProfileProgress['phase'], done: p.timesMs.length, total: Math.max(p.timesMs.length + 1, Math.min(p.maxRuns, roundsWanted * BLOCK_RUNS)) });
        }
      }
    }
    for (const p of [traced, unoptimized, optimized, overhead]) onProgress?.({ phase: p.phase as ProfileProgress['phase'], done: p.timesMs.length, total: p.timesMs.length });

    /** Median kernel times of a traced phase's kept runs; null without a trace. */
    const kernelMedians = (p: Phase): KernelMedians | null => {
      const trace = p.session.endProfiling();
      if (!trace) return null;
      const runs = groupTraceByRun(trace);
      if (runs.runsMs.length !== p.kept!.length) {
        throw new SplitcError('E_PROFILER', `the profile trace has ${runs.runsMs.length} runs, expected ${p.kept!.length}`, {
          hint: 'onnxruntime may have dropped events (its profiler keeps at most 1M); use fewer repeats',
        });
      }
      const kept = selectRuns(runs, p.kept!);
      return { ms: medianNodeTimes(kept), events: medianEventCounts(kept) };
    };
    const rawNodeMs = kernelMedians(traced);
    let optimizedResult: Measurement['optimized'] = optimizedFailure ? { failed: optimizedFailure } : null;
    if (optimizedTraced) {
      try {
        const rawKernelMs = kernelMedians(optimizedTraced);
        const graph = deserializeModel(new Uint8Array(nodeFs.readFileSync(optimizedModelPath)), { baseDir: path.dirname(optimizedModelPath), source: 'the optimized graph' });
        optimizedResult = rawKernelMs ? { rawKernelMs, graph } : { failed: 'no trace of the optimized session' };
      } catch (e) {
        optimizedResult = { failed: `the optimized graph could not be read back (${e instanceof Error ? e.message.split('\n')[0] : String(e)})` };
      }
    }
    return {
      rawNodeMs,
      optimized: optimizedResult,
      unoptimizedTotalMs: median(unoptimized.timesMs),
      optimizedTotalMs: median(optimized.timesMs),
      runOverheadMs: median(overhead.timesMs),
      runs: {
        profile: traced.timesMs.length,
        total: unoptimized.timesMs.length,
        optimized: optimized.timesMs.length,
        overhead: overhead.timesMs.length,
        ...(optimizedTraced ? { optimizedProfile: optimizedTraced.timesMs.length } : {}),
      },
    };
  } finally {
    for (const s of sessions) await s.release();
    nodeFs.rmSync(tmp, { recursive: true, force: true });
  }
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
    savesOptimizedModel: true,
    async open(level, { traceDir, optimizedModelPath } = {}) {
      let session: ort.InferenceSession;
      try {
        const sessionOptions: ort.InferenceSession.SessionOptions = {
          executionProviders: ['cpu'],
          graphOptimizationLevel: level,
          executionMode: 'sequential',
          intraOpNumThreads: threads,
          interOpNumThreads: 1,
          ...(traceDir ? { enableProfiling: true, profileFilePrefix: path.join(traceDir, 'ort') } : {}),
          ...(optimizedModelPath ? { optimizedModelFilePath: optimizedModelPath } : {}),
        };
        // Errors only (createOrtSession's default): onnxruntime's warnings about the model (and, when
        // saving a graph with NCHWc layout, that it is for this machine only: it is) would land on the user's stderr.
        session = await createOrtSession(ort, model, sessionOptions);
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
    savesOptimizedModel: false,
    async open(level, { traceDir } = {}) {
      let session: import('onnxruntime-web').InferenceSession;
      try {
        session = await createOrtSession(ortWeb, bytes, {
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
