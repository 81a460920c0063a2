// Reading IDX files (the MNIST / Fashion-MNIST format), gzip-compressed or not: a magic
// number giving the element type and rank, big-endian dims, then the elements.

import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { ioError, SplitcError } from '../ir/errors.js';

export interface IdxArray {
  dims: number[];
  /** Elements as stored (unsigned bytes for the image and label files). */
  data: Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;
}

const TYPES: Record<number, { bytes: number; read: (v: DataView, o: number) => number; make: (n: number) => IdxArray['data'] }> = {
  0x08: { bytes: 1, read: (v, o) => v.getUint8(o), make: (n) => new Uint8Array(n) },
  0x09: { bytes: 1, read: (v, o) => v.getInt8(o), make: (n) => new Int8Array(n) },
  0x0b: { bytes: 2, read: (v, o) => v.getInt16(o, false), make: (n) => new Int16Array(n) },
  0x0c: { bytes: 4, read: (v, o) => v.getInt32(o, false), make: (n) => new Int32Array(n) },
  0x0d: { bytes: 4, read: (v, o) => v.getFloat32(o, false), make: (n) => new Float32Array(n) },
  0x0e: { bytes: 8, read: (v, o) => v.getFloat64(o, false), make: (n) => new Float64Array(n) },
};

/** Parse IDX bytes (gunzipped when they start with the gzip magic). */
export function parseIdx(raw: Uint8Array, where = 'IDX data'): IdxArray {
  const bytes = raw[0] === 0x1f && raw[1] === 0x8b ? new Uint8Array(zlib.gunzipSync(raw)) : raw;
  const bad = (why: string): SplitcError => new SplitcError('E_CALIB', `${where} is not an IDX file: ${why}`, { hint: 'IDX files start with 0x00 0x00 <type> <rank> (e.g. train-images-idx3-ubyte.gz)' });
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) throw bad('bad magic number');
  const type = TYPES[bytes[2]!];
  if (!type) throw bad(`unknown element type 0x${bytes[2]!.toString(16)}`);
  const rank = bytes[3]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 4 + 4 * rank) throw bad('truncated header');
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i, false));
  const n = dims.reduce((a, d) => a * d, 1);
  const start = 4 + 4 * rank;
  if (bytes.length < start + n * type.bytes) throw bad(`${bytes.length - start} bytes of data for dims [${dims.join(',')}]`);
  let data: IdxArray['data'];
  if (type.bytes === 1 && bytes[2] === 0x08) data = bytes.slice(start, start + n);
  else {
    data = type.make(n);
    for (let i = 0; i < n; i++) data[i] = type.read(view, start + i * type.bytes);
  }
  return { dims, data };
}

export function readIdx(file: string): IdxArray {
  let raw: Uint8Array;
  try {
    raw = fs.readFileSync(file);
  } catch (e) {
    throw ioError(`cannot read ${file}`, e, 'Fashion-MNIST comes from Debian: apt-get install dataset-fashion-mnist (/usr/share/datasets/fashion-mnist)');
  }
  return parseIdx(raw, file);
}
