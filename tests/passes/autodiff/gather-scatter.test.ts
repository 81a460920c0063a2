// Gradient rules for the gathers, TopK, the scatters, MaxUnpool and Compress, checked against
// central finite differences on seeded random shapes and attribute variations. Every op runs in
// float64 except MaxUnpool: onnxruntime CPU has no double kernel for it, so its checks are
// float32 (see there for the tolerances). Rules that emit ScatterElements or ScatterND with
// reduction='add' need opset 16, so their models are built at 16+ (or raised to it). With
// symbolic shapes (no input shapes given) the gradients must equal the static ones.

import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import { tensorType, type Value } from '../../../src/ir/graph.js';
import { modelToBytes } from '../../../src/ir/serde/io.js';
import { assertValid } from '../../../src/ir/verify.js';
import { differentiate } from '../../../src/passes/autodiff/index.js';
import { describeFailures, gradCheck, type GradCheckCase, type GradCheckReport } from './gradcheck.js';
import { autodiffError, count, expectDynamicMatchesStatic, expectGrads, ints, seededDraws } from './rule-checks.js';

const { int, dimsOf } = seededDraws(90210);
const I64 = DataType.INT64;
const F32 = DataType.FLOAT;

/**
 * Max/min scatters on three random cases: some updates win and some data stays, so both
 * gradients are exercised (and checked).
 */
async function expectBothWin(makeCase: () => GradCheckCase): Promise<void> {
  const won = { u: false, data: false };
  for (let k = 0; k < 3; k++) {
    const r = await expectGrads(makeCase());
    won.u ||= r.grads.u!.some((v) => v !== 0);
    won.data ||= r.grads.data!.some((v) => v !== 0);
  }
  expect(won).toEqual({ u: true, data: true });
}

describe('Gather and GatherElements (opset 16+: ScatterElements with reduction add)', () => {
  it('Gather on axis 0 with 2-D indices, repeated and negative', async () => {
    const d = [5, int(2, 4)];
    await expectGrads({
      build: (b, dt) => b.op('Gather', [b.input('x', dt, d), b.init('i', I64, [2, 3], [0, -1, 2, 4, 0, -5])]),
      inputs: { x: { dims: d } },
      opset: 16,
    });
  });

  it('Gather on a negative axis with a scalar index, and with 3-D int32 indices', async () => {
    const d = dimsOf(3, 3, 4);
    await expectGrads({
      build: (b, dt) => b.op('Gather', [b.input('x', dt, d), b.init('i', I64, [], [-2])], { axis: -1 }),
      inputs: { x: { dims: d } },
      opset: 18,
    });
    await expectGrads({
      build: (b, dt) => b.op('Gather', [b.input('x', dt, d), b.init('i', DataType.INT32, [2, 1, 2], [1, -1, 0, 1])], { axis: 1 }),
      inputs: { x: { dims: d } },
      opset: 16,
    });
  });

  it('Gather with indices fed at run time (negative ones fixed up by Where)', async () => {
    await expectGrads({
      build: (b, dt) => b.op('Gather', [b.input('x', dt, [3, 4]), b.input('i', I64, [2, 2])], { axis: 1 }),
      inputs: { x: { dims: [3, 4] }, i: { dims: [2, 2], type: 'int64', data: [3, -1, -4, 3] } },
      opset: 17,
    });
  });

  it('GatherElements on axes 1 and -3 with repeated and negative indices', async () => {
    await expectGrads({
      build: (b, dt) => b.op('GatherElements', [b.input('x', dt, [3, 4]), b.init('i', I64, [3, 5], [0, 1, -1, 3, 3, 2, 2, 0, -4, 1, 1, 1, 1, 1, -2])], { axis: 1 }),
      inputs: { x: { dims: [3, 4] } },
      opset: 16,
    });
    await expectGrads({
      build: (b, dt) => b.op('GatherElements', [b.input('x', dt, [3, 2, 2]), b.input('i', I64, [2, 2, 2])], { axis: -3 }),
      inputs: { x: { dims: [3, 2, 2] }, i: { dims: [2, 2, 2], type: 'int64', data: [0, -1, 2, 2, -3, 1, 0, 0] } },
      opset: 17,
    });
  });
});

