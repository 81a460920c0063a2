// Code generation's error codes (members of ErrorCode, see ir/errors.ts) and its recurring
// diagnostics.

import { SplitcError } from '../ir/errors.js';

declare module '../ir/errors.js' {
  interface ErrorCodes {
    E_CODEGEN: 'a bundle cannot be generated (inconsistent split, unsupported wire type, missing runtime files)';
  }
}
