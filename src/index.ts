// Programmatic API of splitc.
export * from './ir/index.js';
export { loadModel, saveModel, modelToBytes } from './ir/serde/io.js';
export { deserializeModel } from './ir/serde/read.js';
export { serializeModel } from './ir/serde/write.js';
export * from './passes/pass.js';
export { hoistConstants } from './passes/hoist-constants.js';
export { upgradeOpset, upgradeOpsetPass, type UpgradeResult, MIN_UPGRADE_OPSET, MAX_UPGRADE_OPSET } from './passes/opset.js';
export * from './passes/shape/index.js';
export { annotateCost, type CostReport, type NodeCost, type CostTotals } from './passes/cost.js';
export * from './passes/cut.js';
export * from './passes/bottleneck/index.js';
export * from './search/calib-data.js';
export * from './search/calibrate.js';
export * from './search/fidelity.js';
