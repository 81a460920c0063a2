// Checking the profiler's options (E_BAD_ARGUMENT) and filling in their defaults.

import { notAnInteger, SplitcError, unknownName } from '../../ir/errors.js';
import { PROFILER_BACKENDS, type ProfilerBackend, type ProfileOptions } from './types.js';

export interface ResolvedOptions {
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
    throw unknownName('profiler backend', String(backend), PROFILER_BACKENDS);
  }
  const threads = opts.threads ?? 1;
  if (!isInt(threads, 1) || threads > 1024) throw notAnInteger('threads', 1, threads);
  if (backend === 'wasm' && threads !== 1) {
    // env.wasm.numThreads is process-wide and fixed at the first session; threaded wasm also
    // runs kernels in workers whose trace output we cannot capture.
    throw new SplitcError('E_BAD_ARGUMENT', `the wasm backend is profiled single-threaded (got threads ${threads})`, { hint: 'use --threads 1 with --backend wasm' });
  }
  const warmup = opts.warmup ?? 3;
  if (!isInt(warmup, 0)) throw notAnInteger('warmup', 0, warmup);
  const repeats = opts.repeats ?? 20;
  if (!isInt(repeats, 1)) throw notAnInteger('repeats', 1, repeats, 'medians need at least one timed run; 10–50 is typical');
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
