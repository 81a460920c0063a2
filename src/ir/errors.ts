// Errors as values with stable codes. Every user-facing failure is a SplitcError;
// anything else that escapes is an internal bug and keeps its stack.

/**
 * The stable error codes, each with what it means. This interface holds the IR's own codes
 * and the generic ones every layer raises (E_BAD_ARGUMENT, E_IO); each layer above declares
 * its codes in its own `diagnostics.ts` by augmenting it (`declare module '../ir/errors.js'`),
 * so the IR imports nothing from above and TypeScript still rejects an undeclared code.
 * tests/diagnostics.test.ts checks that every code raised is declared once, in the lowest
 * layer that raises it.
 */
export interface ErrorCodes {
  E_NOT_ONNX: 'the bytes are not an ONNX ModelProto';
  E_TRUNCATED: 'the file ends inside a message';
  E_MALFORMED: 'structurally invalid protobuf / ONNX content';
  E_IR_VERSION: 'unsupported IR version';
  E_OPSET: 'unsupported opset';
  E_EXTERNAL_DATA: 'external data file missing, short or outside the model folder';
  E_CYCLE: 'the graph has a cycle';
  E_VALUE_REDEFINED: 'a value is produced more than once';
  E_UNDEFINED_INPUT: 'a node input is never defined';
  E_UNDEFINED_OUTPUT: 'a graph output is never produced';
  E_VERIFY: 'other IR invariant violations';
  E_TENSOR: 'tensor data inconsistent with its dims / dtype';
  E_TOO_LARGE: 'the model cannot be written as one protobuf (2 GB limit)';
  E_BAD_ARGUMENT: 'bad CLI / API argument';
  E_IO: 'file could not be read or written';
}

export type ErrorCode = keyof ErrorCodes;

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

// Diagnostics every layer raises.

/** Why a file operation failed: the errno code (ENOENT, EACCES, …), else the message. */
function ioReason(e: unknown): string {
  return (e as { code?: string }).code ?? (e instanceof Error ? e.message : String(e));
}

/** A file operation that failed: `<doing>: ENOENT` (`doing` is e.g. "cannot read plan.json"). */
export function ioError(doing: string, cause: unknown, hint = 'check the path and permissions'): SplitcError {
  return new SplitcError('E_IO', `${doing}: ${ioReason(cause)}`, { hint, cause });
}

/** A name that is not one of a fixed set (a pass, an attack, a backend), with the set. */
export function unknownName(kind: string, name: string, known: readonly string[]): SplitcError {
  const kinds = kind.endsWith('s') ? `${kind}es` : `${kind}s`;
  return new SplitcError('E_BAD_ARGUMENT', `unknown ${kind} '${name}'`, { hint: `known ${kinds}: ${known.join(', ')}` });
}

/** A count option (threads, repeats, queue length, batch size) that is not a whole number ≥ `min`. */
export function notAnInteger(name: string, min: number, got: unknown, hint?: string): SplitcError {
  return new SplitcError('E_BAD_ARGUMENT', `${name} must be an integer ≥ ${min}, got ${String(got)}`, hint ? { hint } : {});
}
