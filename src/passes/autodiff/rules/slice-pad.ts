// Gradient rules for Slice and Pad. Where the pattern along an axis is irregular but known when
// differentiating (strided slices, reflect/edge/wrap padding), the forward is written as a
// small constant matrix A per axis (y = A·x along that axis) and the gradient is one MatMul by
// Aᵀ; structural inputs known only at run time scatter-add through the positions read.

import { DataType } from '../../../ir/dtype.js';
import type { Node, Value } from '../../../ir/graph.js';
import { infoOf } from '../builder.js';
import type { GradContext, GradRuleTable } from '../rule.js';
import { range } from './util.js';
import { TO_END, rankOf, normAxis, addAt, knownNumbers, requireKnown, requireDim, reshapeTo, floatDtype, structureKnown, adjointAlongAxis } from './tensor-util.js';

/** A Pad whose pads (an input from opset 11) or axes are only known at run time. */
function padsAtRunTime(node: Node): boolean {
  const pads = node.inputs[1];
  return !!pads && pads.name !== '' && !(knownNumbers(pads) && structureKnown(node, 3));
}

/**
 * The adjoint of an op that copies elements of x into its output (Slice, Pad), for structural
 * inputs only known at run time: the op itself, with the same structural inputs, runs on x's
 * positions numbered from 1 (int64, x's shape; Pad's constant becomes 0), and dy is
 * scatter-added to the positions each output element read — slot 0 collects what came from
 * the constant. Returns dx, and the constant's gradient.
 */
function adjointThroughPositions(c: GradContext, sameOp: (positions: Value, zero: Value) => Value): { dx: Value; fromConstant: Value } {
  const b = c.b;
  const x = c.x(0);
  const dtype = floatDtype(c, x);
  const I64 = DataType.INT64;
  const count = b.op('Size', [x], {}, { dtype: I64, shape: [] });
  const slots = b.add(count, b.scalar(1, I64));
  const numbered = b.op('Range', [b.scalar(1, I64), slots, b.scalar(1, I64)], {}, { dtype: I64, shape: [null] });
  const positions = b.op('Reshape', [numbered, b.shapeValue(x)], { allowzero: 1 }, { dtype: I64, shape: x.shape });
  const read = b.reshape(sameOp(positions, b.scalar(0, I64)), b.ints([-1]), { dtype: I64, shape: [null] });
  const flatDy = b.reshape(c.dyOrZeros(0), b.ints([-1]), { dtype, shape: [null] });
  const zeros = b.filled(b.unsqueeze(slots, [0], { dtype: I64, shape: [1] }), 0, dtype, [null]);
  const acc = b.op('ScatterElements', [zeros, read, flatDy], { axis: 0, reduction: 'add' }, { dtype, shape: [null] });
  const dx = reshapeTo(c, b.slice(acc, [1], [TO_END], [0], undefined, { dtype, shape: [null] }), x);
  return { dx, fromConstant: b.slice(acc, [0], [1], [0], undefined, { dtype, shape: [1] }) };
}

// ---- Pad: where each output element along an axis comes from ----

/** Source index in [0, n) of padded position k (k < 0 or k ≥ n are in the padding). */
function padSource(mode: string, k: number, n: number): number {
  if (k >= 0 && k < n) return k;
  if (mode === 'edge') return k < 0 ? 0 : n - 1;
  if (mode === 'wrap') return ((k % n) + n) % n;
  // reflect: mirror on the first and last elements (period 2(n-1))
  if (n === 1) return 0;
  const p = 2 * (n - 1);
  const m = ((k % p) + p) % p;
  return m < n ? m : p - m;
}

