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
