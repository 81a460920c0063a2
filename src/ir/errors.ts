// Errors as values with stable codes. Every user-facing failure is a SplitcError;
// anything else that escapes is an internal bug and keeps its stack.

export type ErrorCode =
  | 'E_NOT_ONNX' // the bytes are not an ONNX ModelProto
  | 'E_TRUNCATED' // the file ends inside a message
  | 'E_MALFORMED' // structurally invalid protobuf / ONNX content
  | 'E_IR_VERSION' // unsupported IR version
  | 'E_OPSET' // unsupported opset
  | 'E_EXTERNAL_DATA' // external data file missing, short or outside the model folder
  | 'E_CYCLE' // the graph has a cycle
  | 'E_VALUE_REDEFINED' // a value is produced more than once
  | 'E_UNDEFINED_INPUT' // a node input is never defined
  | 'E_UNDEFINED_OUTPUT' // a graph output is never produced
  | 'E_VERIFY' // other IR invariant violations
  | 'E_TENSOR' // tensor data inconsistent with its dims / dtype
  | 'E_SHAPE' // shape inference found contradictory shapes
  | 'E_BAD_ARGUMENT' // bad CLI / API argument
  | 'E_TOO_LARGE' // the model cannot be written as one protobuf (2 GB limit)
  | 'E_CUT' // the cut tensors do not split the model
  | 'E_CUT_TYPE' // a cut tensor has no known type
  | 'E_COMPRESS' // a compression stage cannot be applied to a cut tensor (shape, axis, statistics)
  | 'E_CALIB' // calibration data is missing, unreadable or does not fit the model's inputs
  | 'E_CODEGEN' // a bundle cannot be generated (inconsistent split, unsupported wire type, missing runtime files)
  | 'E_AUTODIFF' // a gradient cannot be built: an op without a rule, a value that is not differentiable, a bad loss
  // search/ (profiles, profiler, plans)
  | 'E_PROFILE' // a device or link profile is unknown, unreadable or invalid
  | 'E_PROFILER' // measuring latencies failed (the backend could not run the model or gave no profile)
  | 'E_PLAN' // a plan file is unreadable or does not match the model it names
  | 'E_CONSTRAINT' // no cut satisfies the plan's constraints (names the constraint)
  // audit/ (inversion-risk audit)
  | 'E_AUDIT' // a cut cannot be audited (input not an image batch, nothing differentiable crosses the cut, bad probes)
  | 'E_RISK' // --fail-on: a cut reached the risk level that fails the run
  // runtime/ (server, client, wire format); the wire codes are kserve.ts's WireErrorCode
  | 'E_MODEL_LOAD' // onnxruntime could not load a model to serve, or it has inputs the protocol cannot carry
  | 'E_REQUEST_MALFORMED' // not JSON, not an infer request, bad binary framing
  | 'E_REQUEST_INPUT' // unknown, missing or duplicate input
  | 'E_REQUEST_OUTPUT' // unknown or duplicate requested output
  | 'E_REQUEST_DTYPE' // unknown datatype or not the model's datatype
  | 'E_REQUEST_SHAPE' // invalid shape or not the model's shape
  | 'E_REQUEST_DATA' // tensor data does not match its shape / datatype
  | 'E_REQUEST_ENCODING' // unsupported or corrupt Content-Encoding
  | 'E_BODY_TOO_LARGE' // request body over the limit (on the wire or decompressed)
  | 'E_UNAUTHORIZED' // missing or wrong bearer token
  | 'E_NOT_FOUND' // unknown route, model or version
  | 'E_METHOD' // method not allowed on this route
  | 'E_OVERLOADED' // the server's queue is full
  | 'E_SHUTTING_DOWN' // the server is closing
  | 'E_TIMEOUT' // request not received in time (server); no complete answer in time (client)
  | 'E_INFERENCE' // onnxruntime failed on a request that passed validation
  | 'E_HTTP' // (client) a non-2xx answer without a JSON error body
  | 'E_NETWORK' // (client) the request got no answer
  | 'E_RESPONSE_MALFORMED' // (client) the answer is not a valid infer response
  | 'E_IO'; // file could not be read or written

export class SplitcError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly location: string | undefined;
  constructor(code: ErrorCode, message: string, opts: { hint?: string; location?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'SplitcError';
    this.code = code;
    this.hint = opts.hint;
    this.location = opts.location;
  }

  /** One line for a terminal: `error E_CODE: message (at location) — hint`. */
  format(): string {
    let line = `error ${this.code}: ${this.message}`;
    if (this.location) line += ` (at ${this.location})`;
    if (this.hint) line += `\n  hint: ${this.hint}`;
    return line;
  }

  toJSON(): { code: ErrorCode; message: string; hint?: string; location?: string } {
    return {
      code: this.code,
      message: this.message,
      ...(this.hint ? { hint: this.hint } : {}),
      ...(this.location ? { location: this.location } : {}),
    };
  }
}

export function splitcError(
  code: ErrorCode,
  message: string,
  opts: { hint?: string; location?: string; cause?: unknown } = {},
): SplitcError {
  return new SplitcError(code, message, opts);
}

export function isSplitcError(e: unknown): e is SplitcError {
  return e instanceof SplitcError;
}
