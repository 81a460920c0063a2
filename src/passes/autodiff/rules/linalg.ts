// Gradient rules for matrix products (Gemm, MatMul, Einsum), reductions (Reduce*, CumSum),
// softmax and normalization (BatchNormalization, LayerNormalization, MeanVarianceNormalization).

import { attr } from '../../../ir/builder.js';
import { constantOf } from '../../../ir/constants.js';
import { DataType } from '../../../ir/dtype.js';
import type { Dim, Value } from '../../../ir/graph.js';
import { Tensor } from '../../../ir/tensor.js';
import { EINSUM_LETTERS, type EinsumTerm, parseEinsum } from '../../einsum-equation.js';
import { knownValueOf } from '../../shape/index.js';
import { type GradBuilder, infoOf, type OutInfo, staticShape } from '../builder.js';
import type { GradContext, GradRule, GradRuleTable } from '../rule.js';
import { identityOfAxis, normalizeAxes, productOfOthersFrom } from './util.js';

export const LINALG_RULES: GradRuleTable = {
  Gemm: { grad: gemmGrad },
  MatMul: { grad: matmulGrad },
  Einsum: { grad: einsumGrad },

  // Reductions. Each formula is written against the keepdims forms of y and dy (which
  // broadcast against x); with noop_with_empty_axes and no axes, onnxruntime applies the
  // op's elementwise part (|x| for L1/L2, x² for SumSquare, log x for LogSum), which the
  // same formulas differentiate correctly.
  ReduceSum: reduceRule(
    (c, k) => expandTo(c.b, k.dy, k.x),
    (c, dy) => expandTo(c.b, dy, c.x(0)),
  ),
  ReduceMean: reduceRule(
    (c, k) => {
      if (k.axes.length === 0) return k.dy;
      const b = c.b;
      return expandTo(b, b.mul(k.dy, reciprocalCount(c, k.x, c.y(0), k.axes)), k.x);
    },
    (c, dy) => expandTo(c.b, c.b.mul(dy, reciprocalCount(c, c.x(0), c.y(0), null)), c.x(0)),
  ),
  // The gradient goes to the elements equal to the extremum; ties share it equally (each of
  // t tied elements gets dy/t), so the gradient summed over a slice is dy, as in TensorFlow
  // and PyTorch's amax/amin.
  ReduceMax: reduceRule(extremumGrad),
  ReduceMin: reduceRule(extremumGrad),
  ReduceSumSquare: reduceRule((c, k) => {
    const b = c.b;
    return b.mul(k.x, b.mul(k.dy, b.scalar(2, dtypeOf(k.x))), k.x);
  }),
  // dy·x/y; where y = 0 the whole slice is 0, so any finite divisor gives the subgradient 0.
  ReduceL2: reduceRule((c, k) => {
    const b = c.b;
    const dt = dtypeOf(k.x);
    const isZero = b.op('Equal', [k.y, b.scalar(0, dt)], {}, { dtype: DataType.BOOL, shape: k.y.shape });
    const safeY = b.op('Where', [isZero, b.scalar(1, dt), k.y], {}, infoOf(k.y));
    return b.mul(k.x, b.div(k.dy, safeY), k.x);
  }),
  // dy·sign(x) (subgradient 0 at 0).
  ReduceL1: reduceRule((c, k) => c.b.mul(c.b.op('Sign', [k.x], {}, infoOf(k.x)), k.dy, k.x)),
  // y = log Σx: dy/Σx = dy·exp(−y).
  ReduceLogSum: reduceRule((c, k) => {
    const b = c.b;
    return expandTo(b, b.mul(k.dy, b.op('Exp', [b.neg(k.y)], {}, infoOf(k.y))), k.x);
  }),
  // y = log Σ exp x: dy·exp(x − y).
  ReduceLogSumExp: reduceRule((c, k) => {
    const b = c.b;
    return b.mul(b.op('Exp', [b.sub(k.x, k.y, k.x)], {}, infoOf(k.x)), k.dy, k.x);
  }),
  ReduceProd: reduceRule((c, k) => (k.axes.length === 0 ? k.dy : c.b.mul(productOfOthers(c, k.x, k.axes), k.dy, k.x))),

  // A linear map along one axis: its adjoint sums the other way (reverse flipped), and an
  // exclusive sum stays exclusive (dx_j = Σ_{i>j} dy_i for the forward Σ_{j<i} x_j).
  CumSum: { differentiable: [0], grad: cumSumGrad },

  // Opset ≥ 13 semantics (one axis; the pass raises older models to 13 first).
  Softmax: {
    grad(c) {
      // dx = y·(dy − Σ_axis dy·y)
      const b = c.b;
      const y = c.y(0);
      const dy = c.dyOrZeros(0);
      const axis = softmaxAxis(c);
      const s = b.reduceSum(b.mul(dy, y, y), [axis], true);
      c.setGrad(0, b.mul(y, b.sub(dy, s, y), y));
    },
  },
  LogSoftmax: {
    grad(c) {
      // dx = dy − exp(y)·Σ_axis dy
      const b = c.b;
      const y = c.y(0);
      const dy = c.dyOrZeros(0);
      const axis = softmaxAxis(c);
      const s = b.reduceSum(dy, [axis], true);
      c.setGrad(0, b.sub(dy, b.mul(b.op('Exp', [y], {}, infoOf(y)), s, y), y));
    },
  },

  BatchNormalization: {
    // In training mode Y depends on the batch statistics only; input_mean/input_var feed
    // the running-statistics outputs, which are state updates, not part of a loss.
    differentiable: (n) => (batchNormTraining(n) ? [0, 1, 2] : [0, 1, 2, 3, 4]),
    grad: batchNormGrad,
  },
  LayerNormalization: { differentiable: [0, 1, 2], grad: layerNormGrad },
  MeanVarianceNormalization: { differentiable: [0], grad: mvnGrad },
};

