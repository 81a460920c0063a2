// The splitc inference server: the KServe v2 / Open Inference Protocol over node:http, with
// one onnxruntime-node session per model, bearer-token auth, body limits (on the wire and
// after decompression), a bounded queue, optional dynamic batching, metrics and graceful close.

import * as crypto from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as zlib from 'node:zlib';
import type * as ort from 'onnxruntime-node';
import { SplitcError, type ErrorCode } from '../ir/errors.js';
import {
  DATATYPES,
  type DecodedRequest,
  type ErrorBody,
  type InputHeader,
  type KServeDatatype,
  type ModelMetadata,
  type ServerMetadata,
  type TensorData,
  type TensorMetadata,
  type WireErrorCode,
  type WireTensor,
  bytesToStrings,
  datatypeFromOrt,
  datatypeToOrt,
  decodeInferRequest,
  decodeRequestInputs,
  elementCount,
  encodeInferResponse,
  HEADER_LENGTH_HEADER,
  KServeError,
  parseHeaderLength,
  stringsToBytes,
} from './kserve.js';
import { ByteBudget } from './byte-budget.js';
import { Counter, Gauge, Histogram, Registry } from './metrics.js';
import { RateLimitedLog } from './rate-limited-log.js';
import { type HostTensor, type SessionHost, type SessionThread, createSessionHost, SessionRunError } from './session-host.js';

// Every code sent on the wire is one of splitc's ErrorCodes (checked at compile time).
const wireCodesAreErrorCodes: WireErrorCode extends ErrorCode ? true : never = true;
void wireCodesAreErrorCodes;

export const SERVER_NAME = 'splitc';
export const SERVER_VERSION = '0.1.0';

export interface ModelSpec {
  /** Name in URLs (`/v2/models/{name}`). */
  name: string;
  /** Version label (default "1"); requests without a version get the last one listed. */
  version?: string;
  /** ONNX file (external data resolves next to it) or the model's bytes. */
  path?: string;
  bytes?: Uint8Array;
  sessionOptions?: ort.InferenceSession.SessionOptions;
}

export interface InferenceServerOptions {
  models: ModelSpec[];
  /** Bearer token every request but the health probes must carry. */
  token?: string;
  /** Set false to serve without authentication (explicit opt-out; default true). */
  auth?: boolean;
  /** Largest request body, counted on the wire and again after decompression (default 64 MiB). */
  maxBodyBytes?: number;
  /**
   * Largest JSON: a body without the binary extension, or a binary request's JSON header,
   * after decompression (default 8 MiB). Parsing JSON blocks the event loop (~5 ms per MiB),
   * so JSON is bounded far below binary bodies; send tensors in the binary extension.
   */
  maxJsonBytes?: number;
  /**
   * Most rows (the first dimension) one request may send a batchable model (default 64).
   * With the model's elements per row this bounds the inputs' elements, and so the memory
   * one request can make onnxruntime allocate; checked on the declared shapes, before any
   * tensor data is decoded.
   */
  maxRows?: number;
  /**
   * Request bodies held in memory across all requests, on the wire and decompressed
   * (default 4 × maxBodyBytes); a request that would pass it gets 503.
   */
  maxBufferedBytes?: number;
  /**
   * Slowest upload accepted: after the first 5 s a body must have arrived at this average
   * rate (default 16 KiB/s), or the request gets 408 and its connection is closed.
   */
  minUploadBytesPerSecond?: number;
  /** Most infer requests whose body has arrived held at once (waiting or running); more get 503 (default 64). */
  maxQueue?: number;
  /** Most requests combined into one session.run; 1 turns dynamic batching off (default 1). */
  maxBatchSize?: number;
  /** How long the oldest waiting request may wait for a batch to fill (default 0). */
  maxQueueDelayMs?: number;
  /** The whole request must arrive within this time (default 60 s). */
  requestTimeoutMs?: number;
  /**
   * On close (SIGTERM): how long requests still arriving may take to finish before their
   * connections are cut (default 10 s). Inference already running always finishes.
   */
  shutdownGraceMs?: number;
  /** Session options for every model without its own. */
  sessionOptions?: ort.InferenceSession.SessionOptions;
  /**
   * Where sessions run: 'worker' (default) gives each model a worker thread, so the event
   * loop keeps reading and answering requests (and health probes) while a model computes;
   * 'main' runs them on the event loop.
   */
  sessionThread?: SessionThread;
  /** Answer CORS preflights and expose the binary header to this origin ('*' for any). */
  corsOrigin?: string;
  /** Seconds advertised in Retry-After on 503 (default 1). */
  retryAfterSeconds?: number;
  /** Where warnings go, one line per kind per 10 s at most (default stderr). */
  warn?: (line: string) => void;
}

export interface BoundAddress {
  host: string;
  port: number;
  /** Base URL, e.g. http://127.0.0.1:8000 (the protocol lives under /v2). */
  url: string;
}

export interface ServerStats {
  /** Infer requests whose body has arrived (waiting or running). */
  heldRequests: number;
  /** All HTTP requests being handled. */
  activeRequests: number;
  /** Requests waiting in each model's scheduler. */
  waiting: Record<string, number>;
}

export interface InferenceServer {
  listen(port?: number, host?: string): Promise<BoundAddress>;
  /** Graceful: stop accepting, finish in-flight requests, then release the sessions. */
  close(): Promise<void>;
  readonly address: BoundAddress | undefined;
  readonly models: readonly ModelMetadata[];
  stats(): ServerStats;
  metricsText(): string;
}

// ---------------------------------------------------------------------------------------
// Models and scheduling

interface ServedModel {
  name: string;
  version: string;
  host: SessionHost;
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
  inputIndex: Map<string, TensorMetadata>;
  /** Every input and output has a dynamic first dim: requests may be stacked along it. */
  batchable: boolean;
  /** Most input elements one request may carry (maxRows rows, or maxBodyBytes / 4 when a row's size is not fixed). */
  maxElements: number;
  scheduler: Scheduler;
}

/** A job's outputs, with its time in the queue and the session run's time (ms). */
interface JobResult {
  outputs: WireTensor[];
  queueMs: number;
  runMs: number;
}

interface Job {
  /** Inputs in the model's input order. */
  inputs: WireTensor[];
  /** Rows along dim 0 when the job can join a batch. */
  rows: number | undefined;
  /** Jobs with equal keys have equal dtypes and non-batch dims. */
  key: string;
  enqueuedMs: number;
  /** When the job left the queue for a run. */
  startedMs: number;
  cancelled: boolean;
  resolve(done: JobResult): void;
  reject(e: unknown): void;
}

