// lower-recurrent: RNN, GRU and LSTM nodes become the computation they stand for, unrolled
// over their static sequence length in standard ops (MatMul, Add, Mul, Sub, Split, Concat,
// Where, ReverseSequence, Clip and the activations). Why: the gradient pass has no rule for
// recurrent ops, while every op of the unrolled form has one, so a CRNN (convolutions and a
// bidirectional LSTM) can be differentiated; `differentiate` lowers the recurrent nodes on
// its path with this pass.
//
// Per direction, the input projection X·Wᵀ + biases is one MatMul over all steps, split into
// steps; each step adds H·Rᵀ and applies the cell (ONNX spec, gate orders LSTM iofc, GRU zrh;
// clip bounds the gates' pre-activations, peepholes included). The values are those
// onnxruntime computes, also where it departs from or says more than the spec:
// - sequence_lens: past an entry's length the state stays and Y is 0; the reverse direction
//   starts at each entry's own last step (ReverseSequence of the input, then of Y); an entry of
//   length 0 has Y_h = Y_c = 0 (not its initial state).
// - activation_alpha/beta are consumed in order by the activations that take them; when they
//   run out, onnxruntime's defaults apply (LeakyRelu 0.01, HardSigmoid 0.2/0.5, Elu 1, and 0
//   for the others: ThresholdedRelu's α is 0 there, not the op's 1).
// onnxruntime runs neither layout 1 nor double for these ops; the lowered form does both.
// Needs X's sequence length (E_SHAPE otherwise: run shape inference with the input shapes
// first) and opset ≥ 13 (E_OPSET; differentiate upgrades before lowering).

import { constantOf } from '../ir/constants.js';
import { DataType } from '../ir/dtype.js';
import { SplitcError } from '../ir/errors.js';
import { attr, AttrType, decodeUtf8, type Dim, type Model, type Node, type Value } from '../ir/graph.js';
import { dimPart, Emitter, type OutInfo, shapeFromParts } from './emit.js';
import { checkPassOptions, registerPass, type Pass, type PassContext, type PassResult } from './pass.js';

export const RECURRENT_OPS: ReadonlySet<string> = new Set(['RNN', 'GRU', 'LSTM']);
/** Inputs of RNN/GRU/LSTM a gradient flows to once lowered: X, W, R, B, initial_h, initial_c, P (not sequence_lens). */
export const RECURRENT_DIFFERENTIABLE_INPUTS: readonly number[] = [0, 1, 2, 3, 5, 6, 7];

/** The lowest opset the lowered ops are written for (Split sizes and Clip bounds as inputs). */
export const MIN_LOWERING_OPSET = 13;

type RecurrentOp = 'RNN' | 'GRU' | 'LSTM';

/** Gate blocks in W and R; the default activations of one direction. */
const OPS: Record<RecurrentOp, { gates: number; activations: string[] }> = {
  RNN: { gates: 1, activations: ['tanh'] },
  GRU: { gates: 3, activations: ['sigmoid', 'tanh'] },
  LSTM: { gates: 4, activations: ['sigmoid', 'tanh', 'tanh'] },
};

interface Activation {
  name: string;
  alpha: number;
  beta: number;
}

/**
 * The activations the ONNX spec lists for recurrent ops: which of α/β each takes (with
 * onnxruntime's default when activation_alpha/beta run out) and its form in standard ops.
 */
const ACTIVATIONS: Record<string, { alpha?: number; beta?: number; emit(e: LoweringOps, x: Value, a: Activation): Value }> = {
  sigmoid: { emit: (e, x) => e.op('Sigmoid', [x], {}, x) },
  tanh: { emit: (e, x) => e.op('Tanh', [x], {}, x) },
  relu: { emit: (e, x) => e.op('Relu', [x], {}, x) },
  affine: { alpha: 0, beta: 0, emit: (e, x, a) => e.b.add(e.b.mul(x, e.scalar(a.alpha)), e.scalar(a.beta)) },
  leakyrelu: { alpha: 0.01, emit: (e, x, a) => e.op('LeakyRelu', [x], { alpha: attr.float('alpha', a.alpha) }, x) },
  thresholdedrelu: { alpha: 0, emit: (e, x, a) => e.op('ThresholdedRelu', [x], { alpha: attr.float('alpha', a.alpha) }, x) },
  scaledtanh: { alpha: 0, beta: 0, emit: (e, x, a) => e.b.mul(e.op('Tanh', [e.b.mul(x, e.scalar(a.beta))], {}, x), e.scalar(a.alpha)) },
  hardsigmoid: { alpha: 0.2, beta: 0.5, emit: (e, x, a) => e.op('HardSigmoid', [x], { alpha: attr.float('alpha', a.alpha), beta: attr.float('beta', a.beta) }, x) },
  elu: { alpha: 1, emit: (e, x, a) => e.op('Elu', [x], { alpha: attr.float('alpha', a.alpha) }, x) },
  softsign: { emit: (e, x) => e.op('Softsign', [x], {}, x) },
  softplus: { emit: (e, x) => e.op('Softplus', [x], {}, x) },
};

