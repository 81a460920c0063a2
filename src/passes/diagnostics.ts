// The passes' error codes (cut, compression, autodiff, lowering; members of ErrorCode, see
// ir/errors.ts) and the diagnostics several passes raise, each written once.

import { type ErrorCode, SplitcError } from '../ir/errors.js';

declare module '../ir/errors.js' {
  interface ErrorCodes {
    E_SHAPE: 'a shape a pass needs is unknown or contradictory';
    E_CUT: 'the cut tensors do not split the model';
    E_CUT_TYPE: 'a cut tensor has no known type';
    E_COMPRESS: 'a compression stage cannot be applied to a cut tensor (shape, axis, statistics)';
    E_AUTODIFF: 'a gradient cannot be built: an op without a rule, a value that is not differentiable, a bad loss';
    E_SPHEREFED: 'the classifier head cannot be rewritten for SphereFed (no Gemm/MatMul head, fewer features than classes) or the model has no SphereFed head';
  }
}

/** Where to look up value names (the hint of every unknown-name diagnostic). */
const INSPECT_HINT = 'see `splitc inspect <model>` for value names';

/** A value name (loss term, --wrt, seed) that names nothing in the graph; `context` says what it was for. */
export function unknownValue(name: string, context: string): SplitcError {
  return new SplitcError('E_AUTODIFF', `no value named '${name}' ${context}`, { hint: INSPECT_HINT });
}

/** A name that is none of the model's inputs (or several), with the inputs it has. */
export function unknownInput(names: string | readonly string[], inputNames: Iterable<string>, code: ErrorCode = 'E_BAD_ARGUMENT'): SplitcError {
  const list = typeof names === 'string' ? [names] : names;
  const quoted = (ns: Iterable<string>): string => [...ns].map((n) => `'${n}'`).join(', ');
  return new SplitcError(code, `the model has no input${list.length > 1 ? 's' : ''} named ${quoted(list)}`, { hint: `inputs: ${quoted(inputNames) || '(none)'}` });
}

/** The hint of every diagnostic that needs shapes (or ranks) shape inference did not find. */
export const SHAPE_HINT = 'give every input a static shape with --shape, e.g. --shape x=1x3x224x224';

/** A gradient, compression stage or audit needs a rank or shape that shape inference did not find. */
export function needsInputShapes(code: ErrorCode, message: string): SplitcError {
  return new SplitcError(code, message, { hint: SHAPE_HINT });
}

/** A name autodiff wants to add (a seed or target input, a gradient output) is taken. */
export function nameTaken(doing: string, hint?: string): SplitcError {
  return new SplitcError('E_AUTODIFF', `cannot ${doing}: the name is taken`, hint ? { hint } : {});
}

/** A cut or boundary tensor whose element type shape inference could not find. */
export function unknownTensorType(name: string, where: string): SplitcError {
  return new SplitcError('E_CUT_TYPE', `the type of ${where} tensor '${name}' is unknown`, {
    hint: 'pass --shape for inputs with unknown dims or types so shape inference can type every tensor',
  });
}

/** A compression axis the tensor does not have; `axis` says whose ("pca axis 4"). */
export function axisOutside(axis: string, rank: number, tensor?: string): SplitcError {
  return new SplitcError('E_COMPRESS', `${axis} is outside the rank-${rank} tensor${tensor === undefined ? '' : ` '${tensor}'`}`, { hint: 'axis=1 for NCHW, axis=-1 for the last axis' });
}