function metaFromOrt(m: ort.InferenceSession.ValueMetadata, where: string): TensorMetadata {
  if (!m.isTensor) throw new SplitcError('E_MODEL_LOAD', `${where} "${m.name}" is not a tensor; the v2 protocol carries tensors only`);
  const datatype = datatypeFromOrt(m.type);
  if (!datatype) throw new SplitcError('E_MODEL_LOAD', `${where} "${m.name}" has element type ${m.type}, which the v2 protocol cannot carry`);
  const shape = m.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1));
  return { name: m.name, datatype, shape };
}

function toHostTensor(t: WireTensor): HostTensor {
  const type = datatypeToOrt(t.datatype);
  if (type === 'bfloat16') throw new KServeError(400, 'E_REQUEST_DTYPE', `input "${t.name}": BF16 is not supported by onnxruntime-node`);
  if (t.datatype === 'BYTES') return { name: t.name, type: 'string', dims: t.shape, data: bytesToStrings(t.data as Uint8Array[]) };
  // Decoding gives either views into the request body or arrays of their own (JSON data,
  // misaligned binary data, merged batches); the server reads neither after the run, so
  // arrays of their own can move to the session thread without a copy.
  const data = t.data as Float32Array;
  const own = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength;
  return { name: t.name, type, dims: t.shape, data, ...(own ? { disposable: true } : {}) };
}

function fromHostTensor(name: string, t: HostTensor): WireTensor {
  const datatype = datatypeFromOrt(t.type);
  if (!datatype) throw new KServeError(500, 'E_INFERENCE', `output "${name}" has type ${t.type}, which the v2 protocol cannot carry`);
  let data: TensorData;
  if (datatype === 'BYTES') data = stringsToBytes(t.data as string[]);
  else if (datatype === 'FP16' && !(t.data instanceof Uint16Array)) {
    const a = t.data as unknown as { buffer: ArrayBufferLike; byteOffset: number; length: number };
    data = new Uint16Array(a.buffer, a.byteOffset, a.length); // a Float16Array: keep the raw bits
  } else data = t.data as TensorData;
  return { name, datatype, shape: t.dims.slice(), data };
}

function concatData(dt: KServeDatatype, parts: TensorData[]): TensorData {
  if (dt === 'BYTES') return (parts as Uint8Array[][]).flat();
  const first = parts[0] as Float32Array;
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new (first.constructor as Float32ArrayConstructor)(n);
  let off = 0;
  for (const p of parts) {
    out.set(p as Float32Array, off);
    off += p.length;
  }
  return out;
}

function sliceRows(t: WireTensor, start: number, rows: number, total: number): WireTensor {
  const perRow = total === 0 ? 0 : t.data.length / total;
  const data =
    t.datatype === 'BYTES'
      ? (t.data as Uint8Array[]).slice(start * perRow, (start + rows) * perRow)
      : (t.data as Float32Array).subarray(start * perRow, (start + rows) * perRow);
  return { name: t.name, datatype: t.datatype, shape: [rows, ...t.shape.slice(1)], data };
}

