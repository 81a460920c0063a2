// Elementwise ops: activations, unary math, numpy-broadcasting arithmetic, comparison
// and logic, variadic Max/Min/Sum/Mean, Where, casts. Small known inputs are folded,
// including integer shape arithmetic over symbolic dims.

import { DataType } from '../../../ir/dtype.js';
import type { Shape } from '../../../ir/graph.js';
import type { RuleContext, ShapeRule, OutType } from '../context.js';
import { addDim, broadcastShapes, divDim, dimEq, mulDim, subDim } from '../dims.js';
import { castElem, isIntType, type KnownElem, type KnownValue, MAX_FOLD_ELEMENTS, elementCount, stridesOf } from '../known.js';
import { out, same } from './util.js';

// ---------------------------------------------------------------- folding helpers

/** Apply `fn` elementwise over known values with numpy broadcasting (capped). */
function foldBroadcast(values: readonly KnownValue[], outDtype: number, fn: (xs: KnownElem[]) => KnownElem): KnownValue | null {
  const rank = Math.max(0, ...values.map((v) => v.dims.length));
  const dims = new Array<number>(rank).fill(1);
  for (const v of values) {
    for (let k = 0; k < v.dims.length; k++) {
      const a = rank - v.dims.length + k;
      const d = v.dims[k]!;
      if (d === dims[a] || d === 1) continue;
      if (dims[a] === 1) dims[a] = d;
      else return null; // incompatible: the type rule reports it
    }
  }
  const n = elementCount(dims);
  if (n > MAX_FOLD_ELEMENTS) return null;
  // per input: stride of each output axis (0 where broadcast)
  const strides = values.map((v) => {
    const own = stridesOf(v.dims);
    return dims.map((_, a) => {
      const k = a - (rank - v.dims.length);
      return k < 0 || v.dims[k] === 1 ? 0 : own[k]!;
    });
  });
  const data = new Array<KnownElem>(n);
  const idx = new Array<number>(rank).fill(0);
  const offs = new Array<number>(values.length).fill(0);
  const xs = new Array<KnownElem>(values.length);
  for (let k = 0; k < n; k++) {
    for (let j = 0; j < values.length; j++) xs[j] = values[j]!.data[offs[j]!] ?? null;
    data[k] = castElem(fn(xs), outDtype);
    for (let a = rank - 1; a >= 0; a--) {
      idx[a]!++;
      for (let j = 0; j < values.length; j++) offs[j]! += strides[j]![a]!;
      if (idx[a]! < dims[a]!) break;
      for (let j = 0; j < values.length; j++) offs[j]! -= strides[j]![a]! * dims[a]!;
      idx[a] = 0;
    }
  }
  return { dtype: outDtype, dims, data };
}

function knownInputs(c: RuleContext, from = 0, to = c.numInputs): KnownValue[] | null {
  const vs: KnownValue[] = [];
  for (let i = from; i < to; i++) {
    if (!c.has(i)) continue;
    const v = c.value(i);
    if (!v) return null;
    vs.push(v);
  }
  return vs;
}

// Orderings a comparison may have: bitmask of LT, EQ, GT. Symbols are dims (>= 0).
const LT = 1;
const EQ = 2;
const GT = 4;
const ANY = LT | EQ | GT;

function order(a: KnownElem, b: KnownElem): number {
  if (a === null || b === null) return ANY;
  if (typeof a === 'number' && typeof b === 'number') {
    if (Number.isNaN(a) || Number.isNaN(b)) return 0;
    return a < b ? LT : a > b ? GT : EQ;
  }
  if (typeof a === 'string' && typeof b === 'string') return dimEq(a, b) ? EQ : ANY;
  if (typeof a === 'string') return symVsNumber(b as number);
  const m = symVsNumber(a as number);
  return (m & LT ? GT : 0) | (m & EQ ? EQ : 0) | (m & GT ? LT : 0);
}
/** Ordering of a symbolic dim (>= 0) against a number. */
function symVsNumber(n: number): number {
  return n < 0 ? GT : n === 0 ? EQ | GT : ANY;
}
function decide(mask: number, yes: number): KnownElem {
  if (mask !== 0 && (mask & ~yes) === 0) return 1;
  if ((mask & yes) === 0) return 0;
  return null;
}