// ---------------------------------------------------------------- matrix products

/** Y = alpha·A'·B' + beta·C with A' = Aᵀ when transA, B' = Bᵀ when transB; C broadcasts to [M, N]. */
function gemmGrad(c: GradContext): void {
  const b = c.b;
  const n = c.node;
  const A = c.x(0);
  const B = c.x(1);
  const Y = c.y(0);
  const dy = c.dyOrZeros(0);
  const tA = n.attrInt('transA', 0) !== 0;
  const tB = n.attrInt('transB', 0) !== 0;
  const alpha = n.attrFloat('alpha', 1);
  const beta = n.attrFloat('beta', 1);
  const gemm = (p: Value, q: Value, transA: boolean, transB: boolean, like: Value): Value =>
    b.op('Gemm', [p, q], { transA: transA ? 1 : 0, transB: transB ? 1 : 0, ...(alpha !== 1 ? { alpha: attr.float('alpha', alpha) } : {}) }, infoOf(like));
  // dA' = α·dY·B'ᵀ, dB' = α·A'ᵀ·dY; a transposed operand gets the transpose of its gradient.
  if (c.wants(0)) c.setGrad(0, tA ? gemm(B, dy, tB, true, A) : gemm(dy, B, false, !tB, A));
  if (c.wants(1)) c.setGrad(1, tB ? gemm(dy, A, true, tA, B) : gemm(A, dy, !tA, false, B));
  const C = c.xOpt(2);
  if (C && c.wants(2)) {
    let dc = b.sumToShape(dy, C, Y);
    if (beta !== 1) dc = b.mul(dc, b.scalar(beta, dtypeOf(C)), C);
    c.setGrad(2, dc);
  }
}

/**
 * numpy matmul: A [..., M, K] × B [..., K, N] with broadcast batch dims; a 1-D A is [1, K]
 * and a 1-D B is [K, 1], their unit dim dropped from Y. The gradients are computed on the
 * 2-D forms with Y's batch dims, then summed back to each operand's shape.
 */
function matmulGrad(c: GradContext): void {
  const b = c.b;
  const A = c.x(0);
  const B = c.x(1);
  const Y = c.y(0);
  const as = A.shape;
  const bs = B.shape;
  const ys = Y.shape;
  if (!as || !bs || !ys) throw c.fail('the ranks of its operands are unknown', 'give the input shapes (--shape)');
  const a1 = as.length === 1;
  const b1 = bs.length === 1;
  const a2s: Dim[] = a1 ? [1, as[0]!] : as;
  const b2s: Dim[] = b1 ? [bs[0]!, 1] : bs;
  const batch = ys.slice(0, ys.length - (a1 ? 0 : 1) - (b1 ? 0 : 1));
  const M = a2s[a2s.length - 2]!;
  const K = a2s[a2s.length - 1]!;
  const N = b2s[b2s.length - 1]!;
  const r = batch.length + 2;
  const dt = dtypeOf(Y);

  // dY with the M / N dims a 1-D operand dropped put back: [...batch, M, N].
  let dy = c.dyOrZeros(0);
  const unsq = [...(a1 ? [r - 2] : []), ...(b1 ? [r - 1] : [])];
  if (unsq.length) dy = b.unsqueeze(dy, unsq, { dtype: dt, shape: [...batch, M, N] });

  if (c.wants(0)) {
    // dA = dY·Bᵀ, [...batch, M, K]
    const bT = b1 ? b.unsqueeze(B, [0], { dtype: dt, shape: [1, bs[0]!] }) : b.transpose(B, swapLast(bs.length));
    const ga = b.op('MatMul', [dy, bT], {}, { dtype: dt, shape: [...batch, M, K] });
    c.setGrad(0, sumToOperand(b, ga, [...batch, M, K], a2s, A));
  }
  if (c.wants(1)) {
    const dB = (): Value => {
      // A linear layer (B 2-D, A with its own batch dims): one Gemm over the flattened
      // batch, dB = flat(A)ᵀ·flat(dY), instead of a batched product summed afterwards.
      if (!a1 && !b1 && bs.length === 2 && as.length >= 3) {
        const fa = b.op('Flatten', [A], { axis: as.length - 1 }, { dtype: dt, shape: [null, K] });
        const fdy = b.op('Flatten', [dy], { axis: as.length - 1 }, { dtype: dt, shape: [null, N] });
        return b.op('Gemm', [fa, fdy], { transA: 1 }, infoOf(B));
      }
      // dB = Aᵀ·dY, [...batch, K, N]
      const aT = a1 ? b.unsqueeze(A, [1], { dtype: dt, shape: [as[0]!, 1] }) : b.transpose(A, swapLast(as.length));
      const gb = b.op('MatMul', [aT, dy], {}, { dtype: dt, shape: [...batch, K, N] });
      return sumToOperand(b, gb, [...batch, K, N], b2s, B);
    };
    c.setGrad(1, dB());
  }
}

