// Profiler and latency fit: trace grouping and medians on synthetic traces, NNLS and the fit on
// synthetic noiseless data, then onnxruntime on the (small) classifier fixture (what is timed,
// how the phases take turns), `runProfile` end to end, and option errors. No assertion depends
// on how fast this machine is.
import { codeOfAsync } from '../helpers/codes.js';
import { constantPredicate, isConstantNode } from '../../src/ir/constants.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runProfile } from '../../src/cli/profile.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { SplitcError } from '../../src/ir/errors.js';
import { xorshift32 } from '../../src/ir/random.js';
import { Graph, Model, Node, Value, tensorType } from '../../src/ir/graph.js';
import { loadModel, modelToBytes } from '../../src/ir/serde/io.js';
import { inferShapes } from '../../src/passes/shape/index.js';
import {
  fitLatencyModel,
  fitReport,
  leaveOneModelOut,
  median,
  nnls,
  nodeFeatures,
  quantile,
  segmentRelativeErrors,
  type LatencySample,
  type ProfiledModelData,
} from '../../src/search/latency-fit.js';
import type { NodeFeatures, OpClassCoefficients } from '../../src/search/profiles/types.js';
import {
  MIN_OPTIMIZED_COVERAGE,
  chargeOptimizedKernels,
  foldSubgraphKernels,
  groupTraceByRun,
  medianEventCounts,
  medianNodeTimes,
  profileModel,
  selectRuns,
  subgraphKernelOwners,
  type ProfileProgress,
  type TraceEvent,
} from '../../src/search/profiler.js';
import { parseDeviceProfile } from '../../src/search/profiles/parse.js';
import { modelSha256Of } from '../../src/search/profiles/predict.js';
import { fixtures, tmpDir } from '../helpers/fixtures.js';

const cls = fixtures().find((f) => f.file.startsWith('ch_ppocr_mobile_v2.0_cls'))!;
const clsSha = '491843a3c65de46295864c6815e41127eaa812c4dac1e19c6850ec49da9d3640';
const FAST = { warmup: 1, repeats: 3 } as const;
/** profileModel without the minimum phase duration (runProfile has no such option: its calls take the default second). */
const FAST_PROFILE = { ...FAST, minPhaseMs: 0 } as const;

function computeNodeNames(file: string): string[] {
  // Constants and folds of constants only (PaddleOCR's Cast of a fill_constant) are not run.
  const m = loadModel(file);
  const isConst = constantPredicate();
  return [...m.graph.nodes].filter((n) => !isConstantNode(n, isConst)).map((n) => n.name);
}

// ---------------------------------------------------------------- trace → medians

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

// ---------------------------------------------------------------- optimized kernels → ONNX nodes

