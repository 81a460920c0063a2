// The v2 wire format on its own: datatype table, JSON and binary tensors, request/response
// round trips, and the errors for each kind of malformed body.
import { describe, expect, it } from 'vitest';
import {
  concatChunks,
  DATATYPES,
  datatypeFromOnnx,
  datatypeFromOrt,
  decodeInferRequest,
  decodeRequestInputs,
  decodeInferResponse,
  encodeInferRequest,
  encodeInferResponse,
  type KServeDatatype,
  KServeError,
  parseHeaderLength,
  stringsToBytes,
  type WireTensor,
} from '../../src/runtime/kserve.js';
import { DataType, dtypeBits } from '../../src/ir/dtype.js';
import { floatToBf16Bits, floatToHalfBits } from '../../src/ir/half.js';

const enc = new TextEncoder();

function sample(dt: KServeDatatype, n: number): WireTensor['data'] {
  switch (dt) {
    case 'BYTES':
      return stringsToBytes(Array.from({ length: n }, (_, i) => `s${i}-ü`));
    case 'BOOL':
      return Uint8Array.from({ length: n }, (_, i) => i % 2);
    case 'INT64':
      return BigInt64Array.from({ length: n }, (_, i) => BigInt(i) * -123456789012n);
    case 'UINT64':
      return BigUint64Array.from({ length: n }, (_, i) => BigInt(i) * 2n ** 60n);
    case 'FP16':
      return Uint16Array.from({ length: n }, (_, i) => floatToHalfBits(i * 0.25 - 1));
    case 'BF16':
      return Uint16Array.from({ length: n }, (_, i) => floatToBf16Bits(i * 0.5 - 1));
    case 'FP32':
      return Float32Array.from({ length: n }, (_, i) => Math.fround(Math.sin(i) * 1e3));
    case 'FP64':
      return Float64Array.from({ length: n }, (_, i) => Math.sin(i) * 1e300);
    case 'INT8':
      return Int8Array.from({ length: n }, (_, i) => (i * 37) % 256 - 128);
    case 'UINT8':
      return Uint8Array.from({ length: n }, (_, i) => (i * 37) % 256);
    case 'INT16':
      return Int16Array.from({ length: n }, (_, i) => i * 1000 - 3000);
    case 'UINT16':
      return Uint16Array.from({ length: n }, (_, i) => i * 1000);
    case 'INT32':
      return Int32Array.from({ length: n }, (_, i) => i * 100000 - 2 ** 31 + 7);
    case 'UINT32':
      return Uint32Array.from({ length: n }, (_, i) => 2 ** 32 - 1 - i);
  }
}

function same(a: WireTensor['data'], b: WireTensor['data']): boolean {
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => Buffer.from(x).equals(Buffer.from(b[i]!)));
  return !Array.isArray(b) && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

const ALL = Object.keys(DATATYPES) as KServeDatatype[];

function expectError(f: () => unknown, status: number, code: string): void {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(KServeError);
    expect({ status: (e as KServeError).status, code: (e as KServeError).code }).toEqual({ status, code });
    return;
  }
  throw new Error(`expected ${code}`);
}

describe('datatype table', () => {
  it('agrees with the IR dtype table on ONNX numbers and sizes', () => {
    for (const [name, info] of Object.entries(DATATYPES)) {
      expect(datatypeFromOnnx(info.onnx)).toBe(name);
      expect(datatypeFromOrt(info.ort)).toBe(name);
      if (name !== 'BYTES') expect(dtypeBits(info.onnx)).toBe(info.bytes * 8);
    }
    expect(DATATYPES.FP32.onnx).toBe(DataType.FLOAT);
    expect(DATATYPES.BYTES.onnx).toBe(DataType.STRING);
  });
});

