// Writing trained weights back into a forward (inference) model: the one place that knows a
// weight may be an initializer or a `Constant` node's output. The trainer's export and the
// federated coordinator's global model both go through it.

import { toAttribute } from '../../ir/builder.js';
import { constantOf } from '../../ir/constants.js';
import { DataType } from '../../ir/dtype.js';
import { SplitcError } from '../../ir/errors.js';
import type { Model } from '../../ir/graph.js';
import { MemoryStorage, Tensor } from '../../ir/tensor.js';
import { cloneModel } from '../../passes/training-graph.js';

/**
 * A copy of `forward` whose named weights (parameters, BatchNorm running statistics) hold the
 * given float32 values (copied; `forward` is not changed). Each name must be a stored value
 * of the model with as many elements.
 */
export function modelWithWeights(forward: Model, weights: Iterable<readonly [string, Float32Array]>): Model {
  const model = cloneModel(forward);
  const byName = model.graph.valuesByName();
  for (const [name, data] of weights) {
    const v = byName.get(name);
    const old = v ? constantOf(v) : undefined;
    if (!v || !old) throw new SplitcError('E_AUTODIFF', `cannot export: the forward model has no value '${name}'`);
    if (old.elementCount !== data.length) throw new SplitcError('E_AUTODIFF', `cannot export: '${name}' has ${old.elementCount} elements in the model, ${data.length} given`);
    const t = new Tensor(name, DataType.FLOAT, [...old.dims], new MemoryStorage(new Uint8Array(Float32Array.from(data).buffer)));
    if (v.isInitializer()) {
      v.constValue = t;
    } else {
      v.producer()!.setAttr(toAttribute('value', t));
    }
  }
  return model;
}
