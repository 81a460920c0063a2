// splitc split --compress end to end: calibration on real text-line images, fidelity in
// the manifest, exact wire bytes, and the compressed bundle served and used for real
// (generated edge module on onnxruntime-web → generated cloud server).
import { codeOfAsync } from '../helpers/codes.js';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSplit } from '../../src/cli/split.js';
import { imageSamples, modelInputs, parseImagePreprocess } from '../../src/search/calib-data.js';
import { toOrtFeeds } from '../../src/search/calibrate.js';
import { loadModel } from '../../src/ir/serde/io.js';
import { inferShapes } from '../../src/passes/shape/index.js';
import { fixtures, repoRoot } from '../helpers/fixtures.js';
import { pythonOnnx, SYSTEM_PYTHON } from '../helpers/onnx-oracle.js';
import { parsePbtxt, type PbMessage } from '../helpers/pbtxt.js';
import { textLineCrops, writeTextLineImages } from '../helpers/text-lines.js';
import { asFloat32, compareFloat, projectDir, runEdgeInNode, startCloud, type CloudServer } from '../codegen/helpers.js';

const cls = fixtures().find((f) => f.file.includes('cls'))!;
const TOKEN = 'compress-e2e-token';

interface ManifestLike {
  wire: { name: string; dtype: string; shape: (number | string)[]; bytesPerSample: number; source: string }[];
  compression: { spec: string; fidelity: { heldOut: { outputs: { name: string; top1Agreement: number | null; maxAbsErr: number; cosine: number }[] } } };
}

const NAME = 'ch_ppocr_mobile_v2.0_cls_infer'; // the default served name: the file's stem

async function splitCompressed(spec: string, imagesDir: string, outDir: string, batch: number | string = 1) {
  const { report, fidelity } = await runSplit({ model: cls.path, cut: ['p2o.Add.45'], shapes: { x: [batch, 3, 48, 192] }, compress: spec, calib: imagesDir, preprocess: 'paddleocr-cls', outDir, toolVersion: '0.1.0' });
  const manifest = JSON.parse(fs.readFileSync(path.join(outDir, 'manifest.json'), 'utf8')) as ManifestLike;
  return { report, manifest, fidelity: fidelity! };
}