class Scheduler {
  private readonly queue: Job[] = [];
  /** Runs handed to the session host and not yet answered. */
  private running = 0;
  private timer: NodeJS.Timeout | undefined;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly model: ServedModel,
    private readonly maxBatchSize: number,
    private readonly maxQueueDelayMs: number,
    /** Runs handed to the host at once: 2 keeps a worker busy while the event loop answers the last run. */
    private readonly maxInFlight: number,
    private readonly onRun: (requests: number, seconds: number) => void,
  ) {}

  get waiting(): number {
    return this.queue.length;
  }

  submit(inputs: WireTensor[]): { promise: Promise<JobResult>; cancel(): void } {
    let job!: Job;
    const promise = new Promise<JobResult>((resolve, reject) => {
      const rows = this.model.batchable && inputs.every((t) => t.shape[0] === inputs[0]!.shape[0]) ? inputs[0]!.shape[0] : undefined;
      const key = inputs.map((t) => `${t.datatype}:${t.shape.slice(1).join('x')}`).join('|');
      job = { inputs, rows, key, enqueuedMs: performance.now(), startedMs: 0, cancelled: false, resolve, reject };
    });
    this.queue.push(job);
    this.pump();
    return {
      promise,
      cancel: () => {
        job.cancelled = true;
      },
    };
  }

  /** Resolves when nothing is queued or running. */
  idle(): Promise<void> {
    if (this.running === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private pump(): void {
    if (this.running >= this.maxInFlight) return;
    for (let i = this.queue.length - 1; i >= 0; i--) {
      const j = this.queue[i]!;
      if (j.cancelled) {
        this.queue.splice(i, 1);
        j.reject(new KServeError(499, 'E_NETWORK', 'the client went away'));
      }
    }
    if (this.queue.length === 0) {
      if (this.running === 0) for (const w of this.idleWaiters.splice(0)) w();
      return;
    }
    const head = this.queue[0]!;
    const batch = [head];
    if (this.maxBatchSize > 1 && this.model.batchable && head.rows !== undefined && head.rows < this.maxBatchSize) {
      let rows = head.rows;
      for (let i = 1; i < this.queue.length && rows < this.maxBatchSize; i++) {
        const j = this.queue[i]!;
        if (j.key === head.key && j.rows !== undefined && rows + j.rows <= this.maxBatchSize) {
          batch.push(j);
          rows += j.rows;
        }
      }
      const waitedMs = performance.now() - head.enqueuedMs;
      if (rows < this.maxBatchSize && waitedMs < this.maxQueueDelayMs) {
        this.timer ??= setTimeout(() => {
          this.timer = undefined;
          this.pump();
        }, Math.ceil(this.maxQueueDelayMs - waitedMs));
        return;
      }
    }
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const now = performance.now();
    for (const j of batch) {
      this.queue.splice(this.queue.indexOf(j), 1);
      j.startedMs = now;
    }
    this.running++;
    void this.execute(batch).finally(() => {
      // Let the poll phase read the requests that arrived during the run before choosing
      // the next batch, so they can join it.
      setImmediate(() => {
        this.running--;
        this.pump();
      });
    });
    if (this.running < this.maxInFlight && this.queue.length > 0) this.pump();
  }

  /** One session.run: the outputs in model order and the seconds it took. */
  private async run(inputs: WireTensor[]): Promise<{ outputs: WireTensor[]; seconds: number }> {
    const feeds = inputs.map(toHostTensor);
    let out: { outputs: HostTensor[]; seconds: number };
    try {
      out = await this.model.host.run(feeds);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      if (e instanceof SessionRunError) throw new KServeError(400, 'E_INFERENCE', `onnxruntime rejected the request: ${msg.slice(0, 500)}`, { cause: e });
      throw new KServeError(500, 'E_INFERENCE', `model ${this.model.name} cannot run: ${msg.slice(0, 500)}`, { cause: e });
    }
    return { outputs: out.outputs.map((t, i) => fromHostTensor(this.model.outputs[i]!.name, t)), seconds: out.seconds };
  }

  private async runAlone(job: Job): Promise<void> {
    try {
      const { outputs, seconds } = await this.run(job.inputs);
      this.onRun(1, seconds);
      job.resolve({ outputs, queueMs: job.startedMs - job.enqueuedMs, runMs: seconds * 1000 });
    } catch (e) {
      job.reject(e);
    }
  }

  private async execute(batch: Job[]): Promise<void> {
    if (batch.length === 1) {
      await this.runAlone(batch[0]!);
      return;
    }
    const rows = batch.map((j) => j.rows!);
    const total = rows.reduce((a, b) => a + b, 0);
    const merged = batch[0]!.inputs.map((t, i) => ({
      name: t.name,
      datatype: t.datatype,
      shape: [total, ...t.shape.slice(1)],
      data: concatData(
        t.datatype,
        batch.map((j) => j.inputs[i]!.data),
      ),
    }));
    let outputs: WireTensor[] | undefined;
    let runMs = 0;
    try {
      const r = await this.run(merged);
      if (r.outputs.every((o) => o.shape[0] === total)) {
        outputs = r.outputs;
        runMs = r.seconds * 1000;
        this.onRun(batch.length, r.seconds);
      } else this.model.batchable = false; // outputs are not batch-major: never batch this model again
    } catch {
      outputs = undefined; // one bad request must not fail its neighbours: run them one by one
    }
    if (outputs) {
      let start = 0;
      batch.forEach((j, k) => {
        j.resolve({ outputs: outputs!.map((o) => sliceRows(o, start, rows[k]!, total)), queueMs: j.startedMs - j.enqueuedMs, runMs });
        start += rows[k]!;
      });
      return;
    }
    for (const j of batch) await this.runAlone(j);
  }
}

// ---------------------------------------------------------------------------------------
// HTTP helpers


function sha256(s: string): Buffer {
  return crypto.createHash('sha256').update(s, 'utf8').digest();
}

function errorBody(e: KServeError): string {
  const body: ErrorBody = { error: e.message, code: e.code };
  return JSON.stringify(body);
}

/**
 * Whether a request says it is binary (carries Inference-Header-Content-Length) and the JSON
 * header's length when that value is well-formed (a malformed one is reported by the full
 * decode, with the body).
 */
function declaredHeaderLength(req: http.IncomingMessage): { present: boolean; length: number | undefined } {
  const raw = req.headers[HEADER_LENGTH_HEADER.toLowerCase()];
  return { present: raw !== undefined, length: typeof raw === 'string' && /^\d{1,15}$/.test(raw.trim()) ? Number(raw) : undefined };
}

function toKServeError(e: unknown): KServeError {
  if (e instanceof KServeError) return e;
  if (e instanceof SplitcError) return new KServeError(400, e.code, e.message);
  const msg = e instanceof Error ? e.message : String(e);
  return new KServeError(500, 'E_INFERENCE', `internal server error: ${msg.slice(0, 300)}`);
}

interface Route {
  kind: 'live' | 'ready' | 'server' | 'model' | 'modelReady' | 'infer' | 'metrics';
  model?: string;
  version?: string;
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new KServeError(400, 'E_REQUEST_MALFORMED', 'the URL has a malformed percent-escape');
  }
}

/** The path of a request target; one that is not a URL (`//[`) is the client's error, not the server's. */
function requestPath(target: string): string {
  try {
    return new URL(target, 'http://localhost').pathname;
  } catch {
    throw new KServeError(400, 'E_REQUEST_MALFORMED', `the request target ${JSON.stringify(target.slice(0, 100))} is not a valid URL`);
  }
}

function matchRoute(pathname: string): Route | undefined {
  const p = pathname.length > 1 && pathname.endsWith('/') ? pathname.slice(0, -1) : pathname;
  if (p === '/v2/health/live') return { kind: 'live' };
  if (p === '/v2/health/ready') return { kind: 'ready' };
  if (p === '/v2') return { kind: 'server' };
  if (p === '/metrics') return { kind: 'metrics' };
  const m = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?(\/ready|\/infer)?$/.exec(p);
  if (!m) return undefined;
  const model = decodeSegment(m[1]!);
  const version = m[2] === undefined ? undefined : decodeSegment(m[2]);
  const kind = m[3] === '/ready' ? 'modelReady' : m[3] === '/infer' ? 'infer' : 'model';
  return { kind, model, ...(version !== undefined ? { version } : {}) };
}

const METHODS: Record<Route['kind'], string> = {
  live: 'GET',
  ready: 'GET',
  server: 'GET',
  model: 'GET',
  modelReady: 'GET',
  metrics: 'GET',
  infer: 'POST',
};

const LATENCY_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128];

// ---------------------------------------------------------------------------------------
// The server

