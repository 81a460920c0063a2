import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { SplitcError } from '../../src/ir/errors.js';
import type { Model } from '../../src/ir/graph.js';
import { loadModel, modelToBytes } from '../../src/ir/serde/io.js';
import { deserializeModel } from '../../src/ir/serde/read.js';
import { assertValid } from '../../src/ir/verify.js';
import { cutAfterNode, splitModel } from '../../src/passes/cut.js';
import { inferShapes } from '../../src/passes/shape/index.js';
import { fixtures } from '../helpers/fixtures.js';
import { seededFloatInputs } from '../helpers/onnx-oracle.js';
import { codeOf } from '../helpers/codes.js';

type Feeds = Record<string, ort.Tensor>;
async function run(m: Model, feeds: Feeds, optimized = false): Promise<Record<string, ort.Tensor>> {
  const s = await ort.InferenceSession.create(modelToBytes(m), {
    graphOptimizationLevel: optimized ? 'all' : 'disabled',
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
  });
  const names = new Set(s.inputNames);
  const out = await s.run(Object.fromEntries(Object.entries(feeds).filter(([k]) => names.has(k))));
  await s.release();
  return out;
}

/** Run edge then cloud, feeding the edge's wire outputs to the cloud by name. */
async function runSplit(edge: Model, cloud: Model, feeds: Feeds, optimized = false) {
  const e = await run(edge, feeds, optimized);
  const c = await run(cloud, e, optimized);
  return { ...e, ...c };
}

function bytesOf(t: ort.Tensor): Buffer {
  const d = t.data as unknown as ArrayBufferView;
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
}

/** Compute nodes (no Constant) in graph order. */
function computeNodes(m: Model) {
  return [...m.graph.nodes].filter((n) => n.opType !== 'Constant' && n.name);
}

describe.each(fixtures())('cutting $file', (fx) => {
  const model = () => {
    const m = loadModel(fx.path);
    inferShapes(m, { inputShapes: fx.inputShapes });
    return m;
  };
  const positions = [0.1, 0.5, 0.9];

  it.each(positions)('at %f of the depth: edge then cloud is bit-exact (optimizations off), close with them on', async (pos) => {
    const m = model();
    const nodes = computeNodes(m);
    const at = nodes[Math.floor(pos * (nodes.length - 1))]!;
    const cut = cutAfterNode(m, at.name);
    const split = splitModel(m, cut);
    assertValid(split.edge);
    assertValid(split.cloud);
    expect(split.cutTensors.length).toBeGreaterThan(0);
    // the two halves survive serialization
    const edge = deserializeModel(modelToBytes(split.edge));
    const cloud = deserializeModel(modelToBytes(split.cloud));
    expect(cloud.graph.inputs.map((v) => v.name)).toEqual(split.cutTensors);
    expect(edge.graph.outputs.map((v) => v.name).slice(0, split.cutTensors.length)).toEqual(split.cutTensors);

    const feeds = seededFloatInputs(fx.inputShapes, 7);
    const whole = await run(m, feeds);
    const parts = await runSplit(edge, cloud, feeds);
    for (const o of m.graph.outputs) {
      expect(parts[o.name]!.dims).toEqual(whole[o.name]!.dims);
      expect(bytesOf(parts[o.name]!).equals(bytesOf(whole[o.name]!))).toBe(true);
    }
    const wholeOpt = await run(m, feeds, true);
    const partsOpt = await runSplit(edge, cloud, feeds, true);
    for (const o of m.graph.outputs) {
      const a = wholeOpt[o.name]!.data as Float32Array;
      const b = partsOpt[o.name]!.data as Float32Array;
      let maxErr = 0;
      for (let i = 0; i < a.length; i++) maxErr = Math.max(maxErr, Math.abs(a[i]! - b[i]!));
      expect(maxErr).toBeLessThan(1e-3);
    }
    console.log(`cut ${fx.file} after '${at.name}' (${pos}): ${split.cutTensors.length} wire tensor(s) [${split.cutTensors.join(', ')}], edge ${split.edge.graph.nodes.length} nodes, cloud ${split.cloud.graph.nodes.length} nodes`);
  });
});

