// A Triton Inference Server model repository for the cloud graph: `<name>/config.pbtxt`
// (protobuf text format of inference.ModelConfig, onnxruntime backend) and
// `<name>/1/model.onnx`. Triton batches along a leading dim that the model file itself
// declares dynamic (-1); when the cloud graph stays correct with a symbolic batch dim
// (checked by shape inference: every output's dim 0 is that symbol), the repository gets a
// batch-polymorphic copy of the graph, max_batch_size > 0 and dynamic batching. Otherwise
// max_batch_size is 0 and dims are given in full.

import { DataType, dtypeKServeName, dtypeName } from '../ir/dtype.js';
import { notAnInteger, SplitcError } from '../ir/errors.js';
import type { Dim, Model } from '../ir/graph.js';
import { modelToBytes } from '../ir/serde/io.js';
import { deserializeModel } from '../ir/serde/read.js';
import { PassContext } from '../passes/pass.js';
import { inferShapes } from '../passes/shape/index.js';
import { badModelName } from './diagnostics.js';

/**
 * ONNX element type name → Triton's DataType enum name: `TYPE_` and the KServe v2 name of the
 * type (ir/dtype.ts), but TYPE_STRING for BYTES.
 */
export const TRITON_DTYPES: Readonly<Record<string, string>> = Object.fromEntries(
  Object.values(DataType).flatMap((dt) => {
    const kserve = dtypeKServeName(dt);
    return kserve ? [[dtypeName(dt), `TYPE_${kserve === 'BYTES' ? 'STRING' : kserve}`]] : [];
  }),
);

export const BATCH_SYMBOL = 'batch';

export interface TritonModel {
  name: string;
  configText: string;
  /** Bytes of `<name>/1/model.onnx`. */
  modelBytes: Uint8Array;
  /** 0 when Triton must not batch (the graph has a fixed batch size). */
  maxBatchSize: number;
  /** Why the graph could not be made batch-polymorphic (when maxBatchSize is 0). */
  noBatchingReason: string | null;
}

interface IoSpec {
  name: string;
  dtype: string;
  shape: Dim[];
}

function ioOf(m: Model): { inputs: IoSpec[]; outputs: IoSpec[] } {
  const spec = (v: Model['graph']['inputs'][number]): IoSpec => {
    const t = v.tensorType;
    if (!t || !t.dtype || !t.shape) {
      throw new SplitcError('E_CODEGEN', `the cloud graph's tensor '${v.name}' has no known type and shape`, { hint: 'run shape inference before building the bundle' });
    }
    return { name: v.name, dtype: dtypeName(t.dtype), shape: [...t.shape] };
  };
  return { inputs: m.graph.inputs.filter((v) => !(v.constValue && !v.isGraphInput())).map(spec), outputs: m.graph.outputs.map(spec) };
}

/**
 * A copy of `cloud` whose inputs and outputs have a symbolic leading batch dim, or the
 * reason it cannot have one. Intermediate types are re-inferred from scratch.
 */
export function batchPolymorphic(cloud: Model): { model: Model } | { reason: string } {
  const g0 = cloud.graph;
  for (const v of [...g0.inputs, ...g0.outputs]) {
    const shape = v.tensorType?.shape;
    if (!shape || shape.length === 0) return { reason: `'${v.name}' has no leading dim to batch along` };
    const d0 = shape[0];
    if (typeof d0 === 'number' && d0 !== 1) return { reason: `'${v.name}' has a fixed leading dim of ${d0}` };
  }
  const m = deserializeModel(modelToBytes(cloud));
  const g = m.graph;
  const io = new Set([...g.inputs]);
  const inputShapes: Record<string, Dim[]> = {};
  for (const v of g.inputs) {
    if (v.constValue) continue;
    inputShapes[v.name] = [BATCH_SYMBOL, ...v.tensorType!.shape!.slice(1)];
  }
  // forget every type below the inputs so that inference alone decides them
  for (const n of g.nodes) {
    for (const v of n.outputs) {
      if (io.has(v)) continue;
      v.typeFromFile = false;
      const t = v.tensorType;
      v.type = t ? { kind: 'tensor', dtype: t.dtype, shape: null } : v.type;
    }
  }
  const ctx = new PassContext();
  inferShapes(m, { inputShapes, ctx });
  const problem = ctx.diagnostics.find((d) => d.code === 'W_SHAPE_MISMATCH' || d.code === 'W_SHAPE_RULE_FAILED' || d.code === 'W_SHAPE_CONFLICT');
  if (problem) return { reason: `shape inference with a symbolic batch dim reports: ${problem.message}` };
  for (const v of g.outputs) {
    const s = v.tensorType?.shape;
    if (!s || s.length === 0 || s[0] !== BATCH_SYMBOL) {
      return { reason: `output '${v.name}' does not keep the batch dim (inferred ${s ? `[${s.join(', ')}]` : 'unknown'})` };
    }
    if (s.slice(1).some((d) => typeof d !== 'number')) return { reason: `output '${v.name}' has other symbolic dims` };
  }
  return { model: m };
}

function pbString(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

function dimsText(shape: Dim[]): string {
  return `[ ${shape.map((d) => (typeof d === 'number' ? String(d) : '-1')).join(', ')} ]`;
}

function tensorBlock(t: IoSpec, batched: boolean): string {
  const type = TRITON_DTYPES[t.dtype];
  if (!type) throw new SplitcError('E_CODEGEN', `Triton has no data type for '${t.name}' (${t.dtype})`);
  const dims = batched ? t.shape.slice(1) : t.shape;
  return ['  {', `    name: ${pbString(t.name)}`, `    data_type: ${type}`, `    dims: ${dimsText(dims)}`, '  }'].join('\n');
}

export function tritonModel(cloud: Model, opts: { name: string; maxBatchSize: number; toolVersion: string; source: string }): TritonModel {
  if (!/^[A-Za-z0-9_.-]+$/.test(opts.name) || opts.name === '.' || opts.name === '..') {
    throw badModelName(opts.name, 'a Triton model folder');
  }
  if (!Number.isSafeInteger(opts.maxBatchSize) || opts.maxBatchSize < 1) {
    throw notAnInteger('Triton max batch size', 1, opts.maxBatchSize);
  }
  const poly = batchPolymorphic(cloud);
  const batched = 'model' in poly;
  const model = batched ? poly.model : cloud;
  const { inputs, outputs } = ioOf(model);
  const lines = [
    `# Generated by splitc ${opts.toolVersion} from ${opts.source}: the cloud part of the split.`,
    batched
      ? `# The graph's leading dim is the batch: requests of up to ${opts.maxBatchSize} samples, batched dynamically.`
      : `# No batching: ${'reason' in poly ? poly.reason : ''}.`,
    `name: ${pbString(opts.name)}`,
    'backend: "onnxruntime"',
    `max_batch_size: ${batched ? opts.maxBatchSize : 0}`,
    'input [',
    inputs.map((t) => tensorBlock(t, batched)).join(',\n'),
    ']',
    'output [',
    outputs.map((t) => tensorBlock(t, batched)).join(',\n'),
    ']',
  ];
  // Triton forms batches only for models that batch (max_batch_size > 0).
  if (batched) lines.push('dynamic_batching { }');
  return {
    name: opts.name,
    configText: lines.join('\n') + '\n',
    modelBytes: modelToBytes(model, { intermediateTypes: false }),
    maxBatchSize: batched ? opts.maxBatchSize : 0,
    noBatchingReason: 'reason' in poly ? poly.reason : null,
  };
}
