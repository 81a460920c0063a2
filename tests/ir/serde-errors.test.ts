// Bad input gets a SplitcError with a stable code (asserted on the code, never the
// wording): files that are not ONNX, truncated or corrupt files, broken external data,
// graphs that are not valid SSA DAGs, unsupported versions, and failed writes.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { type ErrorCode, SplitcError } from '../../src/ir/errors.js';
import { Graph, type Model, Node, Value } from '../../src/ir/graph.js';
import { loadModel, modelToBytes, saveModel } from '../../src/ir/serde/io.js';
import { deserializeModel, probeOnnx } from '../../src/ir/serde/read.js';
import { concatBytes } from '../../src/ir/bytes.js';
import { WireWriter } from '../../src/ir/serde/wire.js';
import { assertValid, verifyModel } from '../../src/ir/verify.js';
import { fixtures, tmpDir } from '../helpers/fixtures.js';
import { xorshift32 } from '../helpers/onnx-oracle.js';

let dir: string;
beforeAll(() => {
  dir = tmpDir('splitc-serde-errors-');
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The SplitcError code thrown by fn (fails the test on success or on any other exception). */
function codeOf(fn: () => unknown): ErrorCode {
  try {
    fn();
  } catch (e) {
    if (e instanceof SplitcError) return e.code;
    throw e;
  }
  throw new Error('expected a SplitcError, but the call succeeded');
}

function small(): Model {
  const b = new GraphBuilder('small');
  const x = b.input('x', DataType.FLOAT, [1, 4]);
  const w = b.weight('w', [4, 4], 3);
  const y = b.op('MatMul', [x, w], {}, { outputNames: ['h'] });
  b.output(b.op('Relu', [y], {}, { outputNames: ['y'] }));
  return b.model({ opset: 17 });
}

/** Bytes of a ModelProto written field by field (for shapes the IR cannot hold). */
function handModel(write: (w: WireWriter) => void): Uint8Array {
  const w = new WireWriter();
  write(w);
  const { parts, length } = w.finishParts();
  return concatBytes(parts, length);
}
function opset(w: WireWriter, version: number, domain = ''): void {
  w.fork();
  if (domain) w.stringField(1, domain);
  w.int64Field(2, version);
  w.finish(8);
}
function node(w: WireWriter, op: string, inputs: string[], outputs: string[]): void {
  w.fork();
  for (const i of inputs) w.stringField(1, i);
  for (const o of outputs) w.stringField(2, o);
  w.stringField(4, op);
  w.finish(1);
}
function valueInfo(w: WireWriter, field: number, name: string): void {
  w.fork();
  w.stringField(1, name);
  w.finish(field);
}

describe('not ONNX', () => {
  it.each([
    ['an empty file', new Uint8Array(0)],
    ['JSON text', new TextEncoder().encode('{"ir_version": 8}')],
    ['prototxt', new TextEncoder().encode('ir_version: 8\ngraph {\n}\n')],
    ['plain text', new TextEncoder().encode('hello world, this is not a model')],
    ['a PNG header', Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13])],
    ['a JPEG header', Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 0, 16])],
    ['a zip archive', Uint8Array.from([0x50, 0x4b, 0x03, 0x04, 20, 0])],
    ['gzip data', Uint8Array.from([0x1f, 0x8b, 8, 0])],
    ['a .npy file', Uint8Array.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0])],
    ['a valid protobuf without ir_version', handModel((w) => w.stringField(2, 'producer'))],
  ])('%s → E_NOT_ONNX', (_what, bytes) => {
    expect(codeOf(() => deserializeModel(bytes))).toBe('E_NOT_ONNX');
  });

  it('random bytes → E_NOT_ONNX when the first byte is no ModelProto tag, some SplitcError otherwise', () => {
    const rnd = xorshift32(99);
    let probed = 0;
    for (let i = 0; i < 300; i++) {
      const bytes = Uint8Array.from({ length: 64 + i }, () => Math.floor(rnd() * 256));
      const first = bytes[0]!;
      // one-byte tags of ModelProto fields 1..8 and 14, and multi-byte tags, may start a real model
      const mayBeTag = first < 0x48 || first === 0x72 || first >= 0x80;
      const code = codeOf(() => assertValid(deserializeModel(bytes)));
      if (mayBeTag) expect(['E_NOT_ONNX', 'E_TRUNCATED', 'E_MALFORMED', 'E_IR_VERSION']).toContain(code);
      else {
        probed++;
        expect(code).toBe('E_NOT_ONNX');
        expect(codeOf(() => probeOnnx(bytes))).toBe('E_NOT_ONNX');
      }
    }
    expect(probed).toBeGreaterThan(50);
  });

  it('loadModel of a file that does not exist or is a folder → E_IO', () => {
    expect(codeOf(() => loadModel(path.join(dir, 'nope.onnx')))).toBe('E_IO');
    expect(codeOf(() => loadModel(dir))).toBe('E_IO');
  });
});

