// What a bundle is built from: the two parts of a split, the tensors on the wire, the
// whole system's signature and, when the split is compressed, the compression facts the
// manifest records. `bundleInputFromSplit` derives it from a plain (uncompressed) cut.

import { createHash } from 'node:crypto';
import { byteSizeOf, dtypeName } from '../ir/dtype.js';
import { SplitcError } from '../ir/errors.js';
import type { Dim, Model, Value } from '../ir/graph.js';
import type { SplitResult } from '../passes/cut.js';
import { unknownTensorType } from '../passes/diagnostics.js';

/** Plain JSON, as written to manifest.json. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A tensor's name, element type and dims (numbers, symbols, or null when unknown). */
export interface TensorSpec {
  name: string;
  dtype: string;
  shape: Dim[];
}

/** A tensor sent from the edge to the cloud (an edge output and a cloud input of that name). */
export interface BundleWire extends TensorSpec {
  /** Bytes of this tensor for one sample (batch size 1; symbolic dims taken as 1). */
  bytesPerSample: number;
  /** The tensor of the original model it carries (differs from `name` when a bottleneck re-encodes it). */
  source: string;
  /** Per-tensor compression facts (bits, scale, zero point, kept channels, …), as the bottleneck reports them. */
  compression?: Json;
}

/**
 * Compression facts recorded in the manifest. Integration point for `--compress`: the
 * bottleneck pass returns new edge/cloud models and per-wire-tensor info (put those in
 * `BundleInput.edge/cloud/wire`); the rest goes here.
 */
export interface BundleCompression {
  /** The compression spec in its canonical text form, e.g. `int8` or `pca=16,int4`. */
  spec: string;
  /** Calibration constants baked into the bottleneck (scales, zero points, …). */
  constants?: Json;
  /** Where the calibration data came from (path, kind, sample count, seed). */
  calibration?: Json;
  /** Measured fidelity of the compressed split against the original model. */
  fidelity?: Json;
  /** A learned stage's training: data (source, sha256, samples), epochs, seed, batch, history. */
  training?: Json;
}

export interface BundleInput {
  /** splitc's version, recorded in the manifest and the generated files' headers. */
  toolVersion: string;
  /** The model file the bundle was built from. */
  source: { fileName: string; sha256: string; bytes: number };
  /** Inputs and outputs of the whole system (the original model after shape inference). */
  signature: { inputs: TensorSpec[]; outputs: TensorSpec[] };
  /** The edge graph: outputs are the wire tensors, then the model outputs computed on the edge. */
  edge: Model;
  /** The cloud graph: inputs are the wire tensors (same names), outputs the remaining model outputs. */
  cloud: Model;
  /** The cut as the user chose it (original tensor names, graph order). */
  cutTensors: string[];
  /** Cut tensors not needed by the cloud (not sent). */
  droppedCutTensors: string[];
  /** Original outputs computed on the edge and returned directly. */
  edgeOutputs: string[];
  /** Original outputs computed by the cloud. */
  cloudOutputs: string[];
  /** What crosses the network, in the order the edge sends it. */
  wire: BundleWire[];
  /** Absent: no compression (`none`). */
  compression?: BundleCompression;
  /** Name the cloud model is served under (splitc's server: `cloud/<name>.onnx`; Triton: `triton/<name>/`). Default: the source file's stem (`defaultModelName`). */
  modelName?: string;
  /** Largest batch Triton may form when the cloud graph is batch-polymorphic (default 8). */
  tritonMaxBatchSize?: number;
  /** The cut's inversion-risk audit: its summary goes into the manifest, its files into report/. */
  audit?: { summary: Json; files: Record<string, string> };
}

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function tensorSpecOf(v: Value, where: string): TensorSpec {
  const t = v.tensorType;
  if (!t || !t.dtype) {
    throw unknownTensorType(v.name, where);
  }
  return { name: v.name, dtype: dtypeName(t.dtype), shape: t.shape ? [...t.shape] : [] };
}

/** Bytes of one sample: every symbolic or unknown dim is taken as 1 (the batch dim of a batch of one). */
export function bytesPerSampleOf(v: Value): number {
  const t = v.tensorType;
  if (!t || !t.dtype || !t.shape) return 0;
  let n = 1;
  for (const d of t.shape) n *= typeof d === 'number' ? d : 1;
  return byteSizeOf(t.dtype, n);
}

/** A bundle input for a plain cut (no compression): the wire is the cut tensors as they are. */
export function bundleInputFromSplit(
  model: Model,
  split: SplitResult,
  opts: { toolVersion: string; sourceFile: string; sourceBytes: Uint8Array; modelName?: string },
): BundleInput {
  const wire: BundleWire[] = split.cloud.graph.inputs.map((v) => ({
    ...tensorSpecOf(v, 'cut'),
    bytesPerSample: bytesPerSampleOf(v),
    source: v.name,
  }));
  return {
    toolVersion: opts.toolVersion,
    source: { fileName: baseName(opts.sourceFile), sha256: sha256Hex(opts.sourceBytes), bytes: opts.sourceBytes.byteLength },
    signature: {
      inputs: model.graph.inputs.filter((v) => !(v.constValue && !v.isGraphInput())).map((v) => tensorSpecOf(v, 'input')),
      outputs: model.graph.outputs.map((v) => tensorSpecOf(v, 'output')),
    },
    edge: split.edge,
    cloud: split.cloud,
    cutTensors: [...split.cutTensors],
    droppedCutTensors: [...split.droppedCutTensors],
    edgeOutputs: [...split.edgeOutputs],
    cloudOutputs: [...split.cloudOutputs],
    wire,
    ...(opts.modelName !== undefined ? { modelName: opts.modelName } : {}),
  };
}

function baseName(p: string): string {
  const parts = p.split(/[\\/]/);
  return parts[parts.length - 1] ?? p;
}

/**
 * Any value → plain JSON for the manifest: typed arrays become number arrays, Maps objects,
 * bigints decimal strings, non-finite numbers strings; keys keep insertion order.
 * Functions, symbols and cycles are errors.
 */
export function toJson(x: unknown, seen = new Set<object>()): Json {
  if (x === null || x === undefined) return null;
  if (typeof x === 'boolean' || typeof x === 'string') return x;
  if (typeof x === 'number') return Number.isFinite(x) ? x : String(x);
  if (typeof x === 'bigint') return x.toString();
  if (typeof x !== 'object') throw new SplitcError('E_BAD_ARGUMENT', `cannot record a ${typeof x} in the manifest`);
  if (seen.has(x)) throw new SplitcError('E_BAD_ARGUMENT', 'cannot record a cyclic value in the manifest');
  seen.add(x);
  try {
    if (ArrayBuffer.isView(x) && !(x instanceof DataView)) return Array.from(x as unknown as ArrayLike<number | bigint>, (e) => toJson(e, seen));
    if (Array.isArray(x)) return x.map((e) => toJson(e, seen));
    if (x instanceof Map) return Object.fromEntries([...x].map(([k, v]) => [String(k), toJson(v, seen)]));
    const out: { [key: string]: Json } = {};
    for (const [k, v] of Object.entries(x)) if (v !== undefined) out[k] = toJson(v, seen);
    return out;
  } finally {
    seen.delete(x);
  }
}
