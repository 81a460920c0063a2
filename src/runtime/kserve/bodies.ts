// Request and response bodies: encoding tensors into JSON or binary bodies, and decoding
// them with every check that can be made without the model (a server adds its own limits
// through decodeInferRequest's checkInputs).

import { concatBytes } from '../../ir/bytes.js';
import { isKServeDatatype, type KServeDatatype } from './datatypes.js';
import {
  badRequest as bad,
  HEADER_LENGTH_HEADER,
  type InferRequest,
  type InferResponse,
  KServeError,
  type Parameters,
  type WireErrorCode,
} from './protocol.js';
import { elementCount, tensorDataFromBinary, tensorDataFromJson, tensorDataToBinary, tensorDataToJsonText, type WireTensor } from './tensors.js';

/** An encoded body: chunks to send in order, and the JSON part's length when binary. */
export interface EncodedBody {
  chunks: Uint8Array[];
  byteLength: number;
  /** Value of Inference-Header-Content-Length; undefined for a pure JSON body. */
  jsonLength: number | undefined;
  contentType: string;
}

/** The chunks as one array (the chunk itself when there is one). */
export function concatChunks(chunks: readonly Uint8Array[]): Uint8Array {
  return chunks.length === 1 ? chunks[0]! : concatBytes(chunks);
}

const utf8Encoder = new TextEncoder();

function finishBody(jsonText: string, binaries: Uint8Array[]): EncodedBody {
  const json = utf8Encoder.encode(jsonText);
  if (binaries.length === 0) return { chunks: [json], byteLength: json.length, jsonLength: undefined, contentType: 'application/json' };
  let byteLength = json.length;
  for (const b of binaries) byteLength += b.length;
  return { chunks: [json, ...binaries], byteLength, jsonLength: json.length, contentType: 'application/octet-stream' };
}

function paramsText(p: Parameters | undefined): string {
  return p && Object.keys(p).length ? `,"parameters":${JSON.stringify(p)}` : '';
}

export interface EncodeRequestOptions {
  /** Send input data in the binary extension (default true). */
  binary?: boolean;
  /** Ask for outputs in binary (`binary_data_output`; default: same as `binary`). */
  binaryOutputs?: boolean;
  /** Restrict / order the outputs returned. */
  outputs?: string[];
  id?: string;
  parameters?: Parameters;
}

export function encodeInferRequest(inputs: readonly WireTensor[], opts: EncodeRequestOptions = {}): EncodedBody {
  const binary = opts.binary ?? true;
  const binaryOutputs = opts.binaryOutputs ?? binary;
  const binaries: Uint8Array[] = [];
  const parts = inputs.map((t) => {
    const head = `{"name":${JSON.stringify(t.name)},"shape":${JSON.stringify(t.shape)},"datatype":"${t.datatype}"`;
    if (binary) {
      const b = tensorDataToBinary(t.datatype, t.data);
      binaries.push(b);
      return `${head},"parameters":{"binary_data_size":${b.length}}}`;
    }
    return `${head},"data":${tensorDataToJsonText(t.datatype, t.data)}}`;
  });
  const params: Parameters = { ...(opts.parameters ?? {}) };
  if (binaryOutputs) params.binary_data_output = true;
  let text = '{';
  if (opts.id !== undefined) text += `"id":${JSON.stringify(opts.id)},`;
  text += `"inputs":[${parts.join(',')}]`;
  if (opts.outputs) {
    text += `,"outputs":${JSON.stringify(opts.outputs.map((name) => (binaryOutputs ? { name, parameters: { binary_data: true } } : { name })))}`;
  }
  text += paramsText(params) + '}';
  return finishBody(text, binaries);
}

export interface EncodeResponseOptions {
  modelName: string;
  modelVersion?: string;
  id?: string;
  /** Which outputs go binary: all (true), none (false) or by name. */
  binaryOutputs: boolean | ReadonlySet<string>;
}

