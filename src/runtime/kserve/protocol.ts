// The v2 protocol's messages as JSON shapes, its HTTP header for binary bodies, and its
// errors: the codes that travel on the wire and the HTTP status each error maps to.

import type { KServeDatatype } from './datatypes.js';

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

/**
 * Error codes that travel on the wire, each with what it means. Declared here, next to the
 * protocol, because browser bundles carry this module without splitc's IR;
 * runtime/diagnostics.ts makes them members of splitc's ErrorCode.
 */
export interface WireErrorCodes {
  E_REQUEST_MALFORMED: 'not JSON, not an infer request, bad binary framing';
  E_REQUEST_INPUT: 'unknown, missing or duplicate input';
  E_REQUEST_OUTPUT: 'unknown or duplicate requested output';
  E_REQUEST_DTYPE: "unknown datatype or not the model's datatype";
  E_REQUEST_SHAPE: "invalid shape or not the model's shape";
  E_REQUEST_DATA: 'tensor data does not match its shape / datatype';
  E_REQUEST_ENCODING: 'unsupported or corrupt Content-Encoding';
  E_BODY_TOO_LARGE: 'request body over the limit (on the wire or decompressed)';
  E_UNAUTHORIZED: 'missing or wrong bearer token';
  E_NOT_FOUND: 'unknown route, model or version';
  E_METHOD: 'method not allowed on this route';
  E_OVERLOADED: "the server's queue is full";
  E_SHUTTING_DOWN: 'the server is closing';
  E_TIMEOUT: 'request not received in time (server); no complete answer in time (client)';
  E_INFERENCE: 'onnxruntime failed on a request that passed validation';
  E_HTTP: '(client) a non-2xx answer without a JSON error body';
  E_NETWORK: '(client) the request got no answer';
  E_RESPONSE_MALFORMED: '(client) the answer is not a valid infer response';
}

export type WireErrorCode = keyof WireErrorCodes;

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

/** A 400 with a wire code: what a malformed request gets. */
export function badRequest(code: WireErrorCode, message: string): KServeError {
  return new KServeError(400, code, message);
}
