// profileModel with onnxruntime-node and -web on the (small) classifier fixture: what is timed,
// how the phases take turns, subgraph kernels, unnamed nodes. No assertion depends on how
// fast this machine is.
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import { Graph, Model, Node, Value, tensorType } from '../../../src/ir/graph.js';
import { loadModel, modelToBytes } from '../../../src/ir/serde/io.js';
import { inferShapes } from '../../../src/passes/shape/index.js';
import { profileModel } from '../../../src/search/profiler/profile.js';
import type { ProfileProgress } from '../../../src/search/profiler/types.js';
import { modelSha256Of } from '../../../src/search/profiles/predict.js';
import { cls, clsSha, FAST_PROFILE, computeNodeNames, controlFlowModel } from './fixtures.js';

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
