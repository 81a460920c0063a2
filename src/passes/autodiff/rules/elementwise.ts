// Gradient rules for elementwise arithmetic, unary math and activations. Binary and
// variadic ops broadcast, so each operand's gradient is summed back to the operand's shape
// (GradBuilder.sumToShape). Every rule emits plain arithmetic (Mul, Div, Where, Exp, …)
// rather than the activation itself, so the gradient runs wherever those basic ops run
// (onnxruntime's CPU kernels for Elu, Selu, Softplus, HardSigmoid, Erf… are float32-only).
//
// Conventions at points where the derivative does not exist (documented per rule):
// - kinks of piecewise-linear activations (Relu, LeakyRelu, PRelu, ThresholdedRelu, Elu,
//   Selu, Celu) take the slope of the branch the forward op uses there; Relu/LeakyRelu/
//   PRelu use the negative side's slope at x = 0;
// - clamps (Clip, HardSigmoid, HardSwish) pass the gradient on the closed interval,
//   boundaries included;
// - Abs at 0, Shrink at ±lambd, and Sign/Floor/Ceil/Round/Hardmax everywhere: zero;
// - Mod (fmod) where a/b is an integer (a jump along b): db from the quotient the forward used;
// - Max/Min ties: the gradient is split evenly among the tied operands.
// Masks (Relu, ThresholdedRelu, Shrink, Clip, HardSigmoid, HardSwish) over large tensors
// multiply the upstream gradient by the mask cast to its type (faster than Where in
// onnxruntime), so an infinite or NaN upstream gradient where the mask is 0 gives NaN there,
// not 0.

import { type DataType, DataType as DT, isFloatDtype } from '../../../ir/dtype.js';
import { constantOf } from '../../../ir/constants.js';
import type { Value } from '../../../ir/graph.js';
import { type GradBuilder, infoOf, type OutInfo } from '../builder.js';
import type { GradContext, GradRule, GradRuleTable } from '../rule.js';

/** Element type of a forward value (shape inference gives it). */
function elemType(c: GradContext, v: Value): DataType {
  const t = v.dtype;
  if (t === undefined) throw c.fail(`the element type of '${v.name}' is unknown`, 'give the input shapes (--shape) so shape inference can type the graph');
  return t;
}

/** Emitters whose results have the type and shape of `like` (elementwise, no broadcasting beyond it). */
function ew(b: GradBuilder, like: Value) {
  const info = infoOf(like);
  const boolInfo: OutInfo = { dtype: DT.BOOL, shape: like.shape };
  return {
    add: (p: Value, q: Value) => b.op('Add', [p, q], {}, info),
    sub: (p: Value, q: Value) => b.op('Sub', [p, q], {}, info),
    mul: (p: Value, q: Value) => b.op('Mul', [p, q], {}, info),
    div: (p: Value, q: Value) => b.op('Div', [p, q], {}, info),
    call: (op: string, ...args: Value[]) => b.op(op, args, {}, info),
    where: (cond: Value, p: Value, q: Value) => b.op('Where', [cond, p, q], {}, info),
    /**
     * p where cond holds, 0 elsewhere. On large tensors as p · cast(cond): onnxruntime's Where
     * with a scalar zero is slower than a Cast and a Mul there (`bench/autodiff.ts
     * --where-masks --resnet-batch 64` vs without: recognizer input gradient 34.9 vs 33.3 ms,
     * ResNet at batch 64 20.4 vs 17.9 ms); on small or unknown-size ones as a Where (one node
     * fewer: per-node cost dominates). Unlike Where, the product gives NaN, not 0,
     * for an infinite or NaN p in the masked-out part.
     */
    keep: (cond: Value, p: Value) => {
      const n = like.shape?.every((d) => typeof d === 'number') ? (like.shape as number[]).reduce((a, d) => a * d, 1) : 0;
      if (n >= b.tuning.mask.productMinElements && info.dtype !== undefined) return b.op('Mul', [p, b.cast(cond, info.dtype)], {}, info);
      return b.op('Where', [cond, p, b.scalar(0, info.dtype ?? DT.FLOAT)], {}, info);
    },
    /** A comparison or logical op (bool result). */
    test: (op: string, p: Value, q: Value) => b.op(op, [p, q], {}, boolInfo),
  };
}

