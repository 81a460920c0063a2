// ONNX ModelProto bytes → IR. Tensors stay views into the input buffer; external
// data is located and size-checked now but read only when asked.

import { DataType, dtypeName, byteSizeOf } from '../dtype.js';
import { SplitcError } from '../errors.js';
import {
  type Attribute,
  AttrType,
  type Dim,
  Graph,
  type IrFunction,
  Model,
  Node,
  type ValueType,
  Value,
} from '../graph.js';
import { MemoryStorage, Tensor } from '../tensor.js';
import { checkLocationText, realFolder, resolveDataFile } from './external-path.js';
import { ExternalStorage, FieldStorage, TensorField } from './storage.js';
import { WireReader, WireType } from './wire.js';

export const MIN_IR_VERSION = 3;
export const MAX_IR_VERSION = 13;
/** Default-domain opsets splitc reads: 7 up to the newest that the bundled onnxruntime (1.30, node and web) loads. */
export const MIN_OPSET = 7;
export const MAX_OPSET = 26;

export interface ReadOptions {
  /** Folder that external data locations are relative to (the model file's folder). */
  baseDir?: string;
  /** Name for messages. */
  source?: string;
}

/** Unmodelled fields of a message, kept as raw wire records. */
export type Extra = Uint8Array[];

interface RawValueInfo {
  name: string;
  type: ValueType | null;
  doc: string;
}
interface RawNode {
  inputs: string[];
  outputs: string[];
  name: string;
  opType: string;
  domain: string;
  overload: string;
  doc: string;
  attributes: Attribute[];
  extra: Extra;
}
interface RawGraph {
  name: string;
  doc: string;
  nodes: RawNode[];
  initializers: Tensor[];
  inputs: RawValueInfo[];
  outputs: RawValueInfo[];
  valueInfo: RawValueInfo[];
  extra: Extra;
}

class Ctx {
  constructor(
    readonly baseDir: string | undefined,
    readonly source: string,
  ) {}
  depth = 0;
  private realBase: string | undefined;
  /** The model folder with symbolic links resolved (external data must resolve inside it). */
  realBaseDir(): string {
    if (this.realBase === undefined) {
      this.realBase = realFolder(this.baseDir ?? '.');
    }
    return this.realBase;
  }
}

