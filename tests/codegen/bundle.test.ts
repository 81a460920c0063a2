// Bundles for every fixture (a middle cut, and the detector cut after its first Resize, where
// five tensors cross): the files, the manifest's hashes, byte-identical rebuilds, the models
// against the original under onnxruntime, the Triton configuration, atomic replacement.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildBundle, defaultModelName, generateBundleFiles, type BuildResult } from '../../src/codegen/bundle.js';
import { bundleInputFromSplit } from '../../src/codegen/input.js';
import type { Manifest } from '../../src/codegen/manifest.js';
import { TRITON_DTYPES } from '../../src/codegen/triton.js';
import { constantPredicate, isConstantNode } from '../../src/ir/constants.js';
import { dtypeName } from '../../src/ir/dtype.js';
import { SplitcError } from '../../src/ir/errors.js';
import { loadModel } from '../../src/ir/serde/io.js';
import { splitModel } from '../../src/passes/cut.js';
import { fixtures, repoRoot, tmpDir } from '../helpers/fixtures.js';
import { pythonOnnx, SYSTEM_PYTHON, seededFloatInputs } from '../helpers/onnx-oracle.js';
import { parsePbtxt, type PbMessage } from '../helpers/pbtxt.js';
import { buildFixtureBundle, firstResizeCut, listFiles, loadFixture, middleCut } from './helpers.js';

const fx = fixtures();
const det = fx.find((f) => f.file.includes('det'))!;
const cases = [
  ...fx.map((f) => ({ label: `${f.file} (middle cut)`, fx: f, cut: middleCut })),
  { label: `${det.file} (after the first Resize)`, fx: det, cut: firstResizeCut },
];

type Feeds = Record<string, ort.Tensor>;
async function run(model: string | Uint8Array, feeds: Feeds): Promise<Record<string, ort.Tensor>> {
  const opts: ort.InferenceSession.SessionOptions = { graphOptimizationLevel: 'disabled', intraOpNumThreads: 1, interOpNumThreads: 1 };
  const s = typeof model === 'string' ? await ort.InferenceSession.create(model, opts) : await ort.InferenceSession.create(model, opts);
  try {
    const names = new Set(s.inputNames);
    return await s.run(Object.fromEntries(Object.entries(feeds).filter(([k]) => names.has(k))));
  } finally {
    await s.release();
  }
}