describe('GatherND (opset 16+: ScatterND with reduction add)', () => {
  const int = ints(4711);
  it('batch_dims 0: whole elements with repeated and negative index tuples', async () => {
    const d = [3, int(2, 4)];
    await expectGrads({
      build: (b, dt) => b.op('GatherND', [b.input('x', dt, d), b.init('i', I64, [2, 3, 2], [0, 1, -1, 0, 0, 1, 2, -1, 0, 1, 2, 0])]),
      inputs: { x: { dims: d } },
      opset: 16,
    });
  });

  it('batch_dims 0: slices (index tuples shorter than the rank), repeated', async () => {
    const d = [4, int(2, 3), int(2, 3)];
    await expectGrads({
      build: (b, dt) => b.op('GatherND', [b.input('x', dt, d), b.init('i', I64, [5, 1], [3, 0, -1, 1, 0])]),
      inputs: { x: { dims: d } },
      opset: 18,
    });
    await expectGrads({
      build: (b, dt) => b.op('GatherND', [b.input('x', dt, d), b.init('i', I64, [2, 2, 2], [1, 0, 1, 0, -4, 1, 1, 0])]),
      inputs: { x: { dims: d } },
      opset: 16,
    });
  });

  it('batch_dims 1 and 2, repeated index tuples within a batch, indices fed at run time', async () => {
    const n = int(2, 3);
    await expectGrads({
      build: (b, dt) => b.op('GatherND', [b.input('x', dt, [n, 3, 4]), b.input('i', I64, [n, 3, 2])], { batch_dims: 1 }),
      inputs: { x: { dims: [n, 3, 4] }, i: { dims: [n, 3, 2], type: 'int64', data: Array.from({ length: n }, (_, k) => [k % 3, 1, -1, 3, k % 3, 1]).flat() } },
      opset: 16,
    });
    await expectGrads({
      build: (b, dt) => b.op('GatherND', [b.input('x', dt, [2, n, 3, 2]), b.init('i', I64, [2, n, 2, 1], Array.from({ length: 4 * n }, (_, k) => [0, 2, -1, 0][k % 4]!))], { batch_dims: 2 }),
      inputs: { x: { dims: [2, n, 3, 2] } },
      opset: 17,
    });
  });

  it('raises an opset-13 model to 16', async () => {
    const r = await expectGrads({
      build: (b, dt) => b.op('GatherND', [b.input('x', dt, [2, 3]), b.init('i', I64, [3, 1], [1, 1, 0])], { batch_dims: 0 }),
      inputs: { x: { dims: [2, 3] } },
      opset: 13,
    });
    expect(r.autodiff.opset).toEqual({ from: 13, to: 16 });
  });
});

describe('TopK (float64; distinct values, so no ties)', () => {
  const int = ints(1618);
  /** n distinct values in (-1, 1), 2/n apart, in a seeded random order. */
  const distinct = (n: number): number[] => {
    const v = Array.from({ length: n }, (_, i) => -1 + (2 * i + 1) / n);
    for (let i = n - 1; i > 0; i--) {
      const j = int(0, i);
      [v[i], v[j]] = [v[j]!, v[i]!];
    }
    return v;
  };
  for (let k = 0; k < 6; k++) {
    const rank = int(1, 3);
    const d = Array.from({ length: rank }, () => int(2, 5));
    const axis = int(-rank, rank - 1);
    const largest = int(0, 1);
    const sorted = int(0, 1);
    const kk = int(1, d[axis < 0 ? axis + rank : axis]!);
    it(`x [${d}], axis ${axis}, K ${kk}, largest ${largest}, sorted ${sorted}`, async () => {
      await expectGrads({
        build: (b, dt) => b.opMulti('TopK', [b.input('x', dt, d), b.init('k', I64, [1], [kk])], 2, { axis, largest, sorted })[0]!,
        inputs: { x: { dims: d, data: distinct(d.reduce((p, q) => p * q, 1)) } },
      });
    });
  }

  it('default axis (-1) with K fed at run time, the indices used too (no gradient through them)', async () => {
    await expectGrads({
      build: (b, dt) => {
        const [values, indices] = b.opMulti('TopK', [b.input('x', dt, [3, 5]), b.input('k', I64, [1])], 2);
        return b.op('Mul', [values!, b.op('Cast', [indices!], { to: dt })]);
      },
      inputs: { x: { dims: [3, 5], data: distinct(15) }, k: { dims: [1], type: 'int64', data: [3] } },
    });
  });

  it('opset 9 (K as an attribute, upgraded to an input)', async () => {
    const r = await expectGrads({
      build: (b, dt) => b.opMulti('TopK', [b.input('x', dt, [2, 6])], 2, { k: 2, axis: 1 })[0]!,
      inputs: { x: { dims: [2, 6], data: distinct(12) } },
      opset: 9,
    });
    expect(r.autodiff.opset).toEqual({ from: 9, to: 13 });
  });
});


