import { describe, expect, it } from 'vitest';
import { DataType } from '../../src/ir/dtype.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { Node, Value } from '../../src/ir/graph.js';
import { SplitcError } from '../../src/ir/errors.js';
import { assertValid, verifyModel } from '../../src/ir/verify.js';
import { constantOf } from '../../src/ir/constants.js';

function chain() {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, [4]);
  const a = b.op('Relu', [x], {}, { outputNames: ['a'] });
  const s = b.op('Sigmoid', [a], {}, { outputNames: ['s'] });
  const y = b.op('Add', [a, s], {}, { outputNames: ['y'] });
  b.output(y);
  return { b, x, a, s, y, model: b.model() };
}

describe('IR use-def chains', () => {
  it('tracks producers and uses as object references', () => {
    const { x, a, s, y } = chain();
    expect(a.producer()!.opType).toBe('Relu');
    expect(a.uses().map((u) => [u.node.opType, u.index])).toEqual([
      ['Sigmoid', 0],
      ['Add', 0],
    ]);
    expect(x.producer()).toBeNull();
    expect(y.isGraphOutput()).toBe(true);
    expect(s.consumers().map((n) => n.opType)).toEqual(['Add']);
  });

  it('describes a node by its name, or by its first present output', () => {
    expect(new Node('', 'Relu', [], [new Value('r')], { name: 'act' }).describe()).toBe("Relu 'act'");
    expect(new Node('', 'Relu', [], [new Value('r')]).describe()).toBe("Relu node producing 'r'");
    // An LSTM that omits Y (output 0) is known by Y_h.
    expect(new Node('', 'LSTM', [], [new Value(''), new Value('h')]).describe()).toBe("LSTM node producing 'h'");
  });

  it('replaceAllUsesWith rewires inputs and graph outputs', () => {
    const { model, a, s, y } = chain();
    const add = y.producer()!;
    s.replaceAllUsesWith(a);
    expect(add.inputs.map((v) => v?.name)).toEqual(['a', 'a']);
    expect(s.uses()).toHaveLength(0);
    assertValid(model);
  });

  it('refuses to remove a node whose output is used, leaving the graph untouched', () => {
    const { model, a } = chain();
    const before = model.graph.nodes.length;
    expect(() => model.graph.removeNode(a.producer()!)).toThrow(SplitcError);
    expect(model.graph.nodes.length).toBe(before);
    assertValid(model);
  });

  it('tolerates removal and insertion during iteration', () => {
    const { model, b, s, y } = chain();
    const g = model.graph;
    const seen: string[] = [];
    for (const n of g.nodes) {
      seen.push(n.opType);
      if (n.opType === 'Relu') {
        // remove Sigmoid (not yet visited) after rewiring its use
        const sig = s.producer()!;
        s.replaceAllUsesWith(sig.inputs[0]!);
        g.removeNode(sig);
        // and insert a new node after the current one: it must be visited
        const extra = new Node('', 'Identity', [n.outputs[0]!], [new Value('extra')]);
        g.nodes.insertAfter(n, extra);
      }
    }
    expect(seen).toEqual(['Relu', 'Identity', 'Add']);
    void b;
    void y;
    assertValid(model);
  });

  it('reports a use of a value before its producer as E_CYCLE', () => {
    const { model, a } = chain();
    const g = model.graph;
    const relu = a.producer()!;
    g.nodes.unlink(relu);
    g.nodes.append(relu);
    const issues = verifyModel(model);
    expect(issues.map((i) => i.code)).toContain('E_CYCLE');
  });

  it('reports a dangling input as E_UNDEFINED_INPUT and a duplicate name as E_VALUE_REDEFINED', () => {
    const { model, a } = chain();
    const ghost = new Value('ghost');
    a.producer()!.setInput(0, ghost);
    expect(verifyModel(model).map((i) => i.code)).toContain('E_UNDEFINED_INPUT');
    const m2 = chain().model;
    const nodes = m2.graph.nodes.toArray();
    nodes[1]!.outputs[0]!.name = 'a';
    expect(verifyModel(m2).map((i) => i.code)).toContain('E_VALUE_REDEFINED');
  });

  it('recognizes Constant-node outputs and initializers as known tensors', () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [2]);
    const c = b.constant('c', DataType.FLOAT, [2], [1, 2]);
    const w = b.init('w', DataType.FLOAT, [2], [3, 4]);
    b.output(b.op('Add', [b.op('Mul', [x, c]), w]));
    expect(constantOf(c)!.toNumbers()).toEqual([1, 2]);
    expect(constantOf(w)!.toNumbers()).toEqual([3, 4]);
    expect(constantOf(x)).toBeNull();
  });
});
