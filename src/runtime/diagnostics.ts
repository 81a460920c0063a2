// The runtime's error codes: the wire codes (declared with the protocol in kserve/protocol.ts,
// which browser bundles carry without the IR) and the server's own, as members of ErrorCode.

import type { WireErrorCodes } from './kserve/protocol.js';

declare module '../ir/errors.js' {
  interface ErrorCodes extends WireErrorCodes {
    E_MODEL_LOAD: 'onnxruntime could not load a model to serve, or it has inputs the protocol cannot carry';
  }
}
