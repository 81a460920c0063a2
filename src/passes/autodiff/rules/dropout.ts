// The gradient rule for Dropout: the identity in inference mode; in training mode dy / (1 − ratio)
// where the forward's own mask is set (a mask output is added to the node when it has none).

import { DataType } from '../../../ir/dtype.js';
import type { Value } from '../../../ir/graph.js';
import { knownValueOf } from '../../shape/index.js';
import { infoOf } from '../builder.js';
import type { GradContext, GradRuleTable } from '../rule.js';
import { addSecondOutput } from './util.js';

/** The mask output of a Dropout node in training mode, added (as MaxPool gains its Indices) when it has none. */
function dropoutMask(c: GradContext): { mask: Value; replaceForward: () => void } {
  const n = c.node;
  const existing = n.outputs[1];
  if (existing && existing.name !== '') return { mask: existing, replaceForward: () => {} };
  const { value: mask, replaceForward } = addSecondOutput(c, 'mask', DataType.BOOL, [...n.attributes.values()]);
  return { mask, replaceForward };
}

/**
 * Dropout's 1 − ratio as onnxruntime divides by it: the ratio read as a float32 (0.5 when
 * absent), the difference taken in float32, then in the data's type.
 */
function dropoutKeptFraction(c: GradContext, dtype: DataType): Value {
  const b = c.b;
  const ratio = c.xOpt(1);
  const known = ratio ? knownValueOf(ratio) : null;
  const r = !ratio ? 0.5 : known && known.data.length === 1 && typeof known.data[0] === 'number' ? known.data[0] : null;
  if (r !== null) return b.scalar(Math.fround(1 - Math.fround(r)), dtype);
  // Known only at run time.
  const r32 = ratio!.dtype === DataType.FLOAT ? ratio! : b.cast(ratio!, DataType.FLOAT);
  const kept = b.sub(b.scalar(1, DataType.FLOAT), r32, r32);
  return dtype === DataType.FLOAT ? kept : b.cast(kept, dtype);
}

export const DROPOUT_RULES: GradRuleTable = {
  Dropout: {
    // Inference (no training_mode, or a false one; every Dropout before opset 12): the
    // identity. Training: y = x / (1 − ratio) where the forward's mask is set, else 0, so
    // dx = dy / (1 − ratio) there (divided as onnxruntime's forward divides). A training_mode
    // fed at run time selects between the two with a Where. ratio and training_mode carry no
    // gradient.
    differentiable: [0],
    grad(c) {
      const dy = c.dyOrZeros(0);
      const training = c.xOpt(2);
      if (!training) {
        c.setGrad(0, dy);
        return;
      }
      const known = knownValueOf(training);
      const mode = known && known.data.length === 1 ? known.data[0] : null;
      if (mode === 0) {
        c.setGrad(0, dy);
        return;
      }
      const b = c.b;
      const x = c.x(0);
      const dtype = x.dtype ?? DataType.FLOAT;
      const { mask, replaceForward } = dropoutMask(c);
      const scaled = b.op('Div', [dy, dropoutKeptFraction(c, dtype)], {}, infoOf(x));
      // (mask and training_mode are bool from opset 12, the first with training_mode)
      const trained = b.op('Where', [mask, scaled, b.scalar(0, dtype)], {}, infoOf(x));
      c.setGrad(0, typeof mode === 'number' ? trained : b.op('Where', [training, trained, dy], {}, infoOf(x)));
      replaceForward();
    },
  },
};
