// Gradient rule for GridSample, checked against central finite differences through
// onnxruntime and, for X's gradient, exactly against the reading pattern.

import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import { modelToBytes } from '../../../src/ir/serde/io.js';
import { assertValid } from '../../../src/ir/verify.js';
import { differentiate } from '../../../src/passes/autodiff/index.js';
import { describeFailures, type GradCheckCase, gradCheck, differentiateError } from './gradcheck.js';
import { type Attrs, mixedRandom, numel } from './window-helpers.js';

// ---------------------------------------------------------------- GridSample

// GridSample's value is piecewise polynomial in the grid, with breaks where a coordinate
// unnormalized to pixel units crosses an integer (linear, cubic: the taps change) or a
// half-integer (nearest: the rounding changes). The grids below are built in pixel units,
// every coordinate an integer plus a fraction in [0.15, 0.85] (nearest: in ±[0, 0.35]), so a
// difference step never crosses a break; the integer lies in [−2, S] (inside, and just
// outside on both sides) or, for reflection, in [−S−1, 2S] (reflected up to twice).
// onnxruntime runs GridSample in double only from opset 20 (4-D and 5-D; cubic 4-D only):
// those checks are float64 with gradCheck's defaults. Opset 16 runs in float32 only: there the
// step is 3e-3 in normalized units (≤ 0.01 pixels, well inside the breaks' margin) and the
// observed errors stay below 5% of atol = rtol = 2e-3 (float32 rounding of the loss, and the
// cubic's truncation error). The X gradient is also compared exactly with gridSampleTaps,
// grids on the breaks included.

type GridMode = 'linear' | 'cubic' | 'nearest';
type GridPadding = 'zeros' | 'border' | 'reflection';
const GRID_PADDINGS: GridPadding[] = ['zeros', 'border', 'reflection'];

/** A grid [N, O…, r] whose coordinates sit away from the breaks of `mode` (see above). */
function designedGrid(seed: number, xDims: number[], gridDims: number[], mode: GridMode, padding: GridPadding, alignCorners: boolean): number[] {
  const rnd = mixedRandom(seed);
  const sp = xDims.slice(2);
  const r = sp.length;
  return Array.from({ length: numel(gridDims) }, (_, i) => {
    const size = sp[r - 1 - (i % r)]!; // component 0 is the last spatial axis
    const whole = padding === 'reflection' ? -size - 1 + Math.floor(rnd() * (3 * size + 2)) : -2 + Math.floor(rnd() * (size + 3));
    const frac = mode === 'nearest' ? (rnd() * 2 - 1) * 0.35 : 0.15 + 0.7 * rnd();
    const u = whole + frac;
    return alignCorners ? (2 * u) / (size - 1) - 1 : (2 * u + 1) / size - 1;
  });
}

/**
 * The reading pattern of GridSample as onnxruntime 1.30 computes it, written independently of
 * the rule: for each batch entry and output position, the (pixel offset, weight) pairs with
 * y[n, c, o] = Σ weight · x[n, c, offset]. Padding acts on each tap's pixel index, never on
 * the coordinate.
 */
function gridSampleTaps(xDims: number[], grid: number[], gridDims: number[], mode: GridMode, padding: GridPadding, alignCorners: boolean): { offset: number; weight: number }[][] {
  const sp = xDims.slice(2);
  const r = sp.length;
  const positions = numel(gridDims.slice(0, -1));
  const A = -0.75;
  const kernel = (s: number): number => {
    const d = Math.abs(s);
    if (d <= 1) return ((A + 2) * d - (A + 3)) * d * d + 1;
    if (d < 2) return ((A * d - 5 * A) * d + 8 * A) * d - 4 * A;
    return 0;
  };
  const roundHalfEven = (v: number): number => {
    const fl = Math.floor(v);
    const diff = v - fl;
    return diff > 0.5 || (diff === 0.5 && fl % 2 !== 0) ? fl + 1 : fl;
  };
  const pixel = (i: number, size: number): number | null => {
    if (padding === 'zeros') return i >= 0 && i < size ? i : null;
    if (padding === 'border' || size === 1) return Math.min(Math.max(i, 0), size - 1);
    // Mirror about the edges (pixel centres with align_corners, pixel borders without) until inside.
    const lo = alignCorners ? 0 : -0.5;
    const hi = alignCorners ? size - 1 : size - 0.5;
    let v = i;
    while (v < lo || v > hi) v = v < lo ? 2 * lo - v : 2 * hi - v;
    return Math.trunc(v);
  };
  const out: { offset: number; weight: number }[][] = [];
  for (let p = 0; p < positions; p++) {
    let combos = [{ offset: 0, weight: 1 }];
    for (let a = 0; a < r; a++) {
      const size = sp[a]!;
      const g = grid[p * r + (r - 1 - a)]!;
      const u = alignCorners ? ((g + 1) / 2) * (size - 1) : ((g + 1) * size - 1) / 2;
      let taps: { i: number; w: number }[];
      if (mode === 'nearest') taps = [{ i: roundHalfEven(u), w: 1 }];
      else if (mode === 'linear') taps = [0, 1].map((k) => ({ i: Math.floor(u) + k, w: 1 - Math.abs(u - Math.floor(u) - k) }));
      else taps = [-1, 0, 1, 2].map((k) => ({ i: Math.floor(u) + k, w: kernel(u - Math.floor(u) - k) }));
      const stride = numel(sp.slice(a + 1));
      combos = combos.flatMap((cmb) =>
        taps.flatMap((t) => {
          const i = pixel(t.i, size);
          return i === null ? [] : [{ offset: cmb.offset + i * stride, weight: cmb.weight * t.w }];
        }),
      );
    }
    out.push(combos);
  }
  return out;
}