describe('chargeOptimizedKernels', () => {
  const t = (name: string): Value => new Value(name, tensorType(DataType.FLOAT, [1, 8, 4, 4]));
  // convA → bn → relu → convB → sig → idn (an Identity the optimizer removes)
  function original(): Model {
    const g = new Graph('orig');
    const x = g.addInput(t('x'));
    const [a, b, r, c, sv, y] = ['a', 'b', 'r', 'c', 's', 'y'].map(t) as [Value, Value, Value, Value, Value, Value];
    g.appendNode(new Node('', 'Conv', [x], [a], { name: 'convA' }));
    g.appendNode(new Node('', 'BatchNormalization', [a], [b], { name: 'bn' }));
    g.appendNode(new Node('', 'Relu', [b], [r], { name: 'relu' }));
    g.appendNode(new Node('', 'Conv', [r], [c], { name: 'convB' }));
    g.appendNode(new Node('', 'Sigmoid', [c], [sv], { name: 'sig' }));
    g.appendNode(new Node('', 'Identity', [sv], [y], { name: 'idn' }));
    g.outputs.push(y);
    return new Model(g, 8, 13);
  }
  // What onnxruntime makes of it: convA+bn+relu as an NCHWc conv named after `r`, between layout
  // reorders; convB+sig as a FusedConv under convB's name, writing the graph output directly.
  function optimized(): Model {
    const g = new Graph('opt');
    const x = g.addInput(t('x'));
    const [xc, rc, r, y] = ['reorder_token_0', 'reorder_token_1', 'r', 'y'].map(t) as [Value, Value, Value, Value];
    g.appendNode(new Node('com.microsoft.nchwc', 'ReorderInput', [x], [xc], { name: 'ReorderInput' }));
    g.appendNode(new Node('com.microsoft.nchwc', 'Conv', [xc], [rc], { name: 'r_nchwc' }));
    g.appendNode(new Node('com.microsoft.nchwc', 'ReorderOutput', [rc], [r], { name: 'ReorderOutput_token_2' }));
    g.appendNode(new Node('com.microsoft', 'FusedConv', [r], [y], { name: 'convB' }));
    g.outputs.push(y);
    return new Model(g, 8, 13);
  }
  const unoptimizedMs = new Map([
    ['convA', 3],
    ['bn', 1],
    ['relu', 1],
    ['convB', 4],
    ['sig', 1],
    ['idn', 0],
  ]);

  it('charges fused kernels to the chains they replace, shared by unoptimized time, and reorders to their convolution', () => {
    const kernels = new Map([
      ['ReorderInput', 0.1],
      ['r_nchwc', 1.0],
      ['ReorderOutput_token_2', 0.1],
      ['convB', 2.0],
      ['not_in_graph', 0.2],
    ]);
    const c = chargeOptimizedKernels(original(), optimized(), kernels, unoptimizedMs);
    const want = { convA: 0.72, bn: 0.24, relu: 0.24, convB: 1.6, sig: 0.4, idn: 0 };
    expect([...c.nodesMs.keys()]).toEqual(Object.keys(want));
    for (const [name, ms] of Object.entries(want)) expect(c.nodesMs.get(name)).toBeCloseTo(ms, 12);
    expect(c.unmappedKernels).toEqual(['not_in_graph']);
    expect(c.coverage).toBeCloseTo(3.2 / 3.4, 12);
    expect(c.coverage).toBeLessThan(MIN_OPTIMIZED_COVERAGE); // a profile would fall back to one scale
    expect(c.orphanShare).toBe(0);
  });

  it('shares a kernel named after the last node of its chain with the nodes it fused upstream', () => {
    // x·sigmoid(1.702·x), fused into a QuickGelu named after the final Mul
    const g = new Graph('gelu');
    const x = g.addInput(t('x'));
    const [a, sg, y] = ['a', 'sg', 'y'].map(t) as [Value, Value, Value];
    g.appendNode(new Node('', 'Mul', [x, x], [a], { name: 'm1' }));
    g.appendNode(new Node('', 'Sigmoid', [a], [sg], { name: 'sig' }));
    g.appendNode(new Node('', 'Mul', [x, sg], [y], { name: 'm2' }));
    g.outputs.push(y);
    const o = new Graph('gelu-opt');
    const ox = o.addInput(t('x'));
    o.appendNode(new Node('com.microsoft', 'QuickGelu', [ox], [t('y')], { name: 'm2/QuickGeluFusion/' }));
    const c = chargeOptimizedKernels(new Model(g, 8, 13), new Model(o, 8, 13), new Map([['m2/QuickGeluFusion/', 1]]), new Map([['m1', 1], ['sig', 2], ['m2', 1]]));
    expect(Object.fromEntries(c.nodesMs)).toEqual({ m1: 0.25, sig: 0.5, m2: 0.25 });
    expect(c.orphanShare).toBe(0);
  });

  it('gives nodes no kernel reaches 0 and reports their share of the unoptimized time', () => {
    const c = chargeOptimizedKernels(original(), optimized(), new Map([['r_nchwc', 1.0]]), unoptimizedMs);
    expect(c.coverage).toBe(1);
    expect(c.nodesMs.get('convB')).toBe(0);
    expect(c.nodesMs.get('convA')).toBeCloseTo(0.6, 12);
    expect(c.orphanShare).toBeCloseTo(5 / 10, 12);
  });
});

/**
 * x[64,64] → ReduceSum → Greater 0 → If { then: MatMul + Add (inside a Loop of 2 trips of a
 * MatMul, nested); else: MatMul } → Loop (4 trips of a MatMul) → Relu: real work inside
 * subgraphs, on a data-dependent condition.
 */
function controlFlowModel(): Model {
  const F = DataType.FLOAT;
  const I64 = DataType.INT64;
  const B = DataType.BOOL;
  const b = new GraphBuilder();
  const x = b.input('x', F, [64, 64]);
  const sum = b.op('ReduceSum', [x], { keepdims: 0 }, { name: 'sum' });
  const cond = b.op('Greater', [sum, b.init('zero', F, [], [0])], {}, { name: 'positive' });
  const loopBody = (prefix: string, w: Value): Graph => {
    const body = new GraphBuilder(`${prefix}_body`);
    body.graph.addInput(new Value(`${prefix}_i`, tensorType(I64, [])));
    const condIn = body.graph.addInput(new Value(`${prefix}_cond_in`, tensorType(B, [])));
    const vIn = body.graph.addInput(new Value(`${prefix}_v_in`, tensorType(F, [64, 64])));
    body.output(body.op('Identity', [condIn], {}, { outputNames: [`${prefix}_cond_out`], name: `${prefix}_cond` }));
    body.output(body.op('MatMul', [vIn, w], {}, { outputNames: [`${prefix}_v_out`], name: `${prefix}_mm` }));
    return body.graph;
  };
  const tb = new GraphBuilder('then');
  const tmm = tb.op('MatMul', [x, b.weight('wt', [64, 64], 2)], {}, { name: 'then_mm' });
  const tadd = tb.op('Add', [tmm, b.weight('bt', [64], 3)], {}, { name: 'then_add' });
  tb.output(tb.op('Loop', [b.init('two', I64, [], [2]), b.init('t_go', B, [], [1]), tadd], { body: loopBody('deep', b.weight('wd', [64, 64], 4, 0.05)) }, { outputNames: ['t_out'], name: 'then_loop' }));
  const eb = new GraphBuilder('else');
  eb.output(eb.op('MatMul', [x, b.weight('we', [64, 64], 5)], {}, { outputNames: ['e_out'], name: 'else_mm' }));
  const y = b.op('If', [cond], { then_branch: tb.graph, else_branch: eb.graph }, { name: 'branch' });
  const l = b.op('Loop', [b.init('four', I64, [], [4]), b.init('go', B, [], [1]), y], { body: loopBody('body', b.weight('wl', [64, 64], 6, 0.05)) }, { name: 'loop' });
  b.output(b.op('Relu', [l], {}, { name: 'relu' }));
  return b.model({ opset: 13 });
}

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

