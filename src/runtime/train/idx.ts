// Reading IDX files (the MNIST / Fashion-MNIST format), gzip-compressed or not: a magic
// number giving the element type and rank, big-endian dims, then the elements.

import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { SplitcError } from '../../ir/errors.js';

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
    throw new SplitcError('E_IO', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { hint: 'Fashion-MNIST comes from Debian: apt-get install dataset-fashion-mnist (/usr/share/datasets/fashion-mnist)' });
  }
  return parseIdx(raw, file);
}

/** Where Debian's dataset-fashion-mnist puts the files. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

export interface ImageDataset {
  /** [n, 1, h, w] floats. */
  images: Float32Array;
  labels: Int32Array;
  n: number;
  shape: [number, number, number];
}

/**
 * Fashion-MNIST (or MNIST) split as floats in [0, 1] then standardized with the given
 * mean/std (defaults: Fashion-MNIST's training-set statistics).
 */
export function loadIdxImages(imagesFile: string, labelsFile: string, opts: { mean?: number; std?: number; limit?: number } = {}): ImageDataset {
  const img = readIdx(imagesFile);
  const lab = readIdx(labelsFile);
  if (img.dims.length !== 3) throw new SplitcError('E_CALIB', `${imagesFile}: expected [n, h, w] images, got dims [${img.dims.join(',')}]`);
  if (lab.dims.length !== 1 || lab.dims[0] !== img.dims[0]) throw new SplitcError('E_CALIB', `${labelsFile}: ${lab.dims[0]} labels for ${img.dims[0]} images`);
  const n = Math.min(img.dims[0]!, opts.limit ?? Infinity);
  const [h, w] = [img.dims[1]!, img.dims[2]!];
  const mean = opts.mean ?? 0.2860;
  const std = opts.std ?? 0.3530;
  const images = new Float32Array(n * h * w);
  for (let i = 0; i < images.length; i++) images[i] = (img.data[i]! / 255 - mean) / std;
  const labels = Int32Array.from(lab.data.subarray(0, n));
  return { images, labels, n, shape: [1, h, w] };
}
