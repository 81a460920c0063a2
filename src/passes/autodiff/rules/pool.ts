// Gradient rules for the pools: MaxPool scatters dy through its argmax indices (an Indices
// output is added to the forward node when it has none), AveragePool spreads dy over each
// window with a ConvTranspose of ones, the global pools broadcast or scatter to the maximum.

import type { AttrInput } from '../../../ir/builder.js';
import { DataType } from '../../../ir/dtype.js';
import type { Value } from '../../../ir/graph.js';
import { infoOf } from '../builder.js';
import type { GradContext, GradRuleTable } from '../rule.js';
import { range, addSecondOutput } from './util.js';
import { type Geometry, staticSpatial, windowGeometry, transposedWindow } from './window-geometry.js';

/**
 * The per-output weight of an AveragePool window (1 / divisor; 0 where a window holds no
 * input), following onnxruntime: with count_include_pad the divisor counts the taps up to
 * the end of the tail pad, else the taps inside the input. Separable over axes.
 */
function averageWeights(g: Geometry, countIncludePad: boolean): number[] {
  const n = g.inSp.length;
  const perAxis = range(0, n).map((i) => {
    const s = g.strides[i]!;
    const d = g.dilations[i]!;
    const k = g.kernel[i]!;
    return range(0, g.outSp[i]!).map((o) => {
      const start = o * s - g.head[i]!;
      let inside = 0;
      for (let j = 0; j < k; j++) {
        const t = start + j * d;
        if (t >= 0 && t < g.inSp[i]!) inside++;
      }
      const end = Math.min(start + k * d, g.inSp[i]! + g.tail[i]!);
      const padded = end > start ? 1 + Math.trunc((end - start - 1) / d) : 0;
      return { inside, divisor: countIncludePad ? padded : inside };
    });
  });
  const total = g.outSp.reduce((p, v) => p * v, 1);
  const weights = new Array<number>(total);
  for (let flat = 0; flat < total; flat++) {
    let rest = flat;
    let inside = 1;
    let divisor = 1;
    for (let i = n - 1; i >= 0; i--) {
      const o = rest % g.outSp[i]!;
      rest = Math.floor(rest / g.outSp[i]!);
      inside *= perAxis[i]![o]!.inside;
      divisor *= perAxis[i]![o]!.divisor;
    }
    weights[flat] = inside > 0 && divisor > 0 ? 1 / divisor : 0;
  }
  return weights;
}

/**
 * The argmax indices of a MaxPool (flat over N·C·spatial, row-major). Without an Indices
 * output the forward node is replaced by one that has it (Y is unchanged: same attributes,
 * same output value name); with column-major indices (storage_order 1) in use, a second
 * MaxPool in the gradient graph makes row-major ones. The replacement happens in
 * `replaceForward`, to be called after `setGrad`: the context reads the node's inputs.
 */
function maxPoolIndices(c: GradContext): { indices: Value; replaceForward: () => void } {
  const n = c.node;
  const b = c.b;
  const existing = n.outputs[1];
  const rowMajor = n.attrInt('storage_order', 0) === 0;
  const none = (): void => {};
  if (existing && existing.name !== '' && rowMajor) return { indices: existing, replaceForward: none };
  const y = n.outputs[0]!;
  const attrs = [...n.attributes.values()].filter((a) => a.name !== 'storage_order');
  if (existing && existing.name !== '') {
    const attrMap: Record<string, AttrInput> = Object.fromEntries(attrs.map((a) => [a.name, a]));
    const outs = b.opMulti('MaxPool', [c.x(0)], 2, attrMap, [{ dtype: y.dtype, shape: y.shape }, { dtype: DataType.INT64, shape: y.shape }]);
    return { indices: outs[1]!, replaceForward: none };
  }
  const { value: indices, replaceForward } = addSecondOutput(c, 'indices', DataType.INT64, attrs);
  return { indices, replaceForward };
}


