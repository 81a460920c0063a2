// Public surface of the IR layer.
export * from './errors.js';
export * from './dtype.js';
export * from './tensor.js';
export * from './graph.js';
export * from './constants.js';
export * from './builder.js';
export * from './verify.js';
export * from './printer.js';
export * from './random.js';
