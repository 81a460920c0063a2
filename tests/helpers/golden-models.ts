// Small models built in code for the pass goldens (tests/golden/passes/*/input.txt names
// them `builder:<name>`). Every node and value is named explicitly, so their printed IR does
// not depend on the builder's fresh-name scheme.
import { DataType } from '../../src/ir/dtype.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import type { Model } from '../../src/ir/graph.js';

function seeded(n: number, seed: number, scale = 0.5): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = Math.round(((s >>> 0) / 4294967296 - 0.5) * 2 * scale * 1024) / 1024;
  }
  return out;
}

export const GOLDEN_MODELS: Record<string, () => Model> = {
  /** Paddle's idiom: weights in Constant nodes, opset 9, IR 4 (hoist-constants moves them to initializers). */
  'paddle-constants': () => {
    const b = new GraphBuilder('paddle-style');
    const x = b.input('x', DataType.FLOAT, [1, 2, 4, 4]);
    const w = b.constant('conv.w', DataType.FLOAT, [3, 2, 3, 3], seeded(54, 1));
    const bias = b.constant('conv.b', DataType.FLOAT, [3], seeded(3, 2));
    const c = b.op('Conv', [x, w, bias], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, { name: 'conv', outputNames: ['conv.out'] });
    const scale = b.constant('scale', DataType.FLOAT, [1], [0.5]);
    const m = b.op('Mul', [c, scale], {}, { name: 'mul', outputNames: ['mul.out'] });
    const y = b.op('Relu', [m], {}, { name: 'relu', outputNames: ['y'] });
    b.output(y);
    return b.model({ opset: 9, irVersion: 4 });
  },
  /** A Conv whose weights arrive at run time (a graph input), with few output positions: batch-as-depth rewrites it. */
  'runtime-weight-conv': () => {
    const b = new GraphBuilder('dynamic-conv');
    const x = b.input('x', DataType.FLOAT, [2, 3, 4, 4]);
    const w = b.input('w', DataType.FLOAT, [4, 3, 3, 3]);
    const bias = b.init('bias', DataType.FLOAT, [4], seeded(4, 3));
    const y = b.op('Conv', [x, w, bias], { kernel_shape: [3, 3], strides: [1, 1] }, { name: 'conv', outputNames: ['y'] });
    b.output(y);
    return b.model({ opset: 17 });
  },
  /** One LSTM over 2 steps (input 3, hidden 2), weights as initializers. */
  lstm: () => {
    const b = new GraphBuilder('lstm');
    const x = b.input('x', DataType.FLOAT, [2, 1, 3]);
    const w = b.init('W', DataType.FLOAT, [1, 8, 3], seeded(24, 4));
    const r = b.init('R', DataType.FLOAT, [1, 8, 2], seeded(16, 5));
    const bias = b.init('B', DataType.FLOAT, [1, 16], seeded(16, 6));
    const [y, yh] = b.opMulti('LSTM', [x, w, r, bias], 2, { hidden_size: 2 }, { name: 'lstm', outputNames: ['Y', 'Y_h'] });
    b.output(y!);
    b.output(yh!);
    return b.model({ opset: 17 });
  },
  /** Conv → BatchNormalization → Relu → Flatten → Gemm: the gradient graph covers conv, normalization and linear rules. */
  'conv-bn-gemm': () => {
    const b = new GraphBuilder('conv-bn-gemm');
    const x = b.input('x', DataType.FLOAT, [1, 1, 4, 4]);
    const w = b.init('conv.w', DataType.FLOAT, [2, 1, 3, 3], seeded(18, 7));
    const c = b.op('Conv', [x, w], { kernel_shape: [3, 3] }, { name: 'conv', outputNames: ['conv.out'] });
    const scale = b.init('bn.scale', DataType.FLOAT, [2], [1, 0.5]);
    const shift = b.init('bn.shift', DataType.FLOAT, [2], [0.25, -0.25]);
    const mean = b.init('bn.mean', DataType.FLOAT, [2], [0.125, 0]);
    const variance = b.init('bn.var', DataType.FLOAT, [2], [1, 2]);
    const n = b.op('BatchNormalization', [c, scale, shift, mean, variance], { epsilon: 0.001 }, { name: 'bn', outputNames: ['bn.out'] });
    const r = b.op('Relu', [n], {}, { name: 'relu', outputNames: ['relu.out'] });
    const f = b.op('Flatten', [r], { axis: 1 }, { name: 'flatten', outputNames: ['flat'] });
    const fw = b.init('fc.w', DataType.FLOAT, [3, 8], seeded(24, 8));
    const fb = b.init('fc.b', DataType.FLOAT, [3], seeded(3, 9));
    const y = b.op('Gemm', [f, fw, fb], { transB: 1 }, { name: 'fc', outputNames: ['logits'] });
    b.output(y);
    return b.model({ opset: 17 });
  },
  /** TensorFlow/Keras's dense head: MatMul(x, Identity(kernel)) + Identity(bias) → Softmax (SphereFed rewrites it). */
  'dense-softmax-head': () => {
    const b = new GraphBuilder('dense-softmax-head');
    const x = b.input('x', DataType.FLOAT, ['N', 6]);
    const w1 = b.init('hidden/kernel', DataType.FLOAT, [6, 5], seeded(30, 10));
    const h = b.op('Relu', [b.op('MatMul', [x, w1], {}, { name: 'hidden', outputNames: ['hidden.out'] })], {}, { name: 'relu', outputNames: ['relu.out'] });
    const k = b.init('dense/kernel', DataType.FLOAT, [5, 3], seeded(15, 11));
    const kr = b.op('Identity', [k], {}, { name: 'dense/kernel/read', outputNames: ['dense/kernel_read'] });
    const bias = b.init('dense/bias', DataType.FLOAT, [3], seeded(3, 12));
    const br = b.op('Identity', [bias], {}, { name: 'dense/bias/read', outputNames: ['dense/bias_read'] });
    const mm = b.op('MatMul', [h, kr], {}, { name: 'dense/MatMul', outputNames: ['dense.mm'] });
    const logits = b.op('Add', [mm, br], {}, { name: 'dense/BiasAdd', outputNames: ['dense.logits'] });
    const y = b.op('Softmax', [logits], { axis: 1 }, { name: 'softmax', outputNames: ['probs'] });
    b.output(y, { dtype: DataType.FLOAT, shape: ['N', 3] });
    return b.model({ opset: 17 });
  },
};