interface GridSampleSpec {
  x: number[];
  grid: number[];
  mode: GridMode;
  padding: GridPadding;
  alignCorners: boolean;
  opset: number;
}

const gridLabel = (s: GridSampleSpec): string => `${s.mode} ${s.padding} align_corners=${Number(s.alignCorners)} x[${s.x}] grid[${s.grid}] opset ${s.opset}`;
const gridModeName = (s: GridSampleSpec): string => (s.opset >= 20 || s.mode === 'nearest' ? s.mode : s.mode === 'linear' ? 'bilinear' : 'bicubic');
const gridAttrs = (s: GridSampleSpec): Attrs => ({ mode: gridModeName(s), padding_mode: s.padding, align_corners: Number(s.alignCorners) });

function gridSampleCase(s: GridSampleSpec, seed: number): GradCheckCase {
  const float32 = s.opset < 20;
  return {
    build: (b, dt) => b.op('GridSample', [b.input('x', dt, s.x), b.input('grid', dt, s.grid)], gridAttrs(s)),
    inputs: { x: { dims: s.x }, grid: { dims: s.grid, data: designedGrid(seed, s.x, s.grid, s.mode, s.padding, s.alignCorners) } },
    opset: s.opset,
    seed,
    ...(float32 ? { dtype: 'float32', h: 3e-3, atol: 2e-3, rtol: 2e-3 } : {}),
  };
}

async function expectGridSampleGrad(s: GridSampleSpec, seed: number): Promise<void> {
  const r = await gradCheck(gridSampleCase(s, seed));
  expect(r.ok, describeFailures(r)).toBe(true);
  const largest = (wrt: string): number => Math.max(...r.checks.filter((x) => x.wrt === wrt).map((x) => Math.abs(x.analytic)));
  expect(largest('x')).toBeGreaterThan(0.05);
  if (s.mode === 'nearest') expect(r.grads.grid!.every((v) => v === 0)).toBe(true);
  else expect(largest('grid')).toBeGreaterThan(0.05);
}

const gridCombos = (modes: GridMode[], x: number[], grid: number[], opset: number): GridSampleSpec[] =>
  modes.flatMap((mode) => GRID_PADDINGS.flatMap((padding) => [false, true].map((alignCorners) => ({ x, grid, mode, padding, alignCorners, opset }))));

describe('GridSample gradient, 4-D, opset 20 (float64)', () => {
  const cases = gridCombos(['linear', 'cubic', 'nearest'], [2, 3, 4, 5], [2, 3, 4, 2], 20);
  it.each(cases.map((s, i) => [gridLabel(s), s, i] as const))('%s', async (_, s, i) => {
    await expectGridSampleGrad(s, 900 + i);
  });
});

describe('GridSample gradient, 5-D, opset 20 (float64)', () => {
  const cases = gridCombos(['linear', 'nearest'], [1, 2, 3, 4, 5], [1, 2, 3, 2, 3], 20);
  it.each(cases.map((s, i) => [gridLabel(s), s, i] as const))('%s', async (_, s, i) => {
    await expectGridSampleGrad(s, 950 + i);
  });
});

describe('GridSample gradient, opset 16 (float32; bilinear/bicubic)', () => {
  const cases = gridCombos(['linear', 'cubic', 'nearest'], [2, 2, 5, 4], [2, 3, 3, 2], 16);
  it.each(cases.map((s, i) => [gridLabel(s), s, i] as const))('%s', async (_, s, i) => {
    await expectGridSampleGrad(s, 980 + i);
  });
});

