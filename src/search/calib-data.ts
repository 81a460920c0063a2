// Calibration inputs: a folder of PNG/JPEG images with a declared preprocessing, .npy
// files, or seeded random data (with a warning). Samples are listed eagerly and decoded
// lazily, one at a time, so a large folder never sits in memory as tensors.

import * as fs from 'node:fs';
import * as path from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { DataType, dtypeName } from '../ir/dtype.js';
import { ioError, SplitcError } from '../ir/errors.js';
import { readIdx } from './idx.js';
import type { Dim, Model } from '../ir/graph.js';
import type { PassContext } from '../passes/pass.js';
import { unknownInput } from '../passes/diagnostics.js';

export type FeedData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | BigUint64Array;

/** One input tensor of one sample, independent of any runtime. */
export interface FeedTensor {
  dtype: DataType;
  dims: number[];
  data: FeedData;
}
export type Feeds = Record<string, FeedTensor>;

export interface CalibSample {
  /** Stable id (file name, `random-3`, `batch.npy#5`). */
  id: string;
  /** Class label when the source provides one (images: labels.json). */
  label?: number;
  load(): Feeds;
}

/** A model input with the static shape samples must have. */
export interface InputSpec {
  name: string;
  dtype: DataType;
  dims: number[];
}

/** The model's graph inputs (initializer-backed ones excluded); symbolic dims must be fixed by `shapes` or are taken as 1 for the batch. */
export function modelInputs(model: Model, shapes: Record<string, Dim[]> = {}): InputSpec[] {
  const inits = model.graph.initializers;
  return model.graph.inputs
    .filter((v) => !inits.has(v.name))
    .map((v) => {
      const t = v.tensorType;
      const declared = shapes[v.name] ?? t?.shape ?? null;
      if (!t || !declared) {
        throw new SplitcError('E_CALIB', `input '${v.name}' has no known type or rank`, { hint: `give its shape with --shape ${v.name}=1x3x224x224` });
      }
      const dims = declared.map((d, i) => (typeof d === 'number' ? d : i === 0 ? 1 : NaN));
      if (dims.some((d) => Number.isNaN(d))) {
        throw new SplitcError('E_CALIB', `input '${v.name}' has symbolic dims [${declared.join(',')}]; calibration needs them fixed`, {
          hint: `give its shape with --shape ${v.name}=${declared.map((d) => (typeof d === 'number' ? d : '?')).join('x')}`,
        });
      }
      return { name: v.name, dtype: t.dtype, dims };
    });
}

// ---------------------------------------------------------------- images

export interface ImagePreprocess {
  /**
   * stretch: bilinear resize to the input's H×W. pad: keep the aspect ratio, resize to the
   * input height and width min(W, ceil(H·w/h)), then fill the right with `padValue`
   * (PaddleOCR's text-line preprocessing).
   */
  resize: 'stretch' | 'pad';
  layout: 'NCHW' | 'NHWC';
  channelOrder: 'RGB' | 'BGR';
  /** Pixel values (0–255) are multiplied by this first (default 1/255). */
  scale: number;
  /** Then (x − mean[c]) / std[c]; one value applies to every channel. */
  mean: number[];
  std: number[];
  /** Value of padded pixels after normalization (pad mode). */
  padValue: number;
}

export const IMAGE_PRESETS: Record<string, ImagePreprocess> = {
  /** PaddleOCR text direction classifier / recognizer: BGR, (x/255 − 0.5)/0.5, right padding with 0. */
  'paddleocr-cls': { resize: 'pad', layout: 'NCHW', channelOrder: 'BGR', scale: 1 / 255, mean: [0.5], std: [0.5], padValue: 0 },
  /** PaddleOCR detector: BGR, ImageNet mean/std. */
  'paddleocr-det': { resize: 'stretch', layout: 'NCHW', channelOrder: 'BGR', scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], padValue: 0 },
  /** torchvision-style ImageNet models. */
  imagenet: { resize: 'stretch', layout: 'NCHW', channelOrder: 'RGB', scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], padValue: 0 },
  /** Pixels scaled to [0, 1], no normalization. */
  unit: { resize: 'stretch', layout: 'NCHW', channelOrder: 'RGB', scale: 1 / 255, mean: [0], std: [1], padValue: 0 },
};

