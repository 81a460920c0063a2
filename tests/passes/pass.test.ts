import { describe, expect, it } from 'vitest';
import { DataType } from '../../src/ir/dtype.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { SplitcError } from '../../src/ir/errors.js';
import { formatListOption, parseListOption, type Pass, PassManager, parsePipeline, passFailureOf, printPipeline } from '../../src/passes/pass.js';
import '../../src/passes/cut-pass.js';
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

describe('the inPlace contract', () => {
  const mutates = (inPlace: boolean): Pass => ({
    name: 'sneaky',
    options: {},
    inPlace,
    run(model) {
      model.graph.outputs.pop(); // changes the model it was given
      return { model: inPlace ? model : deserializeModel(modelToBytes(model)), modified: true };
    },
  });
  const copies: Pass = { name: 'copier', options: {}, inPlace: true, run: (model) => ({ model: deserializeModel(modelToBytes(model)), modified: false }) };

  const failure = (pm: PassManager, m = withConstants()): SplitcError => {
    try {
      pm.run(m);
    } catch (e) {
      return e as SplitcError;
    }
    throw new Error('the manager let a misbehaving pass through');
  };

  it('catches a pass that says it copies but changes its input, naming the pass', () => {
    const e = failure(new PassManager([mutates(false)], { checkInPlace: true }));
    expect(e.code).toBe('E_VERIFY');
    expect(e.message).toContain("'sneaky'");
    expect(passFailureOf(e)).toEqual({ pass: 'sneaky', pipeline: 'sneaky' });
  });

  it('catches a pass that says it works in place but returns another object', () => {
    const e = failure(new PassManager([copies], { checkInPlace: true }));
    expect(e.code).toBe('E_VERIFY');
    expect(e.message).toContain("'copier'");
  });

  it('lets honest passes through, and checks nothing unless asked', () => {
    expect(new PassManager([mutates(true)], { checkInPlace: true, verify: true }).run(withConstants()).modified).toBe(true);
    expect(() => new PassManager([mutates(false), copies]).run(withConstants())).not.toThrow();
  });
});

describe('failures carry the pipeline that replays them', () => {
  it("a pass's own error keeps its code and message and gains the pipeline text", () => {
    const text = 'hoist-constants,cut{at=nope}';
    let caught: unknown;
    try {
      new PassManager(parsePipeline(text), { verify: true }).run(withConstants());
    } catch (e) {
      caught = e;
    }
    expect((caught as SplitcError).code).toBe('E_CUT');
    expect((caught as SplitcError).message).not.toContain('pipeline');
    expect(passFailureOf(caught)).toEqual({ pass: 'cut', pipeline: text });
    // replaying the printed pipeline fails the same way
    expect(() => new PassManager(parsePipeline(passFailureOf(caught)!.pipeline)).run(withConstants())).toThrow(/nope/);
  });

  it('a verifier failure after a pass names the pass and gives the pipeline in the hint', () => {
    const breaks: Pass = {
      name: 'breaker',
      options: { why: 'a;b' },
      inPlace: true,
      run(model) {
        model.graph.outputs.push(model.graph.outputs[0]!.producer()!.inputs[0]!.producer()!.outputs[0]!);
        const n = [...model.graph.nodes][0]!;
        model.graph.removeNode(n, false); // its output stays used: an undefined input
        return { model, modified: true };
      },
    };
    const pm = new PassManager([breaks], { verify: true });
    try {
      pm.run(withConstants());
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(SplitcError);
      expect((e as SplitcError).message).toMatch(/^after pass 'breaker'/);
      expect((e as SplitcError).hint).toContain('breaker{why=a%3Bb}');
      expect(passFailureOf(e)?.pipeline).toBe('breaker{why=a%3Bb}');
    }
  });
});

describe('option values', () => {
  it('may hold the characters the pipeline syntax uses, and print back', () => {
    const names = ['a,b', 'c;d', 'e{f}', 'g+h', '50%', 'plain'];
    const text = printPipeline(parsePipeline(`cut{at=${formatListOption(names).replace(/[,;{}%]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}}`));
    const [p] = parsePipeline(text);
    expect(parseListOption(p!.options.at!)).toEqual(names);
    expect(printPipeline(parsePipeline(text))).toBe(text);
  });
});
