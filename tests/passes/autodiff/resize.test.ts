// Gradient rule for Resize, checked against central finite differences in float32 (onnxruntime
// CPU has no double kernel for Resize; see there for the tolerances).

import { describe, expect, it } from 'vitest';
import { attr, GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import type { Value } from '../../../src/ir/graph.js';
import { autodiffError, expectGrads } from './rule-checks.js';

const I64 = DataType.INT64;
const F32 = DataType.FLOAT;

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