export function encodeInferResponse(outputs: readonly WireTensor[], opts: EncodeResponseOptions): EncodedBody {
  const binaries: Uint8Array[] = [];
  const parts = outputs.map((t) => {
    const head = `{"name":${JSON.stringify(t.name)},"datatype":"${t.datatype}","shape":${JSON.stringify(t.shape)}`;
    const asBinary = opts.binaryOutputs === true || (opts.binaryOutputs !== false && opts.binaryOutputs.has(t.name));
    if (asBinary) {
      const b = tensorDataToBinary(t.datatype, t.data);
      binaries.push(b);
      return `${head},"parameters":{"binary_data_size":${b.length}}}`;
    }
    return `${head},"data":${tensorDataToJsonText(t.datatype, t.data)}}`;
  });
  let text = `{"model_name":${JSON.stringify(opts.modelName)}`;
  if (opts.modelVersion !== undefined) text += `,"model_version":${JSON.stringify(opts.modelVersion)}`;
  if (opts.id !== undefined) text += `,"id":${JSON.stringify(opts.id)}`;
  text += `,"outputs":[${parts.join(',')}]}`;
  return finishBody(text, binaries);
}

/** Parses the value of Inference-Header-Content-Length (undefined when absent). */
export function parseHeaderLength(value: string | null | undefined, bodyLength: number): number | undefined {
  if (value === undefined || value === null) return undefined;
  const v = value.trim();
  if (!/^\d{1,15}$/.test(v)) throw bad('E_REQUEST_MALFORMED', `${HEADER_LENGTH_HEADER} must be a non-negative integer, got ${JSON.stringify(value.slice(0, 40))}`);
  const n = Number(v);
  if (n > bodyLength) throw bad('E_REQUEST_MALFORMED', `${HEADER_LENGTH_HEADER} is ${n} but the body has only ${bodyLength} bytes`);
  if (n === 0) throw bad('E_REQUEST_MALFORMED', `${HEADER_LENGTH_HEADER} is 0: the JSON header cannot be empty`);
  return n;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function parseJsonPart(body: Uint8Array, length: number): unknown {
  const code: WireErrorCode = 'E_REQUEST_MALFORMED';
  let text: string;
  try {
    text = strictUtf8.decode(body.subarray(0, length));
  } catch {
    throw bad(code, 'the JSON part is not valid UTF-8');
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw bad(code, `the JSON part is not valid JSON: ${(e as Error).message.slice(0, 120)}`);
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkParameters(v: unknown, what: string): Parameters | undefined {
  const code: WireErrorCode = 'E_REQUEST_MALFORMED';
  if (v === undefined) return undefined;
  if (!isPlainObject(v)) throw bad(code, `${what}: "parameters" must be an object`);
  for (const [k, p] of Object.entries(v)) {
    if (typeof p !== 'string' && typeof p !== 'number' && typeof p !== 'boolean') {
      throw bad(code, `${what}: parameter "${k}" must be a string, number or boolean`);
    }
  }
  return v as Parameters;
}

function binarySize(params: Parameters | undefined, what: string): number | undefined {
  const code: WireErrorCode = 'E_REQUEST_MALFORMED';
  const s = params?.binary_data_size;
  if (s === undefined) return undefined;
  if (typeof s !== 'number' || !Number.isSafeInteger(s) || s < 0) throw bad(code, `${what}: binary_data_size must be a non-negative integer`);
  return s;
}

interface RawTensor {
  name: string;
  shape: number[];
  datatype: KServeDatatype;
  parameters: Parameters | undefined;
  data: unknown;
}

function checkTensorObject(v: unknown, i: number, kind: 'input' | 'output'): RawTensor {
  const what = `${kind} ${i}`;
  if (!isPlainObject(v)) throw bad('E_REQUEST_MALFORMED', `${what} must be an object`);
  if (typeof v.name !== 'string' || v.name === '') throw bad('E_REQUEST_MALFORMED', `${what}: "name" must be a non-empty string`);
  const named = `${kind} "${v.name.slice(0, 100)}"`;
  if (!Array.isArray(v.shape)) throw bad('E_REQUEST_SHAPE', `${named}: "shape" must be an array`);
  if (!isKServeDatatype(v.datatype)) throw bad('E_REQUEST_DTYPE', `${named}: unknown datatype ${JSON.stringify(v.datatype)?.slice(0, 40)}`);
  const parameters = checkParameters(v.parameters, named);
  return { name: v.name, shape: v.shape as number[], datatype: v.datatype, parameters, data: v.data };
}

/** Reads the tensors of a decoded JSON part (inputs or outputs) with their binary data. */
function readTensors(raw: RawTensor[], body: Uint8Array, jsonLength: number, kind: 'input' | 'output'): WireTensor[] {
  let off = jsonLength;
  const tensors = raw.map((t) => {
    const what = `${kind} "${t.name.slice(0, 100)}"`;
    const count = elementCount(t.shape, what);
    const size = binarySize(t.parameters, what);
    if (size !== undefined) {
      if (t.data !== undefined) throw bad('E_REQUEST_DATA', `${what}: has both "data" and binary_data_size`);
      if (off + size > body.length) {
        throw bad(
          'E_REQUEST_MALFORMED',
          `${what}: binary data (${size} bytes at offset ${off}) runs past the end of the body (${body.length} bytes): truncated payload or a wrong binary_data_size`,
        );
      }
      const bytes = body.subarray(off, off + size);
      off += size;
      return { name: t.name, datatype: t.datatype, shape: t.shape, data: tensorDataFromBinary(t.datatype, bytes, count, what) };
    }
    if (t.data === undefined) throw bad('E_REQUEST_DATA', `${what}: has neither "data" nor binary_data_size`);
    return { name: t.name, datatype: t.datatype, shape: t.shape, data: tensorDataFromJson(t.datatype, t.data, count, what) };
  });
  if (off !== body.length) {
    throw bad(
      'E_REQUEST_MALFORMED',
      `the body has ${body.length - off} bytes after the last tensor's binary data: ${HEADER_LENGTH_HEADER} or a binary_data_size is wrong`,
    );
  }
  return tensors;
}

export interface DecodedRequest {
  request: InferRequest;
  /** Inputs in request order, data decoded. */
  inputs: WireTensor[];
  /** Outputs to return (undefined: all), and which of them go binary. */
  outputs: string[] | undefined;
  binaryOutputs: boolean | Set<string>;
}

/** An input as the request's JSON header declares it, before its data is decoded. */
export interface InputHeader {
  name: string;
  datatype: KServeDatatype;
  /** Unchecked: elementCount validates it. */
  shape: unknown[];
}

function requestHeader(body: Uint8Array, jsonLength: number): { obj: Record<string, unknown>; raw: RawTensor[] } {
  const code: WireErrorCode = 'E_REQUEST_MALFORMED';
  const obj = parseJsonPart(body, jsonLength);
  if (!isPlainObject(obj)) throw bad(code, 'the request must be a JSON object');
  if (obj.id !== undefined && typeof obj.id !== 'string') throw bad(code, '"id" must be a string');
  if (!Array.isArray(obj.inputs) || obj.inputs.length === 0) throw bad(code, '"inputs" must be a non-empty array');
  const raw = obj.inputs.map((v, i) => checkTensorObject(v, i, 'input'));
  const seen = new Set<string>();
  for (const t of raw) {
    if (seen.has(t.name)) throw bad('E_REQUEST_INPUT', `input "${t.name.slice(0, 100)}" appears twice`);
    seen.add(t.name);
  }
  return { obj, raw };
}

/**
 * The inputs a binary request declares, read from its JSON header alone (the first
 * `headerLength` bytes), so a server can refuse a request by its declared size before the
 * rest of the body arrives. Throws KServeError (400) like decodeInferRequest.
 */
export function decodeRequestInputs(header: Uint8Array): InputHeader[] {
  return requestHeader(header, header.length).raw;
}

/**
 * Decodes a request body. `headerLength` is the Inference-Header-Content-Length value
 * (parse it with parseHeaderLength); undefined means the whole body is JSON.
 * Checks everything that can be checked without the model; `checkInputs` sees the declared
 * inputs before their data is decoded (a server's size limits). Throws KServeError (400).
 */
export function decodeInferRequest(
  body: Uint8Array,
  headerLength: number | undefined,
  opts: { checkInputs?: (inputs: readonly InputHeader[]) => void } = {},
): DecodedRequest {
  const code: WireErrorCode = 'E_REQUEST_MALFORMED';
  const jsonLength = headerLength ?? body.length;
  const { obj, raw } = requestHeader(body, jsonLength);
  const parameters = checkParameters(obj.parameters, 'request');
  opts.checkInputs?.(raw);
  const inputs = readTensors(raw, body, jsonLength, 'input');

  let outputs: string[] | undefined;
  const binaryNamed = new Set<string>();
  // an empty list requests no particular output: all are returned, as when "outputs" is absent
  if (obj.outputs !== undefined && !(Array.isArray(obj.outputs) && obj.outputs.length === 0)) {
    if (!Array.isArray(obj.outputs)) throw bad(code, '"outputs" must be an array');
    outputs = obj.outputs.map((o, i) => {
      if (!isPlainObject(o) || typeof o.name !== 'string') throw bad(code, `output ${i} must be an object with a string "name"`);
      const p = checkParameters(o.parameters, `output "${o.name.slice(0, 100)}"`);
      if (p?.binary_data !== undefined && typeof p.binary_data !== 'boolean') throw bad(code, `output "${o.name.slice(0, 100)}": binary_data must be a boolean`);
      if (p?.binary_data === true) binaryNamed.add(o.name);
      return o.name;
    });
    if (new Set(outputs).size !== outputs.length) throw bad('E_REQUEST_OUTPUT', 'an output is requested twice');
  }
  const bdo = parameters?.binary_data_output;
  if (bdo !== undefined && typeof bdo !== 'boolean') throw bad(code, 'binary_data_output must be a boolean');
  const binaryOutputs: boolean | Set<string> = bdo === true ? true : binaryNamed.size ? binaryNamed : false;

  const request: InferRequest = {
    ...(typeof obj.id === 'string' ? { id: obj.id } : {}),
    ...(parameters ? { parameters } : {}),
    inputs: raw.map((t) => ({ name: t.name, shape: t.shape, datatype: t.datatype, ...(t.parameters ? { parameters: t.parameters } : {}) })),
    ...(outputs ? { outputs: outputs.map((name) => ({ name })) } : {}),
  };
  return { request, inputs, outputs, binaryOutputs };
}

export interface DecodedResponse {
  response: InferResponse;
  outputs: WireTensor[];
}

/** Decodes a response body; throws KServeError with code E_RESPONSE_MALFORMED. */
export function decodeInferResponse(body: Uint8Array, headerLength: number | undefined): DecodedResponse {
  const code: WireErrorCode = 'E_RESPONSE_MALFORMED';
  const wrapStatus = <T>(f: () => T): T => {
    try {
      return f();
    } catch (e) {
      if (e instanceof KServeError) throw new KServeError(502, code, e.message);
      throw e;
    }
  };
  return wrapStatus(() => {
    const jsonLength = headerLength ?? body.length;
    const obj = parseJsonPart(body, jsonLength);
    if (!isPlainObject(obj)) throw bad(code, 'the response must be a JSON object');
    if (typeof obj.model_name !== 'string') throw bad(code, '"model_name" must be a string');
    if (!Array.isArray(obj.outputs)) throw bad(code, '"outputs" must be an array');
    const raw = obj.outputs.map((v, i) => checkTensorObject(v, i, 'output'));
    const outputs = readTensors(raw, body, jsonLength, 'output');
    const response: InferResponse = {
      model_name: obj.model_name,
      ...(typeof obj.model_version === 'string' ? { model_version: obj.model_version } : {}),
      ...(typeof obj.id === 'string' ? { id: obj.id } : {}),
      outputs: raw.map((t) => ({ name: t.name, shape: t.shape, datatype: t.datatype, ...(t.parameters ? { parameters: t.parameters } : {}) })),
    };
    return { response, outputs };
  });
}