const PRE_HINT = "e.g. 'paddleocr-cls' or 'resize=pad,layout=NCHW,order=BGR,scale=1/255,mean=0.5,std=0.5' (presets: " + Object.keys(IMAGE_PRESETS).join(', ') + ')';

function parseNumber(v: string, key: string): number {
  const frac = /^(-?[\d.]+)\/([\d.]+)$/.exec(v);
  const n = frac ? Number(frac[1]) / Number(frac[2]) : Number(v);
  if (!Number.isFinite(n) || v.trim() === '') throw new SplitcError('E_BAD_ARGUMENT', `preprocessing: ${key}=${v} is not a number`, { hint: PRE_HINT });
  return n;
}

/** `preset[,key=value…]` or `key=value,…` over the 'unit' defaults. Keys: resize, layout, order, scale, mean, std, pad. Lists use ':' (mean=0.485:0.456:0.406). */
export function parseImagePreprocess(text: string): ImagePreprocess {
  const parts = text.split(',').map((s) => s.trim()).filter(Boolean);
  let pre: ImagePreprocess = { ...IMAGE_PRESETS.unit! };
  for (const [i, part] of parts.entries()) {
    const eq = part.indexOf('=');
    if (eq < 0) {
      const preset = IMAGE_PRESETS[part];
      if (!preset || i > 0) throw new SplitcError('E_BAD_ARGUMENT', `preprocessing: unknown preset '${part}'`, { hint: PRE_HINT });
      pre = { ...preset };
      continue;
    }
    const key = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    const list = () => v.split(':').map((x) => parseNumber(x, key));
    if (key === 'resize' && (v === 'stretch' || v === 'pad')) pre.resize = v;
    else if (key === 'layout' && (v === 'NCHW' || v === 'NHWC')) pre.layout = v;
    else if (key === 'order' && (v === 'RGB' || v === 'BGR')) pre.channelOrder = v;
    else if (key === 'scale') pre.scale = parseNumber(v, key);
    else if (key === 'mean') pre.mean = list();
    else if (key === 'std') pre.std = list();
    else if (key === 'pad') pre.padValue = parseNumber(v, key);
    else throw new SplitcError('E_BAD_ARGUMENT', `preprocessing: bad option '${part}'`, { hint: PRE_HINT });
  }
  if (pre.std.some((s) => s === 0)) throw new SplitcError('E_BAD_ARGUMENT', 'preprocessing: std must not be 0', { hint: PRE_HINT });
  return pre;
}

/** 8-bit RGBA pixels, row-major. */
export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Decode a PNG or JPEG (probed by its signature, not its name). */
export function decodeImage(bytes: Uint8Array, name = 'image'): RgbaImage {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  try {
    if (buf.length >= 8 && buf.readUInt32BE(0) === 0x89504e47) {
      const png = PNG.sync.read(buf);
      return { width: png.width, height: png.height, data: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength) };
    }
    if (buf.length >= 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff) {
      const img = jpeg.decode(buf, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 512 });
      return { width: img.width, height: img.height, data: img.data };
    }
  } catch (e) {
    throw new SplitcError('E_CALIB', `cannot decode image '${name}': ${(e as Error).message}`, { hint: 'calibration images must be readable PNG or JPEG files', cause: e });
  }
  throw new SplitcError('E_CALIB', `'${name}' is not a PNG or JPEG image`, { hint: 'calibration folders may hold .png, .jpg and .jpeg files (and labels.json)' });
}

/** Bilinear resize of one channel plane with half-pixel centres (as OpenCV's INTER_LINEAR). */
function resizePlane(src: Float32Array, sw: number, sh: number, dw: number, dh: number): Float32Array {
  const out = new Float32Array(dw * dh);
  const fx = sw / dw;
  const fy = sh / dh;
  for (let y = 0; y < dh; y++) {
    const sy = Math.min(sh - 1, Math.max(0, (y + 0.5) * fy - 0.5));
    const y0 = Math.floor(sy);
    const y1 = Math.min(sh - 1, y0 + 1);
    const wy = sy - y0;
    for (let x = 0; x < dw; x++) {
      const sx = Math.min(sw - 1, Math.max(0, (x + 0.5) * fx - 0.5));
      const x0 = Math.floor(sx);
      const x1 = Math.min(sw - 1, x0 + 1);
      const wx = sx - x0;
      const top = src[y0 * sw + x0]! * (1 - wx) + src[y0 * sw + x1]! * wx;
      const bottom = src[y1 * sw + x0]! * (1 - wx) + src[y1 * sw + x1]! * wx;
      out[y * dw + x] = top * (1 - wy) + bottom * wy;
    }
  }
  return out;
}

