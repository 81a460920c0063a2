import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { Emitter } from '../../src/passes/emit.js';

function model(opset: number, irVersion: number) {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, [2, 3]);
  b.output(b.op('Relu', [x], {}, { name: 'relu', outputNames: ['y'] }));
  return { m: b.model({ opset, irVersion }), x };
}

describe('Emitter', () => {
  it('makes constants initializers from IR 4, Constant nodes before', () => {
    const a = model(17, 8);
    const ea = Emitter.forModel(a.m);
    const c = ea.ints([1, 2]);
    expect(c.isInitializer()).toBe(true);
    expect(ea.ints([1, 2])).toBe(c); // shared by content
    const b = model(9, 3);
    const v = Emitter.forModel(b.m).scalar(1, DataType.FLOAT);
    expect(v.isInitializer()).toBe(false);
    expect(v.producer()?.opType).toBe('Constant');
    expect(b.m.graph.nodes.first()).toBe(v.producer()); // appended ops may use it anywhere
  });

  it('writes each op in the form of the opset', () => {
    for (const [opset, axesAsInput] of [
      [11, false],
      [13, true],
    ] as const) {
      const { m, x } = model(opset, 7);
      const u = Emitter.forModel(m, { scope: 's' }).unsqueeze(x, [0]);
      expect(u.producer()!.inputs.length).toBe(axesAsInput ? 2 : 1);
      expect(u.producer()!.attr('axes') === undefined).toBe(axesAsInput);
    }
    const { m, x } = model(9, 4);
    const em = Emitter.forModel(m, { naming: 'output' });
    const s = em.slice(x, [0], [1], [1], undefined, { name: 'cut', dtype: DataType.FLOAT, shape: [2, 1] });
    expect(s.producer()!.attrInts('starts')).toEqual([0]);
    const { m: m11, x: x11 } = model(11, 7);
    const s11 = Emitter.forModel(m11, { naming: 'output' }).slice(x11, [0], [1], [1], undefined, { name: 'cut', dtype: DataType.FLOAT, shape: [2, 1] });
    expect(s11.producer()!.inputs.map((v) => v?.name)).toEqual(['x', 'cut.starts', 'cut.ends', 'cut.axes']);
    expect(s11.producer()!.name).toBe('cut/Slice');
  });

  it('names by scope, or by output; anchored emits keep their order', () => {
    const { m, x } = model(17, 8);
    const em = Emitter.forModel(m, { scope: 'grad' });
    const y = em.op('Neg', [x]);
    expect([y.name, y.producer()!.name]).toEqual(['grad/Neg_out0', 'grad/Neg']);
    const front = Emitter.forModel(m, { at: 'start', naming: 'output' });
    const a = front.op('Abs', [x], {}, { name: 'a', dtype: DataType.FLOAT, shape: [2, 3] });
    const b = front.op('Neg', [a], {}, { name: 'a', dtype: DataType.FLOAT, shape: [2, 3] });
    expect([a.name, b.name, b.producer()!.name]).toEqual(['a', 'a_1', 'a/Neg']);
    expect([...m.graph.nodes].slice(0, 2)).toEqual([a.producer(), b.producer()]);
  });
});
