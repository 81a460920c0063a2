// Gradient rules for data-movement ops (reshapes, transposes, concat/split, slice, pad,
// gathers, TopK, scatters, MaxUnpool, Compress, ReverseSequence, expand/tile, resize,
// depth/space rearrangements), checked against central finite differences on seeded random
// shapes and attribute variations. Every op runs in float64 except Resize and MaxUnpool:
// onnxruntime CPU has no double kernel for them, so their checks are float32 (see there for
// the tolerances). Rules that emit ScatterElements or ScatterND with reduction='add' need
// opset 16, so their models are built at 16+ (or raised to it). Two groups check that the
// rules also work when shapes are symbolic (no input shapes given): the gradients must equal
// the static ones.

import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { attr, GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import { SplitcError } from '../../../src/ir/errors.js';
import { type Dim, tensorType, type Value } from '../../../src/ir/graph.js';
import { modelToBytes } from '../../../src/ir/serde/io.js';
import { assertValid } from '../../../src/ir/verify.js';
import { differentiate } from '../../../src/passes/autodiff/index.js';
import { xorshift32 } from '../../helpers/onnx-oracle.js';
import { describeFailures, gradCheck, type GradCheckCase, type GradCheckReport, differentiateError } from './gradcheck.js';

const rnd = xorshift32(90210);
/** A random integer in [lo, hi]. */
const int = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
const dimsOf = (rank: number, lo = 2, hi = 4): number[] => Array.from({ length: rank }, () => int(lo, hi));
const I64 = DataType.INT64;
const F32 = DataType.FLOAT;
const INT64_MAX = 9223372036854775807n;

async function expectGrads(c: GradCheckCase): Promise<GradCheckReport> {
  const r = await gradCheck(c);
  expect(r.ok, describeFailures(r)).toBe(true);
  expect(r.checks.length).toBeGreaterThan(0);
  // A rule emitting zeros would pass against a flat function only; these losses are not flat.
  expect(r.checks.some((x) => Math.abs(x.numeric) > 1e-3)).toBe(true);
  return r;
}

/**
 * Max/min scatters on three random cases: some updates win and some data stays, so both
 * gradients are exercised (and checked).
 */
async function expectBothWin(makeCase: () => GradCheckCase): Promise<void> {
  const won = { u: false, data: false };
  for (let k = 0; k < 3; k++) {
    const r = await expectGrads(makeCase());
    won.u ||= r.grads.u!.some((v) => v !== 0);
    won.data ||= r.grads.data!.some((v) => v !== 0);
  }
  expect(won).toEqual({ u: true, data: true });
}

/** The E_AUTODIFF error differentiate() throws for the model, with its message. */
function autodiffError(build: (b: GraphBuilder) => Value, wrt: string[], opset = 17): SplitcError {
  const b = new GraphBuilder('t');
  const y = build(b);
  b.output(b.op('ReduceSum', [y], { keepdims: 0 }, { outputNames: ['loss'] }));
  const e = differentiateError(b.model({ opset }), { wrt, loss: 'loss' });
  expect(e.code).toBe('E_AUTODIFF');
  return e;
}

describe('reshapes', () => {
  it('Reshape: -1, 0 (copy) and allowzero=1', async () => {
    const d = dimsOf(3);
    await expectGrads({ build: (b, dt) => b.op('Reshape', [b.input('x', dt, d), b.init('s', I64, [2], [d[0]! * d[1]!, -1])]), inputs: { x: { dims: d } } });
    await expectGrads({ build: (b, dt) => b.op('Reshape', [b.input('x', dt, d), b.init('s', I64, [3], [0, d[2]!, -1])]), inputs: { x: { dims: d } } });
    await expectGrads({
      build: (b, dt) => b.op('Reshape', [b.input('x', dt, d), b.init('s', I64, [2], [d[2]!, d[0]! * d[1]!])], { allowzero: 1 }),
      inputs: { x: { dims: d } },
      opset: 14,
    });
  });

  it('Flatten at axes 0, 2 and -1', async () => {
    const d = dimsOf(4);
    for (const axis of [0, 2, -1]) {
      await expectGrads({ build: (b, dt) => b.op('Flatten', [b.input('x', dt, d)], { axis }), inputs: { x: { dims: d } } });
    }
  });

  it('Transpose with a perm and with the default (reversed) perm', async () => {
    const d = dimsOf(4);
    await expectGrads({ build: (b, dt) => b.op('Transpose', [b.input('x', dt, d)], { perm: [2, 0, 3, 1] }), inputs: { x: { dims: d } } });
    // The result is multiplied by x itself so a gradient that is not the inverse permutation shows.
    await expectGrads({
      build: (b, dt) => {
        const x = b.input('x', dt, [3, 4, 3]);
        return b.op('Mul', [b.op('Transpose', [x]), b.op('Neg', [x])]);
      },
      inputs: { x: { dims: [3, 4, 3] } },
    });
  });

  it('Squeeze and Unsqueeze with axes inputs (opset 13), negative axes, and Squeeze without axes', async () => {
    const d = [dimsOf(1)[0]!, 1, dimsOf(1)[0]!, 1];
    await expectGrads({ build: (b, dt) => b.op('Squeeze', [b.input('x', dt, d), b.init('a', I64, [1], [-1])]), inputs: { x: { dims: d } }, opset: 13 });
    await expectGrads({ build: (b, dt) => b.op('Squeeze', [b.input('x', dt, d)]), inputs: { x: { dims: d } }, opset: 13 });
    await expectGrads({ build: (b, dt) => b.op('Squeeze', [b.input('x', dt, d), b.init('a', I64, [2], [1, -1])]), inputs: { x: { dims: d } }, opset: 18 });
    const e = dimsOf(2);
    await expectGrads({ build: (b, dt) => b.op('Unsqueeze', [b.input('x', dt, e), b.init('a', I64, [2], [0, -1])]), inputs: { x: { dims: e } }, opset: 13 });
    await expectGrads({ build: (b, dt) => b.op('Unsqueeze', [b.input('x', dt, e), b.init('a', I64, [1], [1])]), inputs: { x: { dims: e } }, opset: 21 });
  });
});

describe('Concat and Split', () => {
  it('Concat of several inputs on a negative axis, some not wanting gradients', async () => {
    const [n, w] = dimsOf(2);
    const hs = dimsOf(4, 1, 3);
    const r = await expectGrads({
      build: (b, dt) => {
        const xs = hs.map((h, i) => (i === 2 ? b.init('k', dt, [n!, h, w!], Array.from({ length: n! * h * w! }, (_, j) => j / 10)) : b.input(`x${i}`, dt, [n!, h, w!])));
        return b.op('Concat', xs, { axis: -2 });
      },
      inputs: { x0: { dims: [n!, hs[0]!, w!] }, x1: { dims: [n!, hs[1]!, w!] }, x3: { dims: [n!, hs[3]!, w!] } },
      wrt: ['x0', 'x3'],
    });
    expect(Object.keys(r.grads)).toEqual(['x0', 'x3']);
  });

  it('Concat of one input, and of an input used twice', async () => {
    await expectGrads({ build: (b, dt) => b.op('Concat', [b.input('x', dt, [2, 3])], { axis: 1 }), inputs: { x: { dims: [2, 3] } } });
    await expectGrads({
      build: (b, dt) => {
        const x = b.input('x', dt, [2, 3]);
        return b.op('Concat', [x, b.input('z', dt, [1, 3]), x], { axis: 0 });
      },
      inputs: { x: { dims: [2, 3] }, z: { dims: [1, 3] } },
    });
  });

  it('Split with a split input (opset 13), equal parts, and num_outputs (opset 18, uneven)', async () => {
    const d = [3, 7, 2];
    const combine = (b: GraphBuilder, parts: Value[]): Value => b.op('Concat', parts.map((p, i) => b.op(i % 2 ? 'Neg' : 'Identity', [p])), { axis: 1 });
    await expectGrads({
      build: (b, dt) => combine(b, b.opMulti('Split', [b.input('x', dt, d), b.init('s', I64, [3], [2, 4, 1])], 3, { axis: 1 })),
      inputs: { x: { dims: d } },
      opset: 13,
    });
    await expectGrads({
      build: (b, dt) => combine(b, b.opMulti('Split', [b.input('x', dt, [4, 3])], 2, { axis: -2 })),
      inputs: { x: { dims: [4, 3] } },
      opset: 13,
    });
    await expectGrads({
      build: (b, dt) => combine(b, b.opMulti('Split', [b.input('x', dt, d)], 3, { axis: -2, num_outputs: 3 })),
      inputs: { x: { dims: d } },
      opset: 18,
    });
  });

  it('Split outputs without a gradient contribute zeros', async () => {
    const r = await expectGrads({
      build: (b, dt) => b.opMulti('Split', [b.input('x', dt, [5, 2]), b.init('s', I64, [3], [1, 3, 1])], 3, { axis: 0 })[1]!,
      inputs: { x: { dims: [5, 2] } },
    });
    const g = r.grads.x!;
    expect([0, 1, 8, 9].map((i) => g[i])).toEqual([0, 0, 0, 0]);
    expect(g.slice(2, 8).every((v) => v !== 0)).toBe(true);
  });
});

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

describe('Gather and GatherElements (opset 16+: ScatterElements with reduction add)', () => {
  it('Gather on axis 0 with 2-D indices, repeated and negative', async () => {
    const d = [5, int(2, 4)];
    await expectGrads({
      build: (b, dt) => b.op('Gather', [b.input('x', dt, d), b.init('i', I64, [2, 3], [0, -1, 2, 4, 0, -5])]),
      inputs: { x: { dims: d } },
      opset: 16,
    });
  });

  it('Gather on a negative axis with a scalar index, and with 3-D int32 indices', async () => {
    const d = dimsOf(3, 3, 4);
    await expectGrads({
      build: (b, dt) => b.op('Gather', [b.input('x', dt, d), b.init('i', I64, [], [-2])], { axis: -1 }),
      inputs: { x: { dims: d } },
      opset: 18,
    });
    await expectGrads({
      build: (b, dt) => b.op('Gather', [b.input('x', dt, d), b.init('i', DataType.INT32, [2, 1, 2], [1, -1, 0, 1])], { axis: 1 }),
      inputs: { x: { dims: d } },
      opset: 16,
    });
  });

  it('Gather with indices fed at run time (negative ones fixed up by Where)', async () => {
    await expectGrads({
      build: (b, dt) => b.op('Gather', [b.input('x', dt, [3, 4]), b.input('i', I64, [2, 2])], { axis: 1 }),
      inputs: { x: { dims: [3, 4] }, i: { dims: [2, 2], type: 'int64', data: [3, -1, -4, 3] } },
      opset: 17,
    });
  });

  it('GatherElements on axes 1 and -3 with repeated and negative indices', async () => {
    await expectGrads({
      build: (b, dt) => b.op('GatherElements', [b.input('x', dt, [3, 4]), b.init('i', I64, [3, 5], [0, 1, -1, 3, 3, 2, 2, 0, -4, 1, 1, 1, 1, 1, -2])], { axis: 1 }),
      inputs: { x: { dims: [3, 4] } },
      opset: 16,
    });
    await expectGrads({
      build: (b, dt) => b.op('GatherElements', [b.input('x', dt, [3, 2, 2]), b.input('i', I64, [2, 2, 2])], { axis: -3 }),
      inputs: { x: { dims: [3, 2, 2] }, i: { dims: [2, 2, 2], type: 'int64', data: [0, -1, 2, 2, -3, 1, 0, 0] } },
      opset: 17,
    });
  });
});

/** A seeded integer generator of its own (the shared one's sequence stays as the older tests had it). */
function ints(seed: number): (lo: number, hi: number) => number {
  const r = xorshift32(seed);
  return (lo, hi) => lo + Math.floor(r() * (hi - lo + 1));
}

describe('GatherND (opset 16+: ScatterND with reduction add)', () => {
  const int = ints(4711);
  it('batch_dims 0: whole elements with repeated and negative index tuples', async () => {
    const d = [3, int(2, 4)];
    await expectGrads({
      build: (b, dt) => b.op('GatherND', [b.input('x', dt, d), b.init('i', I64, [2, 3, 2], [0, 1, -1, 0, 0, 1, 2, -1, 0, 1, 2, 0])]),
      inputs: { x: { dims: d } },
      opset: 16,
    });
  });

  it('batch_dims 0: slices (index tuples shorter than the rank), repeated', async () => {
    const d = [4, int(2, 3), int(2, 3)];
    await expectGrads({
      build: (b, dt) => b.op('GatherND', [b.input('x', dt, d), b.init('i', I64, [5, 1], [3, 0, -1, 1, 0])]),
      inputs: { x: { dims: d } },
      opset: 18,
    });
    await expectGrads({
      build: (b, dt) => b.op('GatherND', [b.input('x', dt, d), b.init('i', I64, [2, 2, 2], [1, 0, 1, 0, -4, 1, 1, 0])]),
      inputs: { x: { dims: d } },
      opset: 16,
    });
  });

  it('batch_dims 1 and 2, repeated index tuples within a batch, indices fed at run time', async () => {
    const n = int(2, 3);
    await expectGrads({
      build: (b, dt) => b.op('GatherND', [b.input('x', dt, [n, 3, 4]), b.input('i', I64, [n, 3, 2])], { batch_dims: 1 }),
      inputs: { x: { dims: [n, 3, 4] }, i: { dims: [n, 3, 2], type: 'int64', data: Array.from({ length: n }, (_, k) => [k % 3, 1, -1, 3, k % 3, 1]).flat() } },
      opset: 16,
    });
    await expectGrads({
      build: (b, dt) => b.op('GatherND', [b.input('x', dt, [2, n, 3, 2]), b.init('i', I64, [2, n, 2, 1], Array.from({ length: 4 * n }, (_, k) => [0, 2, -1, 0][k % 4]!))], { batch_dims: 2 }),
      inputs: { x: { dims: [2, n, 3, 2] } },
      opset: 17,
    });
  });

  it('raises an opset-13 model to 16', async () => {
    const r = await expectGrads({
      build: (b, dt) => b.op('GatherND', [b.input('x', dt, [2, 3]), b.init('i', I64, [3, 1], [1, 1, 0])], { batch_dims: 0 }),
      inputs: { x: { dims: [2, 3] } },
      opset: 13,
    });
    expect(r.autodiff.opset).toEqual({ from: 13, to: 16 });
  });
});

describe('TopK (float64; distinct values, so no ties)', () => {
  const int = ints(1618);
  /** n distinct values in (-1, 1), 2/n apart, in a seeded random order. */
  const distinct = (n: number): number[] => {
    const v = Array.from({ length: n }, (_, i) => -1 + (2 * i + 1) / n);
    for (let i = n - 1; i > 0; i--) {
      const j = int(0, i);
      [v[i], v[j]] = [v[j]!, v[i]!];
    }
    return v;
  };
  for (let k = 0; k < 6; k++) {
    const rank = int(1, 3);
    const d = Array.from({ length: rank }, () => int(2, 5));
    const axis = int(-rank, rank - 1);
    const largest = int(0, 1);
    const sorted = int(0, 1);
    const kk = int(1, d[axis < 0 ? axis + rank : axis]!);
    it(`x [${d}], axis ${axis}, K ${kk}, largest ${largest}, sorted ${sorted}`, async () => {
      await expectGrads({
        build: (b, dt) => b.opMulti('TopK', [b.input('x', dt, d), b.init('k', I64, [1], [kk])], 2, { axis, largest, sorted })[0]!,
        inputs: { x: { dims: d, data: distinct(d.reduce((p, q) => p * q, 1)) } },
      });
    });
  }

  it('default axis (-1) with K fed at run time, the indices used too (no gradient through them)', async () => {
    await expectGrads({
      build: (b, dt) => {
        const [values, indices] = b.opMulti('TopK', [b.input('x', dt, [3, 5]), b.input('k', I64, [1])], 2);
        return b.op('Mul', [values!, b.op('Cast', [indices!], { to: dt })]);
      },
      inputs: { x: { dims: [3, 5], data: distinct(15) }, k: { dims: [1], type: 'int64', data: [3] } },
    });
  });

  it('opset 9 (K as an attribute, upgraded to an input)', async () => {
    const r = await expectGrads({
      build: (b, dt) => b.opMulti('TopK', [b.input('x', dt, [2, 6])], 2, { k: 2, axis: 1 })[0]!,
      inputs: { x: { dims: [2, 6], data: distinct(12) } },
      opset: 9,
    });
    expect(r.autodiff.opset).toEqual({ from: 9, to: 13 });
  });
});

describe('Expand and Tile', () => {
  it('Expand to a larger rank and over size-1 axes', async () => {
    await expectGrads({ build: (b, dt) => b.op('Expand', [b.input('x', dt, [3, 1]), b.init('s', I64, [3], [2, 3, 4])]), inputs: { x: { dims: [3, 1] } } });
    await expectGrads({ build: (b, dt) => b.op('Expand', [b.input('x', dt, [1, 4, 1]), b.init('s', I64, [3], [3, 1, 1])]), inputs: { x: { dims: [1, 4, 1] } } });
  });

  it('Tile with constant repeats, and with repeats fed at run time', async () => {
    const d = dimsOf(3, 2, 3);
    await expectGrads({ build: (b, dt) => b.op('Tile', [b.input('x', dt, d), b.init('r', I64, [3], [2, 1, 3])]), inputs: { x: { dims: d } } });
    await expectGrads({
      build: (b, dt) => b.op('Tile', [b.input('x', dt, d), b.input('r', I64, [3])]),
      inputs: { x: { dims: d }, r: { dims: [3], type: 'int64', data: [1, 3, 2] } },
    });
  });
});

describe('DepthToSpace and SpaceToDepth', () => {
  for (const mode of ['DCR', 'CRD']) {
    it(`DepthToSpace ${mode}`, async () => {
      const d = [2, 8, 2, 3];
      await expectGrads({ build: (b, dt) => b.op('DepthToSpace', [b.input('x', dt, d)], { blocksize: 2, mode }), inputs: { x: { dims: d } } });
    });
  }
  it('SpaceToDepth', async () => {
    const d = [1, 2, 6, 4];
    await expectGrads({ build: (b, dt) => b.op('SpaceToDepth', [b.input('x', dt, d)], { blocksize: 2 }), inputs: { x: { dims: d } } });
  });
});

// Resize runs in float32 only (onnxruntime CPU has no double kernel). The op is linear in x
// (the extrapolation value does not depend on it), so the central difference is exact up to
// float32 rounding of the loss; a large step (0.25) keeps that rounding below ~1e-5, and
// atol/rtol 1e-4 still catch any misplaced or mis-weighted interpolation tap.
describe('Resize (float32)', () => {
  const F = { dtype: 'float32' as const, h: 0.25, atol: 1e-4, rtol: 1e-4, directions: 4 };
  const coordModes = ['half_pixel', 'asymmetric', 'align_corners', 'pytorch_half_pixel', 'tf_half_pixel_for_nn', 'tf_crop_and_resize'];
  const roiOf = (b: GraphBuilder, coord: string): Value | null => (coord === 'tf_crop_and_resize' ? b.init('roi', F32, [8], [0, 0, 0.1, 0.3, 1, 1, 0.8, 1.2]) : null);
  // in [1, 2, 3, 4]: upsampling on H, downsampling/non-integer on W, the other way round,
  // and one output row (special-cased by some modes) with a scale that keeps W at 4.
  const scaleSets = [
    [1, 1, 2, 0.75],
    [1, 1, 0.7, 2.5],
    [1, 1, 0.4, 1.2],
  ];

  for (const coord of coordModes) {
    it(`nearest, every nearest_mode, ${coord}`, async () => {
      for (const nearest of ['round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil']) {
        for (const scales of scaleSets) {
          await expectGrads({
            ...F,
            build: (b) => b.op('Resize', [b.input('x', F32, [1, 2, 3, 4]), roiOf(b, coord), b.init('sc', F32, [4], scales)], { mode: 'nearest', coordinate_transformation_mode: coord, nearest_mode: nearest, extrapolation_value: attr.float('e', 0.5) }),
            inputs: { x: { dims: [1, 2, 3, 4] } },
          });
        }
      }
    });

    it(`linear and cubic, ${coord}`, async () => {
      for (const scales of scaleSets) {
        const cubicScales = scales;
        await expectGrads({
          ...F,
          build: (b) => b.op('Resize', [b.input('x', F32, [1, 2, 3, 4]), roiOf(b, coord), b.init('sc', F32, [4], scales)], { mode: 'linear', coordinate_transformation_mode: coord }),
          inputs: { x: { dims: [1, 2, 3, 4] } },
        });
        for (const exclude of [0, 1]) {
          await expectGrads({
            ...F,
            build: (b) =>
              b.op('Resize', [b.input('x', F32, [1, 2, 4, 5]), roiOf(b, coord), b.init('sc', F32, [4], cubicScales)], {
                mode: 'cubic',
                coordinate_transformation_mode: coord,
                cubic_coeff_a: -0.5,
                exclude_outside: exclude,
              }),
            inputs: { x: { dims: [1, 2, 4, 5] } },
          });
        }
      }
    });
  }

  it('half_pixel_symmetric (opset 19), nearest and linear, non-integer scales', async () => {
    for (const mode of ['nearest', 'linear']) {
      await expectGrads({
        ...F,
        build: (b) => b.op('Resize', [b.input('x', F32, [1, 1, 5, 4]), null, b.init('sc', F32, [4], [1, 1, 1.7, 0.6])], { mode, coordinate_transformation_mode: 'half_pixel_symmetric' }),
        inputs: { x: { dims: [1, 1, 5, 4] } },
        opset: 19,
      });
    }
  });

  it('sizes instead of scales, for all three modes', async () => {
    for (const mode of ['nearest', 'linear', 'cubic']) {
      await expectGrads({
        ...F,
        build: (b) => b.op('Resize', [b.input('x', F32, [2, 1, 3, 4]), null, null, b.init('sz', I64, [4], [2, 1, 7, 3])], { mode, coordinate_transformation_mode: mode === 'nearest' ? 'asymmetric' : 'half_pixel' }),
        inputs: { x: { dims: [2, 1, 3, 4] } },
      });
    }
  });

  it('opset 18: an axes attribute with sizes, and keep_aspect_ratio_policy', async () => {
    await expectGrads({
      ...F,
      build: (b) => b.op('Resize', [b.input('x', F32, [1, 2, 3, 4]), null, null, b.init('sz', I64, [2], [5, 3])], { mode: 'linear', axes: [2, 3] }),
      inputs: { x: { dims: [1, 2, 3, 4] } },
      opset: 18,
    });
    for (const policy of ['not_larger', 'not_smaller']) {
      await expectGrads({
        ...F,
        build: (b) => b.op('Resize', [b.input('x', F32, [1, 1, 3, 4]), null, null, b.init('sz', I64, [2], [6, 5])], { mode: 'nearest', axes: [2, 3], keep_aspect_ratio_policy: policy }),
        inputs: { x: { dims: [1, 1, 3, 4] } },
        opset: 18,
      });
    }
  });

  it('nearest on a middle axis (NHWC) and linear on a 2-D input', async () => {
    await expectGrads({
      ...F,
      build: (b) => b.op('Resize', [b.input('x', F32, [1, 3, 2, 2]), null, b.init('sc', F32, [4], [1, 2, 1.5, 1])], { mode: 'nearest' }),
      inputs: { x: { dims: [1, 3, 2, 2] } },
    });
    await expectGrads({
      ...F,
      build: (b) => b.op('Resize', [b.input('x', F32, [3, 4]), null, b.init('sc', F32, [2], [1.5, 2])], { mode: 'linear', coordinate_transformation_mode: 'align_corners' }),
      inputs: { x: { dims: [3, 4] } },
    });
  });

  it('integer nearest upsampling as exported by paddle2onnx (asymmetric, floor; 2x takes a fast path)', async () => {
    for (const k of [2, 4, 8]) {
      await expectGrads({
        ...F,
        build: (b) => b.op('Resize', [b.input('x', F32, [1, 2, 3, 3]), b.init('roi', F32, [0], []), b.init('sc', F32, [4], [1, 1, k, k])], { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' }),
        inputs: { x: { dims: [1, 2, 3, 3] } },
        opset: 11 + k, // 13, 15, 19
      });
    }
  });

  it('NHWC layouts (linear, cubic) and trilinear on 5-D', async () => {
    for (const mode of ['linear', 'cubic']) {
      await expectGrads({
        ...F,
        build: (b) => b.op('Resize', [b.input('x', F32, [1, 3, 4, 2]), null, b.init('sc', F32, [4], [1, 2, 1.5, 1])], { mode }),
        inputs: { x: { dims: [1, 3, 4, 2] } },
      });
    }
    await expectGrads({
      ...F,
      build: (b) => b.op('Resize', [b.input('x', F32, [1, 2, 2, 3, 3]), null, b.init('sc', F32, [5], [1, 1, 2, 0.7, 1.5])], { mode: 'linear', coordinate_transformation_mode: 'pytorch_half_pixel' }),
      inputs: { x: { dims: [1, 2, 2, 3, 3] } },
    });
  });

  it('antialias is an E_AUTODIFF error', () => {
    const e = autodiffError((b) => b.op('Resize', [b.input('x', F32, [1, 1, 4, 4]), null, b.init('sc', F32, [4], [1, 1, 0.5, 0.5])], { mode: 'linear', antialias: 1 }), ['x'], 18);
    expect(e.message).toMatch(/antialias/);
  });

  // Scales, sizes or roi fed at run time: the adjoint resizes an identity per axis at run time.
  const fed = (name: string, type: 'float32' | 'int64', data: number[]) => ({ [name]: { dims: [data.length], type, data } });
  const runtimeResize: [string, string, Record<string, number>, { scales?: number[]; sizes?: number[]; roi?: number[]; axes?: number[] }][] = [
    ['linear', 'half_pixel', {}, { scales: [1, 1, 2, 0.75] }],
    ['cubic', 'align_corners', { cubic_coeff_a: -0.5, exclude_outside: 1 }, { scales: [1, 1, 0.7, 2.5] }],
    ['nearest', 'asymmetric', {}, { sizes: [1, 2, 5, 3] }],
    ['linear', 'tf_crop_and_resize', {}, { roi: [0, 0, 0.1, 0.3, 1, 1, 0.8, 1.2], scales: [1, 1, 1.5, 1.25] }],
    ['linear', 'pytorch_half_pixel', {}, { sizes: [5, 3], axes: [2, 3] }],
  ];
  for (const [mode, coord, extra, fedValues] of runtimeResize) {
    it(`${mode}, ${coord}, ${Object.keys(fedValues).filter((k) => k !== 'axes').join(' and ')} fed at run time${fedValues.axes ? ', axes attribute' : ''}`, async () => {
      const { scales, sizes, roi, axes } = fedValues;
      await expectGrads({
        ...F,
        build: (b) =>
          b.op(
            'Resize',
            [
              b.input('x', F32, [1, 2, 3, 4]),
              roi ? b.input('roi', F32, [roi.length]) : null,
              scales ? b.input('sc', F32, [scales.length]) : null,
              sizes ? b.input('sz', DataType.INT64, [sizes.length]) : null,
            ],
            { mode, coordinate_transformation_mode: coord, ...extra, ...(axes ? { axes } : {}) },
          ),
        inputs: { x: { dims: [1, 2, 3, 4] }, ...(roi ? fed('roi', 'float32', roi) : {}), ...(scales ? fed('sc', 'float32', scales) : {}), ...(sizes ? fed('sz', 'int64', sizes) : {}) },
        wrt: ['x'],
        opset: axes ? 18 : 13,
      });
    });
  }

  it('sizes fed at run time with keep_aspect_ratio_policy other than stretch is an E_AUTODIFF error', () => {
    const e = autodiffError((b) => b.op('Resize', [b.input('x', F32, [1, 1, 3, 4]), null, null, b.input('sz', DataType.INT64, [2])], { mode: 'nearest', axes: [2, 3], keep_aspect_ratio_policy: 'not_larger' }), ['x'], 18);
    expect(e.message).toMatch(/keep_aspect_ratio_policy/);
  });
});

/**
 * Gradients of a model built with symbolic input dims (no input shapes given to the pass,
 * so the rules take their dynamic paths) must equal those built with static shapes. The
 * output gradient is seeded with a fixed random tensor.
 */
async function expectDynamicMatchesStatic(spec: {
  build: (b: GraphBuilder, dims: Record<string, Dim[]>) => Value;
  inputs: Record<string, { dims: number[]; symbolic: Dim[]; int64?: number[] }>;
  wrt: string[];
  opset?: number;
}): Promise<void> {
  const feeds: Record<string, ort.Tensor> = {};
  const r = xorshift32(5);
  for (const [name, s] of Object.entries(spec.inputs)) {
    const n = s.dims.reduce((a, d) => a * d, 1);
    feeds[name] = s.int64 ? new ort.Tensor('int64', BigInt64Array.from(s.int64, BigInt), s.dims) : new ort.Tensor('float64', Float64Array.from({ length: n }, () => r() * 2 - 1), s.dims);
  }
  const results: Record<string, number[]>[] = [];
  for (const dynamic of [false, true]) {
    const b = new GraphBuilder('dyn');
    const dims = Object.fromEntries(Object.entries(spec.inputs).map(([k, s]) => [k, dynamic ? s.symbolic : s.dims]));
    const y = spec.build(b, dims);
    const m = b.model({ opset: spec.opset ?? 17 });
    differentiate(m, { wrt: spec.wrt, seeds: { [y.name]: 'dY' }, inputShapes: dynamic ? {} : dims });
    assertValid(m);
    const s = await ort.InferenceSession.create(modelToBytes(m), { graphOptimizationLevel: 'disabled' });
    if (!feeds.dY) {
      // The seed's shape is the output's: run the forward once through the gradient model's inputs.
      const fwd = new GraphBuilder('fwd');
      const yf = spec.build(fwd, dims);
      fwd.output(yf);
      const sf = await ort.InferenceSession.create(modelToBytes(fwd.model({ opset: spec.opset ?? 17 })));
      const out = (await sf.run(Object.fromEntries(Object.keys(spec.inputs).map((k) => [k, feeds[k]!]))))[yf.name]!;
      await sf.release();
      feeds.dY = new ort.Tensor('float64', Float64Array.from({ length: out.size }, () => r() * 2 - 1), out.dims);
    }
    const out = await s.run(feeds);
    await s.release();
    results.push(Object.fromEntries(spec.wrt.map((w) => [w, Array.from(out[`grad:${w}`]!.data as Float64Array)])));
  }
  for (const w of spec.wrt) {
    const [st, dy] = [results[0]![w]!, results[1]![w]!];
    expect(dy.length).toBe(st.length);
    expect(st.some((v) => v !== 0)).toBe(true);
    dy.forEach((v, i) => expect(Math.abs(v - st[i]!), `${w}[${i}]`).toBeLessThanOrEqual(1e-12));
  }
}

describe('symbolic shapes (dynamic paths)', () => {
  const D = DataType.DOUBLE;
  it('Reshape, Squeeze, Concat, Split and Tile with a symbolic batch', async () => {
    await expectDynamicMatchesStatic({
      build: (b, d) => {
        const x = b.input('x', D, d.x!);
        const z = b.input('z', D, d.z!);
        const cat = b.op('Concat', [x, z], { axis: 1 });
        const [p0, p1] = b.opMulti('Split', [cat, b.init('s', I64, [2], [1, 4])], 2, { axis: 1 });
        const sq = b.op('Squeeze', [p0!, b.init('a', I64, [1], [1])]);
        const flat = b.op('Reshape', [p1!, b.init('f', I64, [2], [0, -1])]);
        const t = b.op('Tile', [flat, b.init('r', I64, [2], [2, 1])]);
        return b.op('Concat', [t, b.op('Unsqueeze', [b.op('Tile', [sq, b.init('r2', I64, [1], [2])]), b.init('a2', I64, [1], [1])])], { axis: 1 });
      },
      inputs: { x: { dims: [3, 2], symbolic: ['N', 2] }, z: { dims: [3, 3], symbolic: ['N', 'K'] } },
      wrt: ['x', 'z'],
    });
  });

  it('GatherND with batch_dims 1 and a symbolic batch (batch coordinates from Range)', async () => {
    await expectDynamicMatchesStatic({
      build: (b, d) => b.op('GatherND', [b.input('x', D, d.x!), b.input('i', I64, d.i!)], { batch_dims: 1 }),
      inputs: {
        x: { dims: [3, 4, 2], symbolic: ['N', 4, 2] },
        i: { dims: [3, 2, 1], symbolic: ['N', 'K', 1], int64: [0, 0, 3, -1, 2, 2] },
      },
      wrt: ['x'],
    });
  });

  it('Gather and GatherElements with symbolic dims and run-time indices', async () => {
    await expectDynamicMatchesStatic({
      build: (b, d) => {
        const x = b.input('x', D, d.x!);
        const g = b.op('Gather', [x, b.input('i', I64, d.i!)], { axis: 1 });
        const e = b.op('GatherElements', [x, b.input('j', I64, d.j!)], { axis: 0 });
        return b.op('Concat', [b.op('Flatten', [g], { axis: 1 }), b.op('Flatten', [e], { axis: 1 })], { axis: 1 });
      },
      inputs: {
        x: { dims: [2, 4], symbolic: ['N', 'M'] },
        i: { dims: [3], symbolic: ['K'], int64: [-1, 0, 3] },
        j: { dims: [2, 4], symbolic: ['N', 'M'], int64: [1, -2, 0, 1, -1, 0, 1, 1] },
      },
      wrt: ['x'],
    });
  });
});

const count = (dims: readonly number[]): number => dims.reduce((p, d) => p * d, 1);
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const opTypes = (r: GradCheckReport): string[] => [...r.gradModel.graph.nodes].map((n) => n.opType);

/**
 * The gradients of ReduceSum(y) (so dL/dy = 1) for float64 feeds: for checks at points where
 * finite differences cannot agree (ties).
 */
async function sumGrads(build: (b: GraphBuilder) => Value, wrt: string[], feeds: Record<string, number[]>, shapes: Record<string, number[]>, opset: number): Promise<Record<string, number[]>> {
  const b = new GraphBuilder('t');
  b.output(b.op('ReduceSum', [build(b)], { keepdims: 0 }, { outputNames: ['loss'] }));
  const m = b.model({ opset });
  differentiate(m, { wrt, loss: 'loss', inputShapes: shapes });
  assertValid(m);
  const s = await ort.InferenceSession.create(modelToBytes(m), { graphOptimizationLevel: 'disabled' });
  const out = await s.run(Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, new ort.Tensor('float64', Float64Array.from(v), shapes[k]!)])));
  await s.release();
  return Object.fromEntries(wrt.map((w) => [w, Array.from(out[`grad:${w}`]!.data as Float64Array)]));
}

