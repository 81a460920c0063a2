// Helpers of the upgrade-opset tests: exact onnxruntime runs and the check that an upgraded
// copy of a model computes the same bytes (and passes onnx.checker where it is installed).
import * as ort from 'onnxruntime-node';
import { expect } from 'vitest';
import { GraphBuilder } from '../../../src/ir/builder.js';
import { allNodes, type Model, Node, Value } from '../../../src/ir/graph.js';
import { modelToBytes, saveModel } from '../../../src/ir/serde/io.js';
import { deserializeModel } from '../../../src/ir/serde/read.js';
import { assertValid, verifyModel } from '../../../src/ir/verify.js';
import { upgradeOpset } from '../../../src/passes/opset.js';
import { inferShapes } from '../../../src/passes/shape/index.js';
import * as path from 'node:path';
import { tmpDir } from '../../helpers/fixtures.js';
import { onnxCheck, type OrtOutput, pythonOnnx, sameOutputs, xorshift32 } from '../../helpers/onnx-oracle.js';

export type Feeds = Record<string, ort.Tensor>;

/**
 * Run with graph optimizations off: onnxruntime's fusions are chosen per op *version*
 * (an opset-9 and an opset-14 copy of one graph get different fusions and so different
 * rounding), while the kernels themselves must agree bit for bit.
 */
export async function runExact(model: Uint8Array | string, feeds: Feeds): Promise<Record<string, OrtOutput>> {
  const opts: ort.InferenceSession.SessionOptions = { graphOptimizationLevel: 'disabled', intraOpNumThreads: 1, interOpNumThreads: 1 };
  const s = typeof model === 'string' ? await ort.InferenceSession.create(model, opts) : await ort.InferenceSession.create(model, opts);
  try {
    const out = await s.run(feeds);
    const result: Record<string, OrtOutput> = {};
    for (const [name, t] of Object.entries(out)) {
      const d = t.data as unknown as ArrayBufferView;
      result[name] = { type: t.type, dims: t.dims, bytes: Buffer.from(d.buffer, d.byteOffset, d.byteLength), strings: null };
    }
    return result;
  } finally {
    await s.release();
  }
}

export function floats(dims: number[], seed: number, scale = 2): ort.Tensor {
  const rnd = xorshift32(seed);
  const n = dims.reduce((a, b) => a * b, 1);
  return new ort.Tensor('float32', Float32Array.from({ length: n }, () => (rnd() * 2 - 1) * scale), dims);
}

/** Largest element difference between two runs of float outputs (same names and dims required). */
export function maxAbsDiff(a: Record<string, OrtOutput>, b: Record<string, OrtOutput>): number {
  expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
  let max = 0;
  for (const [name, x] of Object.entries(a)) {
    const y = b[name]!;
    expect(y.dims, name).toEqual(x.dims);
    expect(x.type, name).toBe('float32');
    const xs = new Float32Array(x.bytes!.buffer, x.bytes!.byteOffset, x.bytes!.byteLength / 4);
    const ys = new Float32Array(y.bytes!.buffer, y.bytes!.byteOffset, y.bytes!.byteLength / 4);
    for (let i = 0; i < xs.length; i++) max = Math.max(max, Math.abs(xs[i]! - ys[i]!));
  }
  return max;
}

export function nodesOf(m: Model, opType: string): Node[] {
  return [...allNodes(m.graph)].filter((n) => n.opType === opType);
}

let checkFolder: string | undefined;
let checked = 0;
const checkDir = (): string => (checkFolder ??= tmpDir('splitc-opset-check-'));

/**
 * Upgrade a copy of `make()` to each target; outputs must match the original's bytes, and
 * (up to opset 17, when python3-onnx is there) onnx.checker must accept the result.
 */
export async function expectSameOutputs(make: () => Model, targets: number[], feeds: Feeds, check?: (m: Model, target: number) => void): Promise<void> {
  const before = await runExact(modelToBytes(make()), feeds);
  for (const target of targets) {
    const m = make();
    const from = m.opset;
    const r = upgradeOpset(m, target);
    expect(r.from).toBe(from);
    expect(r.to).toBe(target);
    expect(m.opset).toBe(target);
    expect(verifyModel(m)).toEqual([]);
    const bytes = modelToBytes(m);
    assertValid(deserializeModel(bytes));
    const after = await runExact(bytes, feeds);
    expect(sameOutputs(before, after), `opset ${from} → ${target}`).toEqual({ same: true, why: '' });
    check?.(m, target);
    // (the checker wants every graph input to have a shape)
    if (target <= 17 && pythonOnnx().ok && m.graph.inputs.every((v) => v.shape)) {
      const file = path.join(checkDir(), `m${checked++}.onnx`);
      inferShapes(m); // the small models leave their outputs untyped, which the checker refuses
      saveModel(m, file);
      expect(onnxCheck(file), `onnx.checker at opset ${target}`).toEqual({ ok: true, message: 'ok' });
    }
  }
}

/** A model of opset `opset` whose outputs are what `build` returns. */
export function single(opset: number, build: (b: GraphBuilder) => Value | Value[]): () => Model {
  return () => {
    const b = new GraphBuilder('m');
    const outs = build(b);
    for (const v of Array.isArray(outs) ? outs : [outs]) b.output(v);
    return b.model({ opset, irVersion: 7 });
  };
}
