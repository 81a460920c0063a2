// The KServe v2 / Open Inference Protocol wire format: request/response types, JSON tensors
// and the binary tensor data extension. Platform-neutral (no imports at all) so that the
// compiled file can be copied into browser and Node edge bundles next to client.js.

// ---------------------------------------------------------------------------------------
// Datatypes

/** Datatype names of the v2 protocol. */
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

export type NumericTensorData =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | BigUint64Array
  | BigInt64Array
  | Float32Array
  | Float64Array;

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

/** One row per datatype: the single place that knows sizes and the ONNX / ort names. */
export const DATATYPES: Readonly<Record<KServeDatatype, DatatypeInfo>> = {
  BOOL: { bytes: 1, ort: 'bool', onnx: 9 },
  UINT8: { bytes: 1, ort: 'uint8', onnx: 2 },
  UINT16: { bytes: 2, ort: 'uint16', onnx: 4 },
  UINT32: { bytes: 4, ort: 'uint32', onnx: 12 },
  UINT64: { bytes: 8, ort: 'uint64', onnx: 13 },
  INT8: { bytes: 1, ort: 'int8', onnx: 3 },
  INT16: { bytes: 2, ort: 'int16', onnx: 5 },
  INT32: { bytes: 4, ort: 'int32', onnx: 6 },
  INT64: { bytes: 8, ort: 'int64', onnx: 7 },
  FP16: { bytes: 2, ort: 'float16', onnx: 10 },
  FP32: { bytes: 4, ort: 'float32', onnx: 1 },
  FP64: { bytes: 8, ort: 'float64', onnx: 11 },
  BF16: { bytes: 2, ort: 'bfloat16', onnx: 16 },
  BYTES: { bytes: 0, ort: 'string', onnx: 8 },
};

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

// ---------------------------------------------------------------------------------------
// Protocol objects (JSON shapes from the v2 predict protocol)

export type ParameterValue = string | number | boolean;
export type Parameters = Record<string, ParameterValue>;

/** JSON tensor data: row-major, flat or nested arrays. */
export type JsonTensorData = unknown[];

export interface RequestInput {
  name: string;
  shape: number[];
  datatype: KServeDatatype;
  parameters?: Parameters;
  data?: JsonTensorData;
}

export interface RequestOutput {
  name: string;
  parameters?: Parameters;
}

export interface InferRequest {
  id?: string;
  parameters?: Parameters;
  inputs: RequestInput[];
  outputs?: RequestOutput[];
}

export interface ResponseOutput {
  name: string;
  shape: number[];
  datatype: KServeDatatype;
  parameters?: Parameters;
  data?: JsonTensorData;
}

export interface InferResponse {
  model_name: string;
  model_version?: string;
  id?: string;
  parameters?: Parameters;
  outputs: ResponseOutput[];
}

/** Input/output metadata; -1 marks a dynamic dimension. */
export interface TensorMetadata {
  name: string;
  datatype: KServeDatatype;
  shape: number[];
}

export interface ModelMetadata {
  name: string;
  versions?: string[];
  platform: string;
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
}

export interface ServerMetadata {
  name: string;
  version: string;
  extensions: string[];
}

/** Error body: `error` as in the protocol, plus splitc's stable `code`. */
export interface ErrorBody {
  error: string;
  code?: string;
}

/** The name of the HTTP header that carries the JSON part's length in a binary body. */
export const HEADER_LENGTH_HEADER = 'Inference-Header-Content-Length';

// ---------------------------------------------------------------------------------------
// Errors

/** Error codes that travel on the wire (a subset of splitc's ErrorCode). */
export type WireErrorCode =
  | 'E_REQUEST_MALFORMED' // not JSON, not an infer request, bad binary framing
  | 'E_REQUEST_INPUT' // unknown, missing or duplicate input
  | 'E_REQUEST_OUTPUT' // unknown or duplicate requested output
  | 'E_REQUEST_DTYPE' // unknown datatype or not the model's datatype
  | 'E_REQUEST_SHAPE' // invalid shape or not the model's shape
  | 'E_REQUEST_DATA' // data does not match the shape / datatype
  | 'E_REQUEST_ENCODING' // unsupported or corrupt Content-Encoding
  | 'E_BODY_TOO_LARGE' // request body over the limit (on the wire or decompressed)
  | 'E_UNAUTHORIZED' // missing or wrong bearer token
  | 'E_NOT_FOUND' // unknown route, model or version
  | 'E_METHOD' // method not allowed on this route
  | 'E_OVERLOADED' // queue full
  | 'E_SHUTTING_DOWN' // server is closing
  | 'E_TIMEOUT' // request not received in time (server); no complete answer in time (client)
  | 'E_INFERENCE' // the runtime failed on a valid request
  | 'E_HTTP' // (client) a non-2xx answer without a JSON error body
  | 'E_NETWORK' // (client) the request did not get an answer
  | 'E_RESPONSE_MALFORMED'; // (client) the answer is not a valid infer response

