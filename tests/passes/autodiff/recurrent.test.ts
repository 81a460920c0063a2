// Gradients through RNN, GRU and LSTM, which `differentiate` lowers (lower-recurrent) into ops
// with rules before differentiating. The checked function is Σ⟨[Y, Y_h, Y_c], R⟩ for a fixed
// random R, w.r.t. X, W, R, B, initial_h, initial_c and P, with sequence_lens (fed and
// constant), both layouts and the three directions.
//
// Two checks each:
// - float32 against central differences of onnxruntime's own op (the finite differences run
//   the original node): this checks the lowering and the gradient together, at float32
//   accuracy (gradCheck's defaults: step 1e-2, atol 1e-2, rtol 2e-2);
// - float64 against central differences of the lowered graph (step 1e-6, atol 1e-6,
//   rtol 1e-5): onnxruntime has no double kernel for these ops, so the forward models the
//   differences run are lowered in the test, and the model handed to `differentiate` holds
//   the original node, which the pass must lower itself. That the float64 lowering computes
//   onnxruntime's float32 op is checked separately (forward, |Δ| ≤ 1e-5·|y| + 1e-6).
// onnxruntime's kernels take layout 0 only: for a layout-1 node, the models it runs hold the
// layout-0 node between Transposes (the same function of the same inputs).
// Activations onnxruntime runs in float32 only (Elu, HardSigmoid, Softsign, Softplus,
// ThresholdedRelu) are checked in float32 only.

