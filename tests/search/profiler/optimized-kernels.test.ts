// Charging the optimized graph's kernels to the ONNX nodes they replaced, on synthetic graphs.
import { describe, expect, it } from 'vitest';
import { DataType } from '../../../src/ir/dtype.js';
import { Graph, Model, Node, Value, tensorType } from '../../../src/ir/graph.js';
import { chargeOptimizedKernels } from '../../../src/search/profiler/optimized-kernels.js';
import { MIN_OPTIMIZED_COVERAGE } from '../../../src/search/profiler/profile.js';

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
