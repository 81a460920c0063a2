// A KServe v2 client on `fetch`, for splitc's server and for Triton / KServe deployments.
// Platform-neutral and dependency-free apart from kserve.ts (and the import-free IR leaves it
// reads): generated edge bundles copy that closure and run it in browsers and in Node.

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
  datatypeArray,
  decodeInferResponse,
  elementCount,
  encodeInferRequest,
  HEADER_LENGTH_HEADER,
  KServeError,
  normalizeDatatype,
  parseHeaderLength,
  stringsToBytes,
} from './kserve.js';
import { floatToHalfBits } from '../ir/half.js';
import { type Exchange, type ExchangeInit, isNode, nodeExchange, ResponseTooLargeError } from './node-transport.js';

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
  /**
   * Abort each attempt of a call after this many milliseconds (default 30000, DEFAULT_TIMEOUT_MS):
   * a server that never answers, or stalls in the middle of its answer, fails with E_TIMEOUT.
   * 0 or Infinity waits forever.
   */
  timeoutMs?: number;
  /**
   * Retry a call that failed with 503 (the server's queue is full, or it is restarting) or whose
   * connection was refused or reset before any answer began: up to `max` more attempts (default 3),
   * waiting the server's Retry-After when it sent one, otherwise a random time up to
   * `baseMs`·2^attempt (default 200) capped at `maxMs` (default 10000; a Retry-After longer than
   * that ends the retries). Other 4xx/5xx answers and timeouts are never retried. 0 disables.
   */
  retries?: number | RetryOptions;
  /**
   * Refuse an infer answer longer than this (checked from Content-Length and while reading).
   * Default: derived from `declaredOutputs` when their sizes are known for the call (each element
   * at its JSON width, plus 1 MiB), else 256 MiB (DEFAULT_MAX_RESPONSE_BYTES).
   */
  maxResponseBytes?: number;
  /**
   * The model's outputs as deployed (name, dtype, shape with numbers, symbolic names or null):
   * every infer answer is checked against them (present, same datatype, same dims), and a
   * mismatch fails with E_RESPONSE_MALFORMED naming the output and the field.
   */
  declaredOutputs?: readonly DeclaredTensor[];
  /** The model's inputs: their symbolic dims (a batch size) bind those of `declaredOutputs`. */
  declaredInputs?: readonly DeclaredTensor[];
}

/** A tensor as a bundle declares it: dtype as an onnxruntime or KServe name. */
export interface DeclaredTensor {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly (number | string | null)[];
}

export interface RetryOptions {
  max?: number;
  baseMs?: number;
  maxMs?: number;
}

/** Default per-attempt timeout of a call. */
export const DEFAULT_TIMEOUT_MS = 30_000;
/** Default bound on an answer's bytes when the declared outputs do not give one. */
export const DEFAULT_MAX_RESPONSE_BYTES = 256 * 1024 * 1024;
export const DEFAULT_RETRIES: Required<RetryOptions> = { max: 3, baseMs: 200, maxMs: 10_000 };
/** Room for an answer's JSON header and error bodies beyond its tensor bytes. */
const RESPONSE_HEADROOM = 1024 * 1024;
/** Widest JSON text of one number ("-1.2345678901234567e-308,"). */
const JSON_ELEMENT_WIDTH = 25;

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
    const ctor = datatypeArray(datatype)!;
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

/** A Response's body, refused (and the rest not read) once it passes `maxBytes`. */
async function readLimited(res: Response, maxBytes: number): Promise<Uint8Array> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    throw new ResponseTooLargeError(maxBytes, declared);
  }
  if (!res.body || maxBytes === Infinity) return new Uint8Array(await res.arrayBuffer());
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let seen = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    seen += value.byteLength;
    if (seen > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new ResponseTooLargeError(maxBytes, seen);
    }
    chunks.push(value);
  }
  return concatChunks(chunks);
}

/** Network failures a retry may fix: nothing answered (refused, or reset before the answer). */
const RETRYABLE_NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE']);

function retryableNetworkError(e: unknown): boolean {
  if (!(e instanceof Error) || (e as { answerStarted?: boolean }).answerStarted) return false;
  const cause = e instanceof FetchNetworkError ? e.cause : e;
  const code = (cause as { code?: unknown }).code ?? ((cause as { cause?: { code?: unknown } }).cause?.code);
  return typeof code === 'string' && RETRYABLE_NETWORK.has(code);
}