/** A protocol error with the HTTP status it maps to. */
export class KServeError extends Error {
  readonly status: number;
  readonly code: WireErrorCode | string;
  constructor(status: number, code: WireErrorCode | string, message: string, opts: { cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'KServeError';
    this.status = status;
    this.code = code;
  }
  toJSON(): ErrorBody {
    return { error: this.message, code: this.code };
  }
}

function bad(code: WireErrorCode, message: string): KServeError {
  return new KServeError(400, code, message);
}

// ---------------------------------------------------------------------------------------
// Tensors

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

function typedArrayFor(dt: KServeDatatype, buffer: ArrayBufferLike, byteOffset: number, length: number): NumericTensorData {
  switch (dt) {
    case 'BOOL':
    case 'UINT8':
      return new Uint8Array(buffer, byteOffset, length);
    case 'INT8':
      return new Int8Array(buffer, byteOffset, length);
    case 'UINT16':
    case 'FP16':
    case 'BF16':
      return new Uint16Array(buffer, byteOffset, length);
    case 'INT16':
      return new Int16Array(buffer, byteOffset, length);
    case 'UINT32':
      return new Uint32Array(buffer, byteOffset, length);
    case 'INT32':
      return new Int32Array(buffer, byteOffset, length);
    case 'UINT64':
      return new BigUint64Array(buffer, byteOffset, length);
    case 'INT64':
      return new BigInt64Array(buffer, byteOffset, length);
    case 'FP32':
      return new Float32Array(buffer, byteOffset, length);
    case 'FP64':
      return new Float64Array(buffer, byteOffset, length);
    case 'BYTES':
      throw new Error('BYTES has no typed array');
  }
}

/** A zero-filled typed array for a fixed-size datatype. */
export function allocTensorData(dt: KServeDatatype, length: number): NumericTensorData {
  const bytes = DATATYPES[dt].bytes;
  return typedArrayFor(dt, new ArrayBuffer(length * bytes), 0, length);
}

// FP16 / BF16 <-> float conversions (round to nearest even).
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function floatToHalfBits(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++; // a carry into the exponent is the right answer
  return sign | h;
}

export function halfBitsToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return sign * f * 2 ** -24;
  if (e === 0x1f) return f ? NaN : sign * Infinity;
  return sign * (1 + f / 1024) * 2 ** (e - 15);
}

export function floatToBf16Bits(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

export function bf16BitsToFloat(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0]!;
}

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

// ---------------------------------------------------------------------------------------
// Bodies

/** An encoded body: chunks to send in order, and the JSON part's length when binary. */
export interface EncodedBody {
  chunks: Uint8Array[];
  byteLength: number;
  /** Value of Inference-Header-Content-Length; undefined for a pure JSON body. */
  jsonLength: number | undefined;
  contentType: string;
}

