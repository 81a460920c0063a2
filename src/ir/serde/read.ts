// ONNX ModelProto bytes → IR. Tensors stay views into the input buffer; external
// data is located and size-checked now but read only when asked.

import { SplitcError } from '../errors.js';
import { type Attribute, type IrFunction, Model } from '../graph.js';
import type { Tensor } from '../tensor.js';
import { buildGraph } from './build-graph.js';
import { Ctx, type Extra, type RawGraph, type RawNode, type RawValueInfo, readOpset, readStringEntry } from './raw.js';
import { readAttribute, readGraph, readNode, readValueInfo } from './read-graph.js';
import { readTensor } from './read-tensor.js';
import { WireReader, WireType } from './wire.js';

export { topoSortNodes } from './build-graph.js';
export type { Extra } from './raw.js';

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

/** A standalone TensorProto (e.g. an ONNX test-data `.pb` file). External data resolves against `baseDir`. */
export function deserializeTensor(buf: Uint8Array, opts: ReadOptions = {}): Tensor {
  const ctx = new Ctx(opts.baseDir, opts.source ?? 'tensor');
  return readTensor(new WireReader(buf, 0, buf.byteLength, 'tensor'), ctx);
}