describe('symbolic shapes (dynamic paths)', () => {
  const D = DataType.DOUBLE;
  it('GatherND with batch_dims 1 and a symbolic batch (batch coordinates from Range)', async () => {
    await expectDynamicMatchesStatic({
      build: (b, d) => b.op('GatherND', [b.input('x', D, d.x!), b.input('i', I64, d.i!)], { batch_dims: 1 }),
      inputs: {
        x: { dims: [3, 4, 2], symbolic: ['N', 4, 2] },
        i: { dims: [3, 2, 1], symbolic: ['N', 'K', 1], int64: [0, 0, 3, -1, 2, 2] },
      },
      wrt: ['x'],
    });
  });

  it('Gather and GatherElements with symbolic dims and run-time indices', async () => {
    await expectDynamicMatchesStatic({
      build: (b, d) => {
        const x = b.input('x', D, d.x!);
        const g = b.op('Gather', [x, b.input('i', I64, d.i!)], { axis: 1 });
        const e = b.op('GatherElements', [x, b.input('j', I64, d.j!)], { axis: 0 });
        return b.op('Concat', [b.op('Flatten', [g], { axis: 1 }), b.op('Flatten', [e], { axis: 1 })], { axis: 1 });
      },
      inputs: {
        x: { dims: [2, 4], symbolic: ['N', 'M'] },
        i: { dims: [3], symbolic: ['K'], int64: [-1, 0, 3] },
        j: { dims: [2, 4], symbolic: ['N', 'M'], int64: [1, -2, 0, 1, -1, 0, 1, 1] },
      },
      wrt: ['x'],
    });
  });
});


const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const opTypes = (r: GradCheckReport): string[] => [...r.gradModel.graph.nodes].map((n) => n.opType);

/**
 * The gradients of ReduceSum(y) (so dL/dy = 1) for float64 feeds: for checks at points where
 * finite differences cannot agree (ties).
 */
async function sumGrads(build: (b: GraphBuilder) => Value, wrt: string[], feeds: Record<string, number[]>, shapes: Record<string, number[]>, opset: number): Promise<Record<string, number[]>> {
  const b = new GraphBuilder('t');
  b.output(b.op('ReduceSum', [build(b)], { keepdims: 0 }, { outputNames: ['loss'] }));
  const m = b.model({ opset });
  differentiate(m, { wrt, loss: 'loss', inputShapes: shapes });
  assertValid(m);
  const s = await ort.InferenceSession.create(modelToBytes(m), { graphOptimizationLevel: 'disabled' });
  const out = await s.run(Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, new ort.Tensor('float64', Float64Array.from(v), shapes[k]!)])));
  await s.release();
  return Object.fromEntries(wrt.map((w) => [w, Array.from(out[`grad:${w}`]!.data as Float64Array)]));
}

/**
 * Scatters run in float64 (onnxruntime has double kernels for ScatterElements/ScatterND
 * with every reduction, and for GatherElements/GatherND, Range, Where and Equal). Reductions
 * need opset 16 (add, mul) or 18 (max, min); 'none' is also checked at opset 13, where the
 * gradient's scatters must carry no reduction attribute.
 */
