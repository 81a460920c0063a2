// One measurement on one backend: the traced and untraced sessions at both optimization levels
// and a one-node model take turns in short blocks, so load from other processes hits all alike.

import nodeFs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SplitcError } from '../../ir/errors.js';
import { Model } from '../../ir/graph.js';
import { deserializeModel } from '../../ir/serde/read.js';
import { median } from '../latency-fit.js';
import type { ProfileProgress, ProfileOptions, ModelProfile } from './types.js';
import { groupTraceByRun, medianNodeTimes, medianEventCounts, selectRuns, type KernelMedians } from './trace.js';
import type { ResolvedOptions } from './options.js';
import { type OptLevel, type Runner, type RunnerSession, settle } from './runners.js';

export interface Measurement {
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
export async function measure(
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