// ---------------------------------------------------------------- NNLS and the fit

function syntheticNodes(count: number, opType: string, seed: number, prefix = opType): NodeFeatures[] {
  const r = xorshift32(seed);
  return Array.from({ length: count }, (_, i) => ({
    name: `${prefix}.${i}`,
    opType,
    macs: opType === 'Conv' || opType === 'MatMul' ? Math.round(1e5 + r() * 5e7) : 0,
    bytes: Math.round(1e3 + r() * 4e6),
  }));
}

const exact = (c: OpClassCoefficients, f: NodeFeatures): number => c.msPerGMac * (f.macs / 1e9) + c.msPerMB * (f.bytes / 1e6) + c.msFixed;

describe('nnls', () => {
  it('recovers the coefficients of noiseless data', () => {
    const r = xorshift32(7);
    const rows = Array.from({ length: 40 }, () => [r() * 0.05, r() * 4, 1]);
    const y = rows.map(([a, b, c]) => 3 * a! + 0.25 * b! + 0.01 * c!);
    const x = nnls(rows, y);
    expect(x[0]).toBeCloseTo(3, 9);
    expect(x[1]).toBeCloseTo(0.25, 9);
    expect(x[2]).toBeCloseTo(0.01, 9);
  });

  it('clamps a coefficient that least squares makes negative to 0 and is optimal (KKT)', () => {
    const r = xorshift32(11);
    const rows = Array.from({ length: 60 }, () => [r() * 0.05, r() * 4, 1]);
    const y = rows.map(([a, b]) => 2 * a! - 0.3 * b! + 1.5 + 0.01 * Math.sin(a! * 400));
    const x = nnls(rows, y);
    expect(x[1]).toBe(0);
    expect(x.every((v) => v >= 0)).toBe(true);
    // KKT for min ½‖Ax − y‖², x ≥ 0: gradient g = Aᵀ(Ax − y) is 0 where x > 0 and ≥ 0 where x = 0.
    const resid = rows.map((row, i) => row.reduce((a, v, j) => a + v * x[j]!, 0) - y[i]!);
    const g = [0, 1, 2].map((j) => rows.reduce((a, row, i) => a + row[j]! * resid[i]!, 0));
    const scale = y.reduce((a, v) => a + Math.abs(v), 0);
    for (let j = 0; j < 3; j++) {
      if (x[j]! > 0) expect(Math.abs(g[j]!)).toBeLessThan(1e-9 * scale);
      else expect(g[j]!).toBeGreaterThan(-1e-9 * scale);
    }
  });

  it('gives 0 for an all-zero column (elementwise ops have no MACs)', () => {
    const rows = [
      [0, 1, 1],
      [0, 2, 1],
      [0, 5, 1],
    ];
    expect(nnls(rows, [0.6, 1.1, 2.6])).toEqual([0, expect.closeTo(0.5, 9), expect.closeTo(0.1, 9)]);
  });
});