export function concatChunks(chunks: readonly Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  let n = 0;
  for (const c of chunks) n += c.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

function finishBody(jsonText: string, binaries: Uint8Array[]): EncodedBody {
  const json = utf8Encoder.encode(jsonText);
  if (binaries.length === 0) return { chunks: [json], byteLength: json.length, jsonLength: undefined, contentType: 'application/json' };
  let byteLength = json.length;
  for (const b of binaries) byteLength += b.length;
  return { chunks: [json, ...binaries], byteLength, jsonLength: json.length, contentType: 'application/octet-stream' };
}

function paramsText(p: Parameters | undefined): string {
  return p && Object.keys(p).length ? `,"parameters":${JSON.stringify(p)}` : '';
}

export interface EncodeRequestOptions {
  /** Send input data in the binary extension (default true). */
  binary?: boolean;
  /** Ask for outputs in binary (`binary_data_output`; default: same as `binary`). */
  binaryOutputs?: boolean;
  /** Restrict / order the outputs returned. */
  outputs?: string[];
  id?: string;
  parameters?: Parameters;
}

export function encodeInferRequest(inputs: readonly WireTensor[], opts: EncodeRequestOptions = {}): EncodedBody {
  const binary = opts.binary ?? true;
  const binaryOutputs = opts.binaryOutputs ?? binary;
  const binaries: Uint8Array[] = [];
  const parts = inputs.map((t) => {
    const head = `{"name":${JSON.stringify(t.name)},"shape":${JSON.stringify(t.shape)},"datatype":"${t.datatype}"`;
    if (binary) {
      const b = tensorDataToBinary(t.datatype, t.data);
      binaries.push(b);
      return `${head},"parameters":{"binary_data_size":${b.length}}}`;
    }
    return `${head},"data":${tensorDataToJsonText(t.datatype, t.data)}}`;
  });
  const params: Parameters = { ...(opts.parameters ?? {}) };
  if (binaryOutputs) params.binary_data_output = true;
  let text = '{';
  if (opts.id !== undefined) text += `"id":${JSON.stringify(opts.id)},`;
  text += `"inputs":[${parts.join(',')}]`;
  if (opts.outputs) {
    text += `,"outputs":${JSON.stringify(opts.outputs.map((name) => (binaryOutputs ? { name, parameters: { binary_data: true } } : { name })))}`;
  }
  text += paramsText(params) + '}';
  return finishBody(text, binaries);
}

export interface EncodeResponseOptions {
  modelName: string;
  modelVersion?: string;
  id?: string;
  /** Which outputs go binary: all (true), none (false) or by name. */
  binaryOutputs: boolean | ReadonlySet<string>;
}

export function encodeInferResponse(outputs: readonly WireTensor[], opts: EncodeResponseOptions): EncodedBody {
  const binaries: Uint8Array[] = [];
  const parts = outputs.map((t) => {
    const head = `{"name":${JSON.stringify(t.name)},"datatype":"${t.datatype}","shape":${JSON.stringify(t.shape)}`;
    const asBinary = opts.binaryOutputs === true || (opts.binaryOutputs !== false && opts.binaryOutputs.has(t.name));
    if (asBinary) {
      const b = tensorDataToBinary(t.datatype, t.data);
      binaries.push(b);
      return `${head},"parameters":{"binary_data_size":${b.length}}}`;
    }
    return `${head},"data":${tensorDataToJsonText(t.datatype, t.data)}}`;
  });
  let text = `{"model_name":${JSON.stringify(opts.modelName)}`;
  if (opts.modelVersion !== undefined) text += `,"model_version":${JSON.stringify(opts.modelVersion)}`;
  if (opts.id !== undefined) text += `,"id":${JSON.stringify(opts.id)}`;
  text += `,"outputs":[${parts.join(',')}]}`;
  return finishBody(text, binaries);
}

/** Parses the value of Inference-Header-Content-Length (undefined when absent). */
export function parseHeaderLength(value: string | null | undefined, bodyLength: number): number | undefined {
  if (value === undefined || value === null) return undefined;
  const v = value.trim();
  if (!/^\d{1,15}$/.test(v)) throw bad('E_REQUEST_MALFORMED', `${HEADER_LENGTH_HEADER} must be a non-negative integer, got ${JSON.stringify(value.slice(0, 40))}`);
  const n = Number(v);
  if (n > bodyLength) throw bad('E_REQUEST_MALFORMED', `${HEADER_LENGTH_HEADER} is ${n} but the body has only ${bodyLength} bytes`);
  if (n === 0) throw bad('E_REQUEST_MALFORMED', `${HEADER_LENGTH_HEADER} is 0: the JSON header cannot be empty`);
  return n;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function parseJsonPart(body: Uint8Array, length: number): unknown {
  const code: WireErrorCode = 'E_REQUEST_MALFORMED';
  let text: string;
  try {
    text = strictUtf8.decode(body.subarray(0, length));
  } catch {
    throw bad(code, 'the JSON part is not valid UTF-8');
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw bad(code, `the JSON part is not valid JSON: ${(e as Error).message.slice(0, 120)}`);
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkParameters(v: unknown, what: string): Parameters | undefined {
  const code: WireErrorCode = 'E_REQUEST_MALFORMED';
  if (v === undefined) return undefined;
  if (!isPlainObject(v)) throw bad(code, `${what}: "parameters" must be an object`);
  for (const [k, p] of Object.entries(v)) {
    if (typeof p !== 'string' && typeof p !== 'number' && typeof p !== 'boolean') {
      throw bad(code, `${what}: parameter "${k}" must be a string, number or boolean`);
    }
  }
  return v as Parameters;
}

function binarySize(params: Parameters | undefined, what: string): number | undefined {
  const code: WireErrorCode = 'E_REQUEST_MALFORMED';
  const s = params?.binary_data_size;
  if (s === undefined) return undefined;
  if (typeof s !== 'number' || !Number.isSafeInteger(s) || s < 0) throw bad(code, `${what}: binary_data_size must be a non-negative integer`);
  return s;
}

interface RawTensor {
  name: string;
  shape: number[];
  datatype: KServeDatatype;
  parameters: Parameters | undefined;
  data: unknown;
}

function checkTensorObject(v: unknown, i: number, kind: 'input' | 'output'): RawTensor {
  const what = `${kind} ${i}`;
  if (!isPlainObject(v)) throw bad('E_REQUEST_MALFORMED', `${what} must be an object`);
  if (typeof v.name !== 'string' || v.name === '') throw bad('E_REQUEST_MALFORMED', `${what}: "name" must be a non-empty string`);
  const named = `${kind} "${v.name.slice(0, 100)}"`;
  if (!Array.isArray(v.shape)) throw bad('E_REQUEST_SHAPE', `${named}: "shape" must be an array`);
  if (!isKServeDatatype(v.datatype)) throw bad('E_REQUEST_DTYPE', `${named}: unknown datatype ${JSON.stringify(v.datatype)?.slice(0, 40)}`);
  const parameters = checkParameters(v.parameters, named);
  return { name: v.name, shape: v.shape as number[], datatype: v.datatype, parameters, data: v.data };
}

/** Reads the tensors of a decoded JSON part (inputs or outputs) with their binary data. */
function readTensors(raw: RawTensor[], body: Uint8Array, jsonLength: number, kind: 'input' | 'output'): WireTensor[] {
  let off = jsonLength;
  const tensors = raw.map((t) => {
    const what = `${kind} "${t.name.slice(0, 100)}"`;
    const count = elementCount(t.shape, what);
    const size = binarySize(t.parameters, what);
    if (size !== undefined) {
      if (t.data !== undefined) throw bad('E_REQUEST_DATA', `${what}: has both "data" and binary_data_size`);
      if (off + size > body.length) {
        throw bad(
          'E_REQUEST_MALFORMED',
          `${what}: binary data (${size} bytes at offset ${off}) runs past the end of the body (${body.length} bytes): truncated payload or a wrong binary_data_size`,
        );
      }
      const bytes = body.subarray(off, off + size);
      off += size;
      return { name: t.name, datatype: t.datatype, shape: t.shape, data: tensorDataFromBinary(t.datatype, bytes, count, what) };
    }
    if (t.data === undefined) throw bad('E_REQUEST_DATA', `${what}: has neither "data" nor binary_data_size`);
    return { name: t.name, datatype: t.datatype, shape: t.shape, data: tensorDataFromJson(t.datatype, t.data, count, what) };
  });
  if (off !== body.length) {
    throw bad(
      'E_REQUEST_MALFORMED',
      `the body has ${body.length - off} bytes after the last tensor's binary data: ${HEADER_LENGTH_HEADER} or a binary_data_size is wrong`,
    );
  }
  return tensors;
}

export interface DecodedRequest {
  request: InferRequest;
  /** Inputs in request order, data decoded. */
  inputs: WireTensor[];
  /** Outputs to return (undefined: all), and which of them go binary. */
  outputs: string[] | undefined;
  binaryOutputs: boolean | Set<string>;
}

/** An input as the request's JSON header declares it, before its data is decoded. */
export interface InputHeader {
  name: string;
  datatype: KServeDatatype;
  /** Unchecked: elementCount validates it. */
  shape: unknown[];
}

function requestHeader(body: Uint8Array, jsonLength: number): { obj: Record<string, unknown>; raw: RawTensor[] } {
  const code: WireErrorCode = 'E_REQUEST_MALFORMED';
  const obj = parseJsonPart(body, jsonLength);
  if (!isPlainObject(obj)) throw bad(code, 'the request must be a JSON object');
  if (obj.id !== undefined && typeof obj.id !== 'string') throw bad(code, '"id" must be a string');
  if (!Array.isArray(obj.inputs) || obj.inputs.length === 0) throw bad(code, '"inputs" must be a non-empty array');
  const raw = obj.inputs.map((v, i) => checkTensorObject(v, i, 'input'));
  const seen = new Set<string>();
  for (const t of raw) {
    if (seen.has(t.name)) throw bad('E_REQUEST_INPUT', `input "${t.name.slice(0, 100)}" appears twice`);
    seen.add(t.name);
  }
  return { obj, raw };
}

/**
 * The inputs a binary request declares, read from its JSON header alone (the first
 * `headerLength` bytes), so a server can refuse a request by its declared size before the
 * rest of the body arrives. Throws KServeError (400) like decodeInferRequest.
 */
export function decodeRequestInputs(header: Uint8Array): InputHeader[] {
  return requestHeader(header, header.length).raw;
}

/**
 * Decodes a request body. `headerLength` is the Inference-Header-Content-Length value
 * (parse it with parseHeaderLength); undefined means the whole body is JSON.
 * Checks everything that can be checked without the model; `checkInputs` sees the declared
 * inputs before their data is decoded (a server's size limits). Throws KServeError (400).
 */
export function decodeInferRequest(
  body: Uint8Array,
  headerLength: number | undefined,
  opts: { checkInputs?: (inputs: readonly InputHeader[]) => void } = {},
): DecodedRequest {
  const code: WireErrorCode = 'E_REQUEST_MALFORMED';
  const jsonLength = headerLength ?? body.length;
  const { obj, raw } = requestHeader(body, jsonLength);
  const parameters = checkParameters(obj.parameters, 'request');
  opts.checkInputs?.(raw);
  const inputs = readTensors(raw, body, jsonLength, 'input');

  let outputs: string[] | undefined;
  const binaryNamed = new Set<string>();
  // an empty list requests no particular output: all are returned, as when "outputs" is absent
  if (obj.outputs !== undefined && !(Array.isArray(obj.outputs) && obj.outputs.length === 0)) {
    if (!Array.isArray(obj.outputs)) throw bad(code, '"outputs" must be an array');
    outputs = obj.outputs.map((o, i) => {
      if (!isPlainObject(o) || typeof o.name !== 'string') throw bad(code, `output ${i} must be an object with a string "name"`);
      const p = checkParameters(o.parameters, `output "${o.name.slice(0, 100)}"`);
      if (p?.binary_data !== undefined && typeof p.binary_data !== 'boolean') throw bad(code, `output "${o.name.slice(0, 100)}": binary_data must be a boolean`);
      if (p?.binary_data === true) binaryNamed.add(o.name);
      return o.name;
    });
    if (new Set(outputs).size !== outputs.length) throw bad('E_REQUEST_OUTPUT', 'an output is requested twice');
  }
  const bdo = parameters?.binary_data_output;
  if (bdo !== undefined && typeof bdo !== 'boolean') throw bad(code, 'binary_data_output must be a boolean');
  const binaryOutputs: boolean | Set<string> = bdo === true ? true : binaryNamed.size ? binaryNamed : false;

  const request: InferRequest = {
    ...(typeof obj.id === 'string' ? { id: obj.id } : {}),
    ...(parameters ? { parameters } : {}),
    inputs: raw.map((t) => ({ name: t.name, shape: t.shape, datatype: t.datatype, ...(t.parameters ? { parameters: t.parameters } : {}) })),
    ...(outputs ? { outputs: outputs.map((name) => ({ name })) } : {}),
  };
  return { request, inputs, outputs, binaryOutputs };
}

export interface DecodedResponse {
  response: InferResponse;
  outputs: WireTensor[];
}

/** Decodes a response body; throws KServeError with code E_RESPONSE_MALFORMED. */
export function decodeInferResponse(body: Uint8Array, headerLength: number | undefined): DecodedResponse {
  const code: WireErrorCode = 'E_RESPONSE_MALFORMED';
  const wrapStatus = <T>(f: () => T): T => {
    try {
      return f();
    } catch (e) {
      if (e instanceof KServeError) throw new KServeError(502, code, e.message);
      throw e;
    }
  };
  return wrapStatus(() => {
    const jsonLength = headerLength ?? body.length;
    const obj = parseJsonPart(body, jsonLength);
    if (!isPlainObject(obj)) throw bad(code, 'the response must be a JSON object');
    if (typeof obj.model_name !== 'string') throw bad(code, '"model_name" must be a string');
    if (!Array.isArray(obj.outputs)) throw bad(code, '"outputs" must be an array');
    const raw = obj.outputs.map((v, i) => checkTensorObject(v, i, 'output'));
    const outputs = readTensors(raw, body, jsonLength, 'output');
    const response: InferResponse = {
      model_name: obj.model_name,
      ...(typeof obj.model_version === 'string' ? { model_version: obj.model_version } : {}),
      ...(typeof obj.id === 'string' ? { id: obj.id } : {}),
      outputs: raw.map((t) => ({ name: t.name, shape: t.shape, datatype: t.datatype, ...(t.parameters ? { parameters: t.parameters } : {}) })),
    };
    return { response, outputs };
  });
}