/** Sequence lengths: absent (or all full), known, or fed at run time. */
type Lengths = { kind: 'full' } | { kind: 'known'; values: number[] } | { kind: 'fed'; value: Value };

/** Everything a node's lowering needs, checked before the graph changes. */
interface Plan {
  node: Node;
  op: RecurrentOp;
  dtype: DataType;
  layout: number;
  reverse: boolean[];
  hidden: number;
  seqLen: number;
  batch: Dim;
  /** Per direction: the op's activations in order (f, g, h). */
  activations: Activation[][];
  clip: number | null;
  inputForget: boolean;
  linearBeforeReset: boolean;
  lengths: Lengths;
  x: Value;
  w: Value;
  r: Value;
  bias: Value | null;
  initialH: Value | null;
  initialC: Value | null;
  peephole: Value | null;
  /** Output index → the value to replace (outputs the node has). */
  outputs: Map<number, Value>;
}

/** An RNN, GRU or LSTM of the standard domain. */
export function isRecurrent(n: Node): n is Node & { opType: RecurrentOp } {
  return RECURRENT_OPS.has(n.opType) && (n.domain === '' || n.domain === 'ai.onnx');
}

function fail(node: Node, code: 'E_MALFORMED' | 'E_SHAPE' | 'E_OPSET', message: string, hint?: string): SplitcError {
  return new SplitcError(code, `${node.describe()}: ${message}`, { location: node.name || node.outputs.find((o) => o.name)?.name || node.opType, ...(hint ? { hint } : {}) });
}

function attrStrings(node: Node, name: string): string[] | undefined {
  const a = node.attr(name);
  if (!a) return undefined;
  if (a.type === AttrType.STRINGS) return a.value.map(decodeUtf8);
  if (a.type === AttrType.STRING) return [decodeUtf8(a.value)];
  return undefined;
}

function input(node: Node, i: number): Value | null {
  const v = node.inputs[i];
  return v && v.name !== '' ? v : null;
}

/** Activations per direction, as onnxruntime reads them (see the file comment). */
function planActivations(node: Node, op: RecurrentOp, directions: number): Activation[][] {
  const per = OPS[op].activations.length;
  let names = (attrStrings(node, 'activations') ?? Array.from({ length: directions }, () => OPS[op].activations).flat()).map((s) => s.toLowerCase());
  // The old RNN default was [Tanh, Tanh] whatever the direction: onnxruntime takes the first.
  if (op === 'RNN' && directions === 1 && names.length === 2) names = names.slice(0, 1);
  if (names.length !== per * directions) {
    throw fail(node, 'E_MALFORMED', `has ${names.length} activations; a ${directions === 2 ? 'bidirectional ' : ''}${op} takes ${per * directions}`, `list ${per} activation${per === 1 ? '' : 's'} per direction`);
  }
  for (const n of names) {
    if (!(n in ACTIVATIONS)) {
      throw fail(node, 'E_MALFORMED', `activation '${n}' has no lowering`, `recurrent activations: Relu, Tanh, Sigmoid, Affine, LeakyRelu, ThresholdedRelu, ScaledTanh, HardSigmoid, Elu, Softsign, Softplus`);
    }
  }
  const alphas = node.attrFloats('activation_alpha') ?? [];
  const betas = node.attrFloats('activation_beta') ?? [];
  let ai = 0;
  let bi = 0;
  const acts = names.map((name): Activation => {
    const spec = ACTIVATIONS[name]!;
    const alpha = spec.alpha === undefined ? 0 : ai < alphas.length ? alphas[ai++]! : spec.alpha;
    const beta = spec.beta === undefined ? 0 : bi < betas.length ? betas[bi++]! : spec.beta;
    return { name, alpha, beta };
  });
  return Array.from({ length: directions }, (_, d) => acts.slice(d * per, (d + 1) * per));
}

