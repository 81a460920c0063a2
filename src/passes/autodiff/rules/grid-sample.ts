// The gradient rule for GridSample: GatherND of X at the taps of every output point for the
// grid's gradient, and a scatter-add (ScatterND) of dy times the tap weights for X's.

import type { AttrInput } from '../../../ir/builder.js';
import { DataType } from '../../../ir/dtype.js';
import type { Value } from '../../../ir/graph.js';
import { infoOf } from '../builder.js';
import type { GradRule, GradRuleTable } from '../rule.js';
import { range, dimPart, shapeFromParts } from './util.js';
import { staticSpatial } from './window-geometry.js';

/** Keys' cubic convolution constant, as GridSample's spec and onnxruntime use it. */
const CUBIC_A = -0.75;

/**
 * The taps of one spatial axis: tap k reads pixel floor(u) + first + k with a weight that is
 * a polynomial in the fraction t = u − floor(u); poly[d][k] is the coefficient of t^d in tap
 * k's weight. Linear: 1 − t, t. Cubic: Keys' kernel at distances 1 + t, t, 1 − t, 2 − t.
 */
const GRID_TAPS: Record<'linear' | 'cubic', { first: number; poly: number[][] }> = {
  linear: {
    first: 0,
    poly: [
      [1, 0],
      [-1, 1],
    ],
  },
  cubic: {
    first: -1,
    poly: [
      [0, 1, 0, 0],
      [CUBIC_A, 0, -CUBIC_A, 0],
      [-2 * CUBIC_A, -(CUBIC_A + 3), 2 * CUBIC_A + 3, CUBIC_A],
      [CUBIC_A, CUBIC_A + 2, -(CUBIC_A + 2), -CUBIC_A],
    ],
  },
};

const GRID_MODES: Record<string, 'linear' | 'cubic' | 'nearest'> = { bilinear: 'linear', linear: 'linear', bicubic: 'cubic', cubic: 'cubic', nearest: 'nearest' };

/**
 * GridSample (opset 16: 4-D; opset 20: N-D), as onnxruntime computes it: per spatial axis the
 * grid coordinate is unnormalized (u = (g + 1)/2 · (S − 1) with align_corners, else
 * ((g + 1)·S − 1)/2), the taps around u are chosen (floor(u) and the next for linear, floor(u)
 * − 1 … + 2 for cubic, u rounded half to even for nearest), and padding acts on each tap's
 * pixel index only: zeros drops taps outside the image, border clamps the index, reflection
 * reflects it about the image's edges (pixel centres 0 and S − 1 with align_corners, else the
 * pixel borders −0.5 and S − 0.5). The coordinate itself is never clamped or reflected (for
 * cubic border padding that differs from clamping u first; onnxruntime 1.30 does not).
 *
 * So y = Σ_taps X[tap] · Π_axes w_a(t_a) with the tap positions fixed between integer u:
 *  - dX scatter-adds dy · Π w_a to the tap positions (ScatterND, reduction 'add');
 *  - du_a = Σ_c dy · Σ_taps X[tap] · w_a'(t_a) · Π_{b≠a} w_b, times du/dg = (S − 1)/2 or S/2;
 *    nearest is piecewise constant in the grid, whose gradient is then zero.
 * Tensors are laid out [N, O1…Or, T1…Tr] (output positions, then one tap axis per spatial
 * axis, of size 1 on the other axes' tensors); X is read as [N·P, C] (P pixels per image) at
 * flat indices n·P + Σ_a i_a·stride_a.
 */