function swapLast(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return perm;
}

/**
 * Sum `g` (shape `gs`) over the batch dims the operand (2-D form `xs`) lacks or broadcast
 * from 1, then reshape to the operand `x` itself (which drops the unit dim of a 1-D operand).
 */
function sumToOperand(b: GradBuilder, g: Value, gs: Dim[], xs: Dim[], x: Value): Value {
  const lead = gs.length - xs.length;
  const axes: number[] = [];
  for (let i = 0; i < lead; i++) axes.push(i);
  for (let i = 0; i < xs.length - 2; i++) if (xs[i] === 1 && gs[i + lead] !== 1) axes.push(i + lead);
  let out = g;
  if (axes.length) out = b.reduceSum(g, axes, true, { dtype: g.dtype });
  if (lead > 0 || xs.length !== x.shape?.length) out = b.reshapeLike(out, x);
  return out;
}

// ---------------------------------------------------------------- einsum

/**
 * Einsum: the gradient of operand k is an einsum of dY with the other operands whose output
 * is operand k's term. The equation is first made explicit, with no ellipsis and no
 * broadcasting, so every gradient equation is plain:
 *  - '...' becomes fresh letters, right-aligned (numpy broadcasting of the ellipsis dims);
 *  - an occurrence of size 1 of a label that is not 1 elsewhere (a dim broadcast from 1)
 *    gets a private letter of its own: it is summed over a size-1 axis in the forward, the
 *    same product, and in the gradient it is a label of operand k only (below);
 *  - an implicit output is the ellipsis dims, then the labels seen once, sorted.
 * Then, for operand k:
 *  - a label repeated in its term (a diagonal, 'ii->i') keeps its first occurrence; each
 *    later one gets a fresh letter j and an identity matrix operand 'ij' (EyeLike), so the
 *    gradient lands on the diagonal only;
 *  - labels of operand k that no other term has (summed away in the forward, or private)
 *    cannot be einsum outputs: they are left out, then Unsqueezed and Expanded back, since
 *    the forward sum spreads dY equally over them.
 * Dims not known statically are assumed not to be broadcast from 1 (onnxruntime allows
 * that for labels; the ONNX spec only for '...').
 */