describe('ScatterElements (float64)', () => {
  const int = ints(2718);
  /** Data dims, an axis (negative half the time) and indices in [-d, d), repeated within a line or distinct. */
  const geometry = (distinct: boolean): { data: number[]; axis: number; idx: number[]; values: number[] } => {
    const rank = int(1, 3);
    const data = Array.from({ length: rank }, () => int(2, 4));
    const axis = int(-rank, rank - 1);
    const a = axis < 0 ? axis + rank : axis;
    const d = data[a]!;
    const idx = data.map((n, i) => (i !== a ? int(1, n) : distinct ? int(1, n) : int(2, 5)));
    const len = idx[a]!;
    const inner = count(idx.slice(a + 1));
    const values = new Array<number>(count(idx));
    for (let o = 0; o < count(idx.slice(0, a)); o++) {
      for (let i = 0; i < inner; i++) {
        const line = range(d);
        for (let j = d - 1; j > 0; j--) {
          const k = int(0, j);
          [line[j], line[k]] = [line[k]!, line[j]!];
        }
        for (let k = 0; k < len; k++) {
          // Distinct: a shuffled prefix. Repeated: random picks, the first two equal.
          const v = distinct ? line[k]! : k === 1 ? values[(o * len) * inner + i]! : int(0, d - 1);
          values[(o * len + k) * inner + i] = v < 0 ? v : int(0, 1) ? v - d : v;
        }
      }
    }
    return { data, axis, idx, values };
  };
  const scatter = (g: ReturnType<typeof geometry>, reduction: string | null, fed = false) => ({
    build: (b: GraphBuilder, dt: DataType) =>
      b.op('ScatterElements', [b.input('data', dt, g.data), fed ? b.input('i', I64, g.idx) : b.init('i', I64, g.idx, g.values), b.input('u', dt, g.idx)], reduction ? { axis: g.axis, reduction } : { axis: g.axis }),
    inputs: { data: { dims: g.data }, u: { dims: g.idx }, ...(fed ? { i: { dims: g.idx, type: 'int64' as const, data: g.values } } : {}) },
  });

  for (let k = 0; k < 3; k++) {
    const g = geometry(true);
    it(`none, distinct constant indices: data [${g.data}], axis ${g.axis}, indices [${g.idx}] (no last-writer mask)`, async () => {
      const r = await expectGrads({ ...scatter(g, null), opset: 13 });
      expect(opTypes(r)).not.toContain('Range');
    });
  }

  it('none, repeated indices fed at run time: only the update that stays gets a gradient', async () => {
    for (let k = 0; k < 3; k++) {
      const g = geometry(false);
      const r = await expectGrads({ ...scatter(g, null, true), opset: k === 0 ? 13 : 18 });
      expect(opTypes(r)).toContain('Range');
      // Updates 0 and 1 of the first line write the same position: update 1 stays.
      expect(r.grads.u![0]).toBe(0);
    }
  });

  it('add, repeated and negative indices', async () => {
    for (let k = 0; k < 3; k++) await expectGrads({ ...scatter(geometry(false), 'add'), opset: 16 });
  });

  it('mul, repeated indices, with one and with two zero updates at a position', async () => {
    for (let k = 0; k < 2; k++) await expectGrads({ ...scatter(geometry(false), 'mul'), opset: 16 });
    // Row 0 writes position 0 twice (one update 0); row 1 writes position 3 three times (two 0).
    const u = [0, 0.7, -0.4, 0.9, 0, 0, 0.6, -0.8, 0.5, -0.3, 0.2, 1.1];
    const r = await expectGrads({
      build: (b, dt) => b.op('ScatterElements', [b.input('data', dt, [3, 4]), b.init('i', I64, [3, 4], [0, 0, 1, 2, 3, 3, 3, 1, 2, -2, 0, -4]), b.input('u', dt, [3, 4])], { axis: 1, reduction: 'mul' }),
      inputs: { data: { dims: [3, 4] }, u: { dims: [3, 4], data: u } },
      opset: 16,
    });
    // Where another update at the position is 0, the gradient is 0; a lone zero's is not.
    const gu = r.grads.u!;
    expect([gu[1], gu[4], gu[5], gu[6]]).toEqual([0, 0, 0, 0]);
    expect(gu[0]).not.toBe(0);
  });

  for (const reduction of ['max', 'min']) {
    it(`${reduction}, repeated and negative indices (opset 18)`, async () => {
      await expectBothWin(() => ({ ...scatter(geometry(false), reduction), opset: 18 }));
    });
  }

  it('max with ties: tied candidates share the gradient equally', async () => {
    // Position 1: data 5 and one update 5 tie; position 2: two updates 4 tie, data 1 loses.
    const g = await sumGrads(
      (b) => b.op('ScatterElements', [b.input('data', DataType.DOUBLE, [3]), b.init('i', I64, [4], [1, 2, 2, 0]), b.input('u', DataType.DOUBLE, [4])], { axis: 0, reduction: 'max' }),
      ['data', 'u'],
      { data: [3, 5, 1], u: [5, 4, 4, 2] },
      { data: [3], u: [4] },
      18,
    );
    expect(g.data).toEqual([1, 0.5, 0]);
    expect(g.u).toEqual([0.5, 0.5, 0.5, 0]);
  });

  it('an unknown reduction is an E_AUTODIFF error', () => {
    const e = autodiffError((b) => b.op('ScatterElements', [b.input('x', DataType.DOUBLE, [3]), b.init('i', I64, [1], [0]), b.input('u', DataType.DOUBLE, [1])], { reduction: 'mean' }), ['x'], 18);
    expect(e.message).toMatch(/reduction 'mean' is unknown/);
  });
});