function planNode(node: Node, opset: number): Plan {
  const op = node.opType as RecurrentOp;
  if (opset < MIN_LOWERING_OPSET) {
    throw fail(node, 'E_OPSET', `lowering writes opset ${MIN_LOWERING_OPSET} ops, the model imports opset ${opset}`, `upgrade the model first (upgrade-opset{to=${MIN_LOWERING_OPSET}})`);
  }
  const x = input(node, 0);
  const w = input(node, 1);
  const r = input(node, 2);
  if (!x || !w || !r) throw fail(node, 'E_MALFORMED', 'needs inputs X, W and R');
  const direction = node.attrString('direction', 'forward');
  if (direction !== 'forward' && direction !== 'reverse' && direction !== 'bidirectional') throw fail(node, 'E_MALFORMED', `unknown direction '${direction}'`);
  const directions = direction === 'bidirectional' ? 2 : 1;
  const layout = node.attrInt('layout', 0);
  if (layout !== 0 && layout !== 1) throw fail(node, 'E_MALFORMED', `unknown layout ${layout}`);
  const xs = x.shape;
  if (!xs || xs.length !== 3) {
    throw fail(node, 'E_SHAPE', `the shape of X ('${x.name}') is ${xs ? `of rank ${xs.length}, not 3` : 'unknown'}`, 'give the input shapes (--shape name=dims, or shape-infer{shape=…}) before lowering');
  }
  const seqLen = xs[layout === 0 ? 0 : 1];
  if (typeof seqLen !== 'number') {
    throw fail(node, 'E_SHAPE', `its sequence length (axis ${layout === 0 ? 0 : 1} of X '${x.name}', [${xs.map((d) => d ?? '?').join(',')}]) is not static; the unrolled form needs it`, 'give the input shapes with a fixed sequence length (--shape name=dims, or shape-infer{shape=…})');
  }
  if (seqLen < 1) throw fail(node, 'E_SHAPE', `its sequence length is ${seqLen}`);
  const batch = xs[layout === 0 ? 1 : 0] ?? null;
  const rs = r.shape;
  const hidden = node.attrInt('hidden_size') ?? (rs && typeof rs[2] === 'number' ? rs[2] : undefined);
  if (hidden === undefined || !(hidden >= 1)) throw fail(node, 'E_SHAPE', 'has no hidden_size attribute and R has no static shape', 'give the input shapes, or set hidden_size');
  const dtype = x.dtype ?? w.dtype;
  if (dtype === undefined) throw fail(node, 'E_SHAPE', `the element type of X ('${x.name}') is unknown`);

  const clipAttr = node.attr('clip') ? node.attrFloat('clip') : undefined;
  if (clipAttr !== undefined && !(clipAttr > 0)) throw fail(node, 'E_MALFORMED', `clip must be positive, got ${clipAttr}`);

  let lengths: Lengths = { kind: 'full' };
  const lensValue = input(node, 4);
  if (lensValue) {
    const t = constantOf(lensValue);
    if (t) {
      const values = Array.from(t.toTypedArray() as ArrayLike<number | bigint>, Number);
      if (values.some((v) => !(v >= 0 && v <= seqLen))) throw fail(node, 'E_MALFORMED', `sequence_lens [${values.join(',')}] has lengths outside [0, ${seqLen}]`);
      if (typeof batch === 'number' && values.length !== batch) throw fail(node, 'E_MALFORMED', `sequence_lens has ${values.length} entries for a batch of ${batch}`);
      if (values.some((v) => v !== seqLen)) lengths = { kind: 'known', values };
    } else {
      lengths = { kind: 'fed', value: lensValue };
    }
  }

  const outputs = new Map<number, Value>();
  node.outputs.forEach((o, i) => {
    if (o.name !== '' && i < (op === 'LSTM' ? 3 : 2)) outputs.set(i, o);
  });
  return {
    node,
    op,
    dtype,
    layout,
    reverse: direction === 'bidirectional' ? [false, true] : [direction === 'reverse'],
    hidden,
    seqLen,
    batch,
    activations: planActivations(node, op, directions),
    clip: clipAttr ?? null,
    inputForget: op === 'LSTM' && node.attrInt('input_forget', 0) !== 0,
    linearBeforeReset: op === 'GRU' && node.attrInt('linear_before_reset', 0) !== 0,
    lengths,
    x,
    w,
    r,
    bias: input(node, 3),
    initialH: input(node, 5),
    initialC: op === 'LSTM' ? input(node, 6) : null,
    peephole: op === 'LSTM' ? input(node, 7) : null,
    outputs,
  };
}

