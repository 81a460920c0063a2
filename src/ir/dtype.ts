// ONNX element types (TensorProto.DataType) and what splitc needs to know about them.

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

interface DtypeInfo {
  name: string;
  /** Bits per element (sub-byte types pack two per byte); 0 for variable-size (string). */
  bits: number;
  float: boolean;
  integer: boolean;
}

const INFO: Record<number, DtypeInfo> = {
  0: { name: 'undefined', bits: 0, float: false, integer: false },
  1: { name: 'float32', bits: 32, float: true, integer: false },
  2: { name: 'uint8', bits: 8, float: false, integer: true },
  3: { name: 'int8', bits: 8, float: false, integer: true },
  4: { name: 'uint16', bits: 16, float: false, integer: true },
  5: { name: 'int16', bits: 16, float: false, integer: true },
  6: { name: 'int32', bits: 32, float: false, integer: true },
  7: { name: 'int64', bits: 64, float: false, integer: true },
  8: { name: 'string', bits: 0, float: false, integer: false },
  9: { name: 'bool', bits: 8, float: false, integer: false },
  10: { name: 'float16', bits: 16, float: true, integer: false },
  11: { name: 'float64', bits: 64, float: true, integer: false },
  12: { name: 'uint32', bits: 32, float: false, integer: true },
  13: { name: 'uint64', bits: 64, float: false, integer: true },
  14: { name: 'complex64', bits: 64, float: false, integer: false },
  15: { name: 'complex128', bits: 128, float: false, integer: false },
  16: { name: 'bfloat16', bits: 16, float: true, integer: false },
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
