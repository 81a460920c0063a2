// A KServe v2 client on `fetch`, for splitc's server and for Triton / KServe deployments.
// Platform-neutral and dependency-free apart from kserve.ts: generated edge bundles copy the
// compiled client.js and kserve.js and run them in browsers and in Node.

import {
  type ErrorBody,
  type KServeDatatype,
  type ModelMetadata,
  type NumericTensorData,
  type OrtTensorType,
  type TensorData,
  type WireTensor,
  allocTensorData,
  bytesToStrings,
  concatChunks,
  DATATYPES,
  decodeInferResponse,
  elementCount,
  encodeInferRequest,
  floatToHalfBits,
  HEADER_LENGTH_HEADER,
  KServeError,
  normalizeDatatype,
  parseHeaderLength,
  stringsToBytes,
} from './kserve.js';
import { isNode, nodeFetch } from './node-transport.js';

/** An input tensor: `dtype` is an onnxruntime name ('float32') or a KServe name ('FP32'). */
export interface ClientTensor {
  dtype: string;
  dims: readonly number[];
  /**
   * A typed array of the element type (FP16 as Uint16Array bits or Float16Array, BOOL as
   * Uint8Array, INT64 as BigInt64Array), string[] / Uint8Array[] for BYTES, or plain numbers.
   */
  data: NumericTensorData | readonly string[] | readonly Uint8Array[] | ArrayLike<number> | ArrayLike<bigint> | readonly boolean[];
}

/** An output tensor, ready for `new ort.Tensor(out.dtype, out.data, out.dims)`. */
export interface ClientOutput {
  dtype: OrtTensorType;
  datatype: KServeDatatype;
  dims: number[];
  /** Typed array (FP16/BF16 as Uint16Array bits), or strings for BYTES. */
  data: NumericTensorData | string[];
}

export interface KServeClientOptions {
  /** Base URL of the server, e.g. http://127.0.0.1:8000 (the protocol's /v2 is appended). */
  endpoint: string;
  token?: string;
  model: string;
  version?: string;
  /** Transport (default: node:http with keep-alive in Node, the global fetch elsewhere). */
  fetch?: typeof fetch;
  /** Use the binary tensor data extension (default true). */
  binary?: boolean;
  /** Compress request bodies; needs CompressionStream (sent uncompressed where it is missing). */
  compress?: 'gzip' | 'deflate' | false;
  headers?: Record<string, string>;
  /** Abort a call after this many milliseconds. */
  timeoutMs?: number;
}

export interface InferCallOptions {
  /** Return only these outputs (default: all). */
  outputs?: string[];
  id?: string;
  signal?: AbortSignal;
}

export interface KServeClient {
  infer(inputs: Record<string, ClientTensor>, opts?: InferCallOptions): Promise<Record<string, ClientOutput>>;
  metadata(): Promise<ModelMetadata>;
  ready(): Promise<boolean>;
}

