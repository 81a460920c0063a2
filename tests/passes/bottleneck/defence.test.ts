// Defences at the cut (noise=S, dropout=P): the grammar, the constants the audit reads, and
// the emitted edge graphs measured under onnxruntime-node and onnxruntime-web (wasm): noise
// has the calibrated per-channel std × S and zero mean, dropout zeroes whole channels at rate
// P and scales the rest by 1/(1−P), and a quantizer after noise codes the noisy tensor.
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import { SplitcError } from '../../../src/ir/errors.js';
import type { Dim, Model } from '../../../src/ir/graph.js';
import { modelToBytes } from '../../../src/ir/serde/io.js';
import { deserializeModel } from '../../../src/ir/serde/read.js';
import { assertValid } from '../../../src/ir/verify.js';
import {
  type CompressedSplit,
  compressSplit,
  type CompressSpec,
  estimateWireBytes,
  formatCompressSpec,
  parseCompressSpec,
  quantizeValue,
  type SplitStats,
  specChannelAxis,
  specNeeds,
  type StageConstants,
  tensorStats,
} from '../../../src/passes/bottleneck/index.js';
import { splitModel } from '../../../src/passes/cut.js';
import { inferShapes } from '../../../src/passes/shape/index.js';
import { codeOf } from '../../helpers/codes.js';
import { xorshift32 } from '../../helpers/onnx-oracle.js';

function errorOf(text: string): SplitcError {
  try {
    parseCompressSpec(text);
  } catch (e) {
    if (e instanceof SplitcError) return e;
    throw e;
  }
  throw new Error(`'${text}' parsed`);
}

describe('defence stages in the compression grammar', () => {
  it.each([
    ['noise=0.3', 'noise=0.3', [{ kind: 'noise', sigma: 0.3 }]],
    ['noise=.5', 'noise=0.5', [{ kind: 'noise', sigma: 0.5 }]],
    ['noise=2', 'noise=2', [{ kind: 'noise', sigma: 2 }]],
    ['noise=1e-7', 'noise=1e-7', [{ kind: 'noise', sigma: 1e-7 }]],
    ['noise=0.5:tensor', 'noise=0.5:tensor', [{ kind: 'noise', sigma: 0.5, granularity: 'tensor' }]],
    ['noise=0.5+int8', 'noise=0.5+int8', [{ kind: 'noise', sigma: 0.5 }, { kind: 'quant', bits: 8, range: { kind: 'minmax' } }]],
    ['dropout=0.25', 'dropout=0.25', [{ kind: 'dropout', p: 0.25 }]],
    [
      ' dropout=0.25 + pca=8 + int4 ',
      'dropout=0.25+pca=8+int4',
      [
        { kind: 'dropout', p: 0.25 },
        { kind: 'pca', k: 8 },
        { kind: 'quant', bits: 4, range: { kind: 'minmax' } },
      ],
    ],
    ['noise=0.1+dropout=0.5+fp16', 'noise=0.1+dropout=0.5+fp16', [{ kind: 'noise', sigma: 0.1 }, { kind: 'dropout', p: 0.5 }, { kind: 'fp16' }]],
    ['dropout=0.5+noise=0.1', 'dropout=0.5+noise=0.1', [{ kind: 'dropout', p: 0.5 }, { kind: 'noise', sigma: 0.1 }]],
  ])('%j parses and prints back as %j', (text, canonical, stages) => {
    const spec = parseCompressSpec(text);
    expect(spec.stages).toEqual(stages);
    expect(formatCompressSpec(spec)).toBe(canonical);
    expect(parseCompressSpec(formatCompressSpec(spec))).toEqual(spec);
  });

  it.each([
    ['noise=0', /positive/],
    ['noise=-0.5', /positive/],
    ['noise=abc', /positive/],
    ['noise=', /positive/],
    ['noise=Infinity', /positive/],
    ['noise=0.5:axis=1', /unknown noise option/],
    ['noise=0.5:tensor:channel', /both/],
    ['dropout=0', /between 0 and 1/],
    ['dropout=1', /between 0 and 1/],
    ['dropout=1.5', /between 0 and 1/],
    ['dropout=x', /between 0 and 1/],
    ['dropout=0.5:channel', /no options/],
    ['int8+noise=0.5', /must come before/],
    ['pca=4+dropout=0.2', /must come before/],
    ['noise=0.1+pca=4+dropout=0.2', /must come before/],
    ['noise=0.1+noise=0.2', /more than one noise/],
    ['dropout=0.1+noise=0.2+dropout=0.3', /more than one dropout/],
    ['noise=0.1+int8+int4', /at most one/],
  ])('%j is E_BAD_ARGUMENT (%s) with a hint', (text, re) => {
    const e = errorOf(text);
    expect(e.code).toBe('E_BAD_ARGUMENT');
    expect(e.message).toMatch(re);
    expect(e.hint).toBeTruthy();
  });

  it('defences add no wire bytes and change neither the statistics a spec needs nor its channel axis', () => {
    for (const [dtype, dims] of [
      [DataType.FLOAT, [1, 16, 7, 7]],
      [DataType.FLOAT16, [1, 16, 7, 7]],
      [DataType.FLOAT, [1, 10, 32]],
    ] as const) {
      for (const coder of ['', 'int8', 'int4:channel', 'pca=8+int4', 'fp16']) {
        const plain = parseCompressSpec(coder);
        for (const defence of ['noise=0.5', 'dropout=0.25', 'noise=1+dropout=0.1']) {
          const defended = parseCompressSpec(coder ? `${defence}+${coder}` : defence);
          expect(estimateWireBytes(defended, dtype, [...dims]), `${defence}+${coder}`).toBe(estimateWireBytes(plain, dtype, [...dims]));
          expect(specNeeds(defended)).toEqual(specNeeds(plain));
          expect(specChannelAxis(defended, dims.length)).toBe(specChannelAxis(plain, dims.length));
        }
      }
    }
  });
});

