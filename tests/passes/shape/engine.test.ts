// The engine around the rules: unknown ops, declared vs inferred types, malformed
// nodes, control flow subgraphs, input overrides, re-runs, the pass and its options.

import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import { SplitcError } from '../../../src/ir/errors.js';
import { Graph, type Model, tensorType, Value } from '../../../src/ir/graph.js';
import { modelToBytes } from '../../../src/ir/serde/io.js';
import { deserializeModel } from '../../../src/ir/serde/read.js';
import { assertValid } from '../../../src/ir/verify.js';
import { PassContext, PassManager, parsePipeline, printPipeline } from '../../../src/passes/pass.js';
import { inferShapes, knownValueOf, parseShapeSpec } from '../../../src/passes/shape/index.js';
import { codes, expectOrtAgrees, infer, inferClean } from './helpers.js';

const F = DataType.FLOAT;
const I64 = DataType.INT64;
const B = DataType.BOOL;

function reload(m: Model): Model {
  return deserializeModel(modelToBytes(m));
}

function byName(m: Model, name: string): Value {
  for (const n of m.graph.nodes) for (const o of n.outputs) if (o.name === name) return o;
  throw new Error(`no value ${name}`);
}

describe('unknown operators', () => {
  it('keep the output type declared in value_info; one warning per op type', () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [1, 4]);
    const foo = b.op('Foo', [x], { mode: 3 }, { domain: 'com.example', outputNames: ['foo'] });
    const foo2 = b.op('Foo', [foo], {}, { domain: 'com.example', outputNames: ['foo2'] });
    b.output(b.op('Relu', [foo2], {}, { outputNames: ['y'] }));
    foo.type = tensorType(F, [1, 7]);
    foo2.type = tensorType(F, ['N', 7]);
    const m = reload(b.model({ extraOpsets: [['com.example', 1]] }));
    const ds = infer(m);
    expect(codes(ds)).toEqual(['W_UNKNOWN_OP']);
    expect(ds[0]!.message).toMatch(/com\.example::Foo \(2 nodes\)/);
    expect(byName(m, 'foo').shape).toEqual([1, 7]);
    expect(byName(m, 'y').shape).toEqual(['N', 7]);
    expect(byName(m, 'y').dtype).toBe(F);
  });

  it('without value_info their outputs are unknown, and so is everything downstream; no crash', () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [1, 4]);
    const bar = b.op('Bar', [x], {}, { domain: 'com.example' });
    const y = b.op('Conv', [bar, b.weight('w', [2, 4, 1])]);
    const z = b.op('Reshape', [y, b.init('s', I64, [2], [0, -1])]);
    const std = b.op('NoSuchStandardOp', [x]);
    for (const v of [z, std]) b.output(v);
    const m = b.model();
    const ds = infer(m);
    expect(codes(ds).sort()).toEqual(['W_UNKNOWN_OP', 'W_UNKNOWN_OP']);
    expect(bar.type).toBeNull();
    expect(y.shape).toEqual([null, 2, null]);
    expect(z.shape).toEqual([null, null]);
    expect(std.type).toBeNull();
  });

  it('calls of model-local functions are opaque', () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [3]);
    const y = b.op('Relu', [x], {}, { domain: 'local' });
    b.output(y);
    const m = b.model({ extraOpsets: [['local', 1]] });
    m.functions.push({
      domain: 'local',
      name: 'Relu',
      overload: '',
      attributeNames: [],
      attributeDefaults: [],
      opsetImports: new Map([['', 17]]),
      body: new Graph('body'),
      docString: '',
      extra: undefined,
    });
    expect(codes(infer(m))).toEqual(['W_UNKNOWN_OP']);
    expect(y.type).toBeNull();
  });
});