describe('request and response round trips', () => {
  for (const binary of [true, false]) {
    it(`every datatype survives a ${binary ? 'binary' : 'JSON'} request and response`, () => {
      const tensors: WireTensor[] = ALL.map((dt, i) => ({ name: `t_${dt}`, datatype: dt, shape: [2, i % 3 + 1], data: sample(dt, 2 * (i % 3 + 1)) }));
      // JSON.parse cannot read 64-bit integers past 2^53 exactly: those go binary only.
      const jsonSafe = tensors.filter((t) => binary || (t.datatype !== 'INT64' && t.datatype !== 'UINT64'));
      const req = encodeInferRequest(jsonSafe, { binary, id: 'r1', outputs: ['o1'] });
      expect(req.jsonLength === undefined).toBe(!binary);
      const body = concatChunks(req.chunks);
      expect(body.length).toBe(req.byteLength);
      const dec = decodeInferRequest(body, req.jsonLength);
      expect(dec.request.id).toBe('r1');
      expect(dec.outputs).toEqual(['o1']);
      expect(dec.binaryOutputs).toBe(binary);
      expect(dec.inputs.map((t) => [t.name, t.datatype, t.shape])).toEqual(jsonSafe.map((t) => [t.name, t.datatype, t.shape]));
      dec.inputs.forEach((t, i) => expect(same(t.data, jsonSafe[i]!.data), t.name).toBe(true));

      const res = encodeInferResponse(dec.inputs, { modelName: 'm', modelVersion: '3', id: 'r1', binaryOutputs: binary });
      const back = decodeInferResponse(concatChunks(res.chunks), res.jsonLength);
      expect(back.response).toMatchObject({ model_name: 'm', model_version: '3', id: 'r1' });
      back.outputs.forEach((t, i) => expect(same(t.data, jsonSafe[i]!.data), t.name).toBe(true));
    });
  }

  it('JSON keeps every digit of INT64 on the server side of the wire', () => {
    const res = encodeInferResponse([{ name: 'k', datatype: 'INT64', shape: [1], data: BigInt64Array.of(2n ** 62n + 1n) }], { modelName: 'm', binaryOutputs: false });
    expect(new TextDecoder().decode(res.chunks[0])).toContain('[4611686018427387905]');
  });

  it('accepts nested JSON data (row-major) and writes null for NaN', () => {
    const body = enc.encode(JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 2], data: [[1, 2], [3, null]] }] }));
    const d = decodeInferRequest(body, undefined);
    expect(Array.from(d.inputs[0]!.data as Float32Array)).toEqual([1, 2, 3, NaN]);
    const res = encodeInferResponse(d.inputs, { modelName: 'm', binaryOutputs: false });
    expect(new TextDecoder().decode(res.chunks[0])).toContain('"data":[1,2,3,null]');
  });

  it('an empty "outputs" list asks for every output, as an absent one does (an empty answer helps nobody)', () => {
    const body = enc.encode(JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: [1] }], outputs: [] }));
    expect(decodeInferRequest(body, undefined).outputs).toBeUndefined();
  });

  it('sees the declared inputs before decoding their data (checkInputs), and from a binary header alone', () => {
    const req = encodeInferRequest([{ name: 'x', datatype: 'FP32', shape: [2, 3], data: new Float32Array(6) }]);
    const body = concatChunks(req.chunks);
    const seen: unknown[] = [];
    decodeInferRequest(body, req.jsonLength, { checkInputs: (inputs) => seen.push(...inputs.map((t) => [t.name, t.datatype, t.shape])) });
    expect(seen).toEqual([['x', 'FP32', [2, 3]]]);
    expect(decodeRequestInputs(body.subarray(0, req.jsonLength)).map((t) => t.shape)).toEqual([[2, 3]]);
    expect(() => decodeInferRequest(body, req.jsonLength, { checkInputs: () => { throw new Error('refused'); } })).toThrow('refused');
  });

  it('decodes binary data at any alignment (header lengths that are not multiples of 8)', () => {
    for (let pad = 0; pad < 8; pad++) {
      const t: WireTensor = { name: 'x'.repeat(pad + 1), datatype: 'FP64', shape: [3], data: Float64Array.of(1.5, -2, 1e-300) };
      const req = encodeInferRequest([t]);
      const d = decodeInferRequest(concatChunks(req.chunks), req.jsonLength);
      expect(Array.from(d.inputs[0]!.data as Float64Array)).toEqual([1.5, -2, 1e-300]);
    }
  });

  it('honours binary_data on single outputs', () => {
    const body = enc.encode(JSON.stringify({ inputs: [{ name: 'x', datatype: 'INT32', shape: [1], data: [1] }], outputs: [{ name: 'a', parameters: { binary_data: true } }, { name: 'b' }] }));
    const d = decodeInferRequest(body, undefined);
    expect(d.binaryOutputs).toEqual(new Set(['a']));
  });
});