describe('fitLatencyModel', () => {
  const conv: OpClassCoefficients = { msPerGMac: 4, msPerMB: 0.2, msFixed: 0 };
  const add: OpClassCoefficients = { msPerGMac: 0, msPerMB: 0.05, msFixed: 0 };
  const samplesFor = (nodes: NodeFeatures[], c: OpClassCoefficients): LatencySample[] => nodes.map((f) => ({ features: f, ms: exact(c, f) }));

  it('recovers per-class coefficients exactly from noiseless samples', () => {
    const samples = [...samplesFor(syntheticNodes(30, 'Conv', 1), conv), ...samplesFor(syntheticNodes(30, 'Add', 2), add)];
    const lm = fitLatencyModel(samples);
    expect(lm.slowdown).toBe(1);
    for (const [k, want] of [
      ['conv', conv],
      ['elementwise', add],
    ] as const) {
      const got = lm.opClasses[k]!;
      expect(got.msPerGMac).toBeCloseTo(want.msPerGMac, 9);
      expect(got.msPerMB).toBeCloseTo(want.msPerMB, 9);
      expect(got.msFixed).toBe(0);
    }
  });

  it('fits no fixed cost per node: a model of tiny nodes is not charged the large nodes\' intercept', () => {
    // Large nodes whose latency has an intercept: least squares with one would give 0.01 ms per node.
    const big = syntheticNodes(40, 'Conv', 8).map((f) => ({ ...f, bytes: f.bytes + 2e6 }));
    const lm = fitLatencyModel(big.map((f) => ({ features: f, ms: exact(conv, f) + 0.01 })));
    for (const c of [...Object.values(lm.opClasses), lm.default]) expect(c.msFixed).toBe(0);
    const tiny: NodeFeatures = { name: 't', opType: 'Conv', macs: 1000, bytes: 1000 };
    expect(exact(lm.opClasses.conv!, tiny)).toBeLessThan(0.001); // with the intercept: > 0.01
    expect(exact(lm.opClasses.conv!, tiny)).toBeGreaterThan(0);
  });

  it('clamps a negative coefficient to 0 in a class fit', () => {
    // latency falling with bytes at a given MAC count: least squares would say msPerMB < 0
    const r = xorshift32(3);
    const nodes: NodeFeatures[] = Array.from({ length: 30 }, (_, i) => ({ name: `c.${i}`, opType: 'Conv', macs: Math.round(2e7 + r() * 3e7), bytes: Math.round(r() * 4e6) }));
    const samples = nodes.map((f) => ({ features: f, ms: 4 * (f.macs / 1e9) - 0.02 * (f.bytes / 1e6) }));
    const c = fitLatencyModel(samples).opClasses.conv!;
    expect(c.msPerMB).toBe(0);
    expect(c.msPerGMac).toBeGreaterThan(0);
    expect(c.msFixed).toBe(0);
  });

  it('leaves classes with too few samples to the default, fitted over everything', () => {
    const samples = [...samplesFor(syntheticNodes(30, 'Conv', 4), conv), ...samplesFor(syntheticNodes(3, 'Resize', 5), add)];
    const lm = fitLatencyModel(samples, { minSamplesPerClass: 8 });
    expect(Object.keys(lm.opClasses)).toEqual(['conv']);
    expect(lm.default.msPerMB).toBeGreaterThanOrEqual(0);
    expect(() => fitLatencyModel([])).toThrow(SplitcError);
  });

  it('weights samples (weighted least squares)', () => {
    const f: NodeFeatures = { name: 'n', opType: 'Conv', macs: 0, bytes: 1e6 };
    const samples = [
      ...Array.from({ length: 5 }, () => ({ features: f, ms: 1, weight: 1 })),
      ...Array.from({ length: 5 }, () => ({ features: f, ms: 3, weight: 100 })),
    ];
    expect(fitLatencyModel(samples).opClasses.conv!.msPerMB).toBeCloseTo(301 / 101, 9);
    expect(() => fitLatencyModel(samples, { minSamplesPerClass: 1 })).toThrow(SplitcError);
  });

  it('takes runOverheadMs from whole runs minus node sums (median, never negative)', () => {
    const samples = samplesFor(syntheticNodes(10, 'Conv', 6), conv);
    const runs = [
      { totalMs: 10, nodeSumMs: 9.9 },
      { totalMs: 5, nodeSumMs: 4.7 },
      { totalMs: 2, nodeSumMs: 2.5 },
    ];
    expect(fitLatencyModel(samples, { runs }).runOverheadMs).toBeCloseTo(0.1, 12);
    expect(fitLatencyModel(samples).runOverheadMs).toBe(0);
  });
});

