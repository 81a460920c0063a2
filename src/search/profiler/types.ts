// What the profiler takes and returns: backends, options, progress reports and the profile of
// one model (the per-node table `splitc profile` writes into a device profile).


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