function einsumGrad(c: GradContext): void {
  const b = c.b;
  const n = c.node;
  const equation = n.attrString('equation', '');
  const { text: eq, inputs: inputTerms, output: outputTerm } = parseEinsum(equation, (m) => {
    throw c.fail(`its ${m}`);
  });
  if (inputTerms.length !== n.inputs.length) throw c.fail(`its equation '${equation}' has ${inputTerms.length} operands but the node has ${n.inputs.length} inputs`);
  const operands = inputTerms.map((_, i) => c.x(i));

  const used = new Set(eq.replace(/[^a-zA-Z]/g, ''));
  const freshLetter = (taken: Set<string>): string => {
    const l = [...EINSUM_LETTERS].find((ch) => !taken.has(ch));
    if (l === undefined) throw c.fail(`its equation '${equation}' leaves no free letters for the gradient equations (52 at most)`, 'use fewer distinct labels and ellipsis dims');
    taken.add(l);
    return l;
  };

  // '...' → letters, right-aligned over the longest ellipsis.
  const ellRanks = inputTerms.map((t, i) => {
    if (t.ellipsis < 0) return 0;
    const rank = operands[i]!.shape?.length;
    if (rank === undefined) throw c.fail(`the rank of operand ${i} ('${operands[i]!.name}') is unknown and its term in '${equation}' has '...'`, 'give the input shapes (--shape)');
    if (rank < t.labels.length) throw c.fail(`operand ${i} ('${operands[i]!.name}') has rank ${rank}, fewer than the labels of its term in '${equation}'`);
    return rank - t.labels.length;
  });
  const ellLetters = Array.from({ length: Math.max(0, ...ellRanks) }, () => freshLetter(used));
  const expand = (t: EinsumTerm, ellRank: number): string[] =>
    t.ellipsis < 0 ? [...t.labels] : [...t.labels.slice(0, t.ellipsis), ...ellLetters.slice(ellLetters.length - ellRank), ...t.labels.slice(t.ellipsis)];
  const terms = inputTerms.map((t, i) => expand(t, ellRanks[i]!));
  terms.forEach((t, i) => {
    const rank = operands[i]!.shape?.length;
    if (rank !== undefined && rank !== t.length) throw c.fail(`operand ${i} ('${operands[i]!.name}') has rank ${rank} but its term in '${equation}' has ${t.length} labels`);
  });

  let outLabels: string[];
  if (outputTerm) {
    outLabels = expand(outputTerm, ellLetters.length);
  } else {
    const counts = new Map<string, number>();
    for (const t of inputTerms) for (const l of t.labels) counts.set(l, (counts.get(l) ?? 0) + 1);
    const once = [...counts].filter(([, k]) => k === 1).map(([l]) => l);
    if (once.some((l) => l >= 'A' && l <= 'Z')) {
      // numpy and the ONNX reference sort upper case first; onnxruntime rejects it.
      throw c.fail(`its implicit equation '${equation}' has upper-case output labels, whose order runtimes disagree on`, "write the output explicitly ('->')");
    }
    outLabels = [...ellLetters, ...once.sort()];
  }

  // Size-1 occurrences of a label that is not 1 everywhere: private letters.
  const occurrences = new Map<string, { term: number; pos: number; dim: Dim | undefined }[]>();
  terms.forEach((t, i) =>
    t.forEach((l, pos) => {
      const list = occurrences.get(l) ?? [];
      list.push({ term: i, pos, dim: operands[i]!.shape?.[pos] });
      occurrences.set(l, list);
    }),
  );
  for (const list of occurrences.values()) {
    if (!list.some((o) => o.dim === 1) || list.every((o) => o.dim === 1)) continue;
    for (const o of list) if (o.dim === 1) terms[o.term]![o.pos] = freshLetter(used);
  }

  const dy = c.dyOrZeros(0);
  const dt = dtypeOf(c.y(0));
  for (let k = 0; k < operands.length; k++) {
    if (!c.wants(k)) continue;
    const x = operands[k]!;
    const taken = new Set(used);
    // Later occurrences of a repeated label: fresh letters tied to the first by an identity.
    const target: string[] = [];
    const eyes: { label: string; twin: string; pos: number }[] = [];
    const first = new Map<string, number>();
    terms[k]!.forEach((l, pos) => {
      const p = first.get(l);
      if (p === undefined) {
        first.set(l, pos);
        target.push(l);
      } else {
        const twin = freshLetter(taken);
        target.push(twin);
        eyes.push({ label: l, twin, pos: p });
      }
    });
    const gradTerms = [outLabels, ...terms.filter((_, i) => i !== k), ...eyes.map((e) => [e.label, e.twin])];
    const gradInputs = [dy, ...operands.filter((_, i) => i !== k), ...eyes.map((e) => identityOfAxis(b, x, e.pos, dt))];
    const present = new Set(gradTerms.flat());
    const kept = target.filter((l) => present.has(l));
    const missing = target.flatMap((l, pos) => (present.has(l) ? [] : [pos]));
    const xs = x.shape;
    const keptShape = xs ? xs.filter((_, pos) => !missing.includes(pos)) : null;
    let g = dy;
    if (gradInputs.length > 1 || kept.join('') !== outLabels.join('')) {
      const gradEquation = `${gradTerms.map((t) => t.join('')).join(',')}->${kept.join('')}`;
      g = b.op('Einsum', gradInputs, { equation: gradEquation }, { dtype: dt, shape: keptShape });
    }
    if (missing.length) {
      g = b.unsqueeze(g, missing, { dtype: dt, shape: xs ? xs.map((d, pos) => (missing.includes(pos) ? 1 : d)) : null });
      g = expandTo(b, g, x);
    }
    c.setGrad(k, g);
  }
}

// ---------------------------------------------------------------- reductions

interface ReduceParts {
  x: Value;
  /** y and dy with the reduced axes kept (size 1), so they broadcast against x. */
  y: Value;
  dy: Value;
  /** The reduced axes, normalized; empty when the node reduces nothing (noop_with_empty_axes). */
  axes: number[];
}

/**
 * A Reduce* rule from a formula for dx (x's shape) in terms of x and the keepdims forms of y
 * and dy. `runtimeAxes`, for axes fed at run
 * time: the gradient from dy in keepdims form (Unsqueezed at those axes; with no axes left at
 * run time it is already x-shaped or one element, and broadcasts either way).
 */