/** A failed call: `status` is the HTTP status (0 when no answer came), `code` a stable code. */
export class KServeClientError extends Error {
  readonly status: number;
  readonly code: string;
  readonly body: ErrorBody | undefined;
  constructor(status: number, code: string, message: string, body?: ErrorBody, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'KServeClientError';
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

const TYPED: Partial<Record<KServeDatatype, { new (n: number): NumericTensorData }>> = {
  BOOL: Uint8Array,
  UINT8: Uint8Array,
  INT8: Int8Array,
  UINT16: Uint16Array,
  INT16: Int16Array,
  UINT32: Uint32Array,
  INT32: Int32Array,
  UINT64: BigUint64Array,
  INT64: BigInt64Array,
  FP16: Uint16Array,
  BF16: Uint16Array,
  FP32: Float32Array,
  FP64: Float64Array,
};

function toWireTensor(name: string, t: ClientTensor): WireTensor {
  const datatype = normalizeDatatype(t.dtype);
  if (!datatype) throw new KServeClientError(0, 'E_REQUEST_DTYPE', `input "${name}": unknown dtype ${JSON.stringify(t.dtype)}`);
  const shape = [...t.dims];
  let count: number;
  try {
    count = elementCount(shape, `input "${name}"`);
  } catch (e) {
    throw new KServeClientError(0, (e as KServeError).code, (e as Error).message);
  }
  let data: TensorData;
  const d = t.data as unknown;
  if (datatype === 'BYTES') {
    const arr = d as readonly (string | Uint8Array)[];
    data = arr.every((x) => typeof x === 'string') ? stringsToBytes(arr as string[]) : (arr as Uint8Array[]).slice();
  } else {
    const F16 = (globalThis as { Float16Array?: { new (): unknown } }).Float16Array;
    const ctor = TYPED[datatype]!;
    if (datatype === 'FP16' && F16 && d instanceof F16) {
      const a = d as unknown as { buffer: ArrayBufferLike; byteOffset: number; length: number };
      data = new Uint16Array(a.buffer, a.byteOffset, a.length);
    } else if (d instanceof ctor && !(datatype === 'FP16' && !(d instanceof Uint16Array))) {
      data = d as NumericTensorData;
    } else {
      // Plain numbers (or another typed array): convert element by element.
      const src = d as ArrayLike<number | bigint | boolean>;
      const out = allocTensorData(datatype, src.length);
      const big = DATATYPES[datatype].bytes === 8 && datatype !== 'FP64';
      for (let i = 0; i < src.length; i++) {
        const v = src[i]!;
        if (big) (out as BigInt64Array)[i] = typeof v === 'bigint' ? v : BigInt(Math.trunc(Number(v)));
        else if (datatype === 'FP16') (out as Uint16Array)[i] = floatToHalfBits(Number(v));
        else (out as Float32Array)[i] = Number(v);
      }
      data = out;
    }
  }
  if (data.length !== count) {
    throw new KServeClientError(0, 'E_REQUEST_DATA', `input "${name}": ${data.length} elements but dims [${shape.join(',')}] need ${count}`);
  }
  return { name, datatype, shape, data };
}

async function compressBody(data: Uint8Array, format: 'gzip' | 'deflate'): Promise<Uint8Array | undefined> {
  const CS = (globalThis as { CompressionStream?: new (f: string) => TransformStream<Uint8Array, Uint8Array> }).CompressionStream;
  if (!CS) return undefined;
  const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new CS(format));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

export function createKServeClient(opts: KServeClientOptions): KServeClient {
  const doFetch: typeof fetch = opts.fetch ?? (isNode() ? nodeFetch : globalThis.fetch.bind(globalThis));
  const base = opts.endpoint.replace(/\/+$/, '');
  const modelPath = `${base}/v2/models/${encodeURIComponent(opts.model)}${opts.version !== undefined ? `/versions/${encodeURIComponent(opts.version)}` : ''}`;
  const binary = opts.binary ?? true;
  const compress = opts.compress ?? false;

  const call = async (url: string, init: RequestInit, signal?: AbortSignal): Promise<Response> => {
    const headers: Record<string, string> = { ...(opts.headers ?? {}), ...((init.headers as Record<string, string>) ?? {}) };
    if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
    const signals = [signal, opts.timeoutMs !== undefined ? AbortSignal.timeout(opts.timeoutMs) : undefined].filter((s): s is AbortSignal => !!s);
    const anySignal = signals.length > 1 && 'any' in AbortSignal ? AbortSignal.any(signals) : signals[0];
    let res: Response;
    try {
      res = await doFetch(url, { ...init, headers, ...(anySignal ? { signal: anySignal } : {}) });
    } catch (e) {
      throw new KServeClientError(0, 'E_NETWORK', `no answer from ${url}: ${(e as Error).message}`, undefined, e);
    }
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      let body: ErrorBody | undefined;
      try {
        const parsed = JSON.parse(text) as unknown;
        if (parsed && typeof parsed === 'object' && typeof (parsed as ErrorBody).error === 'string') body = parsed as ErrorBody;
      } catch {
        // not JSON: reported as E_HTTP below
      }
      const code = body?.code ?? 'E_HTTP';
      const msg = body ? body.error : `HTTP ${res.status} ${res.statusText}${text ? `: ${text.slice(0, 200)}` : ''}`;
      throw new KServeClientError(res.status, code, `${url} answered ${res.status} ${code}: ${msg}`, body);
    }
    return res;
  };

  return {
    async infer(inputs, callOpts = {}) {
      const tensors = Object.entries(inputs).map(([name, t]) => toWireTensor(name, t));
      const encoded = encodeInferRequest(tensors, {
        binary,
        ...(callOpts.outputs ? { outputs: callOpts.outputs } : {}),
        ...(callOpts.id !== undefined ? { id: callOpts.id } : {}),
      });
      let body = concatChunks(encoded.chunks);
      const headers: Record<string, string> = { 'Content-Type': encoded.contentType };
      if (encoded.jsonLength !== undefined) headers[HEADER_LENGTH_HEADER] = String(encoded.jsonLength);
      if (compress) {
        const packed = await compressBody(body, compress);
        if (packed) {
          body = packed;
          headers['Content-Encoding'] = compress;
        }
      }
      const res = await call(`${modelPath}/infer`, { method: 'POST', headers, body: body as Uint8Array<ArrayBuffer> }, callOpts.signal);
      const bytes = new Uint8Array(await res.arrayBuffer());
      let outputs: WireTensor[];
      try {
        const headerLength = parseHeaderLength(res.headers.get(HEADER_LENGTH_HEADER), bytes.length);
        outputs = decodeInferResponse(bytes, headerLength).outputs;
      } catch (e) {
        if (e instanceof KServeError) throw new KServeClientError(res.status, 'E_RESPONSE_MALFORMED', `malformed infer response: ${e.message}`);
        throw e;
      }
      const result: Record<string, ClientOutput> = {};
      for (const o of outputs) {
        result[o.name] = {
          dtype: DATATYPES[o.datatype].ort,
          datatype: o.datatype,
          dims: o.shape,
          data: o.datatype === 'BYTES' ? bytesToStrings(o.data as Uint8Array[]) : (o.data as NumericTensorData),
        };
      }
      return result;
    },
    async metadata() {
      const res = await call(modelPath, { method: 'GET' });
      return (await res.json()) as ModelMetadata;
    },
    async ready() {
      try {
        await call(`${modelPath}/ready`, { method: 'GET' });
        return true;
      } catch (e) {
        if (e instanceof KServeClientError && e.status !== 0 && e.status !== 401 && e.status !== 403) return false;
        throw e;
      }
    },
  };
}
