// Programmatic API of splitc.
// Each layer declares its error codes in its diagnostics module: load them all so the API's
// ErrorCode names every code.
import './passes/diagnostics.js';
import './search/diagnostics.js';
import './codegen/diagnostics.js';
import './runtime/diagnostics.js';
import './audit/diagnostics.js';
import './cli/diagnostics.js';
export * from './ir/index.js';
export { loadModel, saveModel, modelToBytes } from './ir/serde/io.js';
export { deserializeModel } from './ir/serde/read.js';
export { serializeModel } from './ir/serde/write.js';
export * from './passes/pass.js';
import './passes/all.js'; // parsePipeline knows every pass
export { hoistConstants } from './passes/hoist-constants.js';
export { foldBatchNorm, foldBatchNormPass } from './passes/fold-batchnorm.js';
export { upgradeOpset, upgradeOpsetPass, type UpgradeResult, MIN_UPGRADE_OPSET, MAX_UPGRADE_OPSET } from './passes/opset.js';
export * from './passes/shape/index.js';
export { differentiate, exposeAsInputs, parameterNames, GRAD_PREFIX, GRAD_RULES, GradBuilder, type AutodiffOptions, type AutodiffResult, type GradRule, type GradContext } from './passes/autodiff/index.js';
export * from './passes/autodiff/losses.js';
export { annotateCost, type CostReport, type NodeCost, type CostTotals } from './passes/cost.js';
export * from './passes/cut.js';
export * from './passes/bottleneck/index.js';
export { cutPass, cutUnderManager } from './passes/cut-pass.js';
export { bottleneckPass } from './passes/bottleneck/pass.js';
export { lossPass, autodiffPass, type LossPass, type AutodiffPass, type AutodiffPassOptions } from './passes/autodiff/pass.js';
export { calibratedHead, findClassifierHead, orthonormalRows, sphereFedHead, sphereFedHeadPass, SPHEREFED_METADATA, type ClassifierHead, type SphereFedHead, type SphereFedOptions } from './passes/spherefed.js';
export * from './search/calib-data.js';
export * from './search/calibrate.js';
export * from './search/fidelity.js';
export { Trainer, type OrtModule, type TrainerOptions } from './runtime/train/trainer.js';
export { loadCheckpoint, saveCheckpoint } from './runtime/train/checkpoint-file.js';
export { buildTrainingGraph, batchNormToTraining, batchNormTrainingPass, type TrainingGraph } from './passes/training-graph.js';
export { createOptimizer, scheduledLr, type Optimizer, type OptimizerConfig } from './runtime/train/optimizer.js';
export { fit, evaluateAccuracy, epochOrder, type FitOptions, type LabeledImages } from './runtime/train/fit.js';
export { readIdx, parseIdx, loadIdxImages } from './runtime/train/idx.js';
export { smallResNet } from './runtime/train/models.js';
export { auditCuts, attackTarget, resolveCuts, runWhitebox, renderAuditHtml, THREAT_MODEL, type AuditReport, type AuditData, type AuditRun, type AttackName, type Budget, type RiskLevel, type AttackTarget } from './audit/index.js';
export { psnr, ssim, riskLevel, DEFAULT_THRESHOLDS } from './audit/metrics.js';
export { audit, type AuditOptions, type AuditPipelineRun } from './pipeline/audit.js';
