// Split-aware SphereFed calibration (`calibrateSplitBundle`): on a split of a small ResNet, the
// W solved from the clients' edge → cloud features equals the W solved on the features of the
// ORIGINAL unsplit model (another path: its own head rewrite, one session over the pooled data);
// secure and plain sums agree; the emitted bundle's edge+cloud outputs are normalise(trunk(x))·W
// under onnxruntime; the input bundle is unchanged; a cloud part without a classifier head is coded.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { DataType } from '../../src/ir/dtype.js';
import type { Model } from '../../src/ir/graph.js';
import { modelToBytes, saveModel } from '../../src/ir/serde/io.js';
import { Emitter } from '../../src/passes/emit.js';
import { sphereFedHead } from '../../src/passes/spherefed.js';
import { calibrateSplitBundle, type CalibrateSplitOptions } from '../../src/pipeline/fed-calibrate.js';
import { runSplit } from '../../src/pipeline/split.js';
import { featureStats, solveCalibration } from '../../src/runtime/federated/calibration.js';
import { partitionDirichlet, subset } from '../../src/runtime/federated/partition.js';
import { smallResNet } from '../../src/runtime/train/models.js';
import { codeOfAsync } from '../helpers/codes.js';
import { tmpDir } from '../helpers/fixtures.js';
import { toyData } from '../runtime/train/toy-data.js';

const CLASSES = 3;
const model = (): Model => smallResNet({ widths: [4, 8], classes: CLASSES, size: 8, seed: 3 });

/** The model with its scores doubled: it ends in Mul, not in a classifier head. */
function headless(): Model {
  const m = model();
  const logits = m.graph.outputs[0]!;
  const em = Emitter.forModel(m, { scope: 'test' });
  m.graph.outputs = [em.op('Mul', [logits, em.scalar(2, DataType.FLOAT)], {}, { name: 'doubled', dtype: DataType.FLOAT, shape: logits.shape })];
  return m;
}
const train = toyData(120, 2);
const test = toyData(40, 9);
const parts = partitionDirichlet(train.labels, 3, 0.5, 1);

/** Every file under `dir` with its sha256, by relative path. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const rel of fs.readdirSync(dir, { recursive: true }) as string[]) {
    const file = path.join(dir, rel);
    if (fs.statSync(file).isFile()) out[rel] = createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  }
  return out;
}

/** `m` split after its middle ReLU (the cloud part holds the last stage, the pooling and the head), as a bundle. */
async function splitBundle(m: Model, dir: string): Promise<string> {
  const file = path.join(dir, 'model.onnx');
  saveModel(m, file);
  const relus = [...m.graph.nodes].filter((n) => n.opType === 'Relu');
  const out = path.join(dir, 'bundle');
  await runSplit({ model: file, cutAfter: relus[Math.floor(relus.length / 2)]!.name, outDir: out, toolVersion: 'test', audit: false });
  return out;
}

const relErr = (a: Float32Array, b: Float32Array): number => {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / den;
};

let dir: string;
let bundle: string;
let options: CalibrateSplitOptions;

beforeAll(async () => {
  dir = tmpDir('splitc-fedcal-');
  bundle = await splitBundle(model(), dir);
  options = { bundleDir: bundle, data: { train, test }, parts, lambda: 1e-3, seed: 5, out: path.join(dir, 'calibrated'), batch: 32 };
});

