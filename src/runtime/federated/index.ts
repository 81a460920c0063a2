// Federated training's public pieces (issue 18): the shared vocabulary, and each part's exports in its own block.

export type { ClientData, ClientUpdate, LocalOptions, TensorSpec, TrainingTask, Weights } from './types.js';

// SphereFed's calibration and secure aggregation of its statistics.
export { addStats, calibrationStats, type CalibrationStats, emptyStats, featureStats, packedLength, packStats, solveCalibration, unpackStats } from './calibration.js';
export { createMaskingKeys, decodeUnmasked, FIXED_POINT_BITS, type MaskingKeys, type MaskingPeer, maskVector, MAX_ABS_VALUE, sumMasked } from './secure-agg.js';
