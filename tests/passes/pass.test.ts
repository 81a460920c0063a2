import { describe, expect, it } from 'vitest';
import { DataType } from '../../src/ir/dtype.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { SplitcError } from '../../src/ir/errors.js';
import { PassManager, parsePipeline, printPipeline } from '../../src/passes/pass.js';
import { hoistConstants } from '../../src/passes/hoist-constants.js';
import '../../src/passes/cost.js';
import '../../src/passes/shape/index.js';
import { constantOf } from '../../src/ir/constants.js';
import { modelToBytes } from '../../src/ir/serde/io.js';
import { deserializeModel } from '../../src/ir/serde/read.js';
import { printModel } from '../../src/ir/printer.js';

function withConstants() {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, [1, 2]);
  const w = b.constant('w', DataType.FLOAT, [2, 2], [1, 2, 3, 4]);
  const bias = b.constant('bias', DataType.FLOAT, [2], [0.5, -0.5]);
  const y = b.op('Add', [b.op('MatMul', [x, w]), bias], {}, { outputNames: ['y'] });
  b.output(y);
  b.output(bias); // a constant that is also a graph output
  return b.model();
}

describe('pass pipelines', () => {
  it('parse and print back', () => {
    const text = 'hoist-constants,shape-infer{shape=x:1x3x48x192},cost';
    expect(printPipeline(parsePipeline(text))).toBe(text);
  });

  it('reject unknown passes with a coded error', () => {
    expect(() => parsePipeline('hoist-constants,frob')).toThrow(SplitcError);
    try {
      parsePipeline('frob');
    } catch (e) {
      expect((e as SplitcError).code).toBe('E_BAD_ARGUMENT');
    }
  });

  it('run with verification after every pass and stop at a fixed point', () => {
    const m = withConstants();
    const pm = new PassManager(parsePipeline('hoist-constants'), { verify: true, fixedPointRounds: 5 });
    const r = pm.run(m);
    expect(r.modified).toBe(true);
    expect(pm.run(m).modified).toBe(false);
  });
});

describe('hoist-constants', () => {
  it('turns Constant nodes into initializers without changing meaning', () => {
    const m = withConstants();
    const before = printModel(m);
    const r = hoistConstants(m);
    expect(r.modified).toBe(true);
    expect([...m.graph.nodes].map((n) => n.opType)).toEqual(['MatMul', 'Add']);
    expect([...m.graph.initializers.keys()]).toEqual(['w', 'bias']);
    expect(constantOf(m.graph.initializers.get('w'))!.toNumbers()).toEqual([1, 2, 3, 4]);
    expect(m.graph.outputs.map((v) => v.name)).toEqual(['y', 'bias']);
    expect(printModel(m)).not.toBe(before);
    // serializes and reads back to the same text
    const back = deserializeModel(modelToBytes(m));
    expect(printModel(back)).toBe(printModel(m));
  });
});
