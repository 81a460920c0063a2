// "Is this a known tensor?" — initializers and outputs of Constant nodes (the way
// PaddleOCR and many exporters store weights) both count.

import { DataType } from './dtype.js';
import { AttrType, type Node, type Value } from './graph.js';
import { MemoryStorage, Tensor } from './tensor.js';

/**
 * The tensor a value is known to hold, or null. Initializers that are also graph inputs
 * can be overridden at run time and are not constant.
 */
export function constantOf(v: Value | null | undefined): Tensor | null {
  if (!v) return null;
  if (v.constValue) return v.isGraphInput() ? null : v.constValue;
  const p = v.producer();
  if (p && p.opType === 'Constant' && (p.domain === '' || p.domain === 'ai.onnx')) return constantNodeTensor(p);
  return null;
}

export function isConstant(v: Value | null | undefined): boolean {
  return constantOf(v) !== null;
}

/** The tensor held by a Constant node (value, value_float(s), value_int(s), value_string(s)). */
export function constantNodeTensor(n: Node): Tensor | null {
  const name = n.outputs[0]?.name ?? '';
  for (const a of n.attributes.values()) {
    switch (a.name) {
      case 'value':
        if (a.type === AttrType.TENSOR) return a.value;
        break;
      case 'value_float':
        if (a.type === AttrType.FLOAT) return Tensor.fromArray(name, DataType.FLOAT, [], [a.value]);
        break;
      case 'value_floats':
        if (a.type === AttrType.FLOATS) return Tensor.fromArray(name, DataType.FLOAT, [a.value.length], a.value);
        break;
      case 'value_int':
        if (a.type === AttrType.INT) return int64Tensor(name, [], [a.value]);
        break;
      case 'value_ints':
        if (a.type === AttrType.INTS) return int64Tensor(name, [a.value.length], a.value);
        break;
      case 'value_string':
        if (a.type === AttrType.STRING) return new Tensor(name, DataType.STRING, [], new MemoryStorage(new Uint8Array(0)), [a.value]);
        break;
      case 'value_strings':
        if (a.type === AttrType.STRINGS) return new Tensor(name, DataType.STRING, [a.value.length], new MemoryStorage(new Uint8Array(0)), a.value);
        break;
    }
  }
  return null;
}

function int64Tensor(name: string, dims: number[], values: (number | bigint)[]): Tensor {
  const arr = BigInt64Array.from(values, (x) => BigInt(x));
  return new Tensor(name, DataType.INT64, dims, new MemoryStorage(new Uint8Array(arr.buffer)));
}