/** x → Add(x, 0) = h → Mul(h, 1) = y: the cloud returns the decoded cut tensor unchanged. */
function identityModel(dims: Dim[], opset = 13, dtype: DataType = DataType.FLOAT): Model {
  const b = new GraphBuilder();
  const x = b.input('x', dtype, dims);
  const h = b.op('Add', [x, b.init('zero', dtype, [], [0])], {}, { outputNames: ['h'] });
  b.output(b.op('Mul', [h, b.init('one', dtype, [], [1])], {}, { outputNames: ['y'] }));
  const m = b.model({ opset, irVersion: opset >= 13 ? 7 : opset >= 9 ? 5 : 3 });
  inferShapes(m);
  return m;
}

function randn(r: () => number): number {
  return Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
}

/** One [C, H, W] sample: channel c ~ N(c, (0.5·(c+1))²). */
function sample(seed: number, C: number, hw: number): Float32Array {
  const r = xorshift32(seed);
  return Float32Array.from({ length: C * hw }, (_, i) => {
    const c = Math.floor(i / hw);
    return c + 0.5 * (c + 1) * randn(r);
  });
}

function check(c: CompressedSplit): void {
  assertValid(c.edge);
  assertValid(c.cloud);
  expect(c.cloud.graph.inputs.map((v) => v.name)).toEqual(c.wire.map((w) => w.name));
  expect(c.edge.graph.outputs.slice(0, c.wire.length).map((v) => v.name)).toEqual(c.wire.map((w) => w.name));
  deserializeModel(modelToBytes(c.edge));
  deserializeModel(modelToBytes(c.cloud));
}

function stage<K extends StageConstants['kind']>(c: CompressedSplit, kind: K, tensor = 0): StageConstants & { kind: K } {
  const s = c.constants.tensors[tensor]!.stages.find((x) => x.kind === kind);
  if (!s) throw new Error(`no ${kind} stage`);
  return s as StageConstants & { kind: K };
}

function population(xs: ArrayLike<number>): { mean: number; std: number } {
  let m = 0;
  for (let i = 0; i < xs.length; i++) m += xs[i]!;
  m /= xs.length;
  let v = 0;
  for (let i = 0; i < xs.length; i++) v += (xs[i]! - m) ** 2;
  return { mean: m, std: Math.sqrt(v / xs.length) };
}

