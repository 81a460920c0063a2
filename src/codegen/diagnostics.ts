// Code generation's error codes (members of ErrorCode, see ir/errors.ts) and its recurring
// diagnostics.

import { SplitcError } from '../ir/errors.js';

declare module '../ir/errors.js' {
  interface ErrorCodes {
    E_CODEGEN: 'a bundle cannot be generated (inconsistent split, unsupported wire type, missing runtime files)';
  }
}

/** A served model's name that would not make a safe folder or URL segment. */
export function badModelName(name: string, what: string): SplitcError {
  return new SplitcError('E_BAD_ARGUMENT', `'${name}' cannot name ${what}`, { hint: 'use letters, digits, _ . -' });
}