/** Image → input tensor data for dims [1,C,H,W] (NCHW) or [1,H,W,C] (NHWC), C ∈ {1, 3}. */
export function preprocessImage(img: RgbaImage, dims: readonly number[], pre: ImagePreprocess): Float32Array {
  if (dims.length !== 4 || dims[0] !== 1) {
    throw new SplitcError('E_CALIB', `image input must have dims [1,C,H,W] or [1,H,W,C], got [${dims.join(',')}]`, { hint: 'fix the batch to 1 with --shape' });
  }
  const [C, H, W] = pre.layout === 'NCHW' ? [dims[1]!, dims[2]!, dims[3]!] : [dims[3]!, dims[1]!, dims[2]!];
  if (C !== 1 && C !== 3) {
    throw new SplitcError('E_CALIB', `image input has ${C} channels in ${pre.layout} layout`, { hint: `images give 1 or 3 channels; is the layout ${pre.layout === 'NCHW' ? 'NHWC' : 'NCHW'}?` });
  }
  const { width: sw, height: sh, data } = img;
  // planes in the model's channel order, as floats 0–255
  const rgb = [0, 1, 2].map((k) => Float32Array.from({ length: sw * sh }, (_, i) => data[i * 4 + k]!));
  const planes =
    C === 1
      ? [Float32Array.from({ length: sw * sh }, (_, i) => 0.299 * rgb[0]![i]! + 0.587 * rgb[1]![i]! + 0.114 * rgb[2]![i]!)]
      : pre.channelOrder === 'BGR'
        ? [rgb[2]!, rgb[1]!, rgb[0]!]
        : rgb;
  const targetW = pre.resize === 'pad' ? Math.max(1, Math.min(W, Math.ceil(H * (sw / sh)))) : W;
  const out = new Float32Array(C * H * W);
  planes.forEach((plane, c) => {
    const r = resizePlane(plane, sw, sh, targetW, H);
    const mean = pre.mean[c] ?? pre.mean[0] ?? 0;
    const std = pre.std[c] ?? pre.std[0] ?? 1;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const v = x < targetW ? (r[y * targetW + x]! * pre.scale - mean) / std : pre.padValue;
        out[pre.layout === 'NCHW' ? (c * H + y) * W + x : (y * W + x) * C + c] = v;
      }
    }
  });
  return out;
}

const IMAGE_EXT = /\.(png|jpe?g)$/i;

/**
 * Samples from the images in `dir` (sorted by name) for the single image input. An optional
 * `labels.json` ({"file.png": 0, …}) attaches class labels.
 */
export function imageSamples(dir: string, input: InputSpec, pre: ImagePreprocess): CalibSample[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((n) => IMAGE_EXT.test(n)).sort();
  } catch (e) {
    throw ioError(`cannot read the calibration folder '${dir}'`, e);
  }
  if (names.length === 0) throw new SplitcError('E_CALIB', `no .png/.jpg images in '${dir}'`, { hint: 'point --calib at a folder of images, .npy files, or use --calib random' });
  if (input.dtype !== DataType.FLOAT) throw new SplitcError('E_CALIB', `input '${input.name}' is ${dtypeName(input.dtype)}; images feed float32 inputs`, { hint: 'use .npy samples for this input' });
  let labels: Record<string, number> = {};
  const labelFile = path.join(dir, 'labels.json');
  if (fs.existsSync(labelFile)) {
    try {
      labels = JSON.parse(fs.readFileSync(labelFile, 'utf8')) as Record<string, number>;
    } catch (e) {
      throw new SplitcError('E_CALIB', `labels.json in '${dir}' is not valid JSON`, { hint: 'write {"file.png": 0, …}', cause: e });
    }
  }
  return names.map((name) => ({
    id: name,
    ...(typeof labels[name] === 'number' ? { label: labels[name] } : {}),
    load: () => {
      const img = decodeImage(fs.readFileSync(path.join(dir, name)), name);
      return { [input.name]: { dtype: DataType.FLOAT, dims: [...input.dims], data: preprocessImage(img, input.dims, pre) } };
    },
  }));
}

// ---------------------------------------------------------------- IDX (MNIST-style)