/** What a one-input rule builds from. */
interface UnaryParts {
  c: GradContext;
  x: Value;
  y: Value;
  /** A scalar constant of x's type. */
  k: (value: number) => Value;
  e: ReturnType<typeof ew>;
}
/** A rule for a one-input op: dx = dy · f′, where `deriv` builds f′ (shape of x). */
function unary(deriv: (u: UnaryParts) => Value): GradRule {
  return {
    differentiable: [0],
    grad(c) {
      const x = c.x(0);
      const t = elemType(c, x);
      const e = ew(c.b, x);
      c.setGrad(0, e.mul(c.dyOrZeros(0), deriv({ c, x, y: c.y(0), k: (v) => c.b.scalar(v, t), e })));
    },
  };
}

/** A rule for a one-input op whose gradient is dx = g(dy) (masks, where f′ is piecewise). */
function unaryDy(grad: (u: UnaryParts, dy: Value) => Value): GradRule {
  return {
    differentiable: [0],
    grad(c) {
      const x = c.x(0);
      const t = elemType(c, x);
      c.setGrad(0, grad({ c, x, y: c.y(0), k: (v) => c.b.scalar(v, t), e: ew(c.b, x) }, c.dyOrZeros(0)));
    },
  };
}

/** Zero gradient: ops that are piecewise constant (the derivative is 0 almost everywhere). */
const piecewiseConstant: GradRule = {
  differentiable: [0],
  grad(c) {
    c.setGrad(0, c.b.zerosLike(c.x(0)));
  },
};

/**
 * Max/Min over any number of broadcast operands: each operand equal to the result gets
 * dy / (number of operands equal to it) at that position, summed back to its shape. Ties
 * thus split the gradient evenly (order-independent; the parts add up to dy).
 */
const extremum: GradRule = {
  grad(c) {
    const b = c.b;
    const y = c.y(0);
    const dy = c.dyOrZeros(0);
    const n = c.node.inputs.length;
    if (n === 1) {
      c.setGrad(0, dy);
      return;
    }
    const t = elemType(c, y);
    const e = ew(b, y);
    const hits = c.node.inputs.map((_, i) => e.test('Equal', c.x(i), y));
    const count = b.sum(hits.map((h) => b.cast(h, t)), y);
    const share = e.div(dy, count);
    const zero = b.scalar(0, t);
    hits.forEach((h, i) => {
      if (c.wants(i)) c.setGrad(i, b.sumToShape(e.where(h, share, zero), c.x(i), y));
    });
  },
};

/** Sum / Mean: every operand gets dy (scaled by 1/n for Mean), summed back to its shape. */
function variadicSum(mean: boolean): GradRule {
  return {
    grad(c) {
      const y = c.y(0);
      const n = c.node.inputs.length;
      let dy = c.dyOrZeros(0);
      if (mean && n > 1) dy = ew(c.b, y).mul(dy, c.b.scalar(1 / n, elemType(c, y)));
      c.node.inputs.forEach((_, i) => {
        if (c.wants(i)) c.setGrad(i, c.b.sumToShape(dy, c.x(i), y));
      });
    },
  };
}

/** A Clip bound from the opset < 11 attribute form, as a constant (null when absent). */
function clipAttrBound(c: GradContext, name: 'min' | 'max', t: DataType): Value | null {
  const v = c.node.attrFloat(name);
  return v === undefined ? null : c.b.scalar(v, t);
}

/** True when Clip's bounds are constants with lo ≤ hi (or only one bound is given). */
function clipBoundsOrdered(lo: Value | null, hi: Value | null): boolean {
  const l = lo ? constantOf(lo) : null;
  const h = hi ? constantOf(hi) : null;
  if ((lo && !l) || (hi && !h)) return false;
  if (!l || !h) return true;
  const a = l.toNumbers();
  const z = h.toNumbers();
  return a.length === 1 && z.length === 1 && a[0]! <= z[0]!;
}

const SELU_ALPHA = 1.67326319217681884765625;
const SELU_GAMMA = 1.05070102214813232421875;

