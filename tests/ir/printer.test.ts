import { describe, expect, it } from 'vitest';
import { DataType } from '../../src/ir/dtype.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { Graph, Value, tensorType } from '../../src/ir/graph.js';
import { printModel } from '../../src/ir/printer.js';
import { loadModel, modelToBytes } from '../../src/ir/serde/io.js';
import { deserializeModel } from '../../src/ir/serde/read.js';
import { inferShapes } from '../../src/passes/shape/index.js';
import { fixtures } from '../helpers/fixtures.js';
import { expectGolden } from '../helpers/golden.js';

function ifModel() {
  const b = new GraphBuilder('branchy');
  const x = b.input('x', DataType.FLOAT, ['N', 4]);
  const cond = b.input('cond', DataType.BOOL, []);
  const thenG = new Graph('then');
  const neg = new GraphBuilder('then');
  const t = neg.op('Neg', [x], {}, { outputNames: ['t'] });
  neg.output(t);
  const elseB = new GraphBuilder('else');
  const e = elseB.op('Relu', [x], {}, { outputNames: ['e'] });
  elseB.output(e);
  void thenG;
  const y = b.op('If', [cond], { then_branch: neg.graph, else_branch: elseB.graph }, { outputNames: ['y'] });
  b.output(y);
  const m = b.model({ opset: 13 });
  y.type = tensorType(DataType.FLOAT, ['N', 4]);
  return m;
}

describe('text printer', () => {
  it('prints a graph with subgraphs deterministically (golden)', () => {
    const m = ifModel();
    inferShapes(m);
    const text = printModel(m);
    expect(printModel(m)).toBe(text);
    expectGolden('printer/if-subgraph.txt', text);
    // the text survives a serialize/deserialize round trip
    expect(printModel(deserializeModel(modelToBytes(m)))).toBe(text);
  });

  it('prints the classifier fixture with inferred shapes (golden)', () => {
    const f = fixtures()[0]!;
    const m = loadModel(f.path);
    inferShapes(m, { inputShapes: f.inputShapes });
    expectGolden('printer/cls-fixture.txt', printModel(m));
  });

  it('marks unknown types with ?', () => {
    const v = new Value('v');
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, null);
    b.output(b.op('Custom', [x], {}, { domain: 'my.ops', outputNames: ['v'] }));
    void v;
    expect(printModel(b.model())).toContain('%v: ? = my.ops::Custom(%x)');
  });
});