/** File names of IDX image files: `…-idx3-ubyte`, optionally gzipped. */
export const IDX_IMAGES = /idx3-ubyte(\.gz)?$/;

/**
 * The images of an IDX file ([n, h, w] bytes) as samples of a [1, 1, h, w] float input: pixel ×
 * scale, then (x − mean) / std of the preprocessing (resize and channel order do not apply).
 */
export function idxSamples(file: string, input: InputSpec, pre: ImagePreprocess): CalibSample[] {
  const idx = readIdx(file);
  const [, c, h, w] = input.dims;
  if (input.dtype !== DataType.FLOAT) throw new SplitcError('E_CALIB', `input '${input.name}' is ${dtypeName(input.dtype)}; IDX images feed float32 inputs`);
  if (idx.dims.length !== 3 || input.dims.length !== 4 || c !== 1 || idx.dims[1] !== h || idx.dims[2] !== w) {
    throw new SplitcError('E_CALIB', `'${file}' holds images of [${idx.dims.slice(1).join('×')}]; input '${input.name}' is [${input.dims.join('×')}]`, {
      hint: 'IDX images feed [N, 1, H, W] inputs of the same height and width',
    });
  }
  const plane = h! * w!;
  const name = path.basename(file);
  return Array.from({ length: idx.dims[0]! }, (_, i) => ({
    id: `${name}#${String(i).padStart(5, '0')}`,
    load: () => {
      const x = new Float32Array(plane);
      for (let k = 0; k < plane; k++) x[k] = (idx.data[i * plane + k]! * pre.scale - pre.mean[0]!) / pre.std[0]!;
      return { [input.name]: { dtype: DataType.FLOAT, dims: [...input.dims], data: x } };
    },
  }));
}

// ---------------------------------------------------------------- .npy

export interface NpyArray {
  descr: string;
  shape: number[];
  /** Elements as float64 (exact for every integer up to 2^53). */
  values: Float64Array;
}

const NPY_TYPES: Record<string, { bytes: number; read: (v: DataView, o: number) => number }> = {
  f4: { bytes: 4, read: (v, o) => v.getFloat32(o, true) },
  f8: { bytes: 8, read: (v, o) => v.getFloat64(o, true) },
  i1: { bytes: 1, read: (v, o) => v.getInt8(o) },
  u1: { bytes: 1, read: (v, o) => v.getUint8(o) },
  b1: { bytes: 1, read: (v, o) => (v.getUint8(o) ? 1 : 0) },
  i2: { bytes: 2, read: (v, o) => v.getInt16(o, true) },
  u2: { bytes: 2, read: (v, o) => v.getUint16(o, true) },
  i4: { bytes: 4, read: (v, o) => v.getInt32(o, true) },
  u4: { bytes: 4, read: (v, o) => v.getUint32(o, true) },
  i8: { bytes: 8, read: (v, o) => Number(v.getBigInt64(o, true)) },
  u8: { bytes: 8, read: (v, o) => Number(v.getBigUint64(o, true)) },
};

/** Parse a NumPy .npy file (format 1.0–3.0, C order, little-endian numeric dtypes). */
export function parseNpy(bytes: Uint8Array, name = 'array.npy'): NpyArray {
  const fail = (why: string, hint = 'save with numpy.save(path, np.ascontiguousarray(a, dtype=np.float32))'): SplitcError =>
    new SplitcError('E_CALIB', `'${name}' is not a readable .npy file: ${why}`, { hint });
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 10 || view.getUint8(0) !== 0x93 || String.fromCharCode(...bytes.subarray(1, 6)) !== 'NUMPY') throw fail('no \\x93NUMPY magic');
  const major = bytes[6]!;
  if (major < 1 || major > 3) throw fail(`format version ${major} is unknown`);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  if (start + headerLen > bytes.length) throw fail('the header is truncated');
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw fail(`cannot parse the header ${JSON.stringify(header.trim())}`);
  if (fortran === 'True') throw fail('the array is in Fortran order');
  const m = /^([<>|=])([a-z]\d+)$/.exec(descr);
  const type = m ? NPY_TYPES[m[2]!] : undefined;
  if (!m || !type) throw fail(`dtype '${descr}' is not supported`, 'use float32, float64 or an integer dtype');
  if (m[1] === '>' && type.bytes > 1) throw fail(`dtype '${descr}' is big-endian`, "convert with a.astype('<f4')");
  const shape = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw fail(`bad shape (${shapeText})`);
  const count = shape.reduce((a, b) => a * b, 1);
  const dataStart = start + headerLen;
  if (dataStart + count * type.bytes > bytes.length) throw fail(`holds ${bytes.length - dataStart} data bytes, shape (${shape.join(', ')}) needs ${count * type.bytes}`);
  const values = new Float64Array(count);
  for (let i = 0; i < count; i++) values[i] = type.read(view, dataStart + i * type.bytes);
  return { descr, shape, values };
}

