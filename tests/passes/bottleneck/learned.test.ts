// The learned bottleneck stage on the Fashion-MNIST ResNet: untrained it is the pca=K bundle,
// /s2 halves the wire's spatial dims (odd sizes recovered exactly), trained weights supplied
// from outside reach the bundle and the coder's calibration, and the training form computes
// what the compressed edge then cloud compute.
import * as path from 'node:path';
import type * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Model } from '../../../src/ir/graph.js';
import { loadModel } from '../../../src/ir/serde/io.js';
import { assertValid } from '../../../src/ir/verify.js';
import {
  bottleneckTrainingForm,
  type CompressedSplit,
  compressSplit,
  initializerLookup,
  learnedInitializerNames,
  type LearnedWeights,
  learnedWeightsFrom,
  parseCompressSpec,
  planCompression,
  type SplitStats,
} from '../../../src/passes/bottleneck/index.js';
import { cutAfterNode, type SplitResult, splitModel } from '../../../src/passes/cut.js';
import { inferShapes } from '../../../src/passes/shape/index.js';
import { type CalibSample, calibrationSamples, modelInputs } from '../../../src/search/calib-data.js';
import { calibrateSplit, createSession, floatData, runSession, toOrtFeeds } from '../../../src/search/calibrate.js';
import { PassContext } from '../../../src/passes/pass.js';
import { xorshift32 } from '../../helpers/onnx-oracle.js';
import { codeOf } from '../../helpers/codes.js';

const MODEL = path.join(import.meta.dirname, '../../../fixtures/models/fashion_mnist_resnet.onnx');
const shapes = { image: [1, 1, 28, 28] };

let model: Model;
let samples: CalibSample[];
const splits = new Map<string, SplitResult>();

function splitAt(node: string): SplitResult {
  let s = splits.get(node);
  if (!s) splits.set(node, (s = splitModel(model, cutAfterNode(model, node))));
  return s;
}

async function run(m: Model, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  const session = await createSession(m);
  try {
    return await runSession(session, feeds);
  } finally {
    await session.release();
  }
}

async function runCompressed(c: CompressedSplit, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  return run(c.cloud, await run(c.edge, feeds));
}

function maxAbsDiff(a: ort.Tensor, b: ort.Tensor): number {
  expect(a.dims).toEqual(b.dims);
  const x = floatData(a);
  const y = floatData(b);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  return m;
}

async function calibrated(cutAfter: string, spec: string, learned?: Record<string, LearnedWeights>): Promise<{ split: SplitResult; stats: SplitStats }> {
  const split = splitAt(cutAfter);
  const stats = await calibrateSplit(split, samples, { spec: parseCompressSpec(spec), ...(learned ? { learned } : {}) });
  return { split, stats };
}

/** Random weights of the sizes a learned stage expects (seeded). */
function randomWeights(c: CompressedSplit, source: string): LearnedWeights {
  const st = c.constants.tensors.find((t) => t.source === source)!.stages.find((s) => s.kind === 'learned')!;
  if (st.kind !== 'learned') throw new Error('no learned stage');
  const rnd = xorshift32(7);
  const noise = (a: number[], scale: number) => Float32Array.from(a, (v) => v + scale * (rnd() - 0.5));
  return {
    reduce: { weight: noise(st.reduce.weight, 0.2), bias: noise(st.reduce.bias, 0.2) },
    recover: { weight: noise(st.recover.weight, 0.2), bias: noise(st.recover.bias, 0.2) },
  };
}

beforeAll(() => {
  model = loadModel(MODEL);
  inferShapes(model, { inputShapes: shapes });
  samples = calibrationSamples({ kind: 'random', count: 6, seed: 5 }, modelInputs(model, shapes), new PassContext());
});

