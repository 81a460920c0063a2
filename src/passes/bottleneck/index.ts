// Compression bottlenecks at the cut: spec grammar, calibration statistics, PCA, affine
// quantization with sub-byte packing, and the edge/cloud graph transform.
export * from './spec.js';
export * from './stats.js';
export * from './pca.js';
export * from './learned.js';
export * from './quant.js';
export * from './compress.js';
export * from './training-form.js';
