// onnxruntime's tensor types come from ir/dtype.ts's names, for the types onnxruntime-js
// tensors hold as typed arrays; the others (strings, sub-byte, bfloat16) have none.
import * as ort from 'onnxruntime-node';
import { expect, it } from 'vitest';
import { DataType, typedArrayCtor } from '../../src/ir/dtype.js';
import { ortTensorType } from '../../src/search/ort-types.js';

it('names the dense types as onnxruntime does, and no others', () => {
  const named = Object.values(DataType).filter((dt) => ortTensorType(dt) !== undefined);
  expect(named.map((dt) => ortTensorType(dt))).toEqual(['float32', 'uint8', 'int8', 'uint16', 'int16', 'int32', 'int64', 'bool', 'float16', 'float64', 'uint32', 'uint64']);
  for (const dt of [DataType.STRING, DataType.BFLOAT16, DataType.INT4, DataType.UINT4, DataType.COMPLEX64, DataType.FLOAT8E4M3FN, 99]) expect(ortTensorType(dt), String(dt)).toBeUndefined();
  // onnxruntime takes each with the typed array ir/dtype.ts stores it in
  for (const dt of named) {
    const Ctor = typedArrayCtor(dt)!;
    expect(new ort.Tensor(ortTensorType(dt)!, new Ctor(2) as never, [2]).type).toBe(ortTensorType(dt));
  }
});