function arith(op: string, a: KnownElem, b: KnownElem, dt: number, fmod: boolean): KnownElem {
  if (a === null || b === null) return null;
  const int = isIntType(dt);
  if (typeof a === 'string' || typeof b === 'string') {
    // symbolic dims: only exact integer arithmetic
    switch (op) {
      case 'Add':
        return addDim(a, b);
      case 'Sub':
        return subDim(a, b);
      case 'Mul':
        return mulDim(a, b);
      case 'Div':
        return int || (typeof b === 'number' && Number.isInteger(b)) ? divDim(a, b) : null;
      default:
        return null;
    }
  }
  switch (op) {
    case 'Add':
      return a + b;
    case 'Sub':
      return a - b;
    case 'Mul':
      return a * b;
    case 'Div':
      if (int) return b === 0 ? null : Math.trunc(a / b);
      return a / b;
    case 'Pow':
      return Math.pow(a, b);
    case 'Mod': {
      if (b === 0) return int ? null : NaN;
      const r = a % b;
      if (fmod || !int) return r;
      return r !== 0 && r < 0 !== b < 0 ? r + b : r;
    }
    default:
      return null;
  }
}

// ---------------------------------------------------------------- rule makers

/** Same type as input 0 (activations, unary math, normalizations). */
const unary: ShapeRule = (c) => [same(c)];

function unaryFold(fn: (x: number) => number, symbolic: (s: string) => KnownElem = () => null): ShapeRule {
  return (c) => {
    const t = same(c);
    const v = c.value(0);
    if (!t || !v || v.data.length > MAX_FOLD_ELEMENTS) return [t];
    const data = v.data.map((x) => (x === null ? null : typeof x === 'string' ? symbolic(x) : castElem(fn(x), v.dtype)));
    return [{ ...t, value: { dtype: v.dtype, dims: v.dims, data } }];
  };
}

const keepSym = (s: string): KnownElem => s;

function roundHalfEven(x: number): number {
  if (Math.abs(x % 1) === 0.5) return 2 * Math.round(x / 2);
  return Math.round(x);
}

/** The legacy (opset < 7) broadcast attribute: B is broadcast onto A. */
function legacyShape(c: RuleContext): Shape | null | undefined {
  if (c.opset >= 7) return undefined;
  const a = c.shape(0);
  return a ? [...a] : null;
}

function binary(op: string, result: 'same' | 'bool'): ShapeRule {
  return (c) => {
    const ta = c.type(0);
    const tb = c.type(1);
    const inDtype = ta?.dtype || tb?.dtype || 0;
    const dtype = result === 'bool' ? DataType.BOOL : inDtype;
    const legacy = legacyShape(c);
    const shape = legacy !== undefined ? legacy : broadcastShapes([c.shape(0), c.shape(1)], (m) => c.conflict(m));
    let value: KnownValue | null = null;
    const vs = knownInputs(c, 0, 2);
    if (vs && vs.length === 2 && legacy === undefined) {
      const fmod = c.attrInt('fmod', 0) !== 0;
      value = foldBroadcast(vs, dtype || vs[0]!.dtype, (xs) => binaryElem(op, xs[0]!, xs[1]!, inDtype || vs[0]!.dtype, fmod));
    }
    if (!ta && !tb && !value) return [null];
    return [out(dtype, shape, value)];
  };
}

function binaryElem(op: string, a: KnownElem, b: KnownElem, dt: number, fmod: boolean): KnownElem {
  switch (op) {
    case 'Equal':
      return decide(order(a, b), EQ);
    case 'Less':
      return decide(order(a, b), LT);
    case 'Greater':
      return decide(order(a, b), GT);
    case 'LessOrEqual':
      return decide(order(a, b), LT | EQ);
    case 'GreaterOrEqual':
      return decide(order(a, b), GT | EQ);
    case 'And':
      return a === 0 || b === 0 ? 0 : a === null || b === null ? null : 1;
    case 'Or':
      return a === 1 || b === 1 ? 1 : a === null || b === null ? null : 0;
    case 'Xor':
      return typeof a === 'number' && typeof b === 'number' ? (a !== 0) !== (b !== 0) ? 1 : 0 : null;
    default:
      return arith(op, a, b, dt, fmod);
  }
}

