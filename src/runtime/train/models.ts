// Models splitc trains itself: a small ResNet with BatchNorm for 28×28 grayscale images
// (Fashion-MNIST), built with the IR's GraphBuilder with seeded Kaiming-normal weights.

import { GraphBuilder } from '../../ir/builder.js';
import { DataType } from '../../ir/dtype.js';
import type { Model, Value } from '../../ir/graph.js';
import { rng } from './fit.js';

export interface SmallResNetOptions {
  inChannels?: number;
  classes?: number;
  /** Channels per stage; every stage after the first halves the resolution. */
  widths?: number[];
  /** Basic blocks per stage. */
  blocks?: number;
  seed?: number;
  /** Input height and width. */
  size?: number;
}

/**
 * stem 3×3 conv → BN → ReLU, then per stage `blocks` basic blocks (two 3×3 conv+BN, identity
 * or 1×1 conv+BN shortcut, ReLU after the sum), global average pool, a linear classifier.
 * Input 'image' [N, C, size, size], output 'logits' [N, classes]. Opset 17.
 */
export function smallResNet(opts: SmallResNetOptions = {}): Model {
  const inC = opts.inChannels ?? 1;
  const classes = opts.classes ?? 10;
  const widths = opts.widths ?? [16, 32, 64];
  const blocks = opts.blocks ?? 1;
  const size = opts.size ?? 28;
  const r = rng(opts.seed ?? 1);
  const gauss = (): number => {
    const u = Math.max(r(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
  };
  const b = new GraphBuilder('small_resnet');
  const kaiming = (name: string, dims: number[]): Value => {
    const fanIn = dims.slice(1).reduce((a, d) => a * d, 1);
    const std = Math.sqrt(2 / fanIn);
    return b.init(name, DataType.FLOAT, dims, Float32Array.from({ length: dims.reduce((a, d) => a * d, 1) }, () => gauss() * std));
  };
  const conv = (name: string, x: Value, cin: number, cout: number, k: number, stride: number): Value => {
    const w = kaiming(`${name}.weight`, [cout, cin, k, k]);
    const p = (k - 1) / 2;
    return b.op('Conv', [x, w], { kernel_shape: [k, k], strides: [stride, stride], pads: [p, p, p, p] }, { name });
  };
  const bn = (name: string, x: Value, c: number, zeroGamma = false): Value => {
    const ones = new Float32Array(c).fill(1);
    const scale = b.init(`${name}.weight`, DataType.FLOAT, [c], zeroGamma ? new Float32Array(c) : ones);
    const bias = b.init(`${name}.bias`, DataType.FLOAT, [c], new Float32Array(c));
    const mean = b.init(`${name}.running_mean`, DataType.FLOAT, [c], new Float32Array(c));
    const variance = b.init(`${name}.running_var`, DataType.FLOAT, [c], ones);
    return b.op('BatchNormalization', [x, scale, bias, mean, variance], { epsilon: 1e-5, momentum: 0.9 }, { name });
  };
  const relu = (x: Value): Value => b.op('Relu', [x]);

  const image = b.input('image', DataType.FLOAT, ['N', inC, size, size]);
  let x = relu(bn('stem.bn', conv('stem.conv', image, inC, widths[0]!, 3, 1), widths[0]!));
  let c = widths[0]!;
  widths.forEach((width, s) => {
    for (let k = 0; k < blocks; k++) {
      const stride = s > 0 && k === 0 ? 2 : 1;
      const name = `stage${s + 1}.block${k + 1}`;
      const h1 = relu(bn(`${name}.bn1`, conv(`${name}.conv1`, x, c, width, 3, stride), width));
      // The second BN starts at zero scale: each block starts as the identity (Goyal et al.).
      const h2 = bn(`${name}.bn2`, conv(`${name}.conv2`, h1, width, width, 3, 1), width, true);
      const shortcut = stride !== 1 || c !== width ? bn(`${name}.down.bn`, conv(`${name}.down.conv`, x, c, width, 1, stride), width) : x;
      x = relu(b.op('Add', [h2, shortcut]));
      c = width;
    }
  });
  const pooled = b.op('GlobalAveragePool', [x]);
  const flat = b.op('Flatten', [pooled], { axis: 1 });
  const fcW = kaiming('fc.weight', [classes, c]);
  const fcB = b.init('fc.bias', DataType.FLOAT, [classes], new Float32Array(classes));
  const logits = b.op('Gemm', [flat, fcW, fcB], { transB: 1 }, { outputNames: ['logits'] });
  b.output(logits, { dtype: DataType.FLOAT, shape: ['N', classes] });
  const model = b.model({ opset: 17 });
  model.producerName = 'splitc';
  return model;
}
