// Gradient rules for the reductions and CumSum, checked against central finite differences
// in float64 (onnxruntime CPU runs them in double, ReduceProd and CumSum included), on seeded
// random shapes, axes and attribute combinations.

import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import { differentiate } from '../../../src/passes/autodiff/index.js';
import { close, count, expectGrads, run, seededDraws, sumLossModel, thrown } from './rule-checks.js';

const { rnd, int, positive } = seededDraws(20240611);

/** A random reduction: rank 1–4, a random subset of axes (some negative), keepdims 0/1. */
function randomReduction(): { dims: number[]; axes: number[]; keepdims: number } {
  const rank = int(1, 4);
  const dims = Array.from({ length: rank }, () => int(1, 4));
  const axes = dims.map((_, i) => i).filter(() => rnd() < 0.5).map((a) => (rnd() < 0.5 ? a - rank : a));
  if (axes.length === 0) axes.push(int(-rank, rank - 1));
  return { dims, axes, keepdims: int(0, 1) };
}

describe('Reduce*', () => {
  // Ops, with the data they need (LogSum wants a positive sum).
  const ops: [string, boolean][] = [
    ['ReduceSum', false],
    ['ReduceMean', false],
    ['ReduceMax', false],
    ['ReduceMin', false],
    ['ReduceSumSquare', false],
    ['ReduceL2', false],
    ['ReduceL1', false],
    ['ReduceLogSum', true],
    ['ReduceLogSumExp', false],
  ];


  for (const [op, needsPositive] of ops) {
    for (const opset of [13, 18]) {
      // ReduceSum takes axes as an input from 13, the others from 18.
      const axesAsInput = op === 'ReduceSum' ? opset >= 13 : opset >= 18;
      it(`${op} at opset ${opset}: random axes (negative too), keepdims 0/1, all axes`, async () => {
        const cases = [randomReduction(), randomReduction(), randomReduction(), { dims: [2, 3], axes: [] as number[], keepdims: 0 }, { dims: [3, 2, 2], axes: [] as number[], keepdims: 1 }];
        for (const { dims, axes, keepdims } of cases) {
          await expectGrads({
            build(b, dt) {
              const x = b.input('x', dt, dims);
              if (axes.length === 0) return b.op(op, [x], { keepdims });
              if (axesAsInput) return b.op(op, [x, b.init('axes', DataType.INT64, [axes.length], axes)], { keepdims });
              return b.op(op, [x], { axes, keepdims });
            },
            inputs: { x: { dims, ...(needsPositive ? { data: positive(count(dims)) } : {}) } },
            opset,
          });
        }
      });
    }
    it(`${op} with noop_with_empty_axes=1 (opset 18) reduces nothing`, async () => {
      const dims = [2, 3];
      await expectGrads({
        build: (b, dt) => b.op(op, [b.input('x', dt, dims)], { keepdims: 0, noop_with_empty_axes: 1 }),
        inputs: { x: { dims, ...(needsPositive ? { data: positive(count(dims)) } : {}) } },
        opset: 18,
      });
    });
  }

  it('ReduceMax/ReduceMin share the gradient equally among tied extrema', async () => {
    // Rows [1, 3, 3] and [2, 2, 0]: the max ties twice in each row, the min once / once.
    const x = [1, 3, 3, 2, 2, 0];
    for (const [op, expected] of [
      ['ReduceMax', [0, 0.5, 0.5, 0.5, 0.5, 0]],
      ['ReduceMin', [1, 0, 0, 0, 0, 1]],
    ] as const) {
      const m = sumLossModel((b) => b.op(op, [b.input('x', DataType.DOUBLE, [2, 3])], { axes: [1], keepdims: 0 }), ['x'], 17);
      const out = await run(m, { x: { dims: [2, 3], data: x } });
      close(out['grad:x']!, [...expected]);
    }
  });

  it('ReduceL2 of an all-zero slice has gradient 0, not NaN', async () => {
    const m = sumLossModel((b) => b.op('ReduceL2', [b.input('x', DataType.DOUBLE, [2, 2])], { axes: [1], keepdims: 1 }), ['x'], 17);
    const out = await run(m, { x: { dims: [2, 2], data: [0, 0, 3, 4] } });
    close(out['grad:x']!, [0, 0, 0.6, 0.8]);
  });

  it('ReduceMean with a dynamic dim counts the reduced elements at run time', async () => {
    const m = sumLossModel((b) => b.op('ReduceMean', [b.input('x', DataType.DOUBLE, ['n', 3])], { axes: [0], keepdims: 0 }), ['x'], 17);
    const out = await run(m, { x: { dims: [4, 3], data: Array.from({ length: 12 }, (_, i) => i) } });
    close(out['grad:x']!, new Array(12).fill(0.25));
  });

  // Axes fed at run time (as the ONNX backend tests feed them): ReduceSum and ReduceMean
  // Unsqueeze dy at those axes and broadcast; empty axes reduce everything, or nothing with
  // noop_with_empty_axes.
  const runtimeAxes: [string, number[], number[], number, number][] = [
    // op, dims, axes, keepdims, noop_with_empty_axes
    ['ReduceSum', [2, 3, 4], [1], 0, 0],
    ['ReduceSum', [2, 3, 4], [-1, 0], 1, 0],
    ['ReduceSum', [3, 4], [], 0, 0],
    ['ReduceSum', [3, 4], [], 1, 1],
    ['ReduceMean', [2, 3, 4], [2, -3], 0, 0],
    ['ReduceMean', [4, 3], [0], 1, 0],
    ['ReduceMean', [3, 2], [], 0, 0],
  ];
  for (const [op, dims, axes, keepdims, noop] of runtimeAxes) {
    it(`${op} with axes [${axes}] fed at run time, keepdims ${keepdims}, noop_with_empty_axes ${noop}`, async () => {
      await expectGrads({
        build: (b, dt) => b.op(op, [b.input('x', dt, dims), b.input('axes', DataType.INT64, [axes.length])], { keepdims, noop_with_empty_axes: noop }),
        inputs: { x: { dims }, axes: { dims: [axes.length], type: 'int64', data: axes } },
        wrt: ['x'],
        opset: 18,
      });
    });
  }

  it('ReduceMax with axes fed at run time is an E_AUTODIFF error', () => {
    const b = new GraphBuilder('t');
    const x = b.input('x', DataType.DOUBLE, [2, 3]);
    const axes = b.input('axes', DataType.INT64, [1]);
    b.output(b.op('ReduceMax', [x, axes], { keepdims: 0 }, { outputNames: ['loss0'] }));
    const y = b.op('ReduceSum', [b.graph.outputs[0]!], { keepdims: 0 }, { outputNames: ['loss'] });
    b.output(y);
    const m = b.model({ opset: 18 });
    expect(() => differentiate(m, { wrt: ['x'], loss: 'loss', inputShapes: { axes: [1] } })).toThrow(/axes are not a constant/);
  });
});