describe('splitc split --compress on the classifier with real text-line images', () => {
  let root: string;
  let images: string;
  /** Every 4th crop (64): calibration for the batch tests, whose checks are shapes, configs and batch = one by one, not the fidelity bars. */
  let fewerImages: string;
  beforeAll(() => {
    root = projectDir('splitc-compress-'); // inside the project, so cloud/server.js finds onnxruntime-node
    images = path.join(root, 'lines');
    fs.mkdirSync(images);
    writeTextLineImages(images);
    fewerImages = path.join(root, 'lines-64');
    fs.mkdirSync(fewerImages);
    writeTextLineImages(fewerImages, textLineCrops().filter((_, i) => i % 4 === 0));
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it.each([
    // per-channel ranges: with a random (not line-grouped) hold-out, per-tensor int8 flips
    // 2 of 64 near-tie crops; per-channel flips none (docs/cli.md, Granularity)
    ['int8:channel', 8, 0.99],
    ['int4:channel', 4, 0.97],
  ])('%s: exact wire bytes, held-back top-1 agreement recorded and above the bar', async (spec, bits, bar) => {
    const { manifest, fidelity } = await splitCompressed(spec, images, path.join(root, `b-${spec.replace(/\W/g, '_')}`));
    expect(manifest.compression.spec).toBe(spec);
    const model = loadModel(cls.path);
    inferShapes(model, { inputShapes: { x: [1, 3, 48, 192] } });
    const shapes = new Map([...model.graph.nodes].flatMap((n) => n.outputs.map((o) => [o.name, o.shape as number[]] as const)));
    for (const w of manifest.wire) {
      expect(w.dtype).toBe('uint8');
      const elements = shapes.get(w.source)!.reduce((a, b) => a * b, 1); // the cut tensor, before packing
      expect(w.bytesPerSample).toBe(Math.ceil((bits * elements) / 8));
    }
    const out = manifest.compression.fidelity.heldOut.outputs[0]!;
    expect(out.top1Agreement).toBeGreaterThanOrEqual(bar);
    expect(fidelity.heldOut.outputs[0]!.top1Agreement).toBe(out.top1Agreement);
    console.log(`split --compress ${spec}: held-back top-1 ${(100 * out.top1Agreement!).toFixed(2)}%, max|Δ| ${out.maxAbsErr.toExponential(2)}, ${manifest.wire.reduce((a, w) => a + w.bytesPerSample, 0)} B/sample`);
  });

  describe('served for real', () => {
    let bundle: string;
    let cloud: CloudServer;
    beforeAll(async () => {
      bundle = path.join(root, 'served');
      await splitCompressed('int8', images, bundle);
      const tokenFile = path.join(root, 'token');
      fs.writeFileSync(tokenFile, TOKEN);
      cloud = await startCloud(bundle, tokenFile);
    });
    afterAll(async () => cloud?.stop());

    it('the generated edge module (onnxruntime-web) and cloud server answer like the compressed parts, and agree with the original', async () => {
      const model = loadModel(cls.path);
      inferShapes(model, { inputShapes: { x: [1, 3, 48, 192] } });
      const samples = imageSamples(images, modelInputs(model)[0]!, parseImagePreprocess('paddleocr-cls')).slice(0, 4);
      const original = await ort.InferenceSession.create(cls.path);
      const edge = await ort.InferenceSession.create(path.join(bundle, 'edge/model.onnx'));
      const cloudLocal = await ort.InferenceSession.create(path.join(bundle, `cloud/${NAME}.onnx`));
      for (const s of samples) {
        const feeds = toOrtFeeds(s.load());
        const { outputs } = await runEdgeInNode(bundle, cloud.url, TOKEN, feeds);
        const name = original.outputNames[0]!;
        const wire = await edge.run(feeds);
        const expected = (await cloudLocal.run(wire))[name]!;
        const got = outputs[name]!;
        const c = compareFloat(expected.data as Float32Array, asFloat32(got), expected.dims);
        expect(c.ok, c.why).toBe(true);
        const ref = (await original.run(feeds))[name]!.data as Float32Array;
        const g = asFloat32(got);
        expect(g[0]! > g[1]!).toBe(ref[0]! > ref[1]!);
      }
    });
  });

  describe.each([
    ['N', 'int4'],
    ['N', 'int2'],
    ['N', 'int8'],
    [1, 'int4'],
    [1, 'int2'],
  ] as const)('batch %s, %s: packed wires keep the batch dim', (batch, spec) => {
    let bundle: string;
    let manifest: ManifestLike & { triton: { model: string; maxBatchSize: number }; cloud: { batchable: boolean } };
    beforeAll(async () => {
      bundle = path.join(root, `batch-${batch}-${spec}`);
      manifest = (await splitCompressed(spec, fewerImages, bundle, batch)).manifest as typeof manifest;
    });

    it('the wire is [batch, bytes per sample] and the Triton config batches (max_batch_size > 0), as with int8', () => {
      const bits = Number(spec.slice(3));
      const w = manifest.wire[0]!;
      expect(w.shape[0]).toBe(batch);
      if (bits < 8) expect(w.shape).toEqual([batch, Math.ceil((bits * 16 * 3 * 96) / 8)]);
      expect(w.bytesPerSample).toBe(Math.ceil((bits * 16 * 3 * 96) / 8));
      expect(manifest.cloud.batchable).toBe(true);
      expect(manifest.triton.maxBatchSize).toBeGreaterThan(0);
      const config = path.join(bundle, `triton/${NAME}/config.pbtxt`);
      const cfg = parsePbtxt(fs.readFileSync(config, 'utf8'));
      expect(cfg.max_batch_size).toEqual([manifest.triton.maxBatchSize]);
      expect(cfg.dynamic_batching).toBeDefined();
      expect((cfg.input as PbMessage[])[0]!.dims).toEqual(w.shape.slice(1));
      if (pythonOnnx().ok) {
        const r = spawnSync(SYSTEM_PYTHON, [path.join(repoRoot, 'tests/helpers/triton_config.py'), config], { encoding: 'utf8' });
        expect(r.status, r.stderr).toBe(0);
        expect((JSON.parse(r.stdout) as { max_batch_size?: number }).max_batch_size).toBe(manifest.triton.maxBatchSize);
      }
    });

    it('three samples run as one batch of 3 and one by one, with the same answers, which agree with the unsplit model', async () => {
      const model = loadModel(cls.path);
      inferShapes(model, { inputShapes: { x: [1, 3, 48, 192] } });
      const samples = imageSamples(images, modelInputs(model)[0]!, parseImagePreprocess('paddleocr-cls')).slice(0, 3);
      const xs = samples.map((s) => s.load().x!.data as Float32Array);
      const original = await ort.InferenceSession.create(cls.path);
      const edge = await ort.InferenceSession.create(path.join(bundle, 'edge/model.onnx'));
      const cloud = await ort.InferenceSession.create(path.join(bundle, `cloud/${NAME}.onnx`));
      const name = original.outputNames[0]!;
      const single = (x: Float32Array) => ({ x: new ort.Tensor('float32', x, [1, 3, 48, 192]) });
      const wires = await Promise.all(xs.map((x) => edge.run(single(x))));
      const ones = await Promise.all(wires.map((w) => cloud.run(w)));
      // the server (and Triton) stack requests along dim 0: so does this
      const wireName = manifest.wire[0]!.name;
      const per = wires[0]![wireName]!.size;
      const stacked = new Uint8Array(3 * per);
      wires.forEach((w, k) => stacked.set(w[wireName]!.data as Uint8Array, k * per));
      const three = (await cloud.run({ [wireName]: new ort.Tensor('uint8', stacked, [3, ...wires[0]![wireName]!.dims.slice(1)]) }))[name]!;
      expect(three.dims).toEqual([3, 2]);
      if (batch === 'N') {
        // the edge graph takes a batch too
        const x3 = new Float32Array(3 * xs[0]!.length);
        xs.forEach((x, k) => x3.set(x, k * x.length));
        const w3 = await edge.run({ x: new ort.Tensor('float32', x3, [3, 3, 48, 192]) });
        expect(Buffer.from(w3[wireName]!.data as Uint8Array).equals(Buffer.from(stacked))).toBe(true);
      }
      for (let k = 0; k < 3; k++) {
        const one = ones[k]![name]!.data as Float32Array;
        const row = (three.data as Float32Array).subarray(2 * k, 2 * k + 2);
        const c = compareFloat(one, row, [1, 2], 1e-6);
        expect(c.ok, c.why).toBe(true);
        const ref = (await original.run(single(xs[k]!)))[name]!.data as Float32Array;
        // the bar of the fidelity tests above: the same top-1 class as the unsplit model
        expect(one[0]! > one[1]!, `sample ${k}: ${Array.from(one)} vs ${Array.from(ref)}`).toBe(ref[0]! > ref[1]!);
      }
    });
  });

  it('bad calibration arguments are coded errors', async () => {
    const codeOf = codeOfAsync;
    const out = path.join(root, 'never');
    const run = (calib: string, preprocess?: string) =>
      runSplit({ model: cls.path, cutAfter: 'p2o.Div.8', compress: 'int8', calib, ...(preprocess !== undefined ? { preprocess } : {}), outDir: out, toolVersion: '0.1.0' });
    expect(await codeOf(run(images))).toBe('E_BAD_ARGUMENT'); // images without --preprocess
    expect(await codeOf(run(path.join(root, 'missing')))).toBe('E_CALIB');
    expect(await codeOf(run(images, 'bogus-preset'))).toBe('E_BAD_ARGUMENT');
    expect(fs.existsSync(out)).toBe(false);
  });
});
