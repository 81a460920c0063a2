// GraphProto, NodeProto, AttributeProto and type records → raw records (names not yet
// resolved; subgraphs stay raw until buildGraph knows their enclosing scope).

import { type Attribute, AttrType, type Dim, type Graph, type ValueType } from '../graph.js';
import type { Tensor } from '../tensor.js';
import { type Ctx, type RawGraph, type RawNode, type RawValueInfo } from './raw.js';
import { readTensor } from './read-tensor.js';
import { WireReader, WireType } from './wire.js';

export function readGraph(r: WireReader, ctx: Ctx): RawGraph {
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

export function readNode(r: WireReader, ctx: Ctx): RawNode {
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

export function readAttribute(r: WireReader, ctx: Ctx): Attribute & { _rawGraphs?: RawGraph[] } {
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

export function readValueInfo(r: WireReader): RawValueInfo {
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