/** The ops of one node's lowering: emitter calls with the node's element type. */
class LoweringOps {
  constructor(
    readonly b: Emitter,
    readonly p: Plan,
  ) {}

  info(shape: Dim[] | null): OutInfo {
    return { dtype: this.p.dtype, shape };
  }
  op(opType: string, inputs: (Value | null)[], attrs: Parameters<Emitter['op']>[2], like: Value): Value {
    return this.b.op(opType, inputs, attrs, { dtype: this.p.dtype, shape: like.shape });
  }
  scalar(v: number): Value {
    return this.b.scalar(v, this.p.dtype);
  }
  /** `parts` outputs along `axis`: equal parts, or of the given sizes. */
  split(x: Value, parts: number, axis: number, shapes: Dim[][], sizes?: number[]): Value[] {
    if (parts === 1) return [x];
    const infos = shapes.map((s) => this.info(s));
    if (sizes) return this.b.opMulti('Split', [x, this.b.ints(sizes)], parts, { axis }, infos);
    return this.b.opMulti('Split', [x], parts, this.b.opset >= 18 ? { axis, num_outputs: parts } : { axis }, infos);
  }
  /** Per direction: `v` ([D, …inner]) without its direction axis. */
  perDirection(v: Value | null, inner: Dim[]): (Value | null)[] {
    const d = this.p.reverse.length;
    if (!v) return new Array<Value | null>(d).fill(null);
    return this.split(v, d, 0, Array.from({ length: d }, () => [1, ...inner])).map((s) => this.b.squeeze(s, [0], this.info(inner)));
  }
  clip(x: Value): Value {
    const c = this.p.clip;
    return c === null ? x : this.op('Clip', [x, this.scalar(-c), this.scalar(c)], {}, x);
  }
  act(a: Activation, x: Value): Value {
    return ACTIVATIONS[a.name]!.emit(this, this.clip(x), a);
  }
}

interface Cell {
  /** One step from state (h, c) with this step's input projection(s); returns the new state. */
  step(xs: Value[], h: Value, c: Value | null): { h: Value; c: Value | null };
}