/** Typed data of `dtype` from float64 values (rounding toward zero for integers). */
export function castValues(values: ArrayLike<number>, dtype: DataType): FeedData {
  switch (dtype) {
    case DataType.FLOAT:
      return Float32Array.from(values);
    case DataType.DOUBLE:
      return Float64Array.from(values);
    case DataType.INT32:
      return Int32Array.from(values, Math.trunc);
    case DataType.INT64:
      return BigInt64Array.from(Array.from(values, (v) => BigInt(Math.trunc(v))));
    case DataType.UINT8:
    case DataType.BOOL:
      return Uint8Array.from(values, Math.trunc);
    case DataType.INT8:
      return Int8Array.from(values, Math.trunc);
    default:
      throw new SplitcError('E_CALIB', `calibration inputs of type ${dtypeName(dtype)} are not supported`, { hint: 'supported: float32, float64, int32, int64, uint8, int8, bool' });
  }
}

/**
 * Samples from .npy files (a list of files or a folder) for a single-input model. A file
 * holds one sample (the input's dims) or a batch of them ([B, …dims[1:]] for batch-1 inputs).
 * Files are read eagerly: `onProgress` counts them.
 */
export function npySamples(files: string | string[], input: InputSpec, onProgress?: (p: { done: number; total: number }) => void): CalibSample[] {
  let list: string[];
  if (typeof files === 'string') {
    try {
      list = fs.statSync(files).isDirectory()
        ? fs.readdirSync(files).filter((n) => n.endsWith('.npy')).sort().map((n) => path.join(files, n))
        : [files];
    } catch (e) {
      throw ioError(`cannot read '${files}'`, e);
    }
  } else list = files;
  if (list.length === 0) throw new SplitcError('E_CALIB', 'no .npy files given', { hint: 'point --calib at a folder of .npy files' });
  const out: CalibSample[] = [];
  const want = input.dims;
  const per = want.reduce((a, b) => a * b, 1);
  for (const [i, file] of list.entries()) {
    let arr: NpyArray;
    try {
      arr = parseNpy(fs.readFileSync(file), path.basename(file));
    } catch (e) {
      if (e instanceof SplitcError) throw e;
      throw ioError(`cannot read '${file}'`, e);
    }
    let batch: number;
    if (arr.shape.join(',') === want.join(',')) batch = 1;
    else if (want[0] === 1 && arr.shape.length === want.length && arr.shape.slice(1).join(',') === want.slice(1).join(',')) batch = arr.shape[0]!;
    else {
      throw new SplitcError('E_CALIB', `'${path.basename(file)}' has shape (${arr.shape.join(', ')}); input '${input.name}' needs [${want.join(',')}]`, {
        hint: `save samples with that shape, or a batch [B,${want.slice(1).join(',')}]`,
      });
    }
    for (let b = 0; b < batch; b++) {
      const values = arr.values;
      out.push({
        id: batch === 1 ? path.basename(file) : `${path.basename(file)}#${b}`,
        load: () => ({ [input.name]: { dtype: input.dtype, dims: [...want], data: castValues(values.subarray(b * per, (b + 1) * per), input.dtype) } }),
      });
    }
    onProgress?.({ done: i + 1, total: list.length });
  }
  return out;
}

// ---------------------------------------------------------------- random