describe('declared types and contradictions', () => {
  it('fills unknown dims from value_info, warns on contradictions and keeps the inferred type', () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [null, 4]);
    const r = b.op('Relu', [x], {}, { outputNames: ['r'] });
    const s = b.op('Sigmoid', [r], {}, { outputNames: ['s'] });
    b.output(s);
    r.type = tensorType(F, [3, 4]);
    s.type = tensorType(F, [3, 5]);
    const m = reload(b.model());
    const ds = infer(m);
    expect(codes(ds)).toEqual(['W_SHAPE_MISMATCH']);
    expect(ds[0]!.message).toMatch(/'s' is inferred as float32\[3,4\] but the file declares float32\[3,5\]/);
    expect(byName(m, 'r').shape).toEqual([3, 4]);
    expect(byName(m, 's').shape).toEqual([3, 4]);
  });

  it('many contradictions (an overridden batch vs value_info) are reported as a sample plus a count', () => {
    const b = new GraphBuilder();
    let x = b.input('x', F, ['N', 4]);
    for (let i = 0; i < 80; i++) {
      x = b.op('Relu', [x], {}, { outputNames: [`r${i}`] });
      x.type = tensorType(F, [1, 4]);
    }
    b.output(x);
    const m = reload(b.model());
    const ds = infer(m, { x: [2, 4] });
    const mism = ds.filter((d) => d.code === 'W_SHAPE_MISMATCH');
    expect(mism.length).toBe(51);
    expect(mism[50]!.message).toBe('30 more W_SHAPE_MISMATCH warnings not shown');
    expect(byName(m, 'r79').shape).toEqual([2, 4]);
  });

  it('a symbolic reshape with the wrong element count is a conflict', () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, ['N', 3, 8, 8]);
    const n = b.op('Slice', [b.op('Shape', [x]), b.init('a', I64, [1], [0]), b.init('e', I64, [1], [1])]);
    const y = b.op('Reshape', [x, b.op('Concat', [n, b.init('t', I64, [2], [12, 4])], { axis: 0 })]);
    b.output(y);
    expect(codes(infer(b.model()))).toEqual(['W_SHAPE_CONFLICT']);
    expect(y.shape).toEqual(['N', 12, 4]);
  });
});

describe('malformed nodes never throw', () => {
  it('bad attributes give W_SHAPE_RULE_FAILED and unknown shapes', () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [1, 3, 8, 8]);
    const bad = [
      b.op('Conv', [x, b.weight('w', [4, 3, 3, 3])], { kernel_shape: [3] }),
      b.op('Conv', [x, b.weight('w2', [4, 3, 3, 3])], { strides: [0, 0] }),
      b.op('Transpose', [x], { perm: [0, 0, 1, 2] }),
      b.op('Reshape', [x, b.init('s', I64, [2], [-1, -1])]),
      b.op('Concat', [x, x], { axis: 9 }),
      b.op('Gather', [x, b.init('i', I64, [1], [0])], { axis: 'zero' }),
      b.op('Flatten', [x], { axis: 7 }),
      b.op('MaxPool', [x], {}),
      b.op('Einsum', [x], { equation: 'ab,bc->ac' }),
      b.op('Range', [b.init('r0', F, [], [0]), b.init('r1', F, [], [1]), b.init('r2', F, [], [0])]),
    ];
    const split = b.opMulti('Split', [x, b.init('sp', I64, [3], [1, 1, 1])], 2, { axis: 1 });
    for (const v of [...bad, ...split]) b.output(v);
    const ds = infer(b.model({ opset: 13 }));
    const failed = ds.filter((d) => d.code === 'W_SHAPE_RULE_FAILED');
    expect(failed.length).toBe(bad.length + 1 - 1); // Gather with a string axis falls back to the default axis 0
    expect(ds.every((d) => !/internal error/.test(d.message))).toBe(true);
    for (const v of bad) if (v.producer()!.opType !== 'Gather') expect(v.shape).toBeNull();
    expect(split.every((v) => v.shape === null)).toBe(true);
  });
});

