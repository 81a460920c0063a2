// Federated training's public pieces: the vocabulary, the algorithms, partitions, data and the
// in-process simulation (src/index.ts may re-export this module).

// -- federated core: local training, FedAvg/FedProx, partitions, simulation --
export type { ClientData, ClientUpdate, LocalOptions, TensorSpec, TrainingTask, Weights } from './types.js';
export { buildTrainingTask, trainingTaskOf, initialWeights, applyWeights, type TrainingTaskOptions } from './task.js';
export { LocalTrainer, localSeed, type LocalOrt, type LocalOrtSession, type LocalOrtTensor, type LocalSessionOptions } from './local.js';
export { fedAvg, validateUpdate } from './aggregate.js';
export { taskTensors, checkWeights, copyWeights, weightsBytes } from './weights.js';
export { partitionIid, partitionDirichlet, partitionCounts, subset } from './partition.js';
export { loadFederatedDataset, type FederatedDatasetName, type FederatedDatasetOptions } from './data.js';
export { simulate, chooseClients, clientIds, type RoundRecord, type SimulateOptions } from './simulate.js';
// -- end of federated core --