/**
 * Scatters run in float64 (onnxruntime has double kernels for ScatterElements/ScatterND
 * with every reduction, and for GatherElements/GatherND, Range, Where and Equal). Reductions
 * need opset 16 (add, mul) or 18 (max, min); 'none' is also checked at opset 13, where the
 * gradient's scatters must carry no reduction attribute.
 */
describe('ScatterElements (float64)', () => {
  const int = ints(2718);
  /** Data dims, an axis (negative half the time) and indices in [-d, d), repeated within a line or distinct. */
  const geometry = (distinct: boolean): { data: number[]; axis: number; idx: number[]; values: number[] } => {
    const rank = int(1, 3);
    const data = Array.from({ length: rank }, () => int(2, 4));
    const axis = int(-rank, rank - 1);
    const a = axis < 0 ? axis + rank : axis;
    const d = data[a]!;
    const idx = data.map((n, i) => (i !== a ? int(1, n) : distinct ? int(1, n) : int(2, 5)));
    const len = idx[a]!;
    const inner = count(idx.slice(a + 1));
    const values = new Array<number>(count(idx));
    for (let o = 0; o < count(idx.slice(0, a)); o++) {
      for (let i = 0; i < inner; i++) {
        const line = range(d);
        for (let j = d - 1; j > 0; j--) {
          const k = int(0, j);
          [line[j], line[k]] = [line[k]!, line[j]!];
        }
        for (let k = 0; k < len; k++) {
          // Distinct: a shuffled prefix. Repeated: random picks, the first two equal.
          const v = distinct ? line[k]! : k === 1 ? values[(o * len) * inner + i]! : int(0, d - 1);
          values[(o * len + k) * inner + i] = v < 0 ? v : int(0, 1) ? v - d : v;
        }
      }
    }
    return { data, axis, idx, values };
  };
  const scatter = (g: ReturnType<typeof geometry>, reduction: string | null, fed = false) => ({
    build: (b: GraphBuilder, dt: DataType) =>
      b.op('ScatterElements', [b.input('data', dt, g.data), fed ? b.input('i', I64, g.idx) : b.init('i', I64, g.idx, g.values), b.input('u', dt, g.idx)], reduction ? { axis: g.axis, reduction } : { axis: g.axis }),
    inputs: { data: { dims: g.data }, u: { dims: g.idx }, ...(fed ? { i: { dims: g.idx, type: 'int64' as const, data: g.values } } : {}) },
  });

  for (let k = 0; k < 3; k++) {
    const g = geometry(true);
    it(`none, distinct constant indices: data [${g.data}], axis ${g.axis}, indices [${g.idx}] (no last-writer mask)`, async () => {
      const r = await expectGrads({ ...scatter(g, null), opset: 13 });
      expect(opTypes(r)).not.toContain('Range');
    });
  }

  it('none, repeated indices fed at run time: only the update that stays gets a gradient', async () => {
    for (let k = 0; k < 3; k++) {
      const g = geometry(false);
      const r = await expectGrads({ ...scatter(g, null, true), opset: k === 0 ? 13 : 18 });
      expect(opTypes(r)).toContain('Range');
      // Updates 0 and 1 of the first line write the same position: update 1 stays.
      expect(r.grads.u![0]).toBe(0);
    }
  });

  it('add, repeated and negative indices', async () => {
    for (let k = 0; k < 3; k++) await expectGrads({ ...scatter(geometry(false), 'add'), opset: 16 });
  });

  it('mul, repeated indices, with one and with two zero updates at a position', async () => {
    for (let k = 0; k < 2; k++) await expectGrads({ ...scatter(geometry(false), 'mul'), opset: 16 });
    // Row 0 writes position 0 twice (one update 0); row 1 writes position 3 three times (two 0).
    const u = [0, 0.7, -0.4, 0.9, 0, 0, 0.6, -0.8, 0.5, -0.3, 0.2, 1.1];
    const r = await expectGrads({
      build: (b, dt) => b.op('ScatterElements', [b.input('data', dt, [3, 4]), b.init('i', I64, [3, 4], [0, 0, 1, 2, 3, 3, 3, 1, 2, -2, 0, -4]), b.input('u', dt, [3, 4])], { axis: 1, reduction: 'mul' }),
      inputs: { data: { dims: [3, 4] }, u: { dims: [3, 4], data: u } },
      opset: 16,
    });
    // Where another update at the position is 0, the gradient is 0; a lone zero's is not.
    const gu = r.grads.u!;
    expect([gu[1], gu[4], gu[5], gu[6]]).toEqual([0, 0, 0, 0]);
    expect(gu[0]).not.toBe(0);
  });

  for (const reduction of ['max', 'min']) {
    it(`${reduction}, repeated and negative indices (opset 18)`, async () => {
      await expectBothWin(() => ({ ...scatter(geometry(false), reduction), opset: 18 }));
    });
  }

  it('max with ties: tied candidates share the gradient equally', async () => {
    // Position 1: data 5 and one update 5 tie; position 2: two updates 4 tie, data 1 loses.
    const g = await sumGrads(
      (b) => b.op('ScatterElements', [b.input('data', DataType.DOUBLE, [3]), b.init('i', I64, [4], [1, 2, 2, 0]), b.input('u', DataType.DOUBLE, [4])], { axis: 0, reduction: 'max' }),
      ['data', 'u'],
      { data: [3, 5, 1], u: [5, 4, 4, 2] },
      { data: [3], u: [4] },
      18,
    );
    expect(g.data).toEqual([1, 0.5, 0]);
    expect(g.u).toEqual([0.5, 0.5, 0.5, 0]);
  });

  it('an unknown reduction is an E_AUTODIFF error', () => {
    const e = autodiffError((b) => b.op('ScatterElements', [b.input('x', DataType.DOUBLE, [3]), b.init('i', I64, [1], [0]), b.input('u', DataType.DOUBLE, [1])], { reduction: 'mean' }), ['x'], 18);
    expect(e.message).toMatch(/reduction 'mean' is unknown/);
  });
});