describe('ReduceProd', () => {
  // Values away from 0 and of magnitude ~1, so products of up to 64 elements stay O(1).
  const data = (dims: number[]): number[] => Array.from({ length: count(dims) }, () => (rnd() < 0.5 ? -1 : 1) * (0.7 + 0.6 * rnd()));

  for (const opset of [13, 18]) {
    it(`opset ${opset} (axes ${opset >= 18 ? 'input' : 'attribute'}): random axes (negative too), keepdims 0/1, all axes`, async () => {
      const cases = [randomReduction(), randomReduction(), randomReduction(), randomReduction(), { dims: [2, 3], axes: [] as number[], keepdims: 0 }, { dims: [3, 2, 2], axes: [] as number[], keepdims: 1 }];
      for (const { dims, axes, keepdims } of cases) {
        await expectGrads({
          build(b, dt) {
            const x = b.input('x', dt, dims);
            if (axes.length === 0) return b.op('ReduceProd', [x], { keepdims });
            if (opset >= 18) return b.op('ReduceProd', [x, b.init('axes', DataType.INT64, [axes.length], axes)], { keepdims });
            return b.op('ReduceProd', [x], { axes, keepdims });
          },
          inputs: { x: { dims, data: data(dims) } },
          opset,
        });
      }
    });
  }

  it('noop_with_empty_axes=1 (opset 18) reduces nothing', async () => {
    await expectGrads({
      build: (b, dt) => b.op('ReduceProd', [b.input('x', dt, [2, 3])], { keepdims: 0, noop_with_empty_axes: 1 }),
      inputs: { x: { dims: [2, 3] } },
      opset: 18,
    });
  });

  it('is exact with zeros: one zero in a slice gets the product of the others, two zeros give 0', async () => {
    // Rows: no zero, one zero, two zeros, all zeros.
    const x = [1.5, -2, 3, 2, 0, 3, 0, 4, 0, 0, 0, 0];
    const expected = [-6, 4.5, -3, 0, 6, 0, 0, 0, 0, 0, 0, 0];
    for (const opset of [13, 18]) {
      for (const keepdims of [0, 1]) {
        const m = sumLossModel((b) => {
          const xv = b.input('x', DataType.DOUBLE, [4, 3]);
          return opset >= 18 ? b.op('ReduceProd', [xv, b.init('axes', DataType.INT64, [1], [-1])], { keepdims }) : b.op('ReduceProd', [xv], { axes: [-1], keepdims });
        }, ['x'], opset);
        const out = await run(m, { x: { dims: [4, 3], data: x } });
        close(out['grad:x']!, expected);
      }
    }
    // Columns of a [3, 2] (axis 0): [0, 2, 5] has one zero, [3, 0, 0] two.
    const cols = sumLossModel((b) => b.op('ReduceProd', [b.input('x', DataType.DOUBLE, [3, 2])], { axes: [0], keepdims: 1 }), ['x'], 17);
    close((await run(cols, { x: { dims: [3, 2], data: [0, 3, 2, 0, 5, 0] } }))['grad:x']!, [10, 0, 0, 0, 0, 0]);
    // Every axis, one zero in the whole tensor.
    const all = sumLossModel((b) => b.op('ReduceProd', [b.input('x', DataType.DOUBLE, [2, 3])], { keepdims: 0 }), ['x'], 17);
    close((await run(all, { x: { dims: [2, 3], data: [1, 2, 0, 4, 5, 6] } }))['grad:x']!, [0, 0, 240, 0, 0, 0]);
  });

  it('with a dynamic dim', async () => {
    const m = sumLossModel((b) => b.op('ReduceProd', [b.input('x', DataType.DOUBLE, ['n', 3])], { axes: [0], keepdims: 0 }), ['x'], 17);
    close((await run(m, { x: { dims: [2, 3], data: [2, 0, 0, 5, 7, 0] } }))['grad:x']!, [5, 7, 0, 2, 0, 0]);
  });

  it('matches finite differences at points with zeros (one and two per slice)', async () => {
    // The product is multilinear, so central differences are exact up to rounding even at
    // the kinks of the zero-count formula.
    await expectGrads({
      build: (b, dt) => b.op('ReduceProd', [b.input('x', dt, [4, 3])], { axes: [1], keepdims: 0 }),
      inputs: { x: { dims: [4, 3], data: [0.5, 0, 2, 0, 1.5, 0, -1, 2, 0.7, 0, 0, 0] } },
      directions: 5,
    });
  });
});

