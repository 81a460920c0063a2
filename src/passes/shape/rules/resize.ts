// Shape rules of Resize and Upsample: output dims from scales (onnxruntime's float32
// arithmetic) or sizes, symbolic where the input's are.

import type { Dim } from '../../../ir/graph.js';
import type { ShapeRule } from '../context.js';
import { isStaticShape, mulDim } from '../dims.js';
import { elemsAsDims, normAxes, out, unknownDims } from './util.js';

/** Output dim of Resize/Upsample for a float scale (onnxruntime: float32 product, truncated). */
function scaleDim(d: Dim, scale: number): Dim {
  if (typeof d === 'number') return Math.trunc(Math.fround(Math.fround(scale) * Math.fround(d)));
  if (scale === 1) return d;
  if (Number.isInteger(scale) && scale > 0) return mulDim(d, scale);
  return null;
}

const resize: ShapeRule = (c) => {
  const xs = c.shape(0);
  const dtype = c.dtype(0);
  if (!xs) return [out(dtype, null)];
  const r = xs.length;
  const scalesIdx = c.opset >= 11 ? 2 : 1;
  const sizesIdx = c.opset >= 11 ? 3 : -1;
  const axes = c.opset >= 18 && c.attrInts('axes') ? normAxes(c, c.attrInts('axes')!, r) : xs.map((_, i) => i);
  const present = (i: number): boolean => {
    if (i < 0 || !c.has(i)) return false;
    const s = c.shape(i);
    // an empty tensor stands for "not given"
    return !(s && s.length === 1 && s[0] === 0);
  };
  const shape: Dim[] = [...xs];
  if (present(sizesIdx)) {
    const e = c.elems(sizesIdx);
    if (!e) {
      for (const a of axes) shape[a] = null;
      return [out(dtype, shape)];
    }
    if (e.length !== axes.length) c.fail(`sizes has ${e.length} entries for ${axes.length} axes`);
    // sizes computed from Shape may be symbolic ('2*H')
    const sizes = elemsAsDims(e);
    const policy = c.opset >= 18 ? c.attrStr('keep_aspect_ratio_policy', 'stretch') : 'stretch';
    if (policy === 'stretch') axes.forEach((a, i) => (shape[a] = sizes[i]!));
    else {
      const ins = axes.map((a) => xs[a]!);
      if (!ins.every((d): d is number => typeof d === 'number' && d > 0) || !isStaticShape(sizes)) {
        for (const a of axes) shape[a] = null;
      } else {
        const ratios = sizes.map((s, i) => s / ins[i]!);
        const scale = policy === 'not_larger' ? Math.min(...ratios) : Math.max(...ratios);
        axes.forEach((a, i) => (shape[a] = Math.round(scale * ins[i]!)));
      }
    }
    return [out(dtype, shape)];
  }
  if (present(scalesIdx)) {
    const scales = c.numbers(scalesIdx);
    if (!scales) {
      for (const a of axes) shape[a] = null;
      return [out(dtype, shape)];
    }
    if (scales.length !== axes.length) c.fail(`scales has ${scales.length} entries for ${axes.length} axes`);
    axes.forEach((a, i) => (shape[a] = scaleDim(xs[a]!, scales[i]!)));
    return [out(dtype, shape)];
  }
  return c.fail('Resize needs scales or sizes');
};

const upsample: ShapeRule = (c) => {
  const xs = c.shape(0);
  const dtype = c.dtype(0);
  if (!xs) return [out(dtype, null)];
  const scales = c.opset >= 9 ? c.numbers(1) : (c.attrFloats('scales') ?? null);
  if (!scales) return [out(dtype, unknownDims(xs.length))];
  if (scales.length !== xs.length) c.fail(`scales has ${scales.length} entries for rank ${xs.length}`);
  return [out(dtype, xs.map((d, i) => scaleDim(d, scales[i]!)))];
};

export const RESIZE_RULES: Record<string, ShapeRule> = {
  Resize: resize,
  Upsample: upsample,
};