describe('defence constants and graphs', () => {
  const C = 4;
  const HW = 64;
  const dims = [1, C, 8, 8];
  const calib = [1, 2, 3, 4, 5, 6].map((s) => sample(s, C, HW));
  const stats = (axis = 1): SplitStats => ({ h: { raw: tensorStats(calib, dims, axis) } });

  it('calibration statistics carry the per-channel and whole-tensor mean and population std', () => {
    const st = tensorStats(calib, dims, 1);
    for (let c = 0; c < C; c++) {
      const ref = population(calib.flatMap((s) => Array.from(s.subarray(c * HW, (c + 1) * HW))));
      expect(st.channels[c]!.mean).toBeCloseTo(ref.mean, 10);
      expect(st.channels[c]!.std).toBeCloseTo(ref.std, 10);
    }
    const all = population(calib.flatMap((s) => Array.from(s)));
    expect(st.whole.mean).toBeCloseTo(all.mean, 10);
    expect(st.whole.std).toBeCloseTo(all.std, 10);
    // a constant channel far from 0 has std 0, not cancellation noise
    const flat = tensorStats([Float32Array.from({ length: 10 }, () => 1e6 + 0.5)], [1, 10], 1);
    expect(flat.channels.every((ch) => ch.std === 0)).toBe(true);
  });

  it('noise=S: sigma = S × the calibrated per-channel std (one value with :tensor); the wire keeps the dtype and size', () => {
    const m = identityModel(dims);
    const split = splitModel(m, ['h']);
    const st = stats();
    const c = compressSplit(split, parseCompressSpec('noise=0.5'), st);
    check(c);
    const n = stage(c, 'noise');
    expect(n.axis).toBe(1);
    expect(n.relative).toBe(0.5);
    expect(n.seed).toBeUndefined();
    n.sigma.forEach((s, ch) => expect(s).toBeCloseTo(0.5 * st.h!.raw.channels[ch]!.std, 12));
    expect(c.wire[0]).toMatchObject({ name: 'h.noise', dtype: 'float32', bytesPerSample: 4 * C * HW, rawBytesPerSample: 4 * C * HW });
    expect(c.wire[0]!.stage).toBe('noise σ=0.5×std per-channel(axis 1)');
    expect(c.constants.tensors[0]!.spec).toBe('noise=0.5');
    const ops = [...c.edge.graph.nodes].map((x) => x.opType);
    expect(ops).toContain('RandomNormalLike');
    // unseeded: every run draws new noise
    expect([...c.edge.graph.nodes].find((x) => x.opType === 'RandomNormalLike')!.attr('seed')).toBeUndefined();
    // the cloud decodes nothing: the received tensor is the cut tensor
    expect([...c.cloud.graph.nodes].map((x) => x.opType)).toEqual(['Identity', 'Mul']);

    const t = compressSplit(split, parseCompressSpec('noise=0.5:tensor+int8'), st);
    check(t);
    expect(stage(t, 'noise')).toMatchObject({ axis: null, sigma: [0.5 * st.h!.raw.whole.std] });
    expect(t.wire[0]!.name).toBe('h.noise.q8');
    expect(t.wire[0]!.bytesPerSample).toBe(C * HW);
    expect(t.constants.tensors[0]!.spec).toBe('noise=0.5:tensor+int8:tensor');

    // the quantizer's per-channel axis decides the noise's axis too (the statistics run along it)
    const last = compressSplit(split, parseCompressSpec('noise=1+int8:channel:axis=3'), stats(3));
    expect(stage(last, 'noise').axis).toBe(3);
    expect(stage(last, 'noise').sigma.length).toBe(8);
  });

  it('a seed (CompressSpec.seed, no text form) seeds every random op; a float16 tensor stays float16 on the wire', () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [1, C, 8, 8]);
    const h = b.op('Relu', [x], {}, { outputNames: ['h'] });
    const g = b.op('Sigmoid', [x], {}, { outputNames: ['g'] });
    b.output(b.op('Add', [h, g], {}, { outputNames: ['y'] }));
    const m = b.model({ opset: 13 });
    inferShapes(m);
    const split = splitModel(m, ['h', 'g']);
    const st: SplitStats = { h: stats().h!, g: stats().h! };
    const spec: CompressSpec = { ...parseCompressSpec('noise=0.2+dropout=0.1+int8'), seed: 40 };
    const c = compressSplit(split, spec, st);
    check(c);
    expect(c.spec).toBe('noise=0.2+dropout=0.1+int8');
    expect([0, 1].map((i) => [stage(c, 'noise', i).seed, stage(c, 'dropout', i).seed])).toEqual([
      [40, 41],
      [42, 43],
    ]);
    const seeds = [...c.edge.graph.nodes].filter((nd) => nd.opType.startsWith('Random')).map((nd) => nd.attrFloat('seed'));
    expect(seeds.sort()).toEqual([40, 41, 42, 43]);
    expect(codeOf(() => compressSplit(split, { ...spec, seed: 1.5 }, st))).toBe('E_BAD_ARGUMENT');
    expect(codeOf(() => compressSplit(split, { ...spec, seed: -1 }, st))).toBe('E_BAD_ARGUMENT');

    const half = identityModel(dims, 13, DataType.FLOAT16);
    const hs = compressSplit(splitModel(half, ['h']), parseCompressSpec('dropout=0.5+noise=0.1'), stats());
    check(hs);
    expect(hs.wire[0]).toMatchObject({ name: 'h.drop.noise', dtype: 'float16', bytesPerSample: 2 * C * HW, rawBytesPerSample: 2 * C * HW });
    expect(hs.cloud.graph.inputs[0]!.dtype).toBe(DataType.FLOAT16);
  });

  it('errors: noise without statistics or with symbolic dims is E_COMPRESS; dropout needs neither', () => {
    const split = splitModel(identityModel(dims), ['h']);
    expect(codeOf(() => compressSplit(split, parseCompressSpec('noise=0.5'), {}))).toBe('E_COMPRESS');
    expect(codeOf(() => compressSplit(split, parseCompressSpec('noise=0.5'), stats(2)))).toBe('E_COMPRESS'); // statistics along another axis
    const symbolic = splitModel(identityModel(['N', C, 'H', 'W']), ['h']);
    expect(codeOf(() => compressSplit(symbolic, parseCompressSpec('noise=0.5'), stats()))).toBe('E_COMPRESS');
    const d = compressSplit(symbolic, parseCompressSpec('dropout=0.5'), {});
    check(d);
    expect(stage(d, 'dropout')).toEqual({ kind: 'dropout', p: 0.5, axis: 1 });
    expect(d.wire[0]!.stage).toBe('dropout p=0.5 per-channel(axis 1)');
  });

  it.each([7, 9, 11])('opset %i: the defended graphs verify and use the opset-form ops', (opset) => {
    const split = splitModel(identityModel(['N', C, 8, 8], opset), ['h']);
    for (const text of ['noise=0.5', 'dropout=0.3', 'noise=0.5+dropout=0.3+int4', 'dropout=0.3+pca=2+int8', 'noise=1:tensor+fp16']) {
      const spec = parseCompressSpec(text);
      const st = stats();
      if (specNeeds(spec).covariance) st.h!.projected = tensorStats([new Float32Array(2 * HW)], [1, 2, 8, 8], 1);
      const c = compressSplit(split, spec, st);
      check(c);
      expect(c.edge.opset).toBe(opset);
    }
  });
});

