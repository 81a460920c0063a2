// What is constant: decided once in src/ir/constants.ts for every exporter's idiom.
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/ir/builder.js';
import { constantOf, constantPredicate, constantSource, constantValues, isConstant, isConstantNode } from '../../src/ir/constants.js';
import { DataType } from '../../src/ir/dtype.js';
import { Graph, Value, tensorType } from '../../src/ir/graph.js';
import { loadModel } from '../../src/ir/serde/io.js';
import { exporterFixtures } from '../helpers/fixtures.js';

function graph() {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, [1, 4]);
  const w = b.weight('w', [4, 4]);
  return { b, x, w };
}

describe('constantPredicate', () => {
  it('initializers and Constant nodes are constant; graph inputs are not', () => {
    const { b, x, w } = graph();
    const c = b.constant('c', DataType.FLOAT, [4], [1, 2, 3, 4]);
    expect(isConstant(w)).toBe(true);
    expect(isConstant(c)).toBe(true);
    expect(isConstant(x)).toBe(false);
  });

  it("PyTorch's Identity(initializer), chains of it, and Identity(Constant) are constant", () => {
    const { b, w } = graph();
    const shared = b.op('Identity', [w]);
    const twice = b.op('Identity', [shared]);
    const c = b.op('Identity', [b.constant('k', DataType.FLOAT, [4], [0, 0, 0, 0])]);
    expect([shared, twice, c].map((v) => isConstant(v))).toEqual([true, true, true]);
    expect(isConstantNode(shared.producer()!)).toBe(true);
    // constantOf sees through Identity to the tensor; constantSource names where it lives
    expect(constantOf(twice)).toBe(w.constValue);
    expect(constantSource(twice)).toBe(w);
  });

  it('TF-style folds of weights (Transpose, Cast, Reshape by a Constant shape, Mul of two constants) are constant', () => {
    const { b, x, w } = graph();
    const t = b.op('Transpose', [w], { perm: [1, 0] });
    const half = b.init('half', DataType.FLOAT16, [4], new Uint16Array([0x3c00, 0x3c00, 0x3c00, 0x3c00]));
    const cast = b.op('Cast', [half], { to: DataType.FLOAT });
    const r = b.op('Reshape', [w, b.constant('shape', DataType.INT64, [1], [16])]);
    const m = b.op('Mul', [cast, b.constant('two', DataType.FLOAT, [], [2])]);
    const y = b.op('MatMul', [x, t]);
    const isConst = constantPredicate();
    expect([t, cast, r, m].map(isConst)).toEqual([true, true, true, true]);
    expect(isConst(y)).toBe(false);
    expect(isConstantNode(y.producer()!, isConst)).toBe(false);
    expect(constantOf(t)).toBeNull(); // a fold is constant, but no tensor is known without evaluating it
  });

  it('anything that reads a graph input is not constant, however deep', () => {
    const { b, x, w } = graph();
    let v = b.op('MatMul', [x, w]);
    for (let i = 0; i < 5000; i++) v = b.op('Identity', [v]);
    expect(isConstant(v)).toBe(false); // iterative: no stack overflow on long chains
    const shapeOfX = b.op('Shape', [x]);
    expect(isConstant(shapeOfX)).toBe(false); // the shape of data is data (known only at run time in general)
  });

  it('an initializer that is also a graph input can be overridden: not constant, nor what reads only it', () => {
    const { b, w } = graph();
    b.graph.addInput(w);
    expect(isConstant(w)).toBe(false);
    expect(isConstant(b.op('Identity', [w]))).toBe(false);
    expect(constantOf(b.op('Identity', [w]))).toBeNull();
  });

  it('random ops, training-mode Dropout, ops of other domains and nodes with subgraphs are never constant', () => {
    const { b, w } = graph();
    const rand = b.op('RandomNormalLike', [w]);
    const ratio = b.init('ratio', DataType.FLOAT, [], [0.5]);
    const training = b.init('training', DataType.BOOL, [], [1]);
    const drop = b.op('Dropout', [w, ratio, training]);
    const dropInference = b.op('Dropout', [w]);
    const custom = b.op('MyOp', [w], {}, { domain: 'com.example' });
    const branch = new Graph('then');
    const inner = new Value('inner', tensorType(DataType.FLOAT, [4, 4]));
    branch.outputs.push(inner);
    const cond = b.init('cond', DataType.BOOL, [], [1]);
    const iff = b.op('If', [cond], { then_branch: branch, else_branch: branch });
    const isConst = constantPredicate();
    expect([rand, drop, custom, iff].map(isConst)).toEqual([false, false, false, false]);
    expect(isConst(dropInference)).toBe(true);
  });

  it('constantValues lists every constant of a graph, and agrees with the predicate', () => {
    const { b, x, w } = graph();
    const id = b.op('Identity', [w]);
    const y = b.op('MatMul', [x, id]);
    b.output(y);
    const set = constantValues(b.graph);
    expect(set.has(w)).toBe(true);
    expect(set.has(id)).toBe(true);
    expect(set.has(y)).toBe(false);
    expect(set.has(x)).toBe(false);
  });
});

describe('constants of real exporter idioms', () => {
  for (const f of exporterFixtures()) {
    it(`${f.file}: every Identity/Cast/Reshape/Transpose of weights is constant, every compute node is not`, () => {
      const m = loadModel(f.path);
      const isConst = constantPredicate();
      const folds = [...m.graph.nodes].filter((n) => n.opType !== 'Constant' && isConstantNode(n, isConst));
      const compute = [...m.graph.nodes].filter((n) => !isConstantNode(n, isConst));
      // each fixture has weight folds of its exporter's kind (see fixtures/exporters/manifest.json)
      if (!f.file.includes('tied')) expect(folds.length).toBeGreaterThan(0);
      for (const n of folds) expect(['Identity', 'Cast', 'Reshape', 'Transpose', 'Unsqueeze', 'Mul']).toContain(n.opType);
      // every compute node depends on the input
      for (const n of compute) expect(n.outputs.some((o) => !isConst(o))).toBe(true);
      expect(compute.some((n) => n.opType === 'Identity')).toBe(false);
    });
  }
});