describe('ScatterND (float64)', () => {
  const int = ints(31415);
  /** Data dims, index tuples of length k ≤ rank (slices when k < rank), with negative coordinates; distinct or with repeats. */
  const geometry = (distinct: boolean): { data: number[]; idx: number[]; upd: number[]; values: number[] } => {
    const rank = int(1, 3);
    const data = Array.from({ length: rank }, () => int(2, 3));
    const k = int(1, rank);
    const cells = count(data.slice(0, k));
    const m = distinct ? int(1, cells) : int(2, 5);
    const order = range(cells);
    for (let j = cells - 1; j > 0; j--) {
      const t = int(0, j);
      [order[j], order[t]] = [order[t]!, order[j]!];
    }
    const picks = range(m).map((j) => (distinct ? order[j]! : j === 1 ? order[0]! : order[int(0, cells - 1)]!));
    picks[0] = order[0]!;
    const values: number[] = [];
    for (const p of picks) {
      let rest = p;
      const tuple = data.slice(0, k).reverse().map((d) => {
        const c = rest % d;
        rest = Math.floor(rest / d);
        return int(0, 1) ? c - d : c;
      });
      values.push(...tuple.reverse());
    }
    // Index tuples as [m, k] or [1, m, k].
    const lead = int(0, 1) ? [m] : [1, m];
    return { data, idx: [...lead, k], upd: [...lead, ...data.slice(k)], values };
  };
  const scatter = (g: ReturnType<typeof geometry>, reduction: string | null, fed = false) => ({
    build: (b: GraphBuilder, dt: DataType) =>
      b.op('ScatterND', [b.input('data', dt, g.data), fed ? b.input('i', I64, g.idx) : b.init('i', I64, g.idx, g.values), b.input('u', dt, g.upd)], reduction ? { reduction } : {}),
    inputs: { data: { dims: g.data }, u: { dims: g.upd }, ...(fed ? { i: { dims: g.idx, type: 'int64' as const, data: g.values } } : {}) },
  });

  for (let k = 0; k < 3; k++) {
    const g = geometry(true);
    it(`none, distinct constant tuples: data [${g.data}], indices [${g.idx}] (no last-writer mask)`, async () => {
      const r = await expectGrads({ ...scatter(g, null), opset: 13 });
      expect(opTypes(r)).not.toContain('Range');
    });
  }

  it('none, repeated tuples fed at run time (elements and slices): only the update that stays gets a gradient', async () => {
    for (let k = 0; k < 3; k++) {
      const r = await expectGrads({ ...scatter(geometry(false), null, true), opset: k === 0 ? 13 : 16 });
      // Tuples 0 and 1 are the same: tuple 1 stays, so tuple 0's update (its first element) gets none.
      expect(r.grads.u![0]).toBe(0);
    }
  });

  it('add, repeated tuples', async () => {
    for (let k = 0; k < 3; k++) await expectGrads({ ...scatter(geometry(false), 'add'), opset: 16 });
  });

  it('mul, repeated tuples, with zero updates', async () => {
    for (let k = 0; k < 2; k++) await expectGrads({ ...scatter(geometry(false), 'mul'), opset: 16 });
    // Rows 0 and 2 both write row 1 of the data, one of their elements 0 (in column 0, both 0).
    await expectGrads({
      build: (b, dt) => b.op('ScatterND', [b.input('data', dt, [3, 2]), b.init('i', I64, [3, 1], [1, 0, -2]), b.input('u', dt, [3, 2])], { reduction: 'mul' }),
      inputs: { data: { dims: [3, 2] }, u: { dims: [3, 2], data: [0, 0.8, -0.6, 0.4, 0, 0.9] } },
      opset: 16,
    });
  });

  for (const reduction of ['max', 'min']) {
    it(`${reduction}, repeated tuples (opset 18)`, async () => {
      await expectBothWin(() => ({ ...scatter(geometry(false), reduction), opset: 18 }));
    });
  }
});

