// Public API of the code generator: build a deployable bundle from a split.
export { buildBundle, checkBundleInput, generateBundleFiles, defaultModelName, DEFAULT_TRITON_MAX_BATCH, type BuildResult } from './bundle.js';
export {
  bundleInputFromSplit,
  bytesPerSampleOf,
  sha256Hex,
  tensorSpecOf,
  toJson,
  type BundleCompression,
  type BundleInput,
  type Json,
  type TensorSpec,
  type BundleWire,
} from './input.js';
export { MANIFEST_SCHEMA_VERSION, type Manifest, type PartSummary } from './manifest.js';
export { batchPolymorphic, tritonModel, TRITON_DTYPES, type TritonModel } from './triton.js';
export { generateEdgeModule, type EdgeModule, type EdgeModuleSpec } from './edge.js';
