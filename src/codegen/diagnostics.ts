// Code generation's error codes (members of ErrorCode, see ir/errors.ts) and its recurring
// diagnostics.

import { SplitcError } from '../ir/errors.js';

declare module '../ir/errors.js' {
  interface ErrorCodes {
    E_CODEGEN: 'a bundle cannot be generated (inconsistent split, unsupported wire type, missing runtime files)';
    E_BUNDLE: "a bundle folder cannot be read: no splitc manifest.json, a file it lists missing or changed, or parts that do not fit";
  }
}

/** A served model's name that would not make a safe folder or URL segment. */
export function badModelName(name: string, what: string): SplitcError {
  return new SplitcError('E_BAD_ARGUMENT', `'${name}' cannot name ${what}`, { hint: 'use letters, digits, _ . -' });
}

/** A bundle folder that is not what its manifest says; `problem` says how. */
export function badBundle(dir: string, problem: string, hint = 'pass a folder written by splitc split or splitc build, unchanged'): SplitcError {
  return new SplitcError('E_BUNDLE', `${dir}: ${problem}`, { hint });
}