export async function createInferenceServer(opts: InferenceServerOptions): Promise<InferenceServer> {
  const authOn = opts.auth !== false;
  if (authOn && !opts.token) {
    throw new SplitcError('E_BAD_ARGUMENT', 'the server needs a bearer token', {
      hint: 'pass a token (--token-file or SPLITC_TOKEN), or disable authentication explicitly (auth: false / --no-auth)',
    });
  }
  if (authOn && !/^[\x21-\x7e]+$/.test(opts.token!)) {
    throw new SplitcError('E_BAD_ARGUMENT', 'the bearer token must be printable ASCII without spaces', { hint: 'e.g. `openssl rand -hex 32`' });
  }
  const positiveInt = (v: number | undefined, name: string, dflt: number, min = 1): number => {
    if (v === undefined) return dflt;
    if (!Number.isSafeInteger(v) || v < min) throw new SplitcError('E_BAD_ARGUMENT', `${name} must be an integer ≥ ${min}, got ${v}`);
    return v;
  };
  const maxBodyBytes = positiveInt(opts.maxBodyBytes, 'maxBodyBytes', 64 * 1024 * 1024);
  const maxJsonBytes = Math.min(maxBodyBytes, positiveInt(opts.maxJsonBytes, 'maxJsonBytes', 8 * 1024 * 1024));
  const maxRows = positiveInt(opts.maxRows, 'maxRows', 64);
  const bodies = new ByteBudget(positiveInt(opts.maxBufferedBytes, 'maxBufferedBytes', 4 * maxBodyBytes));
  // Decompression output in flight across requests: two maximal bodies at a time, the rest wait.
  const inflating = new ByteBudget(2 * maxBodyBytes);
  const minUploadRate = positiveInt(opts.minUploadBytesPerSecond, 'minUploadBytesPerSecond', 16 * 1024, 0);
  const maxQueue = positiveInt(opts.maxQueue, 'maxQueue', 64);
  const maxBatchSize = positiveInt(opts.maxBatchSize, 'maxBatchSize', 1);
  const maxQueueDelayMs = positiveInt(opts.maxQueueDelayMs, 'maxQueueDelayMs', 0, 0);
  const requestTimeoutMs = positiveInt(opts.requestTimeoutMs, 'requestTimeoutMs', 60_000);
  const shutdownGraceMs = positiveInt(opts.shutdownGraceMs, 'shutdownGraceMs', 10_000, 0);
  const retryAfter = String(positiveInt(opts.retryAfterSeconds, 'retryAfterSeconds', 1));
  const tokenHash = authOn ? sha256(opts.token!) : undefined;
  if (opts.models.length === 0) throw new SplitcError('E_BAD_ARGUMENT', 'no models to serve');

  // Metrics
  const registry = new Registry();
  const inferRequests = registry.add(new Counter('splitc_infer_requests_total', 'Inference requests by model and HTTP status.'));
  const httpRequests = registry.add(new Counter('splitc_http_requests_total', 'All HTTP requests by endpoint and HTTP status.'));
  const inferLatency = registry.add(
    new Histogram('splitc_infer_request_duration_seconds', 'Inference request latency, arrival to last byte written, by model.', LATENCY_BUCKETS_S),
  );
  const runLatency = registry.add(new Histogram('splitc_session_run_duration_seconds', 'Time in onnxruntime session.run, by model.', LATENCY_BUCKETS_S));
  const batchSize = registry.add(new Histogram('splitc_batch_size', 'Requests combined into one session.run, by model.', BATCH_BUCKETS));
  const queueDepth = registry.add(new Gauge('splitc_queue_depth', 'Inference requests held by the server (body arrived: waiting or running).'));
  const waitingGauge = registry.add(new Gauge('splitc_queue_waiting', 'Requests waiting for their model\'s session, by model.'));

  // Models: one session each, loaded up front so a bad model fails the start, not a request.
  const byName = new Map<string, ServedModel[]>();
  const served: ServedModel[] = [];
  try {
    for (const spec of opts.models) {
      const version = spec.version ?? '1';
      if (!spec.name || /[/\s]/.test(spec.name)) throw new SplitcError('E_BAD_ARGUMENT', `model name ${JSON.stringify(spec.name)} must be non-empty without "/" or spaces`);
      if (byName.get(spec.name)?.some((m) => m.version === version)) {
        throw new SplitcError('E_BAD_ARGUMENT', `model ${spec.name} version ${version} is listed twice`);
      }
      // onnxruntime logs every failed run at error level; those failures are answered to the
      // client, so by default only fatal messages reach the server's stderr.
      // Without the CPU arena a run's buffers are freed after it (with it, a session keeps its
      // largest run's memory for good).
      const sessionOptions = { logSeverityLevel: 4 as const, enableCpuMemArena: false, ...(spec.sessionOptions ?? opts.sessionOptions ?? {}) };
      let host: SessionHost;
      try {
        if (spec.bytes) host = await createSessionHost({ bytes: spec.bytes }, sessionOptions, opts.sessionThread);
        else if (spec.path) host = await createSessionHost({ path: spec.path }, sessionOptions, opts.sessionThread);
        else throw new SplitcError('E_BAD_ARGUMENT', `model ${spec.name}: give a path or bytes`);
      } catch (e) {
        if (e instanceof SplitcError) throw e;
        throw new SplitcError('E_MODEL_LOAD', `onnxruntime could not load model ${spec.name}${spec.path ? ` (${spec.path})` : ''}: ${(e as Error).message}`, {
          cause: e,
        });
      }
      let inputs: TensorMetadata[];
      let outputs: TensorMetadata[];
      try {
        inputs = host.inputMetadata.map((m) => metaFromOrt(m, `model ${spec.name}: input`));
        outputs = host.outputMetadata.map((m) => metaFromOrt(m, `model ${spec.name}: output`));
      } catch (e) {
        await host.release();
        throw e;
      }
      const batchable = [...inputs, ...outputs].every((t) => t.shape.length >= 1 && t.shape[0] === -1);
      // elements of one row (of the whole input when not batchable); NaN when a dim is not fixed
      const rowElements = inputs.reduce((n, t) => n + t.shape.slice(batchable ? 1 : 0).reduce((a, d) => (d < 0 ? NaN : a * d), 1), 0);
      const model: ServedModel = {
        name: spec.name,
        version,
        host,
        inputs,
        outputs,
        inputIndex: new Map(inputs.map((t) => [t.name, t])),
        batchable,
        maxElements: Number.isNaN(rowElements) ? Math.floor(maxBodyBytes / 4) : rowElements * (batchable ? maxRows : 1),
        scheduler: undefined as unknown as Scheduler,
      };
      model.scheduler = new Scheduler(model, maxBatchSize, maxQueueDelayMs, opts.sessionThread === 'main' ? 1 : 2, (n, s) => {
        batchSize.observe(n, { model: spec.name });
        runLatency.observe(s, { model: spec.name });
      });
      waitingGauge.track(() => model.scheduler.waiting, { model: spec.name, version });
      served.push(model);
      byName.set(spec.name, [...(byName.get(spec.name) ?? []), model]);
    }
  } catch (e) {
    await Promise.all(served.map((m) => m.host.release()));
    throw e;
  }

  /** Infer requests whose body has arrived: waiting for or in a session run. */
  let queuedRequests = 0;
  let active = 0;
  // Past the body limit, how much more of a body is read and discarded so that its sender reads the 413.
  const maxDrainBytes = Math.max(4 * maxBodyBytes, 16 * 1024 * 1024);
  /** Ends each 413 answer that is still draining its request's body. */
  const drains = new Set<() => void>();
  const warnings = new RateLimitedLog(opts.warn ?? ((line) => process.stderr.write(`${line}\n`)));
  /** Malformed requests are the client's error: one log line per interval at most, whoever sends them. */
  const logMalformed = (remoteAddress: string | undefined, why: string): void =>
    warnings.log('splitc server: malformed request', `splitc server: malformed request from ${remoteAddress ?? 'unknown'}: ${why}`);
  let closing = false;
  let closed: Promise<void> | undefined;
  const activeWaiters: (() => void)[] = [];
  queueDepth.track(() => queuedRequests);

  const metadataOf = (m: ServedModel): ModelMetadata => ({
    name: m.name,
    versions: byName.get(m.name)!.map((v) => v.version),
    platform: 'onnxruntime_onnx',
    inputs: m.inputs,
    outputs: m.outputs,
  });

  const findModel = (name: string, version: string | undefined): ServedModel => {
    const versions = byName.get(name);
    if (!versions) throw new KServeError(404, 'E_NOT_FOUND', `unknown model "${name.slice(0, 100)}"; serving: ${[...byName.keys()].join(', ')}`);
    const m = version === undefined ? versions[versions.length - 1]! : versions.find((v) => v.version === version);
    if (!m) throw new KServeError(404, 'E_NOT_FOUND', `model "${name}" has no version "${version!.slice(0, 40)}"; versions: ${versions.map((v) => v.version).join(', ')}`);
    return m;
  };

  const corsHeaders = (): Record<string, string> =>
    opts.corsOrigin
      ? { 'Access-Control-Allow-Origin': opts.corsOrigin, 'Access-Control-Expose-Headers': `${HEADER_LENGTH_HEADER}, Server-Timing`, ...(opts.corsOrigin !== '*' ? { Vary: 'Origin' } : {}) }
      : {};

  const send = (res: http.ServerResponse, status: number, body: string | Uint8Array[], headers: Record<string, string | number>): void => {
    if (res.headersSent || res.destroyed) return;
    const chunks = typeof body === 'string' ? [Buffer.from(body, 'utf8')] : body;
    let length = 0;
    for (const c of chunks) length += c.length;
    res.writeHead(status, { ...corsHeaders(), ...(closing ? { Connection: 'close' } : {}), ...headers, 'Content-Length': length });
    if (res.req.method === 'HEAD') {
      res.end();
      return;
    }
    for (let i = 0; i < chunks.length - 1; i++) res.write(chunks[i]!);
    res.end(chunks[chunks.length - 1]);
  };
  const sendJson = (res: http.ServerResponse, status: number, obj: unknown, headers: Record<string, string> = {}): void =>
    send(res, status, JSON.stringify(obj), { 'Content-Type': 'application/json', ...headers });
  const sendError = (res: http.ServerResponse, e: KServeError, headers: Record<string, string> = {}): void =>
    send(res, e.status, errorBody(e), { 'Content-Type': 'application/json', ...headers });

  const checkAuth = (req: http.IncomingMessage): void => {
    if (!tokenHash) return;
    const h = req.headers.authorization;
    const m = h === undefined ? null : /^Bearer[ \t]+([^\s]+)[ \t]*$/i.exec(h);
    // Hashing first makes the comparison constant-time regardless of the token's length.
    if (!m || !crypto.timingSafeEqual(sha256(m[1]!), tokenHash)) {
      const e = new KServeError(401, 'E_UNAUTHORIZED', h === undefined ? 'missing bearer token (Authorization: Bearer <token>)' : 'invalid bearer token');
      (e as KServeError & { wwwAuthenticate?: string }).wwwAuthenticate =
        h === undefined ? 'Bearer realm="splitc"' : 'Bearer realm="splitc", error="invalid_token"';
      throw e;
    }
  };

  /**
   * Answers a request whose body has not been read to its end (a 413) at once, with
   * `Connection: close`, but closes only once the rest of the body has been read and
   * discarded — at most maxDrainBytes, within the request timeout. Closing a socket that
   * still receives data makes the kernel send a reset, which destroys the answer in the
   * client's receive buffer before a client that writes its whole body first has read it.
   */
  const sendThenDrain = (req: http.IncomingMessage, res: http.ServerResponse, e: KServeError, headers: Record<string, string> = {}): void => {
    if (res.headersSent || res.destroyed) return;
    const body = Buffer.from(errorBody(e), 'utf8');
    res.writeHead(e.status, { ...corsHeaders(), ...headers, Connection: 'close', 'Content-Type': 'application/json', 'Content-Length': body.length });
    res.write(body);
    let drainedBytes = 0;
    const finish = (): void => {
      clearTimeout(timer);
      drains.delete(finish);
      req.off('data', onData);
      if (!res.writableEnded) res.end(); // node closes the connection once the answer is out
    };
    const onData = (c: Buffer): void => {
      drainedBytes += c.length;
      if (drainedBytes > maxDrainBytes) finish();
    };
    const timer = setTimeout(finish, requestTimeoutMs).unref();
    drains.add(finish);
    req.on('data', onData);
    req.once('end', finish);
    req.once('close', finish);
    req.resume();
  };

  /**
   * What a request may cost, from its declared inputs alone: at most maxRows rows to a
   * batchable model and maxElements input elements (E_REQUEST_SHAPE, 400). Returns the most
   * binary data those inputs can carry (undefined with a BYTES input: its elements have no size).
   */
  const checkCost = (m: ServedModel, inputs: readonly InputHeader[]): number | undefined => {
    let elements = 0;
    let bytes: number | undefined = 0;
    for (const t of inputs) {
      const what = `input "${t.name.slice(0, 100)}"`;
      const n = elementCount(t.shape, what);
      const rows = t.shape[0] as number;
      if (m.batchable && t.shape.length > 0 && rows > maxRows) {
        throw new KServeError(400, 'E_REQUEST_SHAPE', `${what} has ${rows} rows; this server takes at most ${maxRows} per request (maxRows): split the batch`);
      }
      elements += n;
      bytes = t.datatype === 'BYTES' || bytes === undefined ? undefined : bytes + n * DATATYPES[t.datatype].bytes;
    }
    if (elements > m.maxElements) {
      throw new KServeError(400, 'E_REQUEST_SHAPE', `the inputs have ${elements} elements; this server takes at most ${m.maxElements} per request for model "${m.name}": split the batch`);
    }
    return bytes;
  };

  /**
   * Reads the body, holding its bytes against the shared body budget (`held.bytes`, given
   * back by the caller). Past a limit it answers and discards the rest. A binary request is
   * checked against checkCost as soon as its JSON header has arrived, so an oversized batch
   * is refused before its tensors are uploaded. A body slower than minUploadRate (after 5 s)
   * gets 408.
   */
  const readBody = (req: http.IncomingMessage, m: ServedModel, held: { bytes: number }): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      const identity = ['identity', ''].includes((req.headers['content-encoding'] ?? 'identity').trim().toLowerCase());
      const { present: binary, length: headerLength } = declaredHeaderLength(req);
      // a body that is all JSON is bounded by maxJsonBytes (already on the wire when not compressed)
      const jsonOnly = identity && !binary;
      const limit = jsonOnly ? maxJsonBytes : maxBodyBytes;
      const tooLarge = (n: string): KServeError =>
        new KServeError(
          413,
          'E_BODY_TOO_LARGE',
          `the request body is ${n} bytes; this server accepts at most ${limit}` +
            (jsonOnly ? ' in JSON (send tensors in the binary extension: Inference-Header-Content-Length)' : ''),
        );
      const declared = req.headers['content-length'];
      if (declared !== undefined && Number(declared) > limit) {
        reject(tooLarge(declared));
        return;
      }
      // With a declared length the body is copied into one buffer as it arrives, so the
      // socket's 64 KiB chunks die young instead of living (and fragmenting the heap) until
      // the body is complete; a chunked body keeps its chunks.
      const declaredLength = declared !== undefined && /^\d+$/.test(declared) ? Number(declared) : undefined;
      const whole = declaredLength !== undefined ? Buffer.allocUnsafe(declaredLength) : undefined;
      const chunks: Buffer[] = [];
      let size = 0;
      let failed = false;
      let headerChecked = headerLength === undefined || !identity;
      const started = performance.now();
      const fail = (e: KServeError): void => {
        failed = true;
        chunks.length = 0;
        clearInterval(rateTimer);
        reject(e);
      };
      const rateTimer = minUploadRate
        ? setInterval(() => {
            const seconds = (performance.now() - started) / 1000;
            if (!failed && seconds >= 5 && size < minUploadRate * seconds) {
              fail(
                new KServeError(408, 'E_TIMEOUT', `the body arrived at ${Math.round(size / seconds)} bytes/s; this server needs at least ${minUploadRate} bytes/s after the first 5 s`),
              );
            }
          }, 1000).unref()
        : undefined;
      req.on('data', (c: Buffer) => {
        if (failed) return; // the error answer drains the rest (sendThenDrain)
        size += c.length;
        if (size > limit) return fail(tooLarge(`more than ${limit}`));
        if (!bodies.tryTake(c.length)) {
          return fail(new KServeError(503, 'E_OVERLOADED', `the server holds ${bodies.inUse} bytes of request bodies, its limit is ${bodies.capacity}; retry later`));
        }
        held.bytes += c.length;
        // node's parser delivers exactly the declared length
        if (whole) c.copy(whole, size - c.length);
        else chunks.push(c);
        if (!headerChecked && size >= headerLength!) {
          headerChecked = true;
          let declared: InputHeader[] | undefined;
          try {
            declared = decodeRequestInputs((whole ?? Buffer.concat(chunks, size)).subarray(0, headerLength));
          } catch {
            // malformed headers are reported by the full decode, with the rest of the body
          }
          try {
            if (declared) checkCost(m, declared);
          } catch (e) {
            return fail(e as KServeError);
          }
        }
      });
      req.on('end', () => {
        clearInterval(rateTimer);
        if (failed) return;
        resolve(whole ?? Buffer.concat(chunks, size));
      });
      req.on('error', (e) => fail(new KServeError(400, 'E_REQUEST_MALFORMED', `the request body could not be read: ${e.message}`)));
      req.on('close', () => {
        clearInterval(rateTimer);
        if (!req.complete && !failed) fail(new KServeError(400, 'E_REQUEST_MALFORMED', 'the client closed the connection before the body was complete'));
      });
    });

  /**
   * Decompresses a gzip/deflate body as a stream. The output stops at the body limit (a
   * bomb stops there), and for a binary request, once its JSON header has decompressed, at
   * what the header's declared inputs can carry: a bomb with a malformed header costs one
   * chunk, an oversized batch is refused by checkCost. At most two limits' worth of output
   * is in flight across requests (the rest wait their turn).
   */
  const decompress = async (req: http.IncomingMessage, wire: Buffer, m: ServedModel, held: { bytes: number }): Promise<Buffer> => {
    const enc = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
    if (enc === 'identity' || enc === '') return wire;
    const gzip = enc === 'gzip' || enc === 'x-gzip';
    if (!gzip && enc !== 'deflate') throw new KServeError(415, 'E_REQUEST_ENCODING', `unsupported Content-Encoding "${enc.slice(0, 40)}"; use gzip, deflate or identity`);
    const { present: binary, length: headerLength } = declaredHeaderLength(req);
    const limit = binary ? maxBodyBytes : maxJsonBytes;
    await inflating.take(limit);
    let out: Buffer;
    try {
      out = await new Promise<Buffer>((resolve, reject) => {
        // 1 MiB output chunks: a 64 MiB output costs 64 round trips to zlib's thread, not 4,096
        const z = gzip ? zlib.createGunzip({ chunkSize: 1024 * 1024 }) : zlib.createInflate({ chunkSize: 1024 * 1024 });
        const chunks: Buffer[] = [];
        let size = 0;
        let cap = limit;
        let headerChecked = headerLength === undefined;
        const fail = (e: KServeError): void => {
          z.destroy();
          reject(e);
        };
        z.on('data', (c: Buffer) => {
          size += c.length;
            if (size > cap) {
            return fail(
              cap === limit
                ? new KServeError(413, 'E_BODY_TOO_LARGE', `the request body decompresses to more than ${limit} bytes`)
                : new KServeError(400, 'E_REQUEST_DATA', `the request body decompresses to more than its header and declared inputs (${cap} bytes)`),
            );
          }
          chunks.push(c);
          if (!headerChecked && size >= headerLength!) {
            headerChecked = true;
            try {
              const carried = checkCost(m, decodeRequestInputs(Buffer.concat(chunks, size).subarray(0, headerLength)));
              if (carried !== undefined) cap = Math.min(cap, headerLength! + carried);
            } catch (e) {
              return fail(toKServeError(e));
            }
          }
        });
        z.on('end', () => resolve(Buffer.concat(chunks, size)));
        z.on('error', (e) => reject(new KServeError(400, 'E_REQUEST_ENCODING', `the ${enc} body could not be decompressed: ${e.message}`)));
        z.end(wire);
      });
    } finally {
      inflating.give(limit);
    }
    if (!bodies.tryTake(out.length)) {
      throw new KServeError(503, 'E_OVERLOADED', `the server holds ${bodies.inUse} bytes of request bodies, its limit is ${bodies.capacity}; retry later`);
    }
    held.bytes += out.length;
    return out;
  };

  const bindInputs = (m: ServedModel, inputs: WireTensor[], outputs: string[] | undefined): WireTensor[] => {
    const given = new Map(inputs.map((t) => [t.name, t]));
    for (const t of inputs) {
      const meta = m.inputIndex.get(t.name);
      if (!meta) {
        throw new KServeError(400, 'E_REQUEST_INPUT', `model "${m.name}" has no input "${t.name.slice(0, 100)}"; its inputs are: ${m.inputs.map((i) => i.name).join(', ')}`);
      }
      if (t.datatype !== meta.datatype) throw new KServeError(400, 'E_REQUEST_DTYPE', `input "${t.name}" must be ${meta.datatype}, got ${t.datatype}`);
      const shapeError = (): KServeError =>
        new KServeError(400, 'E_REQUEST_SHAPE', `input "${t.name}" has shape [${t.shape.join(',')}], the model expects [${meta.shape.join(',')}] (-1: any size)`);
      if (t.shape.length !== meta.shape.length) throw shapeError();
      meta.shape.forEach((d, i) => {
        if (d >= 0 && t.shape[i] !== d) throw shapeError();
      });
    }
    const missing = m.inputs.filter((i) => !given.has(i.name));
    if (missing.length) throw new KServeError(400, 'E_REQUEST_INPUT', `missing input(s): ${missing.map((i) => i.name).join(', ')}`);
    for (const o of outputs ?? []) {
      if (!m.outputs.some((x) => x.name === o)) {
        throw new KServeError(400, 'E_REQUEST_OUTPUT', `model "${m.name}" has no output "${o.slice(0, 100)}"; its outputs are: ${m.outputs.map((x) => x.name).join(', ')}`);
      }
    }
    return m.inputs.map((i) => given.get(i.name)!);
  };

  /**
   * One infer request. It counts against maxQueue only once its body has arrived: a slow
   * upload holds its connection and its bytes, not a queue slot.
   */
  const infer = async (req: http.IncomingMessage, res: http.ServerResponse, m: ServedModel, started: number): Promise<void> => {
    const held = { bytes: 0 };
    let queued = false;
    try {
      const wire = await readBody(req, m, held);
      const body = await decompress(req, wire, m, held);
      const rawHeaderLength = req.headers[HEADER_LENGTH_HEADER.toLowerCase()];
      const headerLength = parseHeaderLength(Array.isArray(rawHeaderLength) ? rawHeaderLength.join(',') : rawHeaderLength, body.length);
      if ((headerLength ?? body.length) > maxJsonBytes) {
        throw new KServeError(413, 'E_BODY_TOO_LARGE', `the request's JSON is ${headerLength ?? body.length} bytes; this server accepts at most ${maxJsonBytes} (send tensors in the binary extension)`);
      }
      const decoded = decodeInferRequest(body, headerLength, { checkInputs: (declared) => checkCost(m, declared) });
      const inputs = bindInputs(m, decoded.inputs, decoded.outputs);
      if (queuedRequests >= maxQueue) throw new KServeError(503, 'E_OVERLOADED', `the server is at its limit of ${maxQueue} queued requests; retry later`);
      queuedRequests++;
      queued = true;
      await run(res, m, started, decoded, inputs);
    } finally {
      bodies.give(held.bytes);
      if (queued) queuedRequests--;
    }
  };

  const run = async (res: http.ServerResponse, m: ServedModel, started: number, decoded: DecodedRequest, inputs: WireTensor[]): Promise<void> => {
    const readMs = performance.now() - started;
    const job = m.scheduler.submit(inputs);
    const onClose = (): void => {
      if (!res.writableFinished) job.cancel();
    };
    res.once('close', onClose);
    const done = await job.promise;
    let outputs = done.outputs;
    res.off('close', onClose);
    if (decoded.outputs) {
      const order = decoded.outputs;
      outputs = order.map((n) => outputs.find((o) => o.name === n)!);
    }
    const encoded = encodeInferResponse(outputs, {
      modelName: m.name,
      modelVersion: m.version,
      ...(decoded.request.id !== undefined ? { id: decoded.request.id } : {}),
      binaryOutputs: decoded.binaryOutputs,
    });
    send(res, 200, encoded.chunks, {
      'Content-Type': encoded.contentType,
      // W3C Server-Timing (ms): reading and decoding the body, waiting in the queue, onnxruntime's
      // run, and the whole handler up to this answer — so clients can tell compute from
      // transport (the edge module reports `run` as cloudRunMs).
      'Server-Timing': [
        `read;dur=${readMs.toFixed(3)}`,
        `queue;dur=${done.queueMs.toFixed(3)}`,
        `run;dur=${done.runMs.toFixed(3)}`,
        `total;dur=${(performance.now() - started).toFixed(3)}`,
      ].join(', '),
      ...(encoded.jsonLength !== undefined ? { [HEADER_LENGTH_HEADER]: encoded.jsonLength } : {}),
    });
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const started = performance.now();
    let route: Route | undefined;
    let inferModel: string | undefined;
    active++;
    res.once('close', () => {
      active--;
      // A connection that closed before the answer was written is counted as "aborted".
      const status = res.writableFinished ? String(res.statusCode) : 'aborted';
      httpRequests.inc({ endpoint: route?.kind ?? 'unknown', status });
      if (inferModel !== undefined) {
        inferRequests.inc({ model: inferModel, status });
        inferLatency.observe((performance.now() - started) / 1000, { model: inferModel });
      }
      if (active === 0) for (const w of activeWaiters.splice(0)) w();
    });
    try {
      let pathname: string;
      try {
        pathname = requestPath(req.url ?? '/');
        route = matchRoute(pathname);
      } catch (e) {
        logMalformed(req.socket.remoteAddress, (e as Error).message);
        throw e;
      }
      if (req.method === 'OPTIONS' && opts.corsOrigin && route) {
        send(res, 204, '', {
          'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
          'Access-Control-Allow-Headers': `Authorization, Content-Type, Content-Encoding, ${HEADER_LENGTH_HEADER}`,
          'Access-Control-Max-Age': '600',
        });
        return;
      }
      if (route?.kind !== 'live' && route?.kind !== 'ready') checkAuth(req);
      if (!route) throw new KServeError(404, 'E_NOT_FOUND', `no such endpoint: ${req.method} ${pathname.slice(0, 200)}`);
      const allowed = METHODS[route.kind];
      if (req.method !== allowed && !(allowed === 'GET' && req.method === 'HEAD')) {
        const e = new KServeError(405, 'E_METHOD', `${req.method} is not allowed on ${pathname.slice(0, 200)}; use ${allowed}`);
        sendError(res, e, { Allow: allowed === 'GET' ? 'GET, HEAD' : allowed });
        return;
      }
      if (closing) throw new KServeError(503, 'E_SHUTTING_DOWN', 'the server is shutting down');
      switch (route.kind) {
        case 'live':
          return sendJson(res, 200, { live: true });
        case 'ready':
          return sendJson(res, 200, { ready: true });
        case 'server': {
          const meta: ServerMetadata = { name: SERVER_NAME, version: SERVER_VERSION, extensions: ['binary_tensor_data'] };
          return sendJson(res, 200, meta);
        }
        case 'metrics':
          return send(res, 200, registry.render(), { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
        case 'model':
          return sendJson(res, 200, metadataOf(findModel(route.model!, route.version)));
        case 'modelReady': {
          const m = findModel(route.model!, route.version);
          return sendJson(res, 200, { name: m.name, version: m.version, ready: true });
        }
        case 'infer': {
          const m = findModel(route.model!, route.version);
          inferModel = m.name;
          await infer(req, res, m, started);
          return;
        }
      }
    } catch (e) {
      const ke = toKServeError(e);
      // Internal errors keep their stack, but a request that triggers one must not flood the log.
      if (ke.status === 500) warnings.log('splitc server: internal error', `splitc server: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      const headers: Record<string, string> = {};
      const www = (e as { wwwAuthenticate?: string }).wwwAuthenticate;
      if (www) headers['WWW-Authenticate'] = www;
      if (ke.status === 503) headers['Retry-After'] = retryAfter;
      // an answer before the body is read to its end (413, an oversized batch, 503) lets the
      // client read it; a body too slow to wait for (408) gets its connection closed
      if (!req.complete && ke.status !== 408) sendThenDrain(req, res, ke, headers);
      else sendError(res, ke, ke.status === 408 ? { ...headers, Connection: 'close' } : headers);
    }
  };

  const httpServer = http.createServer(
    {
      requestTimeout: requestTimeoutMs,
      headersTimeout: Math.min(requestTimeoutMs, 30_000),
      keepAliveTimeout: 5_000,
      // node checks the timeouts this often (its default, 30 s, let 60 s timeouts fire at 90 s)
      connectionsCheckingInterval: Math.min(1_000, requestTimeoutMs),
    },
    (req, res) => {
    handle(req, res).catch((e: unknown) => {
      // handle() answers every error itself; this is a last line of defence.
      warnings.log('splitc server: internal error', `splitc server: unhandled ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      if (!res.headersSent) res.destroy();
    });
    },
  );
  // Malformed HTTP gets a JSON answer too (Node's default is an empty 400).
  httpServer.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    const pending = (socket as unknown as { _httpMessage?: http.ServerResponse })._httpMessage;
    if (err.code === 'ECONNRESET' || !socket.writable || (pending && pending.headersSent)) {
      socket.destroy();
      return;
    }
    const [status, text, code]: [number, string, WireErrorCode] =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'Request Header Fields Too Large', 'E_REQUEST_MALFORMED']
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, 'Request Timeout', 'E_TIMEOUT']
          : [400, 'Bad Request', 'E_REQUEST_MALFORMED'];
    if (code === 'E_REQUEST_MALFORMED') logMalformed((socket as { remoteAddress?: string }).remoteAddress, `malformed HTTP (${err.code ?? err.message})`);
    const body = JSON.stringify({ error: `malformed HTTP request: ${err.code ?? err.message}`, code } satisfies ErrorBody);
    socket.end(
      `HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });

  let bound: BoundAddress | undefined;

  const close = (): Promise<void> => {
    closed ??= (async () => {
      closing = true;
      const stopped = new Promise<void>((resolve) => (bound ? httpServer.close(() => resolve()) : resolve()));
      httpServer.closeIdleConnections();
      for (const finish of [...drains]) finish();
      if (active > 0) {
        // requests still arriving get the grace period, then their connections are cut (a
        // stalled upload must not keep the process alive); inference already queued finishes
        let timer: NodeJS.Timeout | undefined;
        const graceOver = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), shutdownGraceMs)));
        const done = new Promise<'done'>((r) => activeWaiters.push(() => r('done')));
        if ((await Promise.race([done, graceOver])) === 'late') httpServer.closeAllConnections();
        clearTimeout(timer);
      }
      await Promise.all(served.map((m) => m.scheduler.idle()));
      httpServer.closeAllConnections();
      await stopped;
      await Promise.all(served.map((m) => m.host.release()));
    })();
    return closed;
  };

  return {
    listen(port = 0, host = '127.0.0.1'): Promise<BoundAddress> {
      if (closing) return Promise.reject(new SplitcError('E_BAD_ARGUMENT', 'the server is closed'));
      return new Promise((resolve, reject) => {
        const onError = (e: NodeJS.ErrnoException): void => {
          reject(new SplitcError('E_IO', `cannot listen on ${host}:${port}: ${e.code ?? e.message}`, { cause: e }));
        };
        httpServer.once('error', onError);
        httpServer.listen(port, host, () => {
          httpServer.off('error', onError);
          const a = httpServer.address() as AddressInfo;
          const hostPart = a.family === 'IPv6' ? `[${a.address}]` : a.address;
          bound = { host: a.address, port: a.port, url: `http://${hostPart}:${a.port}` };
          resolve(bound);
        });
      });
    },
    close,
    get address() {
      return bound;
    },
    get models() {
      return served.map(metadataOf);
    },
    stats: () => ({
      heldRequests: queuedRequests,
      activeRequests: active,
      waiting: Object.fromEntries(served.map((m) => [`${m.name}@${m.version}`, m.scheduler.waiting])),
    }),
    metricsText: () => registry.render(),
  };
}
