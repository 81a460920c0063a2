// Gradient rules for BatchNormalization, LayerNormalization and MeanVarianceNormalization,
// checked against central finite differences (float64 where onnxruntime CPU runs the op in
// double, BatchNormalization and LayerNormalization included) and closed forms.

import { describe, expect, it } from 'vitest';
import { attr, GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import type { Value } from '../../../src/ir/graph.js';
import { assertValid } from '../../../src/ir/verify.js';
import { differentiate } from '../../../src/passes/autodiff/index.js';
import { xorshift32 } from '../../helpers/onnx-oracle.js';
import { close, count, expectGrads, run, seededDraws, sumLossModel, thrown } from './rule-checks.js';

const { rnd, positive } = seededDraws(20240611);

describe('BatchNormalization', () => {
  const bnInputs = (dims: number[]) => {
    const C = dims[1]!;
    return { x: { dims }, scale: { dims: [C] }, bias: { dims: [C] }, mean: { dims: [C] }, var: { dims: [C], data: positive(C) } };
  };
  const bnBuild = (dims: number[], attrs: Record<string, ReturnType<typeof attr.float> | number>) => (b: GraphBuilder, dt: DataType) => {
    const C = dims[1]!;
    const ins = [b.input('x', dt, dims), b.input('scale', dt, [C]), b.input('bias', dt, [C]), b.input('mean', dt, [C]), b.input('var', dt, [C])];
    return attrs.training_mode ? b.opMulti('BatchNormalization', ins, 3, attrs)[0]! : b.op('BatchNormalization', ins, attrs);
  };

  for (const opset of [13, 15]) {
    it(`inference mode at opset ${opset}, w.r.t. X, scale, B, input_mean and input_var, ranks 2–5`, async () => {
      for (const dims of [[3, 2], [2, 3, 4], [2, 2, 3, 2], [1, 2, 2, 2, 2]]) {
        await expectGrads({
          build: bnBuild(dims, { epsilon: attr.float('epsilon', 0.01) }),
          inputs: bnInputs(dims),
          opset,
        });
      }
    });
  }

  for (const opset of [14, 15]) {
    it(`training mode (opset ${opset}): w.r.t. X, scale and B with the batch statistics, ranks 2–4`, async () => {
      for (const dims of [[4, 3], [3, 2, 4], [2, 3, 2, 2]]) {
        await expectGrads({
          build: bnBuild(dims, { training_mode: 1, epsilon: attr.float('epsilon', 0.01), momentum: attr.float('momentum', 0.8) }),
          inputs: bnInputs(dims),
          wrt: ['x', 'scale', 'bias'],
          opset,
        });
      }
    });
  }

  it('training mode in float32 (the ResNet case), gradCheck float32 tolerances', async () => {
    // float32: the type models are trained in; a step of 1e-2 and atol 1e-2 / rtol 2e-2 cover
    // float32 rounding of the loss (~1e-7 relative, divided by 2h) and the O(h²) truncation.
    const dims = [4, 3, 3, 3];
    await expectGrads({
      build: bnBuild(dims, { training_mode: 1 }),
      inputs: bnInputs(dims),
      wrt: ['x', 'scale', 'bias'],
      dtype: 'float32',
      opset: 15,
    });
  });

  it('training mode: the running statistics outputs are unchanged by the gradient graph, input_mean/var get zeros', async () => {
    const dims = [3, 2, 2, 2];
    const C = 2;
    const momentum = 0.75;
    const b = new GraphBuilder('t');
    const ins = [b.input('x', DataType.DOUBLE, dims), b.input('scale', DataType.DOUBLE, [C]), b.input('bias', DataType.DOUBLE, [C]), b.input('mean', DataType.DOUBLE, [C]), b.input('var', DataType.DOUBLE, [C])];
    const [y, runMean, runVar] = b.opMulti('BatchNormalization', ins, 3, { training_mode: 1, momentum: attr.float('momentum', momentum) }, { outputNames: ['y', 'running_mean', 'running_var'] });
    b.output(runMean!);
    b.output(runVar!);
    b.output(b.op('ReduceSum', [b.op('Mul', [y!, y!])], { keepdims: 0 }, { outputNames: ['loss'] }));
    const m = b.model({ opset: 15 });
    const feeds = {
      x: { dims, data: Array.from({ length: count(dims) }, () => rnd() * 4 - 2) },
      scale: { dims: [C], data: [0.5, 1.5] },
      bias: { dims: [C], data: [0.1, -0.2] },
      mean: { dims: [C], data: [0.3, -0.4] },
      var: { dims: [C], data: [1.2, 0.7] },
    };
    const before = await run(m, feeds);
    differentiate(m, { wrt: ['x', 'scale', 'bias', 'mean', 'var'], loss: 'loss' });
    assertValid(m);
    const after = await run(m, feeds);
    close(after['running_mean']!, before['running_mean']!, 0);
    close(after['running_var']!, before['running_var']!, 0);
    // And they are the documented update with the population variance.
    for (let ch = 0; ch < C; ch++) {
      const xs = feeds.x.data.filter((_, i) => Math.floor(i / 4) % C === ch);
      const mu = xs.reduce((a, v) => a + v, 0) / xs.length;
      const v = xs.reduce((a, x) => a + (x - mu) ** 2, 0) / xs.length;
      close([after['running_mean']![ch]!], [feeds.mean.data[ch]! * momentum + mu * (1 - momentum)]);
      close([after['running_var']![ch]!], [feeds.var.data[ch]! * momentum + v * (1 - momentum)]);
    }
    close(after['grad:mean']!, [0, 0]);
    close(after['grad:var']!, [0, 0]);
    // Σ dX = 0 per channel for a batch-normalized input (the mean is subtracted).
    for (let ch = 0; ch < C; ch++) {
      const s = after['grad:x']!.filter((_, i) => Math.floor(i / 4) % C === ch).reduce((a, v) => a + v, 0);
      expect(Math.abs(s)).toBeLessThan(1e-9);
    }
  });

  it('training mode with a dynamic batch dim matches the static-shape gradient', async () => {
    const dims = [3, 2, 2];
    const feeds = {
      x: { dims, data: Array.from({ length: 12 }, () => rnd() * 2 - 1) },
      scale: { dims: [2], data: [0.5, 1.5] },
      bias: { dims: [2], data: [0.1, -0.2] },
      mean: { dims: [2], data: [0, 0] },
      var: { dims: [2], data: [1, 1] },
    };
    const grads = async (xDims: (number | string)[]): Promise<Record<string, number[]>> => {
      const m = sumLossModel((b) => {
        const ins = [b.input('x', DataType.DOUBLE, xDims), ...['scale', 'bias', 'mean', 'var'].map((n) => b.input(n, DataType.DOUBLE, [2]))];
        const y = b.opMulti('BatchNormalization', ins, 3, { training_mode: 1 })[0]!;
        return b.op('Mul', [y, b.init('w', DataType.DOUBLE, [2, 1], [1, -2])]);
      }, ['x', 'scale'], 15);
      return run(m, feeds);
    };
    const fixed = await grads(dims);
    const dynamic = await grads(['n', 2, 'w']);
    close(dynamic['grad:x']!, fixed['grad:x']!);
    close(dynamic['grad:scale']!, fixed['grad:scale']!);
  });

  it('a loss on the running statistics is an E_AUTODIFF error', () => {
    const b = new GraphBuilder('t');
    const ins = [b.input('x', DataType.DOUBLE, [2, 2]), ...['scale', 'bias', 'mean', 'var'].map((n) => b.input(n, DataType.DOUBLE, [2]))];
    const [, runMean] = b.opMulti('BatchNormalization', ins, 3, { training_mode: 1 });
    b.output(b.op('ReduceSum', [runMean!], { keepdims: 0 }, { outputNames: ['loss'] }));
    expect(() => differentiate(b.model({ opset: 15 }), { wrt: ['x'], loss: 'loss' })).toThrow(/running statistics/);
  });
});

describe('LayerNormalization', () => {
  const cases: [number[], number, number[]][] = [
    // X dims, axis, Scale/B dims
    [[3, 4], -1, [4]],
    [[2, 3, 4], -1, [4]],
    [[2, 3, 4], 1, [3, 4]],
    [[2, 3, 4], -2, [3, 4]],
    [[2, 3, 4], 0, [2, 3, 4]],
    [[2, 2, 3, 2], 2, [3, 2]],
    [[2, 3, 4], 1, [4]], // Scale/B broadcast over the normalized shape
    [[2, 3, 4], 1, [1, 4]],
  ];
  for (const [dims, axis, sDims] of cases) {
    it(`X ${JSON.stringify(dims)}, axis ${axis}, Scale/B ${JSON.stringify(sDims)}`, async () => {
      await expectGrads({
        build: (b, dt) => b.op('LayerNormalization', [b.input('x', dt, dims), b.input('scale', dt, sDims), b.input('bias', dt, sDims)], { axis, epsilon: attr.float('epsilon', 0.01) }),
        inputs: { x: { dims }, scale: { dims: sDims }, bias: { dims: sDims } },
      });
    });
  }

  it('in float32 (gradCheck float32 tolerances: step 1e-2, atol 1e-2, rtol 2e-2)', async () => {
    await expectGrads({
      build: (b, dt) => b.op('LayerNormalization', [b.input('x', dt, [2, 3, 8]), b.input('scale', dt, [8]), b.input('bias', dt, [8])]),
      inputs: { x: { dims: [2, 3, 8] }, scale: { dims: [8] }, bias: { dims: [8] } },
      dtype: 'float32',
    });
  });

  // The Mean and InvStdDev outputs in the loss as well as Y, or alone. They are float32 (the
  // stash type; onnxruntime has no double one), so the check runs in float32: under float64
  // differences their rounding would be noise.
  for (const [uses, axis] of [['Y, Mean and InvStdDev', 1], ['Mean', -1], ['InvStdDev', 2]] as const) {
    it(`a loss on ${uses} (axis ${axis})`, async () => {
      await expectGrads({
        build: (b, dt) => {
          const [y, mean, invstd] = b.opMulti('LayerNormalization', [b.input('x', dt, [2, 3, 4]), b.input('scale', dt, [...[2, 3, 4].slice(axis < 0 ? 3 + axis : axis)])], 3, { axis, epsilon: attr.float('epsilon', 0.05) });
          const stat = (v: Value, k: number) => b.op('Mul', [b.op('Cast', [v], { to: dt }), b.init(`k${k}`, dt, [], [k])]);
          if (uses === 'Mean') return stat(mean!, 1);
          if (uses === 'InvStdDev') return stat(invstd!, 1);
          return b.op('Add', [y!, b.op('Add', [stat(mean!, 0.7), stat(invstd!, -0.3)])]);
        },
        inputs: { x: { dims: [2, 3, 4] }, scale: { dims: [...[2, 3, 4].slice(axis < 0 ? 3 + axis : axis)] } },
        wrt: ['x'],
        dtype: 'float32',
      });
    });
  }

  it('without B, at opset 18', async () => {
    await expectGrads({
      build: (b, dt) => b.op('LayerNormalization', [b.input('x', dt, [3, 5]), b.input('scale', dt, [5])]),
      inputs: { x: { dims: [3, 5] }, scale: { dims: [5] } },
      opset: 18,
    });
  });
});


describe('MeanVarianceNormalization (float32)', () => {
  // Its own generator, so the cases above keep their random draws.
  const rnd = xorshift32(1789);
  const int = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
  const F = { dtype: 'float32' as const, h: 2e-3, atol: 2e-3, rtol: 2e-3, directions: 4 };
  it('default axes [0, 2, 3] on a random 4-D input, at opsets 13 and 9 (raised to 13)', async () => {
    for (const opset of [13, 9]) {
      const dims = [int(1, 3), int(1, 3), int(2, 3), int(1, 3)];
      await expectGrads({ ...F, build: (b, dt) => b.op('MeanVarianceNormalization', [b.input('x', dt, dims)]), inputs: { x: { dims } }, opset });
    }
  });

  for (let k = 0; k < 4; k++) {
    const rank = int(2, 4);
    const dims = Array.from({ length: rank }, () => int(2, 4));
    // A random non-empty subset of the axes, each negative half the time.
    const axes = Array.from({ length: rank }, (_, a) => a).filter(() => rnd() < 0.6);
    if (axes.length === 0) axes.push(int(0, rank - 1));
    const given = axes.map((a) => (rnd() < 0.5 ? a - rank : a));
    it(`x [${dims}], axes [${given}]`, async () => {
      await expectGrads({ ...F, build: (b, dt) => b.op('MeanVarianceNormalization', [b.input('x', dt, dims)], { axes: given }), inputs: { x: { dims } } });
    });
  }

  it('the default axes on a 3-D input are an E_AUTODIFF error', () => {
    const b = new GraphBuilder('t');
    const y = b.op('MeanVarianceNormalization', [b.input('x', DataType.FLOAT, [2, 3, 4])]);
    b.output(b.op('ReduceSum', [y], { keepdims: 0 }, { outputNames: ['loss'] }));
    const err = thrown(() => differentiate(b.model({ opset: 13 }), { wrt: ['x'], loss: 'loss' }));
    expect(err.code).toBe('E_AUTODIFF');
    expect(err.message).toMatch(/axis 3 is out of range for rank 3/);
  });
});