describe('fit report', () => {
  const conv: OpClassCoefficients = { msPerGMac: 4, msPerMB: 0.2, msFixed: 0 };
  const add: OpClassCoefficients = { msPerGMac: 0, msPerMB: 0.05, msFixed: 0 };
  const model = (name: string, seed: number, noise = 0): ProfiledModelData => {
    const r = xorshift32(seed + 100);
    const features = [...syntheticNodes(20, 'Conv', seed, `${name}.conv`), ...syntheticNodes(20, 'Add', seed + 1, `${name}.add`)];
    const nodesMs = Object.fromEntries(features.map((f) => [f.name, exact(f.opType === 'Conv' ? conv : add, f) * (1 + noise * (r() - 0.5))]));
    return { name, features, nodesMs };
  };

  it('has no error on noiseless data, in sample and held out', () => {
    const models = [model('a', 1), model('b', 2), model('c', 3)];
    const lm = fitLatencyModel(models.flatMap((m) => m.features.map((f) => ({ features: f, ms: m.nodesMs[f.name]! }))));
    const report = fitReport(lm, models);
    expect(report.perModel.map((m) => m.model)).toEqual(['a', 'b', 'c']);
    expect(report.overall.segments).toBe(3 * 19); // the whole model, 9 prefixes, 9 suffixes
    expect(report.overall.p90RelErr).toBeLessThan(1e-9);
    const lomo = leaveOneModelOut(models);
    expect(lomo.overall.p90RelErr).toBeLessThan(1e-9);
  });

  it('measures segment errors of a mis-fitted model, and needs two models to hold one out', () => {
    const m = model('a', 1, 0.4);
    const lm = fitLatencyModel(m.features.map((f) => ({ features: f, ms: m.nodesMs[f.name]! })));
    const doubled = { ...lm, slowdown: 2 };
    const errs = segmentRelativeErrors(doubled, m);
    expect(errs).toHaveLength(19);
    expect(median(errs)).toBeGreaterThan(0.5); // twice the fit is ~100 % off
    expect(() => leaveOneModelOut([m])).toThrow(SplitcError);
  });
});

// ---------------------------------------------------------------- onnxruntime on the classifier

describe('nodeFeatures', () => {
  it('lists every compute node (no Constant, no fold of constants) with MACs and bytes', () => {
    const feats = nodeFeatures(loadModel(cls.path), { inputShapes: cls.inputShapes });
    expect(feats.map((f) => f.name)).toEqual(computeNodeNames(cls.path));
    expect(feats.some((f) => f.opType === 'Constant')).toBe(false);
    for (const f of feats) {
      expect(f.bytes).toBeGreaterThan(0);
      if (f.opType === 'Conv') expect(f.macs).toBeGreaterThan(0);
      if (f.opType === 'Add') expect(f.macs).toBe(0);
    }
    // the first Conv reads x [1,3,48,192] float and its 8×3×3×3 weights, writes [1,8,24,96]
    const first = feats.find((f) => f.opType === 'Conv')!;
    expect(first.macs).toBe(8 * 24 * 96 * 3 * 3 * 3);
    expect(first.bytes).toBe(4 * (3 * 48 * 192 + 8 * 3 * 3 * 3 + 8 * 24 * 96));
  });
});