describe('calibrateSplitBundle', () => {
  it("solves the pooled W of the unsplit model's features, writes a bundle whose split outputs are normalise(trunk(x))·W, and leaves the input alone", async () => {
    const before = snapshot(bundle);
    const r = await calibrateSplitBundle(options);
    expect(snapshot(bundle)).toEqual(before);
    expect(r).toMatchObject({ clients: 3, samples: train.n, classes: CLASSES, dim: 8, testSamples: test.n, bytesUpPerClient: (8 * 9 / 2 + 8 * 3 + 1) * 8 });

    // The oracle: the unsplit model's own head rewrite, its features over the pooled data in one session.
    const unsplit = sphereFedHead(model(), { seed: 11 });
    const unsplitBytes = modelToBytes(unsplit.model);
    const pooled = subset(train, parts.flat());
    const stats = await featureStats(ort, unsplitBytes, unsplit.features, pooled, 64, CLASSES);
    const w = solveCalibration(stats.V, stats.U, 8, CLASSES, 1e-3);
    expect(relErr(r.w, w)).toBeLessThan(1e-5);

    // The emitted bundle: edge → cloud under onnxruntime equals z · W with z from the unsplit model.
    const m = r.manifest;
    expect(m.calibration).toMatchObject({ method: 'spherefed-closed-form', lambda: 1e-3, clients: 3, samples: train.n, secure: false });
    const edge = await ort.InferenceSession.create(path.join(r.outDir, m.edge.model));
    const cloud = await ort.InferenceSession.create(path.join(r.outDir, m.cloud.model));
    const trunk = await ort.InferenceSession.create(unsplitBytes);
    const x = new ort.Tensor('float32', test.images, [test.n, ...test.shape]);
    const cut = await edge.run({ [edge.inputNames[0]!]: x });
    const out = (await cloud.run(Object.fromEntries(m.cloud.inputs.map((n) => [n, cut[n]!]))))[m.cloud.outputs[0]!.name]!;
    const z = (await trunk.run({ [trunk.inputNames[0]!]: x }, [unsplit.features]))[unsplit.features]!.data as Float32Array;
    const expected = new Float32Array(test.n * CLASSES);
    for (let i = 0; i < test.n; i++) for (let c = 0; c < CLASSES; c++) for (let j = 0; j < 8; j++) expected[i * CLASSES + c]! += z[i * 8 + j]! * r.w[j * CLASSES + c]!;
    expect(out.dims).toEqual([test.n, CLASSES]);
    expect(relErr(out.data as Float32Array, expected)).toBeLessThan(1e-5);
    let correct = 0;
    for (let i = 0; i < test.n; i++) {
      const row = [...expected.subarray(i * CLASSES, (i + 1) * CLASSES)];
      if (row.indexOf(Math.max(...row)) === test.labels[i]) correct++;
    }
    expect(r.accuracyAfter).toBeCloseTo(correct / test.n, 10);

    // Only the cloud model (and Triton's copy of it) changed; the manifest lists the new bytes.
    const after = snapshot(r.outDir);
    const changed = Object.keys(after).filter((f) => after[f] !== before[f]).sort();
    expect(changed).toEqual(['cloud/model.onnx', 'manifest.json', 'triton/model/1/model.onnx']);
    expect(m.files['cloud/model.onnx']!.sha256).toBe(after['cloud/model.onnx']);
    for (const s of [edge, cloud, trunk]) await s.release();
  }, 20_000);

  it('secure aggregation gives the W of the plain sum', async () => {
    const plain = await calibrateSplitBundle({ ...options, out: path.join(dir, 'plain') });
    const secure = await calibrateSplitBundle({ ...options, secure: true, out: path.join(dir, 'secure') });
    expect(relErr(secure.w, plain.w)).toBeLessThan(1e-6);
    expect(secure.manifest.calibration).toMatchObject({ secure: true });
    expect(secure.bytesUpPerClient).toBeGreaterThan(0);
  }, 20_000);

  it('refuses a cloud part without a classifier head, a changed bundle, a manifest listing paths outside it and an output inside the input (coded)', async () => {
    const noHead = await splitBundle(headless(), tmpDir('splitc-fedcal-nohead-'));
    expect(await codeOfAsync(calibrateSplitBundle({ ...options, bundleDir: noHead, out: path.join(dir, 'x') }))).toBe('E_SPHEREFED');
    expect(fs.existsSync(path.join(dir, 'x'))).toBe(false);
    expect(await codeOfAsync(calibrateSplitBundle({ ...options, out: path.join(bundle, 'inside') }))).toBe('E_BAD_ARGUMENT');
    expect(await codeOfAsync(calibrateSplitBundle({ ...options, bundleDir: dir }))).toBe('E_BUNDLE');
    const changed = tmpDir('splitc-fedcal-changed-');
    fs.cpSync(bundle, changed, { recursive: true });
    fs.appendFileSync(path.join(changed, 'cloud', 'model.onnx'), Buffer.from([0]));
    expect(await codeOfAsync(calibrateSplitBundle({ ...options, bundleDir: changed }))).toBe('E_BUNDLE');
    const escaping = tmpDir('splitc-fedcal-escaping-');
    fs.cpSync(bundle, escaping, { recursive: true });
    const manifest = JSON.parse(fs.readFileSync(path.join(escaping, 'manifest.json'), 'utf8')) as { files: Record<string, unknown> };
    manifest.files['../outside.txt'] = { sha256: '0'.repeat(64), bytes: 1 };
    fs.writeFileSync(path.join(escaping, 'manifest.json'), JSON.stringify(manifest));
    expect(await codeOfAsync(calibrateSplitBundle({ ...options, bundleDir: escaping }))).toBe('E_BUNDLE');
  }, 20_000);
});