describe('MaxUnpool (float32)', () => {
  const unpool = (b: GraphBuilder, inputs: Value[], attrs: Record<string, number[]>, outDims: number[]): Value => {
    const y = b.op('MaxUnpool', inputs, attrs);
    y.type = tensorType(F32, outDims);
    return y;
  };
  const int = ints(8128);
  const F = { dtype: 'float32' as const, h: 0.25, atol: 1e-4, rtol: 1e-4 };
  /** Offsets of one element per 2×2 window, over the whole flattened [N, C, H, W] output (N and C included). */
  const windowOffsets = (nc: number, h: number, w: number, H: number, W: number): number[] => {
    const out: number[] = [];
    for (let p = 0; p < nc; p++) for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) out.push(p * H * W + (2 * i + int(0, 1)) * W + 2 * j + int(0, 1));
    return out;
  };

  it('kernel 2, stride 2, offsets across N and C fed at run time, with and without output_shape', async () => {
    const [n, c, h, w] = [2, int(1, 3), int(1, 3), int(2, 3)];
    for (const outputShape of [null, [n, c, 2 * h + 1, 2 * w + 1]]) {
      const [H, W] = outputShape ? [2 * h + 1, 2 * w + 1] : [2 * h, 2 * w];
      const offsets = windowOffsets(n * c, h, w, H, W);
      await expectGrads({
        ...F,
        build: (b) => {
          const inputs = [b.input('x', F32, [n, c, h, w]), b.input('i', I64, [n, c, h, w])];
          // An absent output_shape is left out: onnxruntime 1.30 reads an empty third input as given.
          if (outputShape) inputs.push(b.init('s', I64, [4], outputShape));
          return unpool(b, inputs, { kernel_shape: [2, 2], strides: [2, 2] }, outputShape ?? [n, c, 2 * h, 2 * w]);
        },
        inputs: { x: { dims: [n, c, h, w] }, i: { dims: [n, c, h, w], type: 'int64', data: offsets } },
      });
    }
  });

  it('repeated offsets (the last one written stays) and constant distinct offsets (no mask), 1-D', async () => {
    const data = Array.from({ length: 2 * 3 * 4 }, () => int(0, 2 * 3 * 8 - 1));
    data[5] = data[2]!;
    await expectGrads({
      ...F,
      build: (b) => unpool(b, [b.input('x', F32, [2, 3, 4]), b.input('i', I64, [2, 3, 4])], { kernel_shape: [2], strides: [2] }, [2, 3, 8]),
      inputs: { x: { dims: [2, 3, 4] }, i: { dims: [2, 3, 4], type: 'int64', data } },
    });
    const r = await expectGrads({
      ...F,
      build: (b) => unpool(b, [b.input('x', F32, [1, 2, 3]), b.init('i', I64, [1, 2, 3], [0, 3, 5, 6, 9, 10])], { kernel_shape: [2], strides: [2] }, [1, 2, 6]),
      inputs: { x: { dims: [1, 2, 3] } },
    });
    expect(opTypes(r)).not.toContain('Range');
  });

  it('after MaxPool with overlapping windows (kernel 3, stride 1 and 2: shared maxima), w.r.t. the pool input', async () => {
    // Distinct values 2/n apart and a step of 1e-3 keep every window's maximum in place.
    for (const stride of [1, 2]) {
      const d = [1, 2, 5, 5];
      const n = count(d);
      const v = Array.from({ length: n }, (_, i) => -1 + (2 * i + 1) / n);
      for (let i = n - 1; i > 0; i--) {
        const j = int(0, i);
        [v[i], v[j]] = [v[j]!, v[i]!];
      }
      await expectGrads({
        dtype: 'float32',
        h: 1e-3,
        build: (b) => {
          const [y, idx] = b.opMulti('MaxPool', [b.input('x', F32, d)], 2, { kernel_shape: [3, 3], strides: [stride, stride] });
          return unpool(b, [y!, idx!, b.init('s', I64, [4], d)], { kernel_shape: [3, 3], strides: [stride, stride] }, d);
        },
        inputs: { x: { dims: d, data: v } },
      });
    }
  });
});