const gridSampleRule: GradRule = {
  differentiable: [0, 1],
  minOpset: 16,
  grad(c) {
    const dy = c.dy(0);
    if (!dy) return;
    const b = c.b;
    const x = c.x(0);
    const grid = c.x(1);
    const dtype = x.dtype ?? DataType.FLOAT;
    const I64 = DataType.INT64;
    const sp = staticSpatial(c, x);
    const r = sp.length;
    if (grid.shape && grid.shape.length !== r + 2) throw c.fail(`the grid '${grid.name}' has rank ${grid.shape.length}, expected ${r + 2} for ${r} spatial axes`);
    const modeAttr = c.node.attrString('mode', c.opset >= 20 ? 'linear' : 'bilinear');
    const mode = GRID_MODES[modeAttr];
    if (!mode) throw c.fail(`mode '${modeAttr}' is unknown`, 'GridSample modes: bilinear/linear, bicubic/cubic, nearest');
    const padding = c.node.attrString('padding_mode', 'zeros');
    if (padding !== 'zeros' && padding !== 'border' && padding !== 'reflection') throw c.fail(`padding_mode '${padding}' is unknown`, 'GridSample padding modes: zeros, border, reflection');
    const alignCorners = c.node.attrInt('align_corners', 0) !== 0;
    const k = (v: number): Value => b.scalar(v, dtype);
    const f = (op: string, inputs: Value[], attrs: Record<string, AttrInput> = {}): Value => b.op(op, inputs, attrs, { dtype });
    const tapAxes = range(r + 1, 2 * r + 1);
    const pixels = sp.reduce((p, d) => p * d, 1);

    // Per spatial axis: tap pixel indices (int64, times the axis stride), weights and their derivatives.
    const flatParts: Value[] = [];
    const weights: (Value | null)[] = [];
    const slopes: Value[] = [];
    for (let a = 0; a < r; a++) {
      const size = sp[a]!;
      const stride = sp.slice(a + 1).reduce((p, d) => p * d, 1);
      // grid[..., 0] is the last spatial axis (x), grid[..., r − 1] the first.
      const g = b.unsqueeze(b.op('Gather', [grid, b.scalar(r - 1 - a, I64)], { axis: r + 1 }, { dtype }), tapAxes, { dtype });
      const u = alignCorners ? f('Mul', [f('Div', [f('Add', [g, k(1)]), k(2)]), k(size - 1)]) : f('Div', [f('Sub', [f('Mul', [f('Add', [g, k(1)]), k(size)]), k(1)]), k(2)]);
      const taps = mode === 'nearest' ? 1 : GRID_TAPS[mode].poly[0]!.length;
      const tapDims = [...new Array<number>(r + 1).fill(1), ...range(0, r).map((j) => (j === a ? taps : 1))];
      let index: Value;
      let t: Value | null = null;
      if (mode === 'nearest') index = f('Round', [u]);
      else {
        const base = f('Floor', [u]);
        t = f('Sub', [u, base]);
        const first = GRID_TAPS[mode].first;
        index = f('Add', [base, b.constant(dtype, tapDims, range(first, first + taps))]);
      }
      // Padding on the tap indices: an index inside [0, size − 1], and where zeros drops the tap, a mask.
      let mask: Value | null = null;
      let inside: Value;
      const clamp = (v: Value): Value => f('Min', [f('Max', [v, k(0)]), k(size - 1)]);
      if (padding === 'reflection' && size > 1) {
        const lo = alignCorners ? 0 : -0.5;
        const span = alignCorners ? size - 1 : size;
        const folded = b.op('Mod', [f('Abs', [f('Sub', [index, k(lo)])]), k(2 * span)], { fmod: 1 }, { dtype });
        inside = f('Sub', [k(lo + span), f('Abs', [f('Sub', [folded, k(span)])])]);
      } else {
        inside = clamp(index);
        if (padding === 'zeros') mask = b.op('Equal', [inside, index], {}, { dtype: DataType.BOOL });
      }
      flatParts.push(b.op('Mul', [b.cast(inside, I64), b.scalar(stride, I64)], {}, { dtype: I64 }));
      const masked = (v: Value): Value => (mask ? f('Where', [mask, v, k(0)]) : v);
      if (mode === 'nearest') {
        weights.push(mask ? b.cast(mask, dtype) : null);
        continue;
      }
      const poly = GRID_TAPS[mode].poly;
      const horner = (coeffs: number[][]): Value => {
        let acc = b.constant(dtype, tapDims, coeffs[coeffs.length - 1]!);
        for (let d = coeffs.length - 2; d >= 0; d--) acc = f('Add', [f('Mul', [acc, t!]), b.constant(dtype, tapDims, coeffs[d]!)]);
        return acc;
      };
      weights.push(masked(horner(poly)));
      slopes.push(masked(horner(poly.slice(1).map((row, d) => row.map((v) => v * (d + 1))))));
    }

    // Flat row of each tap in X read as [N·P, C]: n·P + Σ_a i_a·stride_a.
    const batch = dimPart(b, x, 0);
    const batchOffsets =
      typeof batch === 'number'
        ? b.constant(I64, [batch, ...new Array<number>(2 * r).fill(1)], range(0, batch).map((n) => n * pixels))
        : b.reshape(
            b.op('Range', [b.scalar(0, I64), b.op('Mul', [b.squeeze(batch, [0], { dtype: I64, shape: [] }), b.scalar(pixels, I64)], {}, { dtype: I64, shape: [] }), b.scalar(pixels, I64)], {}, { dtype: I64, shape: [null] }),
            b.ints([-1, ...new Array<number>(2 * r).fill(1)]),
            { dtype: I64 },
          );
    // Chained Adds: onnxruntime's Sum has no int64 kernel.
    const flat = flatParts.reduce((acc, v) => b.op('Add', [acc, v], {}, { dtype: I64 }), batchOffsets);
    const rows = b.unsqueeze(flat, [2 * r + 1], { dtype: I64 });
    const channels = dimPart(b, x, 1);
    const toChannelsLast = [0, ...range(2, r + 2), 1];
    const xRows = b.reshape(b.transpose(x, toChannelsLast, { dtype }), shapeFromParts(b, [-1, channels]), { dtype });
    // dy as [N, O…, 1…, C], broadcasting over the taps.
    const dyTaps = b.unsqueeze(b.transpose(dy, toChannelsLast, { dtype }), tapAxes, { dtype });
    const product = (vs: (Value | null)[]): Value | null => vs.reduce<Value | null>((p, v) => (v === null ? p : p === null ? v : f('Mul', [p, v])), null);

    if (c.wants(0)) {
      const w = product(weights);
      const updates = w ? f('Mul', [dyTaps, b.unsqueeze(w, [2 * r + 1], { dtype })]) : dyTaps;
      const scattered = b.op('ScatterND', [b.zerosLike(xRows), rows, updates], { reduction: 'add' }, { dtype });
      const unflat = b.reshape(scattered, shapeFromParts(b, [-1, ...sp, channels]), { dtype });
      c.setGrad(0, b.transpose(unflat, [0, r + 1, ...range(1, r + 1)], infoOf(x)));
    }
    if (c.wants(1)) {
      if (mode === 'nearest') {
        c.setGrad(1, b.zerosLike(grid));
        return;
      }
      // Σ_c dy · X at each tap: [N, O…, T…].
      const read = b.reduceSum(f('Mul', [b.op('GatherND', [xRows, rows], {}, { dtype }), dyTaps]), [2 * r + 1], false, { dtype });
      const perAxis = range(0, r).map((a) => {
        const terms = product([read, slopes[a]!, ...weights.filter((_, j) => j !== a)])!;
        const du = b.reduceSum(terms, tapAxes, false, { dtype });
        const scale = alignCorners ? (sp[a]! - 1) / 2 : sp[a]! / 2;
        return b.unsqueeze(f('Mul', [du, k(scale)]), [r + 1], { dtype });
      });
      c.setGrad(1, b.op('Concat', perAxis.reverse(), { axis: r + 1 }, infoOf(grid)));
    }
  },
};

export const GRID_SAMPLE_RULES: GradRuleTable = { GridSample: gridSampleRule };
