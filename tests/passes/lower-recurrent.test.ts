// lower-recurrent: RNN, GRU and LSTM unrolled into standard ops. Seeded random configurations
// (both layouts, the three directions, optional B / initial_h / initial_c / P, input_forget,
// linear_before_reset, clip, every activation the spec lists with and without α/β, constant
// and fed sequence_lens, any subset of the outputs, a symbolic batch) give onnxruntime's
// outputs of the original node and pass the IR verifier. onnxruntime runs these ops with
// layout 0 only, so a layout-1 node is compared with the layout-0 node on transposed inputs.
//
// Tolerance: |lowered − onnxruntime| ≤ 1e-5·|onnxruntime| + 1e-6 per element (float32). The
// two sum the projections in another order, and onnxruntime's GRU and RNN use their own
// sigmoid/tanh approximations (RNN's tanh is 2σ(2x) − 1, off by ~6e-8 absolute near 0); the
// worst absolute errors seen are 1.2e-6 (GRU), 4.8e-7 (RNN), 1.2e-7 (LSTM), each within the
// tolerance of its element. A wrong gate order, bias, mask or reversal gives errors of order
// 0.1. The corpus's recurrent cases are also compared with their expected outputs (the ONNX
// reference implementation's, layout 1 included).

import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { type AttrInput, attr, GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { SplitcError } from '../../src/ir/errors.js';
import type { Dim, Model, Node } from '../../src/ir/graph.js';
import { printModel } from '../../src/ir/printer.js';
import { xorshift32 } from '../../src/ir/random.js';
import { loadModel, modelToBytes } from '../../src/ir/serde/io.js';
import { assertValid } from '../../src/ir/verify.js';
import { lowerRecurrent } from '../../src/passes/lower-recurrent.js';
import { parsePipeline, PassContext, PassManager } from '../../src/passes/pass.js';
import { inferShapes } from '../../src/passes/shape/index.js';
import { corpusAvailable, corpusCases, dataTensors, toOrt } from '../helpers/onnx-corpus.js';

type RecurrentOp = 'RNN' | 'GRU' | 'LSTM';
const GATES: Record<RecurrentOp, number> = { RNN: 1, GRU: 3, LSTM: 4 };
const ACTIVATION_COUNT: Record<RecurrentOp, number> = { RNN: 1, GRU: 2, LSTM: 3 };
const ACTIVATIONS = ['Relu', 'Tanh', 'Sigmoid', 'Affine', 'LeakyRelu', 'ThresholdedRelu', 'ScaledTanh', 'HardSigmoid', 'Elu', 'Softsign', 'Softplus'];

interface RecurrentConfig {
  op: RecurrentOp;
  layout: 0 | 1;
  direction: 'forward' | 'reverse' | 'bidirectional';
  seqLen: number;
  batch: number;
  inputSize: number;
  hidden: number;
  bias: boolean;
  initialH: boolean;
  initialC: boolean;
  peephole: boolean;
  inputForget: boolean;
  linearBeforeReset: boolean;
  clip: number | null;
  activations: string[] | null;
  alpha: number[] | null;
  beta: number[] | null;
  /** none, a constant (initializer) or a graph input fed at run time. */
  lens: 'none' | 'known' | 'fed';
  lensValues: number[];
  /** Which of Y, Y_h, Y_c the node has. */
  outputs: [boolean, boolean, boolean];
  symbolicBatch: boolean;
}

const directionsOf = (c: RecurrentConfig): number => (c.direction === 'bidirectional' ? 2 : 1);

function defaultConfig(op: RecurrentOp, over: Partial<RecurrentConfig> = {}): RecurrentConfig {
  return {
    op,
    layout: 0,
    direction: 'forward',
    seqLen: 3,
    batch: 2,
    inputSize: 3,
    hidden: 2,
    bias: false,
    initialH: false,
    initialC: false,
    peephole: false,
    inputForget: false,
    linearBeforeReset: false,
    clip: null,
    activations: null,
    alpha: null,
    beta: null,
    lens: 'none',
    lensValues: [],
    outputs: [true, true, op === 'LSTM'],
    symbolicBatch: false,
    ...over,
  };
}

/** The shapes of the node's inputs, for a layout. */
function inputDims(c: RecurrentConfig, layout = c.layout): Record<string, number[]> {
  const D = directionsOf(c);
  const G = GATES[c.op];
  const { seqLen: T, batch: N, inputSize: I, hidden: H } = c;
  const dims: Record<string, number[]> = {
    X: layout === 0 ? [T, N, I] : [N, T, I],
    W: [D, G * H, I],
    R: [D, G * H, H],
  };
  if (c.bias) dims.B = [D, 2 * G * H];
  if (c.initialH) dims.initial_h = layout === 0 ? [D, N, H] : [N, D, H];
  if (c.initialC) dims.initial_c = layout === 0 ? [D, N, H] : [N, D, H];
  if (c.peephole) dims.P = [D, 3 * H];
  return dims;
}

/** A model holding one recurrent node whose present outputs are the graph outputs. */
function recurrentModel(c: RecurrentConfig, opts: { layout?: 0 | 1; dtype?: DataType; opset?: number } = {}): Model {
  const layout = opts.layout ?? c.layout;
  const dtype = opts.dtype ?? DataType.FLOAT;
  const b = new GraphBuilder('recurrent');
  const dims = inputDims(c, layout);
  const batchAxis = layout === 0 ? 1 : 0;
  const shapeOf = (name: string): Dim[] => {
    const d: Dim[] = [...dims[name]!];
    if (c.symbolicBatch && (name === 'X' || name === 'initial_h' || name === 'initial_c')) d[batchAxis] = 'N';
    return d;
  };
  const inp = (name: string) => (dims[name] ? b.input(name, dtype, shapeOf(name)) : null);
  const lens =
    c.lens === 'known'
      ? b.init('sequence_lens', DataType.INT32, [c.batch], c.lensValues)
      : c.lens === 'fed'
        ? b.input('sequence_lens', DataType.INT32, [c.symbolicBatch ? 'N' : c.batch])
        : null;
  const inputs = [inp('X'), inp('W'), inp('R'), inp('B'), lens, inp('initial_h')];
  if (c.op === 'LSTM') inputs.push(inp('initial_c'), inp('P'));
  while (inputs.length && inputs[inputs.length - 1] === null) inputs.pop();
  const attrs: Record<string, AttrInput> = { hidden_size: c.hidden };
  if (layout !== 0) attrs.layout = 1;
  if (c.direction !== 'forward') attrs.direction = c.direction;
  if (c.clip !== null) attrs.clip = attr.float('clip', c.clip);
  if (c.activations) attrs.activations = { name: 'activations', type: 8, value: c.activations.map((s) => new TextEncoder().encode(s)) };
  if (c.alpha) attrs.activation_alpha = attr.floats('activation_alpha', c.alpha);
  if (c.beta) attrs.activation_beta = attr.floats('activation_beta', c.beta);
  if (c.op === 'LSTM' && c.inputForget) attrs.input_forget = 1;
  if (c.op === 'GRU' && c.linearBeforeReset) attrs.linear_before_reset = 1;
  const count = c.outputs[2] && c.op === 'LSTM' ? 3 : c.outputs[1] ? 2 : 1;
  const names = ['Y', 'Y_h', 'Y_c'].slice(0, count).map((n, i) => (c.outputs[i] ? n : ''));
  const outs = b.opMulti(c.op, inputs, count, attrs, { name: 'rec', outputNames: names });
  for (const o of outs) if (o.name) b.output(o, { dtype, shape: null });
  return b.model({ opset: opts.opset ?? 17 });
}

interface Feed {
  dims: number[];
  data: number[];
  int32?: boolean;
}

/** Seeded inputs in the config's layout (sequence_lens too when fed). */
function recurrentData(c: RecurrentConfig, seed: number): Record<string, Feed> {
  const rnd = xorshift32(Math.imul(seed, 0x9e3779b1) >>> 0 || 1);
  for (let i = 0; i < 8; i++) rnd();
  const out: Record<string, Feed> = {};
  for (const [name, dims] of Object.entries(inputDims(c))) {
    const n = dims.reduce((a, d) => a * d, 1);
    out[name] = { dims, data: Array.from({ length: n }, () => Math.fround(rnd() * 2 - 1)) };
  }
  if (c.lens === 'fed') out.sequence_lens = { dims: [c.batch], data: c.lensValues, int32: true };
  return out;
}

/** A dense array's elements in the order of transpose(perm). */
function transposeData(data: ArrayLike<number>, dims: number[], perm: number[]): { dims: number[]; data: number[] } {
  const outDims = perm.map((p) => dims[p]!);
  const strides = dims.map((_, i) => dims.slice(i + 1).reduce((a, d) => a * d, 1));
  const n = dims.reduce((a, d) => a * d, 1);
  const out = new Array<number>(n);
  const idx = new Array<number>(outDims.length).fill(0);
  for (let k = 0; k < n; k++) {
    let src = 0;
    for (let a = 0; a < perm.length; a++) src += idx[a]! * strides[perm[a]!]!;
    out[k] = data[src]!;
    for (let a = outDims.length - 1; a >= 0; a--) {
      if (++idx[a]! < outDims[a]!) break;
      idx[a] = 0;
    }
  }
  return { dims: outDims, data: out };
}

function toOrtFeeds(data: Record<string, Feed>, dtype: 'float32' | 'float64' = 'float32'): Record<string, ort.Tensor> {
  return Object.fromEntries(
    Object.entries(data).map(([k, f]) => [
      k,
      f.int32 ? new ort.Tensor('int32', Int32Array.from(f.data), f.dims) : new ort.Tensor(dtype, dtype === 'float32' ? Float32Array.from(f.data) : Float64Array.from(f.data), f.dims),
    ]),
  );
}

async function run(model: Model, feeds: Record<string, ort.Tensor>): Promise<Record<string, { dims: number[]; data: number[] }>> {
  const s = await ort.InferenceSession.create(modelToBytes(model), { intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    const r = await s.run(feeds);
    return Object.fromEntries(Object.entries(r).map(([k, t]) => [k, { dims: [...t.dims], data: Array.from(t.data as Float32Array, Number) }]));
  } finally {
    await s.release();
  }
}

/** onnxruntime's outputs of the original node (through the layout-0 node for layout 1). */
async function referenceOutputs(c: RecurrentConfig, data: Record<string, Feed>): Promise<Record<string, { dims: number[]; data: number[] }>> {
  if (c.layout === 0) return run(recurrentModel(c), toOrtFeeds(data));
  const moved: Record<string, Feed> = { ...data };
  for (const k of ['X', 'initial_h', 'initial_c']) if (data[k]) moved[k] = transposeData(data[k].data, data[k].dims, [1, 0, 2]);
  const out = await run(recurrentModel(c, { layout: 0 }), toOrtFeeds(moved));
  const back: Record<string, { dims: number[]; data: number[] }> = {};
  for (const [k, v] of Object.entries(out)) back[k] = transposeData(v.data, v.dims, k === 'Y' ? [2, 0, 1, 3] : [1, 0, 2]);
  return back;
}

/** The worst |got − ref| / (1e-5·|ref| + 1e-6) over every output (≤ 1 passes). */
function worstError(ref: Record<string, { dims: number[]; data: number[] }>, got: Record<string, { dims: number[]; data: number[] }>): { ratio: number; abs: number; where: string } {
  let ratio = 0;
  let abs = 0;
  let where = '';
  for (const [k, r] of Object.entries(ref)) {
    const g = got[k];
    if (!g) return { ratio: Infinity, abs: Infinity, where: `${k} missing` };
    if (g.dims.join() !== r.dims.join()) return { ratio: Infinity, abs: Infinity, where: `${k} dims ${g.dims} vs ${r.dims}` };
    r.data.forEach((x, i) => {
      const d = Math.abs(g.data[i]! - x);
      const q = d / (1e-5 * Math.abs(x) + 1e-6);
      abs = Math.max(abs, d);
      if (!(q <= ratio)) [ratio, where] = [q, `${k}[${i}]: ${g.data[i]} vs ${x}`];
    });
  }
  return { ratio, abs, where };
}

const LOWERED_OPS = new Set(['MatMul', 'Add', 'Sub', 'Mul', 'Split', 'Squeeze', 'Unsqueeze', 'Concat', 'Reshape', 'Transpose', 'Flatten', 'Where', 'Less', 'Greater', 'Cast', 'ReverseSequence', 'Clip', 'Shape', 'Slice', 'ConstantOfShape', 'Sigmoid', 'Tanh', 'Relu', 'LeakyRelu', 'ThresholdedRelu', 'HardSigmoid', 'Elu', 'Softsign', 'Softplus']);

/** Lower a copy of the config's model; check it, run it. */
async function lowered(c: RecurrentConfig, data: Record<string, Feed>): Promise<{ model: Model; out: Record<string, { dims: number[]; data: number[] }> }> {
  const model = recurrentModel(c);
  const r = lowerRecurrent(model);
  expect(r.lowered).toBe(1);
  assertValid(model);
  const ops = new Set([...model.graph.nodes].map((n) => n.opType));
  for (const op of ops) expect(LOWERED_OPS.has(op), `${op} in the lowered graph`).toBe(true);
  expect(model.graph.outputs.map((o) => o.name)).toEqual(['Y', 'Y_h', 'Y_c'].filter((_, i) => c.outputs[i] && (i < 2 || c.op === 'LSTM')));
  return { model, out: await run(model, toOrtFeeds(data)) };
}

/** The k-th configuration: features cycle so every combination that matters comes up; sizes and values are seeded. */
function sweepConfig(op: RecurrentOp, k: number): RecurrentConfig {
  const rnd = xorshift32((Math.imul(k + 1, 0x9e3779b1) ^ op.length * 7919) >>> 0);
  for (let i = 0; i < 8; i++) rnd();
  const pick = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
  const coin = (): boolean => rnd() < 0.5;
  const direction = (['forward', 'reverse', 'bidirectional'] as const)[k % 3]!;
  const D = direction === 'bidirectional' ? 2 : 1;
  const seqLen = pick(1, 5);
  const batch = pick(1, 4);
  const lens = (['none', 'known', 'fed'] as const)[Math.floor(k / 3) % 3]!;
  // onnxruntime's RNN reads outside its buffer for an entry of length 0 (its Y_h is undefined there).
  const minLen = op === 'RNN' ? 1 : 0;
  const lensValues = Array.from({ length: batch }, () => pick(minLen, seqLen));
  let activations: string[] | null = null;
  let alpha: number[] | null = null;
  let beta: number[] | null = null;
  if (k % 4 !== 0) {
    const per = ACTIVATION_COUNT[op];
    activations = Array.from({ length: per * D }, (_, i) => (i % per === 0 && op !== 'RNN' && k % 4 === 1 ? 'Sigmoid' : ACTIVATIONS[(k * 5 + i * 3) % ACTIVATIONS.length]!));
    if (k % 4 !== 3) {
      alpha = Array.from({ length: per * D }, () => Math.fround(0.2 + rnd()));
      beta = Array.from({ length: per * D }, () => Math.fround(rnd() - 0.5));
    }
  }
  const outputs: [boolean, boolean, boolean] = [[true, true, true], [true, false, false], [false, true, false], [false, false, true], [true, false, true]][k % 5] as [boolean, boolean, boolean];
  if (op !== 'LSTM' && !outputs[0] && !outputs[1]) outputs[0] = true;
  return defaultConfig(op, {
    layout: (Math.floor(k / 2) % 2) as 0 | 1,
    direction,
    seqLen,
    batch,
    inputSize: pick(1, 4),
    hidden: pick(1, 4),
    bias: coin(),
    initialH: coin(),
    initialC: op === 'LSTM' && coin(),
    peephole: op === 'LSTM' && coin(),
    inputForget: op === 'LSTM' && k % 5 === 2,
    linearBeforeReset: op === 'GRU' && k % 2 === 1,
    clip: k % 3 === 1 ? Math.fround(0.3 + rnd()) : null,
    activations,
    alpha,
    beta,
    lens,
    lensValues,
    outputs,
    symbolicBatch: k % 7 === 5,
  });
}

const SWEEP = 60;

describe('lower-recurrent matches onnxruntime', () => {
  for (const op of ['RNN', 'GRU', 'LSTM'] as const) {
    it(`${op}: ${SWEEP} seeded configurations`, async () => {
      const seen = new Set<string>();
      let worst = 0;
      for (let k = 0; k < SWEEP; k++) {
        const c = sweepConfig(op, k);
        const data = recurrentData(c, k + 1);
        const ref = await referenceOutputs(c, data);
        const { out } = await lowered(c, data);
        const e = worstError(ref, out);
        worst = Math.max(worst, e.abs);
        expect(e.ratio, `config ${k} ${JSON.stringify(c)}: ${e.where}`).toBeLessThanOrEqual(1);
        for (const [f, on] of Object.entries({
          layout1: c.layout === 1,
          [c.direction]: true,
          bias: c.bias,
          initialH: c.initialH,
          initialC: c.initialC,
          peephole: c.peephole,
          inputForget: c.inputForget,
          lbr: c.linearBeforeReset,
          clip: c.clip !== null,
          [`lens-${c.lens}`]: true,
          alpha: c.alpha !== null,
          symbolic: c.symbolicBatch,
          ...Object.fromEntries((c.activations ?? []).map((a) => [a, true])),
        }))
          if (on) seen.add(f);
      }
      // The sweep covers what it claims to.
      const want = ['layout1', 'forward', 'reverse', 'bidirectional', 'bias', 'initialH', 'clip', 'lens-none', 'lens-known', 'lens-fed', 'alpha', 'symbolic', ...ACTIVATIONS];
      if (op === 'LSTM') want.push('initialC', 'peephole', 'inputForget');
      if (op === 'GRU') want.push('lbr');
      expect(want.filter((f) => !seen.has(f))).toEqual([]);
      console.log(`${op}: worst |lowered - onnxruntime| over ${SWEEP} configurations: ${worst.toExponential(2)}`);
      expect(worst).toBeLessThan(2e-6);
    }, 60_000);
  }

  it('sequence lengths of 0 (LSTM and GRU): Y is 0 and the final states are 0, in both directions', async () => {
    for (const op of ['LSTM', 'GRU'] as const) {
      for (const lens of ['known', 'fed'] as const) {
        const c = defaultConfig(op, { direction: 'bidirectional', seqLen: 4, batch: 3, bias: true, initialH: true, initialC: op === 'LSTM', lens, lensValues: [0, 4, 2] });
        const data = recurrentData(c, 3);
        const ref = await referenceOutputs(c, data);
        expect(ref.Y_h!.data.slice(0, c.hidden).every((v) => v === 0)).toBe(true);
        const e = worstError(ref, (await lowered(c, data)).out);
        expect(e.ratio, e.where).toBeLessThanOrEqual(1);
      }
    }
  });

  it('a longer sequence (CRNN-like: 24 steps, bidirectional LSTM, batch 2)', async () => {
    const c = defaultConfig('LSTM', { direction: 'bidirectional', seqLen: 24, batch: 2, inputSize: 8, hidden: 6, bias: true });
    const data = recurrentData(c, 11);
    const e = worstError(await referenceOutputs(c, data), (await lowered(c, data)).out);
    expect(e.ratio, e.where).toBeLessThanOrEqual(1);
  });

  it('two layers reading one input with a symbolic batch: each lowered part stays in order', async () => {
    // (One builder for both once handed the second layer the first's cached Shape value.)
    const twin = (): Model => {
      const b = new GraphBuilder('twin');
      const x = b.input('x', DataType.FLOAT, [3, 'N', 2]);
      for (const tag of ['a', 'b']) {
        const [y] = b.opMulti('LSTM', [x, b.weight(`W${tag}`, [1, 8, 2], 1), b.weight(`R${tag}`, [1, 8, 2], 2)], 1, { hidden_size: 2 }, { outputNames: [`y${tag}`] });
        b.output(y!);
      }
      return b.model({ opset: 17 });
    };
    const original = twin();
    const model = twin();
    inferShapes(model, {});
    expect(lowerRecurrent(model).lowered).toBe(2);
    assertValid(model);
    const feeds = { x: new ort.Tensor('float32', Float32Array.from({ length: 12 }, (_, i) => Math.sin(i)), [3, 2, 2]) };
    const want = await run(original, feeds);
    const got = await run(model, feeds);
    for (const name of ['ya', 'yb']) got[name]!.data.forEach((v, j) => expect(Math.abs(v - want[name]!.data[j]!), `${name}[${j}]`).toBeLessThanOrEqual(1e-6));
  });

  it('a symbolic batch runs at several batch sizes', async () => {
    const c0 = defaultConfig('GRU', { direction: 'bidirectional', symbolicBatch: true, bias: true, lens: 'fed' });
    const model = recurrentModel(c0);
    lowerRecurrent(model);
    assertValid(model);
    for (const batch of [1, 3]) {
      const c = { ...c0, batch, lensValues: Array.from({ length: batch }, (_, i) => 1 + (i % 3)) };
      const data = recurrentData(c, batch);
      const e = worstError(await referenceOutputs(c, data), await run(model, toOrtFeeds(data)));
      expect(e.ratio, e.where).toBeLessThanOrEqual(1);
    }
  });
});

// The corpus's recurrent models with their expected outputs (the ONNX reference
// implementation's, layout 1 included, which onnxruntime cannot run).
describe.skipIf(!corpusAvailable)('lower-recurrent on the ONNX backend test corpus', () => {
  it('gives the expected outputs of every RNN, GRU and LSTM case', async () => {
    let checked = 0;
    for (const c of corpusCases().filter((k) => /^test_(simple_)?(rnn|gru|lstm)_/.test(k.name))) {
      const file = path.join(c.dir, 'model.onnx');
      const model = loadModel(file);
      if (![...model.graph.nodes].some((n) => ['RNN', 'GRU', 'LSTM'].includes(n.opType))) continue;
      const inputs = model.graph.inputs.filter((v) => !v.constValue);
      const data = dataTensors(c.dir, 'input');
      inferShapes(model, { inputShapes: Object.fromEntries(inputs.map((v, i) => [v.name, [...data[i]!.dims]])) });
      expect(lowerRecurrent(model).lowered, c.name).toBe(1);
      assertValid(model);
      const out = await run(model, Object.fromEntries(inputs.map((v, i) => [v.name, toOrt(data[i]!)!])));
      const expected = dataTensors(c.dir, 'output');
      model.graph.outputs.forEach((o, i) => {
        const want = Array.from(expected[i]!.toTypedArray() as Float32Array, Number);
        expect(out[o.name]!.dims, `${c.name} ${o.name}`).toEqual([...expected[i]!.dims]);
        want.forEach((w, j) => expect(Math.abs(out[o.name]!.data[j]! - w), `${c.name} ${o.name}[${j}]`).toBeLessThanOrEqual(1e-5 * Math.abs(w) + 1e-6));
      });
      checked++;
    }
    expect(checked).toBe(12);
  });
});

describe('lower-recurrent as a pass', () => {
  const lstmTwice = (): { model: Model; first: Node; second: Node } => {
    const b = new GraphBuilder('two');
    const x = b.input('X', DataType.FLOAT, [3, 1, 2]);
    const w1 = b.weight('W1', [1, 8, 2], 1, 0.5);
    const r1 = b.weight('R1', [1, 8, 2], 2, 0.5);
    const [y] = b.opMulti('LSTM', [x, w1, r1], 1, { hidden_size: 2 }, { name: 'first', outputNames: ['Y1'] });
    const y3 = b.op('Squeeze', [y!, b.init('axes', DataType.INT64, [1], [1])]);
    const w2 = b.weight('W2', [1, 8, 2], 3, 0.5);
    const r2 = b.weight('R2', [1, 8, 2], 4, 0.5);
    const [, yh] = b.opMulti('LSTM', [y3, w2, r2], 2, { hidden_size: 2 }, { name: 'second', outputNames: ['', 'Y_h'] });
    b.output(yh!, { dtype: DataType.FLOAT, shape: [1, 1, 2] });
    const model = b.model({ opset: 17 });
    inferShapes(model);
    const [first, second] = [...model.graph.nodes].filter((n) => n.opType === 'LSTM') as [Node, Node];
    return { model, first, second };
  };

  it('is registered and runs from a pipeline; stacked layers keep their values', async () => {
    const { model } = lstmTwice();
    const feeds = { X: new ort.Tensor('float32', Float32Array.from([0.1, -0.4, 0.7, 0.2, -0.9, 0.5]), [3, 1, 2]) };
    const before = await run(model, feeds);
    const ctx = new PassContext();
    const r = new PassManager(parsePipeline('lower-recurrent'), { verify: true }).run(model, ctx);
    expect(r.modified).toBe(true);
    expect([...model.graph.nodes].some((n) => n.opType === 'LSTM')).toBe(false);
    expect(ctx.diagnostics.map((d) => d.code)).toEqual(['I_RECURRENT_LOWERED']);
    const after = await run(model, feeds);
    expect(worstError(before, after).ratio).toBeLessThanOrEqual(1);
    // Nothing left to do: not modified.
    expect(lowerRecurrent(model).modified).toBe(false);
    expect(() => parsePipeline('lower-recurrent{x=1}')).toThrow(SplitcError);
  });

  it('lowers only the nodes it is given', () => {
    const { model, second } = lstmTwice();
    expect(lowerRecurrent(model, { nodes: new Set([second]) }).lowered).toBe(1);
    assertValid(model);
    expect([...model.graph.nodes].filter((n) => n.opType === 'LSTM').map((n) => n.name)).toEqual(['first']);
  });

  it('is deterministic', () => {
    const a = lstmTwice().model;
    const b = lstmTwice().model;
    lowerRecurrent(a);
    lowerRecurrent(b);
    expect(printModel(a)).toBe(printModel(b));
  });

  const codeOf = (model: Model): string | undefined => {
    const before = printModel(model);
    try {
      lowerRecurrent(model);
    } catch (e) {
      if (!(e instanceof SplitcError)) throw e;
      // Every check comes before any change.
      expect(printModel(model)).toBe(before);
      return e.code;
    }
    return undefined;
  };

  it('a sequence length that is not static is E_SHAPE with a hint to give input shapes', () => {
    const b = new GraphBuilder('dyn');
    const x = b.input('X', DataType.FLOAT, ['T', 1, 2]);
    b.output(b.opMulti('GRU', [x, b.weight('W', [1, 6, 2]), b.weight('R', [1, 6, 2])], 2, { hidden_size: 2 }, { outputNames: ['Y', 'Y_h'] })[1]!);
    const model = b.model();
    expect(codeOf(model)).toBe('E_SHAPE');
    try {
      lowerRecurrent(model);
    } catch (e) {
      expect((e as SplitcError).hint).toMatch(/shape/);
      expect((e as SplitcError).message).toMatch(/sequence length/);
    }
  });

  it('an unknown activation, a wrong activation count, a bad clip and an old opset are coded errors', () => {
    const base = defaultConfig('LSTM');
    expect(codeOf(recurrentModel({ ...base, activations: ['Sigmoid', 'Gelu', 'Tanh'] }))).toBe('E_MALFORMED');
    expect(codeOf(recurrentModel({ ...base, activations: ['Sigmoid', 'Tanh'] }))).toBe('E_MALFORMED');
    expect(codeOf(recurrentModel({ ...base, clip: -1 }))).toBe('E_MALFORMED');
    expect(codeOf(recurrentModel(base, { opset: 11 }))).toBe('E_OPSET');
    expect(codeOf(recurrentModel({ ...base, lens: 'known', lensValues: [1, 7] }))).toBe('E_MALFORMED');
  });
});