function minMax(a: KnownElem, b: KnownElem, max: boolean): KnownElem {
  if (typeof a === 'number' && typeof b === 'number') return max ? Math.max(a, b) : Math.min(a, b);
  const m = order(a, b);
  if (m === 0) return NaN;
  if ((m & (max ? LT : GT)) === 0) return a; // a >= b for max, a <= b for min
  if ((m & (max ? GT : LT)) === 0) return b;
  return null;
}

function variadic(op: 'Max' | 'Min' | 'Sum' | 'Mean'): ShapeRule {
  return (c) => {
    const shapes: (Shape | null)[] = [];
    let dtype = 0;
    for (let i = 0; i < c.numInputs; i++) {
      if (!c.has(i)) continue;
      shapes.push(c.shape(i));
      dtype ||= c.dtype(i);
    }
    if (shapes.length === 0) return [null];
    const shape = broadcastShapes(shapes, (m) => c.conflict(m));
    let value: KnownValue | null = null;
    const vs = knownInputs(c);
    if (vs && vs.length) {
      const dt = dtype || vs[0]!.dtype;
      value = foldBroadcast(vs, dt, (xs) => {
        let acc: KnownElem = xs[0]!;
        for (let j = 1; j < xs.length; j++) {
          acc = op === 'Max' || op === 'Min' ? minMax(acc, xs[j]!, op === 'Max') : arith('Add', acc, xs[j]!, dt, false);
        }
        if (op === 'Mean') acc = typeof acc === 'number' ? acc / xs.length : null;
        return acc;
      });
    }
    return [out(dtype, shape, value)];
  };
}

const where: ShapeRule = (c) => {
  const dtype = c.dtype(1) || c.dtype(2);
  const shape = broadcastShapes([c.shape(0), c.shape(1), c.shape(2)], (m) => c.conflict(m));
  let value: KnownValue | null = null;
  const vs = knownInputs(c, 0, 3);
  if (vs && vs.length === 3) {
    value = foldBroadcast(vs, dtype || vs[1]!.dtype, ([cond, x, y]) => {
      if (cond === null) return x !== null && y !== null && dimEq(x!, y!) ? x! : null;
      return cond !== 0 ? x! : y!;
    });
  }
  if (!dtype && !shape && !value) return [null];
  return [out(dtype, shape, value)];
};

const cast: ShapeRule = (c) => {
  const to = c.attrInt('to', 0);
  const v = c.value(0);
  const value = v ? { dtype: to, dims: v.dims, data: v.data.map((x) => castElem(x, to)) } : null;
  const s = c.shape(0);
  return [out(to, s ? [...s] : null, value)];
};

const castLike: ShapeRule = (c) => {
  const to = c.dtype(1);
  const v = c.value(0);
  const value = v && to ? { dtype: to, dims: v.dims, data: v.data.map((x) => castElem(x, to)) } : null;
  const s = c.shape(0);
  return [out(to, s ? [...s] : null, value)];
};

/** Identity-like: same type, same value. */
const identity: ShapeRule = (c) => {
  const t = same(c);
  const v = c.value(0);
  return [t && v ? { ...t, value: v } : t];
};

const dropout: ShapeRule = (c) => {
  const t = same(c);
  const v = c.value(0);
  const training = c.opset >= 12 && c.has(2) && c.scalar(2) !== 0;
  const y: OutType | null = t && v && !training ? { ...t, value: v } : t;
  const maskType = c.opset >= 10 ? DataType.BOOL : c.dtype(0);
  return [y, t ? { dtype: maskType, shape: t.shape } : null];
};

const clip: ShapeRule = (c) => {
  const t = same(c);
  const v = c.value(0);
  if (!t || !v) return [t];
  let lo: number | null;
  let hi: number | null;
  if (c.opset < 11) {
    lo = c.attrFloat('min', -Infinity);
    hi = c.attrFloat('max', Infinity);
  } else {
    lo = c.has(1) ? c.scalar(1) : -Infinity;
    hi = c.has(2) ? c.scalar(2) : Infinity;
  }
  if (lo === null || hi === null) return [t];
  const l = lo;
  const h = hi;
  const data = v.data.map((x) => (typeof x === 'number' ? castElem(Math.min(Math.max(x, l), h), v.dtype) : x !== null && l <= 0 && h === Infinity ? x : null));
  return [{ ...t, value: { dtype: v.dtype, dims: v.dims, data } }];
};

