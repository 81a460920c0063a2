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
import { type Exchange, type ExchangeInit, isNode, nodeExchange } from './node-transport.js';

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

/** An answer with the server's own timings (ms) from its Server-Timing header, when it sent one. */
export interface TimedAnswer {
  outputs: Record<string, ClientOutput>;
  /** e.g. { queue: 0.01, run: 3.2 } from splitc's server; empty when the header is absent. */
  serverTiming: Record<string, number>;
}

export interface KServeClient {
  infer(inputs: Record<string, ClientTensor>, opts?: InferCallOptions): Promise<Record<string, ClientOutput>>;
  inferWithTimings(inputs: Record<string, ClientTensor>, opts?: InferCallOptions): Promise<TimedAnswer>;
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

/** Durations (ms) from a W3C Server-Timing header: `name;dur=1.5;desc="x", other;dur=2`. */
export function parseServerTiming(value: string | null): Record<string, number> {
  const out: Record<string, number> = {};
  if (!value) return out;
  for (const entry of value.split(',')) {
    const [name, ...params] = entry.split(';').map((p) => p.trim());
    if (!name) continue;
    for (const p of params) {
      const m = /^dur\s*=\s*"?([0-9.eE+-]+)"?$/.exec(p);
      if (m && Number.isFinite(Number(m[1]))) out[name] = Number(m[1]);
    }
  }
  return out;
}

/**
 * `fetch` rejects with a bare TypeError ("Failed to fetch", "fetch failed", "Load failed") for
 * every network failure, and a browser gives a page no more detail when CORS blocked the
 * answer: the two usual causes are named, with the server flag that allows an origin.
 */
class FetchNetworkError extends Error {
  override readonly name = 'FetchNetworkError';
  constructor(cause: TypeError) {
    super(
      `${cause.message} (the server may be down, or, in a browser, it does not allow this page's origin by CORS: ` +
        'start it with --cors-origin <origin>, as in `splitc serve DIR --cors-origin <origin>` or `node cloud/server.js --cors-origin <origin>`)',
      { cause },
    );
  }
}

/** An exchange over a `fetch`: the body read whole. */
function fetchExchange(f: typeof fetch): (url: string, init: ExchangeInit) => Promise<Exchange> {
  return async (url, init) => {
    let res: Response;
    try {
      res = await f(url, init as RequestInit);
    } catch (e) {
      // An abort or timeout is a DOMException, not a TypeError: reported as it is.
      throw e instanceof TypeError ? new FetchNetworkError(e) : e;
    }
    const body = new Uint8Array(await res.arrayBuffer());
    return { status: res.status, statusText: res.statusText, header: (n) => res.headers.get(n), body };
  };
}

export function createKServeClient(opts: KServeClientOptions): KServeClient {
  const exchange = opts.fetch ? fetchExchange(opts.fetch) : isNode() ? nodeExchange : fetchExchange(globalThis.fetch.bind(globalThis));
  const base = opts.endpoint.replace(/\/+$/, '');
  const modelPath = `${base}/v2/models/${encodeURIComponent(opts.model)}${opts.version !== undefined ? `/versions/${encodeURIComponent(opts.version)}` : ''}`;
  const binary = opts.binary ?? true;
  const compress = opts.compress ?? false;

  const call = async (url: string, init: ExchangeInit, signal?: AbortSignal): Promise<Exchange> => {
    const headers: Record<string, string> = { ...(opts.headers ?? {}), ...(init.headers ?? {}) };
    if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
    const signals = [signal, opts.timeoutMs !== undefined ? AbortSignal.timeout(opts.timeoutMs) : undefined].filter((s): s is AbortSignal => !!s);
    const anySignal = signals.length > 1 && 'any' in AbortSignal ? AbortSignal.any(signals) : signals[0];
    let res: Exchange;
    try {
      res = await exchange(url, { ...init, headers, ...(anySignal ? { signal: anySignal } : {}) });
    } catch (e) {
      throw new KServeClientError(0, 'E_NETWORK', `no answer from ${url}: ${(e as Error).message}`, undefined, e);
    }
    if (res.status < 200 || res.status > 299) {
      const text = new TextDecoder().decode(res.body);
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

  const inferWithTimings = async (inputs: Record<string, ClientTensor>, callOpts: InferCallOptions = {}): Promise<TimedAnswer> => {
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
    const res = await call(`${modelPath}/infer`, { method: 'POST', headers, body }, callOpts.signal);
    const bytes = res.body;
    let outputs: WireTensor[];
    try {
      const headerLength = parseHeaderLength(res.header(HEADER_LENGTH_HEADER), bytes.length);
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
    return { outputs: result, serverTiming: parseServerTiming(res.header('Server-Timing')) };
  };

  return {
    inferWithTimings,
    async infer(inputs, callOpts) {
      return (await inferWithTimings(inputs, callOpts)).outputs;
    },
    async metadata() {
      const res = await call(modelPath, { method: 'GET' });
      return JSON.parse(new TextDecoder().decode(res.body)) as ModelMetadata;
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
