// Tensors on the wire: shapes and element counts, JSON tensor data (checked element by
// element) and the binary tensor data extension (views into the body where aligned).

import { bf16BitsToFloat, floatToBf16Bits, floatToHalfBits, halfBitsToFloat } from '../../ir/half.js';
import { allocTensorData, DATATYPES, type KServeDatatype, type NumericTensorData, type TensorData, typedArrayFor } from './datatypes.js';
import { badRequest as bad, type KServeError } from './protocol.js';

/** A tensor as carried by the protocol, data decoded into native storage. */
export interface WireTensor {
  name: string;
  datatype: KServeDatatype;
  shape: number[];
  data: TensorData;
}

/** Product of dims, or throws if the shape is not a list of non-negative safe integers. */
export function elementCount(shape: readonly unknown[], what = 'tensor'): number {
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw bad('E_REQUEST_SHAPE', `${what}: shape must be a list of non-negative integers, got ${JSON.stringify(shape).slice(0, 200)}`);
    }
    n *= d;
    if (!Number.isSafeInteger(n)) throw bad('E_REQUEST_SHAPE', `${what}: shape ${JSON.stringify(shape)} has too many elements`);
  }
  return n;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8');

export function stringsToBytes(strings: readonly string[]): Uint8Array[] {
  return strings.map((s) => utf8Encoder.encode(s));
}

export function bytesToStrings(elements: readonly Uint8Array[]): string[] {
  return elements.map((b) => utf8Decoder.decode(b));
}

function flatten(data: unknown[], what: string): unknown[] {
  // Iterative, bounded-depth flatten: JSON tensors may be nested arrays (row-major).
  if (!data.some(Array.isArray)) return data;
  const out: unknown[] = [];
  const stack: [unknown[], number][] = [[data, 0]];
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    if (top[1] >= top[0].length) {
      stack.pop();
      continue;
    }
    const v = top[0][top[1]++];
    if (Array.isArray(v)) {
      if (stack.length >= 64) throw bad('E_REQUEST_DATA', `${what}: data nested too deeply`);
      stack.push([v, 0]);
    } else out.push(v);
  }
  return out;
}

/** Converts JSON tensor data into native storage, checking every element's type and range. */
export function tensorDataFromJson(dt: KServeDatatype, json: unknown, count: number, what = 'tensor'): TensorData {
  if (!Array.isArray(json)) throw bad('E_REQUEST_DATA', `${what}: "data" must be an array`);
  const flat = flatten(json, what);
  if (flat.length !== count) {
    throw bad('E_REQUEST_DATA', `${what}: data has ${flat.length} elements but the shape needs ${count}`);
  }
  const elementError = (i: number, expected: string): KServeError =>
    bad('E_REQUEST_DATA', `${what}: element ${i} is ${JSON.stringify(flat[i])?.slice(0, 40)}, expected ${expected}`);
  if (dt === 'BYTES') {
    return flat.map((v, i) => {
      if (typeof v !== 'string') throw elementError(i, 'a string');
      return utf8Encoder.encode(v);
    });
  }
  if (dt === 'BOOL') {
    const out = new Uint8Array(count);
    for (let i = 0; i < count; i++) {
      const v = flat[i];
      if (typeof v !== 'boolean') throw elementError(i, 'true or false');
      out[i] = v ? 1 : 0;
    }
    return out;
  }
  const out = allocTensorData(dt, count);
  const isFloat = dt === 'FP16' || dt === 'FP32' || dt === 'FP64' || dt === 'BF16';
  if (isFloat) {
    for (let i = 0; i < count; i++) {
      const v = flat[i];
      // null stands for NaN/±Inf, which JSON cannot write.
      if (v !== null && typeof v !== 'number') throw elementError(i, 'a number');
      const x = v === null ? NaN : v;
      if (dt === 'FP16') out[i] = floatToHalfBits(x);
      else if (dt === 'BF16') out[i] = floatToBf16Bits(x);
      else out[i] = x;
    }
    return out;
  }
  const bits = DATATYPES[dt].bytes * 8;
  const signed = dt.startsWith('INT');
  const min = signed ? -(2 ** (bits - 1)) : 0;
  const max = signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
  for (let i = 0; i < count; i++) {
    const v = flat[i];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw elementError(i, `an integer in ${dt} range`);
    if (bits === 64) (out as BigInt64Array | BigUint64Array)[i] = BigInt(v);
    else (out as Int32Array)[i] = v;
  }
  return out;
}