/** Lowers one planned node; returns output index → new value. */
function lowerNode(b: Emitter, p: Plan): Map<number, Value> {
  const e = new LoweringOps(b, p);
  const { hidden: H, seqLen: T, batch: N, dtype } = p;
  const D = p.reverse.length;
  const G = OPS[p.op].gates;
  const xs = p.x.shape!;
  const inputSize = xs[2] ?? null;

  // Layout 0 throughout: X [T, N, I], states [D, N, H].
  const x = p.layout === 1 ? b.transpose(p.x, [1, 0, 2], e.info([T, N, inputSize])) : p.x;
  const toLayout0 = (v: Value | null): Value | null => (v && p.layout === 1 ? b.transpose(v, [1, 0, 2], e.info([D, N, H])) : v);
  const ws = e.perDirection(p.w, [G * H, inputSize]);
  const rs = e.perDirection(p.r, [G * H, H]);
  const bs = e.perDirection(p.bias, [2 * G * H]);
  const ps = e.perDirection(p.peephole, [3 * H]);
  const h0s = e.perDirection(toLayout0(p.initialH), [N, H]);
  const c0s = e.perDirection(toLayout0(p.initialC), [N, H]);

  // A zero state when no initial one is given.
  let zeros: Value | null = null;
  const zeroState = (): Value => {
    if (zeros) return zeros;
    return (zeros = b.filled(shapeFromParts(b, [dimPart(b, x, 1), H]), 0, dtype, [N, H]));
  };

  // Sequence lengths: per step, which entries still run ([N, 1] bool), or 'all' / 'none'.
  const lens = p.lengths;
  const lensInt64 =
    lens.kind === 'fed'
      ? b.cast(lens.value, DataType.INT64)
      : lens.kind === 'known'
        ? b.constant(DataType.INT64, [lens.values.length], lens.values)
        : null;
  const lensColumn = lens.kind === 'fed' ? b.unsqueeze(lensInt64!, [1], { dtype: DataType.INT64, shape: [N, 1] }) : null;
  const running = new Map<number, Value | 'all' | 'none'>();
  const runningAt = (k: number): Value | 'all' | 'none' => {
    let v = running.get(k);
    if (v !== undefined) return v;
    if (lens.kind === 'full') v = 'all';
    else if (lens.kind === 'known') {
      const on = lens.values.map((l) => (k < l ? 1 : 0));
      v = on.every((o) => o === 1) ? 'all' : on.every((o) => o === 0) ? 'none' : b.constant(DataType.BOOL, [on.length, 1], on);
    } else {
      v = b.op('Less', [b.scalar(k, DataType.INT64), lensColumn!], {}, { dtype: DataType.BOOL, shape: [N, 1] });
    }
    running.set(k, v);
    return v;
  };
  // Entries of length 0 end with a zero state (as onnxruntime gives them).
  let nonEmptyValue: Value | null | undefined;
  const nonEmpty = (): Value | null => {
    if (nonEmptyValue !== undefined) return nonEmptyValue;
    if (lens.kind === 'known') nonEmptyValue = lens.values.some((l) => l === 0) ? b.constant(DataType.BOOL, [lens.values.length, 1], lens.values.map((l) => (l > 0 ? 1 : 0))) : null;
    else if (lens.kind === 'fed') nonEmptyValue = b.op('Greater', [lensColumn!, b.scalar(0, DataType.INT64)], {}, { dtype: DataType.BOOL, shape: [N, 1] });
    else nonEmptyValue = null;
    return nonEmptyValue;
  };

  const wantY = p.outputs.has(0);
  const wantH = p.outputs.has(1);
  const wantC = p.outputs.has(2);
  const ys: Value[] = [];
  const hs: Value[] = [];
  const cs: Value[] = [];
  const state = e.info([N, H]);
  for (let d = 0; d < D; d++) {
    const reverse = p.reverse[d]!;
    // With lengths, the reverse direction runs forward over each entry's reversed prefix.
    const byReversal = reverse && lensInt64 !== null;
    const xd = byReversal ? b.op('ReverseSequence', [x, lensInt64], { time_axis: 0, batch_axis: 1 }, e.info([T, N, inputSize])) : x;
    const { steps: projections, rbh } = inputProjections(e, p, xd, ws[d]!, bs[d] ?? null);
    const cell = makeCell(e, p, d, rs[d]!, rbh, ps[d] ?? null);
    let h = h0s[d] ?? zeroState();
    let c = p.op === 'LSTM' ? (c0s[d] ?? zeroState()) : null;
    const yd: Value[] = new Array<Value>(T);
    for (let k = 0; k < T; k++) {
      const t = reverse && !byReversal ? T - 1 - k : k;
      const last = k === T - 1;
      const run = runningAt(k);
      if (run === 'none') {
        if (wantY) yd[t] = zeroState();
        continue;
      }
      const next = cell.step(
        projections.map((steps) => steps[t]!),
        h,
        c,
      );
      if (run === 'all') {
        if (wantY) yd[t] = next.h;
        h = next.h;
        c = next.c;
        continue;
      }
      if (wantY) yd[t] = b.op('Where', [run, next.h, e.scalar(0)], {}, state);
      if (!last || wantH) h = b.op('Where', [run, next.h, h], {}, state);
      if (c && next.c && (!last || wantC)) c = b.op('Where', [run, next.c, c], {}, state);
    }
    if (wantY) {
      let y = b.reshape(b.op('Concat', yd, { axis: 0 }, e.info(typeof N === 'number' ? [T * N, H] : [null, H])), b.ints([T, -1, H]), e.info([T, N, H]));
      if (byReversal) y = b.op('ReverseSequence', [y, lensInt64], { time_axis: 0, batch_axis: 1 }, e.info([T, N, H]));
      ys.push(y);
    }
    const final = (v: Value): Value => {
      const ended = nonEmpty();
      return ended ? b.op('Where', [ended, v, e.scalar(0)], {}, state) : v;
    };
    if (wantH) hs.push(final(h));
    if (wantC && c) cs.push(final(c));
  }

  const out = new Map<number, Value>();
  const stack = (parts: Value[], axis: number, shape: Dim[]): Value => {
    const one = [...shape];
    one[axis] = 1;
    const lifted = parts.map((v) => b.unsqueeze(v, [axis], e.info(one)));
    return lifted.length === 1 ? lifted[0]! : b.op('Concat', lifted, { axis }, e.info(shape));
  };
  if (wantY) {
    const y = stack(ys, 1, [T, D, N, H]);
    out.set(0, p.layout === 1 ? b.transpose(y, [2, 0, 1, 3], e.info([N, T, D, H])) : y);
  }
  const states = (parts: Value[]): Value => {
    const s = stack(parts, 0, [D, N, H]);
    return p.layout === 1 ? b.transpose(s, [1, 0, 2], e.info([N, D, H])) : s;
  };
  if (wantH) out.set(1, states(hs));
  if (wantC) out.set(2, states(cs));
  return out;
}