describe('control flow', () => {
  function ifModel(condValue: boolean | null) {
    const b = new GraphBuilder();
    const x = b.input('x', F, [3, 4]);
    const cond = condValue === null ? b.input('c', B, []) : b.constant('c', B, [], [condValue ? 1 : 0]);
    const tb = new GraphBuilder('then');
    tb.output(tb.op('Reshape', [x, tb.constant('ts', I64, [2], [2, -1])], {}, { outputNames: ['t_out'] }));
    tb.output(tb.op('Relu', [x], {}, { outputNames: ['t_same'] }));
    const eb = new GraphBuilder('else');
    eb.output(eb.op('Sigmoid', [x], {}, { outputNames: ['e_out'] }));
    eb.output(eb.op('Neg', [x], {}, { outputNames: ['e_same'] }));
    const [a, s] = b.opMulti('If', [cond], 2, { then_branch: tb.graph, else_branch: eb.graph });
    b.output(a!);
    b.output(s!);
    return { m: b.model({ opset: 13 }), a: a!, s: s!, tb, eb };
  }

  it('If: both branches are inferred; outputs unify, or follow a known condition', async () => {
    const u = ifModel(null);
    inferClean(u.m);
    expect(u.tb.graph.outputs[0]!.shape).toEqual([2, 6]);
    expect(u.eb.graph.outputs[0]!.shape).toEqual([3, 4]);
    expect(u.a.shape).toEqual([null, null]);
    expect(u.a.dtype).toBe(F);
    expect(u.s.shape).toEqual([3, 4]);

    const t = ifModel(true);
    inferClean(t.m);
    expect(t.a.shape).toEqual([2, 6]);
    await expectOrtAgrees(t.m);
    const e = ifModel(false);
    inferClean(e.m);
    expect(e.a.shape).toEqual([3, 4]);
    await expectOrtAgrees(e.m);
  });

  it('Loop: body inputs typed from the node, carried shapes widen, scan outputs get the trip count', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [2, 3]);
    const body = new GraphBuilder('body');
    body.graph.addInput(new Value('i'));
    const condIn = body.graph.addInput(new Value('cond_in'));
    const vIn = body.graph.addInput(new Value('v_in'));
    const gIn = body.graph.addInput(new Value('g_in'));
    body.output(body.op('Identity', [condIn], {}, { outputNames: ['cond_out'] }));
    const vOut = body.op('Add', [vIn, x], {}, { outputNames: ['v_out'] });
    body.output(vOut);
    body.output(body.op('Concat', [gIn, gIn], { axis: 0 }, { outputNames: ['g_out'] }));
    body.output(body.op('Relu', [vOut], {}, { outputNames: ['scan_out'] }));
    const [vFinal, gFinal, scanned] = b.opMulti('Loop', [b.constant('M', I64, [], [3]), b.constant('c', B, [], [1]), x, x], 3, { body: body.graph });
    for (const v of [vFinal!, gFinal!, scanned!]) b.output(v);
    const m = b.model({ opset: 13 });
    inferClean(m);
    expect(body.graph.inputs.map((v) => v.shape)).toEqual([[], [], [2, 3], [null, 3]]);
    expect(body.graph.inputs[0]!.dtype).toBe(I64);
    expect(vFinal!.shape).toEqual([2, 3]);
    expect(gFinal!.shape).toEqual([null, 3]);
    expect(scanned!.shape).toEqual([3, 2, 3]);
    // onnxruntime: every other shape agrees; the widened one is 2·2³ = 16 rows after 3 trips
    gFinal!.type = tensorType(F, [16, 3]);
    await expectOrtAgrees(m);
  });

  it('Scan (opset 9+): slices lose the scan axis, outputs gain it at scan_output_axes', async () => {
    const b = new GraphBuilder();
    const init = b.input('init', F, [3]);
    const xs = b.input('xs', F, [5, 3]);
    const body = new GraphBuilder('body');
    const sIn = body.graph.addInput(new Value('s_in'));
    const xIn = body.graph.addInput(new Value('x_in'));
    const sOut = body.op('Add', [sIn, xIn], {}, { outputNames: ['s_out'] });
    body.output(sOut);
    body.output(body.op('Identity', [sOut], {}, { outputNames: ['y_out'] }));
    body.output(body.op('Unsqueeze', [sOut, body.constant('ax', I64, [1], [0])], {}, { outputNames: ['z_out'] }));
    const [final, ys, zs] = b.opMulti('Scan', [init, xs], 3, { body: body.graph, num_scan_inputs: 1, scan_output_axes: [0, -1] });
    for (const v of [final!, ys!, zs!]) b.output(v);
    const m = b.model({ opset: 16 });
    inferClean(m);
    expect(xIn.shape).toEqual([3]);
    expect(final!.shape).toEqual([3]);
    expect(ys!.shape).toEqual([5, 3]);
    expect(zs!.shape).toEqual([1, 3, 5]);
    await expectOrtAgrees(m);
  });
});

