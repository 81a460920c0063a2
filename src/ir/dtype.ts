// ONNX element types (TensorProto.DataType) and what splitc needs to know about them: the
// one table of names (ONNX/onnxruntime, KServe v2), sizes and typed-array storage. No imports:
// the runtime's wire format, copied into browser bundles, reads it too.

export const DataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  COMPLEX64: 14,
  COMPLEX128: 15,
  BFLOAT16: 16,
  FLOAT8E4M3FN: 17,
  FLOAT8E4M3FNUZ: 18,
  FLOAT8E5M2: 19,
  FLOAT8E5M2FNUZ: 20,
  UINT4: 21,
  INT4: 22,
  FLOAT4E2M1: 23,
} as const;
export type DataType = number;

/** Datatype names of the KServe v2 / Open Inference Protocol. */
export type KServeDatatype =
  | 'BOOL'
  | 'UINT8'
  | 'UINT16'
  | 'UINT32'
  | 'UINT64'
  | 'INT8'
  | 'INT16'
  | 'INT32'
  | 'INT64'
  | 'FP16'
  | 'FP32'
  | 'FP64'
  | 'BF16'
  | 'BYTES';

/** Dense element storage of the fixed-size types (FLOAT16/BFLOAT16 as their bits, BOOL as bytes). */
export type TypedArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

export type TypedArrayCtor =
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | Int8ArrayConstructor
  | Uint8ArrayConstructor
  | Int16ArrayConstructor
  | Uint16ArrayConstructor
  | Int32ArrayConstructor
  | Uint32ArrayConstructor
  | BigInt64ArrayConstructor
  | BigUint64ArrayConstructor;

interface DtypeInfo {
  /** onnxruntime's name (node and web). */
  name: string;
  /** Bits per element (sub-byte types pack two per byte); 0 for variable-size (string). */
  bits: number;
  float: boolean;
  integer: boolean;
  /** The KServe v2 name, for the types the protocol carries. */
  kserve?: KServeDatatype;
  /** Typed array of the elements, for the types stored densely in whole bytes. */
  array?: TypedArrayCtor;
}

const INFO: Record<number, DtypeInfo> = {
  0: { name: 'undefined', bits: 0, float: false, integer: false },
  1: { name: 'float32', bits: 32, float: true, integer: false, kserve: 'FP32', array: Float32Array },
  2: { name: 'uint8', bits: 8, float: false, integer: true, kserve: 'UINT8', array: Uint8Array },
  3: { name: 'int8', bits: 8, float: false, integer: true, kserve: 'INT8', array: Int8Array },
  4: { name: 'uint16', bits: 16, float: false, integer: true, kserve: 'UINT16', array: Uint16Array },
  5: { name: 'int16', bits: 16, float: false, integer: true, kserve: 'INT16', array: Int16Array },
  6: { name: 'int32', bits: 32, float: false, integer: true, kserve: 'INT32', array: Int32Array },
  7: { name: 'int64', bits: 64, float: false, integer: true, kserve: 'INT64', array: BigInt64Array },
  8: { name: 'string', bits: 0, float: false, integer: false, kserve: 'BYTES' },
  9: { name: 'bool', bits: 8, float: false, integer: false, kserve: 'BOOL', array: Uint8Array },
  10: { name: 'float16', bits: 16, float: true, integer: false, kserve: 'FP16', array: Uint16Array },
  11: { name: 'float64', bits: 64, float: true, integer: false, kserve: 'FP64', array: Float64Array },
  12: { name: 'uint32', bits: 32, float: false, integer: true, kserve: 'UINT32', array: Uint32Array },
  13: { name: 'uint64', bits: 64, float: false, integer: true, kserve: 'UINT64', array: BigUint64Array },
  14: { name: 'complex64', bits: 64, float: false, integer: false },
  15: { name: 'complex128', bits: 128, float: false, integer: false },
  16: { name: 'bfloat16', bits: 16, float: true, integer: false, kserve: 'BF16', array: Uint16Array },
  17: { name: 'float8e4m3fn', bits: 8, float: true, integer: false },
  18: { name: 'float8e4m3fnuz', bits: 8, float: true, integer: false },
  19: { name: 'float8e5m2', bits: 8, float: true, integer: false },
  20: { name: 'float8e5m2fnuz', bits: 8, float: true, integer: false },
  21: { name: 'uint4', bits: 4, float: false, integer: true },
  22: { name: 'int4', bits: 4, float: false, integer: true },
  23: { name: 'float4e2m1', bits: 4, float: true, integer: false },
};

export function isKnownDtype(dt: number): boolean {
  return INFO[dt] !== undefined && dt !== 0;
}
export function dtypeName(dt: number): string {
  return INFO[dt]?.name ?? `dtype(${dt})`;
}
export function dtypeFromName(name: string): DataType | undefined {
  for (const [k, v] of Object.entries(INFO)) if (v.name === name) return Number(k);
  return undefined;
}
export function dtypeBits(dt: number): number {
  return INFO[dt]?.bits ?? 0;
}
export function isFloatDtype(dt: number): boolean {
  return INFO[dt]?.float ?? false;
}
export function isIntegerDtype(dt: number): boolean {
  return INFO[dt]?.integer ?? false;
}
/** Bytes needed to store `count` elements densely (sub-byte types packed). */
export function byteSizeOf(dt: number, count: number): number {
  return Math.ceil((dtypeBits(dt) * count) / 8);
}

/** The typed array that stores elements of `dt` (undefined for strings, sub-byte and complex types). */
export function typedArrayCtor(dt: DataType): TypedArrayCtor | undefined {
  return INFO[dt]?.array;
}
/** The KServe v2 name of an ONNX type (undefined when the protocol cannot carry it). */
export function dtypeKServeName(dt: DataType): KServeDatatype | undefined {
  return INFO[dt]?.kserve;
}
/** The ONNX type of a KServe v2 datatype name. */
export function dtypeFromKServeName(name: string): DataType | undefined {
  for (const [k, v] of Object.entries(INFO)) if (v.kserve === name) return Number(k);
  return undefined;
}