type Runtime = 'node' | 'web';
interface Out {
  data: Float32Array | Uint8Array;
  dims: readonly number[];
}
interface Session {
  run(x: Float32Array, dims: number[]): Promise<Record<string, Out>>;
  release(): Promise<void>;
}

async function open(m: Model, runtime: Runtime): Promise<Session> {
  const bytes = modelToBytes(m);
  if (runtime === 'node') {
    const s = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'disabled', intraOpNumThreads: 1, interOpNumThreads: 1 });
    return {
      run: async (x, d) => (await s.run({ x: new ort.Tensor('float32', x, d) })) as unknown as Record<string, Out>,
      release: () => s.release(),
    };
  }
  const web = await import('onnxruntime-web');
  web.env.wasm.numThreads = 1;
  const s = await web.InferenceSession.create(bytes, { graphOptimizationLevel: 'disabled' });
  return {
    run: async (x, d) => (await s.run({ x: new web.Tensor('float32', x, d) })) as unknown as Record<string, Out>,
    release: () => s.release(),
  };
}

describe.each(['node', 'web'] as const)('the defended edge graph under onnxruntime-%s', (runtime) => {
  const C = 4;
  const HW = 32 * 32;
  const sampleDims = [1, C, 32, 32];
  const calib = [1, 2, 3, 4].map((s) => sample(s, C, HW));
  const st: SplitStats = { h: { raw: tensorStats(calib, sampleDims, 1) } };
  const batch = 8;
  const xs = new Float32Array(batch * C * HW);
  for (let k = 0; k < batch; k++) xs.set(sample(100 + k, C, HW), k * C * HW);

  it.each(['noise=0.5', 'noise=2', 'noise=0.5:tensor'])('%s adds zero-mean Gaussian noise of the requested std, fresh on every run', async (text) => {
    const split = splitModel(identityModel(['N', C, 32, 32]), ['h']);
    const c = compressSplit(split, parseCompressSpec(text), st);
    const n = stage(c, 'noise');
    const s = await open(c.edge, runtime);
    try {
      const runs = [await s.run(xs, [batch, C, 32, 32]), await s.run(xs, [batch, C, 32, 32])];
      const noise = runs.map((r) => Float64Array.from(r[c.wire[0]!.name]!.data as Float32Array, (v, i) => v - xs[i]!));
      expect(runs[0]![c.wire[0]!.name]!.dims).toEqual([batch, C, 32, 32]);
      // fresh noise: the two runs differ everywhere
      let same = 0;
      for (let i = 0; i < noise[0]!.length; i++) if (noise[0]![i] === noise[1]![i]) same++;
      expect(same).toBeLessThan(noise[0]!.length * 0.001);
      const groups = n.axis === null ? [{ sigma: n.sigma[0]!, at: (_i: number) => true }] : n.sigma.map((sigma, ch) => ({ sigma, at: (i: number) => Math.floor(i / HW) % C === ch }));
      for (const g of groups) {
        const vals: number[] = [];
        for (const z of noise) for (let i = 0; i < z.length; i++) if (g.at(i)) vals.push(z[i]!);
        const p = population(vals);
        // n ≥ 16384 draws: the std's relative standard error is ≤ 0.6 %, the mean's σ/128
        expect(Math.abs(p.std / g.sigma - 1), `std ${p.std} vs ${g.sigma}`).toBeLessThan(0.03);
        expect(Math.abs(p.mean), `mean ${p.mean}`).toBeLessThan((5 * g.sigma) / Math.sqrt(vals.length));
      }
      // the noise follows the calibrated scale: channel 3 (std 2) gets 4 × channel 0's (std 0.5)
      if (n.axis !== null) expect(n.sigma[3]! / n.sigma[0]!).toBeCloseTo(4, 1);
    } finally {
      await s.release();
    }
  });

  it.each([
    [0.25, ['N', 16, 6, 6], 1],
    [0.6, ['N', 5, 12], 2], // rank 3: channels on the last axis
  ] as const)('dropout=%s zeroes whole channels of %j at that rate and scales the rest by 1/(1−P)', async (p, dimsRo, axis) => {
    const dims = [...dimsRo] as Dim[];
    const split = splitModel(identityModel(dims), ['h']);
    const c = compressSplit(split, parseCompressSpec(`dropout=${p}`), {});
    expect(stage(c, 'dropout').axis).toBe(axis);
    const B = 64;
    const runDims = [B, ...(dims.slice(1) as number[])];
    const n = runDims.reduce((a, b) => a * b, 1);
    const r = xorshift32(7);
    const x = Float32Array.from({ length: n }, () => 1 + r());
    const s = await open(c.edge, runtime);
    let dropped = 0;
    let blocks = 0;
    const patterns = new Set<string>();
    const mixed: string[] = [];
    try {
      for (let run = 0; run < 8; run++) {
        const y = (await s.run(x, runDims))[c.wire[0]!.name]!.data as Float32Array;
        const Cn = runDims[axis]!;
        const inner = runDims.slice(axis + 1).reduce((a, b) => a * b, 1);
        const outer = n / (Cn * inner); // batch × the axes before the channel axis
        const perSample = outer / B;
        for (let b = 0; b < B; b++) {
          let pattern = '';
          for (let ch = 0; ch < Cn; ch++) {
            // one (sample, channel) block: every element zero, or every element x/(1−p)
            const first = b * perSample * Cn * inner + ch * inner;
            const zero = y[first] === 0;
            for (let o = b * perSample; o < (b + 1) * perSample; o++) {
              for (let i = 0; i < inner; i++) {
                const k = (o * Cn + ch) * inner + i;
                if (zero ? y[k] !== 0 : !(Math.abs((y[k]! / x[k]!) * (1 - p) - 1) < 1e-6)) mixed.push(`run ${run} sample ${b} channel ${ch}: ${y[k]} for ${x[k]}`);
              }
            }
            if (zero) dropped++;
            blocks++;
            pattern += zero ? '0' : '1';
          }
          patterns.add(pattern);
        }
      }
    } finally {
      await s.release();
    }
    expect(mixed.slice(0, 5)).toEqual([]);
    // blocks ≥ 6144: four standard errors of the rate
    expect(Math.abs(dropped / blocks - p)).toBeLessThan(4 * Math.sqrt((p * (1 - p)) / blocks));
    // a mask per sample and run, not one for the batch
    expect(patterns.size).toBeGreaterThan(20);
  });

  it('noise=1+int8 quantizes the noisy tensor over the calibrated (clean) range', async () => {
    const split = splitModel(identityModel(['N', C, 32, 32]), ['h']);
    const c = compressSplit(split, parseCompressSpec('noise=1+int8'), st);
    check(c);
    const q = stage(c, 'quant');
    // the range is the clean calibration range: noise does not widen it
    const all = calib.flatMap((v) => Array.from(v));
    expect(q.lo).toEqual([Math.min(...all)]);
    expect(q.hi).toEqual([Math.max(...all)]);
    // expose the noisy tensor the quantizer reads
    const noisyValue = [...c.edge.graph.definedValues()].find((v) => v.name === 'h.noise')!;
    expect(noisyValue.producer()!.opType).toBe('Add');
    c.edge.graph.outputs.push(noisyValue);
    const s = await open(c.edge, runtime);
    try {
      const out = await s.run(xs, [batch, C, 32, 32]);
      const z = out['h.noise']!.data as Float32Array;
      const codes = out[c.wire[0]!.name]!.data as Uint8Array;
      expect(codes.length).toBe(xs.length);
      let differs = 0;
      let histLo = 0;
      let histHi = 0;
      const wrong: string[] = [];
      for (let i = 0; i < z.length; i++) {
        if (codes[i] !== quantizeValue(z[i]!, q.scale[0]!, q.zeroPoint[0]!, 8)) wrong.push(`${i}: code ${codes[i]} for ${z[i]}`);
        if (codes[i] !== quantizeValue(xs[i]!, q.scale[0]!, q.zeroPoint[0]!, 8)) differs++;
        if (codes[i] === 0) histLo++;
        if (codes[i] === 255) histHi++;
      }
      expect(wrong.slice(0, 5)).toEqual([]);
      // the codes carry the noise (not the clean tensor) and span the whole calibrated range
      expect(differs).toBeGreaterThan(0.9 * z.length);
      expect(histLo).toBeGreaterThan(0);
      expect(histHi).toBeGreaterThan(0);
    } finally {
      await s.release();
    }
  });
});
