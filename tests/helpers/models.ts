// Synthetic architectures built with the GraphBuilder (deterministic weights).
import { DataType } from '../../src/ir/dtype.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import type { Model, Value } from '../../src/ir/graph.js';

/** torchvision-style ResNet-18 (BasicBlock ×[2,2,2,2], BatchNorm, 1000 classes). */
export function resnet18(opts: { batch?: number | string; size?: number; classes?: number } = {}): Model {
  const b = new GraphBuilder('resnet18');
  const size = opts.size ?? 224;
  const classes = opts.classes ?? 1000;
  let seed = 1;
  const x = b.input('input', DataType.FLOAT, [opts.batch ?? 1, 3, size, size]);
  const convBn = (inp: Value, cin: number, cout: number, k: number, stride: number, relu: boolean, tag: string): Value => {
    const w = b.weight(`${tag}.weight`, [cout, cin, k, k], seed++);
    const pad = Math.floor(k / 2);
    let y = b.op('Conv', [inp, w], { kernel_shape: [k, k], strides: [stride, stride], pads: [pad, pad, pad, pad] });
    const scale = b.init(`${tag}.bn.scale`, DataType.FLOAT, [cout], new Float32Array(cout).fill(1));
    const bias = b.init(`${tag}.bn.bias`, DataType.FLOAT, [cout], new Float32Array(cout));
    const mean = b.init(`${tag}.bn.mean`, DataType.FLOAT, [cout], new Float32Array(cout));
    const vari = b.init(`${tag}.bn.var`, DataType.FLOAT, [cout], new Float32Array(cout).fill(1));
    y = b.op('BatchNormalization', [y, scale, bias, mean, vari], { epsilon: 1e-5 });
    return relu ? b.op('Relu', [y]) : y;
  };
  let y = convBn(x, 3, 64, 7, 2, true, 'conv1');
  y = b.op('MaxPool', [y], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] });
  let cin = 64;
  [64, 128, 256, 512].forEach((cout, stage) => {
    for (let blk = 0; blk < 2; blk++) {
      const stride = stage > 0 && blk === 0 ? 2 : 1;
      const tag = `layer${stage + 1}.${blk}`;
      const h = convBn(y, cin, cout, 3, stride, true, `${tag}.conv1`);
      const h2 = convBn(h, cout, cout, 3, 1, false, `${tag}.conv2`);
      const shortcut = stride !== 1 || cin !== cout ? convBn(y, cin, cout, 1, stride, false, `${tag}.downsample`) : y;
      y = b.op('Relu', [b.op('Add', [h2, shortcut])]);
      cin = cout;
    }
  });
  y = b.op('GlobalAveragePool', [y]);
  y = b.op('Flatten', [y], { axis: 1 });
  const fcW = b.weight('fc.weight', [classes, 512], seed++);
  const fcB = b.init('fc.bias', DataType.FLOAT, [classes], new Float32Array(classes));
  y = b.op('Gemm', [y, fcW, fcB], { transB: 1 }, { outputNames: ['logits'] });
  b.output(y);
  return b.model({ opset: 17 });
}
