// batch-as-depth: Convs with run-time weights and few output positions become one Conv over
// the batch as a depth axis. Seeded random geometries (1-D and 2-D, strides, dilations, pads,
// VALID, bias, batch 1 and 3, a symbolic batch) keep their outputs under onnxruntime and pass
// the IR verifier; Convs the pass must leave alone stay; the trainer's training graph gives
// the same loss and gradients with and without it, and its forward alone the same logits.

import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { attr, GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import type { Model } from '../../src/ir/graph.js';
import { xorshift32 } from '../../src/ir/random.js';
import { modelToBytes } from '../../src/ir/serde/io.js';
import { verifyModel } from '../../src/ir/verify.js';
import { batchAsDepth } from '../../src/passes/batch-as-depth.js';
import { smallResNet } from '../../src/runtime/train/models.js';
import { buildTrainingGraph } from '../../src/passes/training-graph.js';
import { floatsOf, maxAbsDiff, runOrt, seededFloatInputs } from '../helpers/onnx-oracle.js';

interface Spec {
  n: number;
  c: number;
  m: number;
  sp: number[];
  k: number[];
  strides: number[];
  dilations: number[];
  pads: number[] | 'VALID';
  bias: boolean;
  symbolicBatch?: boolean;
}

function convModel(s: Spec, opts: { constantWeights?: boolean; group?: number; autoPad?: string } = {}): Model {
  const b = new GraphBuilder('conv');
  const x = b.input('x', DataType.FLOAT, [s.symbolicBatch ? 'N' : s.n, s.c, ...s.sp]);
  const group = opts.group ?? 1;
  const wDims = [s.m, s.c / group, ...s.k];
  const w = opts.constantWeights ? b.weight('w', wDims, 3, 0.3) : b.input('w', DataType.FLOAT, wDims);
  const inputs = [x, w, ...(s.bias ? [b.input('bias', DataType.FLOAT, [s.m])] : [])];
  const attrs = {
    strides: attr.ints('strides', s.strides),
    dilations: attr.ints('dilations', s.dilations),
    ...(s.pads === 'VALID' || opts.autoPad ? { auto_pad: attr.string('auto_pad', opts.autoPad ?? 'VALID') } : { pads: attr.ints('pads', s.pads) }),
    ...(group > 1 ? { group: attr.int('group', group) } : {}),
  };
  b.output(b.op('Conv', inputs, attrs, { name: 'the_conv', outputNames: ['y'] }));
  return b.model({ opset: 17 });
}

function feedsFor(s: Spec, seed: number): Record<string, ort.Tensor> {
  return seededFloatInputs({ x: [s.n, s.c, ...s.sp], w: [s.m, s.c, ...s.k], ...(s.bias ? { bias: [s.m] } : {}) }, seed);
}

function randomSpec(seed: number): Spec {
  const r = xorshift32(seed);
  for (let i = 0; i < 4; i++) r(); // nearby seeds start alike
  const pick = (lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
  const nsp = pick(1, 2);
  const k = Array.from({ length: nsp }, () => pick(1, 3));
  const dilations = k.map(() => pick(1, 2));
  const strides = k.map(() => pick(1, 3));
  const sp = k.map((kk, i) => pick((kk - 1) * dilations[i]! + 1, nsp === 1 ? 40 : 9));
  const valid = r() < 0.2;
  const pads = valid ? 'VALID' : [...k.map(() => pick(0, 2)), ...k.map(() => pick(0, 2))];
  return { n: pick(1, 3), c: pick(1, 5), m: pick(1, 6), sp, k, strides, dilations, pads, bias: r() < 0.5, symbolicBatch: r() < 0.25 };
}

describe('batch-as-depth', () => {
  it.each(Array.from({ length: 24 }, (_, i) => [i, randomSpec(900 + i)] as const))('random geometry %i keeps its outputs', async (i, s) => {
    const m = convModel(s);
    const before = modelToBytes(m);
    const r = batchAsDepth(m);
    expect(r.rewritten).toBe(1);
    expect(verifyModel(m)).toEqual([]);
    const ops = m.graph.nodes.toArray().map((n) => n.opType);
    expect(ops).toEqual(['Transpose', 'Unsqueeze', 'Unsqueeze', 'Conv', 'Squeeze', 'Transpose']);
    const conv = m.graph.nodes.toArray()[3]!;
    expect(conv.attrInts('kernel_shape')).toEqual([1, ...s.k]);
    expect(m.graph.outputs.map((o) => o.name)).toEqual(['y']);
    const feeds = feedsFor(s, 40 + i);
    const a = await runOrt(before, feeds);
    const b = await runOrt(modelToBytes(m), feeds);
    expect(b.y!.dims).toEqual(a.y!.dims);
    const { diff, scale } = maxAbsDiff(floatsOf(a.y!.bytes), floatsOf(b.y!.bytes));
    expect(diff).toBeLessThanOrEqual(1e-5 * scale + 1e-6);
  });

  const base: Spec = { n: 2, c: 4, m: 3, sp: [6, 6], k: [3, 3], strides: [1, 1], dilations: [1, 1], pads: [1, 1, 1, 1], bias: false };
  it.each([
    ['constant weights (onnxruntime prepacks them)', convModel(base, { constantWeights: true })],
    ['a grouped Conv', convModel({ ...base, c: 4, m: 4 }, { group: 2 })],
    ['64 output positions or more', convModel({ ...base, sp: [8, 8] })],
    ['auto_pad SAME_UPPER', convModel({ ...base, pads: [0, 0, 0, 0] }, { autoPad: 'SAME_UPPER' })],
    ['three spatial axes', convModel({ ...base, sp: [3, 3, 3], k: [1, 1, 1], strides: [1, 1, 1], dilations: [1, 1, 1], pads: [0, 0, 0, 0, 0, 0] })],
  ])('leaves alone %s', (_, m) => {
    const r = batchAsDepth(m);
    expect(r).toMatchObject({ modified: false, rewritten: 0 });
    expect(m.graph.nodes.toArray().map((n) => n.opType)).toEqual(['Conv']);
  });

  it('the threshold is an option', () => {
    const m = convModel({ ...base, sp: [8, 8] });
    expect(batchAsDepth(m, { maxPositions: 65 }).rewritten).toBe(1);
  });

  it("the trainer's graph: same loss and gradients with and without it (ResNet, batch 8)", async () => {
    const graphs = [true, false].map((on) => buildTrainingGraph(smallResNet({ seed: 4 }), { loss: 'ce', inputShapes: { image: [8, 1, 28, 28] }, batchAsDepth: on }));
    const [withPass, without] = graphs as [ReturnType<typeof buildTrainingGraph>, ReturnType<typeof buildTrainingGraph>];
    const deep = withPass.model.graph.nodes.toArray().filter((n) => n.opType === 'Conv' && n.attrInts('kernel_shape')?.length === 3);
    // the last stage's three Convs (7×7 outputs) and the stride-1 data gradients of its 3×3 Convs
    expect(deep.length).toBeGreaterThanOrEqual(3);
    expect(verifyModel(withPass.model)).toEqual([]);
    const feeds: Record<string, ort.Tensor> = { ...seededFloatInputs({ image: [8, 1, 28, 28] }, 5), labels: new ort.Tensor('int64', BigInt64Array.from({ length: 8 }, (_, i) => BigInt((i * 3) % 10)), [8]) };
    for (const [name, t] of without.initial) feeds[name] = new ort.Tensor('float32', Float32Array.from(t.toTypedArray() as Float32Array), [...t.dims]);
    const a = await runOrt(modelToBytes(without.model), feeds);
    const b = await runOrt(modelToBytes(withPass.model), feeds);
    expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
    for (const name of Object.keys(a)) {
      const { diff, scale } = maxAbsDiff(floatsOf(a[name]!.bytes), floatsOf(b[name]!.bytes));
      expect(diff, name).toBeLessThanOrEqual(1e-4 * scale + 1e-6);
    }
    // The forward alone (what bench/autodiff times against PyTorch's forward): no loss, no
    // gradients, the same logits and running statistics.
    const fwd = buildTrainingGraph(smallResNet({ seed: 4 }), { loss: 'ce', inputShapes: { image: [8, 1, 28, 28] }, forwardOnly: true });
    expect(fwd.loss).toBe('');
    expect(fwd.model.graph.outputs.map((o) => o.name).filter((n) => n.startsWith('grad:'))).toEqual([]);
    expect(verifyModel(fwd.model)).toEqual([]);
    const { labels: _, ...fwdFeeds } = feeds;
    const f = await runOrt(modelToBytes(fwd.model), fwdFeeds);
    for (const name of Object.keys(f)) {
      const { diff, scale } = maxAbsDiff(floatsOf(f[name]!.bytes), floatsOf(a[name]!.bytes));
      expect(diff, name).toBeLessThanOrEqual(1e-4 * scale + 1e-6);
    }
  }, 60_000);
});
