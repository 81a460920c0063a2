// `splitc fed calibrate`: on a split of the bundled Fashion-MNIST ResNet (cut after Relu_25, the
// cloud part holds the head), with tiny limits of Debian's Fashion-MNIST (skipped without it):
// the new bundle, --json's summary, and coded errors for bad flags.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FASHION_MNIST_DIR } from '../../src/runtime/train/idx.js';
import { runSplitc } from '../helpers/cli.js';
import { tmpDir } from '../helpers/fixtures.js';

const hasFashion = fs.existsSync(path.join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz'));

describe.skipIf(!hasFashion)('splitc fed calibrate', () => {
  it('writes a calibrated bundle and prints accuracy before/after and the bytes each client sent', async () => {
    const dir = tmpDir('splitc-fedcal-cli-');
    const bundle = path.join(dir, 'b');
    const split = await runSplitc(['split', 'fixtures/models/fashion_mnist_resnet.onnx', '--cut-after', 'Relu_25', '--no-audit', '-o', bundle, '--json']);
    expect(split.code, split.stderr + split.stdout).toBe(0);
    const out = path.join(dir, 'calibrated');
    const args = ['fed', 'calibrate', bundle, '--data', 'fashion-mnist', '--clients', '3', '--train-limit', '300', '--test-limit', '200', '--seed', '1', '-o', out];
    const r = await runSplitc([...args, '--alpha', '0.5', '--secure', '--json']);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const s = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(s).toMatchObject({ clients: 3, samples: 300, testSamples: 200, features: 64, classes: 10, secure: true, lambda: 1e-3, bytesPerSample: { toCloud: 25088, featuresBack: 256 } });
    for (const k of ['accuracyBefore', 'accuracyAfter']) expect(s[k]).toBeGreaterThan(0.5);
    expect(s.bytesUpPerClient).toBeGreaterThanOrEqual(((64 * 65) / 2 + 640 + 1) * 8);
    const manifest = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')) as { calibration: Record<string, unknown> };
    expect(manifest.calibration).toMatchObject({ method: 'spherefed-closed-form', clients: 3, samples: 300, secure: true, data: 'fashion-mnist', partition: { kind: 'dirichlet', alpha: 0.5 } });
    expect(fs.existsSync(path.join(bundle, 'manifest.json')) && !('calibration' in JSON.parse(fs.readFileSync(path.join(bundle, 'manifest.json'), 'utf8')))).toBe(true);

    // Again over the same folder (a splitc bundle: replaced), in text.
    const text = await runSplitc([...args, '--iid']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`wrote ${out}`);

    const bad = await runSplitc([...args, '--json']);
    expect(bad.code).toBe(2);
    expect((JSON.parse(bad.stdout) as { error: { code: string } }).error.code).toBe('E_BAD_ARGUMENT');
  });
});
