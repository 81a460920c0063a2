// Gradient rules for Slice and Pad, checked against central finite differences in float64 on
// seeded random shapes and attribute variations (structural inputs constant or fed at run time).

import { describe, expect, it } from 'vitest';
import { DataType } from '../../../src/ir/dtype.js';
import type { Value } from '../../../src/ir/graph.js';
import { describeFailures, gradCheck } from './gradcheck.js';
import { autodiffError, expectGrads, seededDraws } from './rule-checks.js';

const { int } = seededDraws(90210);
const I64 = DataType.INT64;
const INT64_MAX = 9223372036854775807n;

describe('Slice', () => {
  // [starts, ends, axes, steps] on a [5, 6, 4] input; null leaves the input out.
  const cases: [string, (number | bigint)[], (number | bigint)[], number[] | null, number[] | null][] = [
    ['contiguous, axes omitted', [1, 0], [4, 5], null, null],
    ['negative axis and bounds', [-3], [-1], [-1], null],
    ['steps 2 and 3', [0, 1], [5, 6], [0, 1], [2, 3]],
    ['negative steps', [4, -1], [0, 0], [0, 2], [-1, -2]],
    ['reverse all of an axis', [-1], [-INT64_MAX], [1], [-1]],
    ['out-of-range bounds are clamped', [-100, 2], [INT64_MAX, 1000], [0, 1], [2, 1]],
    ['negative step, start beyond the end', [100], [-100], [2], [-3]],
    ['mixed steps on three axes', [1, 5, 0], [5, 0, 4], [-3, -2, -1], [1, -2, 3]],
  ];
  for (const [name, starts, ends, axes, steps] of cases) {
    it(name, async () => {
      await expectGrads({
        build: (b, dt) => {
          const ins: (Value | null)[] = [
            b.input('x', dt, [5, 6, 4]),
            b.init('starts', I64, [starts.length], BigInt64Array.from(starts, BigInt)),
            b.init('ends', I64, [ends.length], BigInt64Array.from(ends, BigInt)),
            axes ? b.init('axes', I64, [axes.length], axes) : null,
          ];
          if (steps) ins.push(b.init('steps', I64, [steps.length], steps));
          return b.op('Slice', ins);
        },
        inputs: { x: { dims: [5, 6, 4] } },
      });
    });
  }

  it('an empty slice has a zero gradient', async () => {
    const r = await gradCheck({
      build: (b, dt) => b.op('Add', [b.op('Slice', [b.input('x', dt, [3, 2]), b.init('s', I64, [1], [2]), b.init('e', I64, [1], [1]), b.init('a', I64, [1], [0])]), b.input('z', dt, [1, 2])]),
      inputs: { x: { dims: [3, 2] }, z: { dims: [1, 2] } },
    });
    expect(r.ok, describeFailures(r)).toBe(true);
    expect(Array.from(r.grads.x!)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  // Bounds fed at run time (as the ONNX backend tests feed them): dy is scatter-added back
  // through the positions the same Slice reads.
  const runtimeBounds: [number[], number[], number[], number[] | null, number[] | null][] = [
    // dims, starts, ends, axes, steps
    [[5, 4], [1], [4], null, null],
    [[5, 4, 3], [-1, 0], [-6, 9], [0, -1], [-2, 2]], // reversed, clamped, negative axis
    [[6, 3], [0, 2], [6, 0], [0, 1], [3, -1]],
  ];
  for (const [dims, starts, ends, axes, steps] of runtimeBounds) {
    it(`bounds fed at run time: starts ${starts}, ends ${ends}, axes ${axes ?? 'all'}, steps ${steps ?? 1}`, async () => {
      const fed = (name: string, v: number[]) => ({ [name]: { dims: [v.length], type: 'int64' as const, data: v } });
      await expectGrads({
        build: (b, dt) =>
          b.op('Slice', [
            b.input('x', dt, dims),
            b.input('s', I64, [starts.length]),
            b.input('e', I64, [ends.length]),
            axes ? b.input('a', I64, [axes.length]) : null,
            steps ? b.input('t', I64, [steps.length]) : null,
          ]),
        inputs: { x: { dims }, ...fed('s', starts), ...fed('e', ends), ...(axes ? fed('a', axes) : {}), ...(steps ? fed('t', steps) : {}) },
        wrt: ['x'],
      });
    });
  }

  it('bounds fed at run time that select nothing give a zero gradient', async () => {
    const r = await gradCheck({
      build: (b, dt) => b.op('Slice', [b.input('x', dt, [4, 5]), b.input('s', I64, [1]), b.input('e', I64, [1]), b.init('a', I64, [1], [1])]),
      inputs: { x: { dims: [4, 5] }, s: { dims: [1], type: 'int64', data: [2] }, e: { dims: [1], type: 'int64', data: [2] } },
      wrt: ['x'],
    });
    expect(r.ok, describeFailures(r)).toBe(true);
    expect([...r.grads.x!].every((g) => g === 0)).toBe(true);
  });
});

describe('Pad', () => {
  // Pads fed at run time: dy is scatter-added back through the positions the same Pad copies
  // (several for reflect/edge/wrap), the constant's share to the value input.
  const runtimePads: [string, number[], number[], number[] | null][] = [
    // mode, dims, pads, axes
    ['constant', [3, 4], [1, -1, 2, 1], null],
    ['reflect', [3, 4], [2, 1, 0, 3], null],
    ['edge', [2, 3, 4], [0, 2, -1, 1, 0, 3], null],
    ['wrap', [3, 4], [1, 2, 2, 1], null],
    ['constant', [2, 3, 4], [2, 1, 0, -1], [-1, 0]],
  ];
  for (const [mode, dims, pads, axes] of runtimePads) {
    it(`${mode} mode with pads [${pads}] fed at run time${axes ? `, axes [${axes}]` : ''}`, async () => {
      const withValue = mode === 'constant';
      await expectGrads({
        build: (b, dt) =>
          b.op('Pad', [b.input('x', dt, dims), b.input('p', I64, [pads.length]), withValue ? b.input('v', dt, []) : null, ...(axes ? [b.init('a', I64, [axes.length], axes)] : [])], { mode }),
        inputs: { x: { dims }, p: { dims: [pads.length], type: 'int64', data: pads }, ...(withValue ? { v: { dims: [] } } : {}) },
        wrt: withValue ? ['x', 'v'] : ['x'],
        opset: 18,
      });
    });
  }

  it('constant mode: positive, zero and negative pads, value input differentiated', async () => {
    await expectGrads({
      build: (b, dt) => b.op('Pad', [b.input('x', dt, [3, 4, 5]), b.init('p', I64, [6], [1, 0, -2, 2, 3, 1]), b.input('v', dt, [])], { mode: 'constant' }),
      inputs: { x: { dims: [3, 4, 5] }, v: { dims: [] } },
    });
    await expectGrads({
      build: (b, dt) => b.op('Pad', [b.input('x', dt, [4, 5]), b.init('p', I64, [4], [-1, 2, 0, -3])]),
      inputs: { x: { dims: [4, 5] } },
      opset: 13,
    });
  });

  it('constant mode with an axes input (opset 18), negative axes', async () => {
    await expectGrads({
      build: (b, dt) => b.op('Pad', [b.input('x', dt, [2, 3, 4]), b.init('p', I64, [4], [2, 1, 0, -1]), b.input('v', dt, []), b.init('a', I64, [2], [-1, 0])], { mode: 'constant' }),
      inputs: { x: { dims: [2, 3, 4] }, v: { dims: [] } },
      opset: 18,
    });
  });

  for (const mode of ['reflect', 'edge']) {
    it(`${mode} mode, with cropping pads and an axes input (opset 18)`, async () => {
      const d = [int(3, 4), int(4, 5), int(3, 5)];
      await expectGrads({
        build: (b, dt) => b.op('Pad', [b.input('x', dt, d), b.init('p', I64, [6], [0, 2, 1, 1, 2, 2])], { mode }),
        inputs: { x: { dims: d } },
        opset: 13,
      });
      await expectGrads({
        build: (b, dt) => b.op('Pad', [b.input('x', dt, d), b.init('p', I64, [6], [-1, 2, 0, 2, -1, 1])], { mode }),
        inputs: { x: { dims: d } },
        opset: 13,
      });
      await expectGrads({
        build: (b, dt) => b.op('Pad', [b.input('x', dt, d), b.init('p', I64, [4], [2, 1, 1, 2]), null, b.init('a', I64, [2], [-1, 0])], { mode }),
        inputs: { x: { dims: d } },
        opset: 18,
      });
    });
  }

  // onnxruntime 1.30 computes wrap wrongly when a leading pad exceeds the axis (it reads
  // zeros), so only trailing pads here are wider than the axis.
  it('wrap mode (opset 19), cropping pads and trailing pads wider than the axis', async () => {
    await expectGrads({
      build: (b, dt) => b.op('Pad', [b.input('x', dt, [3, 4]), b.init('p', I64, [4], [2, 1, 5, -1])], { mode: 'wrap' }),
      inputs: { x: { dims: [3, 4] } },
      opset: 19,
    });
  });

  it('reflect pads past what the op allows are an E_AUTODIFF error naming the limit', () => {
    const e = autodiffError((b) => b.op('Pad', [b.input('x', DataType.DOUBLE, [3]), b.init('p', I64, [2], [3, 0])], { mode: 'reflect' }), ['x']);
    expect(e.message).toMatch(/reflect pads 3,0 on axis 0 exceed the 2/);
  });
});