describe('input overrides, re-runs and errors', () => {
  function small() {
    const b = new GraphBuilder();
    const x = b.input('x', F, ['N', 3, 'H', 'W']);
    const y = b.op('Conv', [x, b.weight('w', [8, 3, 3, 3])], { pads: [1, 1, 1, 1], strides: [2, 2] }, { outputNames: ['y'] });
    const n = b.op('Slice', [b.op('Shape', [y]), b.init('a', I64, [1], [0]), b.init('e', I64, [1], [1])]);
    const target = b.op('Concat', [n, b.init('m1', I64, [1], [-1])], { axis: 0 });
    const f = b.op('Reshape', [y, target], {}, { outputNames: ['f'] });
    b.output(f);
    return { m: b.model(), x, y, f };
  }

  it('overrides input shapes, and a later run without them goes back to the declared ones', () => {
    const { m, x, y, f } = small();
    inferClean(m, { x: [2, 3, 32, 48] });
    expect(y.shape).toEqual([2, 8, 16, 24]);
    expect(f.shape).toEqual([2, 3072]);
    inferClean(m);
    expect(x.shape).toEqual(['N', 3, 'H', 'W']);
    expect(y.shape).toEqual(['N', 8, null, null]);
    expect(f.shape).toEqual(['N', null]);
    inferClean(m, { x: ['B', 3, 8, 8] });
    expect(f.shape).toEqual(['B', 128]);
    expect(knownValueOf(f.producer()!.inputs[1])!.data).toEqual(['B', -1]);
  });

  it('a type another pass sets on an input between runs becomes the declared one', () => {
    const { m, x, f } = small();
    inferClean(m, { x: [2, 3, 16, 16] });
    x.type = tensorType(F, [5, 3, 8, 8]);
    inferClean(m);
    expect(x.shape).toEqual([5, 3, 8, 8]);
    expect(f.shape).toEqual([5, 128]);
  });

  it('reports modified honestly', () => {
    const { m } = small();
    expect(inferShapes(m).modified).toBe(true);
    expect(inferShapes(m).modified).toBe(false);
    expect(inferShapes(m, { inputShapes: { x: [1, 3, 8, 8] } }).modified).toBe(true);
  });

  it('rejects overrides for inputs that do not exist or with invalid dims, before touching the model', () => {
    const { m, y } = small();
    const err = (() => {
      try {
        inferShapes(m, { inputShapes: { nope: [1] } });
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(SplitcError);
    expect((err as SplitcError).code).toBe('E_BAD_ARGUMENT');
    expect((err as SplitcError).hint).toMatch(/'x'/);
    expect(() => inferShapes(m, { inputShapes: { x: [1, -3, 8, 8] } })).toThrow(SplitcError);
    expect(y.type).toBeNull();
  });

  function overrideError(m: Model, inputShapes: Record<string, (number | string | null)[]>): SplitcError {
    try {
      inferShapes(m, { inputShapes });
    } catch (e) {
      expect(e).toBeInstanceOf(SplitcError);
      return e as SplitcError;
    }
    throw new Error('expected an error');
  }

  it('rejects an override of another rank, naming the input, both ranks and the declared dims, before touching the model', () => {
    const { m, y } = small();
    const e = overrideError(m, { x: [1, 3, 8] });
    expect(e.code).toBe('E_BAD_ARGUMENT');
    expect(e.message).toMatch(/'x'/);
    expect(e.message).toMatch(/\b3\b/);
    expect(e.message).toMatch(/\b4\b/);
    expect(e.message).toContain('[N,3,H,W]');
    // a well-formed spec of the right rank, with the model's fixed dims
    expect(e.hint).toMatch(/--shape x=\d+x3x\d+x\d+/);
    expect(parseShapeSpec(/--shape (\S+)/.exec(e.hint!)![1]!)[1]).toHaveLength(4);
    expect(y.type).toBeNull();
    expect(overrideError(m, { x: [1, 3, 8, 8, 1] }).code).toBe('E_BAD_ARGUMENT');
  });

  it('rejects an override contradicting a fixed dim of the model; symbolic and unknown model dims take anything', () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [1, 3, 48, null]);
    b.output(b.op('Relu', [x], {}, { outputNames: ['y'] }));
    const m = b.model();
    const e = overrideError(m, { x: [1, 3, 64, 192] });
    expect(e.code).toBe('E_BAD_ARGUMENT');
    expect(e.message).toMatch(/'x'/);
    expect(e.message).toContain('[1,3,48,?]');
    expect(e.hint).toContain('--shape x=1x3x48x192');
    expect(overrideError(m, { x: [2, 3, 48, 192] }).code).toBe('E_BAD_ARGUMENT');
    expect(x.type).toEqual(tensorType(F, [1, 3, 48, null])); // untouched
    inferClean(m, { x: [1, 3, 48, 192] });
    expect(x.shape).toEqual([1, 3, 48, 192]);
    inferClean(m, { x: ['B', 3, 48, 7] }); // a symbol where the model fixes a dim does not contradict it
    expect(x.shape).toEqual(['B', 3, 48, 7]);
    // the declared type is remembered across runs with overrides
    expect(overrideError(m, { x: [1, 3, 50, 7] }).code).toBe('E_BAD_ARGUMENT');
    // an input of unknown rank takes any override
    const b2 = new GraphBuilder();
    b2.output(b2.op('Relu', [b2.input('x', F, null)], {}, { outputNames: ['y'] }));
    const m2 = b2.model();
    inferClean(m2, { x: [2, 5] });
    expect(byName(m2, 'y').shape).toEqual([2, 5]);
  });


  it('the shape-infer pass and a re-run check overrides the same way', () => {
    const { m } = small();
    const pm = new PassManager(parsePipeline('shape-infer{shape=x:1x3x8}'));
    expect(() => pm.run(m)).toThrow(SplitcError);
    inferClean(m, { x: [2, 3, 16, 16] });
    expect(overrideError(m, { x: [2, 3, 16] }).code).toBe('E_BAD_ARGUMENT');
  });
});

describe('parseShapeSpec and the shape-infer pass', () => {
  it('parses sizes, symbols and unknowns', () => {
    expect(parseShapeSpec('x=1x3x48x192')).toEqual(['x', [1, 3, 48, 192]]);
    expect(parseShapeSpec('x=Nx3x224x224')).toEqual(['x', ['N', 3, 224, 224]]);
    expect(parseShapeSpec('input:0=batchx?x7')).toEqual(['input:0', ['batch', null, 7]]);
    expect(parseShapeSpec('a=b=5')).toEqual(['a=b', [5]]);
    expect(parseShapeSpec('x:1x2', ':')).toEqual(['x', [1, 2]]);
  });

  it('rejects bad syntax with E_BAD_ARGUMENT and a hint', () => {
    for (const bad of ['x', '=1x2', 'x=', 'x=1xax', 'x=1x-2', 'x=1.5', 'x=1xx2', 'x=99999999999999999999', 'x=N-1']) {
      let e: unknown = null;
      try {
        parseShapeSpec(bad);
      } catch (err) {
        e = err;
      }
      expect(e, bad).toBeInstanceOf(SplitcError);
      expect((e as SplitcError).code).toBe('E_BAD_ARGUMENT');
      expect((e as SplitcError).hint).toMatch(/x=1x3x224x224/);
    }
  });

  it('registers shape-infer with shape=name:dims+name:dims; options print back', () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, ['N', 2]);
    const y = b.input('y', F, ['N', 2]);
    const z = b.op('Add', [x, y]);
    b.output(z);
    const m = b.model();
    const text = 'shape-infer{shape=x:4x2+y:Mx2}';
    const passes = parsePipeline(text);
    expect(printPipeline(passes)).toBe(text);
    const ctx = new PassContext();
    const r = new PassManager(passes, { verify: true }).run(m, ctx);
    expect(r.modified).toBe(true);
    expect(z.shape).toEqual([4, 2]);
    expect(() => parsePipeline('shape-infer{shapes=x:1}')).toThrow(SplitcError);
    expect(() => parsePipeline('shape-infer{shape=x:1xq-}')).toThrow(SplitcError);
    assertValid(m);
  });
});