/**
 * X·Wᵀ plus the biases that do not depend on the state, split into steps: one sequence of
 * [N, G·H] per step for RNN and LSTM; for GRU two, the z/r gates and the h gate (whose
 * recurrent part is applied after the reset gate), and then GRU's Rbh when linear_before_reset
 * puts it inside the reset gate's product.
 */
function inputProjections(e: LoweringOps, p: Plan, x: Value, w: Value, bias: Value | null): { steps: Value[][]; rbh: Value | null } {
  const b = e.b;
  const { hidden: H, seqLen: T, batch: N } = p;
  const G = OPS[p.op].gates;
  const rows = typeof N === 'number' ? T * N : null;
  const flat = b.op('Flatten', [x], { axis: 2 }, e.info([rows, x.shape?.[2] ?? null]));
  const steps = (proj: Value, width: number): Value[] => e.split(proj, T, 0, Array.from({ length: T }, () => [N, width]));
  const project = (wPart: Value, bPart: Value | null, width: number): Value[] => {
    const xw = b.op('MatMul', [flat, b.transpose(wPart, [1, 0], e.info([null, width]))], {}, e.info([rows, width]));
    return steps(bPart ? b.add(xw, bPart) : xw, width);
  };
  if (p.op !== 'GRU') {
    let bPart: Value | null = null;
    if (bias) {
      const [wb, rb] = e.split(bias, 2, 0, [[G * H], [G * H]]);
      bPart = b.add(wb!, rb!);
    }
    return { steps: [project(w, bPart, G * H)], rbh: null };
  }
  const [wzr, wh] = e.split(w, 2, 0, [[2 * H, null], [H, null]], [2 * H, H]);
  let bzr: Value | null = null;
  let bh: Value | null = null;
  let rbhOut: Value | null = null;
  if (bias) {
    const [wbzr, wbh, rbzr, rbh] = e.split(bias, 4, 0, [[2 * H], [H], [2 * H], [H]], [2 * H, H, 2 * H, H]);
    bzr = b.add(wbzr!, rbzr!);
    // With linear_before_reset, Rbh is added to H·Rhᵀ inside the reset gate's product.
    bh = p.linearBeforeReset ? wbh! : b.add(wbh!, rbh!);
    if (p.linearBeforeReset) rbhOut = rbh!;
  }
  return { steps: [project(wzr!, bzr, 2 * H), project(wh!, bh, H)], rbh: rbhOut };
}

