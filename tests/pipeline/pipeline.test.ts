// One pipeline from plan to bundle: plan.json records what its figures were measured on and is
// validated on read; build reproduces the plan's calibration and prints the same figures, or
// says loudly that they differ; over other exporters' idioms, every built plan recomposes the
// model within its certified fidelity and sends no constant.
import { codeOfAsync } from '../helpers/codes.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/ir/serde/io.js';
import { runBuild } from '../../src/pipeline/build.js';
import { readPlanFile, validatePlanFile } from '../../src/pipeline/plan-file.js';
import { runPlan } from '../../src/pipeline/plan.js';
import { devicePreset } from '../../src/search/profiles/presets.js';
import { exporterFixtures, fixtures, repoRoot, tmpDir } from '../helpers/fixtures.js';
import { FASHION_MNIST_DIR, loadIdxImages } from '../../src/runtime/train/idx.js';
import { npy } from '../helpers/npy.js';

const cls = fixtures().find((f) => f.file.startsWith('ch_ppocr_mobile_v2.0_cls'))!;

/** A device profile file: the phone preset 300× slower (tiny test models then send their inputs or features). */
function slowEdgeProfile(dir: string): string {
  const file = path.join(dir, 'slow-edge.json');
  const phone = devicePreset('phone-wasm')!;
  fs.writeFileSync(file, JSON.stringify({ ...phone, name: 'slow-edge', latency: { ...phone.latency, slowdown: 300 } }));
  return file;
}

/** A plan whose choice is a lossy split measured on random data (low-power edge, wifi). */
async function lossyPlan(dir: string, extra: Partial<Parameters<typeof runPlan>[0]> = {}) {
  return runPlan({
    model: cls.path,
    edge: 'low-power-board',
    cloud: 'cloud-cpu',
    link: 'wifi',
    compressOptions: 'int8,int4,pca=16',
    minAgreement: 0.9,
    calib: 'random:16',
    shapes: cls.inputShapes,
    out: path.join(dir, 'plan.json'),
    toolVersion: 'test',
    ...extra,
  });
}

// One lossy plan for the tests that only read it (or build from it, each into its own folder):
// planning is most of each test's time.
let shared: { dir: string; plan: Awaited<ReturnType<typeof lossyPlan>>['plan'] } | undefined;
async function sharedLossyPlan(): Promise<NonNullable<typeof shared>> {
  if (!shared) {
    const dir = tmpDir();
    shared = { dir, plan: (await lossyPlan(dir)).plan };
  }
  return shared;
}

