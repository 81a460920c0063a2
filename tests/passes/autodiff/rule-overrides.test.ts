// Rule tables changed for named nodes: a straight-through Floor/Round has exactly the gradient
// of the same graph with Identity in its place while the forward still rounds; an unnamed one
// keeps its zero gradient; a stop-gradient Identity cuts only the use it copies.

import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import type { Model } from '../../../src/ir/graph.js';
import { modelToBytes } from '../../../src/ir/serde/io.js';
import { assertValid } from '../../../src/ir/verify.js';
import { differentiate, type GradRuleTable, stopGradientRules, straightThroughRules } from '../../../src/passes/autodiff/index.js';
import { xorshift32 } from '../../helpers/onnx-oracle.js';

const DIMS = [2, 5];
const rnd = xorshift32(23);
const X = Float64Array.from({ length: 10 }, () => rnd() * 4 - 2);
const R = Array.from({ length: 10 }, () => rnd() * 2 - 1);

const W = [0.3, -0.2, 0.5, 0.1, 0.4];

/** y = f(w ⊙ round(3x + 0.25)), f = sin or the identity, loss = Σ y·R; `rounding` is 'Floor', 'Round' or 'Identity' (node 'q'). */
function model(rounding: string, f: 'Sin' | 'Identity' = 'Identity'): Model {
  const b = new GraphBuilder('ste');
  const x = b.input('x', DataType.DOUBLE, DIMS);
  const g = b.op('Add', [b.op('Mul', [x, b.init('k', DataType.DOUBLE, [], [3])]), b.init('c', DataType.DOUBLE, [], [0.25])]);
  const q = b.op(rounding, [g], {}, { name: 'q' });
  const y = b.op(f, [b.op('Mul', [q, b.init('w', DataType.DOUBLE, [5], W)])], {}, { outputNames: ['y'] });
  b.output(y, { dtype: DataType.DOUBLE, shape: DIMS });
  const loss = b.op('ReduceSum', [b.op('Mul', [y, b.init('R', DataType.DOUBLE, DIMS, R)])], { keepdims: 0 }, { outputNames: ['loss'] });
  b.output(loss, { dtype: DataType.DOUBLE, shape: [] });
  return b.model({ opset: 17 });
}

async function gradients(m: Model, rules?: GradRuleTable): Promise<{ y: number[]; gx: number[]; gw: number[] }> {
  differentiate(m, { wrt: ['x', 'w'], loss: 'loss', inputShapes: {}, ...(rules ? { rules } : {}) });
  assertValid(m);
  const s = await ort.InferenceSession.create(modelToBytes(m), { graphOptimizationLevel: 'disabled' });
  const out = await s.run({ x: new ort.Tensor('float64', X, DIMS) });
  await s.release();
  const arr = (n: string) => Array.from(out[n]!.data as Float64Array);
  return { y: arr('y'), gx: arr('grad:x'), gw: arr('grad:w') };
}

describe('straightThroughRules', () => {
  for (const op of ['Floor', 'Round'] as const) {
    it(`a named ${op} has exactly the gradient of Identity in its place, and still rounds forward`, async () => {
      const ste = await gradients(model(op), straightThroughRules(['q']));
      const identity = await gradients(model('Identity'));
      expect(ste.gx).toEqual(identity.gx); // exactly: the same ops after the rounding
      expect(ste.gx.some((g) => Math.abs(g) > 1e-3)).toBe(true);
      const round = op === 'Floor' ? Math.floor : (v: number) => (v - Math.floor(v) === 0.5 ? 2 * Math.round(v / 2) : Math.round(v));
      ste.y.forEach((y, i) => expect(y).toBe(round(3 * X[i]! + 0.25) * W[i % 5]!));
      expect(ste.y).not.toEqual(identity.y);
    });

    it(`a named ${op} under a non-linear f: dx = 3·f′(w·round(g))·w·R (the chain rule with round′ = 1)`, async () => {
      const ste = await gradients(model(op, 'Sin'), straightThroughRules(['q']));
      const round = op === 'Floor' ? Math.floor : Math.round;
      ste.gx.forEach((g, i) => expect(g).toBeCloseTo(3 * Math.cos(W[i % 5]! * round(3 * X[i]! + 0.25)) * W[i % 5]! * R[i]!, 12));
    });

    it(`an unnamed ${op} keeps a zero gradient`, async () => {
      const other = await gradients(model(op), straightThroughRules(['not-q']));
      expect(other.gx.every((g) => g === 0)).toBe(true);
      const plain = await gradients(model(op));
      expect(plain.gx.every((g) => g === 0)).toBe(true);
      expect(other.gw).toEqual(plain.gw);
    });
  }
});

describe('stopGradientRules', () => {
  it('a named Identity passes no gradient; the other uses of its input still do', async () => {
    // loss = Σ (2x − stop(x))²: d/dx = 4(2x − x) = 4x with the stop, 2(2x − x) without
    const build = () => {
      const b = new GraphBuilder('stop');
      const x = b.input('x', DataType.DOUBLE, DIMS);
      const t = b.op('Identity', [x], {}, { name: 'target.stop' });
      const d = b.op('Sub', [b.op('Mul', [x, b.init('two', DataType.DOUBLE, [], [2])]), t]);
      b.output(b.op('ReduceSum', [b.op('Mul', [d, d])], { keepdims: 0 }, { outputNames: ['loss'] }), { dtype: DataType.DOUBLE, shape: [] });
      return b.model({ opset: 17 });
    };
    const run = async (rules?: GradRuleTable) => {
      const m = build();
      differentiate(m, { wrt: ['x'], loss: 'loss', inputShapes: {}, ...(rules ? { rules } : {}) });
      const s = await ort.InferenceSession.create(modelToBytes(m));
      const out = await s.run({ x: new ort.Tensor('float64', X, DIMS) });
      await s.release();
      return Array.from(out['grad:x']!.data as Float64Array);
    };
    (await run(stopGradientRules(['target.stop']))).forEach((g, i) => expect(g).toBeCloseTo(4 * X[i]!, 12));
    (await run()).forEach((g, i) => expect(g).toBeCloseTo(2 * X[i]!, 12));
  });
});