describe('Compress (float64)', () => {
  const int = ints(6174);
  it('along an axis, the condition shorter than the axis', async () => {
    for (let k = 0; k < 3; k++) {
      const rank = int(1, 3);
      const d = Array.from({ length: rank }, () => int(2, 5));
      const axis = int(-rank, rank - 1);
      const len = int(1, d[axis < 0 ? axis + rank : axis]!);
      const cond = Array.from({ length: len }, () => int(0, 1));
      cond[len - 1] = 1;
      await expectGrads({
        build: (b, dt) => b.op('Compress', [b.input('x', dt, d), b.init('c', DataType.BOOL, [len], cond)], { axis }),
        inputs: { x: { dims: d } },
      });
    }
  });

  it('without an axis (x flattened), the condition computed at run time', async () => {
    const d = [int(2, 3), int(2, 4)];
    const cond = Array.from({ length: count(d) - 1 }, () => int(0, 1));
    // Kept elements that are not a prefix: the first dropped, the last of the condition kept.
    cond[0] = 0;
    cond[cond.length - 1] = 1;
    await expectGrads({
      build: (b, dt) => b.op('Compress', [b.input('x', dt, d), b.op('Cast', [b.input('c', I64, [cond.length])], { to: DataType.BOOL })]),
      inputs: { x: { dims: d }, c: { dims: [cond.length], type: 'int64', data: cond } },
    });
  });

  it('a condition selecting nothing gives a zero gradient', async () => {
    const r = await gradCheck({
      build: (b, dt) => b.op('Concat', [b.op('Compress', [b.input('x', dt, [3, 2]), b.init('c', DataType.BOOL, [2], [0, 0])], { axis: 0 }), b.input('z', dt, [1, 2])], { axis: 0 }),
      inputs: { x: { dims: [3, 2] }, z: { dims: [1, 2] } },
    });
    expect(r.ok, describeFailures(r)).toBe(true);
    expect(Array.from(r.grads.x!)).toEqual([0, 0, 0, 0, 0, 0]);
  });
});

describe('symbolic shapes: scatters (dynamic paths)', () => {
  it('ScatterND and ScatterElements with repeated run-time indices (last-writer masks), Compress along an axis', async () => {
    const D = DataType.DOUBLE;
    await expectDynamicMatchesStatic({
      build: (b, d) => {
        const s = b.op('ScatterND', [b.input('x', D, d.x!), b.input('i', I64, d.i!), b.input('u', D, d.u!)]);
        const c = b.op('Compress', [s, b.init('c', DataType.BOOL, [4], [1, 0, 1, 1])], { axis: 1 });
        return b.op('ScatterElements', [c, b.input('j', I64, d.j!), b.input('v', D, d.v!)], { axis: 0 });
      },
      inputs: {
        x: { dims: [3, 4], symbolic: ['N', 4] },
        i: { dims: [3, 1], symbolic: ['K', 1], int64: [2, 0, 2] },
        u: { dims: [3, 4], symbolic: ['K', 4] },
        j: { dims: [2, 3], symbolic: ['M', 3], int64: [0, -1, 1, 2, 2, 0] },
        v: { dims: [2, 3], symbolic: ['M', 3] },
      },
      wrt: ['x', 'u', 'v'],
    });
  });
});