describe('scale', () => {
  it('infers a 10,000-node model, keeping the symbolic batch through every Reshape (time logged, not asserted)', () => {
    const build = (n: number) => {
      const b = new GraphBuilder();
      let x = b.input('x', F, ['N', 8, 16, 16]);
      const w = b.weight('w', [8, 8, 3, 3]);
      for (let i = 0; i < n; i += 5) {
        x = b.op('Conv', [x, w], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] });
        x = b.op('Relu', [x]);
        const n0 = b.op('Gather', [b.op('Shape', [x]), b.constant(`i${i}`, I64, [], [0])]);
        x = b.op('Reshape', [x, b.op('Concat', [b.op('Unsqueeze', [n0, b.constant(`a${i}`, I64, [1], [0])]), b.constant(`s${i}`, I64, [3], [8, 16, 16])], { axis: 0 })]);
      }
      b.output(x);
      return b.model();
    };
    const m = build(5_000); // 10 nodes per 5 steps: 10,000 nodes
    const t0 = performance.now();
    const r = inferShapes(m);
    const ms = performance.now() - t0;
    console.log(`shape inference of ${m.graph.nodes.length} nodes: ${ms.toFixed(1)} ms`);
    expect(r.coverage.values).toBe(m.graph.nodes.length);
    expect(m.graph.outputs[0]!.shape).toEqual(['N', 8, 16, 16]);
  });
});
