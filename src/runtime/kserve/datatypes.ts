// The v2 protocol's datatypes: their names, sizes and onnxruntime / ONNX names (read from
// the IR's dtype table, the one place that knows them), and the typed arrays that hold them.

import { DataType, dtypeBits, dtypeKServeName, dtypeName, type KServeDatatype, type TypedArray, typedArrayCtor, type TypedArrayCtor } from '../../ir/dtype.js';

export type { KServeDatatype } from '../../ir/dtype.js';

/** onnxruntime (node and web) element type names. `bfloat16` has no onnxruntime-js tensor type. */
export type OrtTensorType =
  | 'bool'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'float16'
  | 'float32'
  | 'float64'
  | 'bfloat16'
  | 'string';

/** Element storage of a fixed-size datatype (FP16 and BF16 as their bits, BOOL as bytes). */
export type NumericTensorData = TypedArray;

/**
 * Element storage of a decoded tensor: a typed array in the element's native size
 * (BOOL and UINT8 as Uint8Array, FP16 and BF16 as their raw bits in a Uint16Array, INT64 as
 * BigInt64Array), or for BYTES one Uint8Array per element.
 */
export type TensorData = NumericTensorData | Uint8Array[];

interface DatatypeInfo {
  /** Bytes per element in the binary format; 0 for BYTES (4-byte length prefix + bytes). */
  bytes: number;
  ort: OrtTensorType;
  /** ONNX TensorProto.DataType number (stable across ONNX versions). */
  onnx: number;
}

/** One row per datatype, derived from the IR's dtype table. */
export const DATATYPES: Readonly<Record<KServeDatatype, DatatypeInfo>> = Object.fromEntries(
  Object.values(DataType).flatMap((onnx) => {
    const name = dtypeKServeName(onnx);
    return name ? [[name, { bytes: dtypeBits(onnx) / 8, ort: dtypeName(onnx) as OrtTensorType, onnx }]] : [];
  }),
) as Record<KServeDatatype, DatatypeInfo>;

export function isKServeDatatype(s: unknown): s is KServeDatatype {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DATATYPES, s);
}

export function datatypeToOrt(dt: KServeDatatype): OrtTensorType {
  return DATATYPES[dt].ort;
}

/** KServe datatype for an onnxruntime type name (or undefined for int4/uint4 and unknown names). */
export function datatypeFromOrt(t: string): KServeDatatype | undefined {
  for (const [k, v] of Object.entries(DATATYPES)) if (v.ort === t) return k as KServeDatatype;
  return undefined;
}

export function datatypeToOnnx(dt: KServeDatatype): number {
  return DATATYPES[dt].onnx;
}

export function datatypeFromOnnx(onnxType: number): KServeDatatype | undefined {
  for (const [k, v] of Object.entries(DATATYPES)) if (v.onnx === onnxType) return k as KServeDatatype;
  return undefined;
}

/** Accepts a KServe name ('FP32') or an onnxruntime name ('float32'). */
export function normalizeDatatype(s: string): KServeDatatype | undefined {
  if (isKServeDatatype(s)) return s;
  return datatypeFromOrt(s);
}

/** The typed array that holds a fixed-size datatype (undefined for BYTES). */
export function datatypeArray(dt: KServeDatatype): TypedArrayCtor | undefined {
  return typedArrayCtor(DATATYPES[dt].onnx);
}

export function typedArrayFor(dt: KServeDatatype, buffer: ArrayBufferLike, byteOffset: number, length: number): NumericTensorData {
  const ctor = datatypeArray(dt);
  if (!ctor) throw new Error('BYTES has no typed array');
  return new (ctor as Float32ArrayConstructor)(buffer, byteOffset, length);
}

/** A zero-filled typed array for a fixed-size datatype. */
export function allocTensorData(dt: KServeDatatype, length: number): NumericTensorData {
  const bytes = DATATYPES[dt].bytes;
  return typedArrayFor(dt, new ArrayBuffer(length * bytes), 0, length);
}
