// Graph-level tests of the bottleneck on small synthetic models: packing is exact, the
// quantization error is bounded by half a step, PCA at K = C is lossless, the ops take
// the form of the model's own opset, and non-float tensors pass through.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import type { Dim, Model } from '../../../src/ir/graph.js';
import { modelToBytes } from '../../../src/ir/serde/io.js';
import { deserializeModel } from '../../../src/ir/serde/read.js';
import { assertValid } from '../../../src/ir/verify.js';
import {
  type CompressedSplit,
  compressSplit,
  type CompressSpec,
  dequantizeValue,
  estimateWireBytes,
  packCodes,
  packedBytes,
  parseCompressSpec,
  pcaBasis,
  projectChannels,
  type SplitStats,
  specNeeds,
  tensorStats,
  unpackCodes,
} from '../../../src/passes/bottleneck/index.js';
import { splitModel } from '../../../src/passes/cut.js';
import { PassContext } from '../../../src/passes/pass.js';
import { inferShapes } from '../../../src/passes/shape/index.js';
import { tmpDir } from '../../helpers/fixtures.js';
import { onnxCheck, pythonOnnx, xorshift32 } from '../../helpers/onnx-oracle.js';
import { codeOf } from '../../helpers/codes.js';

type Feeds = Record<string, ort.Tensor>;