describe('ScatterND (float64)', () => {
  const int = ints(31415);
  /** Data dims, index tuples of length k ≤ rank (slices when k < rank), with negative coordinates; distinct or with repeats. */
  const geometry = (distinct: boolean): { data: number[]; idx: number[]; upd: number[]; values: number[] } => {
    const rank = int(1, 3);
    const data = Array.from({ length: rank }, () => int(2, 3));
    const k = int(1, rank);
    const cells = count(data.slice(0, k));
    const m = distinct ? int(1, cells) : int(2, 5);
    const order = range(cells);
    for (let j = cells - 1; j > 0; j--) {
      const t = int(0, j);
      [order[j], order[t]] = [order[t]!, order[j]!];
    }
    const picks = range(m).map((j) => (distinct ? order[j]! : j === 1 ? order[0]! : order[int(0, cells - 1)]!));
    picks[0] = order[0]!;
    const values: number[] = [];
    for (const p of picks) {
      let rest = p;
      const tuple = data.slice(0, k).reverse().map((d) => {
        const c = rest % d;
        rest = Math.floor(rest / d);
        return int(0, 1) ? c - d : c;
      });
      values.push(...tuple.reverse());
    }
    // Index tuples as [m, k] or [1, m, k].
    const lead = int(0, 1) ? [m] : [1, m];
    return { data, idx: [...lead, k], upd: [...lead, ...data.slice(k)], values };
  };
  const scatter = (g: ReturnType<typeof geometry>, reduction: string | null, fed = false) => ({
    build: (b: GraphBuilder, dt: DataType) =>
      b.op('ScatterND', [b.input('data', dt, g.data), fed ? b.input('i', I64, g.idx) : b.init('i', I64, g.idx, g.values), b.input('u', dt, g.upd)], reduction ? { reduction } : {}),
    inputs: { data: { dims: g.data }, u: { dims: g.upd }, ...(fed ? { i: { dims: g.idx, type: 'int64' as const, data: g.values } } : {}) },
  });

  for (let k = 0; k < 3; k++) {
    const g = geometry(true);
    it(`none, distinct constant tuples: data [${g.data}], indices [${g.idx}] (no last-writer mask)`, async () => {
      const r = await expectGrads({ ...scatter(g, null), opset: 13 });
      expect(opTypes(r)).not.toContain('Range');
    });
  }

  it('none, repeated tuples fed at run time (elements and slices): only the update that stays gets a gradient', async () => {
    for (let k = 0; k < 3; k++) {
      const r = await expectGrads({ ...scatter(geometry(false), null, true), opset: k === 0 ? 13 : 16 });
      // Tuples 0 and 1 are the same: tuple 1 stays, so tuple 0's update (its first element) gets none.
      expect(r.grads.u![0]).toBe(0);
    }
  });

  it('add, repeated tuples', async () => {
    for (let k = 0; k < 3; k++) await expectGrads({ ...scatter(geometry(false), 'add'), opset: 16 });
  });

  it('mul, repeated tuples, with zero updates', async () => {
    for (let k = 0; k < 2; k++) await expectGrads({ ...scatter(geometry(false), 'mul'), opset: 16 });
    // Rows 0 and 2 both write row 1 of the data, one of their elements 0 (in column 0, both 0).
    await expectGrads({
      build: (b, dt) => b.op('ScatterND', [b.input('data', dt, [3, 2]), b.init('i', I64, [3, 1], [1, 0, -2]), b.input('u', dt, [3, 2])], { reduction: 'mul' }),
      inputs: { data: { dims: [3, 2] }, u: { dims: [3, 2], data: [0, 0.8, -0.6, 0.4, 0, 0.9] } },
      opset: 16,
    });
  });

  for (const reduction of ['max', 'min']) {
    it(`${reduction}, repeated tuples (opset 18)`, async () => {
      await expectBothWin(() => ({ ...scatter(geometry(false), reduction), opset: 18 }));
    });
  }
});