export const POOL_RULES: GradRuleTable = {
  MaxPool: {
    differentiable: [0],
    // ScatterElements with reduction 'add' (windows may overlap, so indices may repeat).
    minOpset: 16,
    grad(c) {
      const dy = c.dy(0);
      if (!dy) return;
      const b = c.b;
      const x = c.x(0);
      const { indices, replaceForward } = maxPoolIndices(c);
      const flat = b.ints([-1]);
      const zeros = b.reshape(b.zerosLike(x), flat, { dtype: x.dtype });
      const updates = b.reshape(dy, flat, { dtype: x.dtype });
      const scattered = b.op('ScatterElements', [zeros, b.reshape(indices, flat, { dtype: DataType.INT64 }), updates], { axis: 0, reduction: 'add' }, { dtype: x.dtype });
      c.setGrad(0, b.reshapeLike(scattered, x));
      replaceForward();
    },
  },

  AveragePool: {
    differentiable: [0],
    grad(c) {
      const dy = c.dy(0);
      if (!dy) return;
      const b = c.b;
      const x = c.x(0);
      const dtype = x.dtype ?? DataType.FLOAT;
      const inSp = staticSpatial(c, x);
      const kernel = c.node.attrInts('kernel_shape');
      if (!kernel || kernel.length !== inSp.length) throw c.fail(`kernel_shape must have ${inSp.length} entries`);
      const g = windowGeometry(c, 'pool', inSp, kernel);
      const weights = averageWeights(g, c.node.attrInt('count_include_pad', 0) !== 0);
      const uniform = weights.every((v) => v === weights[0]);
      const scale = uniform ? b.scalar(weights[0]!, dtype) : b.constant(dtype, [1, 1, ...g.outSp], weights);
      // Channels join the batch, so one single-channel ConvTranspose with a ones kernel spreads
      // every window back. No shape is stated for dy·scale: where onnxruntime's pool size and
      // shape inference's differ, ours is the kernel's.
      const perChannel = b.reshape(b.op('Mul', [dy, scale], {}, { dtype }), b.ints([-1, 1, ...g.outSp]), { dtype });
      const ones = b.constant(dtype, [1, 1, ...g.kernel], new Array<number>(g.kernel.reduce((p, v) => p * v, 1)).fill(1));
      const spread = transposedWindow(c, perChannel, ones, g, 1, { dtype });
      c.setGrad(0, b.reshapeLike(spread, x));
    },
  },
  GlobalAveragePool: {
    differentiable: [0],
    grad(c) {
      const dy = c.dy(0);
      if (!dy) return;
      const b = c.b;
      const x = c.x(0);
      const dtype = x.dtype ?? DataType.FLOAT;
      const sp = x.shape?.slice(2);
      let scaled: Value;
      if (sp && sp.every((d): d is number => typeof d === 'number')) {
        scaled = b.mul(dy, b.scalar(1 / sp.reduce((p, v) => p * v, 1), dtype));
      } else {
        const spatial = b.slice(b.shapeOf(x), [2], [Number.MAX_SAFE_INTEGER], [0], undefined, { dtype: DataType.INT64 });
        const count = b.op('ReduceProd', [spatial], { keepdims: 0 }, { dtype: DataType.INT64, shape: [] });
        scaled = b.div(dy, b.cast(count, dtype));
      }
      c.setGrad(0, b.op('Expand', [scaled, b.shapeValue(x)], {}, infoOf(x)));
    },
  },

  GlobalMaxPool: {
    differentiable: [0],
    grad(c) {
      // The gradient goes to the first maximum of each channel (ArgMax), scattered into zeros.
      const dy = c.dy(0);
      if (!dy) return;
      const b = c.b;
      const x = c.x(0);
      const s = x.shape;
      const flatShape = s && s.length >= 3 && s.every((d) => typeof d === 'number') ? [s[0]!, s[1]!, (s.slice(2) as number[]).reduce((p, v) => p * v, 1)] : null;
      const xf = b.reshape(x, b.ints([0, 0, -1]), { dtype: x.dtype, shape: flatShape });
      const argmax = b.op('ArgMax', [xf], { axis: 2, keepdims: 1 }, { dtype: DataType.INT64 });
      const updates = b.reshape(dy, b.ints([0, 0, 1]), { dtype: x.dtype });
      const scattered = b.op('ScatterElements', [b.zerosLike(xf), argmax, updates], { axis: 2 }, { dtype: x.dtype, shape: flatShape });
      c.setGrad(0, b.reshapeLike(scattered, x));
    },
  },
};
