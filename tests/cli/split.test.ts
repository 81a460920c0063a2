// `splitc split` through the CLI: the summary, --json, and coded errors (exit 2) that leave no
// bundle behind. In-process runs, but for one plain and one --json run of the real process.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runSplitc as run, spawnSplitc } from '../helpers/cli.js';
import { fixtures, tmpDir } from '../helpers/fixtures.js';

describe('splitc split', () => {
  const cls = fixtures()[0]!;
  const det = fixtures().find((f) => f.file.includes('det'))!;

  it('writes a bundle and prints the cut, bytes per sample and both parts', async () => {
    const out = path.join(tmpDir(), 'bundle');
    const r = spawnSplitc(['split', cls.path, '--cut-after', 'p2o.Conv.20', '--shape', 'x=1x3x48x192', '-o', out]);
    // no real inputs were given: the bundle has no audit, and split says so (its only warning)
    expect(r.stderr).toMatch(/^warning W_AUDIT_SKIPPED: no real inputs to attack \(pass --probe [^\n]*\n$/);
    expect(r.stdout).toMatch(/^inversion risk: not audited \(W_AUDIT_SKIPPED: /m);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^bundle .* \(\d+ files\) from ch_ppocr_mobile_v2\.0_cls_infer\.onnx/);
    expect(r.stdout).toMatch(/cut: 3 tensors, .* per sample on the wire/);
    expect(r.stdout).toMatch(/^edge +\d+ +[\d.]+[kM]? /m);
    expect(r.stdout).toMatch(/^cloud +\d+ +[\d.]+[kM]? .*softmax_0\.tmp_0/m);
    expect(r.stdout).toMatch(/compression: none/);
    // served under the model file's stem by default: its own folder in a shared Triton repository
    expect(r.stdout).toMatch(/triton: triton\/ch_ppocr_mobile_v2\.0_cls_infer\/config\.pbtxt \(max_batch_size 8, dynamic batching\)/);
    for (const f of ['manifest.json', 'edge/index.js', 'cloud/server.js', 'cloud/ch_ppocr_mobile_v2.0_cls_infer.onnx', 'triton/ch_ppocr_mobile_v2.0_cls_infer/config.pbtxt']) {
      expect(fs.existsSync(path.join(out, f)), f).toBe(true);
    }
    const named = path.join(tmpDir(), 'bundle');
    expect((await run(['split', cls.path, '--cut-after', 'p2o.Conv.20', '--shape', 'x=1x3x48x192', '--model-name', 'cls', '-o', named])).code).toBe(0);
    expect(fs.readdirSync(path.join(named, 'triton'))).toEqual(['cls']);
    expect(JSON.parse(fs.readFileSync(path.join(named, 'manifest.json'), 'utf8')).model).toBe('cls');
  });

  it('--json prints the report; --cut takes tensor names (comma-separated or repeated)', async () => {
    const out = path.join(tmpDir(), 'bundle');
    const first = spawnSplitc(['split', det.path, '--shape', 'x=1x3x160x160', '--cut-after', 'p2o.Resize.0', '-o', out, '--json']);
    expect(first.code).toBe(0);
    const a = JSON.parse(first.stdout);
    expect(a.schemaVersion).toBe(1);
    expect(a.cut.tensors).toHaveLength(5);
    expect(a.wire.map((w: { name: string }) => w.name)).toEqual(a.cut.tensors);
    expect(a.bytesPerSample.wire).toBe(a.wire.reduce((s: number, w: { bytesPerSample: number }) => s + w.bytesPerSample, 0));
    expect(a.bytesPerSample.rawInputs).toBe(3 * 160 * 160 * 4);
    expect(a.edge.nodes).toBeGreaterThan(0);
    expect(a.cloud.macs).toBeGreaterThan(0);
    expect(a.compression).toEqual({ spec: 'none' });
    expect(a.files).toContain('manifest.json');

    // the same cut given as tensors, split over two options, gives the same manifest
    const [t0, ...rest] = a.cut.tensors as string[];
    const out2 = path.join(tmpDir(), 'bundle');
    const second = await run(['split', det.path, '--shape', 'x=1x3x160x160', '--cut', t0!, '--cut', rest.join(','), '-o', out2, '--json']);
    expect(second.code).toBe(0);
    expect(fs.readFileSync(path.join(out2, 'manifest.json')).equals(fs.readFileSync(path.join(out, 'manifest.json')))).toBe(true);
  });

  it.each([
    [['--cut-after', 'p2o.Conv.20', '--cut', 'x'], 'E_BAD_ARGUMENT'],
    [[], 'E_BAD_ARGUMENT'],
    [['--cut', 'no_such_tensor'], 'E_CUT'],
    [['--cut-after', 'no_such_node'], 'E_CUT'],
    [['--cut-after', 'p2o.Conv.20', '--compress', 'int3'], 'E_BAD_ARGUMENT'],
    [['--cut-after', 'p2o.Conv.20', '--calib', 'random'], 'E_BAD_ARGUMENT'],
    [['--cut-after', 'p2o.Conv.20', '--shape', 'x=1xax'], 'E_BAD_ARGUMENT'],
  ])('%j fails with %s, exit 2, and writes nothing', async (args, code) => {
    const root = tmpDir();
    const out = path.join(root, 'bundle');
    const r = await run(['split', cls.path, '--shape', 'x=1x3x48x192', ...args, '-o', out]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.split('\n')[0]).toMatch(new RegExp(`^error ${code}: `));
    expect(fs.readdirSync(root)).toEqual([]);
    const j = await run(['split', cls.path, '--shape', 'x=1x3x48x192', ...args, '-o', out, '--json']);
    expect(j.code).toBe(2);
    expect(JSON.parse(j.stdout).error.code).toBe(code);
  });

  it('refuses to replace a folder that is not a splitc bundle (E_IO)', async () => {
    const out = tmpDir();
    fs.writeFileSync(path.join(out, 'notes.txt'), 'keep me');
    const r = await run(['split', cls.path, '--cut-after', 'p2o.Conv.20', '-o', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error E_IO: .* is not a splitc bundle/);
    expect(fs.readdirSync(out)).toEqual(['notes.txt']);
  });
});

describe('splitc split audits the cut it bundles', () => {
  const cls = fixtures()[0]!;
  it('attacks the cut on the real calibration images: report/ in the bundle, the risk in manifest.json and the summary', async () => {
    const out = path.join(tmpDir(), 'bundle');
    const r = await run(['split', cls.path, '--cut-after', 'p2o.Conv.0', '--shape', 'x=1x3x48x192', '--compress', 'int8', '--calib', 'fixtures/images', '--preprocess', 'paddleocr-cls', '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    const m = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8'));
    expect(m.audit).toMatchObject({ report: 'report/report.json', attack: 'whitebox', budget: 'fast', probes: { count: 2 } });
    // the first convolution's output, int8: the page images come back recognisably
    expect(m.audit.risk).toBe('high');
    const report = JSON.parse(fs.readFileSync(path.join(out, 'report/report.json'), 'utf8'));
    expect(report.cuts[0]).toMatchObject({ compress: 'int8', risk: 'high' });
    expect(report.cuts[0].ssim).toBe(m.audit.ssim);
    expect(m.files['report/report.html'].bytes).toBeGreaterThan(0);
    expect(r.stdout).toMatch(/^inversion risk: high \(whitebox attack, SSIM [\d.]+, PSNR [\d.]+ dB on 2 probes; report\/report\.html\)$/m);
  });

  it('--no-audit builds without it and says so in the manifest', async () => {
    const out = path.join(tmpDir(), 'bundle');
    const r = await run(['split', cls.path, '--cut-after', 'p2o.Conv.0', '--shape', 'x=1x3x48x192', '--compress', 'int8', '--calib', 'fixtures/images', '--preprocess', 'paddleocr-cls', '--no-audit', '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')).audit).toEqual({ skipped: 'disabled with --no-audit' });
    expect(fs.existsSync(path.join(out, 'report'))).toBe(false);
  });
});
