// Gradient rules for reshapes, transposes, concat/split, ReverseSequence, expand/tile and the
// depth/space rearrangements, checked against central finite differences in float64 on seeded
// random shapes and attribute variations; with symbolic shapes (no input shapes given) the
// gradients must equal the static ones.

import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import type { Value } from '../../../src/ir/graph.js';
import { expectDynamicMatchesStatic, expectGrads, ints, seededDraws } from './rule-checks.js';

const { dimsOf } = seededDraws(90210);
const I64 = DataType.INT64;

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
});