function makeCell(e: LoweringOps, p: Plan, d: number, r: Value, rbh: Value | null, peephole: Value | null): Cell {
  const b = e.b;
  const { hidden: H, batch: N } = p;
  const acts = p.activations[d]!;
  const state = e.info([N, H]);
  const one = (): Value => e.scalar(1);
  if (p.op === 'RNN') {
    const rT = b.transpose(r, [1, 0], e.info([H, H]));
    return {
      step: ([xt], h) => ({ h: e.act(acts[0]!, b.add(xt!, b.op('MatMul', [h, rT], {}, state))), c: null }),
    };
  }
  if (p.op === 'LSTM') {
    const rT = b.transpose(r, [1, 0], e.info([H, 4 * H]));
    const [pi, po, pf] = peephole ? e.split(peephole, 3, 0, [[H], [H], [H]]) : [null, null, null];
    const [f, g, hAct] = acts as [Activation, Activation, Activation];
    return {
      step: ([xt], h, c) => {
        const gates = b.add(xt!, b.op('MatMul', [h, rT], {}, e.info([N, 4 * H])));
        let [gi, go, gf, gc] = e.split(gates, 4, 1, [state.shape!, state.shape!, state.shape!, state.shape!]) as [Value, Value, Value, Value];
        if (pi) gi = b.add(gi, b.mul(c!, pi));
        const i = e.act(f, gi);
        let forget: Value;
        if (p.inputForget) forget = b.sub(one(), i, i);
        else {
          if (pf) gf = b.add(gf, b.mul(c!, pf));
          forget = e.act(f, gf);
        }
        const cNext = b.add(b.mul(c!, forget), b.mul(i, e.act(g, gc)));
        if (po) go = b.add(go, b.mul(cNext, po));
        const o = e.act(f, go);
        return { h: b.mul(o, ACTIVATIONS[hAct.name]!.emit(e, cNext, hAct)), c: cNext };
      },
    };
  }
  // GRU
  const [rzr, rh] = e.split(r, 2, 0, [[2 * H, H], [H, H]], [2 * H, H]);
  const rzrT = b.transpose(rzr!, [1, 0], e.info([H, 2 * H]));
  const rhT = b.transpose(rh!, [1, 0], e.info([H, H]));
  const [f, g] = acts as [Activation, Activation];
  return {
    step: ([xzr, xh], h) => {
      const gzr = b.add(xzr!, b.op('MatMul', [h, rzrT], {}, e.info([N, 2 * H])));
      const [gz, gr] = e.split(gzr, 2, 1, [state.shape!, state.shape!]) as [Value, Value];
      const z = e.act(f, gz);
      const reset = e.act(f, gr);
      let recurrent: Value;
      if (p.linearBeforeReset) {
        const hr = b.op('MatMul', [h, rhT], {}, state);
        recurrent = b.mul(reset, rbh ? b.add(hr, rbh) : hr);
      } else {
        recurrent = b.op('MatMul', [b.mul(reset, h), rhT], {}, state);
      }
      const candidate = e.act(g, b.add(xh!, recurrent));
      return { h: b.add(b.mul(b.sub(one(), z, z), candidate), b.mul(z, h)), c: null };
    },
  };
}

export interface LowerRecurrentOptions {
  /** Lower only these nodes (default: every RNN, GRU and LSTM of the main graph). */
  nodes?: ReadonlySet<Node>;
}

/**
 * Rewrites RNN/GRU/LSTM nodes of the main graph in place into unrolled standard ops; their
 * outputs keep their names. Every node is checked before anything changes.
 */
export function lowerRecurrent(model: Model, opts: LowerRecurrentOptions = {}, ctx?: PassContext): PassResult & { lowered: number } {
  const g = model.graph;
  const todo = [...g.nodes].filter((n) => isRecurrent(n) && (!opts.nodes || opts.nodes.has(n)));
  if (!todo.length) return { model, modified: false, lowered: 0 };
  const plans = todo.map((n) => planNode(n, model.opset));
  for (const p of plans) {
    // A builder per node: its cached Shape values belong in front of that node only.
    const b = Emitter.forModel(model);
    const node = p.node;
    b.scope = `${node.name || node.opType}/lowered`;
    const tail = g.nodes.last();
    const outs = lowerNode(b, p);
    const values = [...outs.values()];
    b.hoist(values, node);
    // What the builder made that no output needs (a gate whose value input_forget replaces,
    // a state nobody reads) is still at the end of the graph: drop it.
    const dead: Node[] = [];
    for (const n of g.nodes.reversed()) {
      if (n === tail) break;
      dead.push(n);
    }
    for (const n of dead) g.removeNode(n);
    for (const [i, v] of outs) {
      const old = p.outputs.get(i)!;
      if (old.type) v.type = old.type;
      v.typeFromFile = old.typeFromFile;
      old.replaceAllUsesWith(v);
    }
    g.removeNode(node, false);
    for (const [i, v] of outs) {
      const old = p.outputs.get(i)!;
      const name = old.name;
      old.name = '';
      v.name = name;
    }
  }
  ctx?.info('I_RECURRENT_LOWERED', `unrolled ${plans.length} recurrent node${plans.length === 1 ? '' : 's'} (${plans.map((p) => `${p.op} × ${p.seqLen} steps`).join(', ')})`);
  return { model, modified: true, lowered: plans.length };
}

export const lowerRecurrentPass = (options: Record<string, string> = {}): Pass => {
  checkPassOptions('lower-recurrent', options, [], 'no options');
  return { name: 'lower-recurrent', options, inPlace: true, run: (model, ctx) => lowerRecurrent(model, {}, ctx) };
};

registerPass('lower-recurrent', lowerRecurrentPass);