describe('profileModel (onnxruntime-node)', () => {
  it('measures every compute node under its ONNX name', async () => {
    const names = computeNodeNames(cls.path);
    const raw = await profileModel(cls.path, { ...FAST_PROFILE, inputShapes: cls.inputShapes, correctProfilerOverhead: false, nodeTimesFor: 'unoptimized' });
    expect(raw.modelSha256).toBe(clsSha);
    expect(raw.model).toBe(cls.file);
    expect(raw.runtime).toMatch(/^onnxruntime-node \d/);
    expect([...Object.keys(raw.nodesMs), ...raw.notReported].sort()).toEqual([...names].sort());
    expect(Object.keys(raw.nodesMs)).toEqual(names.filter((n) => !raw.notReported.includes(n))); // graph order
    for (const n of names) expect(raw.nodesMs[n]! > 0 || raw.notReported.includes(n)).toBe(true);
    expect(raw.profilerOverheadMsPerNode).toBe(0);
    expect(raw.optimizationScale).toBe(1);
    expect(raw.nodeTimesMethod).toBe('traced-unoptimized');
    expect(raw.optimizedTrace).toBeUndefined();
    expect(raw.nodeSumMs).toBeCloseTo(raw.rawNodeSumMs, 9);
    expect(raw.totalMs).toBe(raw.unoptimizedTotalMs);
    expect(raw.estimated).toBe(false);

    const p = await profileModel(cls.path, { ...FAST_PROFILE, inputShapes: cls.inputShapes });
    expect(Object.keys(p.nodesMs)).toEqual(Object.keys(raw.nodesMs));
    for (const ms of Object.values(p.nodesMs)) expect(Number.isFinite(ms) && ms >= 0).toBe(true);
    expect(p.profilerOverheadMsPerNode).toBeGreaterThanOrEqual(0);
    expect(p.nodeTimesFor).toBe('optimized');
    expect(p.totalMs).toBe(p.optimizedTotalMs);
    expect(p.inputShapes).toEqual({ x: [1, 3, 48, 192] });
    // node backend: per-node times from the traced optimized session, every kernel mapped
    expect(p.nodeTimesMethod).toBe('traced-optimized');
    expect(p.optimizedTrace).toMatchObject({ used: true, unmappedKernels: [] });
    expect(p.optimizedTrace!.coverage).toBe(1);
    expect(p.optimizedTrace!.orphanShare).toBeLessThan(0.05);
    expect(p.optimizationScale).toBe(1);
    expect(p.runs.optimizedProfile).toBe(p.runs.optimized);
    // fused away, yet charged: the first Conv runs inside the NCHWc kernel named after the tensor its chain ends in
    expect(p.nodesMs[names.find((n) => n.startsWith('p2o.Conv'))!]).toBeGreaterThan(0);

    // without the optimized trace: the unoptimized times, less the bookkeeping, times one scale
    const scaled = await profileModel(cls.path, { ...FAST_PROFILE, inputShapes: cls.inputShapes, traceOptimized: false });
    expect(scaled.nodeTimesMethod).toBe('scaled');
    expect(scaled.optimizedTrace).toBeUndefined();
    expect(scaled.runs.optimizedProfile).toBeUndefined();
    expect(scaled.optimizationScale).toBeCloseTo((scaled.optimizedTotalMs - scaled.runOverheadMs) / (scaled.unoptimizedTotalMs - scaled.runOverheadMs), 12);
    expect(scaled.nodeSumMs).toBeLessThanOrEqual(scaled.rawNodeSumMs * scaled.optimizationScale + 1e-9);
  });

  it('times the model as deployed (shapes inferred at the given shapes) but keys it by the file', async () => {
    // What `splitc split` writes: the input declared [1,3,48,192], no value_info for the intermediates.
    const deployed = loadModel(cls.path);
    inferShapes(deployed, { inputShapes: cls.inputShapes });
    const deployedSha = modelSha256Of(modelToBytes(deployed, { intermediateTypes: false }));
    expect(deployedSha).not.toBe(clsSha);
    const model = loadModel(cls.path);
    const p = await profileModel({ model, bytes: new Uint8Array(fs.readFileSync(cls.path)), path: cls.path }, { ...FAST_PROFILE, inputShapes: cls.inputShapes });
    expect(p.modelSha256).toBe(clsSha);
    expect(p.timedModelSha256).toBe(deployedSha);
    // the caller's model is left as it was: its input keeps its symbolic dims
    expect(model.graph.inputs[0]!.shape!.some((d) => typeof d === 'string')).toBe(true);
  });

  it('takes turns between the phases in blocks, each at least the repeats, and reports each phase\'s end once', async () => {
    const seen: ProfileProgress[] = [];
    const p = await profileModel(cls.path, { warmup: 1, repeats: 7, minPhaseMs: 0, inputShapes: cls.inputShapes, onProgress: (q) => seen.push(q) });
    // blocks of 5 timed runs, all phases in every round: 7 repeats → 2 rounds
    expect(p.runs).toEqual({ profile: 10, total: 10, optimized: 10, overhead: 10, optimizedProfile: 10 });
    expect(p.minPhaseMs).toBe(0);
    for (const phase of ['profile', 'total', 'optimized', 'overhead'] as const) {
      const mine = seen.filter((q) => q.phase === phase);
      expect(mine.filter((q) => q.done === q.total)).toEqual([{ phase, done: 10, total: 10 }]);
      expect(mine.every((q) => q.done <= q.total)).toBe(true);
    }
    // interleaved: the first round reports every phase before any phase ends
    expect(seen.slice(0, 4).map((q) => q.phase)).toEqual(['profile', 'total', 'optimized', 'overhead']);
    expect(seen.slice(0, 4).every((q) => q.done === 5 && q.total > 5)).toBe(true);
    expect(seen.slice(-4).every((q) => q.done === q.total)).toBe(true);
  });

  it('charges the kernels inside If and Loop subgraphs to the node owning them, none to nothing', async () => {
    const bytes = modelToBytes(controlFlowModel());
    const top = ['sum', 'positive', 'branch', 'loop', 'relu'];
    const p = await profileModel(bytes, FAST_PROFILE);
    expect(Object.keys(p.nodesMs)).toEqual(top);
    expect(p.notReported).toEqual([]);
    expect(p.nodesMs.branch).toBeGreaterThan(0);
    expect(p.nodesMs.loop).toBeGreaterThan(0);
    // every optimized kernel (then_mm/MatMulAddFusion inside the If too) is charged to some node
    expect(p.nodeTimesMethod).toBe('traced-optimized');
    expect(p.optimizedTrace).toMatchObject({ used: true, coverage: 1, unmappedKernels: [] });
    const raw = await profileModel(bytes, { ...FAST_PROFILE, nodeTimesFor: 'unoptimized' });
    expect(Object.keys(raw.nodesMs)).toEqual(top);
    expect(raw.nodesMs.loop).toBeGreaterThan(0);
  });

  it('subtracts the bookkeeping of every kernel event a Loop spans: it is not charged more than the run', async () => {
    // 100 trips of two tiny kernels: the profiler's bookkeeping of the 200 nested events is most
    // of the Loop's traced time (here 1.2 ms in a 0.15 ms run). Charged to the Loop alone, or
    // spread over the three top-level nodes, it would make the Loop several times the run.
    const F = DataType.FLOAT;
    const I64 = DataType.INT64;
    const B = DataType.BOOL;
    const b = new GraphBuilder();
    const x = b.input('x', F, [8, 8]);
    const body = new GraphBuilder('body');
    body.graph.addInput(new Value('i', tensorType(I64, [])));
    const condIn = body.graph.addInput(new Value('cond_in', tensorType(B, [])));
    const vIn = body.graph.addInput(new Value('v_in', tensorType(F, [8, 8])));
    body.output(body.op('Identity', [condIn], {}, { outputNames: ['cond_out'], name: 'body_cond' }));
    body.output(body.op('MatMul', [vIn, b.weight('w', [8, 8], 5, 0.05)], {}, { outputNames: ['v_out'], name: 'body_mm' }));
    const loop = b.op('Loop', [b.init('trips', I64, [], [100]), b.init('go', B, [], [1]), b.op('Relu', [x], {}, { name: 'first' })], { body: body.graph }, { name: 'loop' });
    b.output(b.op('Relu', [loop], {}, { name: 'last' }));
    const p = await profileModel(modelToBytes(b.model({ opset: 13 })), FAST_PROFILE);
    expect(Object.keys(p.nodesMs)).toEqual(['first', 'loop', 'last']);
    expect(p.optimizedTrace).toMatchObject({ used: true, unmappedKernels: [] });
    // corrected, the nodes add up to the run less its fixed cost, plus what clamping at 0 left
    // on tiny nodes (at most the per-event bookkeeping each): margin for that, not for noise
    expect(p.nodesMs.loop).toBeLessThanOrEqual(1.5 * p.totalMs);
    expect(p.nodeSumMs).toBeLessThanOrEqual(1.5 * p.totalMs);
  });

  it('reports nodes without a usable name as not reported (and still runs them)', async () => {
    const g = new Graph('unnamed');
    const x = g.addInput(new Value('x', tensorType(DataType.FLOAT, [1, 64])));
    const a = new Value('a', tensorType(DataType.FLOAT, [1, 64]));
    const b = new Value('b', tensorType(DataType.FLOAT, [1, 64]));
    const y = new Value('y', tensorType(DataType.FLOAT, [1, 64]));
    g.appendNode(new Node('', 'Relu', [x], [a], { name: '' }));
    g.appendNode(new Node('', 'Sigmoid', [a], [b], { name: 'twice' }));
    g.appendNode(new Node('', 'Relu', [b], [y], { name: 'twice' }));
    g.outputs.push(y);
    const p = await profileModel(modelToBytes(new Model(g, 8, 13)), { ...FAST_PROFILE });
    expect(Object.keys(p.nodesMs)).toEqual([]);
    expect(p.notReported).toEqual(['', 'twice', 'twice']);
    expect(p.model).toBeUndefined();
  });
});

