import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { NameScope, numberedNames } from '../../src/ir/names.js';

describe('NameScope', () => {
  it('gives the base, then base_1, base_2… while taken', () => {
    const s = new NameScope(['a', 'a_1']);
    expect([s.fresh('a'), s.fresh('a'), s.fresh('b'), s.fresh('b')]).toEqual(['a_2', 'a_3', 'b', 'b_1']);
    expect(s.claim('b')).toBe(false);
    expect(s.claim('c')).toBe(true);
    expect(s.has('c')).toBe(true);
  });

  it('takes the names of values, nodes and outputs of a graph (and of its subgraphs with ofGraphTree)', () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [2]);
    const body = new GraphBuilder('body');
    body.output(body.op('Identity', [x], {}, { name: 'inner', outputNames: ['y_inner'] }));
    b.output(b.op('If', [x], { then_branch: body.graph, else_branch: body.graph }, { name: 'if', outputNames: ['y'] }));
    const flat = NameScope.ofGraph(b.graph);
    expect(['x', 'y', 'if'].every((n) => flat.has(n))).toBe(true);
    expect(flat.has('y_inner')).toBe(false);
    const tree = NameScope.ofGraphTree(b.graph);
    expect(['x', 'y', 'if', 'y_inner', 'inner'].every((n) => tree.has(n))).toBe(true);
  });

  it('numberedNames counts across prefixes without looking at a graph', () => {
    const next = numberedNames();
    expect([next('relu'), next('Relu'), next('relu')]).toEqual(['relu_0', 'Relu_1', 'relu_2']);
  });
});
