// Trace grouping and medians on synthetic traces, and the kernels of subgraphs folded into the
// node owning them.
import { describe, expect, it } from 'vitest';
import { median, quantile } from '../../../src/search/latency-fit.js';
import { foldSubgraphKernels, groupTraceByRun, medianEventCounts, medianNodeTimes, selectRuns, subgraphKernelOwners, type TraceEvent } from '../../../src/search/profiler/trace.js';
import { controlFlowModel } from './fixtures.js';

describe('groupTraceByRun / medianNodeTimes', () => {
  const run = (ts: number, dur: number): TraceEvent => ({ cat: 'Session', name: 'model_run', ts, dur });
  const kernel = (node: string, ts: number, dur: number, op = 'Conv'): TraceEvent => ({ cat: 'Node', name: `${node}_kernel_time`, ts, dur, args: { op_name: op } });
  // Runs at 0, 1000, 2000, 3000 µs (each 500 µs long); the first is warm-up.
  const trace: TraceEvent[] = [
    { cat: 'Session', name: 'session_initialization', ts: -500, dur: 400 },
    run(0, 500),
    kernel('conv', 10, 900), // warm-up: must not count
    kernel('add', 100, 900, 'Add'),
    run(1000, 500),
    kernel('conv', 1010, 10),
    kernel('add', 1100, 5, 'Add'),
    kernel('add', 1200, 7, 'Add'), // the same node twice in one run (a loop body): summed
    { cat: 'Node', name: 'conv_fence_before', ts: 1005, dur: 50 }, // not a kernel event
    run(2000, 500),
    kernel('conv', 2010, 30),
    // 'add' missing from this run: counts 0
    run(3000, 500),
    kernel('conv', 3010, 20),
    kernel('add', 3100, 4, 'Add'),
    kernel('stray', 5000, 99), // outside every run
  ];

  it('groups kernel events by the run containing them and drops warm-up runs', () => {
    const r = groupTraceByRun(trace, 1);
    expect(r.runsMs).toEqual([0.5, 0.5, 0.5]);
    expect(r.nodeRunsMs.get('conv')).toEqual([0.01, 0.03, 0.02]);
    expect(r.nodeRunsMs.get('add')).toEqual([0.012, 0, 0.004]);
    expect(r.nodeRunsMs.has('stray')).toBe(false);
    expect(r.nodeRunsMs.has('conv_fence_before')).toBe(false);
    expect(r.opTypes.get('add')).toBe('Add');
  });

  it('takes per-node medians over runs', () => {
    const m = medianNodeTimes(groupTraceByRun(trace, 1));
    expect(m.get('conv')).toBeCloseTo(0.02, 12);
    expect(m.get('add')).toBeCloseTo(0.004, 12);
    // without skipping, the warm-up run is one more sample
    const all = medianNodeTimes(groupTraceByRun(trace, 0));
    expect(all.get('conv')).toBeCloseTo(0.025, 12); // median of 0.9, 0.01, 0.03, 0.02
  });

  it('selects runs by flags (the runs between blocks are not timed)', () => {
    const r = selectRuns(groupTraceByRun(trace), [false, true, false, true]);
    expect(r.runsMs).toEqual([0.5, 0.5]);
    expect(r.nodeRunsMs.get('conv')).toEqual([0.01, 0.02]);
    expect(r.nodeRunsMs.get('add')).toEqual([0.012, 0.004]);
    expect(r.opTypes.get('add')).toBe('Add');
    expect(() => selectRuns(groupTraceByRun(trace), [true])).toThrow();
  });

  it('counts each node\'s kernel events per run (a Loop body\'s nodes run once per trip), and their medians', () => {
    const r = groupTraceByRun(trace, 1);
    expect(r.nodeRunsEvents.get('conv')).toEqual([1, 1, 1]);
    expect(r.nodeRunsEvents.get('add')).toEqual([2, 0, 1]);
    expect(selectRuns(r, [true, false, true]).nodeRunsEvents.get('add')).toEqual([2, 1]);
    expect(Object.fromEntries(medianEventCounts(r))).toEqual({ conv: 1, add: 1 });
  });

  it('median and quantile interpolate between order statistics', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(quantile([0, 10], 0.9)).toBeCloseTo(9, 12);
    expect(quantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 0.9)).toBe(10);
    expect(median([])).toBeNaN();
  });
});

describe('kernels inside subgraphs', () => {
  it('belong to the top-level node owning the subgraph, at any depth', () => {
    const m = controlFlowModel();
    expect(Object.fromEntries(subgraphKernelOwners(m))).toEqual({
      then_mm: 'branch',
      then_add: 'branch',
      then_loop: 'branch',
      deep_cond: 'branch',
      deep_mm: 'branch',
      else_mm: 'branch',
      body_cond: 'loop',
      body_mm: 'loop',
    });
    // a subgraph node named like a top-level node: the trace cannot tell them apart, it stays top-level
    const [loop] = [...m.graph.nodes].filter((n) => n.name === 'loop');
    [...loop!.subgraphs()[0]!.nodes][1]!.name = 'relu';
    expect(subgraphKernelOwners(m).has('relu')).toBe(false);
  });

  it('are folded into their owner: its time already contains theirs, and its events count theirs', () => {
    // onnxruntime times the subgraph inside the owner's kernel event: branch [0, 50 µs] holds then_mm [5, 35 µs]
    const kernels = {
      ms: new Map([['sum', 0.004], ['branch', 0.05], ['then_mm', 0.03], ['loop', 0.1], ['body_mm', 0.06], ['body_cond', 0.01], ['relu', 0.002]]),
      events: new Map([['sum', 1], ['branch', 1], ['then_mm', 1], ['loop', 1], ['body_mm', 4], ['body_cond', 4], ['relu', 1]]),
    };
    const f = foldSubgraphKernels(kernels, subgraphKernelOwners(controlFlowModel()));
    expect(Object.fromEntries(f.ms)).toEqual({ sum: 0.004, branch: 0.05, loop: 0.1, relu: 0.002 });
    expect(Object.fromEntries(f.events)).toEqual({ sum: 1, branch: 2, loop: 9, relu: 1 });
  });
});
