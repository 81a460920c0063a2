// The runtime's error codes: the wire codes (declared with the protocol in kserve/protocol.ts,
// which browser bundles carry without the IR) and the server's own, as members of ErrorCode.

import type { WireErrorCodes } from './kserve/protocol.js';

declare module '../ir/errors.js' {
  interface ErrorCodes extends WireErrorCodes {
    E_MODEL_LOAD: 'onnxruntime could not load a model to serve, or it has inputs the protocol cannot carry';
  }
}

// Federated training (src/runtime/federated/): what a coordinator rejects, data a client cannot
// train on, and SphereFed's calibration and secure aggregation.
declare module '../ir/errors.js' {
  interface ErrorCodes {
    E_FED_UPDATE: 'federated weights (a client update or a global model) do not match the training task: names, element counts, finite values or sample count';
    E_FED_DATA: 'a client’s data does not fit the training task: sample shape, labels outside the classes, or fewer samples than one batch';
    E_FED_CALIBRATION: "SphereFed's calibration cannot be solved: Σ V_k + λI is not positive definite, or the statistics' sizes disagree";
    E_SECURE_AGG: 'masked uploads cannot be summed: malformed, of different lengths, or their masks did not cancel (an upload missing or from another round or peer set)';
    E_FED_ROUND: "a request conflicts with the coordinator's round state (HTTP 409): unknown client, not chosen, stale, future or duplicate update, round not open, federation done or full";
    E_FED_CHECKPOINT: "a coordinator checkpoint cannot be resumed: missing, malformed, or not of this model's training task";
  }
}