import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { type AttrInput, attr, GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import { type Dim, Model, type Value } from '../../../src/ir/graph.js';
import { xorshift32 } from '../../../src/ir/random.js';
import { modelToBytes } from '../../../src/ir/serde/io.js';
import { assertValid } from '../../../src/ir/verify.js';
import { differentiate, GRAD_PREFIX, parameterNames } from '../../../src/passes/autodiff/index.js';
import { lowerRecurrent } from '../../../src/passes/lower-recurrent.js';
import { describeFailures, type GradCheckCase, type GradCheckInput, gradCheck, differentiateError } from './gradcheck.js';

type Op = 'RNN' | 'GRU' | 'LSTM';
const GATES: Record<Op, number> = { RNN: 1, GRU: 3, LSTM: 4 };

interface Spec {
  op: Op;
  layout?: 0 | 1;
  direction?: 'forward' | 'reverse' | 'bidirectional';
  seqLen?: number;
  batch?: number;
  inputSize?: number;
  hidden?: number;
  /** Optional inputs the node has (fed, so they are differentiated). */
  bias?: boolean;
  initialH?: boolean;
  initialC?: boolean;
  peephole?: boolean;
  lens?: { kind: 'fed' | 'known'; values: number[] };
  attrs?: Record<string, AttrInput>;
  /** Weights as initializers (parameters), not inputs. */
  weightsAsInitializers?: boolean;
}

interface Shapes {
  dims: Record<string, number[]>;
  outputs: number;
}

function shapes(s: Spec): Shapes {
  const D = s.direction === 'bidirectional' ? 2 : 1;
  const G = GATES[s.op];
  const [T, N, I, H] = [s.seqLen ?? 3, s.batch ?? 2, s.inputSize ?? 3, s.hidden ?? 2];
  const layout = s.layout ?? 0;
  const dims: Record<string, number[]> = { X: layout === 0 ? [T, N, I] : [N, T, I], W: [D, G * H, I], R: [D, G * H, H] };
  if (s.bias) dims.B = [D, 2 * G * H];
  if (s.initialH) dims.initial_h = layout === 0 ? [D, N, H] : [N, D, H];
  if (s.initialC) dims.initial_c = layout === 0 ? [D, N, H] : [N, D, H];
  if (s.peephole) dims.P = [D, 3 * H];
  return { dims, outputs: s.op === 'LSTM' ? 3 : 2 };
}

/** Seeded data for every float input, so two cases can share it. */
function dataFor(s: Spec, seed: number): Record<string, number[]> {
  const rnd = xorshift32(Math.imul(seed, 0x9e3779b1) >>> 0 || 1);
  for (let i = 0; i < 8; i++) rnd();
  return Object.fromEntries(Object.entries(shapes(s).dims).map(([k, d]) => [k, Array.from({ length: d.reduce((a, x) => a * x, 1) }, () => Math.fround(rnd() * 2 - 1))]));
}

const WEIGHTS = new Set(['W', 'R', 'B']);

/**
 * How the node is built: as it is; lowered at once (for onnxruntime to run it in double); or,
 * for layout 1, which onnxruntime's kernels lack, as the layout-0 node between Transposes.
 */
type Form = 'original' | 'lowered' | 'layout0';

/** The node, with all its outputs flattened into one [1, n] value (so the loss reads Y, Y_h and Y_c). */
function buildRecurrent(b: GraphBuilder, dt: DataType, s: Spec, data: Record<string, number[]>, form: Form): Value {
  const viaLayout0 = form === 'layout0' && s.layout === 1;
  const { dims, outputs } = shapes(s);
  const value = (name: string): Value | null => {
    if (!dims[name]) return null;
    const v = s.weightsAsInitializers && WEIGHTS.has(name) ? b.init(name, dt, dims[name], data[name]!) : b.input(name, dt, dims[name]);
    return viaLayout0 && (name === 'X' || name === 'initial_h' || name === 'initial_c') ? b.op('Transpose', [v], { perm: [1, 0, 2] }) : v;
  };
  const lens = s.lens ? (s.lens.kind === 'fed' ? b.input('sequence_lens', DataType.INT32, [s.lens.values.length]) : b.init('sequence_lens', DataType.INT32, [s.lens.values.length], s.lens.values)) : null;
  const inputs = [value('X'), value('W'), value('R'), value('B'), lens, value('initial_h')];
  if (s.op === 'LSTM') inputs.push(value('initial_c'), value('P'));
  while (inputs[inputs.length - 1] === null) inputs.pop();
  const attrs: Record<string, AttrInput> = { hidden_size: s.hidden ?? 2, ...(s.attrs ?? {}) };
  if (s.layout && !viaLayout0) attrs.layout = s.layout;
  if (s.direction && s.direction !== 'forward') attrs.direction = s.direction;
  const names = ['Y', 'Y_h', 'Y_c'].slice(0, outputs);
  const outs = b.opMulti(s.op, inputs, outputs, attrs, { name: 'rec', outputNames: names });
  const back = (o: Value, i: number): Value => (viaLayout0 ? b.op('Transpose', [o], { perm: i === 0 ? [2, 0, 1, 3] : [1, 0, 2] }) : o);
  const flat = outs.map((o, i) => b.op('Flatten', [back(o, i)], { axis: 0 }));
  const y = b.op('Concat', flat, { axis: 1 });
  if (form === 'lowered') {
    const m = new Model(b.graph, 8, 17);
    expect(lowerRecurrent(m).lowered).toBe(1);
  }
  return y;
}

function gradInputs(s: Spec, data: Record<string, number[]>): Record<string, GradCheckInput> {
  const inputs: Record<string, GradCheckInput> = {};
  for (const [k, d] of Object.entries(shapes(s).dims)) if (!(s.weightsAsInitializers && WEIGHTS.has(k))) inputs[k] = { dims: d, data: data[k]! };
  if (s.lens?.kind === 'fed') inputs.sequence_lens = { dims: [s.lens.values.length], data: s.lens.values, type: 'int32' };
  return inputs;
}

/**
 * float32, the finite differences through onnxruntime's op. gradCheck builds the forward for
 * the output's dims, then for the finite differences (both run by onnxruntime), then for
 * differentiate: with layout 1 the first two are the layout-0 node between Transposes.
 */
function float32Case(s: Spec, seed = 1): GradCheckCase {
  const data = dataFor(s, seed);
  let calls = 0;
  return { build: (b, dt) => buildRecurrent(b, dt, s, data, s.layout === 1 && calls++ < 2 ? 'layout0' : 'original'), inputs: gradInputs(s, data), dtype: 'float32', seed };
}

/** float64: the forward models onnxruntime runs are lowered here; the one `differentiate` gets is not. */
function float64Case(s: Spec, seed = 1): GradCheckCase & { builds: { lowered: number; original: number } } {
  const data = dataFor(s, seed);
  const builds = { lowered: 0, original: 0 };
  let calls = 0;
  return {
    builds,
    build: (b, dt) => {
      const form = calls++ < 2 ? 'lowered' : 'original';
      builds[form]++;
      return buildRecurrent(b, dt, s, data, form);
    },
    inputs: gradInputs(s, data),
    dtype: 'float64',
    seed,
  };
}

async function expectGradient(c: GradCheckCase): Promise<Awaited<ReturnType<typeof gradCheck>>> {
  const r = await gradCheck(c);
  expect(r.ok, describeFailures(r)).toBe(true);
  expect(r.checks.length).toBeGreaterThan(0);
  // Cannot pass vacuously: the directional derivatives are clearly non-zero.
  expect(Math.max(...r.checks.map((x) => Math.abs(x.analytic)))).toBeGreaterThan(0.05);
  // differentiate lowered the node itself.
  expect([...r.gradModel.graph.nodes].some((n) => n.opType === 'RNN' || n.opType === 'GRU' || n.opType === 'LSTM')).toBe(false);
  return r;
}

/** Every float input is checked (each at least once). */
function checkedInputs(r: Awaited<ReturnType<typeof gradCheck>>): string[] {
  return [...new Set(r.checks.map((x) => x.wrt))].sort();
}

async function runModel(model: Model, feeds: Record<string, ort.Tensor>): Promise<number[]> {
  const s = await ort.InferenceSession.create(modelToBytes(model), { intraOpNumThreads: 1 });
  try {
    const out = await s.run(feeds);
    return Array.from(Object.values(out)[0]!.data as Float64Array, Number);
  } finally {
    await s.release();
  }
}

/** The float64 lowered forward against onnxruntime's float32 op on the same (float32) data. */
async function expectForwardAgrees(s: Spec): Promise<void> {
  const data = dataFor(s, 1);
  const make = (dt: DataType, form: Form): Model => {
    const b = new GraphBuilder('fwd');
    b.output(buildRecurrent(b, dt, s, data, form), { dtype: dt, shape: null });
    return b.model({ opset: 17 });
  };
  const feeds = (kind: 'float32' | 'float64'): Record<string, ort.Tensor> => {
    const f: Record<string, ort.Tensor> = {};
    for (const [k, inp] of Object.entries(gradInputs(s, data))) {
      f[k] = inp.type === 'int32' ? new ort.Tensor('int32', Int32Array.from(inp.data!), inp.dims) : new ort.Tensor(kind, kind === 'float32' ? Float32Array.from(inp.data!) : Float64Array.from(inp.data!), inp.dims);
    }
    return f;
  };
  const ref = await runModel(make(DataType.FLOAT, 'layout0'), feeds('float32'));
  const got = await runModel(make(DataType.DOUBLE, 'lowered'), feeds('float64'));
  expect(got.length).toBe(ref.length);
  got.forEach((v, i) => expect(Math.abs(v - ref[i]!), `element ${i}: ${v} vs ${ref[i]}`).toBeLessThanOrEqual(1e-5 * Math.abs(ref[i]!) + 1e-6));
}

const acts = (names: string[]): AttrInput => ({ name: 'activations', type: 8, value: names.map((n) => new TextEncoder().encode(n)) });

/** Cases run in both float32 (through onnxruntime's op) and float64 (tight). */
const CASES: [string, Spec][] = [
  ['LSTM forward: B, initial_h, initial_c, P', { op: 'LSTM', bias: true, initialH: true, initialC: true, peephole: true }],
  ['LSTM bidirectional, fed sequence_lens, input_forget', { op: 'LSTM', direction: 'bidirectional', bias: true, initialH: true, initialC: true, peephole: true, seqLen: 4, batch: 3, lens: { kind: 'fed', values: [4, 1, 3] }, attrs: { input_forget: 1 } }],
  ['LSTM reverse, layout 1, constant sequence_lens, clip', { op: 'LSTM', direction: 'reverse', layout: 1, bias: true, initialH: true, lens: { kind: 'known', values: [2, 3] }, attrs: { clip: attr.float('clip', 0.9) } }],
  ['GRU forward, linear_before_reset 0', { op: 'GRU', bias: true, initialH: true }],
  ['GRU bidirectional, linear_before_reset 1, fed sequence_lens', { op: 'GRU', direction: 'bidirectional', bias: true, initialH: true, seqLen: 4, batch: 3, lens: { kind: 'fed', values: [2, 4, 1] }, attrs: { linear_before_reset: 1 } }],
  ['GRU reverse, layout 1, ScaledTanh/Affine', { op: 'GRU', direction: 'reverse', layout: 1, bias: true, attrs: { activations: acts(['Sigmoid', 'ScaledTanh']), activation_alpha: attr.floats('activation_alpha', [0.8]), activation_beta: attr.floats('activation_beta', [1.3]) } }],
  ['RNN forward: B, initial_h', { op: 'RNN', bias: true, initialH: true }],
  ['RNN bidirectional, fed sequence_lens, Tanh/Affine', { op: 'RNN', direction: 'bidirectional', bias: true, initialH: true, lens: { kind: 'fed', values: [3, 2] }, attrs: { activations: acts(['Tanh', 'Affine']), activation_alpha: attr.floats('activation_alpha', [0.7]), activation_beta: attr.floats('activation_beta', [0.1]) } }],
  ['RNN reverse, layout 1, LeakyRelu', { op: 'RNN', direction: 'reverse', layout: 1, bias: true, initialH: true, attrs: { activations: acts(['LeakyRelu']), activation_alpha: attr.floats('activation_alpha', [0.2]) } }],
];

describe('gradients through recurrent layers (lowered by differentiate)', () => {
  for (const [name, spec] of CASES) {
    it(`float32 against onnxruntime's op: ${name}`, async () => {
      const r = await expectGradient(float32Case(spec));
      expect(checkedInputs(r)).toEqual(Object.keys(shapes(spec).dims).sort());
    });
    it(`float64: ${name}`, async () => {
      const c = float64Case(spec);
      const r = await expectGradient(c);
      expect(c.builds).toEqual({ lowered: 2, original: 1 });
      expect(checkedInputs(r)).toEqual(Object.keys(shapes(spec).dims).sort());
      await expectForwardAgrees(spec);
    });
  }

  it('float32 only: the activations onnxruntime has no double kernel for (LSTM and GRU)', async () => {
    await expectGradient(float32Case({ op: 'LSTM', direction: 'bidirectional', bias: true, attrs: { activations: acts(['HardSigmoid', 'Elu', 'Softsign', 'Sigmoid', 'Softplus', 'Tanh']) } }, 2));
    await expectGradient(float32Case({ op: 'GRU', bias: true, attrs: { activations: acts(['Sigmoid', 'Softplus']) } }, 3));
  });

  it('weights that are initializers (parameters) get gradients under their own names', async () => {
    const spec: Spec = { op: 'LSTM', direction: 'bidirectional', bias: true, initialH: true, lens: { kind: 'fed', values: [3, 1] } };
    const asInputs = await expectGradient(float64Case(spec, 5));
    const params: Spec = { ...spec, weightsAsInitializers: true };
    const c = float64Case(params, 5);
    const asParams = await gradCheck({ ...c, wrt: ['X', 'W', 'R', 'B', 'initial_h'] });
    expect(asParams.ok, describeFailures(asParams)).toBe(true);
    // They count as parameters (what `--wrt params` and the trainer differentiate).
    const b = new GraphBuilder('params');
    expect(parameterNames(b.model({ opset: 17 }))).toEqual([]);
    buildRecurrent(b, DataType.FLOAT, params, dataFor(params, 5), 'original');
    expect(parameterNames(b.model({ opset: 17 })).sort()).toEqual(['B', 'R', 'W']);
    for (const w of ['W', 'R', 'B']) {
      expect(asParams.autodiff.grads.get(w)?.name).toBe(`${GRAD_PREFIX}${w}`);
      const a = asInputs.grads[w]!;
      const p = asParams.grads[w]!;
      expect(p.length).toBe(a.length);
      p.forEach((v, i) => expect(Math.abs(v - a[i]!)).toBeLessThan(1e-12 + 1e-9 * Math.abs(a[i]!)));
    }
  });

  it('a small CRNN (Conv, Relu, pooling over height, bidirectional LSTM, linear head): input and every parameter', async () => {
    const dims = { image: [2, 1, 6, 12], conv_w: [4, 1, 3, 3], conv_b: [4], W: [2, 20, 4], R: [2, 20, 5], B: [2, 40], fc: [10, 7] };
    const r = await expectGradient({
      build(b, dt) {
        const v = Object.fromEntries(Object.entries(dims).map(([k, d]) => [k, b.input(k, dt, d)]));
        const conv = b.op('Relu', [b.op('Conv', [v.image!, v.conv_w!, v.conv_b!], { pads: [1, 1, 1, 1] })]);
        const seq = b.op('Transpose', [b.op('ReduceMean', [conv], { axes: [2], keepdims: 0 })], { perm: [2, 0, 1] });
        const [y] = b.opMulti('LSTM', [seq, v.W!, v.R!, v.B!], 1, { hidden_size: 5, direction: 'bidirectional' });
        const features = b.op('Reshape', [b.op('Transpose', [y!], { perm: [0, 2, 1, 3] }), b.init('shape', DataType.INT64, [3], [12, 2, 10])]);
        return b.op('MatMul', [features, v.fc!]);
      },
      inputs: Object.fromEntries(Object.entries(dims).map(([k, d]) => [k, { dims: d }])),
      dtype: 'float32',
      // A step of 1e-2 moves hundreds of Relu inputs across the kink; 1e-3 few (float32 noise
      // in the difference ~1e-4).
      h: 1e-3,
      seed: 4,
    });
    expect(checkedInputs(r)).toEqual(Object.keys(dims).sort());
  });

  it('lowers only the recurrent nodes on the path; keeps the error for ops without rules', async () => {
    const b = new GraphBuilder('two');
    const x = b.input('X', DataType.FLOAT, [3, 1, 2]);
    const z = b.input('Z', DataType.FLOAT, [3, 1, 2]);
    const w = b.weight('W', [1, 8, 2], 1, 0.5);
    const r = b.weight('R', [1, 8, 2], 2, 0.5);
    const [, onPath] = b.opMulti('LSTM', [x, w, r], 2, { hidden_size: 2 }, { name: 'on_path', outputNames: ['', 'h1'] });
    const [, offPath] = b.opMulti('LSTM', [z, w, r], 2, { hidden_size: 2 }, { name: 'off_path', outputNames: ['', 'h2'] });
    const loss = b.op('ReduceSum', [b.op('Mul', [onPath!, offPath!])], { keepdims: 0 }, { outputNames: ['loss'] });
    b.output(loss, { dtype: DataType.FLOAT, shape: [] });
    const model = b.model({ opset: 17 });
    const res = differentiate(model, { wrt: ['X'], loss: 'loss' });
    assertValid(model);
    expect([...model.graph.nodes].filter((n) => n.opType === 'LSTM').map((n) => n.name)).toEqual(['off_path']);
    expect(res.grads.get('X')?.name).toBe('grad:X');
    // The gradient graph runs (the remaining LSTM forward included).
    const s = await ort.InferenceSession.create(modelToBytes(model));
    const out = await s.run({ X: new ort.Tensor('float32', new Float32Array(6).fill(0.3), [3, 1, 2]), Z: new ort.Tensor('float32', new Float32Array(6).fill(-0.2), [3, 1, 2]) });
    expect(out['grad:X']!.dims).toEqual([3, 1, 2]);
    await s.release();

    const b2 = new GraphBuilder('det');
    const m = b2.input('M', DataType.FLOAT, [2, 2]);
    b2.output(b2.op('Det', [m], {}, { outputNames: ['d'] }), { dtype: DataType.FLOAT, shape: [] });
    const error = differentiateError(b2.model(), { wrt: ['M'], loss: 'd' });
    expect(error.code).toBe('E_AUTODIFF');
    expect(error.message).toMatch(/no gradient rule for Det/);
  });

  it('an op without a rule after an LSTM is reported before the LSTM is lowered (the model is left as it was)', () => {
    const b = new GraphBuilder('lstm-det');
    const x = b.input('X', DataType.FLOAT, [3, 2, 2]);
    const [, h] = b.opMulti('LSTM', [x, b.weight('W', [1, 8, 2], 1, 0.5), b.weight('R', [1, 8, 2], 2, 0.5)], 2, { hidden_size: 2 }, { name: 'lstm', outputNames: ['', 'h'] });
    const square = b.op('Reshape', [h!, b.init('s', DataType.INT64, [2], [2, 2])]);
    b.output(b.op('Det', [square], {}, { name: 'det', outputNames: ['d'] }), { dtype: DataType.FLOAT, shape: [] });
    const model = b.model({ opset: 17 });
    const error = differentiateError(model, { wrt: ['X'], loss: 'd' });
    expect(error.code).toBe('E_AUTODIFF');
    expect(error.message).toMatch(/no gradient rule for Det/);
    expect([...model.graph.nodes].map((n) => n.opType)).toEqual(['LSTM', 'Reshape', 'Det']);
  });

  it('a sequence length only known at run time is a coded error naming input shapes; with the shapes given it differentiates', () => {
    const make = (): Model => {
      const b = new GraphBuilder('dyn');
      const x = b.input('X', DataType.FLOAT, ['T', 1, 2] as Dim[]);
      const [, h] = b.opMulti('GRU', [x, b.weight('W', [1, 6, 2]), b.weight('R', [1, 6, 2])], 2, { hidden_size: 2 }, { outputNames: ['', 'Y_h'] });
      b.output(b.op('ReduceSum', [h!], { keepdims: 0 }, { outputNames: ['loss'] }), { dtype: DataType.FLOAT, shape: [] });
      return b.model();
    };
    const error = differentiateError(make(), { wrt: ['X'], loss: 'loss' });
    expect(error.code).toBe('E_SHAPE');
    expect(error.hint).toMatch(/shape/);
    const ok = make();
    differentiate(ok, { wrt: ['X'], loss: 'loss', inputShapes: { X: [4, 1, 2] } });
    assertValid(ok);
  });

  it('seeds on a recurrent output (vector-Jacobian product) follow the lowered output', async () => {
    const b = new GraphBuilder('vjp');
    const x = b.input('X', DataType.FLOAT, [3, 2, 2]);
    const [y] = b.opMulti('LSTM', [x, b.weight('W', [2, 8, 2], 1, 0.5), b.weight('R', [2, 8, 2], 2, 0.5)], 1, { hidden_size: 2, direction: 'bidirectional' }, { outputNames: ['Y'] });
    b.output(y!, { dtype: DataType.FLOAT, shape: [3, 2, 2, 2] });
    const model = b.model({ opset: 17 });
    const plain = modelToBytes(model);
    differentiate(model, { wrt: ['X'], seeds: { Y: 'dY' } });
    assertValid(model);
    const rnd = xorshift32(9);
    const xs = Float32Array.from({ length: 12 }, () => rnd() * 2 - 1);
    const dy = Float32Array.from({ length: 24 }, () => rnd() * 2 - 1);
    const v = Float32Array.from({ length: 12 }, () => rnd() * 2 - 1);
    const gs = await ort.InferenceSession.create(modelToBytes(model));
    const g = (await gs.run({ X: new ort.Tensor('float32', xs, [3, 2, 2]), dY: new ort.Tensor('float32', dy, [3, 2, 2, 2]) }))['grad:X']!.data as Float32Array;
    await gs.release();
    const fs = await ort.InferenceSession.create(plain);
    const f = async (h: number): Promise<number> => {
      const out = (await fs.run({ X: new ort.Tensor('float32', xs.map((a, i) => a + h * v[i]!), [3, 2, 2]) })).Y!.data as Float32Array;
      return out.reduce((a, yi, i) => a + yi * dy[i]!, 0);
    };
    const numeric = ((await f(1e-2)) - (await f(-1e-2))) / 2e-2;
    const analytic = Array.from(g).reduce((a, gi, i) => a + gi * v[i]!, 0);
    await fs.release();
    expect(Math.abs(analytic)).toBeGreaterThan(0.05);
    expect(Math.abs(numeric - analytic)).toBeLessThan(1e-2 + 2e-2 * Math.abs(numeric));
  });
});