function reduceRule(formula: (c: GradContext, k: ReduceParts) => Value, runtimeAxes?: (c: GradContext, dyKept: Value) => Value): GradRule {
  return {
    differentiable: [0],
    grad(c) {
      const b = c.b;
      const x = c.x(0);
      const rank = x.shape?.length;
      if (rank === undefined) throw c.fail('the rank of the input is unknown', 'give the input shapes (--shape)');
      const keep = c.node.attrInt('keepdims', 1) !== 0;
      const axesInput = c.xOpt(1);
      if (runtimeAxes && axesInput && !constantOf(axesInput)) {
        const dy = c.dyOrZeros(0);
        c.setGrad(0, runtimeAxes(c, keep ? dy : b.op('Unsqueeze', [dy, axesInput], {}, { dtype: dy.dtype, shape: null })));
        return;
      }
      const axes = reduceAxes(c, rank);
      const kept = x.shape!.map((d, i) => (axes.includes(i) ? 1 : d));
      const keepForm = (v: Value): Value => (keep || axes.length === 0 ? v : b.unsqueeze(v, axes, { dtype: v.dtype, shape: kept }));
      let y: Value | null = null; // only some formulas need y: unsqueeze it on first use
      const parts: ReduceParts = {
        x,
        axes,
        get y() {
          return (y ??= keepForm(c.y(0)));
        },
        dy: keepForm(c.dyOrZeros(0)),
      };
      c.setGrad(0, formula(c, parts));
    },
  };
}

/** The axes a Reduce* node reduces (attribute or input form; all when none and noop_with_empty_axes=0). */
export function reduceAxes(c: GradContext, rank: number): number[] {
  const n = c.node;
  let axes = n.attrInts('axes');
  const axesInput = c.xOpt(1);
  if (axesInput) {
    const t = constantOf(axesInput);
    if (!t) throw c.fail('its axes are not a constant', 'only constant reduction axes can be differentiated');
    axes = Array.from(t.toNumbers());
  }
  if (!axes || axes.length === 0) {
    if (n.attrInt('noop_with_empty_axes', 0) !== 0) return [];
    return Array.from({ length: rank }, (_, i) => i);
  }
  return normalizeAxes(axes, rank);
}

function extremumGrad(c: GradContext, k: ReduceParts): Value {
  if (k.axes.length === 0) return k.dy;
  const b = c.b;
  const dt = dtypeOf(k.x);
  const hit = b.op('Equal', [k.x, k.y], {}, { dtype: DataType.BOOL, shape: k.x.shape });
  const mask = b.cast(hit, dt);
  const ties = b.reduceSum(mask, k.axes, true, { dtype: dt, shape: k.y.shape });
  return b.mul(mask, b.div(k.dy, ties), k.x);
}

/** ∂(Π x)/∂x_i over the slices `axes`: the product of the other elements, exact with zeros (`productOfOthersFrom`). */
function productOfOthers(c: GradContext, x: Value, axes: number[]): Value {
  const b = c.b;
  const dt = dtypeOf(x);
  const keepShape = x.shape ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : null;
  const keepInfo = { dtype: dt, shape: keepShape };
  const zero = b.scalar(0, dt);
  const isZero = b.op('Equal', [x, zero], {}, { dtype: DataType.BOOL, shape: x.shape });
  const nonZero = b.op('Where', [isZero, b.scalar(1, dt), x], {}, infoOf(x));
  const product = reduceProd(b, nonZero, axes, keepInfo);
  const zeros = b.reduceSum(b.cast(isZero, dt), axes, true, keepInfo);
  return productOfOthersFrom(b, isZero, nonZero, product, zeros);
}

/** ReduceProd with keepdims in the form the opset takes (axes as an input from 18). */
function reduceProd(b: GradBuilder, x: Value, axes: number[], out: OutInfo): Value {
  if (b.opset >= 18) return b.op('ReduceProd', [x, b.ints(axes)], { keepdims: 1 }, out);
  return b.op('ReduceProd', [x], { axes, keepdims: 1 }, out);
}

/**
 * The adjoint CumSum runs along the same axis, so it takes the forward's axis tensor as it
 * is: unlike Slice bounds or pads, the value need not be known before run time (the ONNX
 * backend tests feed it as an input). A known axis is still checked against the rank.
 */
function cumSumGrad(c: GradContext): void {
  const n = c.node;
  const x = c.x(0);
  const axis = c.x(1);
  const known = knownValueOf(axis)?.data;
  const rank = x.shape?.length;
  if (known && rank !== undefined) {
    const a = known[0];
    if (known.length !== 1 || typeof a !== 'number' || !Number.isInteger(a) || a < -rank || a >= rank) {
      throw c.fail(`its axis ${JSON.stringify(known)} is not one axis in [-${rank}, ${rank - 1}]`);
    }
  }
  const reverse = n.attrInt('reverse', 0) !== 0 ? 0 : 1;
  const exclusive = n.attrInt('exclusive', 0) !== 0 ? 1 : 0;
  c.setGrad(0, c.b.op('CumSum', [c.dyOrZeros(0), axis], { exclusive, reverse }, infoOf(x)));
}