describe('multi-tensor cuts', () => {
  it('the detector cut across its FPN skip connections sends several tensors and stays bit-exact', async () => {
    const fx = fixtures().find((f) => f.file.includes('det'))!;
    const m = loadModel(fx.path);
    inferShapes(m, { inputShapes: fx.inputShapes });
    // the first Resize starts the FPN top-down path: everything the decoder reads from the
    // backbone (several scales) crosses the cut there
    const resize = computeNodes(m).find((n) => n.opType === 'Resize')!;
    const cut = cutAfterNode(m, resize.name);
    expect(cut.length).toBeGreaterThan(1);
    const split = splitModel(m, cut);
    const feeds = seededFloatInputs(fx.inputShapes, 3);
    const whole = await run(m, feeds);
    const parts = await runSplit(split.edge, split.cloud, feeds);
    const o = m.graph.outputs[0]!.name;
    expect(bytesOf(parts[o]!).equals(bytesOf(whole[o]!))).toBe(true);
    console.log(`detector multi-tensor cut: ${split.cutTensors.length} tensors: ${split.cutTensors.join(', ')}`);
  });

  it('a residual block needs both the branch and the shortcut; one alone names the escaping path', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [1, 4]);
    const h = b.op('Relu', [x], {}, { outputNames: ['h'] });
    const branch = b.op('Sigmoid', [b.op('MatMul', [h, b.weight('w', [4, 4])], {}, { outputNames: ['mm'] })], {}, { outputNames: ['branch'] });
    const y = b.op('Add', [branch, h], {}, { outputNames: ['y'] });
    b.output(y);
    const m = b.model();
    inferShapes(m);
    let err: SplitcError | undefined;
    try {
      splitModel(m, ['branch']);
    } catch (e) {
      err = e as SplitcError;
    }
    expect(err?.code).toBe('E_CUT');
    expect(err?.message).toMatch(/x → Relu '.*' → h → Add '.*' → y/);
    const ok = splitModel(m, ['h', 'branch']);
    expect(ok.cutTensors).toEqual(['h', 'branch']);
    expect([...ok.cloud.graph.nodes].map((n) => n.opType)).toEqual(['Add']);
    // the same cut, found from a node name
    expect(cutAfterNode(m, branch.producer()!.name).sort()).toEqual(['branch', 'h']);
  });

  it("a weight shared through PyTorch's Identity (or folded by Transpose) on both sides is computed on both, never sent", async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [2, 4]);
    const shared = b.op('Identity', [b.weight('w', [4, 4])], {}, { outputNames: ['w_shared'] });
    const folded = b.op('Transpose', [b.weight('v', [4, 4], 2)], { perm: [1, 0] }, { outputNames: ['v_t'] });
    const h = b.op('Relu', [b.op('MatMul', [x, shared])], {}, { outputNames: ['h'] });
    const y = b.op('Add', [b.op('MatMul', [h, shared]), b.op('MatMul', [h, folded])], {}, { outputNames: ['y'] });
    b.output(y);
    const m = b.model();
    inferShapes(m);
    expect(cutAfterNode(m, h.producer()!.name)).toEqual(['h']);
    const split = splitModel(m, ['h']);
    expect(split.cutTensors).toEqual(['h']);
    assertValid(split.edge);
    assertValid(split.cloud);
    // the cloud recomputes the folds from its own copy of the weights
    expect([...split.cloud.graph.nodes].map((n) => n.opType).sort()).toEqual(['Add', 'Identity', 'MatMul', 'MatMul', 'Transpose']);
    const feeds = seededFloatInputs({ x: [2, 4] }, 5);
    const whole = await run(m, feeds);
    const parts = await runSplit(split.edge, split.cloud, feeds);
    expect(bytesOf(parts['y']!).equals(bytesOf(whole['y']!))).toBe(true);
    for (const name of ['w_shared', 'v_t']) expect(codeOf(() => splitModel(m, [name]))).toBe('E_CUT');
  });

  it('an input the cloud needs raw is itself a cut tensor; weights used on both sides are in both', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [2, 3]);
    const w = b.weight('w', [3, 3]);
    const a = b.op('MatMul', [x, w], {}, { outputNames: ['a'] });
    const c = b.op('Add', [b.op('MatMul', [a, w]), x], {}, { outputNames: ['y'] });
    b.output(c);
    const m = b.model();
    inferShapes(m);
    expect(codeOf(() => splitModel(m, ['a']))).toBe('E_CUT');
    const s = splitModel(m, ['a', 'x']);
    expect(s.cutTensors).toEqual(['x', 'a']);
    expect([...s.edge.graph.initializers.keys()]).toEqual(['w']);
    expect([...s.cloud.graph.initializers.keys()]).toEqual(['w']);
    const feeds = seededFloatInputs({ x: [2, 3] }, 1);
    const whole = await run(m, feeds);
    const parts = await runSplit(s.edge, s.cloud, feeds);
    expect(bytesOf(parts.y!).equals(bytesOf(whole.y!))).toBe(true);
  });

  it('outputs before the cut come from the edge', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [3]);
    const early = b.op('Relu', [x], {}, { outputNames: ['early'] });
    const mid = b.op('Sigmoid', [early], {}, { outputNames: ['mid'] });
    const late = b.op('Neg', [mid], {}, { outputNames: ['late'] });
    b.output(early);
    b.output(late);
    const m = b.model();
    inferShapes(m);
    const s = splitModel(m, ['mid']);
    expect(s.edgeOutputs).toEqual(['early']);
    expect(s.cloudOutputs).toEqual(['late']);
    expect(s.edge.graph.outputs.map((v) => v.name)).toEqual(['mid', 'early']);
    const feeds = seededFloatInputs({ x: [3] }, 2);
    const whole = await run(m, feeds);
    const parts = await runSplit(s.edge, s.cloud, feeds);
    for (const k of ['early', 'late']) expect(bytesOf(parts[k]!).equals(bytesOf(whole[k]!))).toBe(true);
  });
});

describe('bad cuts', () => {
  const m = () => {
    const f = fixtures()[0]!;
    const model = loadModel(f.path);
    inferShapes(model, { inputShapes: f.inputShapes });
    return model;
  };
  it('unknown tensors, constants, empty cuts and cuts after the end are E_CUT', () => {
    const model = m();
    expect(codeOf(() => splitModel(model, ['nope']))).toBe('E_CUT');
    expect(codeOf(() => splitModel(model, []))).toBe('E_CUT');
    const constant = [...model.graph.nodes].find((n) => n.opType === 'Constant')!.outputs[0]!.name;
    expect(codeOf(() => splitModel(model, [constant]))).toBe('E_CUT');
    const last = computeNodes(model).at(-1)!;
    expect(codeOf(() => cutAfterNode(model, last.name))).toBe('E_CUT');
    expect(codeOf(() => cutAfterNode(model, 'no such node'))).toBe('E_CUT');
    // cutting at the output itself leaves the cloud nothing
    expect(codeOf(() => splitModel(model, [model.graph.outputs[0]!.name]))).toBe('E_CUT');
  });
});