const prelu: ShapeRule = (c) => {
  const t = same(c);
  // slope must broadcast onto X (unidirectional)
  const xs = c.shape(0);
  const ss = c.shape(1);
  if (xs && ss) broadcastShapes([xs, ss], (m) => c.conflict(`slope does not broadcast to X: ${m}`));
  return [t];
};

const toBool: ShapeRule = (c) => {
  const s = c.shape(0);
  if (!c.type(0)) return [null];
  return [out(DataType.BOOL, s ? [...s] : null)];
};

const not: ShapeRule = (c) => {
  const t = same(c);
  const v = c.value(0);
  if (!t || !v) return [t];
  return [{ ...t, value: { dtype: v.dtype, dims: v.dims, data: v.data.map((x) => (x === null ? null : x === 0 ? 1 : typeof x === 'number' ? 0 : null)) } }];
};

const PASSTHROUGH = [
  'LeakyRelu',
  'Elu',
  'Selu',
  'Celu',
  'Gelu',
  'HardSigmoid',
  'HardSwish',
  'Sigmoid',
  'Tanh',
  'Erf',
  'Softplus',
  'Softsign',
  'Mish',
  'ThresholdedRelu',
  'Shrink',
  'Softmax',
  'LogSoftmax',
  'Hardmax',
  'Sin',
  'Cos',
  'Tan',
  'Asin',
  'Acos',
  'Atan',
  'Sinh',
  'Cosh',
  'Asinh',
  'Acosh',
  'Atanh',
  'BitwiseNot',
  'LpNormalization',
  'MeanVarianceNormalization',
  'LRN',
  'InstanceNormalization',
  'GroupNormalization',
  'Trilu',
  'ReverseSequence',
  'CumSum',
  'ScatterND',
  'ScatterElements',
  'Scatter',
  'Bernoulli',
];

export const ELEMENTWISE_RULES: Record<string, ShapeRule> = {
  ...Object.fromEntries(PASSTHROUGH.map((op) => [op, unary])),
  Relu: unaryFold((x) => Math.max(x, 0), keepSym),
  Neg: unaryFold((x) => -x),
  Abs: unaryFold(Math.abs, keepSym),
  Floor: unaryFold(Math.floor, keepSym),
  Ceil: unaryFold(Math.ceil, keepSym),
  Round: unaryFold(roundHalfEven, keepSym),
  Sign: unaryFold(Math.sign),
  Sqrt: unaryFold(Math.sqrt),
  Exp: unaryFold(Math.exp),
  Log: unaryFold(Math.log),
  Reciprocal: unaryFold((x) => 1 / x),
  Not: not,
  IsNaN: toBool,
  IsInf: toBool,
  PRelu: prelu,
  Clip: clip,
  Add: binary('Add', 'same'),
  Sub: binary('Sub', 'same'),
  Mul: binary('Mul', 'same'),
  Div: binary('Div', 'same'),
  Pow: binary('Pow', 'same'),
  Mod: binary('Mod', 'same'),
  BitShift: binary('BitShift', 'same'),
  BitwiseAnd: binary('BitwiseAnd', 'same'),
  BitwiseOr: binary('BitwiseOr', 'same'),
  BitwiseXor: binary('BitwiseXor', 'same'),
  Equal: binary('Equal', 'bool'),
  Less: binary('Less', 'bool'),
  Greater: binary('Greater', 'bool'),
  LessOrEqual: binary('LessOrEqual', 'bool'),
  GreaterOrEqual: binary('GreaterOrEqual', 'bool'),
  And: binary('And', 'bool'),
  Or: binary('Or', 'bool'),
  Xor: binary('Xor', 'bool'),
  Max: variadic('Max'),
  Min: variadic('Min'),
  Sum: variadic('Sum'),
  Mean: variadic('Mean'),
  Where: where,
  Cast: cast,
  CastLike: castLike,
  Identity: identity,
  Dropout: dropout,
};
