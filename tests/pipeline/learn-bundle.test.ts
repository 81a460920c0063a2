// The bundle of a trained learned stage recomposes to the trained student: its edge and cloud
// models (as the bundle writes them) run edge then cloud under onnxruntime-node and
// onnxruntime-web (wasm, here in Node) give the training form's outputs with the trained
// weights and the bundle's coder ranges (fake quantisation in float and the packed int4 wire
// are the same arithmetic). `tuneCloud` trains the first cloud nodes' weights too, and they
// go into the cloud model only.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ortNode from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { constantOf } from '../../src/ir/constants.js';
import { DataType } from '../../src/ir/dtype.js';
import type { Model } from '../../src/ir/graph.js';
import { loadModel, modelToBytes } from '../../src/ir/serde/io.js';
import { planCompression } from '../../src/passes/bottleneck/compress.js';
import { parseCompressSpec } from '../../src/passes/bottleneck/spec.js';
import { bottleneckTrainingForm } from '../../src/passes/bottleneck/training-form.js';
import type { SplitResult } from '../../src/passes/cut.js';
import { cutPass } from '../../src/passes/cut-pass.js';
import { CHECKED_RUN, PassManager } from '../../src/passes/pass.js';
import { inferShapes } from '../../src/passes/shape/index.js';
import { learnBottleneck, type LearnResult, withTunedCloud } from '../../src/pipeline/learn.js';
import { runSplit } from '../../src/pipeline/split.js';
import type { CalibSample } from '../../src/search/calib-data.js';
import { calibrateAndCompress } from '../../src/search/calibrate.js';
import type { OrtModule } from '../../src/search/ort-session.js';
import { fashionSet, PER } from '../audit/fashion.js';
import { codeOfAsync } from '../helpers/codes.js';
import { fixturesDir, tmpDir } from '../helpers/fixtures.js';
import { npy as npyBytes } from '../helpers/npy.js';

const MODEL = path.join(fixturesDir, 'fashion_mnist_resnet.onnx');
const spec = parseCompressSpec('learned=4+int4');
const opts = { epochs: 1, seed: 5, batchSize: 32, lr: 3e-3 };

function splitAfter(node: string): { model: Model; split: SplitResult } {
  const model = loadModel(MODEL);
  inferShapes(model, { inputShapes: { image: [1, 1, 28, 28] } });
  return { model, split: new PassManager<Model, SplitResult>([cutPass({ after: node })], CHECKED_RUN).run(model).model };
}

const images = fashionSet('t10k', 160).images;
const samples = (n: number, offset: number): CalibSample[] =>
  Array.from({ length: n }, (_, i) => ({
    id: `t10k-${offset + i}`,
    load: () => ({ image: { dtype: DataType.FLOAT, dims: [1, 1, 28, 28], data: images.slice((offset + i) * PER, (offset + i + 1) * PER) } }),
  }));
const train = samples(128, 0);
const heldOut = samples(32, 128);

/** The bundle's parts for trained `r` (as compressAndMeasure builds them) and the student they should equal. */
async function bundleAndStudent(model: Model, split: SplitResult, r: LearnResult): Promise<{ edge: Uint8Array; cloud: Uint8Array; student: Uint8Array; untunedEdge: Uint8Array }> {
  const { compressed, stats } = await calibrateAndCompress(withTunedCloud(split, r.tuned), spec, train, { learned: r.weights });
  const untuned = await calibrateAndCompress(split, spec, train, { learned: r.weights });
  // the training form with the trained weights and the bundle's (recalibrated) coder ranges
  const form = bottleneckTrainingForm(model, split, planCompression(split, spec, stats));
  const student = withTunedCloud({ ...split, cloud: form.model }, r.tuned).cloud;
  const bytes = (m: Model): Uint8Array => modelToBytes(m, { intermediateTypes: false }); // as the bundle writer does
  return { edge: bytes(compressed.edge), cloud: bytes(compressed.cloud), student: bytes(student), untunedEdge: bytes(untuned.compressed.edge) };
}

