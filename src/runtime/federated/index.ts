// Federated training's public pieces (issue 18): the shared vocabulary, and each part's exports in its own block.

export type { ClientData, ClientUpdate, LocalOptions, TensorSpec, TrainingTask, Weights } from './types.js';

// -- federated core: local training, FedAvg/FedProx, partitions, simulation --
export { buildTrainingTask, trainingTaskOf, initialWeights, applyWeights, type TrainingTaskOptions } from './task.js';
export { LocalTrainer, localSeed, type LocalOrt, type LocalOrtSession, type LocalOrtTensor, type LocalSessionOptions } from './local.js';
export { fedAvg, validateUpdate } from './aggregate.js';
export { taskTensors, checkWeights, copyWeights, weightsBytes } from './weights.js';
export { partitionIid, partitionDirichlet, partitionCounts, subset } from './partition.js';
export { FEDERATED_DATASETS, loadFederatedDataset, type FederatedDatasetName, type FederatedDatasetOptions } from './data.js';
export { loadMnistDigits, mnistSplit, type MnistSplitOrder, MNIST_MEAN, MNIST_STD, MNIST_TEST_FRACTION, mnistPackageDigitsDir } from './mnist-digits.js';
export { simulate, chooseClients, clientIds, type RoundRecord, type SimulateOptions, type SimulateResult } from './simulate.js';

// SphereFed's calibration and secure aggregation of its statistics.
export { addStats, calibrationStats, type CalibrationStats, emptyStats, featureStats, packedLength, packStats, solveCalibration, unpackStats } from './calibration.js';
export { calibrateSphereFed, type CalibrationResult, sphereFedSetup, type SphereFedSetup, type SphereFedSimOptions } from './spherefed-sim.js';
export { createMaskingKeys, decodeUnmasked, FIXED_POINT_BITS, type MaskingKeys, type MaskingPeer, maskVector, MAX_ABS_VALUE, sumMasked } from './secure-agg.js';

// -- coordinator over HTTP: the round state machine, the protocol's bodies, the clients --
export { CHECKPOINT_FILE, type CalibrationInfo, Coordinator, type CoordinatorOptions, type CoordinatorRound, type CoordinatorStatus, type RegisteredClient, type RoundInfo, type SubmitResult } from './coordinator.js';
export { CALIBRATION_CONTEXT, CalibrationPhase, type CalibrationPhaseOptions, type CalibrationRecord } from './calibration-phase.js';
export { calibrationFromRequest, checkDeclaredCalibration, checkDeclaredWeights, decodeCalibrationInfo, decodeRound, decodeTask, encodeCalibration, encodeCalibrationInfo, encodeRound, encodeTask, encodeUpdate, updateFromRequest, weightsFromWire, weightsToWire } from './wire.js';
export { type ClientCalibrationRecord, type ClientRoundRecord, type JoinOptions, type JoinResult, runFederatedClient } from './client.js';
export { joinFederation, type NodeJoinOptions } from './node-client.js';
