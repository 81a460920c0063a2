// The inference server's options as callers give them, and their validation into the
// settings the server runs with (defaults filled in, every limit checked once at start).

import type * as ort from 'onnxruntime-node';
import { notAnInteger, SplitcError } from '../../ir/errors.js';
import type { SessionThread } from '../session-host.js';
import type { Coordinator } from '../federated/coordinator.js';
import type { Route } from './routes.js';

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
  /**
   * More endpoints, served after the protocol's rows (a federated coordinator's, say), with the
   * same bearer auth, 404/405 answers, error bodies and metrics.
   */
  routes?: readonly Route[];
  /** Serve this federated coordinator's endpoints under /v2/federated/ (server/federated-routes.ts); a coordinator may serve no models. */
  federated?: Coordinator;
  /** Seconds advertised in Retry-After on 503 (default 1). */
  retryAfterSeconds?: number;
  /** Where warnings go, one line per kind per 10 s at most (default stderr). */
  warn?: (line: string) => void;
}

/** The options with defaults filled in and checked. */
export interface ServerSettings {
  /** The bearer token requests must carry; undefined when authentication is off. */
  token: string | undefined;
  maxBodyBytes: number;
  maxJsonBytes: number;
  maxRows: number;
  maxBufferedBytes: number;
  /** 0: no upload-rate check. */
  minUploadRate: number;
  maxQueue: number;
  maxBatchSize: number;
  maxQueueDelayMs: number;
  requestTimeoutMs: number;
  shutdownGraceMs: number;
  /** The Retry-After header's value on 503. */
  retryAfter: string;
}

/** Checks the options (E_BAD_ARGUMENT naming the first one that is wrong) and fills in defaults. */
export function resolveServerOptions(opts: InferenceServerOptions): ServerSettings {
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
    if (!Number.isSafeInteger(v) || v < min) throw notAnInteger(name, min, v);
    return v;
  };
  const maxBodyBytes = positiveInt(opts.maxBodyBytes, 'maxBodyBytes', 64 * 1024 * 1024);
  const maxJsonBytes = Math.min(maxBodyBytes, positiveInt(opts.maxJsonBytes, 'maxJsonBytes', 8 * 1024 * 1024));
  const maxRows = positiveInt(opts.maxRows, 'maxRows', 64);
  const maxBufferedBytes = positiveInt(opts.maxBufferedBytes, 'maxBufferedBytes', 4 * maxBodyBytes);
  const minUploadRate = positiveInt(opts.minUploadBytesPerSecond, 'minUploadBytesPerSecond', 16 * 1024, 0);
  const maxQueue = positiveInt(opts.maxQueue, 'maxQueue', 64);
  const maxBatchSize = positiveInt(opts.maxBatchSize, 'maxBatchSize', 1);
  const maxQueueDelayMs = positiveInt(opts.maxQueueDelayMs, 'maxQueueDelayMs', 0, 0);
  const requestTimeoutMs = positiveInt(opts.requestTimeoutMs, 'requestTimeoutMs', 60_000);
  const shutdownGraceMs = positiveInt(opts.shutdownGraceMs, 'shutdownGraceMs', 10_000, 0);
  const retryAfter = String(positiveInt(opts.retryAfterSeconds, 'retryAfterSeconds', 1));
  if (opts.models.length === 0 && !opts.federated) throw new SplitcError('E_BAD_ARGUMENT', 'no models to serve');
  return {
    token: authOn ? opts.token! : undefined,
    maxBodyBytes,
    maxJsonBytes,
    maxRows,
    maxBufferedBytes,
    minUploadRate,
    maxQueue,
    maxBatchSize,
    maxQueueDelayMs,
    requestTimeoutMs,
    shutdownGraceMs,
    retryAfter,
  };
}
