// The gradient rule for Resize: per axis, the forward as a constant interpolation matrix A
// (following the op's coordinate formulas: exact for every mode, including nearest rounding and
// edge clamping), and the gradient one MatMul by Aᵀ; sizes known only at run time through the
// positions read.

import { attr } from '../../../ir/builder.js';
import { DataType } from '../../../ir/dtype.js';
import type { Value } from '../../../ir/graph.js';
import { staticShape } from '../builder.js';
import type { GradContext, GradRuleTable } from '../rule.js';
import { dimPart, identityOfAxis, range, SHAPE_HINT } from './util.js';
import { rankOf, normAxis, addAt, requireKnown, reshapeTo, floatDtype, structureKnown, adjointAlongAxis } from './tensor-util.js';

// ---- Resize: the 1-D interpolation matrices, following the op's coordinate formulas ----

interface ResizeAxis {
  inLen: number;
  outLen: number;
  /** The axis scale as a float32 (the way onnxruntime holds it). */
  scale: number;
  roiStart: number;
  roiEnd: number;
}

interface ResizeParams {
  mode: string;
  coordMode: string;
  nearestMode: string;
  cubicA: number;
  excludeOutside: boolean;
}

const f32 = Math.fround;

/** std::round: halves away from zero. */
function roundHalfAway(x: number): number {
  return x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5);
}

/** The input coordinate of output index `i` (float32 arithmetic, as onnxruntime computes it). */
function originalCoordinate(p: ResizeParams, ax: ResizeAxis, i: number): number {
  const { scale, inLen, outLen, roiStart: r0, roiEnd: r1 } = ax;
  switch (p.coordMode) {
    case 'asymmetric':
      return f32(i / scale);
    case 'pytorch_half_pixel':
      return outLen > 1 ? f32(f32(f32(i + 0.5) / scale) - 0.5) : 0;
    case 'tf_half_pixel_for_nn':
      return f32(f32(i + 0.5) / scale);
    case 'align_corners':
      return outLen === 1 ? 0 : f32(f32(i * (inLen - 1)) / (outLen - 1));
    case 'tf_crop_and_resize':
      return outLen > 1 ? f32(f32(r0 * (inLen - 1)) + f32(f32(f32(i * f32(r1 - r0)) * (inLen - 1)) / (outLen - 1))) : f32(0.5 * f32(r0 + r1) * (inLen - 1));
    case 'half_pixel_symmetric': {
      const outWidth = f32(scale * inLen);
      const adjustment = f32(outLen / outWidth);
      const center = f32(inLen / 2);
      const offset = f32(center * f32(1 - adjustment));
      return f32(offset + (i + 0.5) / scale - 0.5);
    }
    default: // half_pixel
      return f32(f32(f32(i + 0.5) / scale) - 0.5);
  }
}

function nearestIndex(mode: string, x: number): number {
  switch (mode) {
    case 'round_prefer_ceil':
      return roundHalfAway(x);
    case 'floor':
      return Math.floor(x);
    case 'ceil':
      return Math.ceil(x);
    default: // round_prefer_floor
      return x === Math.trunc(x) + 0.5 ? Math.floor(x) : roundHalfAway(x);
  }
}

function cubicCoefficients(s: number, a: number): number[] {
  const t = Math.abs(s);
  return [
    ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a,
    ((a + 2) * t - (a + 3)) * t * t + 1,
    ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1,
    ((a * (2 - t) - 5 * a) * (2 - t) + 8 * a) * (2 - t) - 4 * a,
  ];
}

