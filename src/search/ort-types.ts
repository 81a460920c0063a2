// onnxruntime's tensor types for ONNX element types: the names are ir/dtype.ts's; this says
// which of them onnxruntime-js tensors hold. Not in ort-session.ts, which bundles copy.

import type { Tensor } from 'onnxruntime-node';
import { DataType, dtypeName, typedArrayCtor } from '../ir/dtype.js';

/**
 * onnxruntime's tensor type for an ONNX element type whose data is a typed array; undefined for
 * strings, sub-byte types and bfloat16, which onnxruntime-js tensors do not hold.
 */
export function ortTensorType(dt: DataType): Tensor.Type | undefined {
  return typedArrayCtor(dt) && dt !== DataType.BFLOAT16 ? (dtypeName(dt) as Tensor.Type) : undefined;
}