/** Seeded random samples: floats uniform in [lo, hi), integers in [0, 10). Warns that ranges from them are unreliable. */
export function randomSamples(inputs: readonly InputSpec[], count: number, opts: { seed?: number; lo?: number; hi?: number; ctx?: PassContext } = {}): CalibSample[] {
  opts.ctx?.warn(
    'W_CALIB_RANDOM',
    `calibrating on ${count} random samples: activation ranges, percentiles and PCA bases from random data are unreliable, and so are the fidelity figures`,
  );
  const lo = opts.lo ?? -1;
  const hi = opts.hi ?? 1;
  return Array.from({ length: count }, (_, k) => ({
    id: `random-${k}`,
    load: () => {
      let s = ((opts.seed ?? 1) * 0x9e3779b1 + k * 0x85ebca6b) >>> 0 || 1;
      const next = (): number => {
        s ^= s << 13;
        s ^= s >>> 17;
        s ^= s << 5;
        return (s >>> 0) / 4294967296;
      };
      const feeds: Feeds = {};
      for (const inp of inputs) {
        const n = inp.dims.reduce((a, b) => a * b, 1);
        const isFloat = inp.dtype === DataType.FLOAT || inp.dtype === DataType.DOUBLE;
        const values = Float64Array.from({ length: n }, () => (isFloat ? lo + (hi - lo) * next() : Math.floor(next() * 10)));
        feeds[inp.name] = { dtype: inp.dtype, dims: [...inp.dims], data: castValues(values, inp.dtype) };
      }
      return feeds;
    },
  }));
}

// ---------------------------------------------------------------- one entry point

export type CalibSource =
  | { kind: 'images'; dir: string; preprocess: ImagePreprocess; input?: string }
  | { kind: 'idx'; file: string; preprocess: ImagePreprocess; input?: string }
  | { kind: 'npy'; files: string | string[]; input?: string }
  | { kind: 'random'; count: number; seed?: number; lo?: number; hi?: number };

function pickInput(inputs: readonly InputSpec[], name: string | undefined, what: string): InputSpec {
  if (name !== undefined) {
    const found = inputs.find((i) => i.name === name);
    if (!found) throw unknownInput(name, inputs.map((i) => i.name), 'E_CALIB');
    return found;
  }
  if (inputs.length !== 1) {
    throw new SplitcError('E_CALIB', `${what} feed one input, the model has ${inputs.length} (${inputs.map((i) => i.name).join(', ')})`, {
      hint: 'name the input to feed, or calibrate with random data',
    });
  }
  return inputs[0]!;
}

/**
 * The samples of `source`. `onProgress` counts the .npy files read (the one eager part;
 * images are decoded when a sample is loaded) and always ends with done = total.
 */
export function calibrationSamples(source: CalibSource, inputs: readonly InputSpec[], ctx?: PassContext, onProgress?: (p: { done: number; total: number }) => void): CalibSample[] {
  switch (source.kind) {
    case 'images': {
      const samples = imageSamples(source.dir, pickInput(inputs, source.input, 'images'), source.preprocess);
      onProgress?.({ done: samples.length, total: samples.length });
      return samples;
    }
    case 'npy':
      return npySamples(source.files, pickInput(inputs, source.input, '.npy files'), onProgress);
    case 'idx': {
      const samples = idxSamples(source.file, pickInput(inputs, source.input, 'IDX images'), source.preprocess);
      onProgress?.({ done: samples.length, total: samples.length });
      return samples;
    }
    case 'random': {
      const samples = randomSamples(inputs, source.count, { ...(source.seed !== undefined ? { seed: source.seed } : {}), ...(source.lo !== undefined ? { lo: source.lo } : {}), ...(source.hi !== undefined ? { hi: source.hi } : {}), ...(ctx ? { ctx } : {}) });
      onProgress?.({ done: samples.length, total: samples.length });
      return samples;
    }
  }
}

/**
 * Deterministic split into calibration and held-back samples. With `groupOf`, whole groups
 * go to one side (e.g. crops of the same text line), so held-back data is really unseen.
 */
export function splitSamples<T extends { id: string }>(samples: readonly T[], opts: { heldOutFraction?: number; seed?: number; groupOf?: (s: T) => string } = {}): { calibration: T[]; heldOut: T[] } {
  const frac = opts.heldOutFraction ?? 0.5;
  const groupOf = opts.groupOf ?? ((s: T) => s.id);
  const groups = [...new Set(samples.map(groupOf))];
  // seeded Fisher–Yates over the groups
  let s = (opts.seed ?? 1) >>> 0 || 1;
  const next = (): number => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
  for (let i = groups.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [groups[i], groups[j]] = [groups[j]!, groups[i]!];
  }
  const heldGroups = new Set(groups.slice(0, Math.round(frac * groups.length)));
  return {
    calibration: samples.filter((x) => !heldGroups.has(groupOf(x))),
    heldOut: samples.filter((x) => heldGroups.has(groupOf(x))),
  };
}