async function run(m: Model, feeds: Feeds): Promise<Record<string, ort.Tensor>> {
  const s = await ort.InferenceSession.create(modelToBytes(m), { graphOptimizationLevel: 'disabled', intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    const names = new Set(s.inputNames);
    return await s.run(Object.fromEntries(Object.entries(feeds).filter(([k]) => names.has(k))));
  } finally {
    await s.release();
  }
}

async function runCompressed(c: CompressedSplit, feeds: Feeds) {
  const e = await run(c.edge, feeds);
  const out = await run(c.cloud, e);
  return { edge: e, cloud: out };
}

/** x → Add(x, 0) = h → Mul(h, 1) = y: the cloud returns the decoded cut tensor unchanged. */
function identityModel(dims: Dim[], opset: number, dtype: DataType = DataType.FLOAT): Model {
  const b = new GraphBuilder();
  const x = b.input('x', dtype, dims);
  const zero = b.init('zero', dtype, [], [0]);
  const one = b.init('one', dtype, [], [1]);
  const h = b.op('Add', [x, zero], {}, { outputNames: ['h'] });
  b.output(b.op('Mul', [h, one], {}, { outputNames: ['y'] }));
  const m = b.model({ opset, irVersion: opset >= 13 ? 7 : opset >= 9 ? 5 : 3 });
  inferShapes(m);
  return m;
}

function floats(n: number, seed: number, f: (u: number) => number): Float32Array {
  const r = xorshift32(seed);
  return Float32Array.from({ length: n }, () => f(r()));
}

function statsFor(samples: Float32Array[], dims: number[], spec: CompressSpec, axis = 1): SplitStats {
  const raw = tensorStats(samples, dims, axis);
  const needs = specNeeds(spec);
  const out: SplitStats = { h: { raw } };
  if (needs.projectedStats) {
    const k = (spec.stages[0] as { k: number }).k;
    const basis = pcaBasis(raw, k);
    out.h!.projected = tensorStats(samples.map((s) => projectChannels(s, dims, axis, basis).data), projectChannels(samples[0]!, dims, axis, basis).dims, axis);
  }
  return out;
}

function check(c: CompressedSplit): void {
  assertValid(c.edge);
  assertValid(c.cloud);
  expect(c.cloud.graph.inputs.map((v) => v.name)).toEqual(c.wire.map((w) => w.name));
  expect(c.edge.graph.outputs.slice(0, c.wire.length).map((v) => v.name)).toEqual(c.wire.map((w) => w.name));
  // survives serialization
  deserializeModel(modelToBytes(c.edge));
  deserializeModel(modelToBytes(c.cloud));
}

describe.each([7, 9, 13])('opset %i', (opset) => {
  it.each([
    [4, [1, 3, 5, 7]],
    [2, [1, 3, 5, 7]],
    [4, [1, 3]],
    [2, [1, 1, 1, 5]],
    [2, [1, 2, 2, 2]],
    [4, [1, 1, 1, 1]],
    [2, [3, 5]], // no batch dim (dim 0 is neither 1 nor symbolic): one flat row
  ] as const)('int%i packs and unpacks %j exactly (wire = [1, ceil(bits·n/8)] bytes with the batch dim, JS packCodes layout)', async (bits, dimsRo) => {
    const dims: number[] = [...dimsRo];
    const qmax = 2 ** bits - 1;
    const n = dims.reduce((a, b) => a * b, 1);
    const m = identityModel(dims, opset);
    const split = splitModel(m, ['h']);
    // calibration covering exactly [0, qmax] gives scale 1, zero point 0: codes = values
    const calib = [Float32Array.from({ length: n }, (_, i) => (i === 0 ? 0 : i === n - 1 ? qmax : i % (qmax + 1)))];
    if (n === 1) calib.push(Float32Array.of(qmax));
    const spec = parseCompressSpec(`int${bits}:tensor`);
    const c = compressSplit(split, spec, { h: { raw: tensorStats(calib, dims, 1) } });
    check(c);
    expect(c.constants.tensors[0]!.stages[0]).toMatchObject({ kind: 'quant', scale: [1], zeroPoint: [0] });
    for (const seed of [1, 2, 3]) {
      const x = floats(n, seed, (u) => Math.floor(u * (qmax + 1)));
      const { edge, cloud } = await runCompressed(c, { x: new ort.Tensor('float32', x, dims) });
      const w = edge[c.wire[0]!.name]!;
      expect(w.type).toBe('uint8');
      expect(w.dims).toEqual(dims[0] === 1 ? [1, packedBytes(n, bits)] : [packedBytes(n, bits)]);
      expect(c.wire[0]!.shape).toEqual(w.dims);
      expect((w.data as Uint8Array).length).toBe(Math.ceil((bits * n) / 8));
      expect(Buffer.from(w.data as Uint8Array).equals(Buffer.from(packCodes(x, bits)))).toBe(true);
      expect(Array.from(unpackCodes(w.data as Uint8Array, bits, n))).toEqual(Array.from(x));
      expect(Array.from(cloud.y!.data as Float32Array)).toEqual(Array.from(x));
    }
  });

  it.each(['int8', 'int4', 'int2', 'int8:channel', 'int4:channel', 'int2:channel'])('%s: |x − dequant(quant(x))| ≤ scale/2 inside the calibrated range', async (text) => {
    const dims = [1, 4, 6, 5];
    const n = 120;
    const m = identityModel(dims, opset);
    const split = splitModel(m, ['h']);
    // channels with different ranges, one all-positive (ReLU-like)
    const gen = (seed: number) => {
      const r = xorshift32(seed);
      return Float32Array.from({ length: n }, (_, i) => {
        const c = Math.floor(i / 30);
        const u = r();
        return c === 0 ? u * 6 : c === 1 ? (u - 0.5) * 0.2 : c === 2 ? (u - 0.3) * 3 : (u - 0.5) * 40;
      });
    };
    const calib = [1, 2, 3, 4].map(gen);
    const spec = parseCompressSpec(text);
    const c = compressSplit(split, spec, statsFor(calib, dims, spec));
    check(c);
    const q = c.constants.tensors[0]!.stages[0]!;
    if (q.kind !== 'quant') throw new Error('expected a quant stage');
    // values inside the calibrated range: a clamped copy of fresh data
    const lo = Math.min(...q.lo);
    const hi = Math.max(...q.hi);
    const perChannel = q.granularity === 'channel';
    const x = gen(9).map((v, i) => {
      const ch = Math.floor(i / 30);
      const a = perChannel ? q.lo[ch]! : lo;
      const b = perChannel ? q.hi[ch]! : hi;
      return Math.min(b, Math.max(a, v));
    });
    const { edge, cloud } = await runCompressed(c, { x: new ort.Tensor('float32', x, dims) });
    const y = cloud.y!.data as Float32Array;
    let worst = 0;
    for (let i = 0; i < n; i++) {
      const ch = perChannel ? Math.floor(i / 30) : 0;
      const s = q.scale[ch]!;
      const err = Math.abs(y[i]! - x[i]!);
      worst = Math.max(worst, err / s);
      expect(err).toBeLessThanOrEqual(s / 2 + 1e-6 * Math.max(1, Math.abs(x[i]!)));
      // the cloud computes exactly the JS reference from the codes on the wire
    }
    const codes = q.bits === 8 ? (edge[c.wire[0]!.name]!.data as Uint8Array) : unpackCodes(edge[c.wire[0]!.name]!.data as Uint8Array, q.bits, n);
    for (let i = 0; i < n; i++) {
      const ch = perChannel ? Math.floor(i / 30) : 0;
      expect(y[i]).toBe(dequantizeValue(codes[i]!, q.scale[ch]!, q.zeroPoint[ch]!));
    }
    expect(worst).toBeLessThanOrEqual(0.5 + 1e-4);
    expect(c.wire[0]!.bytesPerSample).toBe(Math.ceil((q.bits * n) / 8));
  });

  it('the ops take the form of the opset: Clip/Slice bounds as attributes before 10/11, inputs after', () => {
    const dims = [1, 3, 5, 7];
    const m = identityModel(dims, opset);
    const split = splitModel(m, ['h']);
    const calib = [floats(105, 1, (u) => u * 2 - 1)];
    const c = compressSplit(split, parseCompressSpec('int4'), { h: { raw: tensorStats(calib, dims, 1) } });
    const clip = [...c.edge.graph.nodes].find((n) => n.opType === 'Clip')!;
    const slice = [...c.cloud.graph.nodes].find((n) => n.opType === 'Slice')!;
    if (opset < 11) {
      expect(clip.inputs.length).toBe(1);
      expect(clip.attrFloat('max')).toBe(15);
    } else {
      expect(clip.inputs.length).toBe(3);
      expect(clip.attr('max')).toBeUndefined();
    }
    if (opset < 10) expect(slice.attrInts('ends')).toEqual([105]);
    else expect(slice.inputs.length).toBe(4);
    // IR < 4: initializers had to be graph inputs, so new constants are Constant nodes
    const constNodes = [...c.cloud.graph.nodes].filter((n) => n.opType === 'Constant').length;
    if (m.irVersion < 4) {
      expect(c.cloud.graph.initializers.size).toBe(split.cloud.graph.initializers.size);
      expect(constNodes).toBeGreaterThan(0);
    } else expect(constNodes).toBe(0);
    expect(c.edge.opset).toBe(opset);
    expect(c.cloud.opset).toBe(opset);
  });

  it('pca=C is lossless up to float32 rounding; pca=K on rank-K data too; MatMul form over the last axis', async () => {
    for (const [dims, axis, k, rankK] of [
      [[1, 6, 4, 5], 1, 6, false],
      [[1, 6, 4, 5], 1, 3, true],
      [[1, 10, 8], 2, 8, false],
    ] as [number[], number, number, boolean][]) {
      const C = dims[axis]!;
      const n = dims.reduce((a, b) => a * b, 1);
      const m = identityModel(dims, opset);
      const split = splitModel(m, ['h']);
      const r = xorshift32(5);
      // correlated channels: x = A·z + offset over positions, z of dimension rankK ? k : C
      const latent = rankK ? k : C;
      const A = Array.from({ length: C * latent }, () => r() * 2 - 1);
      const gen = (seed: number) => {
        const rr = xorshift32(seed);
        const out = new Float32Array(n);
        const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
        const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
        for (let o = 0; o < outer; o++)
          for (let i = 0; i < inner; i++) {
            const z = Array.from({ length: latent }, () => rr() * 2 - 1);
            for (let c = 0; c < C; c++) {
              let s = 0.5 * c;
              for (let j = 0; j < latent; j++) s += A[c * latent + j]! * z[j]!;
              out[(o * C + c) * inner + i] = s;
            }
          }
        return out;
      };
      const calib = [1, 2, 3, 4, 5, 6].map(gen);
      const spec = parseCompressSpec(`pca=${k}:axis=${axis}`);
      const c = compressSplit(split, spec, { h: { raw: tensorStats(calib, dims, axis) } });
      check(c);
      expect(c.wire[0]!.shape[axis]).toBe(k);
      expect(c.wire[0]!.bytesPerSample).toBe((n / C) * k * 4);
      const opTypes = [...c.edge.graph.nodes].map((nd) => nd.opType);
      expect(opTypes).toContain(axis === dims.length - 1 ? 'MatMul' : 'Conv');
      const x = gen(77);
      const { cloud } = await runCompressed(c, { x: new ort.Tensor('float32', x, dims) });
      const y = cloud.y!.data as Float32Array;
      let maxErr = 0;
      let maxAbs = 0;
      for (let i = 0; i < n; i++) {
        maxErr = Math.max(maxErr, Math.abs(y[i]! - x[i]!));
        maxAbs = Math.max(maxAbs, Math.abs(x[i]!));
      }
      expect(maxErr).toBeLessThan(1e-4 * maxAbs);
    }
  });

  it('pca=K+int4 quantizes the projection per component; fp16 rounds to half precision', async () => {
    const dims = [1, 8, 4, 4];
    const n = 128;
    const m = identityModel(dims, opset);
    const split = splitModel(m, ['h']);
    const calib = [1, 2, 3].map((s) => floats(n, s, (u) => u * 4 - 2));
    const spec = parseCompressSpec('pca=4+int4');
    const c = compressSplit(split, spec, statsFor(calib, dims, spec));
    check(c);
    expect(c.wire[0]!.name).toBe('h.pca4.q4');
    expect(c.wire[0]!.bytesPerSample).toBe(Math.ceil((4 * 4 * 16) / 8));
    const q = c.constants.tensors[0]!.stages[1]!;
    expect(q.kind === 'quant' && q.granularity === 'channel' && q.scale.length === 4).toBe(true);
    const x = floats(n, 11, (u) => u * 4 - 2);
    await runCompressed(c, { x: new ort.Tensor('float32', x, dims) });

    const f = compressSplit(split, parseCompressSpec('fp16'), {});
    check(f);
    expect(f.wire[0]).toMatchObject({ name: 'h.fp16', dtype: 'float16', bytesPerSample: n * 2, rawBytesPerSample: n * 4 });
    const big = Float32Array.from(x, (v, i) => (i === 0 ? 1e6 : v));
    const { cloud } = await runCompressed(f, { x: new ort.Tensor('float32', big, dims) });
    const y = cloud.y!.data as Float32Array;
    expect(y[0]).toBe(65504); // clipped to the float16 range, not infinity
    for (let i = 1; i < n; i++) expect(Math.abs(y[i]! - big[i]!)).toBeLessThanOrEqual(Math.abs(big[i]!) * 2 ** -11 + 2 ** -24);
  });
});

describe('a symbolic batch dim on the wire', () => {
  // [N, 4, 6, 5]: 30 values per channel, channels of different ranges (as in the bound test above)
  const dims: Dim[] = ['N', 4, 6, 5];
  const sample = [1, 4, 6, 5];
  const n = 120;
  const gen = (seed: number) => {
    const r = xorshift32(seed);
    return Float32Array.from({ length: n }, (_, i) => {
      const c = Math.floor(i / 30);
      const u = r();
      return c === 0 ? u * 6 : c === 1 ? (u - 0.5) * 0.2 : c === 2 ? (u - 0.3) * 3 : (u - 0.5) * 40;
    });
  };
  const rows = (t: ort.Tensor, k: number): Uint8Array | Float32Array => {
    const per = t.size / t.dims[0]!;
    return (t.data as Uint8Array | Float32Array).subarray(k * per, (k + 1) * per);
  };

  it.each(['int4', 'int2', 'int4:channel', 'int2:channel', 'int8'])(
    '%s: the wire is [N, bytes per sample]; batch 1 and batch 3 give each sample its own row and decode it within half a step',
    async (text) => {
      const m = identityModel(dims, 13);
      const split = splitModel(m, ['h']);
      const calib = [1, 2, 3, 4].map(gen);
      const spec = parseCompressSpec(text);
      const c = compressSplit(split, spec, statsFor(calib, sample, spec));
      check(c);
      const q = c.constants.tensors[0]!.stages[0]!;
      if (q.kind !== 'quant') throw new Error('expected a quant stage');
      const bytesPerSample = Math.ceil((q.bits * n) / 8);
      expect(c.wire[0]!.shape).toEqual(q.bits === 8 ? dims : ['N', bytesPerSample]);
      expect(c.wire[0]!.bytesPerSample).toBe(bytesPerSample);
      // the cloud graph stays batch-polymorphic: its input and output keep N
      expect(c.cloud.graph.inputs[0]!.shape![0]).toBe('N');

      // three samples clamped into the calibrated ranges
      const perChannel = q.granularity === 'channel';
      const xs = [9, 10, 11].map((seed) =>
        gen(seed).map((v, i) => {
          const ch = Math.floor(i / 30);
          return Math.min(perChannel ? q.hi[ch]! : Math.max(...q.hi), Math.max(perChannel ? q.lo[ch]! : Math.min(...q.lo), v));
        }),
      );
      const batch = new Float32Array(3 * n);
      xs.forEach((x, k) => batch.set(x, k * n));
      const three = await runCompressed(c, { x: new ort.Tensor('float32', batch, [3, ...sample.slice(1)]) });
      const wire3 = three.edge[c.wire[0]!.name]!;
      expect(wire3.dims).toEqual(q.bits === 8 ? [3, ...sample.slice(1)] : [3, bytesPerSample]);
      for (let k = 0; k < 3; k++) {
        const one = await runCompressed(c, { x: new ort.Tensor('float32', xs[k]!, sample) });
        const wire1 = one.edge[c.wire[0]!.name]!;
        expect(wire1.dims[0]).toBe(1);
        // row k of the batch is what sample k sends alone, packed on its own
        expect(Array.from(rows(wire3, k))).toEqual(Array.from(wire1.data as Uint8Array));
        const codes = q.bits === 8 ? (wire1.data as Uint8Array) : unpackCodes(wire1.data as Uint8Array, q.bits, n);
        if (q.bits < 8) expect(Buffer.from(packCodes(codes, q.bits)).equals(Buffer.from(wire1.data as Uint8Array))).toBe(true);
        const y1 = one.cloud.y!.data as Float32Array;
        const y3 = rows(three.cloud.y!, k);
        expect(Array.from(y3)).toEqual(Array.from(y1));
        // the unsplit (identity) model returns x: the bound of the quantization tests above
        for (let i = 0; i < n; i++) {
          const s = q.scale[perChannel ? Math.floor(i / 30) : 0]!;
          expect(Math.abs(y1[i]! - xs[k]![i]!)).toBeLessThanOrEqual(s / 2 + 1e-6 * Math.max(1, Math.abs(xs[k]![i]!)));
        }
      }
    },
  );

  it('pca=K+int4 keeps the batch dim too, and estimateWireBytes prices one sample as compressSplit does', async () => {
    const m = identityModel(dims, 9);
    const split = splitModel(m, ['h']);
    const spec = parseCompressSpec('pca=2+int4');
    const c = compressSplit(split, spec, statsFor([1, 2, 3, 4].map(gen), sample, spec));
    check(c);
    expect(c.wire[0]!.shape).toEqual(['N', (2 * 30 * 4) / 8]);
    expect(c.wire[0]!.bytesPerSample).toBe(estimateWireBytes(spec, DataType.FLOAT, sample));
    const batch = new Float32Array(2 * n);
    batch.set(gen(5), 0);
    batch.set(gen(6), n);
    const both = await runCompressed(c, { x: new ort.Tensor('float32', batch, [2, ...sample.slice(1)]) });
    const first = await runCompressed(c, { x: new ort.Tensor('float32', gen(5), sample) });
    expect(both.cloud.y!.dims).toEqual([2, ...sample.slice(1)]);
    expect(Array.from(rows(both.cloud.y!, 0))).toEqual(Array.from(first.cloud.y!.data as Float32Array));
  });
});

describe('wire bookkeeping', () => {
  it('a multi-tensor cut compresses each float tensor and passes an int64 shape tensor through', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [1, 4, 3]);
    const h = b.op('Relu', [x], {}, { outputNames: ['h'] });
    const s = b.op('Shape', [x], {}, { outputNames: ['s'] });
    const g = b.op('Sigmoid', [x], {}, { outputNames: ['g'] });
    const y = b.op('Reshape', [b.op('Add', [h, g], {}, { outputNames: ['hg'] }), s], {}, { outputNames: ['y'] });
    b.output(y);
    const m = b.model({ opset: 9, irVersion: 5 });
    inferShapes(m);
    const split = splitModel(m, ['h', 's', 'g']);
    expect(split.cutTensors).toEqual(['h', 's', 'g']);
    const dims = [1, 4, 3];
    const calib = [1, 2].map((seed) => floats(12, seed, (u) => u * 2 - 1));
    const stats: SplitStats = {
      h: { raw: tensorStats(calib.map((a) => a.map((v) => Math.max(0, v))), dims, 2) },
      g: { raw: tensorStats(calib.map((a) => a.map((v) => 1 / (1 + Math.exp(-v)))), dims, 2) },
    };
    const c = compressSplit(split, parseCompressSpec('int8:tensor'), stats);
    check(c);
    expect(c.wire.map((w) => [w.name, w.dtype, w.bytesPerSample])).toEqual([
      ['h.q8', 'uint8', 12],
      ['s', 'int64', 24],
      ['g.q8', 'uint8', 12],
    ]);
    expect(c.wire[1]!.stage).toMatch(/^none/);
    expect(c.constants.tensors.map((t) => t.spec)).toEqual(['int8:tensor', 'none', 'int8:tensor']);
    const feeds = { x: new ort.Tensor('float32', floats(12, 3, (u) => u * 2 - 1), dims) };
    const whole = await run(m, feeds);
    const { cloud } = await runCompressed(c, feeds);
    const a = whole.y!.data as Float32Array;
    const bb = cloud.y!.data as Float32Array;
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - bb[i]!)).toBeLessThan(0.02);
    // the constants are plain JSON
    expect(JSON.parse(JSON.stringify(c.constants))).toEqual(c.constants);
  });

  it('pca=K on a cut mixing channel counts projects the wide tensors and warns about the narrow ones', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [1, 12, 2, 3]);
    const wide = b.op('Relu', [x], {}, { outputNames: ['wide'] });
    const narrow = b.op('Slice', [x], { starts: [0], ends: [4], axes: [1] }, { outputNames: ['narrow'] });
    const y = b.op('Concat', [wide, narrow], { axis: 1 }, { outputNames: ['y'] });
    b.output(y);
    const m = b.model({ opset: 9, irVersion: 5 });
    inferShapes(m);
    const split = splitModel(m, ['wide', 'narrow']);
    const gen = (seed: number) => floats(72, seed, (u) => u * 2 - 1);
    const calib = [1, 2, 3, 4].map(gen);
    const spec = parseCompressSpec('pca=8+int8');
    const wideStats = tensorStats(calib.map((a) => a.map((v) => Math.max(0, v))), [1, 12, 2, 3], 1);
    const basis = pcaBasis(wideStats, 8);
    const stats: SplitStats = {
      wide: { raw: wideStats, projected: tensorStats(calib.map((a) => projectChannels(a.map((v) => Math.max(0, v)), [1, 12, 2, 3], 1, basis).data), [1, 8, 2, 3], 1) },
      narrow: { raw: tensorStats(calib.map((a) => a.subarray(0, 24)), [1, 4, 2, 3], 1) },
    };
    const ctx = new PassContext();
    const c = compressSplit(split, spec, stats, ctx);
    check(c);
    expect(c.wire.map((w) => [w.name, w.bytesPerSample])).toEqual([
      ['wide.pca8.q8', 48],
      ['narrow.q8', 24],
    ]);
    expect(c.wire[1]!.stage).toMatch(/no pca \(4 ≤ 8 channels\) \+ int8 per-tensor/);
    expect(ctx.diagnostics.map((d) => d.code)).toEqual(['W_PCA_SKIPPED']);
    const feeds = { x: new ort.Tensor('float32', gen(9), [1, 12, 2, 3]) };
    const { cloud } = await runCompressed(c, feeds);
    expect(cloud.y!.dims).toEqual([1, 16, 2, 3]);
  });

  it('the original split is not modified', () => {
    const m = identityModel([1, 2, 2, 2], 9);
    const split = splitModel(m, ['h']);
    const before = [modelToBytes(split.edge), modelToBytes(split.cloud)].map((b) => Buffer.from(b).toString('base64'));
    compressSplit(split, parseCompressSpec('int4'), { h: { raw: tensorStats([floats(8, 1, (u) => u)], [1, 2, 2, 2], 1) } });
    const after = [modelToBytes(split.edge), modelToBytes(split.cloud)].map((b) => Buffer.from(b).toString('base64'));
    expect(after).toEqual(before);
  });

  it('the compressed halves pass onnx.checker (when python3-onnx is installed)', () => {
    const avail = pythonOnnx();
    if (!avail.ok) {
      console.log(`skipped onnx.checker: ${avail.reason}`);
      return;
    }
    const dir = tmpDir();
    try {
      for (const opset of [9, 13]) {
        const dims = [1, 6, 3, 5];
        const split = splitModel(identityModel(dims, opset), ['h']);
        const calib = [floats(90, 1, (u) => u * 2 - 1), floats(90, 2, (u) => u * 2 - 1)];
        for (const text of ['int4', 'int2:channel', 'pca=3+int4', 'fp16', 'int8:percentile=99']) {
          const spec = parseCompressSpec(text);
          const c = compressSplit(split, spec, statsFor(calib, dims, spec));
          for (const [side, model] of [['edge', c.edge], ['cloud', c.cloud]] as const) {
            const file = path.join(dir, `${opset}-${text.replace(/[^a-z0-9]/gi, '_')}-${side}.onnx`);
            fs.writeFileSync(file, modelToBytes(model));
            const r = onnxCheck(file);
            expect(r.ok, `${text} ${side} at opset ${opset}: ${r.message}`).toBe(true);
          }
        }
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('errors', () => {
  const code = codeOf;
  const dims = [1, 4, 2, 2];
  const split = () => splitModel(identityModel(dims, 9), ['h']);
  const stats = () => ({ h: { raw: tensorStats([floats(16, 1, (u) => u)], dims, 1) } });

  it('quantization without statistics, pca beyond the channel count, stats of another shape: E_COMPRESS', () => {
    expect(code(() => compressSplit(split(), parseCompressSpec('int8'), {}))).toBe('E_COMPRESS');
    expect(code(() => compressSplit(split(), parseCompressSpec('pca=5'), stats()))).toBe('E_COMPRESS');
    expect(code(() => compressSplit(split(), parseCompressSpec('int8'), { h: { raw: tensorStats([floats(8, 1, (u) => u)], [1, 2, 2, 2], 1) } }))).toBe('E_COMPRESS');
    expect(code(() => compressSplit(split(), parseCompressSpec('int8:channel:axis=2'), stats()))).toBe('E_COMPRESS');
    expect(code(() => compressSplit(split(), parseCompressSpec('pca=2+int4'), stats()))).toBe('E_COMPRESS'); // no projected stats
  });

  it('symbolic dims past the batch dim: quantization refuses (E_COMPRESS), fp16 works', () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, ['N', 'K']);
    const h = b.op('Relu', [x], {}, { outputNames: ['h'] });
    b.output(b.op('Neg', [h], {}, { outputNames: ['y'] }));
    const m = b.model({ opset: 11 });
    inferShapes(m);
    const sp = splitModel(m, ['h']);
    const stats = { h: { raw: tensorStats([floats(4, 1, (u) => u)], [1, 4], 1) } };
    expect(code(() => compressSplit(sp, parseCompressSpec('int8'), stats))).toBe('E_COMPRESS');
    const c = compressSplit(sp, parseCompressSpec('fp16'), {});
    expect(c.wire[0]!.bytesPerSample).toBeNull();
    assertValid(c.cloud);
  });
});
