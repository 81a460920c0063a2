// Known values: small tensors whose elements shape inference can compute ahead of run
// time (shape arithmetic in PyTorch / paddle2onnx exports, constant scales and axes).
// Integer elements may be symbols (a dim like 'N' read through Shape) or null (unknown).

import { constantOf } from '../../ir/constants.js';
import { DataType } from '../../ir/dtype.js';
import type { Value } from '../../ir/graph.js';
import type { Tensor } from '../../ir/tensor.js';

/** A number, a symbolic dim (only in integer tensors), or null for an unknown element. */
export type KnownElem = number | string | null;

export interface KnownValue {
  readonly dtype: number;
  readonly dims: readonly number[];
  /** Row-major elements; length = product of dims. */
  readonly data: readonly KnownElem[];
}

/** Values with more elements than this are never materialized (weights, corrupted dims). */
export const MAX_FOLD_ELEMENTS = 65536;

/** Key of the known value in `Value.meta` (set by shape-infer). */
export const KNOWN_KEY = 'shape.known';

const FOLDABLE = new Set<number>([
  DataType.FLOAT,
  DataType.DOUBLE,
  DataType.FLOAT16,
  DataType.INT8,
  DataType.INT16,
  DataType.INT32,
  DataType.INT64,
  DataType.UINT8,
  DataType.UINT16,
  DataType.UINT32,
  DataType.UINT64,
  DataType.BOOL,
]);

export function isFoldableDtype(dt: number): boolean {
  return FOLDABLE.has(dt);
}

const tensorCache = new WeakMap<Tensor, KnownValue | null>();

/** Elements of a tensor when it is small and of a numeric type; never throws. */
export function knownFromTensor(t: Tensor): KnownValue | null {
  const cached = tensorCache.get(t);
  if (cached !== undefined) return cached;
  let kv: KnownValue | null = null;
  let n = 1;
  for (const d of t.dims) n = Number.isSafeInteger(d) && d >= 0 ? n * d : NaN;
  if (isFoldableDtype(t.dtype) && n <= MAX_FOLD_ELEMENTS) {
    try {
      kv = { dtype: t.dtype, dims: [...t.dims], data: elementsOf(t, n) };
    } catch {
      kv = null; // truncated or inconsistent data: not known
    }
  }
  tensorCache.set(t, kv);
  return kv;
}

/** The n elements of a small tensor as numbers (plain loops: this runs for every shape constant). */
function elementsOf(t: Tensor, n: number): number[] {
  if (t.dtype === DataType.FLOAT16 || t.dtype === DataType.BOOL) {
    const xs = t.toNumbers();
    if (xs.length !== n) throw new RangeError('element count');
    return xs;
  }
  const arr = t.toTypedArray() as ArrayLike<number | bigint>;
  if (arr.length !== n) throw new RangeError('element count');
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = Number(arr[i]);
  return out;
}

/**
 * What shape inference knows about the value's elements: its folded value, or the data
 * of an initializer / Constant node (when small). null when nothing is known.
 */
export function knownValueOf(v: Value | null | undefined): KnownValue | null {
  if (!v) return null;
  const m = v.meta.get(KNOWN_KEY) as KnownValue | undefined;
  if (m) return m;
  const t = constantOf(v);
  return t ? knownFromTensor(t) : null;
}

export function elementCount(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

export function known(dtype: number, dims: readonly number[], data: readonly KnownElem[]): KnownValue | null {
  if (data.length > MAX_FOLD_ELEMENTS || data.length !== elementCount(dims)) return null;
  return { dtype, dims, data };
}

/** Row-major strides. */
export function stridesOf(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length);
  let acc = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= dims[i]!;
  }
  return s;
}

/**
 * Build a value of `outDims` where each element is read from `src` at the flat index
 * `index(multiIndex)` returns (or is unknown when it returns -1). Capped.
 */
export function gatherElements(
  dtype: number,
  outDims: readonly number[],
  src: readonly KnownElem[],
  index: (idx: readonly number[]) => number,
): KnownValue | null {
  const n = elementCount(outDims);
  if (!Number.isSafeInteger(n) || n > MAX_FOLD_ELEMENTS) return null;
  const data: KnownElem[] = new Array<KnownElem>(n);
  const idx = new Array<number>(outDims.length).fill(0);
  for (let k = 0; k < n; k++) {
    const j = index(idx);
    data[k] = j >= 0 && j < src.length ? src[j]! : null;
    for (let a = outDims.length - 1; a >= 0; a--) {
      if (++idx[a]! < outDims[a]!) break;
      idx[a] = 0;
    }
  }
  return { dtype, dims: [...outDims], data };
}

/** Round like the element type does when storing a computed number. */
export function castElem(x: KnownElem, to: number): KnownElem {
  if (x === null) return null;
  if (typeof x === 'string') return to === DataType.BOOL ? null : isIntType(to) || isFloatType(to) ? x : null;
  if (to === DataType.BOOL) return x !== 0 ? 1 : 0;
  if (to === DataType.FLOAT) return Math.fround(x);
  if (to === DataType.DOUBLE || to === DataType.FLOAT16) return x;
  if (isIntType(to)) {
    if (!Number.isFinite(x)) return null;
    return Math.trunc(x);
  }
  return null;
}

export function isIntType(dt: number): boolean {
  return (
    dt === DataType.INT64 ||
    dt === DataType.INT32 ||
    dt === DataType.INT16 ||
    dt === DataType.INT8 ||
    dt === DataType.UINT8 ||
    dt === DataType.UINT16 ||
    dt === DataType.UINT32 ||
    dt === DataType.UINT64
  );
}

export function isFloatType(dt: number): boolean {
  return dt === DataType.FLOAT || dt === DataType.DOUBLE || dt === DataType.FLOAT16;
}