/**
 * dX exactly against gridSampleTaps (whose forward is first checked against onnxruntime's),
 * on grids that hit pixel centres, half-pixels and the image edges exactly (the breaks,
 * where X's gradient is still well defined) as well as random points; with a batch size
 * known only at run time.
 */
describe('GridSample X gradient against the reading pattern (float64, exact)', () => {
  const specs = [...gridCombos(['linear', 'cubic', 'nearest'], [2, 2, 4, 5], [2, 3, 5, 2], 20), ...gridCombos(['linear', 'nearest'], [2, 1, 3, 2, 4], [2, 2, 3, 4, 3], 20)];
  it.each(specs.map((s, i) => [gridLabel(s), s, i] as const))('%s', async (_, s, i) => {
    const rnd = mixedRandom(1200 + i);
    const sp = s.x.slice(2);
    const r = sp.length;
    // Every other coordinate on a break: an integer or a half-integer in pixel units, some outside.
    const grid = Array.from({ length: numel(s.grid) }, (_, k) => {
      const size = sp[r - 1 - (k % r)]!;
      const [lo, hi] = s.padding === 'reflection' ? [-size - 1, 2 * size] : [-2, size + 1];
      const u = k % 2 === 0 ? lo + Math.floor(rnd() * (hi - lo) * 2) / 2 : lo + rnd() * (hi - lo);
      return s.alignCorners ? (2 * u) / (size - 1) - 1 : (2 * u + 1) / size - 1;
    });
    const xs = Array.from({ length: numel(s.x) }, () => rnd() * 2 - 1);
    const b = new GraphBuilder('gridsample');
    const y = b.op('GridSample', [b.input('x', DataType.DOUBLE, ['n', ...s.x.slice(1)]), b.input('grid', DataType.DOUBLE, ['n', ...s.grid.slice(1)])], gridAttrs(s), { outputNames: ['y'] });
    b.output(y);
    const model = b.model({ opset: s.opset });
    differentiate(model, { wrt: ['x'], seeds: { y: 'dY' } });
    assertValid(model);
    const yDims = [s.x[0]!, s.x[1]!, ...s.grid.slice(1, -1)];
    const dys = Array.from({ length: numel(yDims) }, () => rnd() * 2 - 1);
    const sess = await ort.InferenceSession.create(modelToBytes(model));
    const t = (data: number[], dims: number[]) => new ort.Tensor('float64', Float64Array.from(data), dims);
    const out = await sess.run({ x: t(xs, s.x), grid: t(grid, s.grid), dY: t(dys, yDims) });
    await sess.release();

    const [N, C] = s.x as [number, number];
    const P = numel(sp);
    const Q = numel(s.grid.slice(1, -1));
    const taps = gridSampleTaps(s.x, grid, s.grid, s.mode, s.padding, s.alignCorners);
    const yRef = new Float64Array(N * C * Q);
    const dxRef = new Float64Array(N * C * P);
    for (let n = 0; n < N; n++)
      for (let q = 0; q < Q; q++)
        for (const { offset, weight } of taps[n * Q + q]!)
          for (let ch = 0; ch < C; ch++) {
            const [yi, xi] = [(n * C + ch) * Q + q, (n * C + ch) * P + offset];
            yRef[yi] = yRef[yi]! + weight * xs[xi]!;
            dxRef[xi] = dxRef[xi]! + weight * dys[yi]!;
          }
    const yOrt = out.y!.data as Float64Array;
    yRef.forEach((v, k) => expect(Math.abs(v - yOrt[k]!), `y[${k}]`).toBeLessThan(1e-12));
    const dx = out['grad:x']!.data as Float64Array;
    dxRef.forEach((v, k) => expect(Math.abs(v - dx[k]!), `dx[${k}]: ${dx[k]} vs ${v}`).toBeLessThan(1e-12));
    expect(Math.max(...dxRef.map(Math.abs))).toBeGreaterThan(0.05);
  });
});

describe('GridSample gradient: coded errors', () => {
  it('needs the static spatial shape of X', () => {
    const b = new GraphBuilder('t');
    const y = b.op('GridSample', [b.input('x', DataType.FLOAT, [1, 2, 'h', 'w']), b.input('grid', DataType.FLOAT, [1, 3, 3, 2])], { mode: 'bilinear' });
    b.output(b.op('ReduceSum', [y], { keepdims: 0 }, { outputNames: ['loss'] }));
    const err = differentiateError(b.model({ opset: 16 }), { wrt: ['x'], loss: 'loss' });
    expect(err.code).toBe('E_AUTODIFF');
    expect(err.message).toContain('static spatial shape');
  });
});