/** Broadcast `v` to the shape of `x`. */
function expandTo(b: GradBuilder, v: Value, x: Value): Value {
  return b.op('Expand', [v, b.shapeValue(x)], {}, infoOf(x));
}

/** 1 / the number of elements reduced into each of y's, a scalar of x's type (`axes` null: known at run time only). */
function reciprocalCount(c: GradContext, x: Value, y: Value, axes: number[] | null): Value {
  const b = c.b;
  const dt = dtypeOf(x);
  const xs = staticShape(x);
  if (xs && axes) return b.scalar(1 / axes.reduce((p, a) => p * xs[a]!, 1), dt);
  // Dynamic dims: Size(x) / Size(y) counts the reduced elements whatever keepdims is.
  const sx = b.op('Size', [x], {}, { dtype: DataType.INT64, shape: [] });
  const sy = b.op('Size', [y], {}, { dtype: DataType.INT64, shape: [] });
  return b.op('Reciprocal', [b.cast(b.op('Div', [sx, sy], {}, { dtype: DataType.INT64, shape: [] }), dt)], {}, { dtype: dt, shape: [] });
}

/**
 * The batch mean and variance of a training-mode BatchNormalization's input, as [1, C, 1, …],
 * recomputed from X. (Recovering them from the running-statistics outputs would save two
 * reductions, but under onnxruntime 1.30 a read of input_mean placed after the node saw the
 * updated running mean — the buffer is apparently reused in place — so it is not done.)
 */
function batchStatistics(c: GradContext, X: Value, axes: number[], keepInfo: OutInfo): [Value, Value] {
  const b = c.b;
  const mean = b.reduceMean(X, axes, true, keepInfo);
  const xc = b.sub(X, mean, X);
  return [mean, b.reduceMean(b.mul(xc, xc), axes, true, keepInfo)];
}

/** A [C] vector as [1, C, 1, …] (rank of X). */
function toChanKeep(b: GradBuilder, v: Value, X: Value, rank: number): Value {
  const shape = X.shape!.map((d, i) => (i === 1 ? d : 1));
  return b.reshape(v, b.ints(shape.map((d, i) => (i === 1 ? -1 : 1))), { dtype: v.dtype, shape: rank ? shape : null });
}

function dtypeOf(v: Value): DataType {
  return v.dtype ?? DataType.FLOAT;
}

// ---------------------------------------------------------------- softmax

function softmaxAxis(c: GradContext): number {
  if (c.opset < 13) throw c.fail(`Softmax before opset 13 (this model: ${c.opset}) flattens around its axis`, 'raise the model to opset 13 first');
  const rank = c.x(0).shape?.length;
  if (rank === undefined) throw c.fail('the rank of the input is unknown', 'give the input shapes (--shape)');
  const axis = c.node.attrInt('axis', -1);
  return axis < 0 ? axis + rank : axis;
}

// ---------------------------------------------------------------- normalization

function batchNormTraining(n: GradContext['node']): boolean {
  return n.attrInt('training_mode', 0) !== 0;
}

/**
 * Y = scale·(X − mean)·invstd + B per channel (axis 1), invstd = 1/√(var + ε). In inference
 * mode mean/var are inputs; in training mode (opset ≥ 14) they are the batch statistics over
 * every axis but 1, recomputed here, and dX takes the closed form
 * scale·invstd·(dY − mean(dY) − x̂·mean(dY·x̂)).
 */