describe('corrupt files', () => {
  it('every truncation of a small model is E_TRUNCATED, E_MALFORMED or E_NOT_ONNX — never a crash', () => {
    const bytes = modelToBytes(small());
    const seen = new Set<string>();
    for (let cut = 0; cut < bytes.byteLength; cut++) {
      const code = codeOf(() => assertValid(deserializeModel(bytes.subarray(0, cut))));
      seen.add(code);
      expect(['E_TRUNCATED', 'E_MALFORMED', 'E_NOT_ONNX', 'E_IR_VERSION']).toContain(code);
    }
    expect(seen.has('E_TRUNCATED')).toBe(true);
  });

  it('a real fixture cut in half → E_TRUNCATED', () => {
    const bytes = fs.readFileSync(fixtures()[0]!.path);
    const file = path.join(dir, 'half.onnx');
    fs.writeFileSync(file, bytes.subarray(0, bytes.byteLength >> 1));
    expect(codeOf(() => loadModel(file))).toBe('E_TRUNCATED');
  });

  it('a length field pointing past the end → E_TRUNCATED; wire type 7 → E_MALFORMED; an overlong varint → E_MALFORMED', () => {
    const good = modelToBytes(small());
    // the graph field (tag 0x3a) length grown by one: the message then ends early
    const g = good.indexOf(0x3a);
    const longer = Uint8Array.from(good);
    longer[g + 1] = longer[g + 1]! + 1;
    expect(codeOf(() => deserializeModel(longer))).toBe('E_TRUNCATED');
    const badWire = handModel((w) => {
      w.int64Field(1, 8);
      w.uint((9 << 3) | 7);
    });
    expect(codeOf(() => deserializeModel(badWire))).toBe('E_MALFORMED');
    const overlong = Uint8Array.from([0x08, 0x08, 0x28, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    expect(codeOf(() => deserializeModel(overlong))).toBe('E_MALFORMED');
  });

  it('tensor data inconsistent with dims → E_TENSOR from the verifier and from bytes()', () => {
    const bytes = handModel((w) => {
      w.int64Field(1, 8);
      w.fork();
      node(w, 'Relu', ['t'], ['y']);
      w.fork();
      w.fork();
      w.int64(4);
      w.int64(5);
      w.finish(1);
      w.uintField(2, DataType.FLOAT);
      w.stringField(8, 't');
      w.bytesField(9, new Uint8Array(64)); // 16 floats for a [4,5] tensor
      w.finish(5);
      valueInfo(w, 12, 'y');
      w.finish(7);
      opset(w, 17);
    });
    const loaded = deserializeModel(bytes);
    expect(verifyModel(loaded).map((i) => i.code)).toContain('E_TENSOR');
    expect(codeOf(() => assertValid(loaded))).toBe('E_TENSOR');
    expect(codeOf(() => loaded.graph.initializers.get('t')!.constValue!.bytes())).toBe('E_TENSOR');
    expect(codeOf(() => modelToBytes(loaded))).toBe('E_TENSOR');
  });
});

describe('external data', () => {
  function saved(): { file: string; data: string; sub: string } {
    const sub = fs.mkdtempSync(path.join(dir, 'ext-'));
    const file = path.join(sub, 'm.onnx');
    const res = saveModel(small(), file, { externalDataThreshold: 16 });
    return { file, data: res.externalDataFile!, sub };
  }

  it('missing data file → E_EXTERNAL_DATA at load', () => {
    const { file, data } = saved();
    fs.rmSync(data);
    expect(codeOf(() => loadModel(file))).toBe('E_EXTERNAL_DATA');
  });

  it('short data file → E_EXTERNAL_DATA at load', () => {
    const { file, data } = saved();
    fs.truncateSync(data, fs.statSync(data).size - 1);
    expect(codeOf(() => loadModel(file))).toBe('E_EXTERNAL_DATA');
  });

  it('data file shortened after load → E_EXTERNAL_DATA when read', () => {
    const { file, data } = saved();
    const m = loadModel(file);
    fs.truncateSync(data, 0);
    expect(codeOf(() => m.graph.initializers.get('w')!.constValue!.bytes())).toBe('E_EXTERNAL_DATA');
    expect(codeOf(() => modelToBytes(m))).toBe('E_EXTERNAL_DATA');
  });

  it('a model with external data read from memory (no baseDir) → E_EXTERNAL_DATA', () => {
    const { file } = saved();
    expect(codeOf(() => deserializeModel(fs.readFileSync(file)))).toBe('E_EXTERNAL_DATA');
  });

  /** A model whose initializer 't' (float32[4]) is stored externally with the given entries. */
  function extModel(entries: [string, string][]): Uint8Array {
    return handModel((w) => {
      w.int64Field(1, 8);
      w.fork();
      node(w, 'Relu', ['t'], ['y']);
      w.fork();
      w.fork();
      w.int64(4); // dims, packed
      w.finish(1);
      w.uintField(2, DataType.FLOAT);
      w.stringField(8, 't');
      for (const [k, v] of entries) {
        w.fork();
        w.stringField(1, k);
        w.stringField(2, v);
        w.finish(13);
      }
      w.uintField(14, 1);
      w.finish(5);
      valueInfo(w, 12, 'y');
      w.finish(7);
      opset(w, 17);
    });
  }
  function loadIn(sub: string, bytes: Uint8Array): Model {
    const file = path.join(sub, 'm.onnx');
    fs.writeFileSync(file, bytes);
    return loadModel(file);
  }

  it('a hand-written external tensor loads (control for the cases below)', () => {
    const sub = fs.mkdtempSync(path.join(dir, 'loc-'));
    fs.writeFileSync(path.join(sub, 'ok.data'), Float32Array.from([0, 1, 2, 3, 4, 5]).subarray(0));
    const m = loadIn(sub, extModel([['location', 'ok.data'], ['offset', '8']]));
    assertValid(m);
    expect(Array.from(m.graph.initializers.get('t')!.constValue!.toTypedArray() as Float32Array)).toEqual([2, 3, 4, 5]);
  });

  it.each([['../escape.data'], ['/etc/passwd'], ['sub/../../x.data'], ['']])('location %j (outside the folder or empty) → E_EXTERNAL_DATA', (location) => {
    const sub = fs.mkdtempSync(path.join(dir, 'loc-'));
    fs.writeFileSync(path.join(sub, 'ok.data'), new Uint8Array(64));
    expect(codeOf(() => loadIn(sub, extModel([['location', location]])))).toBe('E_EXTERNAL_DATA');
  });

  it.each([
    ['negative offset', [['offset', '-4']]],
    ['offset past the end', [['offset', '60']]],
    ['non-numeric offset', [['offset', 'abc']]],
    ['huge offset', [['offset', '1e300']]],
  ] as [string, [string, string][]][])('%s → E_EXTERNAL_DATA', (_why, entries) => {
    const sub = fs.mkdtempSync(path.join(dir, 'off-'));
    fs.writeFileSync(path.join(sub, 'ok.data'), new Uint8Array(64));
    expect(codeOf(() => loadIn(sub, extModel([['location', 'ok.data'], ...entries])))).toBe('E_EXTERNAL_DATA');
  });

  it('a declared length that disagrees with the dims → E_TENSOR', () => {
    const sub = fs.mkdtempSync(path.join(dir, 'len-'));
    fs.writeFileSync(path.join(sub, 'ok.data'), new Uint8Array(64));
    expect(codeOf(() => loadIn(sub, extModel([['location', 'ok.data'], ['length', '12']])))).toBe('E_TENSOR');
  });
});

describe('graph structure', () => {
  it('a cycle → E_CYCLE', () => {
    const g = new Graph('cyclic');
    const x = g.addInput(new Value('x'));
    const a = new Value('a');
    const b = new Value('b');
    const c = new Value('c');
    g.appendNode(new Node('', 'Add', [x, c], [a], { name: 'n1' }));
    g.appendNode(new Node('', 'Relu', [a], [b], { name: 'n2' }));
    g.appendNode(new Node('', 'Relu', [b], [c], { name: 'n3' }));
    g.outputs.push(b);
    const bytes = modelToBytes(model(g));
    expect(codeOf(() => deserializeModel(bytes))).toBe('E_CYCLE');
    expect(verifyModel(model(g)).map((i) => i.code)).toContain('E_CYCLE');
  });

  it('a self-loop → E_CYCLE', () => {
    const bytes = handModel((w) => {
      w.int64Field(1, 8);
      w.fork();
      node(w, 'Relu', ['a'], ['a']);
      valueInfo(w, 12, 'a');
      w.finish(7);
      opset(w, 17);
    });
    // 'a' is produced by the node that consumes it
    expect(codeOf(() => deserializeModel(bytes))).toBe('E_CYCLE');
  });

  it('nodes listed out of order are sorted, not rejected', () => {
    const bytes = handModel((w) => {
      w.int64Field(1, 8);
      w.fork();
      node(w, 'Relu', ['h'], ['y']);
      node(w, 'Neg', ['x'], ['h']);
      valueInfo(w, 11, 'x');
      valueInfo(w, 12, 'y');
      w.finish(7);
      opset(w, 17);
    });
    const m = deserializeModel(bytes);
    assertValid(m);
    expect([...m.graph.nodes].map((n) => n.opType)).toEqual(['Neg', 'Relu']);
  });

  it('a value produced twice → E_VALUE_REDEFINED (node outputs, input vs node, initializer twice)', () => {
    const twice = handModel((w) => {
      w.int64Field(1, 8);
      w.fork();
      node(w, 'Relu', ['x'], ['y']);
      node(w, 'Neg', ['x'], ['y']);
      valueInfo(w, 11, 'x');
      valueInfo(w, 12, 'y');
      w.finish(7);
      opset(w, 17);
    });
    expect(codeOf(() => deserializeModel(twice))).toBe('E_VALUE_REDEFINED');
    const shadowInput = handModel((w) => {
      w.int64Field(1, 8);
      w.fork();
      node(w, 'Relu', ['x'], ['x']);
      valueInfo(w, 11, 'x');
      valueInfo(w, 12, 'x');
      w.finish(7);
      opset(w, 17);
    });
    expect(codeOf(() => deserializeModel(shadowInput))).toBe('E_VALUE_REDEFINED');
    // an initializer and a node output with the same name
    const clash = small();
    const w = clash.graph.initializers.get('w')!.constValue!;
    clash.graph.addInitializer(new Value('h'), w);
    expect(codeOf(() => deserializeModel(modelToBytes(clash)))).toBe('E_VALUE_REDEFINED');
  });

  it('a node input that is never defined → E_UNDEFINED_INPUT', () => {
    const m = small();
    const relu = [...m.graph.nodes][1]!;
    relu.setInput(0, new Value('ghost'));
    expect(codeOf(() => deserializeModel(modelToBytes(m)))).toBe('E_UNDEFINED_INPUT');
    expect(codeOf(() => assertValid(m))).toBe('E_UNDEFINED_INPUT');
  });

  it('an input of a subgraph node that is defined nowhere → E_UNDEFINED_INPUT', () => {
    const b = new GraphBuilder('sub');
    const cond = b.input('cond', DataType.BOOL, []);
    const tb = new GraphBuilder('then');
    tb.output(tb.op('Neg', [new Value('nowhere')], {}, { outputNames: ['t'] }));
    const eb = new GraphBuilder('else');
    eb.output(eb.op('Identity', [cond], {}, { outputNames: ['e'] }));
    b.output(b.op('If', [cond], { then_branch: tb.graph, else_branch: eb.graph }, { outputNames: ['y'] }));
    expect(codeOf(() => deserializeModel(modelToBytes(b.model())))).toBe('E_UNDEFINED_INPUT');
  });

  it('a graph output that is never produced → E_UNDEFINED_OUTPUT', () => {
    const m = small();
    m.graph.outputs.push(new Value('phantom'));
    expect(codeOf(() => deserializeModel(modelToBytes(m)))).toBe('E_UNDEFINED_OUTPUT');
    expect(codeOf(() => assertValid(m))).toBe('E_UNDEFINED_OUTPUT');
  });
});

describe('versions', () => {
  it.each([0, 1, 2, 14, 99])('IR version %i → E_IR_VERSION', (v) => {
    const m = small();
    m.irVersion = v;
    expect(codeOf(() => deserializeModel(modelToBytes(m)))).toBe('E_IR_VERSION');
  });

  it.each([3, 8, 10, 13])('IR version %i loads', (v) => {
    const m = small();
    m.irVersion = v;
    expect(deserializeModel(modelToBytes(m)).irVersion).toBe(v);
  });

  it.each([1, 5, 6])('default-domain opset %i → E_OPSET', (v) => {
    const m = small();
    m.opsetImports.set('', v);
    expect(codeOf(() => deserializeModel(modelToBytes(m)))).toBe('E_OPSET');
  });

  it('ai.onnx spelled out counts as the default domain', () => {
    const bytes = handModel((w) => {
      w.int64Field(1, 8);
      w.fork();
      node(w, 'Relu', ['x'], ['y']);
      valueInfo(w, 11, 'x');
      valueInfo(w, 12, 'y');
      w.finish(7);
      opset(w, 6, 'ai.onnx');
    });
    expect(codeOf(() => deserializeModel(bytes))).toBe('E_OPSET');
  });

  it('no opset_import at all → E_MALFORMED', () => {
    const m = small();
    m.opsetImports.clear();
    expect(codeOf(() => deserializeModel(modelToBytes(m)))).toBe('E_MALFORMED');
  });

  it('no graph → E_MALFORMED', () => {
    const bytes = handModel((w) => {
      w.int64Field(1, 8);
      opset(w, 17);
    });
    expect(codeOf(() => deserializeModel(bytes))).toBe('E_MALFORMED');
  });
});

describe('regressions found by the fuzzer (tests/ir/fuzz.test.ts)', () => {
  const relu = (w: WireWriter, opsets: [string, number | bigint][]): void => {
    w.int64Field(1, 8);
    w.fork();
    node(w, 'Relu', ['x'], ['y']);
    valueInfo(w, 11, 'x');
    valueInfo(w, 12, 'y');
    w.finish(7);
    for (const [d, v] of opsets) {
      w.fork();
      if (d) w.stringField(1, d);
      w.int64Field(2, v);
      w.finish(8);
    }
  };

  it('conflicting opset_import entries for one domain → E_MALFORMED (the IR keeps one version per domain)', () => {
    expect(codeOf(() => deserializeModel(handModel((w) => relu(w, [['', 17], ['', 0]]))))).toBe('E_MALFORMED');
    expect(codeOf(() => deserializeModel(handModel((w) => relu(w, [['', 17], ['ai.onnx', 13]]))))).toBe('E_MALFORMED');
    // an identical duplicate is harmless
    expect(deserializeModel(handModel((w) => relu(w, [['', 17], ['', 17]]))).opset).toBe(17);
  });

  it('int64 fields the IR keeps as numbers reject values beyond 2^53 (no silent rounding)', () => {
    expect(codeOf(() => deserializeModel(handModel((w) => relu(w, [['', 17], ['custom', 2n ** 63n - 1n]]))))).toBe('E_MALFORMED');
    const bigModelVersion = handModel((w) => {
      relu(w, [['', 17]]);
      w.int64Field(5, 2n ** 60n);
    });
    expect(codeOf(() => deserializeModel(bigModelVersion))).toBe('E_MALFORMED');
  });

  it('a Constant whose tensor has an unknown data type fails verification (before hoisting makes it an initializer)', () => {
    const bytes = handModel((w) => {
      w.int64Field(1, 8);
      w.fork();
      w.fork();
      w.stringField(2, 'c');
      w.stringField(4, 'Constant');
      w.fork();
      w.stringField(1, 'value');
      w.fork();
      w.uintField(2, 0); // data_type UNDEFINED
      w.finish(5);
      w.uintField(20, 4);
      w.finish(5);
      w.finish(1);
      valueInfo(w, 12, 'c');
      w.finish(7);
      opset(w, 17);
    });
    const m = deserializeModel(bytes);
    expect(codeOf(() => assertValid(m))).toBe('E_TENSOR');
  });

  it('an attribute field with the wrong wire type is skipped as unknown, not misparsed', () => {
    const bytes = handModel((w) => {
      w.int64Field(1, 8);
      w.fork();
      w.fork();
      w.stringField(1, 'x');
      w.stringField(2, 'y');
      w.stringField(4, 'Elu');
      w.fork();
      w.uintField(1, 300); // name with wire type VARINT: unknown field
      w.stringField(1, 'alpha');
      w.tag(2, 5);
      w.float(0.5);
      w.uintField(20, 1);
      w.finish(5);
      w.finish(1);
      valueInfo(w, 11, 'x');
      valueInfo(w, 12, 'y');
      w.finish(7);
      opset(w, 17);
    });
    const n = [...deserializeModel(bytes).graph.nodes][0]!;
    expect([...n.attributes.keys()]).toEqual(['alpha']);
    expect(n.attrFloat('alpha')).toBe(0.5);
  });
});

describe('saveModel failures', () => {
  it('into a folder that does not exist → E_IO, no files left behind', () => {
    const sub = fs.mkdtempSync(path.join(dir, 'io-'));
    const target = path.join(sub, 'missing', 'm.onnx');
    expect(codeOf(() => saveModel(small(), target))).toBe('E_IO');
    expect(codeOf(() => saveModel(small(), target, { externalDataThreshold: 16 }))).toBe('E_IO');
    expect(fs.readdirSync(sub)).toEqual([]);
  });

  it('onto a path that is a folder → E_IO, and neither temp files nor a stray data file appear', () => {
    const sub = fs.mkdtempSync(path.join(dir, 'io-'));
    fs.mkdirSync(path.join(sub, 'm.onnx'));
    expect(codeOf(() => saveModel(small(), path.join(sub, 'm.onnx'), { externalDataThreshold: 16 }))).toBe('E_IO');
    expect(fs.readdirSync(sub)).toEqual(['m.onnx']);
    expect(fs.readdirSync(path.join(sub, 'm.onnx'))).toEqual([]);
  });

  it('into a read-only folder → E_IO, no temp files (skipped as root, who may write anyway)', () => {
    if (process.getuid?.() === 0) return;
    const sub = fs.mkdtempSync(path.join(dir, 'ro-'));
    fs.chmodSync(sub, 0o555);
    try {
      expect(codeOf(() => saveModel(small(), path.join(sub, 'm.onnx')))).toBe('E_IO');
      expect(fs.readdirSync(sub)).toEqual([]);
    } finally {
      fs.chmodSync(sub, 0o755);
    }
  });

  it('a model whose tensor data is inconsistent fails before anything is written', () => {
    const sub = fs.mkdtempSync(path.join(dir, 'io-'));
    const m = small();
    m.graph.initializers.get('w')!.constValue!.dims = [3, 3];
    expect(codeOf(() => saveModel(m, path.join(sub, 'm.onnx')))).toBe('E_TENSOR');
    expect(fs.readdirSync(sub)).toEqual([]);
  });
});

function model(g: Graph): Model {
  const b = new GraphBuilder();
  const m = b.model({ opset: 17 });
  m.graph = g;
  return m;
}

