// The ONNX project's backend test corpus (Debian package libonnx-testdata): its cases, their
// test data, and that data as onnxruntime tensors. Shared by the corpus tests.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { DataType, dtypeName } from '../../src/ir/dtype.js';
import { SplitcError } from '../../src/ir/errors.js';
import { decodeUtf8 } from '../../src/ir/graph.js';
import { deserializeTensor } from '../../src/ir/serde/read.js';
import type { Tensor } from '../../src/ir/tensor.js';

export const CORPUS = '/usr/share/libonnx-testdata/data';
export const corpusAvailable = fs.existsSync(CORPUS);

export interface CorpusCase {
  suite: string;
  name: string;
  dir: string;
}

/** Every model of the corpus (suite/name/dir), sorted; none when the package is not installed. */
export function corpusCases(): CorpusCase[] {
  if (!corpusAvailable) return [];
  const out: CorpusCase[] = [];
  for (const suite of fs.readdirSync(CORPUS).sort()) {
    for (const name of fs.readdirSync(path.join(CORPUS, suite)).sort()) {
      const dir = path.join(CORPUS, suite, name);
      if (fs.existsSync(path.join(dir, 'model.onnx'))) out.push({ suite, name, dir });
    }
  }
  return out;
}

/** dims of input_i.pb / output_i.pb of the first data set; null where the file is not a plain TensorProto. */
export function dataDims(dir: string, kind: 'input' | 'output'): (number[] | null)[] {
  return dataTensors(dir, kind).map((t) => (t ? t.dims : null));
}

/** The tensors input_i.pb / output_i.pb of a case's first data set, in order; null where not a plain TensorProto. */
export function dataTensors(dir: string, kind: 'input' | 'output'): (Tensor | null)[] {
  const ds = fs.readdirSync(dir).filter((d) => d.startsWith('test_data_set_')).sort()[0];
  if (!ds) return [];
  const files = fs
    .readdirSync(path.join(dir, ds))
    .filter((f) => f.startsWith(`${kind}_`) && f.endsWith('.pb'))
    .sort((a, b) => Number(a.slice(kind.length + 1, -3)) - Number(b.slice(kind.length + 1, -3)));
  return files.map((f) => {
    try {
      const t = deserializeTensor(fs.readFileSync(path.join(dir, ds, f)));
      return t.dtype === 0 ? null : t;
    } catch {
      return null; // SequenceProto / OptionalProto / MapProto test data
    }
  });
}

/** The test input as an onnxruntime tensor; null when it is not a plain tensor (sequence/optional data). */
export function toOrt(t: Tensor): ort.Tensor | null {
  try {
    return toOrtUnchecked(t);
  } catch (e) {
    if (e instanceof SplitcError) return null;
    throw e;
  }
}

function toOrtUnchecked(t: Tensor): ort.Tensor | null {
  const dims = t.dims;
  switch (t.dtype) {
    case DataType.STRING:
      return new ort.Tensor('string', (t.strings ?? []).map(decodeUtf8), dims);
    case DataType.BOOL:
      return new ort.Tensor('bool', Uint8Array.from(t.bytes()), dims);
    case DataType.FLOAT16:
      return new ort.Tensor('float16', new Uint16Array(Uint8Array.from(t.bytes()).buffer), dims);
    case DataType.FLOAT:
    case DataType.DOUBLE:
    case DataType.INT8:
    case DataType.UINT8:
    case DataType.INT16:
    case DataType.UINT16:
    case DataType.INT32:
    case DataType.UINT32:
    case DataType.INT64:
    case DataType.UINT64: {
      const name = dtypeName(t.dtype) as 'float32';
      return new ort.Tensor(name, t.toTypedArray() as Float32Array, dims);
    }
    default:
      return null;
  }
}
