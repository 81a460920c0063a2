// Hand-built models covering the corners of the ONNX format: control flow with
// outer-scope references, model-local functions, metadata, int64 extremes, typed-field
// and string tensors, IR-3 style initializers-as-inputs. Each is saved, re-loaded,
// re-saved byte-identically, and run in onnxruntime against known values.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { AttrType, attr, Graph, type IrFunction, type Model, Node, tensorType, Value } from '../../src/ir/graph.js';
import { loadModel, modelToBytes, saveModel } from '../../src/ir/serde/io.js';
import { deserializeModel } from '../../src/ir/serde/read.js';
import { FieldStorage, TensorField } from '../../src/ir/serde/storage.js';
import { concatBytes } from '../../src/ir/bytes.js';
import { WireType, WireWriter } from '../../src/ir/serde/wire.js';
import { MemoryStorage, Tensor } from '../../src/ir/tensor.js';
import { assertValid } from '../../src/ir/verify.js';
import { tmpDir } from '../helpers/fixtures.js';
import { onnxCheck, pythonOnnx, runOrt } from '../helpers/onnx-oracle.js';

const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;

let dir: string;
beforeAll(() => {
  dir = tmpDir('splitc-serde-builder-');
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Save, load, verify, save again: the two files must be byte-identical. Returns the first file and the loaded model. */
function roundTrip(m: Model, name: string): { file: string; loaded: Model } {
  const file = path.join(dir, `${name}.onnx`);
  saveModel(m, file);
  const loaded = loadModel(file);
  assertValid(loaded);
  const file2 = path.join(dir, `${name}.again.onnx`);
  saveModel(loaded, file2);
  expect(fs.readFileSync(file2).equals(fs.readFileSync(file)), `${name}: re-saved bytes differ`).toBe(true);
  // and once more from the second file, for good measure
  expect(Buffer.from(modelToBytes(loadModel(file2))).equals(fs.readFileSync(file))).toBe(true);
  return { file, loaded };
}

const f32 = (xs: number[], dims: number[]) => new ort.Tensor('float32', Float32Array.from(xs), dims);
const floats = (t: { bytes: Buffer | null }) => Array.from(new Float32Array(new Uint8Array(t.bytes!).buffer));

/** Wire records of a TensorProto typed field, as a file would hold them. */
function packedRecord(field: number, write: (w: WireWriter) => void): Uint8Array {
  const w = new WireWriter();
  w.fork();
  write(w);
  w.finish(field);
  const { parts, length } = w.finishParts();
  return concatBytes(parts, length);
}
function unpackedRecords(field: number, wt: number, values: (number | bigint)[]): Uint8Array[] {
  return values.map((v) => {
    const w = new WireWriter();
    w.tag(field, wt);
    if (wt === WireType.I32) w.float(Number(v));
    else if (wt === WireType.I64) w.double(Number(v));
    else w.int64(v);
    const { parts, length } = w.finishParts();
    return concatBytes(parts, length);
  });
}

function ifModel(): Model {
  const b = new GraphBuilder('if_outer_scope');
  const x = b.input('x', DataType.FLOAT, [2, 3]);
  const cond = b.input('cond', DataType.BOOL, []);
  const w = b.weight('w', [2, 3], 5);
  const scale = b.init('scale', DataType.FLOAT, [], [2]);
  // then: (x + w) * scale — reads x, w and scale from the enclosing graph
  const tb = new GraphBuilder('then');
  const s = tb.op('Add', [x, w], {}, { outputNames: ['then_sum'] });
  tb.output(tb.op('Mul', [s, scale], {}, { outputNames: ['then_out'] }), { dtype: DataType.FLOAT, shape: [2, 3] });
  // else: a nested If whose branches return an outer value directly / negate it
  const inner = new GraphBuilder('else_inner_then');
  inner.output(inner.op('Neg', [w], {}, { outputNames: ['inner_neg'] }), { dtype: DataType.FLOAT, shape: [2, 3] });
  const innerElse = new GraphBuilder('else_inner_else');
  innerElse.output(innerElse.op('Identity', [x], {}, { outputNames: ['inner_id'] }), { dtype: DataType.FLOAT, shape: [2, 3] });
  const eb = new GraphBuilder('else');
  const notCond = eb.op('Not', [cond], {}, { outputNames: ['not_cond'] });
  const nested = eb.op('If', [notCond], { then_branch: inner.graph, else_branch: innerElse.graph }, { outputNames: ['nested_out'] });
  eb.output(nested, { dtype: DataType.FLOAT, shape: [2, 3] });
  const y = b.op('If', [cond], { then_branch: tb.graph, else_branch: eb.graph }, { outputNames: ['y'] });
  b.output(y, { dtype: DataType.FLOAT, shape: [2, 3] });
  return b.model({ opset: 17 });
}

describe('builder graphs round trip', () => {
  it('If with subgraphs (nested) that read outer-scope values', async () => {
    const m = ifModel();
    assertValid(m);
    const { file, loaded } = roundTrip(m, 'if');
    const ifNode = [...loaded.graph.nodes].find((n) => n.opType === 'If')!;
    const implicit = ifNode.implicitInputs().map((v) => v.name).sort();
    expect(implicit).toEqual(['cond', 'scale', 'w', 'x']);
    // outer references resolve to the outer Value objects, not copies
    const thenG = ifNode.subgraphs()[0]!;
    const add = [...thenG.nodes][0]!;
    expect(add.inputs[0]).toBe(loaded.graph.inputs[0]);
    expect(add.inputs[1]).toBe(loaded.graph.initializers.get('w'));

    const xs = [1, 2, 3, 4, 5, 6];
    const wv = Array.from(loaded.graph.initializers.get('w')!.constValue!.toTypedArray() as Float32Array);
    const run = async (c: boolean) => runOrt(file, { x: f32(xs, [2, 3]), cond: new ort.Tensor('bool', [c], []) });
    const yes = await run(true);
    expect(floats(yes.y!)).toEqual(xs.map((v, i) => Math.fround(Math.fround(v + wv[i]!) * 2)));
    const no = await run(false);
    // cond false → else → Not(false) = true → nested then-branch: Neg(w)
    expect(floats(no.y!)).toEqual(wv.map((v) => -v));
  });

  it('If branch returning an outer value directly keeps the outer value type', () => {
    const b = new GraphBuilder('passthrough');
    const x = b.input('x', DataType.FLOAT, [2, 3]);
    const cond = b.input('cond', DataType.BOOL, []);
    const tb = new GraphBuilder('then');
    // The branch output *is* x, declared less precisely (as exporters do): a stand-in
    // Value named 'x' makes the writer emit that declaration; the reader resolves it to x.
    tb.graph.outputs.push(new Value('x', tensorType(DataType.FLOAT, ['N', 3])));
    const eb = new GraphBuilder('else');
    eb.output(eb.op('Neg', [x], {}, { outputNames: ['neg'] }), { dtype: DataType.FLOAT, shape: ['N', 3] });
    b.output(b.op('If', [cond], { then_branch: tb.graph, else_branch: eb.graph }, { outputNames: ['y'] }), { dtype: DataType.FLOAT, shape: ['N', 3] });
    const file = path.join(dir, 'passthrough.onnx');
    fs.writeFileSync(file, modelToBytes(b.model({ opset: 17 })));
    const loaded = loadModel(file);
    assertValid(loaded);
    const lx = loaded.graph.inputs[0]!;
    expect(lx.type).toEqual(tensorType(DataType.FLOAT, [2, 3]));
    const ifNode = [...loaded.graph.nodes][0]!;
    expect(ifNode.subgraphs()[0]!.outputs[0]).toBe(lx);
    const again = modelToBytes(loaded);
    expect(Buffer.from(modelToBytes(deserializeModel(again))).equals(Buffer.from(again))).toBe(true);
    // (onnxruntime rejects such passthrough outputs, so this one is checked in the IR only)
  });

  it('Loop with loop-carried state, scan outputs and an outer-scope read', async () => {
    const b = new GraphBuilder('loop');
    const tripCount = b.input('M', DataType.INT64, []);
    const cond = b.input('cond', DataType.BOOL, []);
    const v0 = b.input('v0', DataType.FLOAT, [2]);
    const step = b.init('step', DataType.FLOAT, [2], [0.5, -1]);
    const body = new GraphBuilder('body');
    body.input('iter', DataType.INT64, []);
    const condIn = body.input('cond_in', DataType.BOOL, []);
    const vIn = body.input('v_in', DataType.FLOAT, [2]);
    const condOut = body.op('Identity', [condIn], {}, { outputNames: ['cond_out'] });
    const vOut = body.op('Add', [vIn, step], {}, { outputNames: ['v_out'] });
    const scanOut = body.op('Identity', [vOut], {}, { outputNames: ['scan_out'] });
    body.output(condOut, { dtype: DataType.BOOL, shape: [] });
    body.output(vOut, { dtype: DataType.FLOAT, shape: [2] });
    body.output(scanOut, { dtype: DataType.FLOAT, shape: [2] });
    const [vFinal, stacked] = b.opMulti('Loop', [tripCount, cond, v0], 2, { body: body.graph }, { outputNames: ['v_final', 'stacked'] });
    b.output(vFinal!, { dtype: DataType.FLOAT, shape: [2] });
    b.output(stacked!, { dtype: DataType.FLOAT, shape: ['M', 2] });
    const { file } = roundTrip(b.model({ opset: 17 }), 'loop');
    const out = await runOrt(file, {
      M: new ort.Tensor('int64', BigInt64Array.from([3n]), []),
      cond: new ort.Tensor('bool', [true], []),
      v0: f32([1, 1], [2]),
    });
    expect(floats(out.v_final!)).toEqual([2.5, -2]);
    expect(out.stacked!.dims).toEqual([3, 2]);
    expect(floats(out.stacked!)).toEqual([1.5, 0, 2, -1, 2.5, -2]);
  });

  it('model-local function with an attribute reference', async () => {
    // custom.AddLeaky(a, b) = LeakyRelu(a + b, alpha = @alpha) * b
    const body = new Graph('AddLeaky');
    const a = body.addInput(new Value('a'));
    const bIn = body.addInput(new Value('b'));
    const t = new Value('t');
    const u = new Value('u');
    const c = new Value('c');
    body.appendNode(new Node('', 'Add', [a, bIn], [t], { name: 'add' }));
    body.appendNode(
      new Node('', 'LeakyRelu', [t], [u], { name: 'leaky', attributes: [{ name: 'alpha', type: AttrType.FLOAT, value: 0, refAttrName: 'alpha' }] }),
    );
    body.appendNode(new Node('', 'Mul', [u, bIn], [c], { name: 'mul' }));
    body.outputs.push(c);
    const fn: IrFunction = {
      domain: 'custom.fn',
      name: 'AddLeaky',
      overload: '',
      attributeNames: ['alpha'],
      attributeDefaults: [],
      opsetImports: new Map([['', 17]]),
      body,
      docString: 'adds, leaks, scales',
      extra: undefined,
    };
    const b = new GraphBuilder('uses_function');
    const x = b.input('x', DataType.FLOAT, [4]);
    const w = b.init('w', DataType.FLOAT, [4], [1, 2, -3, 0.5]);
    const y = b.op('AddLeaky', [x, w], { alpha: 0.25 }, { domain: 'custom.fn', outputNames: ['y'] });
    b.output(y, { dtype: DataType.FLOAT, shape: [4] });
    const m = b.model({ opset: 17, extraOpsets: [['custom.fn', 1]] });
    m.functions.push(fn);
    const { file, loaded } = roundTrip(m, 'function');
    expect(loaded.functions).toHaveLength(1);
    const lf = loaded.functions[0]!;
    expect([lf.domain, lf.name, lf.docString, lf.attributeNames]).toEqual(['custom.fn', 'AddLeaky', 'adds, leaks, scales', ['alpha']]);
    expect([...lf.body.nodes].map((n) => n.opType)).toEqual(['Add', 'LeakyRelu', 'Mul']);
    expect([...lf.body.nodes][1]!.attr('alpha')!.refAttrName).toBe('alpha');
    const out = await runOrt(file, { x: f32([1, -5, 1, 1], [4]) });
    const expected = [1, -5, 1, 1].map((v, i) => {
      const wv = [1, 2, -3, 0.5][i]!;
      const s = Math.fround(v + wv);
      return Math.fround(Math.fround(s < 0 ? s * 0.25 : s) * wv);
    });
    expect(floats(out.y!)).toEqual(expected);
  });

  it('metadata props, doc strings and producer fields', () => {
    const b = new GraphBuilder('documented');
    const x = b.input('x', DataType.FLOAT, ['batch', 3]);
    x.docString = 'the input';
    const w = b.init('w', DataType.FLOAT, [3], [1, 2, 3]);
    w.constValue!.docString = 'a weight';
    const y = b.op('Add', [x, w], {}, { outputNames: ['y'], name: 'adder' });
    y.docString = 'the output';
    b.output(y, { dtype: DataType.FLOAT, shape: ['batch', 3] });
    const node = [...b.graph.nodes][0]!;
    node.docString = 'adds w';
    b.graph.docString = 'graph doc ✓';
    const m = b.model({ opset: 17 });
    m.docString = 'model doc — unicode ok';
    m.producerName = 'splitc-test';
    m.producerVersion = '1.2.3';
    m.domain = 'org.splitc.test';
    m.modelVersion = 42;
    m.metadataProps = [
      ['author', 'tests'],
      ['empty', ''],
      ['ключ', 'значение'],
    ];
    const { loaded } = roundTrip(m, 'docs');
    expect(loaded.docString).toBe('model doc — unicode ok');
    expect([loaded.producerName, loaded.producerVersion, loaded.domain, loaded.modelVersion]).toEqual(['splitc-test', '1.2.3', 'org.splitc.test', 42]);
    expect(loaded.metadataProps).toEqual(m.metadataProps);
    expect(loaded.graph.docString).toBe('graph doc ✓');
    expect(loaded.graph.inputs[0]!.docString).toBe('the input');
    expect(loaded.graph.initializers.get('w')!.constValue!.docString).toBe('a weight');
    const ln = [...loaded.graph.nodes][0]!;
    expect([ln.name, ln.docString]).toEqual(['adder', 'adds w']);
    expect(ln.outputs[0]!.docString).toBe('the output');
  });

  it('attribute doc strings and every attribute kind survive (IR only)', () => {
    const b = new GraphBuilder('attrs');
    const x = b.input('x', DataType.FLOAT, [1]);
    const g = new GraphBuilder('g');
    g.output(g.op('Identity', [x], {}, { outputNames: ['gi'] }));
    const t = Tensor.fromArray('tt', DataType.INT32, [2], [7, -7]);
    const y = b.op(
      'Opaque',
      [x],
      {
        f: 1.5,
        i: { name: 'i', type: AttrType.INT, value: INT64_MIN, docString: 'min' },
        s: 'text',
        t,
        g: g.graph,
        fs: [0.5, -0.25],
        is: { name: 'is', type: AttrType.INTS, value: [0, -1, INT64_MAX, INT64_MIN, 2 ** 53 - 1, 2n ** 53n] },
        ss: { name: 'ss', type: AttrType.STRINGS, value: [new Uint8Array([0, 255]), new Uint8Array(0)] },
        ts: { name: 'ts', type: AttrType.TENSORS, value: [t] },
        gs: { name: 'gs', type: AttrType.GRAPHS, value: [] },
        tp: { name: 'tp', type: AttrType.TYPE_PROTO, value: new Uint8Array([0x0a, 0x02, 0x08, 0x01]) },
      },
      { domain: 'custom.opaque', outputNames: ['y'] },
    );
    b.output(y);
    const { loaded } = roundTrip(b.model({ opset: 17, extraOpsets: [['custom.opaque', 1]] }), 'attrs');
    const n = [...loaded.graph.nodes][0]!;
    expect(n.attr('i')).toEqual({ name: 'i', type: AttrType.INT, value: INT64_MIN, docString: 'min' });
    // numbers while they are safe integers, bigint beyond
    expect(n.attr('is')!.value).toEqual([0, -1, INT64_MAX, INT64_MIN, 2 ** 53 - 1, 2n ** 53n]);
    expect(n.attr('f')!.value).toBe(1.5);
    expect(n.attrFloats('fs')).toEqual([0.5, -0.25]);
    expect(n.attrString('s')).toBe('text');
    expect(Array.from(n.attrTensor('t')!.toTypedArray() as Int32Array)).toEqual([7, -7]);
    expect((n.attr('ss')!.value as Uint8Array[]).map((u) => Array.from(u))).toEqual([[0, 255], []]);
    expect(n.attr('gs')!.type).toBe(AttrType.GRAPHS);
    expect(Array.from(n.attr('tp')!.value as Uint8Array)).toEqual([0x0a, 0x02, 0x08, 0x01]);
  });

  it('int64 extremes: Constant value_int = INT64_MAX and Slice (opset 9) ends/starts at INT64_MAX/MIN', async () => {
    const b = new GraphBuilder('int64');
    const c = b.op('Constant', [], { value_int: attr.int('value_int', INT64_MAX) }, { outputNames: ['big'] });
    b.output(c, { dtype: DataType.INT64, shape: [] });
    const { file, loaded } = roundTrip(b.model({ opset: 17 }), 'int64-constant');
    expect([...loaded.graph.nodes][0]!.attr('value_int')!.value).toBe(INT64_MAX);
    const out = await runOrt(file, {});
    expect(new BigInt64Array(new Uint8Array(out.big!.bytes!).buffer)[0]).toBe(INT64_MAX);

    const s = new GraphBuilder('slice9');
    const x = s.input('x', DataType.FLOAT, [5]);
    const y = s.op(
      'Slice',
      [x],
      {
        starts: attr.ints('starts', [INT64_MIN]),
        ends: attr.ints('ends', [INT64_MAX]),
        axes: [0],
      },
      { outputNames: ['y'] },
    );
    s.output(y, { dtype: DataType.FLOAT, shape: [5] });
    const r = roundTrip(s.model({ opset: 9, irVersion: 4 }), 'int64-slice');
    expect([...r.loaded.graph.nodes][0]!.attr('ends')!.value).toEqual([INT64_MAX]);
    const sliced = await runOrt(r.file, { x: f32([1, 2, 3, 4, 5], [5]) });
    expect(floats(sliced.y!)).toEqual([1, 2, 3, 4, 5]);
  });

  it('tensors in float_data / int32_data / int64_data / double_data / uint64_data, packed and not', async () => {
    const b = new GraphBuilder('typed_fields');
    const add = (name: string, dtype: number, dims: number[], field: number, records: Uint8Array[]) => {
      const v = b.graph.addInitializer(new Value(name, tensorType(dtype, dims)), new Tensor(name, dtype, dims, new FieldStorage(dtype, field, records)));
      b.output(b.op('Identity', [v], {}, { outputNames: [`${name}_out`] }), { dtype, shape: dims });
    };
    add('f_packed', DataType.FLOAT, [3], TensorField.FLOAT, [packedRecord(TensorField.FLOAT, (w) => [1.5, -2, 3.25].forEach((v) => w.float(v)))]);
    add('f_unpacked', DataType.FLOAT, [2], TensorField.FLOAT, unpackedRecords(TensorField.FLOAT, WireType.I32, [0.125, -7]));
    const i64s = [1n, -1n, INT64_MAX, INT64_MIN, 2n ** 53n + 1n];
    add('i64_packed', DataType.INT64, [5], TensorField.INT64, [packedRecord(TensorField.INT64, (w) => i64s.forEach((v) => w.int64(v)))]);
    add('i64_unpacked', DataType.INT64, [2], TensorField.INT64, unpackedRecords(TensorField.INT64, WireType.VARINT, [-5n, 5n]));
    add('i32', DataType.INT32, [3], TensorField.INT32, [packedRecord(TensorField.INT32, (w) => [-1, 2147483647, -2147483648].forEach((v) => w.int64(v)))]);
    add('i8', DataType.INT8, [3], TensorField.INT32, [packedRecord(TensorField.INT32, (w) => [-128, 127, -1].forEach((v) => w.int64(v)))]);
    add('f16', DataType.FLOAT16, [2], TensorField.INT32, [packedRecord(TensorField.INT32, (w) => [0x3c00, 0xc000].forEach((v) => w.int64(v)))]);
    add('f64', DataType.DOUBLE, [2], TensorField.DOUBLE, [packedRecord(TensorField.DOUBLE, (w) => [Math.PI, -1e300].forEach((v) => w.double(v)))]);
    add('u64', DataType.UINT64, [2], TensorField.UINT64, [packedRecord(TensorField.UINT64, (w) => [2n ** 64n - 1n, 3n].forEach((v) => w.int64(v)))]);
    const { file, loaded } = roundTrip(b.model({ opset: 17 }), 'typed-fields');
    for (const v of loaded.graph.initializers.values()) expect(v.constValue!.storage.kind, v.name).toBe('field');
    const typed = (name: string) => Array.from(loaded.graph.initializers.get(name)!.constValue!.toTypedArray() as ArrayLike<number | bigint>);
    expect(typed('f_packed')).toEqual([1.5, -2, 3.25]);
    expect(typed('f_unpacked')).toEqual([0.125, -7]);
    expect(typed('i64_packed')).toEqual(i64s);
    expect(typed('i64_unpacked')).toEqual([-5n, 5n]);
    expect(typed('i32')).toEqual([-1, 2147483647, -2147483648]);
    expect(typed('i8')).toEqual([-128, 127, -1]);
    expect(typed('f16')).toEqual([0x3c00, 0xc000]);
    expect(loaded.graph.initializers.get('f16')!.constValue!.toNumbers()).toEqual([1, -2]);
    expect(typed('f64')).toEqual([Math.PI, -1e300]);
    expect(typed('u64')).toEqual([2n ** 64n - 1n, 3n]);
    // ORT decodes the typed fields itself: its outputs must equal our decoding byte for byte
    const out = await runOrt(file, {});
    for (const v of loaded.graph.initializers.values()) {
      const ours = Buffer.from(v.constValue!.bytes());
      expect(out[`${v.name}_out`]!.bytes!.equals(ours), v.name).toBe(true);
    }
    // externalizing typed-field tensors writes their dense bytes
    const sub = fs.mkdtempSync(path.join(dir, 'typed-ext-'));
    saveModel(loaded, path.join(sub, 'm.onnx'), { externalDataThreshold: 1 });
    const ext = loadModel(path.join(sub, 'm.onnx'));
    for (const [name, v] of ext.graph.initializers) {
      expect(v.constValue!.storage.kind).toBe('external');
      expect(Buffer.from(v.constValue!.bytes()).equals(Buffer.from(loaded.graph.initializers.get(name)!.constValue!.bytes()))).toBe(true);
    }
    const out2 = await runOrt(path.join(sub, 'm.onnx'), {});
    for (const k of Object.keys(out)) expect(out2[k]!.bytes!.equals(out[k]!.bytes!), k).toBe(true);
  });

  it('string tensors (initializer and Constant) round trip and run', async () => {
    const enc = new TextEncoder();
    const b = new GraphBuilder('strings');
    const words = ['alpha', 'héllo ✓', '', 'with\0nul'];
    const sv = b.graph.addInitializer(
      new Value('words', tensorType(DataType.STRING, [4])),
      new Tensor('words', DataType.STRING, [4], new MemoryStorage(new Uint8Array(0)), words.map((w) => enc.encode(w))),
    );
    b.output(b.op('Identity', [sv], {}, { outputNames: ['words_out'] }), { dtype: DataType.STRING, shape: [4] });
    const constT = new Tensor('c', DataType.STRING, [2], new MemoryStorage(new Uint8Array(0)), [enc.encode('x'), enc.encode('yz')]);
    b.output(b.op('Constant', [], { value: constT }, { outputNames: ['c'] }), { dtype: DataType.STRING, shape: [2] });
    const { file, loaded } = roundTrip(b.model({ opset: 17 }), 'strings');
    const t = loaded.graph.initializers.get('words')!.constValue!;
    expect(t.strings!.map((s) => new TextDecoder().decode(s))).toEqual(words);
    // external data never takes string tensors
    const sub = fs.mkdtempSync(path.join(dir, 'str-ext-'));
    const res = saveModel(loaded, path.join(sub, 'm.onnx'), { externalDataThreshold: 0 });
    expect(res.externalDataFile).toBeNull();
    const out = await runOrt(file, {});
    expect(out.words_out!.strings).toEqual(words);
    expect(out.c!.strings).toEqual(['x', 'yz']);
  });

  it('IR version 3 style: initializers that are also graph inputs (defaults)', async () => {
    const b = new GraphBuilder('ir3');
    const x = b.input('x', DataType.FLOAT, [2]);
    const w = b.input('w', DataType.FLOAT, [2]);
    b.graph.addInitializer(w, Tensor.fromArray('w', DataType.FLOAT, [2], [10, 20]));
    b.output(b.op('Add', [x, w], {}, { outputNames: ['y'] }), { dtype: DataType.FLOAT, shape: [2] });
    const { file, loaded } = roundTrip(b.model({ opset: 8, irVersion: 3 }), 'ir3');
    expect(loaded.irVersion).toBe(3);
    const lw = loaded.graph.initializers.get('w')!;
    expect(loaded.graph.inputs.map((v) => v.name)).toEqual(['x', 'w']);
    expect(loaded.graph.inputs[1]).toBe(lw);
    expect(lw.isGraphInput()).toBe(true);
    const dflt = await runOrt(file, { x: f32([1, 2], [2]) });
    expect(floats(dflt.y!)).toEqual([11, 22]);
    // (onnxruntime-node does not expose overridable initializers as inputs, so feeding
    // 'w' cannot be tested through it; the IR keeps 'w' an input, which is what matters.)
  });
});

describe.skipIf(!pythonOnnx().ok)(`onnx.checker full_check on builder models [${pythonOnnx().reason}]`, () => {
  it.each(['if', 'loop', 'function', 'docs', 'int64-constant', 'int64-slice', 'typed-fields', 'strings', 'ir3'])('%s.onnx passes', (name) => {
    const file = path.join(dir, `${name}.onnx`);
    expect(fs.existsSync(file), `${file} is written by the round-trip tests above`).toBe(true);
    expect(onnxCheck(file)).toEqual({ ok: true, message: 'ok' });
  });
});
