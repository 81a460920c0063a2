// Compression at the cut on the real fixtures, measured by fidelity.ts: the PaddleOCR
// direction classifier on real text-line crops (calibrated on some lines, measured on
// lines it never saw), the detector across its multi-tensor FPN cut on real page tiles,
// and the recognizer. Every compressed split runs edge → wire → cloud in onnxruntime-node.
import * as fs from 'node:fs';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType, dtypeFromName } from '../../src/ir/dtype.js';
import type { Model } from '../../src/ir/graph.js';
import { loadModel } from '../../src/ir/serde/io.js';
import { assertValid } from '../../src/ir/verify.js';
import { type CompressedSplit, parseCompressSpec } from '../../src/passes/bottleneck/index.js';
import { cutAfterNode, type SplitResult, splitModel } from '../../src/passes/cut.js';
import { PassContext } from '../../src/passes/pass.js';
import { inferShapes } from '../../src/passes/shape/index.js';
import { type CalibSample, calibrationSamples, type Feeds, modelInputs, parseImagePreprocess, splitSamples } from '../../src/search/calib-data.js';
import { calibrateAndCompress, calibrateSplit, createSession, runSession, toOrtFeeds } from '../../src/search/calibrate.js';
import { classifierOutputs, type FidelityReport, formatFidelity, measureFidelity } from '../../src/search/fidelity.js';
import { exporterFixtures, fixtures, tmpDir, trainedFixtures } from '../helpers/fixtures.js';
import { pageTiles, textLineCrops, writeTextLineImages } from '../helpers/text-lines.js';

interface Row {
  model: string;
  cut: string;
  spec: string;
  report: FidelityReport;
}
const rows: Row[] = [];