/** JSON text of tensor data (flat). INT64/UINT64 keep every digit; NaN and ±Inf are written as null. */
export function tensorDataToJsonText(dt: KServeDatatype, data: TensorData): string {
  const parts: string[] = new Array(data.length);
  if (dt === 'BYTES') {
    const el = data as Uint8Array[];
    for (let i = 0; i < el.length; i++) parts[i] = JSON.stringify(utf8Decoder.decode(el[i]!));
  } else if (dt === 'BOOL') {
    const a = data as Uint8Array;
    for (let i = 0; i < a.length; i++) parts[i] = a[i] ? 'true' : 'false';
  } else if (dt === 'INT64' || dt === 'UINT64') {
    const a = data as BigInt64Array;
    for (let i = 0; i < a.length; i++) parts[i] = a[i]!.toString();
  } else {
    const a = data as Float32Array;
    const conv = dt === 'FP16' ? halfBitsToFloat : dt === 'BF16' ? bf16BitsToFloat : null;
    for (let i = 0; i < a.length; i++) {
      const x = conv ? conv(a[i]!) : a[i]!;
      parts[i] = Number.isFinite(x) ? String(x) : 'null';
    }
  }
  return '[' + parts.join(',') + ']';
}

/** The bytes of a tensor in the binary format (a view where possible). */
export function tensorDataToBinary(dt: KServeDatatype, data: TensorData): Uint8Array {
  if (dt === 'BYTES') {
    const el = data as Uint8Array[];
    let size = 0;
    for (const e of el) size += 4 + e.length;
    const out = new Uint8Array(size);
    const view = new DataView(out.buffer);
    let off = 0;
    for (const e of el) {
      view.setUint32(off, e.length, true);
      out.set(e, off + 4);
      off += 4 + e.length;
    }
    return out;
  }
  if (!LITTLE_ENDIAN) throw new Error('the binary tensor format needs a little-endian host');
  const a = data as NumericTensorData;
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Decodes one tensor's binary bytes; throws E_REQUEST_DATA if the size does not fit the shape. */
export function tensorDataFromBinary(dt: KServeDatatype, bytes: Uint8Array, count: number, what = 'tensor'): TensorData {
  if (dt === 'BYTES') {
    const out: Uint8Array[] = [];
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let off = 0;
    while (off < bytes.length) {
      if (off + 4 > bytes.length) throw bad('E_REQUEST_DATA', `${what}: BYTES element ${out.length} has a truncated length prefix`);
      const len = view.getUint32(off, true);
      if (off + 4 + len > bytes.length) throw bad('E_REQUEST_DATA', `${what}: BYTES element ${out.length} runs past the tensor's binary data`);
      if (out.length >= count) throw bad('E_REQUEST_DATA', `${what}: more BYTES elements than the shape's ${count}`);
      out.push(bytes.subarray(off + 4, off + 4 + len));
      off += 4 + len;
    }
    if (out.length !== count) throw bad('E_REQUEST_DATA', `${what}: ${out.length} BYTES elements but the shape needs ${count}`);
    return out;
  }
  if (!LITTLE_ENDIAN) throw new Error('the binary tensor format needs a little-endian host');
  const size = DATATYPES[dt].bytes;
  if (bytes.length !== count * size) {
    throw bad('E_REQUEST_DATA', `${what}: binary data is ${bytes.length} bytes but shape × ${dt} needs ${count * size}`);
  }
  if ((bytes.byteOffset % size) === 0) return typedArrayFor(dt, bytes.buffer, bytes.byteOffset, count);
  // Misaligned: copy into a fresh, aligned buffer (not bytes.slice(): on a Node Buffer that is a view).
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return typedArrayFor(dt, copy.buffer, 0, count);
}