/** Quick look at the first bytes: is this plausibly a ModelProto? Throws E_NOT_ONNX if not. */
export function probeOnnx(buf: Uint8Array, source = 'input'): void {
  const notOnnx = (reason: string): never => {
    throw new SplitcError('E_NOT_ONNX', `${source} is not an ONNX model (${reason})`, {
      hint: 'pass a binary .onnx file (ModelProto), e.g. as exported by torch.onnx.export or tf2onnx',
    });
  };
  if (buf.byteLength === 0) notOnnx('the file is empty');
  const head = String.fromCharCode(...buf.subarray(0, Math.min(8, buf.byteLength)));
  if (head.startsWith('PK')) notOnnx('it is a zip archive; unzip it first');
  if (head.startsWith('\x93NUMPY')) notOnnx('it is a NumPy .npy file');
  if (head.startsWith('\x89PNG') || head.startsWith('\xff\xd8')) notOnnx('it is an image');
  if (/^\s*[{[]/.test(head)) notOnnx('it looks like JSON text');
  if (/^\s*(ir_version|graph|<)/.test(head)) notOnnx('it looks like a text file, not binary protobuf');
  if (head.startsWith('\x1f\x8b')) notOnnx('it is gzip-compressed; decompress it first');
  // The first field of a ModelProto is one of its known fields with the right wire type.
  const r = new WireReader(buf, 0, buf.byteLength, 'model');
  let field: number, wt: number;
  try {
    [field, wt] = r.tag();
  } catch {
    return notOnnx('the first bytes are not a protobuf field');
  }
  const expected: Record<number, number> = { 1: 0, 2: 2, 3: 2, 4: 2, 5: 0, 6: 2, 7: 2, 8: 2, 14: 2, 20: 2, 25: 2, 26: 2 };
  if (expected[field] === undefined || expected[field] !== wt) {
    notOnnx(`the first field (number ${field}, wire type ${wt}) is not a ModelProto field`);
  }
}

export function deserializeModel(buf: Uint8Array, opts: ReadOptions = {}): Model {
  const source = opts.source ?? 'input';
  probeOnnx(buf, source);
  const ctx = new Ctx(opts.baseDir, source);
  const r = new WireReader(buf, 0, buf.byteLength, 'model');
  let irVersion: number | undefined;
  let rawGraph: RawGraph | undefined;
  const opsets: [string, number][] = [];
  const meta: [string, string][] = [];
  const rawFunctions: Uint8Array[] = [];
  const extra: Extra = [];
  let producerName = '',
    producerVersion = '',
    domain = '',
    doc = '';
  let modelVersion = 0;
  while (!r.done()) {
    const start = r.pos;
    const f = r.next();
    const wt = r.wt;
    if (f === 1 && wt === WireType.VARINT) irVersion = r.int64Number();
    else if (f === 2 && wt === WireType.LEN) producerName = r.string();
    else if (f === 3 && wt === WireType.LEN) producerVersion = r.string();
    else if (f === 4 && wt === WireType.LEN) domain = r.string();
    else if (f === 5 && wt === WireType.VARINT) modelVersion = r.safeInt64('model_version');
    else if (f === 6 && wt === WireType.LEN) doc = r.string();
    else if (f === 7 && wt === WireType.LEN) {
      rawGraph = readGraph(r.message('graph'), ctx);
    } else if (f === 8 && wt === WireType.LEN) {
      opsets.push(readOpset(r.message('opset import')));
    } else if (f === 14 && wt === WireType.LEN) {
      meta.push(readStringEntry(r.message('metadata entry')));
    } else if (f === 25 && wt === WireType.LEN) {
      rawFunctions.push(r.bytes());
    } else extra.push(r.skipRecord(start, wt));
  }
  if (irVersion === undefined) {
    throw new SplitcError('E_NOT_ONNX', `${source} is not an ONNX model (it has no ir_version)`, {
      hint: 'pass a binary .onnx file (ModelProto)',
    });
  }
  if (irVersion < MIN_IR_VERSION || irVersion > MAX_IR_VERSION) {
    throw new SplitcError('E_IR_VERSION', `${source} has IR version ${irVersion}; splitc reads IR versions ${MIN_IR_VERSION} to ${MAX_IR_VERSION}`, {
      hint: irVersion < MIN_IR_VERSION ? 'upgrade the model with onnx.version_converter or re-export it' : 'a newer splitc may support it',
    });
  }
  if (!rawGraph) throw new SplitcError('E_MALFORMED', `${source} has no graph`, { hint: 'the file is truncated or not a model' });
  if (opsets.length === 0) {
    // IR version 3 models without opset_import imply opset 1; splitc needs >= 7.
    throw new SplitcError('E_MALFORMED', `${source} declares no opset_import`, { hint: 're-export the model with opset >= 7' });
  }
  // One version per domain ('' and 'ai.onnx' are the same domain): the IR keeps a map,
  // so conflicting duplicates would silently change the model's opset.
  const versionByDomain = new Map<string, number>();
  for (const [d, v] of opsets) {
    const key = d === 'ai.onnx' ? '' : d;
    const prev = versionByDomain.get(key);
    if (prev !== undefined && prev !== v) {
      throw new SplitcError('E_MALFORMED', `${source} imports opset '${d || 'ai.onnx'}' twice, as versions ${prev} and ${v}`, {
        hint: 'keep one opset_import entry per domain',
      });
    }
    versionByDomain.set(key, v);
  }
  const defaultOpset = versionByDomain.get('');
  if (defaultOpset !== undefined && defaultOpset < MIN_OPSET) {
    throw new SplitcError('E_OPSET', `${source} uses ONNX opset ${defaultOpset}; splitc supports opsets ${MIN_OPSET} to ${MAX_OPSET}`, {
      hint: 'convert it with onnx.version_converter.convert_version(model, 13)',
    });
  }
  if (defaultOpset !== undefined && defaultOpset > MAX_OPSET) {
    // Not a real opset yet (or a corrupt field): onnxruntime would refuse the model anyway.
    throw new SplitcError('E_OPSET', `${source} uses ONNX opset ${defaultOpset}; splitc supports opsets ${MIN_OPSET} to ${MAX_OPSET}`, {
      hint: `convert it with onnx.version_converter.convert_version(model, ${MAX_OPSET})`,
    });
  }

  const graph = buildGraph(rawGraph, [], ctx, 'graph');
  const model = new Model(graph, irVersion);
  model.opsetImports.clear();
  for (const [d, v] of opsets) model.opsetImports.set(d, v);
  model.producerName = producerName;
  model.producerVersion = producerVersion;
  model.domain = domain;
  model.modelVersion = modelVersion;
  model.docString = doc;
  model.metadataProps = meta;
  model.functions = rawFunctions.map((b) => readFunction(new WireReader(b, 0, b.byteLength, 'function'), ctx));
  model.extra = extra.length ? extra : undefined;
  return model;
}

function readOpset(r: WireReader): [string, number] {
  let domain = '';
  let version = 0;
  while (!r.done()) {
    const f = r.next();
    const wt = r.wt;
    if (f === 1 && wt === WireType.LEN) domain = r.string();
    else if (f === 2 && wt === WireType.VARINT) version = r.safeInt64('opset version');
    else r.skip(wt);
  }
  return [domain, version];
}

function readStringEntry(r: WireReader): [string, string] {
  let k = '';
  let v = '';
  while (!r.done()) {
    const f = r.next();
    const wt = r.wt;
    if (f === 1 && wt === WireType.LEN) k = r.string();
    else if (f === 2 && wt === WireType.LEN) v = r.string();
    else r.skip(wt);
  }
  return [k, v];
}

function readGraph(r: WireReader, ctx: Ctx): RawGraph {
  if (++ctx.depth > 64) r.malformed('subgraphs nested more than 64 deep');
  const g: RawGraph = { name: '', doc: '', nodes: [], initializers: [], inputs: [], outputs: [], valueInfo: [], extra: [] };
  while (!r.done()) {
    const start = r.pos;
    const f = r.next();
    const wt = r.wt;
    if (wt === WireType.LEN && (f === 1 || f === 5 || f === 11 || f === 12 || f === 13)) {
      if (f === 1) g.nodes.push(readNode(r.message('node'), ctx));
      else if (f === 5) g.initializers.push(readTensor(r.message('initializer'), ctx));
      else {
        const vi = readValueInfo(r.message('value info'));
        (f === 11 ? g.inputs : f === 12 ? g.outputs : g.valueInfo).push(vi);
      }
    } else if (f === 2 && wt === WireType.LEN) g.name = r.string();
    else if (f === 10 && wt === WireType.LEN) g.doc = r.string();
    else g.extra.push(r.skipRecord(start, wt));
  }
  ctx.depth--;
  return g;
}

function readNode(r: WireReader, ctx: Ctx): RawNode {
  const n: RawNode = { inputs: [], outputs: [], name: '', opType: '', domain: '', overload: '', doc: '', attributes: [], extra: [] };
  while (!r.done()) {
    const start = r.pos;
    const f = r.next();
    const wt = r.wt;
    if (wt !== WireType.LEN) {
      n.extra.push(r.skipRecord(start, wt));
      continue;
    }
    switch (f) {
      case 1:
        n.inputs.push(r.string());
        break;
      case 2:
        n.outputs.push(r.string());
        break;
      case 3:
        n.name = r.string();
        break;
      case 4:
        n.opType = r.string();
        break;
      case 5: {
        n.attributes.push(readAttribute(r.message('attribute'), ctx));
        break;
      }
      case 6:
        n.doc = r.string();
        break;
      case 7:
        n.domain = r.string();
        break;
      case 8:
        n.overload = r.string();
        break;
      default:
        n.extra.push(r.skipRecord(start, wt));
    }
  }
  if (!n.opType) r.malformed(`node '${n.name}' has no op_type`);
  return n;
}

/** AttributeProto field → wire type (floats/ints may also come packed as LEN). */
const ATTRIBUTE_WIRE_TYPES: Record<number, number> = {
  1: WireType.LEN,
  2: WireType.I32,
  3: WireType.VARINT,
  4: WireType.LEN,
  5: WireType.LEN,
  6: WireType.LEN,
  7: WireType.I32,
  8: WireType.VARINT,
  9: WireType.LEN,
  10: WireType.LEN,
  11: WireType.LEN,
  13: WireType.LEN,
  14: WireType.LEN,
  15: WireType.LEN,
  20: WireType.VARINT,
  21: WireType.LEN,
  22: WireType.LEN,
  23: WireType.LEN,
};

function readAttribute(r: WireReader, ctx: Ctx): Attribute & { _rawGraphs?: RawGraph[] } {
  let name = '';
  let type = 0;
  let refAttrName: string | undefined;
  let doc: string | undefined;
  let f32: number | undefined;
  let i64: number | bigint | undefined;
  let s: Uint8Array | undefined;
  let t: Tensor | undefined;
  let g: RawGraph | undefined;
  let sparse: Uint8Array | undefined;
  let tp: Uint8Array | undefined;
  // repeated fields, allocated only when present (most attributes have none)
  let floats: number[] | undefined;
  let ints: (number | bigint)[] | undefined;
  let strings: Uint8Array[] | undefined;
  let tensors: Tensor[] | undefined;
  let graphs: RawGraph[] | undefined;
  let sparses: Uint8Array[] | undefined;
  let tps: Uint8Array[] | undefined;
  while (!r.done()) {
    const f = r.next();
    const wt = r.wt;
    // A field with an unexpected wire type is an unknown field (as in protobuf), never misparsed.
    const expected = ATTRIBUTE_WIRE_TYPES[f];
    if (expected === undefined || (wt !== expected && !(wt === WireType.LEN && (f === 7 || f === 8)))) {
      if (f === 2 && expected !== undefined) r.malformed('attribute float has the wrong wire type');
      r.skip(wt);
      continue;
    }
    switch (f) {
      case 1:
        name = r.string();
        break;
      case 20:
        type = r.uint();
        break;
      case 21:
        refAttrName = r.string();
        break;
      case 13:
        doc = r.string();
        break;
      case 2:
        if (wt !== WireType.I32) r.malformed('attribute float has the wrong wire type');
        f32 = r.float();
        break;
      case 3:
        i64 = r.int64();
        break;
      case 4:
        s = r.bytes();
        break;
      case 5: {
        t = readTensor(r.message('attribute tensor'), ctx);
        break;
      }
      case 6: {
        g = readGraph(r.message('subgraph'), ctx);
        break;
      }
      case 22:
        sparse = r.bytes();
        break;
      case 14:
        tp = r.bytes();
        break;
      case 7:
        if (wt === WireType.LEN) {
          const sub = r.message('attribute floats');
          while (!sub.done()) (floats ??= []).push(sub.float());
        } else (floats ??= []).push(r.float());
        break;
      case 8:
        if (wt === WireType.LEN) {
          const sub = r.message('attribute ints');
          while (!sub.done()) (ints ??= []).push(sub.int64());
        } else (ints ??= []).push(r.int64());
        break;
      case 9:
        (strings ??= []).push(r.bytes());
        break;
      case 10: {
        (tensors ??= []).push(readTensor(r.message('attribute tensor'), ctx));
        break;
      }
      case 11: {
        (graphs ??= []).push(readGraph(r.message('subgraph'), ctx));
        break;
      }
      case 23:
        (sparses ??= []).push(r.bytes());
        break;
      case 15:
        (tps ??= []).push(r.bytes());
        break;
      default:
        r.skip(wt);
    }
  }
  if (type === 0) {
    // IR version < 3 style: infer the type from which field is set.
    type =
      f32 !== undefined ? 1 : i64 !== undefined ? 2 : s ? 3 : t ? 4 : g ? 5 : floats ? 6 : ints ? 7 : strings ? 8 : tensors ? 9 : graphs ? 10 : 0;
  }
  const base = { name, ...(refAttrName !== undefined ? { refAttrName } : {}), ...(doc !== undefined ? { docString: doc } : {}) };
  switch (type) {
    case AttrType.FLOAT:
      return { ...base, type: 1, value: f32 ?? 0 };
    case AttrType.INT:
      return { ...base, type: 2, value: i64 ?? 0 };
    case AttrType.STRING:
      return { ...base, type: 3, value: s ?? new Uint8Array(0) };
    case AttrType.TENSOR:
      if (!t) r.malformed(`attribute '${name}' of type TENSOR has no tensor`);
      return { ...base, type: 4, value: t };
    case AttrType.GRAPH:
      if (!g) r.malformed(`attribute '${name}' of type GRAPH has no graph`);
      // Built into a Graph once the enclosing scope is known (see buildGraph).
      return { ...base, type: 5, value: null as unknown as Graph, _rawGraphs: [g] };
    case AttrType.FLOATS:
      return { ...base, type: 6, value: floats ?? [] };
    case AttrType.INTS:
      return { ...base, type: 7, value: ints ?? [] };
    case AttrType.STRINGS:
      return { ...base, type: 8, value: strings ?? [] };
    case AttrType.TENSORS:
      return { ...base, type: 9, value: tensors ?? [] };
    case AttrType.GRAPHS:
      return { ...base, type: 10, value: [], _rawGraphs: graphs ?? [] };
    case AttrType.SPARSE_TENSOR:
      return { ...base, type: 11, value: sparse ?? new Uint8Array(0) };
    case AttrType.TYPE_PROTO:
      return { ...base, type: 13, value: tp ?? new Uint8Array(0) };
    case AttrType.SPARSE_TENSORS:
      return { ...base, type: 12, value: sparses ?? [] };
    case AttrType.TYPE_PROTOS:
      return { ...base, type: 14, value: tps ?? [] };
    default:
      return r.malformed(`attribute '${name}' has unknown type ${type}`);
  }
}

function readValueInfo(r: WireReader): RawValueInfo {
  const vi: RawValueInfo = { name: '', type: null, doc: '' };
  while (!r.done()) {
    const f = r.next();
    const wt = r.wt;
    if (f === 1 && wt === WireType.LEN) vi.name = r.string();
    else if (f === 2 && wt === WireType.LEN) {
      vi.type = readType(r.message('type'));
    } else if (f === 3 && wt === WireType.LEN) vi.doc = r.string();
    else r.skip(wt);
  }
  return vi;
}

function readType(r: WireReader): ValueType {
  const start = r.pos;
  let tensor: { dtype: number; shape: Dim[] | null } | undefined;
  let other = false;
  while (!r.done()) {
    const f = r.next();
    const wt = r.wt;
    if (f === 1 && wt === WireType.LEN) {
      tensor = readTensorType(r.message('tensor type'));
    } else if (f === 6 && wt === WireType.LEN) r.skip(wt); // denotation: not modelled
    else {
      other = true;
      r.skip(wt);
    }
  }
  if (tensor && !other) return { kind: 'tensor', dtype: tensor.dtype, shape: tensor.shape };
  return { kind: 'opaque', raw: r.buf.subarray(start, r.end) };
}

function readTensorType(r: WireReader): { dtype: number; shape: Dim[] | null } {
  let dtype = 0;
  let shape: Dim[] | null = null;
  while (!r.done()) {
    const f = r.next();
    const wt = r.wt;
    if (f === 1 && wt === WireType.VARINT) dtype = r.uint();
    else if (f === 2 && wt === WireType.LEN) {
      const sr = r.message('shape');
      shape = [];
      while (!sr.done()) {
        const df = sr.next();
        const dwt = sr.wt;
        if (df === 1 && dwt === WireType.LEN) {
          shape.push(readDim(sr.message('dimension')));
        } else sr.skip(dwt);
      }
    } else r.skip(wt);
  }
  return { dtype, shape };
}

function readDim(r: WireReader): Dim {
  let d: Dim = null;
  while (!r.done()) {
    const f = r.next();
    const wt = r.wt;
    if (f === 1 && wt === WireType.VARINT) d = r.safeInt64('dimension');
    else if (f === 2 && wt === WireType.LEN) d = r.string();
    else r.skip(wt);
  }
  return d;
}

/** float_data/int32_data/int64_data/double_data/uint64_data, packed or with their element wire type. */
function isTypedDataField(f: number, wt: number): boolean {
  switch (f) {
    case TensorField.FLOAT:
      return wt === WireType.LEN || wt === WireType.I32;
    case TensorField.DOUBLE:
      return wt === WireType.LEN || wt === WireType.I64;
    case TensorField.INT32:
    case TensorField.INT64:
    case TensorField.UINT64:
      return wt === WireType.LEN || wt === WireType.VARINT;
    default:
      return false;
  }
}

export function readTensor(r: WireReader, ctx: Ctx): Tensor {
  const dims: number[] = [];
  let dtype = 0;
  let name = '';
  let doc = '';
  let raw: Uint8Array | undefined;
  let fieldNo = 0;
  const fieldRecords: Uint8Array[] = [];
  const strings: Uint8Array[] = [];
  const ext: [string, string][] = [];
  let location = 0;
  const extra: Extra = [];
  while (!r.done()) {
    const start = r.pos;
    const f = r.next();
    const wt = r.wt;
    if (f === 1 && (wt === WireType.LEN || wt === WireType.VARINT)) {
      if (wt === WireType.LEN) {
        const sub = r.message('tensor dims');
        while (!sub.done()) dims.push(sub.int64Number());
      } else dims.push(r.int64Number());
    } else if (f === 2 && wt === WireType.VARINT) dtype = r.uint();
    else if (f === 8 && wt === WireType.LEN) name = r.string();
    else if (f === 12 && wt === WireType.LEN) doc = r.string();
    else if (f === 9 && wt === WireType.LEN) raw = r.bytes();
    else if (f === 6 && wt === WireType.LEN) strings.push(r.bytes());
    else if (f === 13 && wt === WireType.LEN) {
      ext.push(readStringEntry(r.message('external data entry')));
    } else if (f === 14 && wt === WireType.VARINT) location = r.uint();
    else if (isTypedDataField(f, wt) && (fieldNo === 0 || fieldNo === f)) {
      r.skip(wt);
      fieldNo = f;
      fieldRecords.push(r.buf.subarray(start, r.pos));
    } else extra.push(r.skipRecord(start, wt));
  }
  for (const d of dims) if (d < 0 || !Number.isSafeInteger(d)) r.malformed(`tensor '${name}' has invalid dimension ${d}`);
  let t: Tensor;
  if (location === 1) {
    t = new Tensor(name, dtype, dims, externalStorage(name, dtype, dims, ext, ctx));
  } else if (dtype === DataType.STRING) {
    t = new Tensor(name, dtype, dims, new MemoryStorage(new Uint8Array(0)), strings);
  } else if (raw) {
    t = new Tensor(name, dtype, dims, new MemoryStorage(raw));
  } else if (fieldNo) {
    t = new Tensor(name, dtype, dims, new FieldStorage(dtype, fieldNo, fieldRecords));
  } else {
    t = new Tensor(name, dtype, dims, new MemoryStorage(new Uint8Array(0)));
  }
  t.docString = doc;
  if (extra.length) t.extra = extra;
  return t;
}

function externalStorage(name: string, dtype: number, dims: number[], entries: [string, string][], ctx: Ctx): ExternalStorage {
  const get = (k: string): string | undefined => entries.find(([key]) => key === k)?.[1];
  const location = get('location');
  if (!location) {
    throw new SplitcError('E_EXTERNAL_DATA', `tensor '${name}' is stored externally but names no location`, { hint: 'the model file is corrupted' });
  }
  if (!ctx.baseDir) {
    throw new SplitcError('E_EXTERNAL_DATA', `tensor '${name}' is stored in external file '${location}' but the model was read from memory`, {
      hint: 'load the model from its file path so external data can be found',
    });
  }
  checkLocationText(location, `tensor '${name}'`);
  // Plain decimal digits only: Number() would read '' and ' ' as 0 and '0x10' as 16.
  const count = (s: string): number => (/^[0-9]+$/.test(s) ? Number(s) : NaN);
  const offsetStr = get('offset');
  const offset = offsetStr === undefined ? 0 : count(offsetStr);
  const expected = byteSizeOf(dtype, dims.reduce((a, b) => a * b, 1));
  const lengthStr = get('length');
  const length = lengthStr === undefined ? expected : count(lengthStr);
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw new SplitcError('E_EXTERNAL_DATA', `tensor '${name}' has invalid external offset/length (${JSON.stringify(offsetStr)}, ${JSON.stringify(lengthStr)})`, {
      hint: 'offset and length must be non-negative decimal integers',
    });
  }
  if (length !== expected) {
    throw new SplitcError('E_TENSOR', `tensor '${name}' (${dtypeName(dtype)}[${dims.join(',')}]) has external length ${length}, expected ${expected}`);
  }
  // Containment (no '..', absolute path or link out of the folder) and a regular file,
  // checked before anything reads or stats the target.
  const { realFile, size } = resolveDataFile(ctx.baseDir, ctx.realBaseDir(), location, `tensor '${name}'`);
  if (offset + length > size) {
    throw new SplitcError(
      'E_EXTERNAL_DATA',
      `external data file '${location}' is too short for tensor '${name}': needs bytes ${offset}..${offset + length}, file has ${size}`,
      { hint: 'the data file is truncated or belongs to another version of the model' },
    );
  }
  const others = entries.filter(([k]) => k !== 'location' && k !== 'offset' && k !== 'length');
  // The resolved path: swapping a link after the check cannot redirect later reads.
  return new ExternalStorage(realFile, location, offset, length, others);
}

function readFunction(r: WireReader, ctx: Ctx): IrFunction {
  let name = '';
  let domain = '';
  let overload = '';
  let doc = '';
  const inputs: string[] = [];
  const outputs: string[] = [];
  const attributeNames: string[] = [];
  const attributeDefaults: Attribute[] = [];
  const nodes: RawNode[] = [];
  const opsets: [string, number][] = [];
  const valueInfo: RawValueInfo[] = [];
  const extra: Extra = [];
  while (!r.done()) {
    const start = r.pos;
    const f = r.next();
    const wt = r.wt;
    if (wt !== WireType.LEN) {
      extra.push(r.skipRecord(start, wt));
      continue;
    }
    if (f === 1) name = r.string();
    else if (f === 4) inputs.push(r.string());
    else if (f === 5) outputs.push(r.string());
    else if (f === 6) attributeNames.push(r.string());
    else if (f === 11) {
      attributeDefaults.push(readAttribute(r.message('function attribute'), ctx));
    } else if (f === 7) {
      nodes.push(readNode(r.message('function node'), ctx));
    } else if (f === 8) doc = r.string();
    else if (f === 9) {
      opsets.push(readOpset(r.message('opset import')));
    } else if (f === 10) domain = r.string();
    else if (f === 13) overload = r.string();
    else if (f === 12) {
      valueInfo.push(readValueInfo(r.message('value info')));
    } else extra.push(r.skipRecord(start, wt));
  }
  const raw: RawGraph = {
    name,
    doc: '',
    nodes,
    initializers: [],
    inputs: inputs.map((n) => ({ name: n, type: null, doc: '' })),
    outputs: outputs.map((n) => ({ name: n, type: null, doc: '' })),
    valueInfo,
    extra: [],
  };
  // Function bodies may reference attributes of the caller only; names are local.
  const body = buildGraph(raw, [], ctx, `function ${domain}.${name}`, true);
  return {
    domain,
    name,
    overload,
    attributeNames,
    attributeDefaults,
    opsetImports: new Map(opsets),
    body,
    docString: doc,
    extra: extra.length ? extra : undefined,
  };
}

/**
 * Build an IR graph from its raw form. `scopes` are the enclosing graphs' name tables
 * (innermost last). Checks SSA, undefined inputs and cycles; sorts nodes topologically
 * (stable) when the file lists them out of order.
 */
function buildGraph(raw: RawGraph, scopes: Map<string, Value>[], ctx: Ctx, where: string, lenient = false): Graph {
  const g = new Graph(raw.name);
  g.docString = raw.doc;
  if (raw.extra.length) g.extra = raw.extra;
  const local = new Map<string, Value>();
  const define = (v: Value, what: string): void => {
    if (local.has(v.name)) {
      throw new SplitcError('E_VALUE_REDEFINED', `value '${v.name}' is defined twice in ${where} (second time as ${what})`, {
        hint: 'ONNX graphs are in SSA form: every tensor name must be produced exactly once',
      });
    }
    local.set(v.name, v);
  };
  for (const vi of raw.inputs) {
    const v = new Value(vi.name, vi.type);
    v.typeFromFile = vi.type !== null;
    v.docString = vi.doc;
    g.addInput(v);
    if (vi.name) define(v, 'a graph input');
  }
  const inputSet = new Set(g.inputs);
  for (const t of raw.initializers) {
    const existing = local.get(t.name);
    if (existing && inputSet.has(existing) && !existing.constValue) {
      // IR < 4 style: the initializer is also listed as an input (a default value).
      g.addInitializer(existing, t);
      continue;
    }
    const v = new Value(t.name, { kind: 'tensor', dtype: t.dtype, shape: [...t.dims] });
    define(v, 'an initializer');
    g.addInitializer(v, t);
  }
  // Outputs of all nodes first, so nodes listed out of order still resolve.
  const nodeOutputs: Value[][] = raw.nodes.map((rn) =>
    rn.outputs.map((name) => {
      const v = new Value(name);
      if (name) define(v, `an output of ${rn.opType} node '${rn.name}'`);
      return v;
    }),
  );
  for (const vi of raw.valueInfo) {
    const v = local.get(vi.name);
    if (v && vi.type && !v.type) {
      v.type = vi.type;
      v.typeFromFile = true;
    }
    if (v && vi.doc && !v.docString) v.docString = vi.doc;
  }
  const lookup = (name: string): Value | undefined => {
    const v = local.get(name);
    if (v) return v;
    for (let i = scopes.length - 1; i >= 0; i--) {
      const o = scopes[i]!.get(name);
      if (o) return o;
    }
    return undefined;
  };
  const innerScopes = [...scopes, local];
  const nodes: Node[] = raw.nodes.map((rn, i) => {
    const inputs = rn.inputs.map((name) => {
      if (name === '') return null;
      const v = lookup(name);
      if (v) return v;
      if (lenient) {
        const placeholder = new Value(name);
        local.set(name, placeholder);
        return placeholder;
      }
      throw new SplitcError('E_UNDEFINED_INPUT', `input '${name}' of ${rn.opType} node '${rn.name}' in ${where} is never defined`, {
        hint: 'no graph input, initializer or earlier node produces it; the model is incomplete',
      });
    });
    const attributes = rn.attributes.map((a) => {
      const rawGraphs = (a as { _rawGraphs?: RawGraph[] })._rawGraphs;
      if (!rawGraphs) return a;
      const { _rawGraphs: _, ...rest } = a as Attribute & { _rawGraphs?: RawGraph[] };
      void _;
      const built = rawGraphs.map((rg) => buildGraph(rg, innerScopes, ctx, `subgraph '${a.name}' of node '${rn.name}'`, lenient));
      return (a.type === AttrType.GRAPH ? { ...rest, value: built[0] } : { ...rest, value: built }) as Attribute;
    });
    const n = new Node(rn.domain, rn.opType, inputs, nodeOutputs[i]!, { name: rn.name, attributes });
    n.overload = rn.overload;
    n.docString = rn.doc;
    if (rn.extra.length) n.extra = rn.extra;
    if (n.hasSubgraphs()) for (const sg of n.subgraphs()) sg.parentNode = n;
    return n;
  });
  for (const n of topoSortNodes(nodes, where)) g.appendNode(n);
  for (const vi of raw.outputs) {
    let v = lookup(vi.name);
    if (!v) {
      if (lenient) v = new Value(vi.name);
      else {
        throw new SplitcError('E_UNDEFINED_OUTPUT', `output '${vi.name}' of ${where} is never produced`, {
          hint: 'no node, input or initializer defines it',
        });
      }
    }
    // An output may be an outer-scope value (an If branch passing it through): its
    // declared type here never overrides the type the value has where it is defined.
    if (vi.type && !v.type) {
      v.type = vi.type;
      v.typeFromFile = true;
    }
    if (vi.doc && !v.docString) v.docString = vi.doc;
    g.outputs.push(v);
  }
  return g;
}

/**
 * Stable topological order (Kahn, taking nodes in file order when free). Subgraph
 * reads of outer values count as dependencies. Throws E_CYCLE naming a node on a cycle.
 */
export function topoSortNodes(nodes: readonly Node[], where: string): Node[] {
  const index = new Map<Node, number>();
  nodes.forEach((n, i) => index.set(n, i));
  const indeg = new Array<number>(nodes.length).fill(0);
  const succ: number[][] = nodes.map(() => []);
  let sorted = true;
  const deps: number[] = [];
  const addDep = (v: Value | null): void => {
    const p = v?.producer();
    const j = p ? index.get(p) : undefined;
    if (j !== undefined && !deps.includes(j)) deps.push(j);
  };
  nodes.forEach((n, i) => {
    deps.length = 0;
    for (const v of n.dependencies()) addDep(v);
    for (const j of deps) {
      if (j >= i) sorted = false;
      succ[j]!.push(i);
      indeg[i]!++;
    }
  });
  if (sorted) return [...nodes];
  // Min-heap on file index keeps the order stable.
  const heap: number[] = [];
  const push = (x: number): void => {
    heap.push(x);
    let i = heap.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (heap[p]! <= x) break;
      heap[i] = heap[p]!;
      i = p;
    }
    heap[i] = x;
  };
  const pop = (): number => {
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= heap.length) break;
        const c = l + 1 < heap.length && heap[l + 1]! < heap[l]! ? l + 1 : l;
        if (heap[c]! >= last) break;
        heap[i] = heap[c]!;
        i = c;
      }
      heap[i] = last;
    }
    return top;
  };
  indeg.forEach((d, i) => d === 0 && push(i));
  const out: Node[] = [];
  while (heap.length) {
    const i = pop();
    out.push(nodes[i]!);
    for (const j of succ[i]!) if (--indeg[j]! === 0) push(j);
  }
  if (out.length !== nodes.length) {
    const stuck = nodes.find((_, i) => indeg[i]! > 0)!;
    throw new SplitcError('E_CYCLE', `${where} has a cycle through ${stuck.describe()}`, {
      hint: 'ONNX graphs must be acyclic; a node (indirectly) consumes its own output',
    });
  }
  return out;
}

/** A standalone TensorProto (e.g. an ONNX test-data `.pb` file). External data resolves against `baseDir`. */
export function deserializeTensor(buf: Uint8Array, opts: ReadOptions = {}): Tensor {
  const ctx = new Ctx(opts.baseDir, opts.source ?? 'tensor');
  return readTensor(new WireReader(buf, 0, buf.byteLength, 'tensor'), ctx);
}