describe('ReverseSequence (float64)', () => {
  const int = ints(1729);
  for (let k = 0; k < 4; k++) {
    const batchAxis = k % 2;
    const timeAxis = 1 - batchAxis;
    const [B, T] = [int(2, 4), int(2, 5)];
    const d = [0, 0, ...(k < 2 ? [int(2, 3)] : [])];
    d[batchAxis] = B;
    d[timeAxis] = T;
    const lens = Array.from({ length: B }, () => int(1, T));
    lens[int(0, B - 1)] = T; // at least one full-length sequence, so something is reversed
    it(`x [${d}], batch_axis ${batchAxis}, time_axis ${timeAxis}, sequence_lens [${lens}]${k === 3 ? ' fed at run time' : ''}`, async () => {
      await expectGrads({
        build: (b, dt) => b.op('ReverseSequence', [b.input('x', dt, d), k === 3 ? b.input('l', I64, [B]) : b.init('l', I64, [B], lens)], { batch_axis: batchAxis, time_axis: timeAxis }),
        inputs: { x: { dims: d }, ...(k === 3 ? { l: { dims: [B], type: 'int64' as const, data: lens } } : {}) },
      });
    });
  }
});

// onnxruntime's MaxUnpool is float-only, so these run in float32. MaxUnpool is linear in X,
// so as for Resize a large step (0.25) keeps float32 rounding of the loss small, and
// atol/rtol 1e-4 still catch a misplaced offset. Shape inference has no MaxUnpool rule, so
// the outputs are typed here (as an exporter's value_info would type them).
describe('MaxUnpool (float32)', () => {
  const unpool = (b: GraphBuilder, inputs: Value[], attrs: Record<string, number[]>, outDims: number[]): Value => {
    const y = b.op('MaxUnpool', inputs, attrs);
    y.type = tensorType(F32, outDims);
    return y;
  };
  const int = ints(8128);
  const F = { dtype: 'float32' as const, h: 0.25, atol: 1e-4, rtol: 1e-4 };
  /** Offsets of one element per 2×2 window, over the whole flattened [N, C, H, W] output (N and C included). */
  const windowOffsets = (nc: number, h: number, w: number, H: number, W: number): number[] => {
    const out: number[] = [];
    for (let p = 0; p < nc; p++) for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) out.push(p * H * W + (2 * i + int(0, 1)) * W + 2 * j + int(0, 1));
    return out;
  };

  it('kernel 2, stride 2, offsets across N and C fed at run time, with and without output_shape', async () => {
    const [n, c, h, w] = [2, int(1, 3), int(1, 3), int(2, 3)];
    for (const outputShape of [null, [n, c, 2 * h + 1, 2 * w + 1]]) {
      const [H, W] = outputShape ? [2 * h + 1, 2 * w + 1] : [2 * h, 2 * w];
      const offsets = windowOffsets(n * c, h, w, H, W);
      await expectGrads({
        ...F,
        build: (b) => {
          const inputs = [b.input('x', F32, [n, c, h, w]), b.input('i', I64, [n, c, h, w])];
          // An absent output_shape is left out: onnxruntime 1.30 reads an empty third input as given.
          if (outputShape) inputs.push(b.init('s', I64, [4], outputShape));
          return unpool(b, inputs, { kernel_shape: [2, 2], strides: [2, 2] }, outputShape ?? [n, c, 2 * h, 2 * w]);
        },
        inputs: { x: { dims: [n, c, h, w] }, i: { dims: [n, c, h, w], type: 'int64', data: offsets } },
      });
    }
  });

  it('repeated offsets (the last one written stays) and constant distinct offsets (no mask), 1-D', async () => {
    const data = Array.from({ length: 2 * 3 * 4 }, () => int(0, 2 * 3 * 8 - 1));
    data[5] = data[2]!;
    await expectGrads({
      ...F,
      build: (b) => unpool(b, [b.input('x', F32, [2, 3, 4]), b.input('i', I64, [2, 3, 4])], { kernel_shape: [2], strides: [2] }, [2, 3, 8]),
      inputs: { x: { dims: [2, 3, 4] }, i: { dims: [2, 3, 4], type: 'int64', data } },
    });
    const r = await expectGrads({
      ...F,
      build: (b) => unpool(b, [b.input('x', F32, [1, 2, 3]), b.init('i', I64, [1, 2, 3], [0, 3, 5, 6, 9, 10])], { kernel_shape: [2], strides: [2] }, [1, 2, 6]),
      inputs: { x: { dims: [1, 2, 3] } },
    });
    expect(opTypes(r)).not.toContain('Range');
  });

  it('after MaxPool with overlapping windows (kernel 3, stride 1 and 2: shared maxima), w.r.t. the pool input', async () => {
    // Distinct values 2/n apart and a step of 1e-3 keep every window's maximum in place.
    for (const stride of [1, 2]) {
      const d = [1, 2, 5, 5];
      const n = count(d);
      const v = Array.from({ length: n }, (_, i) => -1 + (2 * i + 1) / n);
      for (let i = n - 1; i > 0; i--) {
        const j = int(0, i);
        [v[i], v[j]] = [v[j]!, v[i]!];
      }
      await expectGrads({
        dtype: 'float32',
        h: 1e-3,
        build: (b) => {
          const [y, idx] = b.opMulti('MaxPool', [b.input('x', F32, d)], 2, { kernel_shape: [3, 3], strides: [stride, stride] });
          return unpool(b, [y!, idx!, b.init('s', I64, [4], d)], { kernel_shape: [3, 3], strides: [stride, stride] }, d);
        },
        inputs: { x: { dims: d, data: v } },
      });
    }
  });
});

