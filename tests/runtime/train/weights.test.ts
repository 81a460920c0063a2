// Writing weights into a copy of a forward model: initializers and Constant-node weights (as
// Paddle and some exporters store them) alike; the original is untouched; a name the model
// does not store, or a wrong element count, is a coded error.
import { expect, it } from 'vitest';
import { GraphBuilder } from '../../../src/ir/builder.js';
import { constantOf } from '../../../src/ir/constants.js';
import { DataType } from '../../../src/ir/dtype.js';
import { assertValid } from '../../../src/ir/verify.js';
import { modelWithWeights } from '../../../src/runtime/train/weights.js';
import { codeOf } from '../../helpers/codes.js';

const floats = (v: ReturnType<typeof constantOf>): number[] => Array.from(v!.toTypedArray() as Float32Array);

function model() {
  const b = new GraphBuilder('w');
  const x = b.input('x', DataType.FLOAT, [1, 2]);
  const w = b.init('w', DataType.FLOAT, [2, 2], [1, 2, 3, 4]);
  const c = b.constant('c', DataType.FLOAT, [2], [5, 6]);
  b.output(b.op('Add', [b.op('MatMul', [x, w]), c]), { dtype: DataType.FLOAT, shape: [1, 2] });
  return b.model({ opset: 17 });
}

it('writes initializers and Constant outputs into a copy', () => {
  const m = model();
  const out = modelWithWeights(m, [['w', Float32Array.from([0, 1, 0, 1])], ['c', Float32Array.from([-1, -2])]]);
  assertValid(out);
  const values = out.graph.valuesByName();
  expect(floats(constantOf(values.get('w')))).toEqual([0, 1, 0, 1]);
  expect(floats(constantOf(values.get('c')))).toEqual([-1, -2]);
  expect(constantOf(values.get('w'))!.dims).toEqual([2, 2]);
  expect(floats(constantOf(m.graph.valuesByName().get('w')))).toEqual([1, 2, 3, 4]);
});

it('refuses a name the model does not store and a wrong element count', () => {
  expect(codeOf(() => modelWithWeights(model(), [['x', new Float32Array(2)]]))).toBe('E_AUTODIFF');
  expect(codeOf(() => modelWithWeights(model(), [['nope', new Float32Array(2)]]))).toBe('E_AUTODIFF');
  expect(codeOf(() => modelWithWeights(model(), [['w', new Float32Array(3)]]))).toBe('E_AUTODIFF');
});
