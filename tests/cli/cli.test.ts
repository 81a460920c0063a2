import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runSplitc as run, spawnSplitc } from '../helpers/cli.js';
import { fixtures, tmpDir, trainedFixtures } from '../helpers/fixtures.js';
import { runOrt, sameOutputs, seededFloatInputs } from '../helpers/onnx-oracle.js';

// In-process runs for what a command does; spawned runs where the real process's exit code and
// streams are the point (inspect and convert here).

describe('splitc CLI', () => {
  const cls = fixtures()[0]!;

  it('inspect --json prints the documented schema', () => {
    const r = spawnSplitc(['inspect', cls.path, '--json', '--shape', 'x=1x3x48x192']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.schemaVersion).toBe(1);
    expect(j.inputs).toEqual([{ name: 'x', dtype: 'float32', shape: [1, 3, 48, 192] }]);
    expect(j.outputs[0]).toMatchObject({ dtype: 'float32', shape: [1, 2] });
    expect(j.nodes.length).toBe(j.totals.nodes);
    const conv = j.nodes.find((n: { opType: string }) => n.opType === 'Conv');
    expect(conv).toMatchObject({ opType: 'Conv' });
    expect(conv.macs).toBeGreaterThan(0);
    expect(conv.paramBytes).toBeGreaterThan(0);
    expect(conv.outputs[0].shape.every((d: unknown) => typeof d === 'number')).toBe(true);
    for (const k of ['nodes', 'macs', 'params', 'paramBytes', 'peakActivationBytes']) expect(typeof j.totals[k]).toBe('number');
    expect(j.opHistogram.Conv).toBe(53);
    expect(j.shapeCoverage.staticValues).toBe(j.shapeCoverage.values);
  });

  it('inspect without --shape keeps symbolic dims and prints a table', async () => {
    const r = await run(['inspect', cls.path]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/MACs/);
    expect(r.stdout).toMatch(/peak act\./);
    expect(r.stdout).toMatch(/Conv/);
    expect(r.stdout).toMatch(/note: MACs and memory take the symbolic dims .* as 1/);
    expect(r.stdout).toMatch(/--shape x=1x3x/);
  });

  it("inspect numbers the node table's rows 1, 2, 3 … in shown order, with and without --constants", async () => {
    /** The first column of the per-node table (the one after the '#' header). */
    const rowNumbers = (stdout: string): { numbers: string[]; ops: string[] } => {
      const lines = stdout.split('\n');
      const head = lines.findIndex((l) => /^\s*#\s+node\s+op\b/.test(l));
      const rows = lines.slice(head + 2).filter((l) => /^\s*\d+\s/.test(l));
      return { numbers: rows.map((l) => l.trim().split(/\s+/)[0]!), ops: rows.map((l) => l.trim().split(/\s+/)[2]!) };
    };
    const total = JSON.parse((await run(['inspect', cls.path, '--json'])).stdout).nodes.length as number;
    const plain = await run(['inspect', cls.path]);
    expect(plain.code).toBe(0);
    const shown = rowNumbers(plain.stdout);
    // the classifier's first 212 nodes are Constants: the table still starts at 1
    expect(shown.ops[0]).toBe('Conv');
    expect(shown.ops).not.toContain('Constant');
    expect(shown.numbers).toEqual(shown.numbers.map((_, i) => String(i + 1)));
    expect(plain.stdout).toContain(`(${total - shown.numbers.length} Constant nodes not listed; --constants lists them)`);
    const all = rowNumbers((await run(['inspect', cls.path, '--constants'])).stdout);
    expect(all.numbers).toEqual(Array.from({ length: total }, (_, i) => String(i + 1)));
    expect(all.ops[0]).toBe('Constant');
  });

  it('exits 2 with a coded one-line error on bad input', async () => {
    const dir = tmpDir();
    const bad = path.join(dir, 'bad.onnx');
    fs.writeFileSync(bad, '{"not": "onnx"}');
    const r = spawnSplitc(['inspect', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error E_NOT_ONNX: /);
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/); // no stack trace
    const j = spawnSplitc(['inspect', bad, '--json']);
    expect(j.code).toBe(2);
    expect(JSON.parse(j.stdout).error.code).toBe('E_NOT_ONNX');
    expect((await run(['inspect', path.join(dir, 'missing.onnx')])).code).toBe(2);
    expect((await run(['inspect', cls.path, '--shape', 'x=1xax'])).code).toBe(2);
    expect((await run(['frobnicate'])).code).toBe(2);
  });

  it('convert round-trips, hoists constants and writes external data; failures leave nothing behind', async () => {
    const dir = tmpDir();
    const out = path.join(dir, 'cls.onnx');
    const r = spawnSplitc(['convert', cls.path, out, '--hoist-constants', '--external-data-threshold', '1024']);
    expect(r.code).toBe(0);
    expect(fs.existsSync(out)).toBe(true);
    expect(fs.existsSync(out + '.data')).toBe(true);
    const again = path.join(dir, 'again.onnx');
    expect((await run(['convert', out, again])).code).toBe(0);
    const j = JSON.parse((await run(['inspect', again, '--json', '--shape', 'x=1x3x48x192'])).stdout);
    expect(j.opHistogram.Constant ?? 0).toBeLessThan(250);

    // truncated input: error, and no output file or temp file appears
    const trunc = path.join(dir, 'trunc.onnx');
    fs.writeFileSync(trunc, fs.readFileSync(cls.path).subarray(0, 1000));
    const failed = path.join(dir, 'failed.onnx');
    const f = await run(['convert', trunc, failed]);
    expect(f.code).toBe(2);
    expect(f.stderr).toMatch(/E_TRUNCATED|E_MALFORMED/);
    expect(fs.readdirSync(dir).filter((n) => n.includes('failed'))).toEqual([]);
  });
});

describe('splitc convert on every fixture', () => {
  it.each(fixtures())('$file: onnxruntime outputs are bit-identical and re-converting is byte-identical', async (fx) => {
    const dir = tmpDir();
    const once = path.join(dir, 'once.onnx');
    const twice = path.join(dir, 'twice.onnx');
    expect((await run(['convert', fx.path, once])).code).toBe(0);
    expect((await run(['convert', once, twice])).code).toBe(0);
    expect(fs.readFileSync(twice).equals(fs.readFileSync(once))).toBe(true);
    const feeds = () => seededFloatInputs(fx.inputShapes, 99);
    const reference = await runOrt(fx.path, feeds());
    expect(sameOutputs(reference, await runOrt(once, feeds()))).toEqual({ same: true, why: '' });
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('--shape must agree with the model (issue 13)', () => {
  const [cls, , rec] = fixtures();
  const resnet = trainedFixtures().find((f) => f.file === 'fashion_mnist_resnet.onnx')!;

  it('inspect refuses a shape of another rank, naming the input, both ranks and the model dims (exit 2, coded in --json)', async () => {
    const r = await run(['inspect', resnet.path, '--shape', 'image=1x1x28']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^error E_BAD_ARGUMENT: .*'image'.*rank 3.*rank 4: \[N,1,28,28\]/);
    expect(r.stderr).toMatch(/hint: .*--shape image=1x1x28x28/);
    const j = await run(['inspect', resnet.path, '--shape', 'image=1x1x28', '--json']);
    expect(j.code).toBe(2);
    expect(JSON.parse(j.stdout).error.code).toBe('E_BAD_ARGUMENT');
    // an input the model does not have: the error lists the inputs
    const n = await run(['inspect', resnet.path, '--shape', 'img=1x1x28x28', '--json']);
    expect(n.code).toBe(2);
    expect(JSON.parse(n.stdout).error).toMatchObject({ code: 'E_BAD_ARGUMENT', hint: expect.stringContaining("'image'") });
  });

  it('inspect refuses a shape contradicting a fixed dim; symbolic dims of the model can be fixed', async () => {
    // the recognizer's input is [?,3,48,?]
    const r = await run(['inspect', rec!.path, '--shape', 'x=1x3x64x320', '--json']);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout).error.code).toBe('E_BAD_ARGUMENT');
    expect((await run(['inspect', resnet.path, '--shape', 'image=1x3x28x28'])).code).toBe(2);
    const ok = await run(['inspect', rec!.path, '--shape', 'x=2x3x48x320', '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).inputs[0].shape).toEqual([2, 3, 48, 320]);
  });

  it('split refuses a wrong rank or a contradicted fixed dim with E_BAD_ARGUMENT and writes nothing', async () => {
    for (const shape of ['x=1x3x48', 'x=1x4x48x192']) {
      const root = tmpDir();
      const out = path.join(root, 'bundle');
      const r = await run(['split', cls!.path, '--shape', shape, '--cut-after', 'p2o.Conv.20', '-o', out]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.split('\n')[0]).toMatch(/^error E_BAD_ARGUMENT: .*'x'/);
      const j = await run(['split', cls!.path, '--shape', shape, '--cut-after', 'p2o.Conv.20', '-o', out, '--json']);
      expect(j.code).toBe(2);
      expect(JSON.parse(j.stdout).error.code).toBe('E_BAD_ARGUMENT');
      expect(fs.readdirSync(root)).toEqual([]);
      fs.rmSync(root, { recursive: true, force: true });
    }
  }, 60_000);
});