const bytesOf = (t: ort.Tensor): Buffer => {
  const d = t.data as unknown as ArrayBufferView;
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
};
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe.each(cases)('bundle for $label', ({ fx: f, cut }) => {
  // the served name defaults to the model file's stem (these are valid names as they are)
  const name = f.file.replace(/\.onnx$/, '');
  let dir: string;
  let built: BuildResult;
  let manifest: Manifest;
  beforeAll(() => {
    dir = path.join(tmpDir(), 'bundle');
    built = buildFixtureBundle(f, cut, dir);
    manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Manifest;
  });

  it('has every part, and the manifest hashes every other file correctly', () => {
    const files = listFiles(dir);
    expect(files).toEqual(built.files);
    for (const p of [
      'manifest.json',
      'edge/model.onnx',
      'edge/index.js',
      'edge/index.d.ts',
      'edge/index.ts',
      'edge/README.md',
      'edge/package.json',
      'edge/lib/runtime/client.js',
      'edge/lib/runtime/kserve.js',
      `cloud/${name}.onnx`,
      'cloud/server.js',
      'cloud/package.json',
      'cloud/README.md',
      'cloud/lib/runtime/serve-main.js',
      'cloud/lib/runtime/server.js',
      `triton/${name}/config.pbtxt`,
      `triton/${name}/1/model.onnx`,
    ]) {
      expect(files).toContain(p);
    }
    expect(Object.keys(manifest.files)).toEqual(files.filter((p) => p !== 'manifest.json'));
    for (const [p, { sha256, bytes }] of Object.entries(manifest.files)) {
      const b = fs.readFileSync(path.join(dir, p));
      expect(b.length, p).toBe(bytes);
      expect(sha(b), p).toBe(sha256);
    }
    expect(manifest.source).toEqual({ file: f.file, sha256: sha(fs.readFileSync(f.path)), bytes: fs.statSync(f.path).size });
    expect(manifest.tool).toEqual({ name: 'splitc', version: '0.1.0' });
    expect(manifest.compression).toEqual({ spec: 'none' });
  });

  it('records the cut, the wire and the signature consistently with the models', () => {
    const m = loadFixture(f);
    const expectedCut = cut(m);
    expect([...manifest.cut.tensors, ...manifest.cut.dropped].sort()).toEqual([...expectedCut].sort());
    const edge = loadModel(path.join(dir, 'edge/model.onnx'));
    const cloud = loadModel(path.join(dir, `cloud/${name}.onnx`));
    const wireNames = manifest.wire.map((w) => w.name);
    expect(cloud.graph.inputs.map((v) => v.name)).toEqual(wireNames);
    expect(edge.graph.outputs.map((v) => v.name).slice(0, wireNames.length)).toEqual(wireNames);
    for (const w of manifest.wire) {
      const v = edge.graph.outputs.find((o) => o.name === w.name)!;
      expect(dtypeName(v.dtype!)).toBe(w.dtype);
      expect(v.shape).toEqual(w.shape);
      const elems = w.shape.reduce<number>((a, d) => a * (typeof d === 'number' ? d : 1), 1);
      expect(w.bytesPerSample).toBe(elems * 4);
    }
    expect(manifest.bytesPerSample.wire).toBe(manifest.wire.reduce((a, w) => a + w.bytesPerSample, 0));
    expect(manifest.bytesPerSample.rawInputs).toBe(Object.values(f.inputShapes)[0]!.reduce((a, b) => a * b, 4));
    expect(manifest.signature.inputs.map((t) => t.name)).toEqual(m.graph.inputs.map((v) => v.name));
    expect(manifest.signature.outputs.map((t) => t.name)).toEqual(m.graph.outputs.map((v) => v.name));
    // compute nodes: not Constants, nor folds of constants only (counted in neither part)
    const isConst = constantPredicate();
    expect(manifest.edge.nodes + manifest.cloud.nodes).toBeGreaterThanOrEqual([...m.graph.nodes].filter((n) => !isConstantNode(n, isConst)).length);
    expect(manifest.edge.macs).toBeGreaterThan(0);
    expect(manifest.cloud.macs).toBeGreaterThan(0);
  });

  it('serves the model under its file stem everywhere: manifest, edge default, cloud file, Triton folder', () => {
    expect(manifest.model).toBe(name);
    expect(manifest.cloud.model).toBe(`cloud/${name}.onnx`);
    expect(manifest.triton).toMatchObject({ model: name, config: `triton/${name}/config.pbtxt` });
    expect(fs.readFileSync(path.join(dir, 'edge/index.js'), 'utf8')).toContain(`"model": ${JSON.stringify(name)}`);
    expect(fs.readFileSync(path.join(dir, 'cloud/README.md'), 'utf8')).toContain(`serves \`${name}.onnx\` as \`${name}\``);
    // splitc's server names a model by its file stem
    expect(fs.readdirSync(path.join(dir, 'cloud')).filter((e) => e.endsWith('.onnx'))).toEqual([`${name}.onnx`]);
  });

  it('stores the cloud model once: the Triton copy is a hard link to cloud/<name>.onnx', () => {
    const cloud = fs.lstatSync(path.join(dir, `cloud/${name}.onnx`));
    const triton = fs.lstatSync(path.join(dir, `triton/${name}/1/model.onnx`));
    expect(triton.isFile()).toBe(true); // not a symlink: triton/ works mounted alone
    expect(triton.ino).toBe(cloud.ino);
    expect(cloud.nlink).toBe(2);
    expect(manifest.files[`triton/${name}/1/model.onnx`]).toEqual(manifest.files[`cloud/${name}.onnx`]);
  });

  it('is byte-identical when built again', () => {
    const again = path.join(tmpDir(), 'again');
    buildFixtureBundle(f, cut, again);
    const a = listFiles(dir);
    expect(listFiles(again)).toEqual(a);
    for (const p of a) expect(fs.readFileSync(path.join(again, p)).equals(fs.readFileSync(path.join(dir, p))), p).toBe(true);
  });

  it('edge then cloud (and the Triton copy) reproduce the original outputs bit for bit', async () => {
    const feeds = seededFloatInputs(f.inputShapes, 11);
    const whole = await run(f.path, feeds);
    const edgeOut = await run(path.join(dir, 'edge/model.onnx'), feeds);
    for (const modelFile of [`cloud/${name}.onnx`, `triton/${name}/1/model.onnx`]) {
      const cloudOut = await run(path.join(dir, modelFile), edgeOut);
      for (const name of Object.keys(whole)) {
        const got = cloudOut[name] ?? edgeOut[name];
        expect(got, name).toBeDefined();
        expect(got!.dims).toEqual(whole[name]!.dims);
        expect(bytesOf(got!).equals(bytesOf(whole[name]!)), `${modelFile}: ${name}`).toBe(true);
      }
    }
  });

  it('writes a Triton config whose names, types and dims match the cloud model', async () => {
    const text = fs.readFileSync(path.join(dir, `triton/${name}/config.pbtxt`), 'utf8');
    const cfg = parsePbtxt(text);
    const tritonModel = loadModel(path.join(dir, `triton/${name}/1/model.onnx`));
    expect(cfg.name).toEqual([name]);
    expect(cfg.backend).toEqual(['onnxruntime']);
    const maxBatch = cfg.max_batch_size![0] as number;
    expect(maxBatch).toBe(manifest.triton.maxBatchSize);
    expect(cfg.dynamic_batching !== undefined).toBe(maxBatch > 0);
    const check = (entries: PbMessage[], values: typeof tritonModel.graph.inputs): void => {
      expect(entries.map((e) => e.name![0])).toEqual(values.map((v) => v.name));
      entries.forEach((e, i) => {
        const v = values[i]!;
        expect(e.data_type).toEqual([TRITON_DTYPES[dtypeName(v.dtype!)]]);
        const shape = v.shape!;
        if (maxBatch > 0) expect(typeof shape[0]).toBe('string'); // Triton needs a dynamic (-1) batch dim in the model
        const dims = (maxBatch > 0 ? shape.slice(1) : shape).map((d) => (typeof d === 'number' ? d : -1));
        expect(e.dims).toEqual(dims);
      });
    };
    check(cfg.input as PbMessage[], tritonModel.graph.inputs);
    check(cfg.output as PbMessage[], tritonModel.graph.outputs);

    // Google's own text-format parser, against the field names of inference.ModelConfig
    if (pythonOnnx().ok) {
      const r = spawnSync(SYSTEM_PYTHON, [path.join(repoRoot, 'tests/helpers/triton_config.py'), path.join(dir, `triton/${name}/config.pbtxt`)], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const j = JSON.parse(r.stdout) as { input: { name: string; data_type: string; dims: string[] }[]; max_batch_size?: number };
      expect(j.input.map((i) => i.name)).toEqual(tritonModel.graph.inputs.map((v) => v.name));
      expect(j.input.map((i) => i.dims.map(Number))).toEqual((cfg.input as PbMessage[]).map((e) => e.dims));
      expect(j.max_batch_size ?? 0).toBe(maxBatch);
    }

    // batching as configured: two samples stacked along dim 0 give each sample's answer
    if (maxBatch > 0) {
      const a = await run(path.join(dir, 'edge/model.onnx'), seededFloatInputs(f.inputShapes, 1));
      const b = await run(path.join(dir, 'edge/model.onnx'), seededFloatInputs(f.inputShapes, 2));
      const stacked: Feeds = {};
      for (const v of tritonModel.graph.inputs) {
        const x = a[v.name]!;
        const y = b[v.name]!;
        const data = new Float32Array(x.size * 2);
        data.set(x.data as Float32Array, 0);
        data.set(y.data as Float32Array, x.size);
        stacked[v.name] = new ort.Tensor('float32', data, [2, ...x.dims.slice(1)]);
      }
      const tritonFile = path.join(dir, `triton/${name}/1/model.onnx`);
      const both = await run(tritonFile, stacked);
      const one = [await run(tritonFile, a), await run(tritonFile, b)];
      for (const name of Object.keys(both)) {
        const got = both[name]!.data as Float32Array;
        const n = got.length / 2;
        for (let k = 0; k < 2; k++) {
          const ref = one[k]![name]!.data as Float32Array;
          let err = 0;
          for (let i = 0; i < n; i++) err = Math.max(err, Math.abs(got[k * n + i]! - ref[i]!));
          expect(err, `${name}, sample ${k}`).toBeLessThan(1e-4);
        }
      }
    }
  });
});

describe('buildBundle', () => {
  const cls = fx[0]!;

  it('replaces a previous bundle atomically and refuses to replace anything else', () => {
    const root = tmpDir();
    const dir = path.join(root, 'b');
    buildFixtureBundle(cls, middleCut, dir);
    const before = fs.readFileSync(path.join(dir, 'manifest.json'));
    // a rebuild replaces it (same content), leaving no temporary folders behind
    buildFixtureBundle(cls, middleCut, dir);
    expect(fs.readFileSync(path.join(dir, 'manifest.json')).equals(before)).toBe(true);
    expect(fs.readdirSync(root)).toEqual(['b']);

    const other = path.join(root, 'notabundle');
    fs.mkdirSync(other);
    fs.writeFileSync(path.join(other, 'keep.txt'), 'precious');
    const err = (() => {
      try {
        buildFixtureBundle(cls, middleCut, other);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(SplitcError);
    expect((err as SplitcError).code).toBe('E_IO');
    expect(fs.readFileSync(path.join(other, 'keep.txt'), 'utf8')).toBe('precious');
  });

  it('a rebuild keeps what the user added (cloud/node_modules, a token, notes) and drops only what splitc wrote', () => {
    const root = tmpDir();
    const dir = path.join(root, 'b');
    const m = loadFixture(cls);
    const build = (name: string) => buildBundle(bundleInputFromSplit(m, splitModel(m, middleCut(m)), { toolVersion: '0.1.0', sourceFile: cls.path, sourceBytes: fs.readFileSync(cls.path), modelName: name }), dir);
    build('first');
    const added: Record<string, string> = {
      'cloud/token.txt': 'secret\n',
      'cloud/node_modules/onnxruntime-node/index.js': 'module.exports = {};\n',
      'NOTES.md': '# our deployment\n',
      'edge/assets/logo.svg': '<svg/>',
    };
    for (const [rel, text] of Object.entries(added)) {
      fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      fs.writeFileSync(path.join(dir, rel), text);
    }
    // a file splitc wrote before and writes again is splitc's: replaced
    fs.writeFileSync(path.join(dir, 'cloud/README.md'), 'edited');
    const second = build('second');
    for (const [rel, text] of Object.entries(added)) expect(fs.readFileSync(path.join(dir, rel), 'utf8'), rel).toBe(text);
    expect(second.kept).toEqual(['NOTES.md', 'cloud/node_modules', 'cloud/token.txt', 'edge/assets']);
    // the first build's own files that the second does not write are gone
    expect(fs.existsSync(path.join(dir, 'cloud/first.onnx'))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'triton/first'))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'cloud/second.onnx'))).toBe(true);
    expect(fs.readFileSync(path.join(dir, 'cloud/README.md'), 'utf8')).not.toBe('edited');
    // nothing hidden is left next to it
    expect(fs.readdirSync(root)).toEqual(['b']);
    // the bundle's own files are exactly the manifest's plus what the user added
    const listed = Object.keys(second.manifest.files);
    expect(listFiles(dir).filter((f) => f !== 'manifest.json' && !listed.includes(f)).sort()).toEqual(Object.keys(added).sort());
  });

  it('rejects parts that do not fit together (E_CODEGEN) without touching the destination', () => {
    const root = tmpDir();
    const dir = path.join(root, 'b');
    buildFixtureBundle(cls, middleCut, dir);
    const before = fs.readFileSync(path.join(dir, 'manifest.json'));
    const m = loadFixture(cls);
    const split = splitModel(m, middleCut(m));
    const input = bundleInputFromSplit(m, split, { toolVersion: '0.1.0', sourceFile: cls.path, sourceBytes: fs.readFileSync(cls.path) });
    const broken = { ...input, wire: input.wire.slice(1) };
    expect(() => buildBundle(broken, dir)).toThrow(expect.objectContaining({ code: 'E_CODEGEN' }));
    const wrongType = { ...input, wire: input.wire.map((w, i) => (i === 0 ? { ...w, dtype: 'uint8' } : w)) };
    expect(() => buildBundle(wrongType, dir)).toThrow(expect.objectContaining({ code: 'E_CODEGEN' }));
    expect(fs.readFileSync(path.join(dir, 'manifest.json')).equals(before)).toBe(true);
    expect(fs.readdirSync(root)).toEqual(['b']);
  });

  it.each([
    ['ch_ppocr_mobile_v2.0_cls_infer.onnx', 'ch_ppocr_mobile_v2.0_cls_infer'],
    ['/models/ResNet-18.ONNX', 'ResNet-18'],
    ['C:\\models\\my model (v2).onnx', 'my_model_v2_'],
    ['.hidden.onnx', 'hidden'],
    ['..onnx', 'model'],
    ['modèle.onnx', 'mod_le'],
    ['weights', 'weights'],
  ])('the default served name of %s is %s', (file, name) => {
    expect(defaultModelName(file)).toBe(name);
  });

  it('two models get two folders in one Triton repository; --model-name still overrides', () => {
    const dirs = [path.join(tmpDir(), 'a'), path.join(tmpDir(), 'b')];
    const names = [fx[0]!, det].map((f, i) => buildFixtureBundle(f, middleCut, dirs[i]!).manifest.triton.model);
    expect(new Set(names).size).toBe(2);
    const m = loadFixture(cls);
    const input = bundleInputFromSplit(m, splitModel(m, middleCut(m)), { toolVersion: '0.1.0', sourceFile: cls.path, sourceBytes: fs.readFileSync(cls.path), modelName: 'cls' });
    expect(generateBundleFiles(input).manifest.triton.model).toBe('cls');
    expect(() => generateBundleFiles({ ...input, modelName: 'a/b' })).toThrow(expect.objectContaining({ code: 'E_BAD_ARGUMENT' }));
  });

  it('records compression facts with sorted keys and a custom served name', () => {
    const m = loadFixture(cls);
    const split = splitModel(m, middleCut(m));
    const input = bundleInputFromSplit(m, split, { toolVersion: '0.1.0', sourceFile: cls.path, sourceBytes: fs.readFileSync(cls.path), modelName: 'cls_cloud' });
    const dir = path.join(tmpDir(), 'b');
    const r = buildBundle(
      {
        ...input,
        wire: input.wire.map((w) => ({ ...w, compression: { zeroPoint: 0, scale: 0.5 } })),
        compression: { spec: 'int8', constants: { z: 1, a: [1, 2] }, fidelity: { top1Agreement: 1, maxAbsError: 0.01 } },
      },
      dir,
    );
    const text = fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8');
    const j = JSON.parse(text) as Manifest;
    expect(j.compression).toEqual({ spec: 'int8', constants: { a: [1, 2], z: 1 }, fidelity: { maxAbsError: 0.01, top1Agreement: 1 } });
    expect(Object.keys(j.compression.constants as object)).toEqual(['a', 'z']);
    expect(Object.keys(j.wire[0]!.compression as object)).toEqual(['scale', 'zeroPoint']);
    expect(r.files).toContain('cloud/cls_cloud.onnx');
    expect(r.files).toContain('triton/cls_cloud/config.pbtxt');
    expect(fs.readFileSync(path.join(dir, 'edge/index.js'), 'utf8')).toContain('"model": "cls_cloud"');
  });
});