describe('plan.json', () => {
  it('records the calibration it measured on and the chosen fidelity, and reads back validated', async () => {
    const { dir, plan } = await sharedLossyPlan();
    expect(plan.chosen.kind).toBe('split');
    expect(plan.chosen.compress).not.toBe('none');
    expect(plan.calibration).toMatchObject({ source: 'random:16', kind: 'random', samples: 16, calibrationSamples: 12, heldOutSamples: 4, seed: 1 });
    expect(plan.calibration!.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(plan.chosenFidelity!.agreement).toBe(plan.chosen.agreement);
    expect(readPlanFile(path.join(dir, 'plan.json'))).toEqual(plan);
  });

  it('rejects what is not a valid plan with E_PLAN naming the field', () => {
    const dir = tmpDir();
    const file = path.join(dir, 'x.json');
    fs.writeFileSync(file, 'not json');
    expect(() => readPlanFile(file)).toThrow(expect.objectContaining({ code: 'E_PLAN' }));
    expect(() => readPlanFile(path.join(dir, 'missing.json'))).toThrow(expect.objectContaining({ code: 'E_PLAN' }));
    expect(() => validatePlanFile({ kind: 'splitc-plan', schemaVersion: 1 }, 'old.json')).toThrow(expect.objectContaining({ code: 'E_PLAN', hint: expect.stringMatching(/plan again/) }));
    expect(() => validatePlanFile({ kind: 'splitc-chain-plan', schemaVersion: 2 }, 'chain.json')).toThrow(/chain-plan/);
    const broken = { kind: 'splitc-plan', schemaVersion: 2, model: { inputShapes: {} }, tool: { name: 'splitc', version: '1' }, objective: 'latency', compressOptions: [], chosen: { kind: 'split', cutTensors: ['a', 3] } };
    expect(() => validatePlanFile(broken, 'b.json')).toThrow(/plan\.chosen\.cutTensors\[1\] must be a string/);
  });
});

describe('build reproduces the plan', () => {
  it('calibrates on the recorded data and measures exactly the certified figures', async () => {
    const { dir, plan } = await sharedLossyPlan();
    const run = await runBuild({ plan: path.join(dir, 'plan.json'), outDir: path.join(dir, 'bundle-same-data'), toolVersion: 'test' });
    expect(run.certified).toEqual(plan.chosenFidelity);
    expect(run.measured).toEqual(plan.chosenFidelity);
    expect(run.report.warnings.map((w) => w.code)).not.toContain('W_CALIB_DIFFERS');
    expect(run.report.warnings.map((w) => w.code)).toContain('W_CALIB_RANDOM'); // said again at build
    expect(run.report.compression.spec).toBe(plan.chosen.compress);
    expect(run.report.cut.tensors).toEqual(plan.chosen.cutTensors);
  });

  it('says loudly when it calibrates on other data than the plan certified', async () => {
    const { dir } = await sharedLossyPlan();
    const run = await runBuild({ plan: path.join(dir, 'plan.json'), outDir: path.join(dir, 'bundle-other-data'), toolVersion: 'test', calib: 'random:24' });
    const w = run.report.warnings.find((x) => x.code === 'W_CALIB_DIFFERS');
    expect(w?.message).toMatch(/24 samples here, 16 in the plan/);
  });

  it('says a lossy plan chosen without measurement is not certified', async () => {
    const dir = tmpDir();
    const { plan } = await lossyPlan(dir, { minAgreement: undefined, calib: undefined });
    expect(plan.calibration).toBeNull();
    if (plan.chosen.compress === 'none' || plan.chosen.cutTensors.length === 0) return;
    const run = await runBuild({ plan: path.join(dir, 'plan.json'), outDir: path.join(dir, 'bundle'), toolVersion: 'test' });
    expect(run.report.warnings.map((x) => x.code)).toContain('W_NOT_CERTIFIED');
  });

  it('refuses a plan for another model, and a plan that edits its own fields', async () => {
    const { dir } = await sharedLossyPlan();
    const other = fixtures().find((f) => f.file.includes('det'))!;
    expect(await codeOfAsync(runBuild({ plan: path.join(dir, 'plan.json'), outDir: path.join(dir, 'b'), toolVersion: 'test', model: other.path }))).toBe('E_PLAN');
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'plan.json'), 'utf8'));
    json.chosen.compress = 42;
    fs.writeFileSync(path.join(dir, 'bad.json'), JSON.stringify(json));
    expect(await codeOfAsync(runBuild({ plan: path.join(dir, 'bad.json'), outDir: path.join(dir, 'b'), toolVersion: 'test' }))).toBe('E_PLAN');
    expect(fs.existsSync(path.join(dir, 'b'))).toBe(false);
  });
});

describe.each(exporterFixtures().map((f) => [f.file, f] as const))('plan → build on %s', (_name, f) => {
  it('builds the chosen plan within its certified fidelity, sending no constant', async () => {
    const dir = tmpDir();
    const built: string[] = [];
    // tiny models: an edge 300× slower than a phone makes sending worth it on fast links
    for (const [edge, link] of [[slowEdgeProfile(dir), 'wifi'], [slowEdgeProfile(dir), 'ethernet']] as const) {
      const out = path.join(dir, `${path.basename(edge)}-${link}.json`);
      const { plan } = await runPlan({ model: f.path, edge, cloud: 'cloud-cpu', link, compressOptions: 'int8', minAgreement: 0.5, calib: 'random:8', shapes: f.inputShapes, out, toolVersion: 'test' });
      if (plan.chosen.cutTensors.length === 0) continue;
      const run = await runBuild({ plan: out, outDir: path.join(dir, `${path.basename(edge)}-${link}`), toolVersion: 'test' });
      // the wire carries activations only: no initializer, nothing computed from weights alone
      const model = loadModel(f.path);
      for (const t of run.report.cut.tensors) expect(model.graph.initializers.has(t)).toBe(false);
      expect(run.report.cut.tensors).toEqual(plan.chosen.cutTensors);
      if (run.measured) {
        expect(run.measured).toEqual(run.certified);
        expect(run.measured.agreement).toBeGreaterThanOrEqual(0.5);
      }
      built.push(`${edge}/${link}: ${plan.chosen.kind} ${plan.chosen.compress}`);
    }
    expect(built.length).toBeGreaterThan(0);
  });
});