export const ELEMENTWISE_RULES: GradRuleTable = {
  // ---- arithmetic (numpy broadcasting) ----
  Add: {
    grad(c) {
      const dy = c.dyOrZeros(0);
      if (c.wants(0)) c.setGrad(0, c.b.sumToShape(dy, c.x(0), c.y(0)));
      if (c.wants(1)) c.setGrad(1, c.b.sumToShape(dy, c.x(1), c.y(0)));
    },
  },
  Sub: {
    grad(c) {
      const dy = c.dyOrZeros(0);
      if (c.wants(0)) c.setGrad(0, c.b.sumToShape(dy, c.x(0), c.y(0)));
      if (c.wants(1)) c.setGrad(1, c.b.sumToShape(c.b.neg(dy), c.x(1), c.y(0)));
    },
  },
  Mul: {
    grad(c) {
      const dy = c.dyOrZeros(0);
      if (c.wants(0)) c.setGrad(0, c.b.sumToShape(c.b.mul(dy, c.x(1), c.y(0)), c.x(0), c.y(0)));
      if (c.wants(1)) c.setGrad(1, c.b.sumToShape(c.b.mul(dy, c.x(0), c.y(0)), c.x(1), c.y(0)));
    },
  },
  Div: {
    // y = a / b: da = dy / b, db = −dy · y / b.
    grad(c) {
      const y = c.y(0);
      const e = ew(c.b, y);
      const dy = c.dyOrZeros(0);
      if (c.wants(0)) c.setGrad(0, c.b.sumToShape(e.div(dy, c.x(1)), c.x(0), y));
      if (c.wants(1)) c.setGrad(1, c.b.sumToShape(c.b.neg(e.div(e.mul(dy, y), c.x(1))), c.x(1), y));
    },
  },
  Pow: {
    // y = a^e. da = dy · e · a^(e−1) (any real a where that is defined; integer exponents
    // of opset ≥ 12 are cast to a's type). de = dy · y · ln a for a > 0 and, by convention,
    // 0 for a ≤ 0: at a = 0 that is the limit for e > 0; for a < 0, a^e is real only at
    // integer e, where it is not differentiable in e. Integer exponents get no gradient.
    grad(c) {
      const b = c.b;
      const a = c.x(0);
      const ex = c.x(1);
      const y = c.y(0);
      const t = elemType(c, y);
      const et = elemType(c, ex);
      const e = ew(b, y);
      const dy = c.dyOrZeros(0);
      if (c.wants(0)) {
        const exT = et === t ? ex : b.cast(ex, t);
        const exMinus1 = b.sub(ex, b.scalar(1, et));
        const g = e.mul(e.mul(dy, exT), e.call('Pow', a, exMinus1));
        c.setGrad(0, b.sumToShape(g, a, y));
      }
      if (c.wants(1)) {
        const ea = ew(b, a);
        const zero = b.scalar(0, t);
        const logA = ea.where(ea.test('Greater', a, zero), ea.call('Log', a), zero);
        let g = e.mul(e.mul(dy, y), logA);
        if (et !== t) g = b.cast(g, et);
        c.setGrad(1, b.sumToShape(g, ex, y));
      }
    },
  },
  Sum: variadicSum(false),
  Mean: variadicSum(true),
  Max: extremum,
  Min: extremum,

  // ---- unary math ----
  Neg: unaryDy(({ c }, dy) => c.b.neg(dy)),
  Exp: unary(({ y }) => y),
  Log: unary(({ x, k, e }) => e.div(k(1), x)),
  // 1 / (2 √x): infinite at x = 0.
  Sqrt: unary(({ y, k, e }) => e.div(k(0.5), y)),
  Reciprocal: unary(({ y, e }) => e.call('Neg', e.mul(y, y))),
  // Sign(x): zero at x = 0.
  Abs: unary(({ x, e }) => e.call('Sign', x)),
  Erf: unary(({ x, k, e }) => e.mul(k(2 / Math.sqrt(Math.PI)), e.call('Exp', e.call('Neg', e.mul(x, x))))),
  Sin: unary(({ x, e }) => e.call('Cos', x)),
  Cos: unary(({ x, e }) => e.call('Neg', e.call('Sin', x))),
  Tan: unary(({ y, k, e }) => e.add(k(1), e.mul(y, y))),
  Asin: unary(({ x, k, e }) => e.div(k(1), e.call('Sqrt', e.sub(k(1), e.mul(x, x))))),
  Acos: unary(({ x, k, e }) => e.div(k(-1), e.call('Sqrt', e.sub(k(1), e.mul(x, x))))),
  Atan: unary(({ x, k, e }) => e.div(k(1), e.add(k(1), e.mul(x, x)))),
  Sinh: unary(({ x, e }) => e.call('Cosh', x)),
  Cosh: unary(({ x, e }) => e.call('Sinh', x)),
  Asinh: unary(({ x, k, e }) => e.div(k(1), e.call('Sqrt', e.add(e.mul(x, x), k(1))))),
  Acosh: unary(({ x, k, e }) => e.div(k(1), e.call('Sqrt', e.sub(e.mul(x, x), k(1))))),
  Atanh: unary(({ x, k, e }) => e.div(k(1), e.sub(k(1), e.mul(x, x)))),
  Sign: piecewiseConstant,
  Floor: piecewiseConstant,
  Ceil: piecewiseConstant,
  Round: piecewiseConstant,
  // A one-hot of the maximum along an axis: constant wherever the maximum is unique.
  Hardmax: piecewiseConstant,
  Mod: {
    // Floating-point Mod is C's fmod (the spec requires fmod=1 for floats): y = a − b·n with
    // n = trunc(a/b), so da = dy and db = −dy·n. n is recovered as round((a − y)/b), exact
    // for |n| far below 2^(mantissa bits), where trunc(a/b) could be off by one (a/b may
    // round up to the next integer). Integer Mod carries no gradient (integer inputs).
    grad(c) {
      if (c.node.attrInt('fmod', 0) !== 1) throw c.fail('fmod=0 is not defined for floating-point inputs', 'floating-point Mod must have fmod=1');
      const b = c.b;
      const y = c.y(0);
      const dy = c.dyOrZeros(0);
      if (c.wants(0)) c.setGrad(0, b.sumToShape(dy, c.x(0), y));
      if (c.wants(1)) {
        const e = ew(b, y);
        const quotient = e.call('Round', e.div(e.sub(c.x(0), y), c.x(1)));
        c.setGrad(1, b.sumToShape(b.neg(e.mul(dy, quotient)), c.x(1), y));
      }
    },
  },

  // ---- activations ----
  // dy where x > 0, else 0, read from y (y > 0 exactly where x > 0, NaN included): the
  // forward's Conv → Relu then still fuses in onnxruntime (a second reader of x prevents it;
  // the ResNet's batch-1 input gradient 0.48 → 0.46 ms). (Greater + Where: 1.5 ms on a
  // 64×16×28×28 tensor here, against 3.4 ms for dy · Sign(y) — onnxruntime's Sign is not
  // vectorized.)
  Relu: unaryDy(({ y, k, e }, dy) => e.keep(e.test('Greater', y, k(0)), dy)),
  // dy where x > 0, alpha · dy elsewhere (alpha at x = 0, as Relu).
  LeakyRelu: unaryDy(({ c, x, k, e }, dy) => e.where(e.test('Greater', x, k(0)), dy, e.mul(dy, k(c.node.attrFloat('alpha', 0.01))))),
  // 1 where x > alpha (the forward's strict inequality), else 0.
  ThresholdedRelu: unaryDy(({ c, x, k, e }, dy) => e.keep(e.test('Greater', x, k(c.node.attrFloat('alpha', 1))), dy)),
  // y = x (x ≥ 0), alpha (eˣ − 1) (x < 0): f′ = y + alpha on the negative branch.
  Elu: unaryDy(({ c, x, y, k, e }, dy) => e.where(e.test('Less', x, k(0)), e.mul(dy, e.add(y, k(c.node.attrFloat('alpha', 1)))), dy)),
  // y = γx (x > 0), γα(eˣ − 1) (x ≤ 0): f′ = γ, resp. y + γα.
  Selu: unaryDy(({ c, x, y, k, e }, dy) => {
    const alpha = c.node.attrFloat('alpha', SELU_ALPHA);
    const gamma = c.node.attrFloat('gamma', SELU_GAMMA);
    return e.where(e.test('Greater', x, k(0)), e.mul(dy, k(gamma)), e.mul(dy, e.add(y, k(gamma * alpha))));
  }),
  // y = max(0, x) + min(0, α(e^(x/α) − 1)): f′ = 1 (x > 0), e^(x/α) (x ≤ 0); 1 at 0 either way.
  Celu: unaryDy(({ c, x, k, e }, dy) => {
    const alpha = c.node.attrFloat('alpha', 1);
    return e.where(e.test('Greater', x, k(0)), dy, e.mul(dy, e.call('Exp', e.mul(x, k(1 / alpha)))));
  }),
  Sigmoid: unary(({ y, k, e }) => e.mul(y, e.sub(k(1), y))),
  Tanh: unary(({ y, k, e }) => e.sub(k(1), e.mul(y, y))),
  Softplus: unary(({ x, e }) => e.call('Sigmoid', x)),
  // y = x / (1 + |x|): f′ = 1 / (1 + |x|)².
  Softsign: unary(({ x, k, e }) => {
    const d = e.add(k(1), e.call('Abs', x));
    return e.div(k(1), e.mul(d, d));
  }),
  // y = x · tanh(softplus x). With s = σ(x): tanh(softplus x) = s(2 − s) / (1 + (1 − s)²),
  // which has no overflow and no cancellation; f′ = t + x · s · (1 − t²).
  Mish: unary(({ x, k, e }) => {
    const s = e.call('Sigmoid', x);
    const q = e.sub(k(1), s);
    const t = e.div(e.mul(s, e.sub(k(2), s)), e.add(k(1), e.mul(q, q)));
    return e.add(t, e.mul(e.mul(x, s), e.sub(k(1), e.mul(t, t))));
  }),
  Gelu: unary(({ c, x, k, e }) => {
    if (c.node.attrString('approximate', 'none') === 'tanh') {
      // y = x/2 (1 + tanh u), u = √(2/π)(x + 0.044715 x³).
      const s = Math.sqrt(2 / Math.PI);
      const x2 = e.mul(x, x);
      const u = e.mul(e.mul(x, k(s)), e.add(k(1), e.mul(x2, k(0.044715))));
      const t = e.call('Tanh', u);
      const du = e.mul(k(s), e.add(k(1), e.mul(x2, k(3 * 0.044715))));
      return e.add(e.mul(k(0.5), e.add(k(1), t)), e.mul(e.mul(e.mul(x, k(0.5)), e.sub(k(1), e.mul(t, t))), du));
    }
    // y = x Φ(x): f′ = Φ(x) + x φ(x).
    const cdf = e.mul(k(0.5), e.add(k(1), e.call('Erf', e.mul(x, k(Math.SQRT1_2)))));
    const pdf = e.mul(k(1 / Math.sqrt(2 * Math.PI)), e.call('Exp', e.mul(e.mul(x, x), k(-0.5))));
    return e.add(cdf, e.mul(x, pdf));
  }),
  // y = max(0, min(1, αx + β)): α · dy where 0 ≤ αx + β ≤ 1 (closed, as Clip).
  HardSigmoid: unaryDy(({ c, x, k, e }, dy) => {
    const alpha = c.node.attrFloat('alpha', 0.2);
    const v = e.add(e.mul(x, k(alpha)), k(c.node.attrFloat('beta', 0.5)));
    const inside = e.test('And', e.test('GreaterOrEqual', v, k(0)), e.test('LessOrEqual', v, k(1)));
    return e.keep(inside, e.mul(dy, k(alpha)));
  }),
  // y = x − bias (x > lambd), x + bias (x < −lambd), 0 in between: dx = dy where |x| > lambd
  // (0 at ±lambd, the forward's middle branch; everywhere dy for lambd < 0, as the forward).
  Shrink: unaryDy(({ c, x, k, e }, dy) => e.keep(e.test('Greater', e.call('Abs', x), k(c.node.attrFloat('lambd', 0.5))), dy)),
  // y = x · h, h = max(0, min(1, x/6 + 1/2)): f′ = h + x/6 on −3 ≤ x ≤ 3 (closed), i.e.
  // −1/2 at x = −3 and 3/2 at x = 3 (the inner one-sided slopes), 0 below, 1 above.
  HardSwish: unary(({ x, k, e }) => {
    const v = e.add(e.mul(x, k(1 / 6)), k(0.5));
    const h = e.call('Clip', v, k(0), k(1));
    const inside = e.test('And', e.test('GreaterOrEqual', v, k(0)), e.test('LessOrEqual', v, k(1)));
    return e.add(h, e.keep(inside, e.mul(x, k(1 / 6))));
  }),
  PRelu: {
    // y = x (x ≥ 0), slope · x (x < 0), slope broadcast to x: dx = dy (x > 0) or slope · dy
    // (x ≤ 0, the negative side's slope at 0 as Relu); dslope = dy · x where x < 0, summed
    // back to the slope's shape.
    grad(c) {
      const x = c.x(0);
      const slope = c.x(1);
      const y = c.y(0);
      const e = ew(c.b, y);
      const dy = c.dyOrZeros(0);
      const zero = c.b.scalar(0, elemType(c, x));
      const positive = e.test('Greater', x, zero);
      if (c.wants(0)) c.setGrad(0, e.where(positive, dy, e.mul(dy, slope)));
      if (c.wants(1)) c.setGrad(1, c.b.sumToShape(e.where(positive, zero, e.mul(dy, x)), slope, y));
    },
  },
  Clip: {
    // y = min(max(x, lo), hi), bounds optional. dx = dy where lo ≤ x ≤ hi (boundaries
    // included; nowhere when lo > hi, where the output is hi). dlo = Σ dy where x < lo and
    // lo ≤ hi; dhi = Σ dy where x > hi, or everywhere when lo > hi.
    grad(c) {
      const b = c.b;
      const x = c.x(0);
      const y = c.y(0);
      const t = elemType(c, x);
      const e = ew(b, y);
      const dy = c.dyOrZeros(0);
      const lo = c.xOpt(1) ?? clipAttrBound(c, 'min', t);
      const hi = c.xOpt(2) ?? clipAttrBound(c, 'max', t);
      if (!lo && !hi) {
        c.setGrad(0, dy);
        return;
      }
      const zero = b.scalar(0, t);
      const boundsInfo: OutInfo = { dtype: DT.BOOL, shape: lo?.shape ?? null };
      const ordered = lo && hi ? b.op('LessOrEqual', [lo, hi], {}, boundsInfo) : null;
      if (c.wants(0) && clipBoundsOrdered(lo, hi)) {
        // Bounds known and ordered: x is inside [lo, hi] exactly where Clip returned x itself,
        // so dx = dy where x == y — one comparison instead of two and an And.
        c.setGrad(0, e.keep(e.test('Equal', x, y), dy));
      } else if (c.wants(0)) {
        const above = lo ? e.test('GreaterOrEqual', x, lo) : null;
        const below = hi ? e.test('LessOrEqual', x, hi) : null;
        const inside = above && below ? e.test('And', above, below) : (above ?? below);
        c.setGrad(0, inside ? e.keep(inside, dy) : dy);
      }
      if (lo && c.wants(1)) {
        let m = e.test('Less', x, lo);
        if (ordered) m = e.test('And', m, ordered);
        c.setGrad(1, b.sumToShape(e.where(m, dy, zero), lo, y));
      }
      if (hi && c.wants(2)) {
        let m = e.test('Greater', x, hi);
        if (ordered) m = e.test('Or', m, b.op('Not', [ordered], {}, boundsInfo));
        c.setGrad(2, b.sumToShape(e.where(m, dy, zero), hi, y));
      }
    },
  },

  // ---- selection and types ----
  Where: {
    // Gradient to the two value operands, none to the condition.
    differentiable: [1, 2],
    grad(c) {
      const y = c.y(0);
      const e = ew(c.b, y);
      const cond = c.x(0);
      const dy = c.dyOrZeros(0);
      const zero = c.b.scalar(0, elemType(c, y));
      if (c.wants(1)) c.setGrad(1, c.b.sumToShape(e.where(cond, dy, zero), c.x(1), y));
      if (c.wants(2)) c.setGrad(2, c.b.sumToShape(e.where(cond, zero, dy), c.x(2), y));
    },
  },
  Cast: {
    // Float → float: the gradient is cast back. To any other type: no gradient.
    differentiable: (n) => (isFloatDtype(n.attrInt('to', 0)) ? [0] : []),
    grad(c) {
      c.setGrad(0, c.b.cast(c.dyOrZeros(0), elemType(c, c.x(0))));
    },
  },
  CastLike: {
    differentiable: (n) => {
      const to = n.inputs[1]?.dtype;
      return to === undefined || isFloatDtype(to) ? [0] : [];
    },
    grad(c) {
      c.setGrad(0, c.b.cast(c.dyOrZeros(0), elemType(c, c.x(0))));
    },
  },
};