/** A (outLen × inLen) with y = A·x along one resized axis. */
function resizeMatrix(p: ResizeParams, ax: ResizeAxis): Float64Array {
  const { inLen, outLen } = ax;
  const a = new Float64Array(outLen * inLen);
  const clampIdx = (k: number): number => Math.min(Math.max(k, 0), inLen - 1);
  const extrapolates = p.coordMode === 'tf_crop_and_resize';
  for (let i = 0; i < outLen; i++) {
    const row = i * inLen;
    const orig = originalCoordinate(p, ax, i);
    if (extrapolates && (orig < 0 || orig > inLen - 1)) continue; // extrapolation_value: no dependence on x
    if (p.mode === 'nearest') {
      a[row + clampIdx(nearestIndex(p.nearestMode, orig))] = 1;
    } else if (p.mode === 'linear') {
      const v = Math.min(Math.max(orig, 0), inLen - 1);
      const i1 = Math.min(Math.trunc(v), inLen - 1);
      const i2 = Math.min(i1 + 1, inLen - 1);
      if (i1 === i2) a[row + i1] = 1;
      else {
        addAt(a, row + i1, f32(Math.abs(v - i2)));
        addAt(a, row + i2, f32(Math.abs(v - i1)));
      }
    } else {
      const base = Math.floor(orig);
      const coeffs = cubicCoefficients(f32(orig - base), p.cubicA);
      let sum = 1;
      if (p.excludeOutside) {
        sum = 0;
        for (let j = 0; j < 4; j++) {
          const k = base - 1 + j;
          if (k < 0 || k >= inLen) coeffs[j] = 0;
          sum += coeffs[j]!;
        }
      }
      for (let j = 0; j < 4; j++) addAt(a, row + clampIdx(base - 1 + j), coeffs[j]! / sum);
    }
  }
  return a;
}

/**
 * Resize's adjoint when its scales, sizes or roi are only known at run time. Resize is linear
 * and separable: along each resized axis a it multiplies by an (out × in) matrix A_a, and
 * the same Resize applied to an in × in identity along its first axis alone (scale, size and
 * roi of axis a; scale 1 and the whole range on the second) gives A_a at run time. dy is
 * then contracted with it axis by axis. Every listed axis is treated as resized (a scale of 1
 * gives an identity). keep_aspect_ratio_policy other than 'stretch' shares one scale across
 * axes, which this per-axis form does not reproduce: a coded error.
 */
function resizeAdjointAtRunTime(c: GradContext): Value {
  const b = c.b;
  const n = c.node;
  const x = c.x(0);
  const dtype = floatDtype(c, x);
  const rank = rankOf(c, x);
  const I64 = DataType.INT64;
  const axesAttr = n.attrInts('axes');
  const axes = axesAttr ? axesAttr.map((a) => normAxis(c, a, rank)) : range(0, rank);
  const scales = c.xOpt(2);
  const sizes = scales ? null : c.xOpt(3);
  if (!scales && !sizes) throw c.fail('it has neither scales nor sizes');
  if (sizes && n.attrString('keep_aspect_ratio_policy', 'stretch') !== 'stretch') {
    throw c.fail(`keep_aspect_ratio_policy '${n.attrString('keep_aspect_ratio_policy', 'stretch')}' with sizes only known at run time has no gradient rule`, 'make the sizes a constant');
  }
  const coord = n.attrString('coordinate_transformation_mode', 'half_pixel');
  const roi = coord === 'tf_crop_and_resize' ? c.xOpt(1) : null;
  const attrs = Object.fromEntries([...n.attributes.values()].filter((a) => a.name !== 'axes' && a.name !== 'keep_aspect_ratio_policy').map((a) => [a.name, a] as const));
  attrs['extrapolation_value'] = attr.float('extrapolation_value', 0); // outside the crop, no dependence on x
  let g = c.dyOrZeros(0);
  const roiType = roi?.dtype ?? DataType.FLOAT;
  const along = (v: Value, k: number, type: DataType): Value => b.op('Gather', [v, b.ints([k])], { axis: 0 }, { dtype: type, shape: [1] });
  axes.forEach((a, k) => {
    // Resizing the identity along its first axis alone gives A_a (out × in) itself.
    const part = dimPart(b, x, a);
    const d = typeof part === 'number' ? b.ints([part]) : part;
    const firstOnly = (first: Value, rest: Value, type: DataType): Value => b.op('Concat', [first, rest], { axis: 0 }, { dtype: type, shape: [2] });
    const roi2 = roi ? b.op('Concat', [along(roi, k, roiType), b.constant(roiType, [1], [0]), along(roi, k + axes.length, roiType), b.constant(roiType, [1], [1])], { axis: 0 }, { dtype: roiType, shape: [4] }) : null;
    const spec = scales ? [firstOnly(along(scales, k, DataType.FLOAT), b.constant(DataType.FLOAT, [1], [1]), DataType.FLOAT), null] : [null, firstOnly(along(sizes!, k, I64), d, I64)];
    const matrix = b.op('Resize', [identityOfAxis(b, x, a, dtype), roi2, ...spec], attrs, { dtype, shape: [null, null] });
    const perm = range(0, rank);
    perm[a] = rank - 1;
    perm[rank - 1] = a;
    const moved = a === rank - 1 ? g : b.transpose(g, perm);
    const contracted = b.op('MatMul', [moved, matrix], {}, { dtype, shape: null });
    g = a === rank - 1 ? contracted : b.transpose(contracted, perm, { dtype, shape: null });
  });
  return reshapeTo(c, g, x);
}