describe('learned stage', () => {
  it('untrained learned=8 computes what pca=8 computes (middle cut, onnxruntime)', async () => {
    const { split, stats } = await calibrated('Relu_25', 'learned=8');
    const pca = compressSplit(split, parseCompressSpec('pca=8'), stats);
    const learned = compressSplit(split, parseCompressSpec('learned=8'), stats);
    for (const m of [learned.edge, learned.cloud]) assertValid(m);
    expect(learned.wire[0]!.shape).toEqual(pca.wire[0]!.shape);
    const names = learnedInitializerNames('relu_24');
    expect(learned.edge.graph.initializers.has(names.reduce.weight)).toBe(true);
    expect(learned.cloud.graph.initializers.has(names.recover.weight)).toBe(true);
    for (const s of samples.slice(0, 3)) {
      const feeds = toOrtFeeds(s.load());
      const a = await runCompressed(pca, feeds);
      const b = await runCompressed(learned, feeds);
      expect(maxAbsDiff(a.logits!, b.logits!)).toBeLessThan(1e-5);
    }
  });

  it('/s2 halves the wire spatially; an odd size is recovered to the cut tensor shape', async () => {
    // after Relu_29 the cut carries relu_24 [32, 14, 14] (the skip connection) and relu_28 [64, 7, 7]
    const expected: Record<string, { dims: number[]; bytes: number }> = {
      relu_24: { dims: [1, 32, 14, 14], bytes: (8 * 7 * 7) / 2 },
      relu_28: { dims: [1, 64, 7, 7], bytes: (8 * 4 * 4) / 2 },
    };
    const { split, stats } = await calibrated('Relu_29', 'learned=8/s2+int4');
    expect([...split.cutTensors].sort()).toEqual(['relu_24', 'relu_28']);
    const c = compressSplit(split, parseCompressSpec('learned=8/s2+int4'), stats);
    for (const m of [c.edge, c.cloud]) assertValid(m);
    const feeds = toOrtFeeds(samples[0]!.load());
    const edgeOut = await run(c.edge, feeds);
    for (const w of c.wire) {
      expect(w.bytesPerSample).toBe(expected[w.source]!.bytes);
      expect(edgeOut[w.name]!.dims).toEqual([1, expected[w.source]!.bytes]);
    }
    // the decoded cut tensors have the cut's exact shapes: expose them as cloud outputs
    const values = c.cloud.graph.valuesByName();
    for (const src of split.cutTensors) c.cloud.graph.outputs.push(values.get(src)!);
    const out = await run(c.cloud, edgeOut);
    for (const src of split.cutTensors) expect(out[src]!.dims).toEqual(expected[src]!.dims);
    expect(out.logits!.dims).toEqual([1, 10]);
  });

  it('/s2 on a tensor that is not NCHW is E_COMPRESS', async () => {
    const { split, stats } = await calibrated('Relu_25', 'learned=8:axis=-1');
    expect(codeOf(() => compressSplit(split, parseCompressSpec('learned=8/s2:axis=-1'), stats))).toBe('E_COMPRESS');
  });

  it('supplied weights end up in the bundle, and calibration measures the coder on reduce(x) with them', async () => {
    const { split, stats } = await calibrated('Relu_25', 'learned=8+int8');
    const init = compressSplit(split, parseCompressSpec('learned=8+int8'), stats);
    const w = randomWeights(init, 'relu_24');
    const re = await calibrated('Relu_25', 'learned=8+int8', { relu_24: w });
    expect(re.stats.relu_24!.learned).toBe(w);
    const c = compressSplit(split, parseCompressSpec('learned=8+int8'), re.stats);
    const names = learnedInitializerNames('relu_24');
    const edgeInit = initializerLookup(c.edge);
    const cloudInit = initializerLookup(c.cloud);
    expect(Array.from(edgeInit(names.reduce.weight)!)).toEqual(Array.from(w.reduce.weight));
    expect(Array.from(edgeInit(names.reduce.bias)!)).toEqual(Array.from(w.reduce.bias));
    expect(Array.from(cloudInit(names.recover.weight)!)).toEqual(Array.from(w.recover.weight));
    expect(Array.from(cloudInit(names.recover.bias)!)).toEqual(Array.from(w.recover.bias));
    const stage = c.constants.tensors[0]!.stages.find((s) => s.kind === 'learned');
    expect(stage?.kind === 'learned' && stage.trained).toBe(true);
    // the recalibrated ranges are those of z = reduce(x) under the given weights, as onnxruntime computes it
    const plain = compressSplit(split, parseCompressSpec('learned=8'), re.stats);
    let lo = Infinity;
    let hi = -Infinity;
    for (const s of samples) {
      const z = floatData((await run(plain.edge, toOrtFeeds(s.load())))[plain.wire[0]!.name]!);
      for (const v of z) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
    }
    const proj = re.stats.relu_24!.projected!;
    expect(proj.whole.min).toBeCloseTo(lo, 4);
    expect(proj.whole.max).toBeCloseTo(hi, 4);
    expect(Math.abs(stats.relu_24!.projected!.whole.max - hi)).toBeGreaterThan(1e-3); // the init's ranges differ
    // weights of the wrong size are refused before any graph is built
    const bad = { ...w, recover: { ...w.recover, bias: [1, 2] } };
    expect(codeOf(() => compressSplit(split, parseCompressSpec('learned=8+int8'), { relu_24: { ...re.stats.relu_24!, learned: bad } }))).toBe('E_COMPRESS');
  });

  it.each(['learned=8+int8', 'learned=8+int4', 'learned=8/s2+int8', 'learned=8/s2+int4', 'learned=4+fp16'])(
    'the training form of %s computes the compressed edge then cloud',
    async (text) => {
      for (const cut of ['Relu_25', 'Relu_29']) {
        const spec = parseCompressSpec(text);
        const first = await calibrated(cut, text);
        const sources = first.split.cutTensors;
        // trained-looking weights, recalibrated, so the check is not only of the PCA solution
        const init = compressSplit(first.split, spec, first.stats);
        const given = Object.fromEntries(sources.map((src) => [src, randomWeights(init, src)]));
        const { split, stats } = await calibrated(cut, text, given);
        const compressed = compressSplit(split, spec, stats);
        const form = bottleneckTrainingForm(model, split, planCompression(split, spec, stats));
        assertValid(form.model);
        const names = sources.map(learnedInitializerNames);
        expect(form.trainable).toEqual(names.flatMap((n) => [n.reduce.weight, n.reduce.bias, n.recover.weight, n.recover.bias]));
        expect(form.floors.length).toBe(text.includes('int') ? sources.length : 0);
        const nodeNames = new Set(form.model.graph.nodes.toArray().map((n) => n.name));
        for (const f of form.floors) expect(nodeNames.has(f)).toBe(true);
        expect(form.tensors).toEqual(sources.map((source, i) => ({ source, recovered: `${source}.recovered`, learned: names[i] })));
        for (const source of sources) {
          // every former consumer of x reads x̂; the uncut model is left as it was
          const x = form.model.graph.valuesByName().get(source)!;
          const cloudNodes = new Set(split.cloud.graph.nodes.toArray().map((n) => n.name));
          expect(x.consumers().filter((n) => !n.name.includes('.train.')).every((n) => !cloudNodes.has(n.name))).toBe(true);
          expect(model.graph.valuesByName().get(source)!.consumers().some((n) => n.name.includes('.train.'))).toBe(false);
          const back = learnedWeightsFrom(form, initializerLookup(form.model))[source]!;
          expect(Array.from(back.recover.weight)).toEqual(Array.from(given[source]!.recover.weight));
        }
        for (const s of samples.slice(0, 2)) {
          const feeds = toOrtFeeds(s.load());
          const a = await runCompressed(compressed, feeds);
          const b = await run(form.model, feeds);
          expect(maxAbsDiff(a.logits!, b.logits!)).toBeLessThan(1e-5);
        }
      }
    },
    60_000,
  );
});
