// Gradient rules for Softmax and LogSoftmax, checked against central finite differences in
// float64 on seeded random shapes and axes.

import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import { differentiate } from '../../../src/passes/autodiff/index.js';
import { upgradeOpset } from '../../../src/passes/opset.js';
import { close, expectGrads, run, seededDraws } from './rule-checks.js';

const { int } = seededDraws(20240611);

describe('Softmax / LogSoftmax', () => {
  for (const op of ['Softmax', 'LogSoftmax']) {
    for (const opset of [13, 17]) {
      it(`${op} at opset ${opset}: every axis, positive and negative, ranks 1–4`, async () => {
        for (let k = 0; k < 4; k++) {
          const rank = k + 1;
          const dims = Array.from({ length: rank }, () => int(2, 4));
          const axis = int(-rank, rank - 1);
          await expectGrads({
            build: (b, dt) => b.op(op, [b.input('x', dt, dims)], { axis }),
            inputs: { x: { dims } },
            opset,
          });
        }
        // default axis (-1)
        await expectGrads({ build: (b, dt) => b.op(op, [b.input('x', dt, [3, 4])]), inputs: { x: { dims: [3, 4] } }, opset });
      });
    }
  }
});

describe('Softmax below opset 13', () => {
  it('an opset-11 Softmax over the last axis, raised to 13 first, has the opset-13 gradient', async () => {
    // (The pass does this raise itself; here upgradeOpset is called directly. Over another
    // axis the upgrade wraps the op in Flatten/Reshape, whose rules live in rules/layout.ts.)
    const grads = async (opset: number): Promise<number[]> => {
      const b = new GraphBuilder('t');
      const y = b.op('Softmax', [b.input('x', DataType.DOUBLE, [2, 3, 4])], { axis: 2 });
      b.output(b.op('ReduceSum', [b.op('Mul', [y, b.init('w', DataType.DOUBLE, [4], [1, -2, 3, 0.5])])], { keepdims: 0 }, { outputNames: ['loss'] }));
      const m = b.model({ opset });
      if (opset < 13) upgradeOpset(m, 13);
      differentiate(m, { wrt: ['x'], loss: 'loss' });
      const out = await run(m, { x: { dims: [2, 3, 4], data: Array.from({ length: 24 }, (_, i) => Math.sin(i)) } });
      return out['grad:x']!;
    };
    const old = await grads(11);
    close(old, await grads(13));
    expect(old.some((v) => Math.abs(v) > 1e-3)).toBe(true);
  });
});
