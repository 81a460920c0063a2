// The error code a call fails with (undefined when it succeeds); non-splitc errors propagate.
import { SplitcError } from '../../src/ir/errors.js';

export function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof SplitcError) return e.code;
    throw e;
  }
  return undefined;
}

/** The error code an async call fails with (undefined when it succeeds); non-splitc errors propagate. */
export async function codeOfAsync(p: Promise<unknown> | (() => Promise<unknown>)): Promise<string | undefined> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    if (e instanceof SplitcError) return e.code;
    throw e;
  }
  return undefined;
}