describe('Compress (float64)', () => {
  const int = ints(6174);
  it('along an axis, the condition shorter than the axis', async () => {
    for (let k = 0; k < 3; k++) {
      const rank = int(1, 3);
      const d = Array.from({ length: rank }, () => int(2, 5));
      const axis = int(-rank, rank - 1);
      const len = int(1, d[axis < 0 ? axis + rank : axis]!);
      const cond = Array.from({ length: len }, () => int(0, 1));
      cond[len - 1] = 1;
      await expectGrads({
        build: (b, dt) => b.op('Compress', [b.input('x', dt, d), b.init('c', DataType.BOOL, [len], cond)], { axis }),
        inputs: { x: { dims: d } },
      });
    }
  });

  it('without an axis (x flattened), the condition computed at run time', async () => {
    const d = [int(2, 3), int(2, 4)];
    const cond = Array.from({ length: count(d) - 1 }, () => int(0, 1));
    // Kept elements that are not a prefix: the first dropped, the last of the condition kept.
    cond[0] = 0;
    cond[cond.length - 1] = 1;
    await expectGrads({
      build: (b, dt) => b.op('Compress', [b.input('x', dt, d), b.op('Cast', [b.input('c', I64, [cond.length])], { to: DataType.BOOL })]),
      inputs: { x: { dims: d }, c: { dims: [cond.length], type: 'int64', data: cond } },
    });
  });

  it('a condition selecting nothing gives a zero gradient', async () => {
    const r = await gradCheck({
      build: (b, dt) => b.op('Concat', [b.op('Compress', [b.input('x', dt, [3, 2]), b.init('c', DataType.BOOL, [2], [0, 0])], { axis: 0 }), b.input('z', dt, [1, 2])], { axis: 0 }),
      inputs: { x: { dims: [3, 2] }, z: { dims: [1, 2] } },
    });
    expect(r.ok, describeFailures(r)).toBe(true);
    expect(Array.from(r.grads.x!)).toEqual([0, 0, 0, 0, 0, 0]);
  });
});

describe('symbolic shapes: scatters (dynamic paths)', () => {
  it('ScatterND and ScatterElements with repeated run-time indices (last-writer masks), Compress along an axis', async () => {
    const D = DataType.DOUBLE;
    await expectDynamicMatchesStatic({
      build: (b, d) => {
        const s = b.op('ScatterND', [b.input('x', D, d.x!), b.input('i', I64, d.i!), b.input('u', D, d.u!)]);
        const c = b.op('Compress', [s, b.init('c', DataType.BOOL, [4], [1, 0, 1, 1])], { axis: 1 });
        return b.op('ScatterElements', [c, b.input('j', I64, d.j!), b.input('v', D, d.v!)], { axis: 0 });
      },
      inputs: {
        x: { dims: [3, 4], symbolic: ['N', 4] },
        i: { dims: [3, 1], symbolic: ['K', 1], int64: [2, 0, 2] },
        u: { dims: [3, 4], symbolic: ['K', 4] },
        j: { dims: [2, 3], symbolic: ['M', 3], int64: [0, -1, 1, 2, 2, 0] },
        v: { dims: [2, 3], symbolic: ['M', 3] },
      },
      wrt: ['x', 'u', 'v'],
    });
  });
});