describe('the planner on inputs a compression stage cannot reduce', () => {
  const tiny = exporterFixtures().find((f) => f.file === 'torch_resnet_tiny_op13.onnx')!;
  // The command (`--compress-options pca=16 … --min-agreement 0.9`) aborted with
  // E_COMPRESS "pca=16 reduces none of the cut tensors ('input' …)": the input has 3 channels.
  it('plans with pca=16 on a 3-channel input, and builds the cloud-only plan with its input compressed', async () => {
    const dir = tmpDir();
    const out = path.join(dir, 'plan.json');
    const { plan } = await runPlan({ model: tiny.path, edge: slowEdgeProfile(dir), cloud: 'cloud-cpu', link: '3g', compressOptions: 'pca=16,int8', minAgreement: 0.9, calib: 'random:16', shapes: tiny.inputShapes, out, toolVersion: 'test' });
    expect(plan.candidates.some((c) => c.compress === 'pca=16')).toBe(true);
    expect(plan.chosen).toMatchObject({ kind: 'cloud-only', compress: 'int8', cutTensors: ['input'] });
    const run = await runBuild({ plan: out, outDir: path.join(dir, 'bundle'), toolVersion: 'test' });
    expect(run.report.cut.tensors).toEqual(['input']);
    expect(run.report.compression.spec).toBe('int8');
    expect(run.measured).toEqual(run.certified);
    expect(run.measured!.agreement).toBeGreaterThanOrEqual(0.9);
    // the edge part only quantises the input: no compute node of the model runs there
    const edge = loadModel(path.join(dir, 'bundle/edge', fs.readdirSync(path.join(dir, 'bundle/edge')).find((f) => f.endsWith('.onnx'))!));
    expect([...edge.graph.nodes].every((n) => !['Conv', 'Gemm', 'MatMul'].includes(n.opType))).toBe(true);
  });
});

describe.skipIf(!fs.existsSync(path.join(FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz')))('--max-risk low: a measured privacy constraint', () => {
  it('keeps the image on the device when every cut the plan would take leaks it', async () => {
    const dir = tmpDir();
    const phone = devicePreset('phone-wasm')!;
    const edge = path.join(dir, 'slow.json');
    fs.writeFileSync(edge, JSON.stringify({ ...phone, name: 'slow-edge', latency: { ...phone.latency, slowdown: 30 } }));
    const common = { model: path.join(repoRoot, 'fixtures/models/fashion_mnist_resnet.onnx'), edge, cloud: 'cloud-cpu', link: 'lte', compressOptions: 'int8', shapes: { image: [1, 1, 28, 28] }, toolVersion: 'test' };
    const free = await runPlan({ ...common, out: path.join(dir, 'free.json') });
    expect(free.plan.chosen.kind).toBe('cloud-only'); // the fastest sends the (int8) image
    const out = path.join(dir, 'private.json');
    // 64 training images (normalised) calibrate int8; the probes are test images
    const ds = loadIdxImages(path.join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz'), path.join(FASHION_MNIST_DIR, 'train-labels-idx1-ubyte.gz'), { limit: 64 });
    const calib = path.join(dir, 'calib.npy');
    fs.writeFileSync(calib, npy('<f4', [64, 1, 28, 28], ds.images));
    const { plan } = await runPlan({ ...common, maxRisk: 'low', calib, probe: path.join(FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz'), preprocess: 'scale=1/255,mean=0.286,std=0.353', out });
    expect(plan.constraints).toMatchObject({ maxRisk: 0.3, maxRiskExclusive: true });
    expect(plan.riskAudit).toMatchObject({ attacks: ['whitebox'], budget: 'fast', metric: 'ssim', probes: { count: 4 } });
    expect(plan.baselines.cloudOnly).toMatchObject({ risk: 1 });
    expect(plan.baselines.cloudOnly.violates).toContain('max-risk');
    const measured = plan.candidates.filter((c) => c.kind === 'split' && c.risk !== null);
    expect(measured.length).toBeGreaterThan(0);
    for (const c of measured) {
      expect(c.risk!).toBeGreaterThanOrEqual(0.3); // shallow cuts of this model give the image back
      expect(c.violates).toContain('max-risk');
    }
    expect(plan.chosen.kind).toBe('edge-only');
    expect(readPlanFile(out)).toEqual(plan);
    // a level and a hand-written table are two ways to say it: not both
    expect(await codeOfAsync(runPlan({ ...common, maxRisk: 'low', riskTable: out, probe: path.join(FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz'), out: path.join(dir, 'x.json') }))).toBe('E_BAD_ARGUMENT');
    expect(await codeOfAsync(runPlan({ ...common, maxRisk: 'low', calib: 'random:8', out: path.join(dir, 'y.json') }))).toBe('E_BAD_ARGUMENT');
  });
});
