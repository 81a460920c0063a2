// `splitc profile` (runProfile) end to end: the device profile it writes, its summaries, and
// option errors.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { codeOfAsync } from '../helpers/codes.js';
import { describe, expect, it } from 'vitest';
import { runProfile } from '../../src/cli/profile.js';
import { profileModel } from '../../src/search/profiler/profile.js';
import { parseDeviceProfile } from '../../src/search/profiles/parse.js';
import { tmpDir } from '../helpers/fixtures.js';
import { cls, clsSha, computeNodeNames, FAST, FAST_PROFILE } from '../search/profiler/fixtures.js';

describe('runProfile', () => {
  it('writes a valid device profile and prints a JSON summary', async () => {
    const dir = tmpDir();
    const output = path.join(dir, 'device.json');
    let printed = '';
    const logged: string[] = [];
    const { profile } = await runProfile({
      models: [cls.path],
      ...FAST,
      inputShapes: cls.inputShapes,
      output,
      json: true,
      date: new Date('2026-01-02T03:04:05Z'),
      log: (l) => logged.push(l),
      write: (t) => (printed += t),
    });
    const text = fs.readFileSync(output, 'utf8');
    const doc = JSON.parse(text) as unknown;
    expect(doc).toEqual(profile);
    const parsed = parseDeviceProfile(doc, output);
    expect(parsed.kind).toBe('device');
    expect(parsed.schemaVersion).toBe(1);
    expect(parsed.name).toBe('this-machine-node-1t');
    expect(parsed.description).toContain('2026-01-02T03:04:05.000Z');
    expect(parsed.latency.slowdown).toBe(1);
    expect(parsed.latency.measured).toHaveLength(1);
    const m = parsed.latency.measured![0]!;
    expect(m.modelSha256).toBe(clsSha);
    expect(m.model).toBe(cls.file);
    expect(m.inputShapes).toEqual({ x: [1, 3, 48, 192] });
    expect(Object.keys(m.nodesMs).sort()).toEqual(computeNodeNames(cls.path).sort());
    expect(m.totalMs).toBeGreaterThan(0);
    expect(fs.readdirSync(dir)).toEqual(['device.json']); // no temp file left behind

    expect(logged).toEqual([]); // no progress lines in JSON mode
    const summary = JSON.parse(printed);
    expect(summary.models[0].modelSha256).toBe(clsSha);
    expect(summary.fit.inSample.overall.segments).toBe(19);
    expect(summary.fit.leaveOneModelOut).toBeUndefined();
    expect(summary.opClasses[0].share).toBeGreaterThan(0);
  });

  it('prints a summary for people, with progress through log', async () => {
    const dir = tmpDir();
    const output = path.join(dir, 'p.json');
    let printed = '';
    const logged: string[] = [];
    await runProfile({ models: [cls.path], ...FAST, inputShapes: cls.inputShapes, output, name: 'bench-box', log: (l) => logged.push(l), write: (t) => (printed += t) });
    expect(JSON.parse(fs.readFileSync(output, 'utf8')).name).toBe('bench-box');
    expect(logged[0]).toMatch(/^profiling ch_ppocr_mobile_v2\.0_cls_infer\.onnx \(1\/1\)/);
    expect(logged.some((l) => /traced runs/.test(l))).toBe(true);
    expect(printed).toContain("device profile 'bench-box'");
    expect(printed).toContain('op class');
  });
});

describe('bad options', () => {
  it('are SplitcErrors with stable codes, raised before measuring', async () => {
    const out = path.join(tmpDir(), 'x.json');
    const base = { models: [cls.path], inputShapes: cls.inputShapes, output: out, write: () => {} };
    expect(await codeOfAsync(() => runProfile({ ...base, backend: 'gpu' as never }))).toBe('E_BAD_ARGUMENT');
    expect(await codeOfAsync(() => runProfile({ ...base, repeats: 0 }))).toBe('E_BAD_ARGUMENT');
    expect(await codeOfAsync(() => runProfile({ ...base, warmup: -1 }))).toBe('E_BAD_ARGUMENT');
    expect(await codeOfAsync(() => runProfile({ ...base, threads: 1.5 }))).toBe('E_BAD_ARGUMENT');
    expect(await codeOfAsync(() => runProfile({ ...base, backend: 'wasm', threads: 2 }))).toBe('E_BAD_ARGUMENT');
    expect(await codeOfAsync(() => runProfile({ ...base, models: [] }))).toBe('E_BAD_ARGUMENT');
    expect(await codeOfAsync(() => runProfile({ ...base, models: ['/nonexistent/model.onnx'] }))).toBe('E_IO');
    expect(await codeOfAsync(() => runProfile({ ...base, inputShapes: { y: [1, 3, 48, 192] } }))).toBe('E_BAD_ARGUMENT');
    expect(await codeOfAsync(() => runProfile({ ...base, inputShapes: { x: [1, 3, 0, 192] } }))).toBe('E_BAD_ARGUMENT');
    expect(await codeOfAsync(() => runProfile({ ...base, output: path.join(tmpDir(), 'missing-dir', 'x.json') }))).toBe('E_IO');
    expect(fs.existsSync(out)).toBe(false);

    expect(await codeOfAsync(() => profileModel(cls.path, { backend: 'tpu' as never }))).toBe('E_BAD_ARGUMENT');
    expect(await codeOfAsync(() => profileModel(cls.path, { repeats: 0 }))).toBe('E_BAD_ARGUMENT');
    expect(await codeOfAsync(() => profileModel(cls.path, { ...FAST, minPhaseMs: -1 }))).toBe('E_BAD_ARGUMENT');
    expect(await codeOfAsync(() => profileModel(cls.path, { ...FAST, minPhaseMs: Number.NaN }))).toBe('E_BAD_ARGUMENT');
    expect(await codeOfAsync(() => profileModel('/nonexistent/model.onnx'))).toBe('E_IO');
    // the classifier's height and width are symbolic: they must be given
    expect(await codeOfAsync(() => profileModel(cls.path, { ...FAST_PROFILE }))).toBe('E_BAD_ARGUMENT');
    // a shape of another rank than the model's is refused before onnxruntime sees it
    expect(await codeOfAsync(() => profileModel(cls.path, { ...FAST_PROFILE, inputShapes: { x: [1, 3, 48] } }))).toBe('E_BAD_ARGUMENT');
  });
});
