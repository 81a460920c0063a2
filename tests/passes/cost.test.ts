import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DataType } from '../../src/ir/dtype.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { Value } from '../../src/ir/graph.js';
import { saveModel } from '../../src/ir/serde/io.js';
import { assertValid } from '../../src/ir/verify.js';
import { annotateCost } from '../../src/passes/cost.js';
import { inferShapes } from '../../src/passes/shape/index.js';
import { loadModel } from '../../src/ir/serde/io.js';
import { fixtures, repoRoot, tmpDir } from '../helpers/fixtures.js';
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

describe('cost annotation of subgraphs', () => {
  const F = DataType.FLOAT;
  const I64 = DataType.INT64;
  const B = DataType.BOOL;

  /** A Loop body computing v ← v·W (one 1×8·8×8 MatMul, 64 MACs) per trip. */
  function matmulLoopBody(name: string, w: Value): GraphBuilder {
    const body = new GraphBuilder(name);
    body.graph.addInput(new Value(`${name}_i`));
    const condIn = body.graph.addInput(new Value(`${name}_cond_in`));
    const vIn = body.graph.addInput(new Value(`${name}_v_in`));
    body.output(body.op('Identity', [condIn], {}, { outputNames: [`${name}_cond_out`], name: `${name}_cond` }));
    body.output(body.op('MatMul', [vIn, w], {}, { outputNames: [`${name}_v_out`], name: `${name}_mm` }));
    return body;
  }

  /**
   * x[1,8] → If(cond) { then: Loop ×3 of a 64-MAC MatMul; else: two 64-MAC MatMuls }
   *        → Loop(M = 5) of a 64-MAC MatMul → Loop(M = graph input) of a 64-MAC MatMul.
   */
  function controlFlowModel() {
    const b = new GraphBuilder();
    const x = b.input('x', F, [1, 8]);
    const cond = b.input('cond', B, []);
    const trips = b.input('trips', I64, []);
    const w = b.weight('w', [8, 8]);
    const tb = new GraphBuilder('then');
    const inner = matmulLoopBody('inner', w);
    tb.output(tb.op('Loop', [tb.constant('three', I64, [], [3]), tb.constant('t_true', B, [], [1]), x], { body: inner.graph }, { outputNames: ['t_out'], name: 'then_loop' }));
    const eb = new GraphBuilder('else');
    const e1 = eb.op('MatMul', [x, w], {}, { outputNames: ['e_mid'], name: 'else_mm1' });
    eb.output(eb.op('MatMul', [e1, w], {}, { outputNames: ['e_out'], name: 'else_mm2' }));
    const branched = b.op('If', [cond], { then_branch: tb.graph, else_branch: eb.graph }, { name: 'branch' });
    const counted = b.op('Loop', [b.constant('five', I64, [], [5]), b.constant('l_true', B, [], [1]), branched], { body: matmulLoopBody('counted', w).graph }, { name: 'counted_loop' });
    const open = b.op('Loop', [trips, b.constant('o_true', B, [], [1]), counted], { body: matmulLoopBody('open', w).graph }, { name: 'open_loop' });
    b.output(open);
    return { m: b.model({ opset: 13 }), branched, counted, open };
  }

  it('counts the costlier If branch, a Loop body times a constant trip count, and nested subgraphs', () => {
    const { m, branched, counted, open } = controlFlowModel();
    const r = analyse(m);
    const macsOf = (v: Value) => r.nodes.get(v.producer()!)!;
    // then: a nested Loop of 3 trips (192) beats else's two MatMuls (128)
    expect(macsOf(branched)).toMatchObject({ macs: 3 * 64, exact: true });
    expect(macsOf(counted)).toMatchObject({ macs: 5 * 64, exact: true });
    // trip count known only at run time: the body once, flagged
    expect(macsOf(open)).toMatchObject({ macs: 64, exact: false });
    expect(r.totals.macs).toBe(3 * 64 + 5 * 64 + 64);
    expect(r.totals.inexactNodes).toBe(1);
    expect(r.totals.nodes).toBe(m.graph.nodes.length);
  });

  it('counts only the branch an If on a constant condition takes', () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [1, 8]);
    const w = b.weight('w', [8, 8]);
    const tb = new GraphBuilder('then');
    tb.output(tb.op('MatMul', [x, w], {}, { outputNames: ['t_out'] }));
    const eb = new GraphBuilder('else');
    eb.output(eb.op('MatMul', [eb.op('MatMul', [x, w]), w], {}, { outputNames: ['e_out'] }));
    const y = b.op('If', [b.constant('c', B, [], [1])], { then_branch: tb.graph, else_branch: eb.graph });
    b.output(y);
    expect(analyse(b.model({ opset: 13 })).nodes.get(y.producer()!)).toMatchObject({ macs: 64, exact: true });
  });

  it('counts a Scan body once per step of the scanned axis', () => {
    const b = new GraphBuilder();
    const init = b.input('init', F, [1, 8]);
    const xs = b.input('xs', F, [7, 1, 8]);
    const w = b.weight('w', [8, 8]);
    const body = new GraphBuilder('body');
    const sIn = body.graph.addInput(new Value('s_in'));
    const xIn = body.graph.addInput(new Value('x_in'));
    const sOut = body.op('MatMul', [body.op('Add', [sIn, xIn]), w], {}, { outputNames: ['s_out'] });
    body.output(sOut);
    const final = b.op('Scan', [init, xs], { body: body.graph, num_scan_inputs: 1 });
    b.output(final);
    const r = analyse(b.model({ opset: 16 }));
    expect(r.nodes.get(final.producer()!)).toMatchObject({ macs: 7 * 64, exact: true });
    expect(r.totals.macs).toBe(7 * 64);
  });

  it('splitc inspect --json reports the MACs inside subgraphs', () => {
    const file = path.join(tmpDir(), 'control-flow.onnx');
    saveModel(controlFlowModel().m, file);
    const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin/splitc.js'), 'inspect', file, '--json'], { encoding: 'utf8', cwd: repoRoot });
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { nodes: { name: string; macs: number }[]; totals: { macs: number } };
    const macs = Object.fromEntries(report.nodes.map((n) => [n.name, n.macs]));
    expect(macs).toMatchObject({ branch: 3 * 64, counted_loop: 5 * 64, open_loop: 64 });
    expect(report.totals.macs).toBe(3 * 64 + 5 * 64 + 64);
  });
});