/** Max |a-b| / max(1, |a|) over held-back samples: edge then cloud vs the student, on one onnxruntime. */
async function recomposeError(ort: OrtModule, parts: { edge: Uint8Array; cloud: Uint8Array; student: Uint8Array }): Promise<number> {
  const create = (b: Uint8Array): ReturnType<OrtModule['InferenceSession']['create']> => ort.InferenceSession.create(b);
  const [edge, cloud, student] = [await create(parts.edge), await create(parts.cloud), await create(parts.student)];
  let worst = 0;
  try {
    for (const s of heldOut) {
      const x = s.load().image!;
      const feeds = { image: new ort.Tensor('float32', x.data as Float32Array, x.dims) };
      const wire = await edge.run(feeds);
      const got = await cloud.run(Object.fromEntries(cloud.inputNames.map((n) => [n, wire[n]!])));
      const want = await student.run(feeds);
      for (const name of cloud.outputNames) {
        const a = want[name]!.data as Float32Array;
        const b = got[name]!.data as Float32Array;
        expect(b.length, name).toBe(a.length);
        for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(a[i]!)));
      }
    }
  } finally {
    await Promise.all([edge, cloud, student].map((s) => s.release()));
  }
  return worst;
}

describe('a bundle with a trained learned stage', () => {
  it('recomposes to the trained student under onnxruntime-node and onnxruntime-web', async () => {
    const { model, split } = splitAfter('Relu_25');
    const r = await learnBottleneck(model, split, spec, train, heldOut, opts);
    expect(Object.keys(r.tuned)).toEqual([]);
    const parts = await bundleAndStudent(model, split, r);
    expect(await recomposeError(ortNode, parts)).toBeLessThan(1e-4);
    const web = await import('onnxruntime-web');
    web.env.wasm.numThreads = 1;
    expect(await recomposeError(web, parts)).toBeLessThan(1e-4);
  }, 300_000);

  it('with tuneCloud 2, trains the first two cloud nodes\' weights into the cloud model only', async () => {
    const { model, split } = splitAfter('Relu_25');
    const r = await learnBottleneck(model, split, spec, train, heldOut, { ...opts, tuneCloud: 2 });
    const names = Object.keys(r.tuned);
    // the cloud starts Conv, BatchNormalization: the conv's weight (and bias), the norm's scale and bias, not its statistics
    const first = split.cloud.graph.nodes.toArray().slice(0, 2);
    expect(first.map((n) => n.opType)).toEqual(['Conv', 'BatchNormalization']);
    const bn = first[1]!;
    expect(names).toContain(first[0]!.inputs[1]!.name);
    expect(names).toEqual(expect.arrayContaining([bn.inputs[1]!.name, bn.inputs[2]!.name]));
    expect(names).not.toContain(bn.inputs[3]!.name);
    expect(names).not.toContain(bn.inputs[4]!.name);
    const byName = split.cloud.graph.valuesByName();
    const edgeValues = split.edge.graph.valuesByName();
    for (const n of names) {
      expect(edgeValues.has(n), n).toBe(false);
      const before = constantOf(byName.get(n)!)!.toTypedArray() as Float32Array;
      expect(r.tuned[n]!.some((x, i) => x !== before[i]), `${n} changed`).toBe(true);
    }
    const parts = await bundleAndStudent(model, split, r);
    // the tuned values are in the cloud only: the edge is byte for byte the one of the same weights untuned
    expect(Buffer.from(parts.edge).equals(Buffer.from(parts.untunedEdge))).toBe(true);
    const tunedCloud = withTunedCloud(split, r.tuned).cloud.graph.valuesByName();
    for (const n of names) expect(Buffer.from((constantOf(tunedCloud.get(n)!)!.toTypedArray() as Float32Array).buffer).equals(Buffer.from(r.tuned[n]!.buffer)), n).toBe(true);
    expect(await recomposeError(ortNode, parts)).toBeLessThan(1e-4);
    // the split it was given is left as it was
    expect(split.cloud.graph.valuesByName().get(names[0]!)).toBe(byName.get(names[0]!));
  }, 300_000);

  it('split records tuneCloud and the tuned parameters in the manifest; a bad count is E_BAD_ARGUMENT', async () => {
    const dir = tmpDir();
    const npy = path.join(dir, 'calib.npy');
    fs.writeFileSync(npy, npyBytes('<f4', [64, 1, 28, 28], images.subarray(0, 64 * PER)));
    const run = (tuneCloud: number) =>
      runSplit({ model: MODEL, cutAfter: 'Relu_25', shapes: { image: [1, 1, 28, 28] }, compress: 'learned=4+int4', calib: npy, training: { epochs: 1, seed: 3, tuneCloud }, audit: false, outDir: path.join(dir, `t${tuneCloud}`), toolVersion: 'test' });
    const training = (await run(2)).report.compression.training as { tuneCloud?: number; tunedParameters?: string[] };
    expect(training.tuneCloud).toBe(2);
    expect(training.tunedParameters!.length).toBeGreaterThanOrEqual(3);
    expect(await codeOfAsync(() => run(-1))).toBe('E_BAD_ARGUMENT');
    fs.rmSync(dir, { recursive: true, force: true });
  }, 300_000);
});
