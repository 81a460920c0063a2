import { describe, expect, it } from 'vitest';
import { DataType } from '../../src/ir/dtype.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { assertValid } from '../../src/ir/verify.js';
import { annotateCost } from '../../src/passes/cost.js';
import { inferShapes } from '../../src/passes/shape/index.js';
import { loadModel } from '../../src/ir/serde/io.js';
import { fixtures } from '../helpers/fixtures.js';
import { resnet18 } from '../helpers/models.js';
import type { Model } from '../../src/ir/graph.js';

function analyse(m: Model, inputShapes = {}) {
  inferShapes(m, { inputShapes });
  assertValid(m);
  const r = annotateCost(m);
  assertValid(m);
  return r;
}

describe('cost annotation', () => {
  it('counts Conv MACs as N·Cout·Hout·Wout·(Cin/group)·kH·kW', () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [2, 8, 10, 12]);
    const w = b.weight('w', [16, 4, 3, 3]); // group = 2
    const bias = b.init('b', DataType.FLOAT, [16], new Float32Array(16));
    const y = b.op('Conv', [x, w, bias], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [2, 1], group: 2 });
    b.output(y);
    const r = analyse(b.model());
    const c = r.nodes.get(y.producer()!)!;
    // Hout = (10+2-3)/2+1 = 5, Wout = 12
    expect(c.macs).toBe(2 * 16 * 5 * 12 * 4 * 3 * 3);
    expect(c.paramBytes).toBe((16 * 4 * 9 + 16) * 4);
    expect(c.outputBytes).toBe(2 * 16 * 5 * 12 * 4);
    expect(r.totals.params).toBe(16 * 4 * 9 + 16);
  });

  it('counts depthwise Conv, ConvTranspose, MatMul and Gemm', () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [1, 32, 16, 16]);
    const dw = b.op('Conv', [x, b.weight('dw', [32, 1, 3, 3])], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], group: 32 });
    const up = b.op('ConvTranspose', [dw, b.weight('up', [32, 8, 2, 2])], { kernel_shape: [2, 2], strides: [2, 2] });
    const flat = b.op('Reshape', [up, b.init('shape', DataType.INT64, [2], [8, -1])]); // [8, 1024]
    const mm = b.op('MatMul', [flat, b.weight('mw', [1024, 10])]);
    const gm = b.op('Gemm', [mm, b.weight('gw', [20, 10])], { transB: 1 });
    b.output(gm);
    const r = analyse(b.model());
    expect(r.nodes.get(dw.producer()!)!.macs).toBe(32 * 16 * 16 * 9);
    expect(r.nodes.get(up.producer()!)!.macs).toBe(32 * 16 * 16 * 8 * 4);
    expect(r.nodes.get(mm.producer()!)!.macs).toBe(8 * 10 * 1024);
    expect(r.nodes.get(gm.producer()!)!.macs).toBe(8 * 20 * 10);
    expect(r.totals.macs).toBe(32 * 256 * 9 + 32 * 256 * 32 + 8 * 10 * 1024 + 8 * 20 * 10);
  });

  it('computes peak live activation memory in execution order', () => {
    // x(400B) -> a(400B) -> b(400B); c = a + b (400B). While computing c: a, b, c live.
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [100]);
    const a = b.op('Relu', [x]);
    const bb = b.op('Sigmoid', [a]);
    const c = b.op('Add', [a, bb]);
    b.output(c);
    const r = analyse(b.model());
    // step1: x + a = 800; step2: x freed after step1 → a + b = 800; step3: a + b + c = 1200
    expect(r.totals.peakActivationBytes).toBe(1200);
    expect(r.totals.activationBytes).toBe(1200);
  });

  it('keeps symbolic batch and reports the assumption', () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, ['N', 4]);
    const y = b.op('MatMul', [x, b.weight('w', [4, 3])]);
    b.output(y);
    const r = analyse(b.model());
    expect(r.totals.assumedSymbols).toEqual(['N']);
    expect(r.totals.macs).toBe(12);
  });

  it('matches the published MAC count of ResNet-18 at 224×224 within 1%', () => {
    const r = analyse(resnet18());
    // torchvision documents ResNet-18 at 1.81 GFLOPS (multiply-accumulates); the
    // conv + fc layers come to 1.8141 G, BatchNorm adds 2.3 M.
    const published = 1.814e9;
    expect(Math.abs(r.totals.macs - published) / published).toBeLessThan(0.01);
    expect(r.totals.params).toBeGreaterThan(11.68e6); // 11.69 M parameters (torchvision), incl. BN
    expect(r.totals.params).toBeLessThan(11.72e6);
  });

  it('annotates every fixture exactly once shapes are fixed', () => {
    for (const f of fixtures()) {
      const m = loadModel(f.path);
      const r = analyse(m, f.inputShapes);
      expect(r.totals.inexactNodes).toBe(0);
      expect(r.totals.macs).toBeGreaterThan(0);
      expect(r.totals.peakActivationBytes).toBeGreaterThan(0);
      expect(r.totals.peakActivationBytes).toBeLessThanOrEqual(r.totals.activationBytes);
      console.log(`cost ${f.file}: ${(r.totals.macs / 1e6).toFixed(1)} MMACs, ${r.totals.params} params, peak ${r.totals.peakActivationBytes} B`);
    }
  });
});