describe('profileModel (onnxruntime-web, wasm)', () => {
  it('traces per-node times in wasm too', async () => {
    const p = await profileModel(cls.path, { backend: 'wasm', warmup: 1, repeats: 2, minPhaseMs: 0, inputShapes: cls.inputShapes });
    expect(p.estimated).toBe(false);
    expect(p.nodeTimesMethod).toBe('scaled'); // onnxruntime-web cannot save the optimized graph
    expect(p.optimizedTrace).toBeUndefined();
    expect(p.modelSha256).toBe(clsSha);
    const node = await profileModel(cls.path, { ...FAST_PROFILE, inputShapes: cls.inputShapes });
    expect(p.timedModelSha256).toBe(node.timedModelSha256); // both backends time the same deployed bytes
    expect(p.runtime).toMatch(/^onnxruntime-web \d.*wasm/);
    expect([...Object.keys(p.nodesMs), ...p.notReported].sort()).toEqual(computeNodeNames(cls.path).sort());
    expect(p.notReported).toEqual([]);
  });
});

// ---------------------------------------------------------------- runProfile

describe('runProfile', () => {
  it('writes a valid device profile and prints a JSON summary', async () => {
    const dir = tmpDir();
    const output = path.join(dir, 'device.json');
    let printed = '';
    const logged: string[] = [];
    const { profile } = await runProfile({
      models: [cls.path],
      ...FAST,
      inputShapes: cls.inputShapes,
      output,
      json: true,
      date: new Date('2026-01-02T03:04:05Z'),
      log: (l) => logged.push(l),
      write: (t) => (printed += t),
    });
    const text = fs.readFileSync(output, 'utf8');
    const doc = JSON.parse(text) as unknown;
    expect(doc).toEqual(profile);
    const parsed = parseDeviceProfile(doc, output);
    expect(parsed.kind).toBe('device');
    expect(parsed.schemaVersion).toBe(1);
    expect(parsed.name).toBe('this-machine-node-1t');
    expect(parsed.description).toContain('2026-01-02T03:04:05.000Z');
    expect(parsed.latency.slowdown).toBe(1);
    expect(parsed.latency.measured).toHaveLength(1);
    const m = parsed.latency.measured![0]!;
    expect(m.modelSha256).toBe(clsSha);
    expect(m.model).toBe(cls.file);
    expect(m.inputShapes).toEqual({ x: [1, 3, 48, 192] });
    expect(Object.keys(m.nodesMs).sort()).toEqual(computeNodeNames(cls.path).sort());
    expect(m.totalMs).toBeGreaterThan(0);
    expect(fs.readdirSync(dir)).toEqual(['device.json']); // no temp file left behind

    expect(logged).toEqual([]); // no progress lines in JSON mode
    const summary = JSON.parse(printed);
    expect(summary.models[0].modelSha256).toBe(clsSha);
    expect(summary.fit.inSample.overall.segments).toBe(19);
    expect(summary.fit.leaveOneModelOut).toBeUndefined();
    expect(summary.opClasses[0].share).toBeGreaterThan(0);
  });

  it('prints a summary for people, with progress through log', async () => {
    const dir = tmpDir();
    const output = path.join(dir, 'p.json');
    let printed = '';
    const logged: string[] = [];
    await runProfile({ models: [cls.path], ...FAST, inputShapes: cls.inputShapes, output, name: 'bench-box', log: (l) => logged.push(l), write: (t) => (printed += t) });
    expect(JSON.parse(fs.readFileSync(output, 'utf8')).name).toBe('bench-box');
    expect(logged[0]).toMatch(/^profiling ch_ppocr_mobile_v2\.0_cls_infer\.onnx \(1\/1\)/);
    expect(logged.some((l) => /traced runs/.test(l))).toBe(true);
    expect(printed).toContain("device profile 'bench-box'");
    expect(printed).toContain('op class');
  });
});

