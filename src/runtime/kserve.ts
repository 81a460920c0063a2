// The KServe v2 / Open Inference Protocol wire format: request/response types, JSON tensors
// and the binary tensor data extension. Platform-neutral: it imports only import-free leaves
// of the IR (dtype table, half precision, byte concatenation), so the import closure copied
// into browser and Node edge bundles next to client.js needs nothing else.

export * from './kserve/datatypes.js';
export * from './kserve/protocol.js';
export * from './kserve/tensors.js';
export * from './kserve/bodies.js';
