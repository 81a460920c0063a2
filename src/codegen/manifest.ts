// manifest.json: what a bundle is and where it came from. Deterministic: built in a fixed
// key order (free-form blobs such as calibration constants get their keys sorted), no
// timestamps, files listed by path with their sha256.

import type { BundleCompression, Json, TensorSpec, BundleWire } from './input.js';

export const MANIFEST_SCHEMA_VERSION = 1;

export interface PartSummary {
  /** Compute nodes (Constant nodes excluded). */
  nodes: number;
  macs: number;
  paramBytes: number;
}

export interface Manifest {
  schemaVersion: number;
  tool: { name: 'splitc'; version: string };
  source: { file: string; sha256: string; bytes: number };
  /** Name the cloud model is served under (splitc server and Triton). */
  model: string;
  /** The whole system: what the edge module's infer takes and returns. */
  signature: { inputs: TensorSpec[]; outputs: (TensorSpec & { side: 'edge' | 'cloud' })[] };
  cut: { tensors: string[]; dropped: string[] };
  edge: PartSummary & { model: string; module: string; inputs: TensorSpec[]; outputs: string[] };
  /** `batchable`: cloud/<model>.onnx has a symbolic leading batch dim (the server may stack requests). */
  cloud: PartSummary & { model: string; server: string; inputs: string[]; outputs: TensorSpec[]; batchable: boolean };
  wire: BundleWire[];
  bytesPerSample: { wire: number; rawInputs: number };
  compression: { spec: string; constants?: Json; calibration?: Json; fidelity?: Json; training?: Json };
  triton: { model: string; config: string; maxBatchSize: number; noBatchingReason: string | null };
  /** The cut's inversion-risk audit (report/report.json, report/report.html): risk level and figures, or why it was not run. */
  audit?: Json;
  /** How the cloud head was recalibrated after the split (`splitc fed calibrate`); absent in a bundle as split. */
  calibration?: Json;
  /** Every other file of the bundle: path → sha256 and size. */
  files: Record<string, { sha256: string; bytes: number }>;
}

/** Recursively sorted object keys (arrays keep their order). */
export function sortKeys(x: Json): Json {
  if (Array.isArray(x)) return x.map(sortKeys);
  if (x !== null && typeof x === 'object') {
    const out: { [k: string]: Json } = {};
    for (const k of Object.keys(x).sort()) out[k] = sortKeys(x[k]!);
    return out;
  }
  return x;
}

export function compressionEntry(c: BundleCompression | undefined): Manifest['compression'] {
  if (!c) return { spec: 'none' };
  return {
    spec: c.spec,
    ...(c.constants !== undefined ? { constants: sortKeys(c.constants) } : {}),
    ...(c.calibration !== undefined ? { calibration: sortKeys(c.calibration) } : {}),
    ...(c.fidelity !== undefined ? { fidelity: sortKeys(c.fidelity) } : {}),
    ...(c.training !== undefined ? { training: sortKeys(c.training) } : {}),
  };
}

export function manifestText(m: Manifest): string {
  return JSON.stringify(m, null, 2) + '\n';
}