describe('CumSum', () => {
  for (const opset of [11, 14]) {
    it(`opset ${opset}: random ranks and axes (negative too), exclusive × reverse, int32/int64 scalar/[1] axis`, async () => {
      for (const exclusive of [0, 1]) {
        for (const reverse of [0, 1]) {
          const rank = int(1, 4);
          const dims = Array.from({ length: rank }, () => int(1, 4));
          const axis = int(-rank, rank - 1);
          dims[axis < 0 ? axis + rank : axis] = int(3, 5); // long enough for the four forms to differ
          const axisType = rnd() < 0.5 ? DataType.INT32 : DataType.INT64;
          const axisDims = rnd() < 0.5 ? [] : [1];
          await expectGrads({
            build: (b, dt) => b.op('CumSum', [b.input('x', dt, dims), b.init('axis', axisType, axisDims, [axis])], { exclusive, reverse }),
            inputs: { x: { dims } },
            opset,
          });
        }
      }
    });
  }

  it('the gradient is the flipped cumulative sum of dy (documented examples)', async () => {
    // ∂(Σ_j y_j)/∂x_i is the number of outputs x_i feeds: 1-D x of 4 elements.
    const expected: Record<string, number[]> = {
      '0,0': [4, 3, 2, 1],
      '1,0': [3, 2, 1, 0],
      '0,1': [1, 2, 3, 4],
      '1,1': [0, 1, 2, 3],
    };
    for (const [key, grad] of Object.entries(expected)) {
      const [exclusive, reverse] = key.split(',').map(Number) as [number, number];
      const m = sumLossModel((b) => b.op('CumSum', [b.input('x', DataType.DOUBLE, [4]), b.init('axis', DataType.INT64, [], [0])], { exclusive, reverse }), ['x'], 14);
      close((await run(m, { x: { dims: [4], data: [1, 2, 3, 4] } }))['grad:x']!, grad);
    }
  });

  it('an axis from a Constant node or from folded shape arithmetic is known', async () => {
    await expectGrads({
      build: (b, dt) => b.op('CumSum', [b.input('x', dt, [3, 4]), b.constant('axis', DataType.INT64, [], [-2])], { reverse: 1 }),
      inputs: { x: { dims: [3, 4] } },
    });
    // axis = rank(x) − 1 = Shape(Shape(x)) − 1
    await expectGrads({
      build(b, dt) {
        const x = b.input('x', dt, [2, 4]);
        const rank = b.op('Shape', [b.op('Shape', [x])]);
        return b.op('CumSum', [x, b.op('Sub', [rank, b.init('one', DataType.INT64, [1], [1])])]);
      },
      inputs: { x: { dims: [2, 4] } },
    });
  });

  it('an axis known only at run time (a graph input) is passed through to the gradient', async () => {
    for (const axis of [0, -1, 1]) {
      await expectGrads({
        build: (b, dt) => b.op('CumSum', [b.input('x', dt, [3, 4]), b.input('axis', DataType.INT64, [])], { exclusive: 1 }),
        inputs: { x: { dims: [3, 4] }, axis: { dims: [], type: 'int64', data: [axis] } },
        wrt: ['x'],
      });
    }
  });

  it('a known axis out of range is an E_AUTODIFF error', () => {
    const b = new GraphBuilder('t');
    const y = b.op('CumSum', [b.input('x', DataType.DOUBLE, [2, 3]), b.init('axis', DataType.INT64, [], [2])]);
    b.output(b.op('ReduceSum', [y], { keepdims: 0 }, { outputNames: ['loss'] }));
    const err = thrown(() => differentiate(b.model({ opset: 14 }), { wrt: ['x'], loss: 'loss' }));
    expect(err.code).toBe('E_AUTODIFF');
    expect(err.message).toMatch(/axis \[2\] is not one axis/);
  });
});