/** Retry-After in milliseconds: delay-seconds or an HTTP date; undefined when absent or invalid. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  return Number.isFinite(t) ? Math.max(0, t - now) : undefined;
}

function retryPolicy(r: KServeClientOptions['retries']): Required<RetryOptions> {
  if (r === undefined) return DEFAULT_RETRIES;
  if (typeof r === 'number') return { ...DEFAULT_RETRIES, max: r };
  return { ...DEFAULT_RETRIES, ...Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) };
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A dim as declared: a number, a symbol bound by the inputs or an earlier output, or free. */
function resolveDim(d: number | string | null, symbols: Map<string, number>): number | undefined {
  if (typeof d === 'number' && d >= 0) return d;
  if (typeof d === 'string') return symbols.get(d);
  return undefined;
}

/** Symbolic dims of the declared inputs bound to the dims actually sent. */
function bindSymbols(declared: readonly DeclaredTensor[] | undefined, sent: readonly WireTensor[]): Map<string, number> {
  const symbols = new Map<string, number>();
  for (const d of declared ?? []) {
    const t = sent.find((s) => s.name === d.name);
    if (!t || t.shape.length !== d.shape.length) continue;
    d.shape.forEach((dim, i) => {
      if (typeof dim === 'string' && !symbols.has(dim)) symbols.set(dim, t.shape[i]!);
    });
  }
  return symbols;
}

/** The most bytes a valid answer can have, when every requested output's size is known. */
function responseBound(outputs: readonly DeclaredTensor[], symbols: Map<string, number>): number | undefined {
  let total = RESPONSE_HEADROOM;
  for (const o of outputs) {
    const datatype = normalizeDatatype(o.dtype);
    if (!datatype || datatype === 'BYTES') return undefined;
    let n = 1;
    for (const d of o.shape) {
      const v = resolveDim(d, symbols);
      if (v === undefined) return undefined;
      n *= v;
    }
    total += n * Math.max(JSON_ELEMENT_WIDTH, DATATYPES[datatype].bytes);
  }
  return total;
}

/** Why an answer does not match the declared outputs, or undefined when it does. */
function mismatch(declared: readonly DeclaredTensor[], got: readonly WireTensor[], symbols: Map<string, number>): string | undefined {
  const bound = new Map(symbols);
  for (const d of declared) {
    const o = got.find((t) => t.name === d.name);
    if (!o) return `output "${d.name}" is missing from the answer`;
    const want = normalizeDatatype(d.dtype);
    if (want && o.datatype !== want) return `output "${d.name}" datatype: ${o.datatype}, but the model declares ${want}`;
    const shape = `[${o.shape.join(',')}]`;
    const decl = `[${d.shape.map((x) => (x === null ? '?' : String(x))).join(',')}]`;
    if (o.shape.length !== d.shape.length) return `output "${d.name}" shape: ${shape}, but the model declares ${decl}`;
    for (let i = 0; i < d.shape.length; i++) {
      const dim = d.shape[i]!;
      const expected = resolveDim(dim, bound);
      if (expected !== undefined && o.shape[i] !== expected) {
        return `output "${d.name}" shape: ${shape}, but the model declares ${decl}${typeof dim === 'string' ? ` with ${dim}=${expected}` : ''}`;
      }
      if (typeof dim === 'string') bound.set(dim, o.shape[i]!);
    }
  }
  return undefined;
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
    const body = await readLimited(res, init.maxBytes ?? Infinity);
    return { status: res.status, statusText: res.statusText, header: (n) => res.headers.get(n), body };
  };
}