export const SLICE_PAD_RULES: GradRuleTable = {
  Slice: {
    differentiable: [0],
    // Bounds only known at run time: scatter-add through the positions (ScatterElements' add from 16).
    minOpset: (node) => (structureKnown(node, 1) ? 0 : 16),
    grad(c) {
      const b = c.b;
      const n = c.node;
      const x = c.x(0);
      const rank = rankOf(c, x);
      const dtype = floatDtype(c, x);
      // Bounds are inputs from opset 10, attributes before.
      const attrForm = c.xOpt(1) === null;
      if (!attrForm && !structureKnown(n, 1)) {
        c.setGrad(0, adjointThroughPositions(c, (positions) => b.op('Slice', [positions, ...n.inputs.slice(1)], {}, { dtype: DataType.INT64 })).dx);
        return;
      }
      const starts = attrForm ? n.attrInts('starts') : requireKnown(c, 1, 'starts');
      const ends = attrForm ? n.attrInts('ends') : requireKnown(c, 2, 'ends');
      if (!starts || !ends || starts.length !== ends.length) throw c.fail('its starts and ends are missing or of different lengths');
      const axes = (attrForm ? n.attrInts('axes') : requireKnown(c, 3, 'axes')) ?? range(0, starts.length);
      const steps = (attrForm ? null : requireKnown(c, 4, 'steps')) ?? starts.map(() => 1);
      const pads = new Array<number>(2 * rank).fill(0);
      let g = c.dyOrZeros(0);
      for (let k = 0; k < starts.length; k++) {
        const axis = normAxis(c, axes[k]!, rank);
        const d = requireDim(c, x, axis, 'the gradient of Slice');
        const step = steps[k]!;
        if (step === 0) throw c.fail('a step is 0');
        // Effective bounds, as the op defines them (negative from the end, then clamped).
        let s = starts[k]! < 0 ? starts[k]! + d : starts[k]!;
        let e = ends[k]! < 0 ? ends[k]! + d : ends[k]!;
        if (step > 0) {
          s = Math.min(Math.max(s, 0), d);
          e = Math.min(Math.max(e, 0), d);
        } else {
          s = Math.min(Math.max(s, 0), d - 1);
          e = Math.min(Math.max(e, -1), d - 1);
        }
        const len = Math.max(0, Math.ceil((e - s) / step));
        if (len === 0) {
          c.setGrad(0, b.zerosLike(x));
          return;
        }
        if (step === 1) {
          pads[axis] = s;
          pads[axis + rank] = d - s - len;
          continue;
        }
        // Strided or reversed: scatter back with a 0/1 selection matrix (len × d).
        const sel = new Float64Array(len * d);
        for (let j = 0; j < len; j++) sel[j * d + s + j * step] = 1;
        g = adjointAlongAxis(b, g, axis, rank, sel, len, d, dtype);
      }
      if (pads.some((p) => p !== 0)) g = b.pad(g, pads, infoOf(x));
      c.setGrad(0, g);
    },
  },

  Pad: {
    differentiable: (node) => (node.attrString('mode', 'constant') === 'constant' ? [0, 2] : [0]),
    // pads or axes only known at run time: scatter-add through the positions (add from 16).
    minOpset: (node) => (padsAtRunTime(node) ? 16 : 0),
    grad(c) {
      const b = c.b;
      const n = c.node;
      const x = c.x(0);
      const rank = rankOf(c, x);
      const dtype = floatDtype(c, x);
      const mode = n.attrString('mode', 'constant');
      if (padsAtRunTime(n)) {
        const axes = c.xOpt(3);
        const { dx, fromConstant } = adjointThroughPositions(c, (positions, zero) =>
          b.op('Pad', [positions, c.x(1), mode === 'constant' ? zero : null, ...(axes ? [axes] : [])], { mode }, { dtype: DataType.INT64 }),
        );
        c.setGrad(0, dx);
        if (c.wants(2)) c.setGrad(2, reshapeTo(c, fromConstant, c.x(2)));
        return;
      }
      // pads: an input from opset 11, an attribute before; opset 18 may name the axes.
      const raw = c.xOpt(1) ? requireKnown(c, 1, 'pads')! : n.attrInts('pads');
      if (!raw) throw c.fail('it has no pads');
      const axesIn = requireKnown(c, 3, 'axes');
      const axes = axesIn ? axesIn.map((a) => normAxis(c, a, rank)) : range(0, rank);
      if (raw.length !== 2 * axes.length) throw c.fail(`it has ${raw.length} pads for ${axes.length} axes`);
      const before = new Array<number>(rank).fill(0);
      const after = new Array<number>(rank).fill(0);
      axes.forEach((a, i) => {
        before[a] = raw[i]!;
        after[a] = raw[i + axes.length]!;
      });
      const dy = c.dyOrZeros(0);

      if (mode === 'constant') {
        // The adjoint crops what was added and zero-pads back what was cropped (negative pads).
        const cut = range(0, rank).filter((a) => before[a]! > 0 || after[a]! > 0);
        let g = dy;
        if (cut.length) {
          const starts = cut.map((a) => Math.max(before[a]!, 0));
          const ends = cut.map((a) => (after[a]! > 0 ? -after[a]! : TO_END));
          g = b.slice(g, starts, ends, cut, undefined, { dtype });
        }
        if (before.some((p) => p < 0) || after.some((p) => p < 0)) {
          g = b.pad(g, [...before.map((p) => Math.max(-p, 0)), ...after.map((p) => Math.max(-p, 0))], infoOf(x));
        }
        c.setGrad(0, g);
        if (c.wants(2)) {
          // Every output element not copied from x holds the constant.
          const value = c.x(2);
          const total = b.reduceSum(dy, [], false, { dtype, shape: [] });
          const inside = b.reduceSum(g, [], false, { dtype, shape: [] });
          c.setGrad(2, reshapeTo(c, b.sub(total, inside), value));
        }
        return;
      }

      if (mode !== 'reflect' && mode !== 'edge' && mode !== 'wrap') throw c.fail(`mode '${mode}' has no gradient rule`, 'Pad modes with gradients: constant, reflect, edge, wrap');
      let g = dy;
      for (let a = 0; a < rank; a++) {
        if (before[a] === 0 && after[a] === 0) continue;
        const d = requireDim(c, x, a, `the gradient of ${mode} Pad`);
        // Negative pads crop first; the rest pads the cropped range (as onnxruntime does).
        const cropBefore = Math.max(-before[a]!, 0);
        const kept = d - cropBefore - Math.max(-after[a]!, 0);
        const pb = Math.max(before[a]!, 0);
        const pe = Math.max(after[a]!, 0);
        if (kept <= 0) throw c.fail(`its pads crop axis ${a} (size ${d}) away entirely`);
        if (mode === 'reflect' && (pb > kept - 1 || pe > kept - 1)) {
          throw c.fail(`reflect pads ${pb},${pe} on axis ${a} exceed the ${kept - 1} the op allows for size ${kept}`);
        }
        const outLen = kept + pb + pe;
        const m = new Float64Array(outLen * d);
        for (let j = 0; j < outLen; j++) addAt(m, j * d + cropBefore + padSource(mode, j - pb, kept), 1);
        g = adjointAlongAxis(b, g, a, rank, m, outLen, d, dtype);
      }
      c.setGrad(0, g);
    },
  },

};
