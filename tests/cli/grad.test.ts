// `splitc grad`: the written gradient graph loads and runs in onnxruntime-node and in
// onnxruntime-web (wasm, in Node) with the same results; coded errors leave nothing behind.
// In-process runs (tests/helpers/cli.ts), but for the first: the real process.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { runSplitc as run, spawnSplitc } from '../helpers/cli.js';
import { fixtures, tmpDir, trainedFixtures } from '../helpers/fixtures.js';
import { loadModel, modelToBytes } from '../../src/ir/serde/io.js';
import { differentiate } from '../../src/passes/autodiff/index.js';
import { buildLoss } from '../../src/passes/autodiff/losses.js';
import { inferShapes } from '../../src/passes/shape/index.js';
import { maxAbsDiff, seededFloatInputs } from '../helpers/onnx-oracle.js';

describe('splitc grad', () => {
  const [cls, det] = fixtures();

  it('writes a cross-entropy input gradient that onnxruntime-node and onnxruntime-web compute alike', async () => {
    const dir = tmpDir();
    const out = path.join(dir, 'grad.onnx');
    const r = spawnSplitc(['grad', cls!.path, '--wrt', 'inputs', '--loss', 'ce', '--shape', 'x=2x3x48x192', '-o', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.gradients).toEqual([{ name: 'grad:x', dtype: 'float32', shape: [2, 3, 48, 192] }]);
    expect(report.extraInputs).toEqual([{ name: 'labels', dtype: 'int64', shape: [2] }]);
    expect(report.loss).toBe('loss');
    expect(report.opset).toEqual({ from: 9, to: 16 }); // MaxPool's gradient scatters with reduction=add (opset 16)
    const feeds: Record<string, ort.Tensor> = { ...seededFloatInputs({ x: [2, 3, 48, 192] }, 5), labels: new ort.Tensor('int64', BigInt64Array.from([0n, 1n]), [2]) };
    const node = await ort.InferenceSession.create(out, { logSeverityLevel: 3 });
    const a = await node.run(feeds);
    await node.release();
    const web = await import('onnxruntime-web');
    web.env.wasm.numThreads = 1;
    const ws = await web.InferenceSession.create(fs.readFileSync(out));
    const wfeeds = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, new web.Tensor(t.type as 'float32', t.data as unknown as Float32Array, t.dims)]));
    const b = await ws.run(wfeeds);
    await ws.release();
    const ga = a['grad:x']!.data as Float32Array;
    const gb = b['grad:x']!.data as Float32Array;
    let maxAbs = 0;
    let maxDiff = 0;
    for (let i = 0; i < ga.length; i++) {
      maxAbs = Math.max(maxAbs, Math.abs(ga[i]!));
      maxDiff = Math.max(maxDiff, Math.abs(ga[i]! - gb[i]!));
    }
    expect(maxAbs).toBeGreaterThan(1e-4);
    expect(maxDiff).toBeLessThan(1e-4 * maxAbs + 1e-7);
    expect(Math.abs(Number(a.loss!.data[0]) - Number(b.loss!.data[0]))).toBeLessThan(1e-5);
    // the loss is the cross-entropy of the model's own softmax output: −mean(log p[label])
    const orig = await ort.InferenceSession.create(cls!.path);
    const p = (await orig.run({ x: feeds['x']! }))[orig.outputNames[0]!]!.data as Float32Array;
    await orig.release();
    const ce = -(Math.log(p[0]!) + Math.log(p[3]!)) / 2;
    expect(Math.abs(Number(a.loss!.data[0]) - ce)).toBeLessThan(1e-5);
    fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('differentiates w.r.t. all parameters of the detector (sum loss) and reports them', async () => {
    const dir = tmpDir();
    const out = path.join(dir, 'grad.onnx');
    const r = await run(['grad', det!.path, '--wrt', 'params', '--loss', 'sum', '--shape', 'x=1x3x64x64', '-o', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.gradients.length).toBeGreaterThan(100);
    expect(report.gradients.every((g: { name: string }) => g.name.startsWith('grad:'))).toBe(true);
    expect(report.unreachable).toEqual([]);
    expect(fs.statSync(out).size).toBe(report.bytes);
    fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('refuses unknown values and bad loss specs with coded errors, writing nothing', async () => {
    const dir = tmpDir();
    const out = path.join(dir, 'grad.onnx');
    const a = await run(['grad', cls!.path, '--wrt', 'no_such_value', '--loss', 'sum', '-o', out]);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/E_AUTODIFF.*no_such_value/);
    const b = await run(['grad', cls!.path, '--wrt', 'inputs', '--loss', 'hinge', '-o', out, '--json']);
    expect(b.code).toBe(2);
    expect(JSON.parse(b.stdout).error.code).toBe('E_BAD_ARGUMENT');
    expect(fs.readdirSync(dir)).toEqual([]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('folds the classifier\'s 35 Conv → BatchNorm pairs for input gradients, with the unfolded graph\'s gradient', async () => {
    const dir = tmpDir();
    const out = path.join(dir, 'grad.onnx');
    // (cross-entropy: the classifier ends in a softmax, whose sum has no gradient)
    const r = await run(['grad', cls!.path, '--wrt', 'inputs', '--loss', 'ce', '--shape', 'x=1x3x48x192', '-o', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).foldedBatchNorms).toBe(35);
    // the same gradient built without folding, through the library
    const m = loadModel(cls!.path);
    inferShapes(m, { inputShapes: { x: [1, 3, 48, 192] } });
    const built = buildLoss(m, 'ce');
    m.graph.outputs.push(built.loss);
    differentiate(m, { wrt: ['x'], loss: built.loss.name, inputShapes: { x: [1, 3, 48, 192] } });
    const feeds = { ...seededFloatInputs({ x: [1, 3, 48, 192] }, 9), labels: new ort.Tensor('int64', BigInt64Array.from([1n]), [1]) };
    const grad = async (model: string | Uint8Array): Promise<Float32Array> => {
      const s = typeof model === 'string' ? await ort.InferenceSession.create(model) : await ort.InferenceSession.create(model);
      const g = (await s.run(feeds))['grad:x']!.data as Float32Array;
      await s.release();
      return g;
    };
    const folded = await grad(out);
    const plain = await grad(modelToBytes(m));
    const { diff, scale } = maxAbsDiff(plain, folded);
    expect(scale).toBeGreaterThan(0);
    expect(diff).toBeLessThan(1e-4 * scale);
    fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);
});

describe('splitc grad --wrt params and BatchNorm running statistics', () => {
  const resnet = trainedFixtures().find((f) => f.file === 'fashion_mnist_resnet.onnx')!;

  it('params leaves out running_mean / running_var and reports how many; naming one includes it', async () => {
    const dir = tmpDir();
    const out = path.join(dir, 'grad.onnx');
    const r = await run(['grad', resnet.path, '--wrt', 'params', '--loss', 'sum', '--shape', 'image=2x1x28x28', '-o', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    const names = report.gradients.map((g: { name: string }) => g.name);
    expect(names).toContain('grad:stem.bn.weight');
    expect(names).toContain('grad:stem.conv.weight');
    expect(names.filter((n: string) => /running_(mean|var)/.test(n))).toEqual([]);
    expect(report.excludedStatistics).toBe(18);
    const text = await run(['grad', resnet.path, '--wrt', 'params', '--loss', 'sum', '--shape', 'image=2x1x28x28', '-o', out]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/left out 18 BatchNorm running statistic/);
    const named = await run(['grad', resnet.path, '--wrt', 'params,stem.bn.running_mean', '--loss', 'sum', '--shape', 'image=2x1x28x28', '-o', out, '--json']);
    expect(named.code, named.stderr).toBe(0);
    const nr = JSON.parse(named.stdout);
    expect(nr.gradients.map((g: { name: string }) => g.name).filter((n: string) => /running_/.test(n))).toEqual(['grad:stem.bn.running_mean']);
    expect(nr.excludedStatistics).toBe(17);
    fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);
});
