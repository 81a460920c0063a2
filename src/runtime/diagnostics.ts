// The runtime's error codes: the wire codes (declared with the protocol in kserve/protocol.ts,
// which browser bundles carry without the IR) and the server's own, as members of ErrorCode;
// and the diagnostics the server and its command share.

import { SplitcError } from '../ir/errors.js';
import type { WireErrorCodes } from './kserve/protocol.js';

declare module '../ir/errors.js' {
  interface ErrorCodes extends WireErrorCodes {
    E_MODEL_LOAD: 'onnxruntime could not load a model to serve, or it has inputs the protocol cannot carry';
  }
}

/** A count option (threads, queue length, batch size) that is not a whole number ≥ `min`. */
export function notAnInteger(name: string, min: number, got: string): SplitcError {
  return new SplitcError('E_BAD_ARGUMENT', `${name} must be an integer ≥ ${min}, got ${got}`);
}
