// onnxruntime's Chrome-trace profiles: kernel events grouped by run and node, medians over the
// kept runs, and the kernels of subgraphs (If, Loop, Scan) folded into their owner.

import { SplitcError } from '../../ir/errors.js';
import { allNodes, Model } from '../../ir/graph.js';
import { median } from '../latency-fit.js';

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

export function parseTrace(text: string): TraceEvent[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new SplitcError('E_PROFILER', 'the onnxruntime profile trace is not valid JSON', { cause: e });
  }
  if (!Array.isArray(parsed)) throw new SplitcError('E_PROFILER', 'the onnxruntime profile trace is not a JSON array of events');
  return parsed as TraceEvent[];
}