export function createKServeClient(opts: KServeClientOptions): KServeClient {
  const exchange = opts.fetch ? fetchExchange(opts.fetch) : isNode() ? nodeExchange : fetchExchange(globalThis.fetch.bind(globalThis));
  const base = opts.endpoint.replace(/\/+$/, '');
  const modelPath = `${base}/v2/models/${encodeURIComponent(opts.model)}${opts.version !== undefined ? `/versions/${encodeURIComponent(opts.version)}` : ''}`;
  const binary = opts.binary ?? true;
  const compress = opts.compress ?? false;

  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const retries = retryPolicy(opts.retries);

  /** One attempt: the caller's signal and this attempt's timeout abort it. */
  const attempt = async (url: string, init: ExchangeInit, signal: AbortSignal | undefined): Promise<Exchange> => {
    const headers: Record<string, string> = { ...(opts.headers ?? {}), ...(init.headers ?? {}) };
    if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
    signal?.throwIfAborted();
    const ctl = new AbortController();
    const timedOut = new Error(`no complete answer within ${timeoutMs} ms (timeoutMs)`);
    const timer = timeoutMs > 0 && timeoutMs !== Infinity ? setTimeout(() => ctl.abort(timedOut), timeoutMs) : undefined;
    const onAbort = (): void => ctl.abort(signal!.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    let res: Exchange;
    try {
      res = await exchange(url, { ...init, headers, signal: ctl.signal, maxBytes: init.maxBytes ?? opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES });
    } catch (e) {
      if (ctl.signal.reason === timedOut) throw new KServeClientError(0, 'E_TIMEOUT', `${url}: ${timedOut.message}`, undefined, e);
      if (e instanceof ResponseTooLargeError) throw new KServeClientError(0, 'E_RESPONSE_MALFORMED', `${url}: ${e.message} (maxResponseBytes)`, undefined, e);
      throw new KServeClientError(0, 'E_NETWORK', `no answer from ${url}: ${(e as Error).message}`, undefined, e);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
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
      const err = new KServeClientError(res.status, code, `${url} answered ${res.status} ${code}: ${msg}`, body);
      (err as { retryAfterMs?: number }).retryAfterMs = parseRetryAfter(res.header('Retry-After'));
      throw err;
    }
    return res;
  };

  /** A call with retries of what a retry may fix (503, refused or reset connections), never 4xx. */
  const call = async (url: string, init: ExchangeInit, signal?: AbortSignal, retry = true): Promise<Exchange> => {
    for (let n = 0; ; n++) {
      try {
        return await attempt(url, init, signal);
      } catch (e) {
        if (!retry || n >= retries.max || !(e instanceof KServeClientError)) throw e;
        const retryable = e.status === 503 || (e.code === 'E_NETWORK' && retryableNetworkError(e.cause));
        if (!retryable) throw e;
        const after = (e as { retryAfterMs?: number }).retryAfterMs;
        if (after !== undefined && after > retries.maxMs) throw e;
        // Retry-After as the server asked, plus a little jitter so that clients turned away
        // together do not come back together; otherwise capped exponential backoff, full jitter.
        const delay = after !== undefined ? after + Math.random() * Math.min(retries.baseMs, retries.maxMs - after) : Math.random() * Math.min(retries.maxMs, retries.baseMs * 2 ** n);
        await sleep(delay, signal).catch((reason: unknown) => {
          throw new KServeClientError(0, 'E_NETWORK', `aborted while waiting to retry ${url} (${e.message})`, undefined, reason);
        });
      }
    }
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
    const declared = opts.declaredOutputs && (callOpts.outputs ? opts.declaredOutputs.filter((o) => callOpts.outputs!.includes(o.name)) : opts.declaredOutputs);
    const symbols = bindSymbols(opts.declaredInputs, tensors);
    const maxBytes = opts.maxResponseBytes ?? (declared && responseBound(declared, symbols)) ?? DEFAULT_MAX_RESPONSE_BYTES;
    const res = await call(`${modelPath}/infer`, { method: 'POST', headers, body, maxBytes }, callOpts.signal);
    const bytes = res.body;
    let outputs: WireTensor[];
    try {
      const headerLength = parseHeaderLength(res.header(HEADER_LENGTH_HEADER), bytes.length);
      outputs = decodeInferResponse(bytes, headerLength).outputs;
    } catch (e) {
      if (e instanceof KServeError) throw new KServeClientError(res.status, 'E_RESPONSE_MALFORMED', `malformed infer response: ${e.message}`);
      throw e;
    }
    const wrong = declared && mismatch(declared, outputs, symbols);
    if (wrong) throw new KServeClientError(res.status, 'E_RESPONSE_MALFORMED', `infer answer does not match the model: ${wrong}`);
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
        await call(`${modelPath}/ready`, { method: 'GET' }, undefined, false);
        return true;
      } catch (e) {
        if (e instanceof KServeClientError && e.status !== 0 && e.status !== 401 && e.status !== 403) return false;
        throw e;
      }
    },
  };
}