function batchNormGrad(c: GradContext): void {
  const b = c.b;
  const n = c.node;
  const X = c.x(0);
  const rank = X.shape?.length;
  if (rank === undefined) throw c.fail('the rank of the input is unknown', 'give the input shapes (--shape)');
  if (rank < 2) throw c.fail(`the input has rank ${rank}; BatchNormalization needs [N, C, ...]`);
  const training = c.opset >= 14 && batchNormTraining(n);
  if (!training && n.outputs.length > 1) {
    throw c.fail('training-mode BatchNormalization before opset 14 (extra outputs) cannot be differentiated', 'use training_mode=1 at opset ≥ 14');
  }
  if (training && (c.dy(1) || c.dy(2))) {
    throw c.fail('the loss depends on the running statistics outputs, which have no gradient here', 'use only Y in the loss; running_mean/running_var are state updates');
  }
  const dt = dtypeOf(X);
  const eps = n.attrFloat('epsilon', 1e-5);
  const axes = [0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2)];
  const chanShape: Dim[] = X.shape!.map((d, i) => (i === 1 ? d : 1));
  // A per-channel [C] vector as [C, 1, …] (broadcasts against X from axis 1), in X's type.
  const toChan = (v: Value): Value => {
    const u = asType(b, v, dt);
    return rank > 2 ? b.unsqueeze(u, axes.slice(1).map((a) => a - 1), { dtype: dt, shape: chanShape.slice(1) }) : u;
  };
  // A keepdims [1, C, 1, …] channel tensor back to the [C] shape and type of `like`.
  const toVector = (v: Value, like: Value): Value => asType(b, b.reshapeLike(v, like), dtypeOf(like));
  const dy = c.dyOrZeros(0);
  const scale = c.x(1);
  const invstdOf = (variance: Value): Value =>
    b.op('Reciprocal', [b.op('Sqrt', [b.add(variance, b.scalar(eps, dt))], {}, infoOf(variance))], {}, infoOf(variance));

  if (training) {
    // With n the count per channel, μ and σ² the batch statistics, k = scale·invstd:
    //   dX = k·dY − k·ΣdY/n − k·invstd²·m₂·(X − μ),  m₂ = Σ dY·(X − μ) / n
    //      = k·dY + c₁ + c₂·X  with per-channel c₂ = −k·invstd²·m₂, c₁ = −k·ΣdY/n − c₂·μ,
    // so the full-size work is dY·X, two reductions, one per-channel affine (a
    // BatchNormalization with mean 0, variance 1, ε 0) and one multiply-add.
    const keepInfo = { dtype: dt, shape: chanShape };
    const C = X.shape![1];
    if (typeof C !== 'number') throw c.fail('the channel count of the input is not static', 'give the input shapes (--shape)');
    const vecInfo = { dtype: dt, shape: [C] };
    const sumDy = b.reduceSum(dy, axes, true, keepInfo);
    const sumDyX = b.reduceSum(b.mul(dy, X, X), axes, true, keepInfo);
    const perCount = reciprocalCount(c, X, sumDy, axes);
    const [mean, variance] = batchStatistics(c, X, axes, keepInfo);
    const invstd = invstdOf(variance);
    const dyMean = b.mul(sumDy, perCount);
    const m2 = b.sub(b.mul(sumDyX, perCount), b.mul(mean, dyMean));
    if (c.wants(0)) {
      const k = b.mul(toChanKeep(b, asType(b, scale, dt), X, rank), invstd);
      const c2 = b.neg(b.mul(b.mul(k, b.mul(invstd, invstd)), m2));
      const c1 = b.neg(b.add(b.mul(k, dyMean), b.mul(c2, mean)));
      const vec = (v: Value): Value => b.reshape(v, b.ints([-1]), vecInfo);
      const affine = b.op('BatchNormalization', [dy, vec(k), vec(c1), b.constant(dt, [C], new Array<number>(C).fill(0)), b.constant(dt, [C], new Array<number>(C).fill(1))], { epsilon: attr.float('epsilon', 0) }, infoOf(X));
      c.setGrad(0, b.add(affine, b.mul(X, c2, X), X));
    }
    if (c.wants(1)) c.setGrad(1, toVector(b.mul(b.sub(sumDyX, b.mul(mean, sumDy)), invstd), scale));
    if (c.wants(2)) c.setGrad(2, toVector(sumDy, c.x(2)));
    return;
  }

  // Inference mode: per-channel constants k = scale·invstd; everything is [C]-sized but dX.
  const mean = c.x(3);
  const variance = c.x(4);
  const vecInfo = { dtype: dt, shape: [X.shape![1]!] };
  const invstd = invstdOf(asType(b, variance, dt));
  const k = b.mul(asType(b, scale, dt), invstd, invstd);
  if (c.wants(0)) c.setGrad(0, b.mul(dy, toChan(k), X));
  let sumDyXc: Value | null = null;
  if (c.wants(1) || c.wants(4)) {
    const xc = b.sub(X, toChan(mean), X);
    sumDyXc = b.reduceSum(b.mul(dy, xc, X), axes, false, vecInfo);
  }
  const sumDy = c.wants(2) || c.wants(3) ? b.reduceSum(dy, axes, false, vecInfo) : null;
  if (c.wants(1)) c.setGrad(1, asType(b, b.mul(sumDyXc!, invstd), dtypeOf(scale)));
  if (c.wants(2)) c.setGrad(2, asType(b, sumDy!, dtypeOf(c.x(2))));
  if (c.wants(3)) c.setGrad(3, asType(b, b.mul(b.neg(k), sumDy!), dtypeOf(mean))); // −k folds to a constant with constant statistics
  if (c.wants(4)) {
    // ∂Y/∂var = −½·scale·(X − mean)·invstd³
    const coef = b.mul(b.mul(k, b.mul(invstd, invstd)), b.scalar(-0.5, dt));
    c.setGrad(4, asType(b, b.mul(coef, sumDyXc!), dtypeOf(variance)));
  }
}

/**
 * Y = x̂·Scale + B with x̂ normalized over the axes from `axis` on. With g = dY·Scale:
 * dX = invstd·(g − mean(g) − x̂·mean(g·x̂)); Scale and B get dY·x̂ and dY summed to their
 * shapes. The statistics are recomputed in X's type.
 */