describe('malformed requests', () => {
  const good = encodeInferRequest([{ name: 'x', datatype: 'FP32', shape: [2, 2], data: Float32Array.of(1, 2, 3, 4) }]);
  const goodBody = concatChunks(good.chunks);
  const J = (o: unknown): Uint8Array => enc.encode(JSON.stringify(o));
  const x = (extra: Record<string, unknown>): Uint8Array => J({ inputs: [{ name: 'x', datatype: 'FP32', shape: [2], data: [1, 2], ...extra }] });

  const cases: [string, () => unknown, string][] = [
    ['not JSON', () => decodeInferRequest(enc.encode('{"inputs": ['), undefined), 'E_REQUEST_MALFORMED'],
    ['not UTF-8', () => decodeInferRequest(Uint8Array.of(0x7b, 0xff, 0x7d), undefined), 'E_REQUEST_MALFORMED'],
    ['an array', () => decodeInferRequest(J([]), undefined), 'E_REQUEST_MALFORMED'],
    ['no inputs', () => decodeInferRequest(J({ inputs: [] }), undefined), 'E_REQUEST_MALFORMED'],
    ['input without name', () => decodeInferRequest(J({ inputs: [{ datatype: 'FP32', shape: [1], data: [1] }] }), undefined), 'E_REQUEST_MALFORMED'],
    ['unknown datatype', () => decodeInferRequest(x({ datatype: 'FP8' }), undefined), 'E_REQUEST_DTYPE'],
    ['negative dim', () => decodeInferRequest(x({ shape: [-2] }), undefined), 'E_REQUEST_SHAPE'],
    ['fractional dim', () => decodeInferRequest(x({ shape: [1.5] }), undefined), 'E_REQUEST_SHAPE'],
    ['huge shape', () => decodeInferRequest(x({ shape: [2 ** 30, 2 ** 30, 2 ** 30] }), undefined), 'E_REQUEST_SHAPE'],
    ['too few elements', () => decodeInferRequest(x({ shape: [3] }), undefined), 'E_REQUEST_DATA'],
    ['string in FP32', () => decodeInferRequest(x({ data: [1, 'a'] }), undefined), 'E_REQUEST_DATA'],
    ['out of range INT8', () => decodeInferRequest(x({ datatype: 'INT8', data: [1, 300] }), undefined), 'E_REQUEST_DATA'],
    ['fraction in INT32', () => decodeInferRequest(x({ datatype: 'INT32', data: [1, 0.5] }), undefined), 'E_REQUEST_DATA'],
    ['number in BOOL', () => decodeInferRequest(x({ datatype: 'BOOL', data: [1, 0] }), undefined), 'E_REQUEST_DATA'],
    ['no data', () => decodeInferRequest(J({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1] }] }), undefined), 'E_REQUEST_DATA'],
    ['duplicate input', () => decodeInferRequest(J({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: [1] }, { name: 'x', datatype: 'FP32', shape: [1], data: [1] }] }), undefined), 'E_REQUEST_INPUT'],
    ['header length not a number', () => parseHeaderLength('12a', 100), 'E_REQUEST_MALFORMED'],
    ['header length past the body', () => parseHeaderLength(String(goodBody.length + 1), goodBody.length), 'E_REQUEST_MALFORMED'],
    ['header length that lies (short)', () => decodeInferRequest(goodBody, good.jsonLength! - 3), 'E_REQUEST_MALFORMED'],
    ['header length that lies (long)', () => decodeInferRequest(goodBody, good.jsonLength! + 4), 'E_REQUEST_MALFORMED'],
    ['truncated binary payload', () => decodeInferRequest(goodBody.subarray(0, goodBody.length - 1), good.jsonLength), 'E_REQUEST_MALFORMED'],
    ['trailing bytes', () => decodeInferRequest(concatChunks([goodBody, Uint8Array.of(0)]), good.jsonLength), 'E_REQUEST_MALFORMED'],
    ['binary size not a multiple', () => {
      const j = J({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1], parameters: { binary_data_size: 3 } }] });
      return decodeInferRequest(concatChunks([j, Uint8Array.of(1, 2, 3)]), j.length);
    }, 'E_REQUEST_DATA'],
    ['BYTES length prefix past the end', () => {
      const j = J({ inputs: [{ name: 's', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: 6 } }] });
      return decodeInferRequest(concatChunks([j, Uint8Array.of(9, 0, 0, 0, 65, 66)]), j.length);
    }, 'E_REQUEST_DATA'],
    ['BYTES element count', () => {
      const j = J({ inputs: [{ name: 's', datatype: 'BYTES', shape: [2], parameters: { binary_data_size: 5 } }] });
      return decodeInferRequest(concatChunks([j, Uint8Array.of(1, 0, 0, 0, 65)]), j.length);
    }, 'E_REQUEST_DATA'],
    ['deep nesting', () => decodeInferRequest(enc.encode(`{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":${'['.repeat(100)}1${']'.repeat(100)}}]}`), undefined), 'E_REQUEST_DATA'],
    ['binary_data_output not boolean', () => decodeInferRequest(J({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: [1] }], parameters: { binary_data_output: 'yes' } }), undefined), 'E_REQUEST_MALFORMED'],
  ];
  for (const [name, f, code] of cases) it(name, () => expectError(f, 400, code));

  it('a malformed response is E_RESPONSE_MALFORMED', () => {
    expectError(() => decodeInferResponse(enc.encode('{"outputs": 3}'), undefined), 502, 'E_RESPONSE_MALFORMED');
    expectError(() => decodeInferResponse(goodBody, good.jsonLength), 502, 'E_RESPONSE_MALFORMED');
  });
});