/** The per-axis resize parameters of a Resize node (static shapes, constant scales/sizes/roi). */
function resizeAxes(c: GradContext, inShape: number[], outShape: number[]): ResizeAxis[] {
  const n = c.node;
  const rank = inShape.length;
  const axesAttr = n.attrInts('axes');
  const axes = axesAttr ? axesAttr.map((a) => normAxis(c, a, rank)) : range(0, rank);
  const scales = new Array<number>(rank).fill(1);
  const scalesIn = requireKnown(c, 2, 'scales');
  const roi = c.xOpt(1) && n.attrString('coordinate_transformation_mode', 'half_pixel') === 'tf_crop_and_resize' ? requireKnown(c, 1, 'roi') : null;
  if (scalesIn && scalesIn.length > 0) {
    if (scalesIn.length !== axes.length) throw c.fail(`it has ${scalesIn.length} scales for ${axes.length} axes`);
    axes.forEach((a, i) => (scales[a] = f32(scalesIn[i]!)));
  } else {
    const sizes = requireKnown(c, 3, 'sizes');
    if (!sizes || sizes.length !== axes.length) throw c.fail('it has neither scales nor sizes for every resized axis');
    axes.forEach((a, i) => (scales[a] = inShape[a] === 0 ? 1 : f32(f32(sizes[i]!) / f32(inShape[a]!))));
    const policy = n.attrString('keep_aspect_ratio_policy', 'stretch');
    if (policy !== 'stretch') {
      const pick = policy === 'not_larger' ? Math.min : Math.max;
      const s = axes.map((a) => scales[a]!).reduce((x, y) => pick(x, y));
      for (const a of axes) scales[a] = s;
    }
  }
  return range(0, rank).map((a) => {
    const k = axes.indexOf(a);
    const r0 = roi && k >= 0 ? f32(roi[k]!) : 0;
    const r1 = roi && k >= 0 ? f32(roi[k + axes.length]!) : 1;
    return { inLen: inShape[a]!, outLen: outShape[a]!, scale: scales[a]!, roiStart: r0, roiEnd: r1 };
  });
}

export const RESIZE_RULES: GradRuleTable = {
  Resize: {
    differentiable: [0],
    grad(c) {
      const n = c.node;
      const x = c.x(0);
      const y = c.y(0);
      const dtype = floatDtype(c, x);
      const p: ResizeParams = {
        mode: n.attrString('mode', 'nearest'),
        coordMode: n.attrString('coordinate_transformation_mode', 'half_pixel'),
        nearestMode: n.attrString('nearest_mode', 'round_prefer_floor'),
        cubicA: n.attrFloat('cubic_coeff_a', -0.75),
        excludeOutside: n.attrInt('exclude_outside', 0) !== 0,
      };
      if (p.mode !== 'nearest' && p.mode !== 'linear' && p.mode !== 'cubic') throw c.fail(`mode '${p.mode}' is unknown`);
      if (n.attrInt('antialias', 0) !== 0) throw c.fail('antialias=1 has no gradient rule', 'export the model with antialias=0');
      if (!structureKnown(n, 1)) {
        c.setGrad(0, resizeAdjointAtRunTime(c));
        return;
      }
      const inShape = staticShape(x);
      const outShape = staticShape(y);
      if (!inShape || !outShape) throw c.fail('the gradient of Resize needs static input and output shapes', SHAPE_HINT);
      const axes = resizeAxes(c, inShape, outShape);
      const rank = inShape.length;
      let g = c.dyOrZeros(0);
      for (let a = 0; a < rank; a++) {
        const ax = axes[a]!;
        // onnxruntime maps an axis with scale 1 one-to-one, whatever the coordinate mode.
        if (ax.scale === 1 && ax.inLen === ax.outLen) continue;
        if (ax.inLen === 0 || ax.outLen === 0) continue;
        g = adjointAlongAxis(c.b, g, a, rank, resizeMatrix(p, ax), ax.outLen, ax.inLen, dtype);
      }
      c.setGrad(0, g);
    },
  },

};