function layerNormGrad(c: GradContext): void {
  const b = c.b;
  const n = c.node;
  const X = c.x(0);
  const Y = c.y(0);
  const xs = X.shape;
  if (!xs) throw c.fail('the rank of the input is unknown', 'give the input shapes (--shape)');
  const rank = xs.length;
  const a = n.attrInt('axis', -1);
  const axis = a < 0 ? a + rank : a;
  const axes = Array.from({ length: rank - axis }, (_, i) => axis + i);
  const eps = n.attrFloat('epsilon', 1e-5);
  const dt = dtypeOf(X);
  const statInfo = { dtype: dt, shape: xs.map((d, i) => (i < axis ? d : 1)) };
  const mean = b.reduceMean(X, axes, true, statInfo);
  const xc = b.sub(X, mean, X);
  const variance = b.reduceMean(b.mul(xc, xc), axes, true, statInfo);
  const invstd = b.op('Reciprocal', [b.op('Sqrt', [b.add(variance, b.scalar(eps, dt))], {}, statInfo)], {}, statInfo);
  const xhat = b.mul(xc, invstd, X);
  const dy = c.dyOrZeros(0);
  if (c.wants(0)) {
    let dx = b.mul(centeredGrad(b, b.mul(dy, c.x(1), X), xhat, axes, statInfo), invstd, X);
    // The Mean and InvStdDev outputs (stash type): ∂mean/∂x = 1/N, ∂σ⁻¹/∂x = −σ⁻³·(x − mean)/N.
    const dMean = c.dy(1);
    const dInvStd = c.dy(2);
    if (dMean || dInvStd) {
      const inDt = (v: Value): Value => (v.dtype === dt ? v : b.cast(v, dt));
      const perElement = reciprocalCount(c, X, mean, axes);
      if (dMean) dx = b.add(dx, b.mul(inDt(dMean), perElement, mean), X);
      if (dInvStd) {
        const cube = b.mul(b.mul(invstd, invstd, mean), invstd, mean);
        dx = b.sub(dx, b.mul(xc, b.mul(b.mul(inDt(dInvStd), cube, mean), perElement, mean), X), X);
      }
    }
    c.setGrad(0, dx);
  }
  if (c.wants(1)) c.setGrad(1, b.sumToShape(b.mul(dy, xhat, X), c.x(1), Y));
  const bias = c.xOpt(2);
  if (bias && c.wants(2)) c.setGrad(2, b.sumToShape(dy, bias, Y));
}

/**
 * g − mean(g) − x̂·mean(g·x̂) over `axes`: the gradient of x̂ = (x − mean)/σ (σ over the same
 * axes) times σ, for the gradient g of x̂. `statInfo` types the keepdims means.
 */
function centeredGrad(b: GradBuilder, g: Value, xhat: Value, axes: number[], statInfo: OutInfo): Value {
  const meanG = b.reduceMean(g, axes, true, statInfo);
  const meanGXhat = b.reduceMean(b.mul(g, xhat, xhat), axes, true, statInfo);
  return b.sub(b.sub(g, meanG, xhat), b.mul(xhat, meanGXhat, xhat), xhat);
}

/**
 * Y = (X − mean)/σ with mean and σ² = mean((X − mean)²) over `axes` (default [0, 2, 3]),
 * as onnxruntime computes it: no epsilon. (The spec's function body adds 1e-9 to σ, a
 * difference of ~1e-9/σ relative; onnxruntime's CPU kernel, float only, adds nothing.) The
 * gradient is LayerNormalization's without scale: dX = (dY − mean(dY) − Y·mean(dY·Y))/σ,
 * with the forward's own Y and σ recomputed.
 */
function mvnGrad(c: GradContext): void {
  const b = c.b;
  const X = c.x(0);
  const xs = X.shape;
  if (!xs) throw c.fail('the rank of the input is unknown', 'give the input shapes (--shape)');
  const rank = xs.length;
  const given = c.node.attrInts('axes');
  const raw = given ?? [0, 2, 3];
  const bad = raw.find((a) => !Number.isInteger(a) || a < -rank || a >= rank);
  if (bad !== undefined) throw c.fail(`axis ${bad} is out of range for rank ${rank}`, given ? undefined : 'the default axes [0, 2, 3] need a 4-D input: give the axes');
  const axes = normalizeAxes(raw, rank);
  const statInfo = { dtype: dtypeOf(X), shape: xs.map((d, i) => (axes.includes(i) ? 1 : d)) };
  const mean = b.reduceMean(X, axes, true, statInfo);
  const xc = b.sub(X, mean, X);
  const sigma = b.op('Sqrt', [b.reduceMean(b.mul(xc, xc), axes, true, statInfo)], {}, statInfo);
  c.setGrad(0, b.div(centeredGrad(b, c.dyOrZeros(0), c.y(0), axes, statInfo), sigma, X));
}

/** `v` cast to `dt` when its type differs (opset 15 BatchNormalization allows mixed types). */
function asType(b: GradBuilder, v: Value, dt: DataType): Value {
  return v.dtype !== undefined && v.dtype !== dt ? b.cast(v, dt) : v;
}
