// onnxruntime as the oracle for shape inference: run a copy of a model in which every
// named node output is also a graph output, and report the dims, type and (small)
// data onnxruntime produced for each.

import * as ort from 'onnxruntime-node';
import { dtypeName } from '../../../src/ir/dtype.js';
import type { Dim, Model, Value } from '../../../src/ir/graph.js';
import { knownValueOf } from '../../../src/passes/shape/index.js';
import { modelToBytes } from '../../../src/ir/serde/io.js';
import { deserializeModel } from '../../../src/ir/serde/read.js';
import { assertValid } from '../../../src/ir/verify.js';
import { xorshift32 } from '../../helpers/onnx-oracle.js';

export interface Observed {
  /** onnxruntime's type name (float32, int64, bool, ...). */
  type: string;
  dims: number[];
  /** Elements for tensors of at most 4096 elements (numbers; bigint converted). */
  data: number[] | null;
}

/**
 * A copy of `model` (through bytes, so the original is untouched) whose graph outputs
 * include every named node output of the main graph. Types of the added outputs are
 * cleared, so onnxruntime infers them itself.
 */
export function probeModelBytes(model: Model): Uint8Array {
  const copy = deserializeModel(modelToBytes(model));
  const g = copy.graph;
  const outs = new Set<Value>(g.outputs);
  for (const n of g.nodes) {
    for (const o of n.outputs) {
      if (!o.name || outs.has(o)) continue;
      o.type = null;
      o.typeFromFile = false;
      g.outputs.push(o);
      outs.add(o);
    }
  }
  assertValid(copy);
  return modelToBytes(copy);
}

/** Seeded inputs for float, integer and bool graph inputs of the given shapes. */
export function seededFeeds(model: Model, shapes: Record<string, number[]>, seed = 7): Record<string, ort.Tensor> {
  const rnd = xorshift32(seed);
  const feeds: Record<string, ort.Tensor> = {};
  for (const v of model.graph.inputs) {
    if (v.constValue) continue;
    const dims = shapes[v.name] ?? (v.shape as number[]);
    const n = dims.reduce((a, b) => a * b, 1);
    const dt = dtypeName(v.dtype ?? 1);
    if (dt === 'int64') feeds[v.name] = new ort.Tensor('int64', BigInt64Array.from({ length: n }, () => BigInt(Math.floor(rnd() * 3))), dims);
    else if (dt === 'int32') feeds[v.name] = new ort.Tensor('int32', Int32Array.from({ length: n }, () => Math.floor(rnd() * 3)), dims);
    else if (dt === 'bool') feeds[v.name] = new ort.Tensor('bool', Uint8Array.from({ length: n }, () => (rnd() < 0.5 ? 1 : 0)), dims);
    else feeds[v.name] = new ort.Tensor('float32', Float32Array.from({ length: n }, () => rnd() * 2 - 1), dims);
  }
  return feeds;
}

/** Run the probe copy of `model`; every named node output's observed dims, type and data. */
export async function observeAll(model: Model, shapes: Record<string, number[]>, seed = 7): Promise<Map<string, Observed>> {
  const bytes = probeModelBytes(model);
  // logSeverityLevel 3: onnxruntime's own (static) shape merging warnings are noise here
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 3 });
  try {
    const res = await session.run(seededFeeds(model, shapes, seed));
    const out = new Map<string, Observed>();
    for (const [name, t] of Object.entries(res)) {
      let data: number[] | null = null;
      if (t.size <= 4096 && t.type !== 'string') data = Array.from(t.data as ArrayLike<number | bigint>, (x) => Number(x));
      out.set(name, { type: t.type, dims: [...t.dims], data });
    }
    return out;
  } finally {
    await session.release();
  }
}

export interface Checked {
  values: number;
  staticValues: number;
  foldedChecked: number;
  problems: string[];
}

/** Compare every named node output of `model` with onnxruntime; symbols take `bind`. */
export async function compareWithOrt(
  model: Model,
  runShapes: Record<string, number[]>,
  bind: Record<string, number> = {},
  opts: { allowUnknown?: boolean } = {},
): Promise<Checked> {
  const observed = await observeAll(model, runShapes);
  const r: Checked = { values: 0, staticValues: 0, foldedChecked: 0, problems: [] };
  // symbols and products of symbols ('3*N') evaluate with `bind`
  const symValue = (s: string): number =>
    s.split('*').reduce((acc, tok) => acc * (/^\d+$/.test(tok) ? Number(tok) : tok in bind ? bind[tok]! : NaN), 1);
  const dimValue = (d: Dim): number | null => (typeof d === 'number' ? d : typeof d === 'string' ? symValue(d) : null);
  for (const n of model.graph.nodes) {
    for (const o of n.outputs) {
      if (!o.name) continue;
      r.values++;
      const obs = observed.get(o.name);
      if (!obs) {
        r.problems.push(`${o.name}: not produced by onnxruntime`);
        continue;
      }
      const t = o.tensorType;
      if (!t || !t.shape) {
        if (opts.allowUnknown && (!t || dtypeName(t.dtype) === obs.type)) continue;
        r.problems.push(`${o.name} (${n.opType}): no shape inferred, onnxruntime: ${obs.type}[${obs.dims}]`);
        continue;
      }
      if (t.shape.every((d) => typeof d === 'number')) r.staticValues++;
      const dims = t.shape.map(dimValue);
      // with allowUnknown, an unknown dim (or a symbol not in `bind`) matches anything
      const unknownOk = (d: number | null): boolean => !!opts.allowUnknown && (d === null || Number.isNaN(d));
      if (dims.length !== obs.dims.length || dims.some((d, i) => d !== obs.dims[i] && !unknownOk(d))) {
        r.problems.push(`${o.name} (${n.opType}): inferred [${t.shape.join(',')}], onnxruntime [${obs.dims.join(',')}]`);
      }
      if (dtypeName(t.dtype) !== obs.type) r.problems.push(`${o.name} (${n.opType}): inferred ${dtypeName(t.dtype)}, onnxruntime ${obs.type}`);
      const kv = knownValueOf(o);
      if (kv && obs.data) {
        r.foldedChecked++;
        const got = kv.data.map((x) => (typeof x === 'string' ? symValue(x) : x));
        const same = got.length === obs.data.length && got.every((x, i) => x === null || Object.is(x, obs.data![i]) || x === obs.data![i]);
        if (!same) r.problems.push(`${o.name} (${n.opType}): folded [${kv.data.slice(0, 8).join(',')}], onnxruntime [${obs.data.slice(0, 8).join(',')}]`);
      }
    }
  }
  return r;
}