function table(title: string, rs: Row[]): string {
  const head = ['cut', 'compression', 'B/sample', 'f32 cut B', 'ratio', 'held-back max|Δ|', 'mean|Δ|', 'cosine', 'top-1 agree', 'calib top-1', 'accuracy (orig → comp)'];
  const fmt = (x: number) => (x === 0 ? '0' : x >= 0.01 ? x.toFixed(4) : x.toExponential(2));
  const body = rs.map((r) => {
    const h = r.report.heldOut.outputs[0]!;
    const c = r.report.calibration.outputs[0]!;
    const w = r.report.wire;
    return [
      r.cut,
      r.spec,
      String(w.bytesPerSample),
      String(w.float32CutBytesPerSample),
      `${w.compressionRatio?.toFixed(1)}×`,
      fmt(h.maxAbsErr),
      fmt(h.meanAbsErr),
      h.cosine.toFixed(6),
      h.top1Agreement === null ? '–' : `${(h.top1Agreement * 100).toFixed(2)}% (${h.top1Rows})`,
      c.top1Agreement === null ? '–' : `${(c.top1Agreement * 100).toFixed(2)}%`,
      h.accuracy ? `${(h.accuracy.original * 100).toFixed(1)}% → ${(h.accuracy.compressed * 100).toFixed(1)}%` : '–',
    ];
  });
  const widths = head.map((hd, i) => Math.max(hd.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
  return [title, line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

afterAll(() => {
  for (const model of [...new Set(rows.map((r) => r.model))]) console.log(table(`\nfidelity on held-back samples — ${model}`, rows.filter((r) => r.model === model)));
});

function loadFixture(part: string): { model: Model; shapes: Record<string, number[]> } {
  const fx = fixtures().find((f) => f.file.includes(part))!;
  const model = loadModel(fx.path);
  inferShapes(model, { inputShapes: fx.inputShapes });
  return { model, shapes: fx.inputShapes };
}

/**
 * The samples, each decoding its image on its first load only: every spec of a describe runs
 * the same images three times (calibration, then both fidelity sets), and decoding was half a test's time.
 */
function decodedOnce(samples: CalibSample[]): CalibSample[] {
  return samples.map((s) => {
    let feeds: Feeds | undefined;
    return { ...s, load: () => (feeds ??= s.load()) };
  });
}

/** Bits per element on the wire for a one-stage coder. */
function bitsOf(spec: string): number {
  const q = /int(\d)/.exec(spec);
  return q ? Number(q[1]) : spec.includes('fp16') ? 16 : 32;
}

/** Run the edge once and check the reported bytes against the real wire tensors. */
async function checkWire(c: CompressedSplit, spec: string, sample: CalibSample): Promise<void> {
  assertValid(c.edge);
  assertValid(c.cloud);
  const edge = await createSession(c.edge);
  try {
    const out = await runSession(edge, toOrtFeeds(sample.load()));
    let total = 0;
    for (const w of c.wire) {
      const t = out[w.name]!;
      const d = t.data as unknown as ArrayBufferView;
      expect(t.type === 'float16' ? 'float16' : t.type === 'float32' ? 'float32' : t.type).toBe(w.dtype);
      expect(d.byteLength).toBe(w.bytesPerSample);
      total += d.byteLength;
      if (w.stage.startsWith('none')) continue;
      // ceil(bits · elements / 8), elements after any pca reduction
      const t0 = c.constants.tensors.find((x) => x.wire === w.name)!;
      const pca = t0.stages.find((s) => s.kind === 'pca');
      const dims = (t0.dims as number[]).map((x, i) => (pca && pca.kind === 'pca' && i === pca.axis ? pca.k : x));
      const elements = dims.reduce((a, b) => a * b, 1);
      expect(w.bytesPerSample).toBe(Math.ceil((bitsOf(spec.replace(/^pca=\d+\+?/, '')) * elements) / 8));
      expect(dtypeFromName(w.dtype)).toBeDefined();
    }
    expect(total).toBe(c.wire.reduce((a, w) => a + w.bytesPerSample!, 0));
  } finally {
    await edge.release();
  }
}

/** The split after `node` (memoised in `splits`), compressed by `text` on the calibration set, its wire checked. */
async function compressedAt(model: Model, splits: Map<string, SplitResult>, node: string, text: string, sets: { calibration: CalibSample[]; heldOut: CalibSample[] }): Promise<CompressedSplit> {
  let split = splits.get(node);
  if (!split) splits.set(node, (split = splitModel(model, cutAfterNode(model, node))));
  const { compressed } = await calibrateAndCompress(split, parseCompressSpec(text), sets.calibration);
  await checkWire(compressed, text, sets.heldOut[0]!);
  return compressed;
}

describe('PaddleOCR direction classifier on real text lines', () => {
  let dir: string;
  let model: Model;
  let sets: { calibration: CalibSample[]; heldOut: CalibSample[] };
  const splits = new Map<string, SplitResult>();

  beforeAll(() => {
    dir = tmpDir();
    writeTextLineImages(dir);
    ({ model } = loadFixture('cls'));
    const samples = decodedOnce(calibrationSamples({ kind: 'images', dir, preprocess: parseImagePreprocess('paddleocr-cls') }, modelInputs(model)));
    // whole lines go to one side: held-back crops come from lines calibration never saw
    sets = splitSamples(samples, { heldOutFraction: 0.5, seed: 1, groupOf: (s) => s.id.replace(/-c\d+-(up|rot)\.png$/, '') });
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('has ≥ 200 labelled samples, split into calibration and held-back lines', () => {
    expect(sets.calibration.length + sets.heldOut.length).toBeGreaterThanOrEqual(200);
    expect(sets.heldOut.length).toBeGreaterThanOrEqual(100);
    expect(sets.heldOut.every((s) => s.label === 0 || s.label === 1)).toBe(true);
    const calibIds = new Set(sets.calibration.map((s) => s.id));
    expect(sets.heldOut.some((s) => calibIds.has(s.id))).toBe(false);
  });

  // middle of the network (16 channels at 3×96) and deep (200 channels at 2×96)
  const cuts = [
    { node: 'p2o.Add.44', label: 'middle p2o.Add.45 [1,16,3,96]', pca: 'pca=8+int4' },
    { node: 'p2o.Mul.52', label: 'deep p2o.Mul.53 [1,200,2,96]', pca: 'pca=16+int4' },
  ];
  const specs: [string, number | null][] = [
    ['none', 1],
    ['fp16', 0.99],
    ['int8', 0.99],
    ['int8:channel', 0.99],
    ['int4', 0.97],
    ['int4:channel', 0.97],
    ['int4:percentile=99.99', 0.97],
    ['int2:channel', null],
    ['PCA', null],
  ];

  describe.each(cuts)('cut $label', (cut) => {
    it.each(specs.map(([spec, min]) => ({ spec, min, bound: min === null ? 'reported' : `≥ ${min * 100}%` })))('$spec: edge → cloud in onnxruntime, exact wire bytes, held-back top-1 agreement $bound', async ({ spec: specText, min: minAgreement }) => {
      const text = specText === 'PCA' ? cut.pca : specText;
      const compressed = await compressedAt(model, splits, cut.node, text, sets);
      const report = await measureFidelity(model, compressed, sets);
      rows.push({ model: 'ch_ppocr_mobile_v2.0_cls (48×192 text lines)', cut: cut.label, spec: text, report });
      const held = report.heldOut.outputs[0]!;
      expect(report.heldOut.samples).toBe(sets.heldOut.length);
      expect(held.top1Rows).toBe(sets.heldOut.length);
      if (text === 'none') {
        expect(held.maxAbsErr).toBe(0);
        expect(report.calibration.outputs[0]!.maxAbsErr).toBe(0);
      }
      if (minAgreement !== null) expect(held.top1Agreement).toBeGreaterThanOrEqual(minAgreement);
      expect(JSON.parse(JSON.stringify(report))).toEqual(report);
      expect(formatFidelity(report)).toContain('held-back');
    });
  });

  it('a cut with an int64 shape tensor on the wire passes it through and still compresses the float one', async () => {
    const split = splitModel(model, cutAfterNode(model, 'p2o.Shape.0'));
    expect(split.cutTensors.length).toBe(2);
    const { compressed } = await calibrateAndCompress(split, parseCompressSpec('int8'), sets.calibration.slice(0, 16));
    const int64 = compressed.wire.find((w) => w.dtype === 'int64')!;
    expect(int64.name).toBe(int64.source);
    expect(int64.stage).toMatch(/^none/);
    expect(compressed.wire.some((w) => w.dtype === 'uint8')).toBe(true);
    const report = await measureFidelity(model, compressed, { calibration: [], heldOut: sets.heldOut.slice(0, 32) });
    expect(report.heldOut.outputs[0]!.top1Agreement).toBe(1);
  });
});

describe('PaddleOCR detector across its multi-tensor FPN cut, on real page tiles', () => {
  // the same tiles, model, split and samples for every spec (each test only reads them)
  let dir: string;
  let model: Model;
  let sets: { calibration: CalibSample[]; heldOut: CalibSample[] };
  let resize: { name: string };
  let split: SplitResult;
  beforeAll(() => {
    dir = tmpDir();
    writeTextLineImages(dir, pageTiles(16));
    const fx = loadFixture('det');
    model = fx.model;
    const samples = decodedOnce(calibrationSamples({ kind: 'images', dir, preprocess: parseImagePreprocess('paddleocr-det') }, modelInputs(model, fx.shapes)));
    sets = splitSamples(samples, { heldOutFraction: 0.5, seed: 1 });
    resize = [...model.graph.nodes].find((n) => n.opType === 'Resize')!;
    split = splitModel(model, cutAfterNode(model, resize.name));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it.each(['none', 'fp16', 'int8', 'int4:channel', 'pca=16+int4'])('%s: every wire tensor compressed independently; outputs close', async (text) => {
    expect(split.cutTensors.length).toBeGreaterThan(1);
    const { compressed, stats } = await calibrateAndCompress(split, parseCompressSpec(text), sets.calibration);
    if (text !== 'none' && text !== 'fp16') expect(Object.keys(stats).sort()).toEqual([...split.cutTensors].sort());
    expect(compressed.wire.map((w) => w.source)).toEqual(split.cutTensors);
    await checkWire(compressed, text, sets.heldOut[0]!);
    const report = await measureFidelity(model, compressed, sets);
    rows.push({ model: `ch_PP-OCRv4_det (160×160 page tiles, ${split.cutTensors.length}-tensor cut)`, cut: `after ${resize.name}`, spec: text, report });
    const held = report.heldOut.outputs[0]!;
    expect(held.top1Agreement).toBeNull(); // a probability map, not class scores
    if (text === 'none') expect(held.maxAbsErr).toBe(0);
    if (text === 'fp16' || text === 'int8') expect(held.cosine).toBeGreaterThan(0.999);
    else expect(held.cosine).toBeGreaterThan(0.9);
  });
});

describe('PaddleOCR recognizer on real text lines', () => {
  // the same lines, model and samples for both cuts and every spec (each test only reads them)
  let dir: string;
  let model: Model;
  let sets: { calibration: CalibSample[]; heldOut: CalibSample[] };
  const splits = new Map<string, SplitResult>();
  beforeAll(() => {
    dir = tmpDir();
    writeTextLineImages(
      dir,
      textLineCrops().filter((_, i) => i % 16 === 0),
    );
    const fx = loadFixture('rec');
    model = fx.model;
    const samples = decodedOnce(calibrationSamples({ kind: 'images', dir, preprocess: parseImagePreprocess('paddleocr-cls') }, modelInputs(model, fx.shapes)));
    sets = splitSamples(samples, { heldOutFraction: 0.5, seed: 1 });
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const cuts = [
    { node: 'p2o.Mul.160', label: 'backbone p2o.Mul.161 [1,480,3,80]' },
    { node: 'p2o.MatMul.6', label: 'neck, 4 tensors incl. [1,40,120]' },
  ];
  describe.each(cuts)('cut $label', (cut) => {
    it.each(['fp16', 'int8', 'int4:channel', 'pca=16+int4'])('%s: per-timestep top-1 agreement', async (text) => {
      const compressed = await compressedAt(model, splits, cut.node, text, sets);
      const report = await measureFidelity(model, compressed, sets);
      rows.push({ model: 'ch_PP-OCRv4_rec (48×320 text lines, top-1 per CTC step)', cut: cut.label, spec: text, report });
      const held = report.heldOut.outputs[0]!;
      expect(held.top1Rows).toBe(40 * sets.heldOut.length);
      if (text === 'fp16' || text === 'int8') expect(held.top1Agreement).toBeGreaterThanOrEqual(0.99);
    });
  });
});

describe('calibration from random data', () => {
  it('works, and says the ranges are unreliable', async () => {
    const { model, shapes } = loadFixture('cls');
    const ctx = new PassContext();
    const samples = calibrationSamples({ kind: 'random', count: 4, seed: 2 }, modelInputs(model, shapes), ctx);
    expect(ctx.diagnostics.some((d) => d.code === 'W_CALIB_RANDOM')).toBe(true);
    const split = splitModel(model, cutAfterNode(model, 'p2o.Add.44'));
    const stats = await calibrateSplit(split, samples, { spec: parseCompressSpec('pca=4+int8'), ctx });
    const s = stats['p2o.Add.45']!;
    expect(s.raw.samples).toBe(4);
    expect(s.raw.covariance!.length).toBe(16 * 16);
    expect(s.projected!.dims).toEqual([1, 4, 3, 96]);
    const feeds = toOrtFeeds(samples[0]!.load());
    expect(feeds.x).toBeInstanceOf(ort.Tensor);
  });
});

describe('progress', () => {
  /** done counts go up by one from 1 and end at a total that never changes. */
  function expectCounted(seen: { done: number; total: number }[], total: number): void {
    expect(seen.map((p) => p.done)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(new Set(seen.map((p) => p.total))).toEqual(new Set([total]));
  }

  it('calibrateAndCompress counts its runs (two passes with PCA) and measureFidelity its samples', async () => {
    const { model, shapes } = loadFixture('cls');
    const samples = calibrationSamples({ kind: 'random', count: 6, seed: 3 }, modelInputs(model, shapes), new PassContext());
    const sets = splitSamples(samples, { heldOutFraction: 0.5, seed: 1 });
    const split = splitModel(model, cutAfterNode(model, 'p2o.Add.44'));
    const calib: { done: number; total: number }[] = [];
    const { compressed } = await calibrateAndCompress(split, parseCompressSpec('int8'), sets.calibration, { onProgress: (p) => calib.push(p) });
    expectCounted(calib, sets.calibration.length);
    const pca: { done: number; total: number }[] = [];
    await calibrateAndCompress(split, parseCompressSpec('pca=4+int8'), sets.calibration, { onProgress: (p) => pca.push(p) });
    expectCounted(pca, 2 * sets.calibration.length);
    const fid: { done: number; total: number }[] = [];
    await measureFidelity(model, compressed, sets, { onProgress: (p) => fid.push(p) });
    expectCounted(fid, samples.length);
  });
});

describe('which outputs get top-1 agreement: class scores, decided from the graph', () => {
  it('the fixtures: softmax and logits heads do, a probability map and a tied reconstruction do not', () => {
    const heads = Object.fromEntries(
      [...fixtures(), ...trainedFixtures(), ...exporterFixtures()].map((f) => {
        const m = loadModel(f.path);
        inferShapes(m, { inputShapes: f.inputShapes });
        return [f.file, classifierOutputs(m)];
      }),
    );
    expect(heads).toEqual({
      'ch_ppocr_mobile_v2.0_cls_infer.onnx': ['softmax_0.tmp_0'], // Softmax over 2 directions
      'ch_PP-OCRv4_rec_infer.onnx': ['softmax_11.tmp_0'], // Softmax over the characters, per CTC step
      'ch_PP-OCRv4_det_infer.onnx': [], // Sigmoid probability map
      'fashion_mnist_resnet.onnx': ['logits'], // Gemm with a bias
      'torch_resnet_tiny_op9.onnx': ['logits'],
      'torch_resnet_tiny_op13.onnx': ['logits'],
      'torch_resnet_tiny_op17.onnx': ['logits'],
      'torch_resnet_tiny_bn_op13.onnx': ['logits'],
      'tf_style_nhwc_op9.onnx': ['logits'], // MatMul + Add of an Identity-shared bias
      'tf_style_nhwc_op13.onnx': ['logits'],
      'tf_style_nhwc_op20.onnx': ['logits'],
      'torch_tied_op13.onnx': [], // bias-free MatMul by the transposed encoder weight: a reconstruction
    });
  });

  /** x[1,3,28,32] → Conv 16 → Relu → Reshape [1,896,16] (→ Softmax over the 16), cut after the Conv, int8 on the wire. */
  async function headFidelity(softmax: boolean): Promise<FidelityReport> {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [1, 3, 28, 32]);
    const conv = b.op('Conv', [x, b.weight('w', [16, 3, 3, 3])], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, { name: 'conv' });
    const rows = b.op('Reshape', [b.op('Relu', [conv]), b.init('rows', DataType.INT64, [3], [1, 896, 16])], {}, softmax ? {} : { outputNames: ['boxes'] });
    b.output(softmax ? b.op('Softmax', [rows], { axis: -1 }, { outputNames: ['scores'] }) : rows);
    const model = b.model({ opset: 13 });
    inferShapes(model);
    const samples = calibrationSamples({ kind: 'random', count: 4, seed: 1 }, modelInputs(model), new PassContext());
    const sets = splitSamples(samples, { heldOutFraction: 0.5, seed: 1 });
    const { compressed } = await calibrateAndCompress(splitModel(model, cutAfterNode(model, 'conv')), parseCompressSpec('int8'), sets.calibration);
    return measureFidelity(model, compressed, sets);
  }

  it('a regression head [1,896,16] (box coordinates) gets cosine and errors only', async () => {
    const held = (await headFidelity(false)).heldOut.outputs[0]!;
    expect(held.name).toBe('boxes');
    expect(held.top1Agreement).toBeNull();
    expect(held.top1Rows).toBe(0);
    expect(held.cosine).toBeGreaterThan(0.9);
  });

  it('a Softmax head over the same rows gets top-1 agreement per row', async () => {
    const held = (await headFidelity(true)).heldOut.outputs[0]!;
    expect(held.name).toBe('scores');
    expect(held.top1Agreement).not.toBeNull();
    expect(held.top1Rows).toBe(2 * 896);
  });
});
