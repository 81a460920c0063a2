// `splitc audit` through the built CLI and the programmatic audit(): --fail-on is a CI gate
// (exit 3 on a leaky cut, 0 on a safe one), the cache gives identical figures without
// attacking again, --json is quiet on stderr, bad input is a coded error with nothing written,
// and on real data reconstructions get worse with depth.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { audit } from '../../src/pipeline/audit.js';
import { nearGuessWarnings } from '../../src/audit/index.js';
import { FASHION_MNIST_DIR, loadIdxImages } from '../../src/runtime/train/idx.js';
import { npy } from '../helpers/npy.js';
import { textLineCrops, writeTextLineImages } from '../helpers/text-lines.js';
import { codeOfAsync } from '../helpers/codes.js';
import { fixtures, repoRoot, tmpDir } from '../helpers/fixtures.js';

const cli = path.join(repoRoot, 'bin/splitc.js');
function run(args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', cwd: repoRoot });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const fashionModel = path.join(repoRoot, 'fixtures/models/fashion_mnist_resnet.onnx');
const probes = path.join(FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz');
const PRE = 'scale=1/255,mean=0.286,std=0.353';
const hasFashion = fs.existsSync(probes);

describe.skipIf(!hasFashion)('splitc audit on the Fashion-MNIST ResNet', () => {
  it('--fail-on high exits 3 on a leaky cut and 0 on a safe one', () => {
    const common = ['--probe', probes, '--preprocess', PRE, '--max-probes', '2', '--no-cache', '--fail-on', 'high'];
    const leaky = run(['audit', fashionModel, '--cuts', 'after:Relu_3', ...common, '-o', tmpDir()]);
    expect(leaky.code, leaky.stderr).toBe(3);
    expect(leaky.stderr).toMatch(/E_RISK/);
    expect(leaky.stdout).toMatch(/after:Relu_3 .* high/);
    const safe = run(['audit', fashionModel, '--cuts', 'after:Add_35', ...common, '-o', tmpDir()]);
    expect(safe.code, safe.stderr).toBe(0);
    expect(safe.stdout).toMatch(/after:Add_35 .* (low|medium)/);
  });

  it('writes report.json and report.html; --json prints the report and nothing on stderr', () => {
    const out = tmpDir();
    const r = run(['audit', fashionModel, '--cuts', 'after:Relu_3,after:Relu_25', '--probe', probes, '--preprocess', PRE, '--max-probes', '2', '--no-cache', '--json', '-o', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ kind: 'splitc-audit', schemaVersion: 1, budget: 'fast', attacks: ['whitebox'], probes: { count: 2 } });
    expect(report.cuts.map((c: { label: string }) => c.label)).toEqual(['after:Relu_3', 'after:Relu_25']);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8'))).toEqual(report);
    const html = fs.readFileSync(path.join(out, 'report.html'), 'utf8');
    expect(html.match(/<img /g)?.length).toBeGreaterThanOrEqual(2 * 2 * 2); // per cut: originals and reconstructions
  });

  it('a second run takes its figures from the cache, identical', async () => {
    const cacheDir = tmpDir();
    const opts = { model: fashionModel, cuts: ['after:Relu_13'], probe: probes, preprocess: PRE, maxProbes: 2, cacheDir, toolVersion: 'test' };
    const first = await audit(opts);
    const second = await audit(opts);
    expect(first.report.cuts[0]!.attacks[0]!.cached).toBe(false);
    expect(second.report.cuts[0]!.attacks[0]!.cached).toBe(true);
    const strip = (r: typeof first) => r.report.cuts.map((c) => ({ ...c, attacks: c.attacks.map(({ cached: _c, seconds: _s, ...a }) => a) }));
    expect(strip(second)).toEqual(strip(first));
    expect(second.images.reconstructions).toEqual(first.images.reconstructions);
    // another budget, probe count or seed is another entry
    const third = await audit({ ...opts, seed: 2 });
    expect(third.report.cuts[0]!.attacks[0]!.cached).toBe(false);
  });

  it('auto cuts go from shallow to deep, and the optimisation attack does worse deeper', async () => {
    const r = await audit({ model: fashionModel, probe: probes, preprocess: PRE, maxProbes: 2, cacheDir: null, toolVersion: 'test' });
    const depths = r.report.cuts.map((c) => c.depth);
    expect(depths.length).toBe(5);
    expect([...depths].sort((a, b) => a - b)).toEqual(depths);
    expect(r.report.cuts[0]!.psnr!).toBeGreaterThanOrEqual(30);
    expect(r.report.cuts[4]!.ssim!).toBeLessThan(r.report.cuts[0]!.ssim!);
  });
});

describe.skipIf(!hasFashion)('defences in the audit', () => {
  it('a noise level moves a high-risk cut to medium or low, at a measured cost in top-1 agreement', async () => {
    // 200 training images (normalised as the model expects) calibrate the noise scale and measure utility
    const ds = loadIdxImages(path.join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz'), path.join(FASHION_MNIST_DIR, 'train-labels-idx1-ubyte.gz'), { limit: 200 });
    const calib = path.join(tmpDir(), 'calib.npy');
    fs.writeFileSync(calib, npy('<f4', [200, 1, 28, 28], ds.images));
    const r = await audit({ model: fashionModel, cuts: ['after:Relu_25'], probe: probes, preprocess: PRE, calib, defences: ['noise=1', 'noise=2'], maxProbes: 3, cacheDir: null, toolVersion: 'test' });
    const points = r.report.cuts[0]!.defences!;
    expect(points.map((p) => p.defence)).toEqual(['none', 'noise=1', 'noise=2']);
    expect(points[0]).toMatchObject({ risk: 'high', utility: { metric: 'top1', value: 1 } });
    const moved = points.slice(1).find((p) => p.risk !== 'high');
    expect(moved, JSON.stringify(points)).toBeDefined();
    expect(moved!.utility.value).toBeLessThan(1);
    expect(moved!.ssim).toBeLessThan(points[0]!.ssim);
    // more noise: less privacy leaks and less utility is left
    expect(points[2]!.ssim).toBeLessThan(points[1]!.ssim);
    expect(points[2]!.utility.value).toBeLessThanOrEqual(points[1]!.utility.value);
  });

  it('only single noise or dropout stages are defences', async () => {
    expect(await codeOfAsync(audit({ model: fashionModel, cuts: ['after:Relu_25'], probe: probes, preprocess: PRE, defences: ['int8'], toolVersion: 'test' }))).toBe('E_BAD_ARGUMENT');
  });
});

describe('an attack near a guess without information is flagged', () => {
  it("on the classifier's output (two scores), the decoder learns the text crops' look: W_AUDIT_NEAR_GUESS", async () => {
    const root = tmpDir();
    const probeDir = path.join(root, 'probe');
    const auxDir = path.join(root, 'aux');
    fs.mkdirSync(probeDir);
    fs.mkdirSync(auxDir);
    const crops = textLineCrops();
    writeTextLineImages(probeDir, crops.filter((c) => c.source === 'page.png' && !c.rotated).slice(0, 8));
    writeTextLineImages(auxDir, crops.filter((c) => c.source === 'bw_text.png'));
    const cls = fixtures().find((f) => f.file.startsWith('ch_ppocr_mobile_v2.0_cls'))!;
    const r = await audit({ model: cls.path, shapes: { x: ['N', 3, 48, 192] }, cuts: ['after:p2o.MatMul.0'], probe: probeDir, aux: auxDir, preprocess: 'paddleocr-cls', attacks: ['decoder'], maxProbes: 4, cacheDir: null, toolVersion: 'test' });
    expect(r.report.baseline.guess).toBe('aux-mean');
    // two class scores carry nothing of the image: the decoder can only learn the crops' average look
    const cut = r.report.cuts[0]!;
    expect(r.report.baseline.ssim).toBeGreaterThan(0.25); // white pages: the mean crop alone is close to "medium"
    expect(Math.abs(cut.ssim! - r.report.baseline.ssim)).toBeLessThan(0.1);
    // graded medium there, it would be flagged; graded low, it is not
    const as = (risk: 'medium' | 'low') => nearGuessWarnings([{ ...cut, risk, ssim: r.report.baseline.ssim + 0.05 }], r.report.baseline).map((w) => w.code);
    expect(as('medium')).toEqual(['W_AUDIT_NEAR_GUESS']);
    expect(as('low')).toEqual([]);
    expect(nearGuessWarnings([{ ...cut, risk: 'high', ssim: r.report.baseline.ssim + 0.3 }], r.report.baseline)).toEqual([]);
  });
});

describe('splitc audit rejects what it cannot audit', () => {
  const cls = fixtures().find((f) => f.file.startsWith('ch_ppocr_mobile_v2.0_cls'))!;
  it('unknown attacks, random probes and inputs that are not image batches are coded errors; nothing is written', async () => {
    const out = path.join(tmpDir(), 'audit');
    const bad = run(['audit', cls.path, '--shape', 'x=1x3x48x192', '--probe', 'fixtures/images', '--preprocess', 'paddleocr-cls', '--attacks', 'whitebox,magic', '-o', out]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/E_BAD_ARGUMENT/);
    expect(await codeOfAsync(audit({ model: cls.path, shapes: { x: ['N', 3, 48, 192] }, probe: 'random:4', toolVersion: 'test', outDir: out }))).toBe('E_BAD_ARGUMENT');
    expect(await codeOfAsync(audit({ model: cls.path, shapes: { x: ['N', 3, 48, 192] }, probe: 'fixtures/images', toolVersion: 'test', outDir: out }))).toBe('E_BAD_ARGUMENT'); // images need --preprocess
    // a [N, 32] input is not an image batch
    const vector = path.join(repoRoot, 'fixtures/exporters', 'torch_tied_op13.onnx');
    expect(await codeOfAsync(audit({ model: vector, probe: 'fixtures/images', preprocess: 'unit', toolVersion: 'test', outDir: out }))).toBe('E_AUDIT');
    expect(fs.existsSync(out)).toBe(false);
  });
});
