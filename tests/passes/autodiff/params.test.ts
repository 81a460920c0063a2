// Which weights are trainable parameters: every float weight feeding a differentiable
// input, except running statistics (BatchNorm's mean and variance), also when an exporter
// feeds them through Identity nodes or stores them in Constant nodes.

import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import { loadModel } from '../../../src/ir/serde/io.js';
import { parameterNames, trainableParameters } from '../../../src/passes/autodiff/index.js';
import { trainedFixtures } from '../../helpers/fixtures.js';

const F = DataType.FLOAT;
const C = 4;

/** Conv → BatchNorm three times, with the statistics stored as each exporter does. */
function threeExporters() {
  const b = new GraphBuilder();
  let x = b.input('x', F, ['N', C, 8, 8]);
  const stat = (name: string, fill: number) => b.init(name, F, [C], new Array<number>(C).fill(fill));
  const block = (k: string, mean: ReturnType<typeof stat>, variance: ReturnType<typeof stat>) => {
    const conv = b.op('Conv', [x, b.weight(`${k}.conv.weight`, [C, C, 1, 1], 2), b.weight(`${k}.conv.bias`, [C], 3)]);
    x = b.op('BatchNormalization', [conv, b.weight(`${k}.bn.weight`, [C], 4), b.weight(`${k}.bn.bias`, [C], 5), mean, variance]);
  };
  // plain initializers (onnx, TensorFlow)
  block('a', stat('a.bn.running_mean', 0), stat('a.bn.running_var', 1));
  // PyTorch: Identity(initializer), the variance through two of them
  block('b', b.op('Identity', [stat('b.bn.running_mean', 0)]), b.op('Identity', [b.op('Identity', [stat('b.bn.running_var', 1)])]));
  // Paddle: Constant nodes
  block('c', b.constant('c.bn.running_mean', F, [C], new Array<number>(C).fill(0)), b.constant('c.bn.running_var', F, [C], new Array<number>(C).fill(1)));
  // a tensor that is a mean and also added to the output is a parameter too
  const shared = stat('shared', 0.5);
  block('d', shared, stat('d.bn.running_var', 1));
  x = b.op('Add', [x, b.op('Reshape', [shared, b.init('to', DataType.INT64, [4], [1, C, 1, 1])])]);
  b.output(x);
  return b.model({ opset: 17 });
}

describe('trainableParameters', () => {
  it('leaves out BatchNorm running statistics stored as initializers, behind Identity nodes, or in Constant nodes', () => {
    const m = threeExporters();
    const stats = ['a.bn.running_mean', 'a.bn.running_var', 'b.bn.running_mean', 'b.bn.running_var', 'c.bn.running_mean', 'c.bn.running_var', 'd.bn.running_var'];
    const { params, statistics } = trainableParameters(m);
    expect([...statistics].sort()).toEqual(stats.sort());
    const weights = ['a', 'b', 'c', 'd'].flatMap((k) => [`${k}.conv.weight`, `${k}.conv.bias`, `${k}.bn.weight`, `${k}.bn.bias`]);
    expect([...params].sort()).toEqual([...weights, 'shared'].sort());
    // parameterNames (what can have a gradient) still lists them all, in the same order
    const all = parameterNames(m);
    expect(all.filter((n) => !statistics.includes(n))).toEqual(params);
    expect(all.filter((n) => statistics.includes(n))).toEqual(statistics);
  });

  it('on the Fashion-MNIST ResNet: every running_mean / running_var and nothing else', () => {
    const fx = trainedFixtures().find((f) => f.file === 'fashion_mnist_resnet.onnx')!;
    const { params, statistics } = trainableParameters(loadModel(fx.path));
    expect(statistics.length).toBe(18); // 9 BatchNormalizations
    expect(statistics.every((n) => /\.running_(mean|var)$/.test(n))).toBe(true);
    expect(params.some((n) => /running_/.test(n))).toBe(false);
    expect(params).toContain('stem.bn.weight');
    expect(params).toContain('stem.conv.weight');
  });
});