describe('bad options', () => {
  it('are SplitcErrors with stable codes, raised before measuring', async () => {
    const out = path.join(tmpDir(), 'x.json');
    const base = { models: [cls.path], inputShapes: cls.inputShapes, output: out, write: () => {} };
    expect(await codeOfAsync(() => runProfile({ ...base, backend: 'gpu' as never }))).toBe('E_BAD_ARGUMENT');
    expect(await codeOfAsync(() => runProfile({ ...base, repeats: 0 }))).toBe('E_BAD_ARGUMENT');
    expect(await codeOfAsync(() => runProfile({ ...base, warmup: -1 }))).toBe('E_BAD_ARGUMENT');
    expect(await codeOfAsync(() => runProfile({ ...base, threads: 1.5 }))).toBe('E_BAD_ARGUMENT');
    expect(await codeOfAsync(() => runProfile({ ...base, backend: 'wasm', threads: 2 }))).toBe('E_BAD_ARGUMENT');
    expect(await codeOfAsync(() => runProfile({ ...base, models: [] }))).toBe('E_BAD_ARGUMENT');
    expect(await codeOfAsync(() => runProfile({ ...base, models: ['/nonexistent/model.onnx'] }))).toBe('E_IO');
    expect(await codeOfAsync(() => runProfile({ ...base, inputShapes: { y: [1, 3, 48, 192] } }))).toBe('E_BAD_ARGUMENT');
    expect(await codeOfAsync(() => runProfile({ ...base, inputShapes: { x: [1, 3, 0, 192] } }))).toBe('E_BAD_ARGUMENT');
    expect(await codeOfAsync(() => runProfile({ ...base, output: path.join(tmpDir(), 'missing-dir', 'x.json') }))).toBe('E_IO');
    expect(fs.existsSync(out)).toBe(false);

    expect(await codeOfAsync(() => profileModel(cls.path, { backend: 'tpu' as never }))).toBe('E_BAD_ARGUMENT');
    expect(await codeOfAsync(() => profileModel(cls.path, { repeats: 0 }))).toBe('E_BAD_ARGUMENT');
    expect(await codeOfAsync(() => profileModel(cls.path, { ...FAST, minPhaseMs: -1 }))).toBe('E_BAD_ARGUMENT');
    expect(await codeOfAsync(() => profileModel(cls.path, { ...FAST, minPhaseMs: Number.NaN }))).toBe('E_BAD_ARGUMENT');
    expect(await codeOfAsync(() => profileModel('/nonexistent/model.onnx'))).toBe('E_IO');
    // the classifier's height and width are symbolic: they must be given
    expect(await codeOfAsync(() => profileModel(cls.path, { ...FAST_PROFILE }))).toBe('E_BAD_ARGUMENT');
    // a shape of another rank than the model's is refused before onnxruntime sees it
    expect(await codeOfAsync(() => profileModel(cls.path, { ...FAST_PROFILE, inputShapes: { x: [1, 3, 48] } }))).toBe('E_BAD_ARGUMENT');
  });
});
