// `plan` with learned compression options trains them on `training.train` with the given
// schedule, records that in plan.json, and `build` trains the chosen learned candidate the same
// way: it reuses the plan's cached weights and reproduces the agreement the plan measured.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBuild } from '../../src/pipeline/build.js';
import { readPlanFile } from '../../src/pipeline/plan-file.js';
import { runPlan } from '../../src/pipeline/plan.js';
import { devicePreset } from '../../src/search/profiles/presets.js';
import { fashionSet } from '../audit/fashion.js';
import { codeOfAsync } from '../helpers/codes.js';
import { listFiles } from '../helpers/files.js';
import { fixturesDir, tmpDir } from '../helpers/fixtures.js';
import { npy } from '../helpers/npy.js';

const MODEL = path.join(fixturesDir, 'fashion_mnist_resnet.onnx');
const SHAPES = { image: [1, 1, 28, 28] };

/** Fashion-MNIST test images as one .npy batch: `n` images from `offset`. */
function batch(dir: string, name: string, n: number, offset: number): string {
  const images = fashionSet('t10k', offset + n).images.slice(offset * 784);
  const file = path.join(dir, name);
  fs.writeFileSync(file, npy('<f4', [n, 1, 28, 28], images));
  return file;
}

/** The phone preset 300× slower: edge-only is slow, so a small learned cut is worth sending. */
function slowEdge(dir: string): string {
  const file = path.join(dir, 'slow-edge.json');
  const phone = devicePreset('phone-wasm')!;
  fs.writeFileSync(file, JSON.stringify({ ...phone, name: 'slow-edge', latency: { ...phone.latency, slowdown: 300 } }));
  return file;
}

describe('plan with learned options and training data', () => {
  it('records the training in plan.json, and build reuses the weights the plan trained', async () => {
    const dir = tmpDir();
    const cache = path.join(dir, 'cache');
    const train = batch(dir, 'train.npy', 64, 0);
    const out = path.join(dir, 'plan.json');
    const { plan } = await runPlan({
      model: MODEL,
      edge: slowEdge(dir),
      cloud: 'cloud-cpu',
      link: '3g',
      compressOptions: 'learned=4/s2+int4',
      maxBytes: '1000', // rules out cloud-only's raw input and every uncompressed cut
      minAgreement: 0.01,
      calib: batch(dir, 'calib.npy', 16, 64),
      training: { train, epochs: 1, seed: 3 },
      learnedCacheDir: cache,
      shapes: SHAPES,
      out,
      toolVersion: 'test',
    });
    expect(plan.chosen.compress).toBe('learned=4/s2+int4');
    expect(plan.training).toMatchObject({ source: train, path: path.resolve(train), epochs: 1, seed: 3 });
    expect(plan.training!.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(plan.training!.sha256).not.toBe(plan.calibration!.sha256);
    expect(readPlanFile(out)).toEqual(plan);
    const trained = listFiles(cache).length;
    expect(trained).toBeGreaterThan(0);

    const run = await runBuild({ plan: out, outDir: path.join(dir, 'bundle'), toolVersion: 'test', audit: false, learnedCacheDir: cache });
    expect(listFiles(cache).length).toBe(trained); // nothing trained again
    expect(run.report.compression).toMatchObject({ training: { source: train, sha256: plan.training!.sha256, epochs: 1, seed: 3, samples: 64 } });
    expect(run.measured!.agreement).toBe(plan.chosenFidelity!.agreement);
    expect(run.report.warnings.map((w) => w.code)).not.toContain('W_FIDELITY_DIFFERS');
  });

  it('rejects training data without a learned option (E_BAD_ARGUMENT), and records no training when none is measured', async () => {
    const dir = tmpDir();
    const common = { model: MODEL, edge: 'phone-wasm', cloud: 'cloud-cpu', link: 'wifi', shapes: SHAPES, toolVersion: 'test' };
    expect(await codeOfAsync(runPlan({ ...common, compressOptions: 'int8', training: { train: 'x.npy' }, out: path.join(dir, 'a.json') }))).toBe('E_BAD_ARGUMENT');
    const { plan } = await runPlan({ ...common, compressOptions: 'int8', out: path.join(dir, 'b.json') });
    expect(plan.training).toBeUndefined();
  });
});
