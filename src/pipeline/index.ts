// The orchestration a user runs — split, plan, build — in one place above search and codegen:
// the CLI parses arguments and prints; everything it prints comes from here.
export * from './build.js';
export * from './calibration.js';
export * from './compress.js';
export * from './plan.js';
export * from './plan-file.js';
export * from './split.js';
